"""Predicted customer lifetime value: a transaction model for how many purchases, a spend
model for how much each is worth, a margin rate for how much of it is profit, discounted
monthly.

    CLV_i = margin_i · E[value per purchase | x_i, m_i] · Σ_{k=1}^{H} ΔE[purchases in month k] / (1+d)^k

(Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves", §4; the monthly sum is the
usual discrete form of their continuous discounting.)

Fits are checked before they are trusted (`models.btyd.diagnostics`): the transaction models
in `ValueSettings.candidates` are tried in order — BG/NBD, Pareto/NBD (, MBG/NBD), the
empirical shrunk rate — and the first whose fit passes is used; spend is Gamma-Gamma, else
the empirical shrunk order value. The empirical estimates can always be computed, so the
empirical rate is the last resort even when the candidates leave it out. What was used, what
was rejected and why is in `fit_report_`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from upmarket.errors import UpmarketError
from upmarket.features.btyd import UNIT_DAYS
from upmarket.models import btyd
from upmarket.models.btyd import BetaGeo, GammaGamma, ParetoNBD
from upmarket.models.btyd.diagnostics import (FitReport, FitWarning, check_fit, check_p_alive,
                                              check_repeat_buyers)
from upmarket.models.btyd.empirical import EmpiricalRate, EmpiricalSpend

UNITS_PER_MONTH = {unit: 365.25 / 12 / days for unit, days in UNIT_DAYS.items()}

#: Transaction models by the names `ValueSettings.candidates` uses; "mbgnbd" is the modified
#: BG/NBD where the installed btyd package provides it.
TRANSACTION_MODELS = {
    "bgnbd": lambda: BetaGeo,
    "pnbd": lambda: ParetoNBD,
    "mbgnbd": lambda: getattr(btyd, "ModifiedBetaGeo", None),
    "empirical": lambda: EmpiricalRate,
}


class UnknownValueModel(UpmarketError):
    """A candidate name no transaction model answers to."""


class RetentionNotModelled(UpmarketError):
    """The value model in use has no dropout process to change."""


@dataclass(frozen=True)
class ValueSettings:
    horizon_months: int = 12
    monthly_discount: float = 0.01
    #: Margin rate used where product costs are unknown (the data say nothing about profit).
    default_margin_rate: float = 0.30
    unit: str = "W"
    #: Gamma-Gamma, and any dropout process, needs enough repeat buyers to be estimated.
    min_repeat_customers: int = 20
    #: Below this many customers plain maximum likelihood can run off to the boundary (a, r →
    #: ∞ on two customers); a small L2 penalty keeps the estimates finite and sensible there.
    small_sample: int = 200
    small_sample_penalizer: float = 0.1
    #: Transaction models in the order they are tried: bgnbd, pnbd, mbgnbd, empirical.
    candidates: tuple[str, ...] = ("bgnbd", "pnbd", "empirical")


#: The columns of a customer frame `LifetimeValue.fit` and `predict` read: a caller scoring a
#: date needs no other part of the customers' rows.
INPUTS = ("frequency", "recency", "T", "monetary", "total_spend", "net_revenue", "margin_rate")


def _params(model) -> dict:
    return {k: float(v) for k, v in model.params_.items()}


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
        """Fit the candidates in order until one passes its diagnostics, then the spend model.

        Sets `transactions_` (the model used), `transactions_name_`, `spend_` (GammaGamma or
        EmpiricalSpend), `spend_name_`, `p_alive_published_` and `fit_report_`."""
        s = self.settings
        f = frame
        unknown = [c for c in s.candidates if c not in TRANSACTION_MODELS]
        if unknown:
            raise UnknownValueModel(f"unknown value model(s) {', '.join(map(repr, unknown))}: "
                                    f"choose from {', '.join(TRANSACTION_MODELS)}")
        penalizer = s.small_sample_penalizer if len(f) < s.small_sample else 0.0
        x, tx, T = self._rft(f)
        report = FitReport()
        self.transactions_name_ = self.transactions_ = None
        for name in dict.fromkeys((*s.candidates, "empirical")):
            cls = TRANSACTION_MODELS[name]()
            if cls is None:
                continue  # not provided by this installation
            if name == "empirical":  # moments only: it cannot fail, and it is never rejected
                model, found = cls().fit(x, tx, T), []
            else:
                model, found = _checked_fit(
                    name, check_repeat_buyers(int(np.sum(x > 0)), s.min_repeat_customers, name),
                    lambda m: m.fit(x, tx, T), lambda: cls(penalizer=penalizer),
                    lambda m: check_p_alive(m.probability_alive(x, tx, T), name))
            report.add(name, "transactions", found, _params(model) if model else {},
                       used=not found)
            if not found:
                self.transactions_name_, self.transactions_ = name, model
                break
        report.transactions = self.transactions_name_
        # P(alive) of the model in use is published only where it says something; every model
        # but the empirical rate passed `check_p_alive` to be chosen
        self.p_alive_published_ = self.transactions_name_ != "empirical"
        report.p_alive_missing = None if self.p_alive_published_ else "no_dropout"

        first_spend = (f["total_spend"] if "total_spend" in f else f["net_revenue"]) / (f["frequency"] + 1)
        values = np.where(f["monetary"] > 0, f["monetary"], first_spend)
        # a base whose every order is free (or unpriced) is worth nothing, not an error
        self.mean_order_value_ = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
        repeat = f[(f["frequency"] > 0) & (f["monetary"] > 0)]
        spend, found = _checked_fit(
            "gamma_gamma", check_repeat_buyers(len(repeat), s.min_repeat_customers, "gamma_gamma"),
            lambda m: m.fit(repeat["frequency"], repeat["monetary"]),
            lambda: GammaGamma(penalizer=penalizer), lambda m: [])
        report.add("gamma_gamma", "spend", found, _params(spend) if spend else {}, used=not found)
        self.spend_, self.spend_name_ = spend, "gamma_gamma"
        if found:
            self.spend_ = EmpiricalSpend().fit(repeat["frequency"], repeat["monetary"],
                                               fallback_mean=self.mean_order_value_)
            self.spend_name_ = "empirical_spend"
            report.add("empirical_spend", "spend", [], _params(self.spend_), used=True)
        report.spend = self.spend_name_
        self.fit_report_ = report
        return self

    def order_value(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame["frequency"].to_numpy(float)
        m = frame["monetary"].to_numpy(float)
        ok = (x > 0) & (m > 0)
        return self.spend_.conditional_expected_average_profit(np.where(ok, x, 0), np.where(ok, m, 0))

    def with_retention(self, points: float) -> LifetimeValue:
        """A copy whose customers are `points` percentage points more likely to stay after each
        purchase. The same observed histories are then re-read under the new prior, so P(alive)
        and expected purchases move accordingly.

        - BG/NBD (and MBG/NBD): the mean dropout per purchase E[p] = a/(a+b) (FHL 2005 §2)
          falls by points/100 (floored at 0.5 %), `a` kept and `b` solved from the new mean.
        - Pareto/NBD: dropout is in calendar time, μ ~ Gamma(s, β); for a customer with the
          mean rates λ̄ = r/α and μ̄ = s/β the chance of dropping out before the next purchase
          is μ̄/(λ̄+μ̄) (the competing exponential clocks of SMC 1987 §2). That chance falls by
          points/100, `s` kept and β solved from the new μ̄.
        - Empirical rates have no dropout: `RetentionNotModelled` is raised.
        """
        out = copy.deepcopy(self)
        prm = out.transactions_.params_
        if {"a", "b"} <= prm.keys():
            mean = prm["a"] / (prm["a"] + prm["b"])
            target = min(max(mean - points / 100.0, 0.005), 0.995)
            prm["b"] = prm["a"] * (1 - target) / target
        elif {"s", "beta"} <= prm.keys():
            lam, mu = prm["r"] / prm["alpha"], prm["s"] / prm["beta"]
            target = min(max(mu / (lam + mu) - points / 100.0, 0.005), 0.995)
            prm["beta"] = prm["s"] / (target * lam / (1 - target))
        else:
            raise RetentionNotModelled(
                "the value model in use (empirical purchase rates, chosen because the dropout "
                "models did not fit this data) has no dropout process, so a retention change "
                "cannot be simulated; frequency, order value and cost-to-serve levers still apply")
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
        p_alive = self.transactions_.probability_alive(x, tx, T) if self.p_alive_published_ \
            else np.full(len(frame), np.nan)
        return pd.DataFrame({
            "p_alive": p_alive,
            "expected_purchases_90d": self.transactions_.conditional_expected_purchases(
                90 / 30.4375 * per_month, x, tx, T),
            "expected_purchases_12m": self.transactions_.conditional_expected_purchases(
                s.horizon_months * per_month, x, tx, T),
            "expected_order_value": value,
            "margin_rate": np.broadcast_to(np.asarray(margin, float), len(frame)),
            "clv": clv_value,
        }, index=frame.index)



def _checked_fit(name, found, fit, make, extra_checks):
    """(model, warnings): `make()` fitted by `fit` and diagnosed, unless `found` already
    rules it out (then model is None). An optimiser that raises is a `fit_failed` warning, not
    an aborted run; its own warnings are silenced here because the diagnostics name them."""
    if found:
        return None, found
    model = make()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            fit(model)
            found = check_fit(model, name) + extra_checks(model)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        return None, [FitWarning("fit_failed", name, {"error": str(exc)[:200]})]
    return model, found
