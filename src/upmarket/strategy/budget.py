"""Budget plan vs actual and elastic reallocation (the marketing-plan framework "预算弹性控制方案"; the execution-process manual's
budget execution rate).

Three steps, each usable on its own:

1. **Plan vs actual** per channel and period. The plan is either the campaigns' budgets spread
   evenly over their days, or a plan file (CSV, Excel or YAML with `channel, period, planned`);
   the actual is `marketing_spend`. The execution rate compares spend with the part of the plan
   that was due by `as_of` (a half-elapsed month is compared with half its plan).
2. **A saturating response curve per channel**, fitted on (period spend, revenue attributed to
   the channel in that period): the negative-exponential (Mitscherlich) curve
   ``revenue(s) = a · (1 − exp(−s / b))`` — `a` the revenue the channel saturates at, `b` the
   spend scale; the marginal return ``a/b · exp(−s/b)`` falls as spend grows, the diminishing
   returns every budget-allocation model assumes (Hanssens, Parsons & Schultz 2001, *Market
   Response Models*, ch. 3; the exponential form is the `c = 1` Hill curve's smooth cousin
   used in media-mix modelling, e.g. Jin et al. 2017, "Bayesian methods for media mix modeling
   with carryover and shape effects", Google). Fitted by bounded least squares
   (`scipy.optimize.least_squares`); with too few points it falls back to a curve through the
   channel's mean point (see :class:`SaturatingResponse`).
3. **Reallocation** of the same total budget to maximise total expected return under the
   fitted curves, each channel moving at most ±30 % (configurable, per channel too). The
   problem is concave and separable, so the optimum equalises marginal returns across the
   channels not held at a bound (the Karush–Kuhn–Tucker conditions): with a common marginal
   return λ, channel c spends ``b_c · ln(a_c / (b_c λ))`` clipped to its bounds, and λ is found
   by bisection so the total is exactly the budget. The current allocation is feasible, so the
   suggestion never returns less than today's under the same curves.

Which channels may move is decided by the marketing-mix model (`upmarket.models.mmm`: weekly
spend with carry-over and saturation, trend and seasons, bootstrap intervals): only channels
whose curve passes its credibility thresholds (spend that moved on its own, an out-of-time fit,
a narrow ROI interval) are reallocated, on the mix model's curves (`reallocate_mix`); the others
keep their budget and are reported as "not enough signal" with the reason. Step 2's attributed
curves stay as a description of what attribution credits each channel with.

Revenue attributed per period comes from `models.attribution` (Markov removal effects by
default) over each period's converting paths (`features.budget.period_paths`).
"""

from __future__ import annotations

import contextlib
import glob
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from upmarket.errors import Msg, UpmarketError
from upmarket.features import budget as fbudget
from upmarket.features import media as fmedia
from upmarket.features import paths as fpaths
from upmarket.models.attribution import attribute
from upmarket.models.mmm import BadMmmData, MmmResult, MmmSettings, fit_mmm, weekly_frame
from upmarket.warehouse.connection import duckdb_path


class BadPlan(UpmarketError, ValueError):
    """A budget plan file cannot be read or holds an impossible value."""


class BadBudgetSettings(UpmarketError, ValueError):
    """Reallocation limits or the period make no sense."""


PERIODS = {"M": "month", "Q": "quarter"}
#: Headers a plan file may use for each column (Chinese spreadsheets included).
PLAN_COLUMNS = {
    "channel": ("channel", "渠道", "channel_name"),
    "period": ("period", "month", "quarter", "期间", "周期", "月份", "季度"),
    "planned": ("planned", "plan", "budget", "预算", "计划", "计划预算", "planned_budget"),
}


@dataclass(frozen=True)
class BudgetSettings:
    """How budgets are compared and moved.

    freq : "M" (calendar months) or "Q" (quarters) — the planning period.
    max_increase, max_decrease : how far a channel's budget may move in one reallocation, as
        fractions of its current budget (the marketing-plan framework's "elastic" control: ±30 % by default).
    channel_limits : per-channel overrides, ``{channel: (max_decrease, max_increase)}``.
    recent_periods : the current budget of a channel is its mean spend over this many latest
        complete periods.
    min_points : fewer (spend, revenue) periods than this and a channel's curve falls back to
        the mean-point curve.
    tolerance : execution within ±tolerance of plan is "on plan".
    attribution_model, lookback_days : how each period's revenue is credited to channels.
    cost_types : spend that counts (None: all four, the fully-loaded cost of the key-account strategy course).
    outcome, mix_model : what the marketing-mix model explains (new customers or revenue) and
        how it is fitted and judged (`upmarket.models.mmm`); reallocation moves only the
        channels whose mix-model curve passes its credibility thresholds.
    """

    freq: str = "M"
    max_increase: float = 0.30
    max_decrease: float = 0.30
    channel_limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    recent_periods: int = 3
    min_points: int = 6
    tolerance: float = 0.10
    attribution_model: str = "markov"
    lookback_days: int = 30
    cost_types: tuple[str, ...] | None = None
    outcome: str = "new_customers"
    mix_model: MmmSettings = field(default_factory=MmmSettings)

    def __post_init__(self):
        if self.freq not in PERIODS:
            raise BadBudgetSettings(f"the budget period must be M (month) or Q (quarter), not "
                                    f"{self.freq!r}")
        _check_limits("--max-change", self.max_decrease, self.max_increase)
        for ch, (down, up) in dict(self.channel_limits).items():
            _check_limits(f"the limits of channel {ch!r}", down, up)
        if int(self.recent_periods) < 1 or int(self.min_points) < 2:
            raise BadBudgetSettings("recent_periods must be >= 1 and min_points >= 2")
        if self.outcome not in fmedia.OUTCOMES:
            raise BadBudgetSettings(f"the outcome must be one of {', '.join(fmedia.OUTCOMES)}, "
                                    f"not {self.outcome!r}")
        if not 0 <= self.tolerance < 1:
            raise BadBudgetSettings(f"tolerance must be in [0, 1), not {self.tolerance!r}")


