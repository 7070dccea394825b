"""Predicted customer lifetime value: BG/NBD for how many purchases, Gamma-Gamma for how much
each is worth, a margin rate for how much of it is profit, discounted monthly.

    CLV_i = margin_i · E[value per purchase | x_i, m_i] · Σ_{k=1}^{H} ΔE[purchases in month k] / (1+d)^k

(Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves", §4; the monthly sum is the
usual discrete form of their continuous discounting.)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from upmarket.features.btyd import UNIT_DAYS
from upmarket.models.btyd import BetaGeo, GammaGamma

UNITS_PER_MONTH = {unit: 365.25 / 12 / days for unit, days in UNIT_DAYS.items()}


@dataclass(frozen=True)
class ValueSettings:
    horizon_months: int = 12
    monthly_discount: float = 0.01
    #: Margin rate used where product costs are unknown (the data say nothing about profit).
    default_margin_rate: float = 0.30
    unit: str = "W"
    #: Gamma-Gamma needs enough repeat buyers to estimate p, q, v.
    min_repeat_customers: int = 20
    #: Below this many customers plain maximum likelihood can run off to the boundary (a, r →
    #: ∞ on two customers); a small L2 penalty keeps the estimates finite and sensible there.
    small_sample: int = 200
    small_sample_penalizer: float = 0.1


class LifetimeValue:
    def __init__(self, settings: ValueSettings = ValueSettings()):
        self.settings = settings

    def _rft(self, frame: pd.DataFrame):
        # A customer first seen on the last observed day has T = 0, where the models are
        # undefined; one day of age is the least the data can say about anyone.
        one_day = 1.0 / (UNITS_PER_MONTH[self.settings.unit] * 12 / 365.25)
        x, tx, T = (frame[c].to_numpy(float) for c in ("frequency", "recency", "T"))
        return x, tx, np.maximum(T, np.maximum(tx, one_day))

    def fit(self, frame: pd.DataFrame) -> LifetimeValue:
        f = frame
        penalizer = self.settings.small_sample_penalizer if len(f) < self.settings.small_sample else 0.0
        self.transactions_ = BetaGeo(penalizer=penalizer).fit(*self._rft(f))
        repeat = f[(f["frequency"] > 0) & (f["monetary"] > 0)]
        self.spend_ = None
        if len(repeat) >= self.settings.min_repeat_customers:
            self.spend_ = GammaGamma(penalizer=penalizer).fit(repeat["frequency"], repeat["monetary"])
        first_spend = (f["total_spend"] if "total_spend" in f else f["net_revenue"]) / (f["frequency"] + 1)
        self.mean_order_value_ = float(np.nanmean(np.where(f["monetary"] > 0, f["monetary"], first_spend)))
        return self

    def order_value(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame["frequency"].to_numpy(float)
        m = frame["monetary"].to_numpy(float)
        if self.spend_ is None:
            return np.where(m > 0, m, self.mean_order_value_)
        ok = (x > 0) & (m > 0)
        return self.spend_.conditional_expected_average_profit(np.where(ok, x, 0), np.where(ok, m, 0))

    def with_retention(self, points: float) -> LifetimeValue:
        """A copy whose customers are `points` percentage points more likely to stay after each
        purchase: the mean dropout E[p] = a/(a+b) of the BG/NBD falls by points/100 (floored at
        0.5 %), with `a` kept and `b` solved from the new mean. The same observed histories are
        then re-read under that prior, so P(alive) and expected purchases move accordingly."""
        out = copy.deepcopy(self)
        prm = out.transactions_.params_
        mean = prm["a"] / (prm["a"] + prm["b"])
        target = min(max(mean - points / 100.0, 0.005), 0.995)
        prm["b"] = prm["a"] * (1 - target) / target
        return out

    def predict(self, frame: pd.DataFrame, *, clv: bool = True, rate_multiplier: float = 1.0,
                value_multiplier: float = 1.0) -> pd.DataFrame:
        """P(alive), expected purchases, expected order value and (unless `clv=False`, which
        saves the discounting sum when only the purchase process is needed) the CLV.

        `rate_multiplier` scales every customer's future purchase rate λ. In the BG/NBD, dropout
        happens per purchase, so buying k times as fast is exactly the same process on a clock
        running k times as fast: forecasts over t months become forecasts over k·t.
        `value_multiplier` scales the value of each future purchase."""
        s = self.settings
        x, tx, T = self._rft(frame)
        per_month = UNITS_PER_MONTH[s.unit] * rate_multiplier
        margin = frame["margin_rate"].astype(float).fillna(s.default_margin_rate).clip(0, 1) \
            if "margin_rate" in frame else s.default_margin_rate
        value = self.order_value(frame) * value_multiplier
        clv_value = self.transactions_.customer_lifetime_value(
            x, tx, T, value, time=s.horizon_months, discount_rate=s.monthly_discount,
            freq=per_month, margin=1.0) * np.asarray(margin, float) if clv else np.nan
        return pd.DataFrame({
            "p_alive": self.transactions_.probability_alive(x, tx, T),
            "expected_purchases_90d": self.transactions_.conditional_expected_purchases(
                90 / 30.4375 * per_month, x, tx, T),
            "expected_purchases_12m": self.transactions_.conditional_expected_purchases(
                s.horizon_months * per_month, x, tx, T),
            "expected_order_value": value,
            "margin_rate": np.broadcast_to(np.asarray(margin, float), len(frame)),
            "clv": clv_value,
        }, index=frame.index)
