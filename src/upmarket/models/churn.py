"""Supervised churn early warning (seed 003): a calibrated probability that a customer makes
no purchase in the next `horizon_days`, with the signals behind each score.

The classifier is a regularised logistic regression on transformed behavioural features. It is
chosen over boosted trees on purpose: its log-odds are a sum of per-feature terms, so the
"signals behind each score" are exact contributions rather than post-hoc approximations, and
logistic regression is well calibrated out of the box; on the data sets at hand it ranks as well
as the recency baseline or better (see the run report for the holdout figures).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from upmarket.errors import NotFitted

#: Features used when present; counts and durations enter as log1p.
FEATURES = (
    "p_alive", "recency_days", "frequency", "monetary", "T", "overdue",
    "orders_recent", "orders_previous", "trend", "discount_share", "promo_share",
    "categories", "premium_share", "tenure_days", "complaints_180d",
)
LOGGED = {"recency_days", "frequency", "monetary", "T", "overdue", "orders_recent",
          "orders_previous", "categories", "tenure_days", "complaints_180d"}

BANDS = ((0.0, "low"), (0.3, "medium"), (0.6, "high"), (0.8, "critical"))


def engineer(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs from a customer feature frame: adds `overdue`, the days since the last
    purchase over the customer's own mean gap between purchases (a customer who usually buys
    monthly and has been silent for three months is 3× overdue)."""
    out = frame.copy()
    if {"recency_days", "tenure_days", "frequency"} <= set(out.columns):
        gap = (out["tenure_days"] - out["recency_days"]) / out["frequency"].where(out["frequency"] > 0)
        out["overdue"] = (out["recency_days"] / gap.clip(lower=1.0)).fillna(out["recency_days"] / 30.0)
    return out


class ChurnClassifier:
    def __init__(self, C: float = 1.0, max_iter: int = 1000):
        self.C = C
        self.max_iter = max_iter

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        x = engineer(frame)[list(self.features_)].astype(float).fillna(0.0)
        for col in self.features_:
            if col in LOGGED:
                x[col] = np.log1p(x[col].clip(lower=0))
        return x.to_numpy()

    def fit(self, frame: pd.DataFrame, churned) -> ChurnClassifier:
        y = np.asarray(churned, int)
        if y.min() == y.max():
            raise ValueError("churn labels have a single class: the training window is too short")
        usable = engineer(frame)
        self.features_ = tuple(f for f in FEATURES if f in usable.columns
                               and usable[f].notna().any() and usable[f].nunique() > 1)
        x = self._matrix(frame)
        self.scaler_ = StandardScaler().fit(x)
        self.model_ = LogisticRegression(C=self.C, max_iter=self.max_iter)
        self.model_.fit(self.scaler_.transform(x), y)
        self.base_rate_ = float(y.mean())
        return self

    def _check(self):
        if not hasattr(self, "model_"):
            raise NotFitted("ChurnClassifier is not fitted: call fit(features, labels) first")

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        self._check()
        return self.model_.predict_proba(self.scaler_.transform(self._matrix(frame)))[:, 1]

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Each feature's term in the log-odds, relative to an average customer."""
        self._check()
        z = self.scaler_.transform(self._matrix(frame))
        return pd.DataFrame(z * self.model_.coef_[0], columns=self.features_, index=frame.index)

    def signals(self, frame: pd.DataFrame, top: int = 3) -> list[list[str]]:
        """The features pushing each customer's risk up the most (positive terms only)."""
        c = self.contributions(frame).to_numpy()
        names = np.array(self.features_)
        order = np.argsort(-c, axis=1)[:, :top]
        return [[names[j] for j in row if c[i, j] > 0] for i, row in enumerate(order)]


def risk_band(p: np.ndarray) -> np.ndarray:
    """low < 0.3 ≤ medium < 0.6 ≤ high < 0.8 ≤ critical."""
    cuts = [b for b, _ in BANDS[1:]]
    names = np.array([n for _, n in BANDS])
    return names[np.searchsorted(cuts, np.asarray(p, float), side="right")]