def _check_limits(what: str, down: float, up: float) -> None:
    if not (np.isfinite(down) and np.isfinite(up)) or down < 0 or up < 0 or down > 1:
        raise BadBudgetSettings(
            f"{what}: a budget may fall by a fraction in [0, 1] and rise by a fraction >= 0 "
            f"(got decrease {down!r}, increase {up!r}); e.g. --max-change 0.3 for ±30 %")


# ---------------------------------------------------------------------------------------------
# periods


def period_label(ts, freq: str) -> str:
    """"2025-03" for a month, "2025Q1" for a quarter."""
    return str(pd.Period(pd.Timestamp(ts), freq=freq))


def _elapsed(period: pd.Period, as_of: datetime) -> float:
    """Share of `period` that lies before `as_of`, by days (0 for a future period, 1 for a
    past one)."""
    start = period.start_time
    end = (period + 1).start_time
    if as_of <= start:
        return 0.0
    if as_of >= end:
        return 1.0
    return (pd.Timestamp(as_of) - start) / (end - start)


# ---------------------------------------------------------------------------------------------
# plan


def campaign_plan(campaigns: pd.DataFrame, as_of: datetime, freq: str = "M") -> pd.DataFrame:
    """Campaign budgets spread evenly over their days (first to last day inclusive) and summed
    per channel and period: `planned` (the whole period) and `planned_to_date` (the days before
    `as_of`). Campaigns without a budget, start or end cannot be spread and are left out."""
    cols = ["channel", "period", "planned", "planned_to_date"]
    c = campaigns.dropna(subset=["budget", "start", "end"])
    c = c[c["budget"] > 0]
    if c.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    cutoff = pd.Timestamp(as_of)
    for r in c.itertuples():
        first, last = pd.Timestamp(r.start).normalize(), pd.Timestamp(r.end).normalize()
        if last < first:
            continue
        days = pd.date_range(first, last, freq="D")
        daily = float(r.budget) / len(days)
        due = days + pd.Timedelta(days=1) <= cutoff  # the whole day lies before as_of
        part = np.clip((cutoff - days) / pd.Timedelta(days=1), 0.0, 1.0)
        rows.append(pd.DataFrame({
            "channel": r.channel if isinstance(r.channel, str) and r.channel else "unknown",
            "period": days.to_period(freq).astype(str),
            "planned": daily,
            "planned_to_date": np.where(due, daily, daily * part),
        }))
    out = pd.concat(rows, ignore_index=True)
    return out.groupby(["channel", "period"], as_index=False)[["planned", "planned_to_date"]].sum()


def read_plan(path: str | Path, freq: str = "M") -> pd.DataFrame:
    """A plan file as a frame (channel, period, planned); periods normalised to `freq` (a
    month in a quarterly plan adds to its quarter).

    CSV/TSV (UTF-8 or GBK), Excel, or YAML — either a list of ``{channel, period, planned}``
    or ``{channel: {period: planned}}``. Headers may be English or Chinese (渠道, 期间, 预算)."""
    path = Path(path)
    if not path.exists():
        raise BadPlan("err.plan.not_found", path=path)
    if path.suffix.lower() in (".yaml", ".yml"):
        frame, first_line = _yaml_plan(path), None
    else:
        from upmarket.warehouse.readers import read_file

        try:
            sheet = read_file(path)
        except UpmarketError as exc:
            raise BadPlan("err.plan.unreadable", reason=exc) from None
        frame, first_line = sheet.frame, sheet.first_line
    return _validate_plan(frame, str(path), first_line, freq)


def _yaml_plan(path: Path) -> pd.DataFrame:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadPlan("err.plan.yaml", path=path, reason=exc) from None
    if isinstance(data, dict) and "plan" in data:
        data = data["plan"]
    if isinstance(data, list) and all(isinstance(x, dict) for x in data):
        return pd.DataFrame(data)
    if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
        return pd.DataFrame([{"channel": ch, "period": p, "planned": v}
                             for ch, periods in data.items() for p, v in periods.items()])
    raise BadPlan("err.plan.shape", path=path)


