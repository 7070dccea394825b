"""Machine-learning customer value: gradient boosting on RFM and behaviour features at a cut-off,
predicting the next period's purchases and spend, with a quantile interval on spend.

The BTYD models derive the future from a story of how customers buy; this model learns it from
what the same base did after an earlier cut-off. Both are fitted inside the data they are given,
so the two can be compared on a later holdout (``upmarket.models.value_choice``).

Time handling. Training needs features at a cut-off and targets in a window after it, all inside
the data given (``as_of`` is exclusive, as everywhere). With a forecast horizon ``H`` and data from
``start`` to ``as_of``, the training window is ``h = min(H, (as_of - start) / 2)`` long: features
at ``as_of - h``, targets in ``[as_of - h, as_of)``; the fitted model is then applied to features
at ``as_of``. Features are rates, shares and fixed windows, never running totals or age, which
grow between the two cut-offs (see :data:`FEATURES`). When the data span less than two horizons
(CDNOW's 39-week calibration and 39-week holdout: ``h`` is 19.5 weeks) the targets cover only
``h``, and the predictions are scaled by
``H / h``: a constant rate over the horizon, which over-states a base whose purchase rate falls
with age, and under-states one that grows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from upmarket.errors import UpmarketError
from upmarket.features.btyd import UNIT_DAYS as BTYD_UNIT_DAYS

#: Days in the model's time unit: weeks, as the BTYD summaries.
WEEK_DAYS = BTYD_UNIT_DAYS["W"]

#: The learner sees rates, shares and fixed-length windows rather than running totals: the model
#: is trained at an earlier cut-off, when every customer was younger, and applied later; totals
#: (purchase count, lifetime spend) grow with age alone, so a tree split learned on them at the
#: earlier cut-off misreads the same customers later (on a simulated stationary base, counts and
#: totals as features over-forecast the next period by 15 %). Age itself is left out for the same
#: reason: at the later cut-off every customer is older than any seen in training (with it, the
#: same simulation was over-forecast by 9 %; without it, within 4 % on two simulated bases).
FEATURES = ("rate", "weeks_since_last", "recency_share", "mean_spend", "last_spend", "max_spend",
            "days_4w", "days_13w", "days_26w", "spend_13w", "mean_gap")


class NotEnoughHistory(UpmarketError, ValueError):
    """The data do not hold a training cut-off with customers before it and purchases after it."""


def features_at(transactions: pd.DataFrame, cutoff: datetime) -> pd.DataFrame:
    """RFM and behaviour features of every customer who bought before ``cutoff``, from daily
    transactions (``customer_id, day, spend``; one row per customer and purchase day), indexed by
    customer_id. Times in weeks; the observation ends the day before the cut-off, as in
    :func:`upmarket.features.btyd.btyd_summary`."""
    cut = pd.Timestamp(cutoff)
    tx = transactions[transactions["day"] < cut]
    if tx.empty:
        return pd.DataFrame(columns=list(FEATURES), dtype=float)
    end = cut - pd.Timedelta(days=1)
    g = tx.sort_values("day").groupby("customer_id", sort=True)
    first, last = g["day"].min(), g["day"].max()
    n = g.size().astype(float)
    out = pd.DataFrame(index=n.index)
    out["frequency"] = n - 1
    out["recency"] = (last - first).dt.days / WEEK_DAYS
    out["T"] = (end - first).dt.days / WEEK_DAYS
    out["weeks_since_last"] = (end - last).dt.days / WEEK_DAYS
    out["total_spend"] = g["spend"].sum()
    out["mean_spend"] = out["total_spend"] / n
    out["last_spend"] = g["spend"].last()
    out["max_spend"] = g["spend"].max()
    age = (cut - tx["day"]).dt.days
    for weeks in (4, 13, 26):
        recent = tx[age <= 7 * weeks]
        out[f"days_{weeks}w"] = recent.groupby("customer_id").size().reindex(out.index, fill_value=0).astype(float)
    out["spend_13w"] = tx[age <= 91].groupby("customer_id")["spend"].sum().reindex(out.index, fill_value=0.0)
    out["mean_gap"] = np.where(out["frequency"] > 0, out["recency"] / out["frequency"].clip(lower=1), -1.0)
    out["rate"] = out["frequency"] / (out["T"] + 1.0)
    out["recency_share"] = out["recency"] / out["T"].clip(lower=1.0 / WEEK_DAYS)
    return out[list(FEATURES)].astype(float)


def targets_in(transactions: pd.DataFrame, start: datetime, end: datetime, index: pd.Index) -> pd.DataFrame:
    """Purchase days and spend of each customer in ``index`` within ``[start, end)``."""
    tx = transactions[(transactions["day"] >= pd.Timestamp(start)) & (transactions["day"] < pd.Timestamp(end))]
    g = tx.groupby("customer_id")
    return pd.DataFrame({"purchases": g.size().reindex(index, fill_value=0).astype(float),
                         "spend": g["spend"].sum().reindex(index, fill_value=0.0).astype(float)})


class GradientBoostedValue:
    """Next-period purchases and spend by scikit-learn's histogram gradient boosting.

    Purchases and spend use the Poisson loss (non-negative targets, log link, mean-unbiased on
    the training set); the spend interval uses the quantile (pinball) loss at ``quantiles``.

    Parameters: ``quantiles`` (lower, upper) of the spend interval; ``max_iter``,
    ``learning_rate``, ``max_leaf_nodes``, ``min_samples_leaf`` of each booster;
    ``random_state`` for the boosters' early-stopping split (none is used: fixed iterations).

    After :meth:`fit`: ``training_cutoff_``, ``window_days_`` (``h``), ``horizon_days_`` (``H``),
    ``n_train_``, and the boosters ``purchases_``, ``spend_``, ``spend_low_``, ``spend_high_``.
    """

    def __init__(self, quantiles: tuple[float, float] = (0.1, 0.9), max_iter: int = 100,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 15, min_samples_leaf: int = 40,
                 random_state: int = 0):
        self.quantiles = quantiles
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def _booster(self, **loss):
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(max_iter=self.max_iter, learning_rate=self.learning_rate,
                                             max_leaf_nodes=self.max_leaf_nodes,
                                             min_samples_leaf=self.min_samples_leaf, early_stopping=False,
                                             random_state=self.random_state, **loss)

    def fit(self, transactions: pd.DataFrame, as_of: datetime, horizon_days: float) -> "GradientBoostedValue":
        """Learn from features at ``as_of - h`` and targets in ``[as_of - h, as_of)`` (module
        docstring); ``transactions`` as in :func:`features_at`, only days before ``as_of`` used."""
        lo, hi = self.quantiles
        if not 0 < lo < hi < 1:
            raise UpmarketError(f"quantiles must satisfy 0 < low < high < 1, got {self.quantiles}")
        if not horizon_days > 0:
            raise UpmarketError("the forecast horizon must be positive")
        tx = transactions[transactions["day"] < pd.Timestamp(as_of)]
        if tx.empty:
            raise NotEnoughHistory(f"no purchases before {as_of:%Y-%m-%d} to learn from")
        span = (pd.Timestamp(as_of) - tx["day"].min()).days
        window = min(float(horizon_days), span / 2.0)
        cutoff = pd.Timestamp(as_of) - timedelta(days=int(round(window)))
        X = features_at(tx, cutoff)
        if len(X) < 2 * self.min_samples_leaf:
            raise NotEnoughHistory("err.ml.one_buyer" if len(X) == 1 else "err.ml.few_buyers",
                                   n=len(X), cutoff=f"{cutoff:%Y-%m-%d}")
        y = targets_in(tx, cutoff, as_of, X.index)
        # one OpenMP thread: on a shared 2-core machine the boosters' threads spin against each
        # other and every other process (measured: 4 boosters on 23,570 CDNOW customers took
        # over 100 s with the default threads)
        with threadpool_limits(limits=1, user_api="openmp"):
            self._fit_boosters(X, y, lo, hi)
        self.training_cutoff_ = cutoff.to_pydatetime()
        self.window_days_ = float((pd.Timestamp(as_of) - cutoff).days)
        self.horizon_days_ = float(horizon_days)
        self.n_train_ = int(len(X))
        return self

    def _fit_boosters(self, X, y, lo, hi) -> None:
        self.purchases_ = self._booster(loss="poisson").fit(X, y["purchases"])
        self.spend_ = self._booster(loss="poisson").fit(X, y["spend"])
        self.spend_low_ = self._booster(loss="quantile", quantile=lo).fit(X, y["spend"])
        self.spend_high_ = self._booster(loss="quantile", quantile=hi).fit(X, y["spend"])

    def predict(self, transactions: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
        """Expected purchases and spend over the horizon after ``as_of`` for every customer who
        bought before it, with the spend interval (``spend_low``, ``spend_high``); indexed by
        customer_id. Scaled by ``H / h`` when the training window was shorter than the horizon."""
        if not hasattr(self, "purchases_"):
            from upmarket.errors import NotFitted

            raise NotFitted("GradientBoostedValue is not fitted yet; call .fit(...) first")
        X = features_at(transactions, as_of)
        scale = self.horizon_days_ / self.window_days_
        out = pd.DataFrame(index=X.index)
        if X.empty:
            return out.assign(purchases=[], spend=[], spend_low=[], spend_high=[])
        with threadpool_limits(limits=1, user_api="openmp"):  # see fit
            out["purchases"] = np.clip(self.purchases_.predict(X), 0, None) * scale
            out["spend"] = np.clip(self.spend_.predict(X), 0, None) * scale
            low = np.clip(self.spend_low_.predict(X), 0, None) * scale
            high = np.clip(self.spend_high_.predict(X), 0, None) * scale
        # separately fitted quantiles can cross; an interval is reported with its ends in order
        out["spend_low"] = np.minimum(low, high)
        out["spend_high"] = np.maximum(low, high)
        return out
