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
