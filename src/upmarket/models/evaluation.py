"""Scoring a ranking against what happened: AUC and lift, shared by churn and propensity."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auc(y_true, score) -> float:
    y = np.asarray(y_true, int)
    if y.min() == y.max():
        return float("nan")  # AUC is undefined with one class
    return float(roc_auc_score(y, np.asarray(score, float)))


def lift_at(y_true, score, fraction: float = 0.1) -> float:
    """Rate of positives among the top `fraction` by score, divided by the overall rate."""
    y = np.asarray(y_true, float)
    s = np.asarray(score, float)
    if len(y) == 0 or y.mean() == 0:
        return float("nan")
    k = max(1, int(round(fraction * len(y))))
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / y.mean())


def calibration(y_true, probability, bins: int = 10) -> dict[str, float]:
    """Brier score, mean predicted vs observed rate, and the expected calibration error (mean
    |observed − predicted| over equal-count bins, weighted by bin size)."""
    y = np.asarray(y_true, float)
    p = np.asarray(probability, float)
    order = np.argsort(p, kind="stable")
    ece = 0.0
    for chunk in np.array_split(order, min(bins, len(p))):
        if len(chunk):
            ece += len(chunk) / len(p) * abs(y[chunk].mean() - p[chunk].mean())
    return {"brier": float(np.mean((p - y) ** 2)), "mean_predicted": float(p.mean()),
            "observed_rate": float(y.mean()), "calibration_error": float(ece)}


def auc_difference(y_true, score_a, score_b, *, draws: int = 500, level: float = 0.95,
                   random_state: int = 0) -> dict[str, float]:
    """AUC(a) − AUC(b) on the same customers, with a percentile bootstrap interval over
    customers (Efron & Tibshirani 1993, "An Introduction to the Bootstrap", §13.3): customers
    are resampled with replacement and both scores are re-ranked on each resample, so the
    interval accounts for the two AUCs being measured on the same people."""
    y = np.asarray(y_true, int)
    a, b = np.asarray(score_a, float), np.asarray(score_b, float)
    rng = np.random.default_rng(random_state)
    diffs = []
    for _ in range(draws):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() != y[i].max():
            diffs.append(roc_auc_score(y[i], a[i]) - roc_auc_score(y[i], b[i]))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]) if diffs else (np.nan, np.nan)
    return {"difference": auc(y, a) - auc(y, b), "low": float(low), "high": float(high)}