def _validate_plan(frame: pd.DataFrame, path: str, first_line: int | None, freq: str
                   ) -> pd.DataFrame:
    rename = {}
    for canon, names in PLAN_COLUMNS.items():
        for col in frame.columns:
            if str(col).strip().lower() in names:
                rename[col] = canon
                break
    frame = frame.rename(columns=rename)
    missing = [c for c in PLAN_COLUMNS if c not in frame.columns]
    if missing:
        raise BadPlan("err.plan.columns", path=path, missing=", ".join(missing),
                      found=", ".join(map(str, frame.columns)))
    if frame.empty:
        raise BadPlan("err.plan.empty", path=path)

    def where(i: int) -> Msg:
        return Msg("err.plan.line", n=first_line + i) if first_line is not None else \
            Msg("err.plan.entry", n=i + 1)

    channel = frame["channel"].astype("string").str.strip()
    for i in np.flatnonzero(channel.isna() | (channel == "")):
        raise BadPlan("err.plan.no_channel", path=path, where=where(i))
    planned = pd.to_numeric(frame["planned"], errors="coerce")
    bad = ~np.isfinite(planned.to_numpy(float)) | (planned.to_numpy(float) < 0)
    for i in np.flatnonzero(bad):
        raise BadPlan("err.plan.amount", path=path, where=where(i),
                      value=frame["planned"].iloc[i])
    periods = []
    for i, raw in enumerate(frame["period"]):
        try:
            periods.append(str(pd.Period(str(raw).strip(), freq=freq)))
        except (ValueError, TypeError):
            raise BadPlan("err.plan.period", path=path, where=where(i), value=raw,
                          kind=Msg(f"err.plan.{PERIODS[freq]}")) from None
    out = pd.DataFrame({"channel": channel.astype(str), "period": periods,
                        "planned": planned.astype(float)})
    return out.groupby(["channel", "period"], as_index=False)["planned"].sum()


def file_plan(plan: pd.DataFrame, as_of: datetime, freq: str = "M") -> pd.DataFrame:
    """A plan file's rows with `planned_to_date`: the planned amount times the share of the
    period elapsed at `as_of` (spend is assumed even within a period)."""
    share = plan["period"].map(lambda p: _elapsed(pd.Period(p, freq=freq), as_of))
    return plan.assign(planned_to_date=plan["planned"] * share)


def plan_vs_actual(plan: pd.DataFrame, actual: pd.DataFrame, as_of: datetime, freq: str = "M",
                   tolerance: float = 0.10) -> pd.DataFrame:
    """One row per channel and period: planned (whole period), planned to date, actual, the
    execution rate (actual ÷ planned to date) and a status — `over` / `under` beyond
    ±tolerance, `on_plan`, `unplanned` (spend without a plan), `future` (not started).

    `actual` has channel, period and `actual` (and optionally `channel_spend`: all of the
    channel's spend, when `actual` only counts the planned campaigns)."""
    keys = ["channel", "period"]
    p = plan.groupby(keys)[["planned", "planned_to_date"]].sum()
    a = actual.groupby(keys)[[c for c in ("actual", "channel_spend") if c in actual]].sum()
    out = p.join(a, how="outer").fillna(0.0).reset_index()
    if "channel_spend" not in out:
        out["channel_spend"] = out["actual"]
    out["variance"] = out["actual"] - out["planned_to_date"]
    with np.errstate(divide="ignore", invalid="ignore"):
        out["execution_rate"] = np.where(out["planned_to_date"] > 0,
                                         out["actual"] / out["planned_to_date"], np.nan)
    started = out["period"].map(lambda q: _elapsed(pd.Period(q, freq=freq), as_of) > 0)
    rate = out["execution_rate"]
    out["status"] = np.select(
        [~started, out["planned_to_date"] <= 0, rate > 1 + tolerance, rate < 1 - tolerance],
        ["future", "unplanned", "over", "under"], default="on_plan")
    out.loc[(out["planned_to_date"] <= 0) & (out["actual"] <= 0) & started, "status"] = "on_plan"
    return out.sort_values(keys, ignore_index=True)[
        ["channel", "period", "planned", "planned_to_date", "actual", "channel_spend",
         "variance", "execution_rate", "status"]]


# ---------------------------------------------------------------------------------------------
# response curves


