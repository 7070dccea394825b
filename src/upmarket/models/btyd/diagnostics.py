"""Fit diagnostics of the BTYD models: named warnings with stable codes, so a fit the data
cannot support is named (and, in `models.value`, replaced) instead of silently published.

Codes
-----
``boundary_estimate``
    A parameter the data do not pin down: its log ended at the optimiser's bound (±LOG_BOUND),
    a shape parameter of a mixing distribution (r, a, b, s, p, q) is extreme (below 1e-3 or
    above 1e4: BG/NBD a → 0 or b → ∞ means no dropout at all, r → ∞ no heterogeneity), or
    its standard error is not finite (the observed information is singular there).
``not_converged``
    The optimiser stopped with a visibly non-zero gradient.
``infinite_mean_spend``
    Gamma-Gamma q ≤ 1: the population mean spend p·v/(q − 1) is infinite (FHL-RFM 2005
    Appendix), so no expected order value can be computed.
``few_repeat_buyers``
    Too few customers with a repeat purchase to estimate a dropout process or a spend model.
``p_alive_uninformative``
    P(alive) ≈ 1, or one and the same value, for nearly every customer: the model says
    nothing about who is still active.
``fit_failed``
    The fit itself raised (an overflow or a singular system inside the optimiser).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._base import LOG_BOUND, BTYDModel
from .gamma_gamma import GammaGamma

CODES = ("boundary_estimate", "not_converged", "infinite_mean_spend", "few_repeat_buyers",
         "p_alive_uninformative", "fit_failed")

#: Shape parameters of the gamma and beta mixing distributions; scale parameters (alpha,
#: beta, v) carry the data's units, so only the optimiser bound and their standard error can
#: judge them.
SHAPE_PARAMS = frozenset({"r", "a", "b", "s", "p", "q"})
SHAPE_RANGE = (1e-3, 1e4)
#: A gradient above this (in the mean log-likelihood per customer) is not a converged fit.
GRADIENT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class FitWarning:
    """One diagnostic: a stable `code`, the `model` it is about (bgnbd, pnbd, gamma_gamma…)
    and the numbers behind it (`params`)."""

    code: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.text("en")

    def text(self, lang: str = "en") -> str:
        """The warning in words, with its numbers, in `lang` (en or zh)."""
        from upmarket.i18n import LABELS, label

        model = label(f"value_model.{self.model}", lang) \
            if f"value_model.{self.model}" in LABELS else self.model
        extra = {"why": label(f"value_warning.reason.{self.params['reason']}", lang)} \
            if "reason" in self.params else {}
        key = f"value_warning.{self.code}"
        if self.params.get("repeat_buyers") == 1:  # "only 1 customer bought", not "customers"
            key += ".one"
        return label(key, lang, model=model, **self.params, **extra)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "model": self.model, **self.params}


def _fmt(v: float) -> float:
    """Four significant digits: enough to recognise the estimate, short in JSON."""
    return float(f"{v:.4g}")


def check_fit(model: BTYDModel, name: str) -> list[FitWarning]:
    """Boundary estimates and non-convergence of a fitted BTYD model (see the module doc)."""
    out: list[FitWarning] = []
    if not getattr(model, "converged_", True):
        out.append(FitWarning("not_converged", name,
                              {"gradient": _fmt(getattr(model, "max_gradient_", float("nan")))}))
    try:
        se = model.standard_errors_
    except Exception:  # noqa: BLE001 - a failing Hessian is itself the finding
        se = {k: float("nan") for k in model.params_}
    for k, v in model.params_.items():
        reason = None
        if not np.isfinite(v) or v <= 0 or abs(np.log(v)) >= LOG_BOUND - 1e-3:
            reason = "bound"
        elif k in SHAPE_PARAMS and not SHAPE_RANGE[0] <= v <= SHAPE_RANGE[1]:
            reason = "extreme"
        elif not np.isfinite(se.get(k, np.nan)):
            reason = "standard_error"
        if reason:
            out.append(FitWarning("boundary_estimate", name,
                                  {"parameter": k, "value": _fmt(v), "reason": reason}))
    if isinstance(model, GammaGamma) and model.params_["q"] <= 1:
        out.append(FitWarning("infinite_mean_spend", name, {"q": _fmt(model.params_["q"])}))
    return out


def check_p_alive(p_alive, name: str, *, share: float = 0.95, tolerance: float = 0.01
                  ) -> list[FitWarning]:
    """`p_alive_uninformative` when at least `share` of customers have P(alive) within
    `tolerance` of 1, or within `tolerance` of one common value."""
    p = np.asarray(p_alive, float)
    p = p[np.isfinite(p)]
    if p.size == 0:
        return []
    near_one = float(np.mean(p >= 1 - tolerance))
    # the most crowded window of width 2·tolerance: sorted values, count within reach
    s = np.sort(p)
    reach = np.searchsorted(s, s + 2 * tolerance, side="right") - np.arange(s.size)
    i = int(np.argmax(reach))
    crowd, common = float(reach[i] / s.size), float(np.median(s[i:i + reach[i]]))
    if near_one >= share:
        crowd, common = near_one, 1.0
    if crowd < share:
        return []
    return [FitWarning("p_alive_uninformative", name,
                       {"share": round(crowd, 4), "value": round(common, 3)})]


def check_repeat_buyers(repeat_buyers: int, minimum: int, name: str) -> list[FitWarning]:
    if repeat_buyers >= minimum:
        return []
    return [FitWarning("few_repeat_buyers", name,
                       {"repeat_buyers": int(repeat_buyers), "minimum": int(minimum)})]


@dataclass
class FitReport:
    """What a value model tried, what it used and why: `tried` holds one entry per candidate
    (model, kind, used, params, warnings)."""

    transactions: str | None = None
    spend: str | None = None
    #: None while P(alive) is published; else why it is missing (a code).
    p_alive_missing: str | None = None
    tried: list[dict] = field(default_factory=list)

    def add(self, model: str, kind: str, warnings: list[FitWarning], params: dict | None = None,
            used: bool = False) -> None:
        self.tried.append({"model": model, "kind": kind, "used": used, "params": params or {},
                           "warnings": list(warnings)})

    @property
    def warnings(self) -> list[FitWarning]:
        return [w for t in self.tried for w in t["warnings"]]

    @property
    def rejected(self) -> list[dict]:
        return [{"model": t["model"], "kind": t["kind"],
                 "codes": sorted({w.code for w in t["warnings"]})}
                for t in self.tried if not t["used"]]

    def summary(self) -> dict:
        """JSON-ready: the models used, their parameters, every warning, what was rejected."""
        used = {t["kind"]: t for t in self.tried if t["used"]}
        return {
            "transactions": self.transactions,
            "spend": self.spend,
            # JSON has no infinity: an infinite constant (full pooling) is written as null
            "params": {kind: {k: round(float(v), 6) if np.isfinite(v) else None
                              for k, v in t["params"].items()} for kind, t in used.items()},
            "p_alive": "missing" if self.p_alive_missing else "published",
            **({"p_alive_reason": self.p_alive_missing} if self.p_alive_missing else {}),
            "rejected": self.rejected,
            "warnings": [w.as_dict() for w in self.warnings],
        }