class SaturatingResponse:
    """Negative-exponential response ``revenue(s) = a · (1 − exp(−s / b))``.

    `fit(spend, revenue)` — bounded least squares on the data scaled to [0, 1] (a ∈ [0, 10⁴ ×
    max revenue], b ∈ [10⁻³, `max_scale`] × max spend), from three starting scales, keeping the
    best. When b reaches its upper bound the curve is effectively a straight line over the data
    (`linear_` is True): the data show no saturation yet.

    Fallbacks, named in `method_`:

    * ``"mean_point"`` — fewer than `min_points` periods, fewer than three distinct positive
      spends, or a failed fit: b = the mean positive spend and a = mean revenue / (1 − e⁻¹), so
      the curve passes through the mean (spend, revenue) point with the channel at 63 % of its
      saturation there — diminishing returns of a neutral strength, and a marginal ROI at the
      mean of ``mean revenue / mean spend × 0.58``.
    * ``"no_revenue"`` — nothing attributed: a = 0, every unit spent returns nothing.
    * ``"no_spend"`` — never any spend: nothing to learn from; a = 0.

    Attributes after fit: ``a_``, ``b_``, ``method_`` ("least_squares" or a fallback),
    ``r2_`` (on the points, NaN for fallbacks), ``n_points_``, ``linear_``.
    """

    def __init__(self, min_points: int = 6, max_scale: float = 100.0):
        self.min_points = int(min_points)
        self.max_scale = float(max_scale)

    @classmethod
    def from_params(cls, a: float, b: float, method: str = "given") -> SaturatingResponse:
        self = cls()
        if not (a >= 0 and b > 0 and np.isfinite(a) and np.isfinite(b)):
            raise BadBudgetSettings(f"a response curve needs a >= 0 and b > 0 (got a={a}, b={b})")
        self.a_, self.b_, self.method_ = float(a), float(b), method
        self.r2_, self.n_points_, self.linear_ = np.nan, 0, False
        return self

    def fit(self, spend, revenue) -> SaturatingResponse:
        s = np.asarray(spend, float)
        y = np.asarray(revenue, float)
        ok = np.isfinite(s) & np.isfinite(y) & (s >= 0)
        s, y = s[ok], np.maximum(y[ok], 0.0)
        self.n_points_ = len(s)
        self.r2_, self.linear_ = np.nan, False
        positive = s[s > 0]
        if len(positive) == 0:
            self.a_, self.b_, self.method_ = 0.0, 1.0, "no_spend"
            return self
        if y.sum() <= 0:
            # spent but never credited with anything: the channel returns nothing we can see
            self.a_, self.b_, self.method_ = 0.0, float(positive.mean()), "no_revenue"
            return self
        too_few = len(s) < self.min_points or len(np.unique(positive)) < 3
        if too_few or not self._least_squares(s, y):
            self.b_ = float(positive.mean())
            self.a_ = float(y.mean()) / (1.0 - np.exp(-float(s.mean()) / self.b_))
            self.method_ = "mean_point"
        return self

    def _least_squares(self, s: np.ndarray, y: np.ndarray) -> bool:
        sx, sy = s.max(), y.max()
        x, t = s / sx, y / sy

        def resid(p):
            return p[0] * -np.expm1(-x / p[1]) - t

        def jac(p):
            e = np.exp(-x / p[1])
            return np.column_stack([1.0 - e, -p[0] * e * x / p[1] ** 2])

        lo, hi = [0.0, 1e-3], [1e4, self.max_scale]
        best = None
        for b0 in (0.3, 1.0, 3.0):
            g = -np.expm1(-x / b0)
            a0 = float(np.clip((g @ t) / max(g @ g, 1e-12), 1e-6, 1e4 - 1))
            try:
                r = least_squares(resid, [a0, b0], jac=jac, bounds=(lo, hi), method="trf")
            except (ValueError, np.linalg.LinAlgError):
                continue
            if r.success and np.all(np.isfinite(r.x)) and (best is None or r.cost < best.cost):
                best = r
        if best is None or best.x[0] <= 0:
            return False
        self.a_, self.b_ = float(best.x[0] * sy), float(best.x[1] * sx)
        self.method_ = "least_squares"
        self.linear_ = bool(best.x[1] >= 0.99 * self.max_scale)
        sst = float(((t - t.mean()) ** 2).sum())
        self.r2_ = 1.0 - 2.0 * float(best.cost) / sst if sst > 0 else np.nan
        return True

    def predict(self, spend) -> np.ndarray:
        return self.a_ * -np.expm1(-np.asarray(spend, float) / self.b_)

    def marginal(self, spend) -> np.ndarray:
        """d revenue / d spend: the return of the next unit of spend."""
        return self.a_ / self.b_ * np.exp(-np.asarray(spend, float) / self.b_)


def _equalise(a: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              total: float) -> np.ndarray:
    """argmax Σ a(1 − e^{−x/b}) subject to Σx = total and lower ≤ x ≤ upper.

    KKT: x_c(λ) = clip(b_c ln(a_c / (b_c λ)), lower_c, upper_c) with one λ for all; Σ x(λ)
    falls as λ grows, so λ is bisected (on log λ, to machine precision). Channels that return
    nothing (a = 0) stay at their lower bound unless every earning channel is at its upper
    bound; the rounding residue goes to the channels with room, in proportion to their room."""
    x = lower.copy()
    earn = a > 0
    if earn.any():
        la = np.log(a[earn]) - np.log(b[earn])  # log(a/b) without underflow to log 0
        be, lo_e, hi_e = b[earn], lower[earn], upper[earn]
        # log marginal return at the bounds bracket log λ
        mu_hi = float(np.max(la - lo_e / be)) + 1.0
        mu_lo = float(np.min(la - hi_e / be)) - 1.0
        rest = float(lower[~earn].sum())

        def spend_at(mu):
            return np.clip(be * (la - mu), lo_e, hi_e)

        if spend_at(mu_lo).sum() + rest <= total:
            x[earn] = hi_e
        else:
            for _ in range(200):
                mid = 0.5 * (mu_lo + mu_hi)
                if spend_at(mid).sum() + rest > total:
                    mu_lo = mid
                else:
                    mu_hi = mid
            x[earn] = spend_at(mu_hi)
    residue = total - x.sum()
    room = (upper - x) if residue > 0 else (x - lower)
    if residue != 0 and room.sum() > 0:
        x += np.sign(residue) * min(abs(residue), room.sum()) * room / room.sum()
    return np.clip(x, lower, upper)


def reallocate(curves: Mapping[str, SaturatingResponse], current: Mapping[str, float], *,
               max_increase: float = 0.30, max_decrease: float = 0.30,
               limits: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Move the same total budget between channels to maximise total expected return under
    the fitted curves, each channel within [current × (1 − decrease), current × (1 + increase)]
    (`limits` overrides per channel as (max_decrease, max_increase)).

    Returns one row per channel: current, suggested, change, change_pct, the bounds, expected
    return now and suggested, marginal return now and suggested, and the curve's method. The
    suggestion is the exact constrained optimum (see `_equalise`); should rounding ever leave
    it below today's return, today's allocation is returned instead."""
    _check_limits("--max-change", max_decrease, max_increase)
    limits = dict(limits or {})
    for ch, (down, up) in limits.items():
        _check_limits(f"the limits of channel {ch!r}", down, up)
    channels = [ch for ch in current if ch in curves]
    missing = [ch for ch in current if ch not in curves]
    if missing:
        raise BadBudgetSettings(f"no response curve for channel(s) {', '.join(missing)}")
    x0 = np.array([float(current[ch]) for ch in channels])
    if not np.all(np.isfinite(x0)) or np.any(x0 < 0):
        raise BadBudgetSettings("current budgets must be finite numbers >= 0")
    a = np.array([curves[ch].a_ for ch in channels])
    b = np.array([curves[ch].b_ for ch in channels])
    down = np.array([limits.get(ch, (max_decrease, max_increase))[0] for ch in channels])
    up = np.array([limits.get(ch, (max_decrease, max_increase))[1] for ch in channels])
    lower, upper = x0 * (1 - down), x0 * (1 + up)
    x = _equalise(a, b, lower, upper, float(x0.sum())) if len(x0) else x0

    def ret(v):
        return a * -np.expm1(-v / b)

    if ret(x).sum() < ret(x0).sum():
        x = x0.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(x0 > 0, x / x0 - 1.0, 0.0)
    return pd.DataFrame({
        "channel": channels, "current": x0, "suggested": x, "change": x - x0, "change_pct": pct,
        "lower": lower, "upper": upper,
        "expected_return_now": ret(x0), "expected_return_suggested": ret(x),
        "marginal_return_now": a / b * np.exp(-x0 / b),
        "marginal_return_suggested": a / b * np.exp(-x / b),
        "method": [curves[ch].method_ for ch in channels],
    })


def reallocate_mix(result: MmmResult | None, current: Mapping[str, float], weeks: float, *,
                   max_increase: float = 0.30, max_decrease: float = 0.30,
                   limits: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Move the budget of the *credible* channels of a mix model between themselves to
    maximise the expected outcome under its steady-state curves (a period of `weeks` weeks at
    a constant weekly spend), each within its bounds; every other channel keeps its budget and
    says why (`signal`: "credible" or the mix model's reason, "no_model" without one).

    The credible channels' total is kept, so money never flows from a curve nobody can trust
    into another. The optimum is found numerically (SLSQP: Hill curves with S > 1 are not
    concave, so no closed form); should it ever return less than today's allocation under the
    same curves, today's is kept."""
    from scipy.optimize import minimize

    _check_limits("--max-change", max_decrease, max_increase)
    limits = dict(limits or {})
    channels = list(current)
    x0 = np.array([float(current[ch]) for ch in channels])
    if not np.all(np.isfinite(x0)) or np.any(x0 < 0):
        raise BadBudgetSettings("current budgets must be finite numbers >= 0")
    down = np.array([limits.get(ch, (max_decrease, max_increase))[0] for ch in channels])
    up = np.array([limits.get(ch, (max_decrease, max_increase))[1] for ch in channels])
    known = set(result.params) if result is not None else set()
    credible = set(result.credible()) if result is not None else set()
    reasons = (result.channels.set_index("channel")["reason"].to_dict()
               if result is not None else {})
    signal = np.array(["credible" if ch in credible else
                       (reasons.get(ch) or "no_spend_in_model") if ch in known else "no_model"
                       for ch in channels], dtype=object)
    move = signal == "credible"
    lower = np.where(move, x0 * (1 - down), x0)
    upper = np.where(move, x0 * (1 + up), x0)

    def ret(v):
        if result is None:
            return np.full(len(channels), np.nan)
        return np.array([weeks * float(result.response(ch, v[i] / weeks)) if ch in known
                         else np.nan for i, ch in enumerate(channels)])

    def marginal(v):
        h = np.maximum(v, 1.0) * 1e-4
        return (ret(v + h) - ret(np.maximum(v - h, 0.0))) / (v + h - np.maximum(v - h, 0.0))

    x = x0.copy()
    idx = np.flatnonzero(move)
    idx = idx[x0[idx] > 0]
    if len(idx) >= 2:
        # in multiples of today's budgets and of today's return: SLSQP's tolerances and finite
        # differences are absolute, and budgets (10⁴–10⁶) and returns (10¹–10³) are not unit
        base = x0[idx]
        ref = max(float(ret(x0)[idx].sum()), 1e-12)

        def total(u):
            v = x0.copy()
            v[idx] = base * u
            return float(ret(v)[idx].sum())

        res = minimize(lambda u: -total(u) / ref, np.ones(len(idx)), method="SLSQP",
                       bounds=list(zip(lower[idx] / base, upper[idx] / base)),
                       constraints=[{"type": "eq",
                                     "fun": lambda u: (base * u).sum() / base.sum() - 1.0}])
        z = np.clip(base * res.x, lower[idx], upper[idx])
        room = (upper[idx] - z) if z.sum() < base.sum() else (z - lower[idx])
        if room.sum() > 0:
            z += (base.sum() - z.sum()) * room / room.sum()
        z = np.clip(z, lower[idx], upper[idx])
        if total(z / base) >= total(np.ones(len(idx))) and abs(z.sum() - base.sum()) <= 1e-6 * \
                base.sum():
            x[idx] = z
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(x0 > 0, x / x0 - 1.0, 0.0)
    return pd.DataFrame({
        "channel": channels, "current": x0, "suggested": x, "change": x - x0, "change_pct": pct,
        "lower": lower, "upper": upper,
        "expected_return_now": ret(x0), "expected_return_suggested": ret(x),
        "marginal_return_now": marginal(x0), "marginal_return_suggested": marginal(x),
        "method": "mix_model", "signal": signal,
    })


def mix_model(wh, as_of: datetime, settings: BudgetSettings = BudgetSettings()) -> MmmResult:
    """The marketing-mix model of the warehouse's weekly spend (`marketing_spend`) and
    outcome (`orders`), with its promotions (`promotions`) as a control."""
    spend = fmedia.weekly_spend(wh.table("marketing_spend"), as_of, settings.cost_types)
    outcome = fmedia.weekly_outcome(wh.table("orders"), as_of, settings.outcome)
    promos = fmedia.promotion_days(wh.table("promotions"), as_of)
    frame = weekly_frame(spend.to_pandas(), outcome.to_pandas(), promos.to_pandas(), as_of)
    return fit_mmm(frame, settings.mix_model)


# ---------------------------------------------------------------------------------------------
# from the warehouse


def attributed_by_period(paths: pd.DataFrame, freq: str = "M", model: str = "markov"
                         ) -> pd.DataFrame:
    """Attribute each period's converting paths separately: channel, period, conversions and
    revenue (attributed conversion value)."""
    rows = []
    for period, g in paths.groupby("period", sort=True):
        if g["total_conversions"].sum() <= 0:
            continue
        res = attribute(g[["path", "total_conversions", "total_conversion_value"]], model)
        rows.append(res.assign(period=period_label(period, freq)))
    if not rows:
        return pd.DataFrame(columns=["channel", "period", "conversions", "revenue"])
    out = pd.concat(rows, ignore_index=True).rename(columns={"value": "revenue"})
    return out[["channel", "period", "conversions", "revenue"]]


#: Customers whose journeys the engine collects at a time (for ROI and the response curves):
#: above this the paths are built in parts (`features.paths.paths_by_period`), so the engine's
#: memory for them stays that of this many customers. On the 200,000-customer world four parts
#: over one stitching held in the engine took less CPU than one whole build and ~550 MB less
#: memory at the stage's peak.
PATH_PART_CUSTOMERS = 50_000


def journey_paths(wh, as_of: datetime, freq: str = "M", lookback_days: int = 30
                  ) -> pd.DataFrame:
    """`features.paths.paths_by_period` as a frame (the non-converting journeys with a null
    period), built in parts of at most `PATH_PART_CUSTOMERS` customers when there are more.
    The parts share one set of stitched touches and conversions, materialised in the engine
    for as long as the parts take: stitching identities reads every event, and doing it once
    per part made the cost grow with the parts as well as the events."""
    events, orders = wh.table("events"), wh.table("orders")
    customers = int(orders.customer_id.nunique().execute() or 0)
    n = max(1, -(-customers // PATH_PART_CUSTOMERS))
    unit = fbudget._unit(freq)
    if n == 1:
        return fpaths.paths_by_period(events, orders, as_of, unit, lookback_days).to_pandas()
    touches, conversions = fpaths.in_parts(fpaths.stitched_touches(events, as_of),
                                           fpaths.conversions_until(orders, as_of), n)
    with _held(wh, touches=touches, conversions=conversions) as held:
        parts = [fpaths.paths_by_period(events, orders, as_of, unit, lookback_days,
                                        touches=held["touches"],
                                        conversions=held["conversions"],
                                        part=(k, n)).to_pandas() for k in range(n)]
    found = pd.concat(parts, ignore_index=True)
    return found.groupby(["period", "path"], as_index=False, sort=True, dropna=False)[
        ["total_conversions", "total_conversion_value", "total_null"]].sum()


@contextlib.contextmanager
def _held(wh, **tables):
    """`tables` (name → Ibis table) materialised once for as long as the block runs: in a
    DuckDB file's engine as compressed Parquet files in a directory of their own beside the
    warehouse file (removed after), elsewhere as cached tables (`Table.cache`).

    Why files on DuckDB: a cached table is a temporary table held uncompressed in the engine's
    memory (at 1,000,000 customers the stitched touches alone are about 1.2 GB, more than the
    engine's whole budget, `warehouse.engine_memory`), so the engine sat at its budget for the
    whole build, spilling the rest, and everything else it held was pushed out to disk with
    it. A Parquet file keeps the rows in the order they were written, in row groups whose
    min/max the reader checks (DuckDB's Parquet reader skips a row group its filter
    excludes), so a part read from the file reads its own row groups only, as it did from the
    cached table's blocks, and nothing of it stays in the engine between the parts."""
    path = duckdb_path(wh.url) if wh.is_duckdb else None
    if not path or path == ":memory:":
        held = {name: t.cache() for name, t in tables.items()}
        try:
            yield held
        finally:
            for t in held.values():
                t.release()
        return
    folder, prefix = Path(path).resolve().parent, Path(path).name + ".paths."
    # a run killed inside the block left its files (customer data) behind; this process holds
    # the file's write lock, so no other run can be reading them
    for left in folder.glob(glob.escape(prefix) + "*"):
        shutil.rmtree(left, ignore_errors=True)
    where = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))
    try:
        held = {}
        for name, t in tables.items():
            file = where / f"{name}.parquet"
            wh.backend.to_parquet(t, file)
            held[name] = wh.backend.sql(
                f"SELECT * FROM read_parquet('{str(file).replace(chr(39), chr(39) * 2)}')")
        yield held
    finally:
        shutil.rmtree(where, ignore_errors=True)


def converting_paths(paths: pd.DataFrame) -> pd.DataFrame:
    """The converting rows of `journey_paths` (period, path, total_conversions,
    total_conversion_value) in period and path order: what each period's attribution reads."""
    found = paths[paths["period"].notna() & (paths["total_conversions"] > 0)]
    return found.sort_values(["period", "path"], ignore_index=True)[
        ["period", "path", "total_conversions", "total_conversion_value"]]


def _period_paths(wh, as_of: datetime, freq: str, lookback_days: int) -> pd.DataFrame:
    """The converting paths per period (`converting_paths` of `journey_paths`)."""
    return converting_paths(journey_paths(wh, as_of, freq, lookback_days))


def complete_periods(first, as_of: datetime, freq: str = "M") -> list[str]:
    """Periods from the one holding `first` to the last one that ended by `as_of`."""
    start = pd.Period(first, freq=freq)
    # the period holding as_of has not ended (at best it starts at as_of)
    last = pd.Period(pd.Timestamp(as_of), freq=freq) - 1
    return [str(p) for p in pd.period_range(start, last, freq=freq)] if last >= start else []


def budget_tables(wh, as_of: datetime, *, plan: pd.DataFrame | str | Path | None = None,
                  settings: BudgetSettings = BudgetSettings(),
                  paths: pd.DataFrame | None = None
                  ) -> tuple[dict[str, pd.DataFrame], dict]:
    """Plan vs actual, response curves and reallocation from the warehouse, as published
    tables (`budget_plan_vs_actual`, `budget_curves`, `budget_reallocation`) and a summary.

    `plan`: a frame (channel, period, planned) or a plan file; without it the campaigns'
    budgets are the plan. `paths`: `journey_paths` at `as_of` with the settings' period and
    lookback, when the caller built it already (a run builds it once for ROI and budget)."""
    freq = settings.freq
    spend = fbudget.spend_by_period(wh.table("marketing_spend"), as_of, freq,
                                    settings.cost_types).to_pandas()
    summary: dict = {"period": PERIODS[freq]}
    tables: dict[str, pd.DataFrame] = {}
    if spend.empty:
        summary["note"] = "no marketing spend before as_of: nothing to compare or reallocate"
        return tables, summary
    spend["period"] = spend["period"].map(lambda t: period_label(t, freq))

    # -- plan vs actual
    if plan is None:
        campaigns = wh.table("campaigns").to_pandas()
        plan_frame = campaign_plan(campaigns, as_of, freq)
        keys = set(campaigns["name"].dropna()) | set(campaigns["campaign_id"].dropna())
        matched = spend[spend["campaign"].isin(keys)]
        summary["plan_source"] = "campaigns"
        if plan_frame.empty:
            summary["plan_note"] = ("no campaign has a budget and dates: there is no plan to "
                                    "compare with; pass a plan file (--plan)")
        elif matched.empty:
            matched = spend
            summary["plan_note"] = ("no spend row names a campaign; all spend of each channel is "
                                    "compared with its campaigns' budgets")
        actual = matched.groupby(["channel", "period"], as_index=False)["cost"].sum() \
            .rename(columns={"cost": "actual"})
        total = spend.groupby(["channel", "period"], as_index=False)["cost"].sum() \
            .rename(columns={"cost": "channel_spend"})
        actual = total.merge(actual, on=["channel", "period"], how="left").fillna({"actual": 0.0})
    else:
        raw = (_validate_plan(plan, "plan", None, freq) if isinstance(plan, pd.DataFrame)
               else read_plan(plan, freq))
        plan_frame = file_plan(raw, as_of, freq)
        summary["plan_source"] = "file" if not isinstance(plan, pd.DataFrame) else "frame"
        actual = spend.groupby(["channel", "period"], as_index=False)["cost"].sum() \
            .rename(columns={"cost": "actual"})
    pva = plan_vs_actual(plan_frame, actual, as_of, freq, settings.tolerance)
    if plan is None:
        # always-on spend with no campaign in the period is not plan execution
        pva = pva[(pva["planned"] > 0) | (pva["actual"] > 0)].reset_index(drop=True)
    tables["budget_plan_vs_actual"] = pva
    # the execution rate compares like with like: spend in the cells that had a plan due
    planned_cells = pva["planned_to_date"] > 0
    due = float(pva["planned_to_date"].sum())
    done = float(pva.loc[planned_cells, "actual"].sum())
    summary["planned_to_date"] = round(due, 2)
    summary["actual"] = round(done, 2)
    summary["execution_rate"] = round(done / due, 4) if due > 0 else None
    summary["unplanned_spend"] = round(float(pva.loc[~planned_cells, "actual"].sum()), 2)
    summary["periods_off_plan"] = int(pva["status"].isin(["over", "under"]).sum())

    # -- response curves on complete periods
    periods = complete_periods(spend["period"].min(), as_of, freq)
    channels = sorted(spend["channel"].unique())
    paths = (converting_paths(paths) if paths is not None
             else _period_paths(wh, as_of, freq, settings.lookback_days))
    revenue = attributed_by_period(paths, freq, settings.attribution_model)
    grid = pd.MultiIndex.from_product([channels, periods], names=["channel", "period"])
    per = spend.groupby(["channel", "period"])["cost"].sum().reindex(grid, fill_value=0.0) \
        .to_frame("spend")
    per["revenue"] = revenue.groupby(["channel", "period"])["revenue"].sum() \
        .reindex(grid, fill_value=0.0)
    per = per.reset_index()
    curves: dict[str, SaturatingResponse] = {}
    rows = []
    for ch, g in per.groupby("channel"):
        curve = SaturatingResponse(settings.min_points).fit(g["spend"], g["revenue"])
        curves[ch] = curve
        rows.append({"channel": ch, "a": curve.a_, "b": curve.b_, "method": curve.method_,
                     "points": curve.n_points_, "r2": curve.r2_, "linear": curve.linear_,
                     "mean_spend": float(g["spend"].mean()),
                     "mean_revenue": float(g["revenue"].mean())})
    tables["budget_curves"] = pd.DataFrame(rows)
    tables["budget_points"] = per

    # -- reallocation of the recent budget
    recent = periods[-settings.recent_periods:]
    current = per[per["period"].isin(recent)].groupby("channel")["spend"].mean()
    current = current[current > 0]
    try:
        mmm = mix_model(wh, as_of, settings)
    except BadMmmData as exc:
        mmm = None
        summary["mix_model_note"] = str(exc)
    if mmm is not None:
        tables["budget_mix_model"] = mmm.channels
        summary["mix_model"] = mmm.fit
        summary["outcome"] = settings.outcome
    # a period's budget runs over its weeks at a constant weekly spend
    weeks = float(np.mean([pd.Period(p, freq=freq).days_in_month if freq == "M" else
                           (pd.Period(p, freq=freq).end_time - pd.Period(p, freq=freq)
                            .start_time).days + 1 for p in recent])) / 7.0
    realloc = reallocate_mix(mmm, current.to_dict(), weeks, max_increase=settings.max_increase,
                             max_decrease=settings.max_decrease, limits=settings.channel_limits)
    tables["budget_reallocation"] = realloc
    summary["not_enough_signal"] = {r.channel: r.signal for r in realloc.itertuples()
                                    if r.signal != "credible"}
    now = float(realloc["expected_return_now"].sum(min_count=1))
    new = float(realloc["expected_return_suggested"].sum(min_count=1))
    known = np.isfinite(now) and np.isfinite(new)
    summary.update({
        "curve_periods": len(periods),
        "budget_per_period": round(float(realloc["current"].sum()), 2),
        "expected_return_now": round(now, 2) if known else None,
        "expected_return_suggested": round(new, 2) if known else None,
        "expected_uplift": round(new - now, 2) if known else None,
        "expected_uplift_pct": round((new - now) / now, 4) if known and now > 0 else None,
        "fallback_channels": sorted(ch for ch, c in curves.items()
                                    if c.method_ != "least_squares"),
        "linear_channels": sorted(ch for ch, c in curves.items() if c.linear_),
    })
    return tables, summary
