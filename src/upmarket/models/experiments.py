"""A/B tests of campaign arms against their control (DESIGN §4 Measurement: "A/B tests with
significance and uplift"; the key-account strategy course lists A/B testing among the marketing-automation tools).

Per arm versus control:

* **Conversion** — the two-proportion z-test with the pooled standard error (the test
  statsmodels' ``proportions_ztest`` and R's ``prop.test(correct=FALSE)`` run; z² equals the
  Pearson χ² of the 2×2 table). The confidence interval of the difference is the unpooled Wald
  interval (Newcombe 1998, "Interval estimation for the difference between independent
  proportions", Stat. Med. 17:873–890, method 1); the relative uplift p_t/p_c − 1 gets the
  log-ratio interval of Katz, Baptista, Azen & Pike (1978, Biometrics 34:469–474), which is
  symmetric on the log scale and therefore always contains the point estimate.
* **Revenue per user** — Welch's unequal-variance t-test (Welch 1947, Biometrika 34:28–35) with
  the Welch–Satterthwaite degrees of freedom, computed from each arm's n, sum and sum of squares
  so the warehouse only has to aggregate; optionally a seeded percentile bootstrap of the
  difference in means (Efron & Tibshirani 1993, ch. 13) when per-user revenues are given —
  revenue is heavily skewed (most users buy nothing), where the t interval can be optimistic.
* **Power and sample size** — the power the test had *as run* to detect the minimum detectable
  effect (MDE) one cares about, and the users needed per arm for that MDE at (alpha, power).
  Two normal-approximation methods: ``"pooled"`` (Fleiss, Levin & Paik 2003, *Statistical
  Methods for Rates and Proportions*, eq. 4.14 without continuity correction — R's
  ``power.prop.test``; it matches the pooled z-test run here) and ``"arcsine"`` (Cohen 1988,
  *Statistical Power Analysis*, §6 with effect size h = 2·asin√p_t − 2·asin√p_c — statsmodels'
  ``NormalIndPower`` with ``proportion_effectsize``, R's ``pwr.2p.test``). Power at the
  *observed* effect is deliberately not reported: it is a function of the p-value and adds no
  information (Hoenig & Heisey 2001, Am. Stat. 55:19–24).
* **Sample-ratio mismatch (SRM)** — Pearson's χ² goodness of fit of the users observed per arm
  against the split planned in the campaign's ``arms``; p < 0.001 flags a broken assignment
  whose results should not be trusted (Fabijan et al. 2019, "Diagnosing sample ratio mismatch
  in online controlled experiments", KDD; Kohavi, Tang & Xu 2020, *Trustworthy Online
  Controlled Experiments*, ch. 21).

* **Reading at any time** — live campaigns are re-read by every run, so by default the verdicts
  rest on always-valid p-values (mixture sequential test, `models.sequential`), adjusted over
  the comparisons read together (Benjamini–Hochberg by default); the fixed-horizon figures above stay in the
  results for reference.

Use the functions for one comparison, or :class:`ABTest` for a table of campaigns and arms
(``fit(arms, campaigns)`` returns self; results in ``results_`` and ``srm_``).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from upmarket.errors import UpmarketError
from upmarket.models.sequential import MULTIPLICITY, adjust, msprt

#: Columns :meth:`ABTest.fit` needs in the per-arm table (`features.experiments.experiment_arms`).
ARM_COLUMNS = ("campaign_id", "arm", "users", "converters", "revenue", "revenue_sq")
METHODS = ("pooled", "arcsine")
#: Verdict codes, most to least trustworthy; labels live in `upmarket.i18n` (`verdict.<code>`).
VERDICTS = ("uplift", "uplift_revenue_down", "drop", "no_difference", "inconclusive", "srm",
            "no_data")
SRM_THRESHOLD = 0.001


class BadExperiment(UpmarketError, ValueError):
    """Experiment input cannot be analysed: a column is missing, an arm plan is malformed, …"""


# ---------------------------------------------------------------------------------------------
# conversion


@dataclass(frozen=True)
class ProportionComparison:
    """Treatment versus control on a rate; `difference` = p_t − p_c."""

    control_rate: float
    treatment_rate: float
    difference: float
    difference_low: float
    difference_high: float
    relative_uplift: float
    uplift_low: float
    uplift_high: float
    z: float
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=32)
def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise BadExperiment("err.exp.alpha", value=alpha)
    return float(stats.norm.ppf(1 - alpha / 2))


def compare_proportions(x_control: int, n_control: int, x_treatment: int, n_treatment: int,
                        alpha: float = 0.05) -> ProportionComparison:
    """Two-proportion z-test (pooled SE), Wald interval of the difference (unpooled SE) and the
    Katz log interval of the relative uplift, all two-sided at level `alpha`.

    z = (p_t − p_c) / √(p̄(1−p̄)(1/n_c + 1/n_t)), p̄ = (x_c + x_t)/(n_c + n_t);
    CI(p_t − p_c) = (p_t − p_c) ± z_{1−α/2}·√(p_c(1−p_c)/n_c + p_t(1−p_t)/n_t);
    CI(p_t/p_c) = exp(log(p_t/p_c) ± z_{1−α/2}·√((1−p_c)/x_c + (1−p_t)/x_t)).

    Undefined quantities are NaN rather than errors: the test when nobody (or everybody)
    converted, the relative uplift when the control never converted, its interval when either
    arm has no conversion.
    """
    for name, x, n in (("control", x_control, n_control), ("treatment", x_treatment, n_treatment)):
        if n <= 0 or x < 0 or x > n:
            raise BadExperiment(f"{name} arm: need 0 ≤ conversions ≤ users and users > 0 "
                                f"(got {x} of {n})")
    z_crit = _z(alpha)
    pc, pt = x_control / n_control, x_treatment / n_treatment
    diff = pt - pc
    pooled = (x_control + x_treatment) / (n_control + n_treatment)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    z = diff / se0 if se0 > 0 else math.nan
    p = 2 * float(stats.norm.sf(abs(z))) if se0 > 0 else math.nan
    se = math.sqrt(pc * (1 - pc) / n_control + pt * (1 - pt) / n_treatment)
    uplift = pt / pc - 1 if pc > 0 else math.nan
    if x_control > 0 and x_treatment > 0:
        se_log = math.sqrt((1 - pc) / x_control + (1 - pt) / x_treatment)
        log_rr = math.log(pt / pc)
        lo, hi = math.expm1(log_rr - z_crit * se_log), math.expm1(log_rr + z_crit * se_log)
    else:
        lo = hi = math.nan
    return ProportionComparison(pc, pt, diff, diff - z_crit * se, diff + z_crit * se,
                                uplift, lo, hi, z, p)


# ---------------------------------------------------------------------------------------------
# revenue per user


@dataclass(frozen=True)
class MeanComparison:
    """Treatment versus control on a mean; `difference` = mean_t − mean_c. `boot_low`/`boot_high`
    are NaN unless a bootstrap was asked for."""

    control_mean: float
    treatment_mean: float
    difference: float
    difference_low: float
    difference_high: float
    t: float
    df: float
    p_value: float
    boot_low: float = math.nan
    boot_high: float = math.nan

    def to_dict(self) -> dict:
        return asdict(self)


def moments(n: float, total: float, total_sq: float) -> tuple[float, float]:
    """Mean and unbiased variance from n, Σx and Σx² (the aggregates a warehouse returns).

    The textbook shortcut (Σx² − n·x̄²)/(n−1) cancels catastrophically when the mean is large
    against the spread; revenue sums are in the millions at most and stored in float64, so the
    relative error stays near 1e-16·(x̄²/s²) — clipped at zero for the rounding case.
    """
    if n <= 0:
        return math.nan, math.nan
    mean = total / n
    var = max(total_sq - n * mean * mean, 0.0) / (n - 1) if n > 1 else math.nan
    return mean, var


def welch_from_stats(mean_c: float, var_c: float, n_c: float, mean_t: float, var_t: float,
                     n_t: float, alpha: float = 0.05) -> MeanComparison:
    """Welch's t-test and interval for mean_t − mean_c from each arm's mean, unbiased variance
    and size: t = Δ/√(s_c²/n_c + s_t²/n_t), df by Welch–Satterthwaite
    ν = (s_c²/n_c + s_t²/n_t)² / ((s_c²/n_c)²/(n_c−1) + (s_t²/n_t)²/(n_t−1))."""
    _z(alpha)
    diff = mean_t - mean_c
    if n_c < 2 or n_t < 2:
        return MeanComparison(mean_c, mean_t, diff, math.nan, math.nan, math.nan, math.nan,
                              math.nan)
    a, b = var_c / n_c, var_t / n_t
    se = math.sqrt(a + b)
    if se == 0:
        # both arms constant: no sampling variability, the difference is exact
        same = diff == 0
        return MeanComparison(mean_c, mean_t, diff, diff, diff, math.nan if same else math.inf,
                              math.nan, 1.0 if same else 0.0)
    df = (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))
    t = diff / se
    q = float(stats.t.ppf(1 - alpha / 2, df))
    return MeanComparison(mean_c, mean_t, diff, diff - q * se, diff + q * se, t, df,
                          2 * float(stats.t.sf(abs(t), df)))


def bootstrap_difference(control, treatment, *, alpha: float = 0.05, n_boot: int = 2000,
                         seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(treatment) − mean(control): each replicate
    resamples both arms with replacement at their own sizes. Seeded, so a run is reproducible.

    Memory is bounded by drawing the replicates in batches of at most ~4M indices.
    """
    _z(alpha)
    c = np.asarray(control, float)
    t = np.asarray(treatment, float)
    if len(c) == 0 or len(t) == 0 or n_boot < 1:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    diffs = np.empty(int(n_boot))
    batch = max(1, 4_000_000 // max(len(c), len(t)))
    for lo in range(0, int(n_boot), batch):
        k = min(batch, int(n_boot) - lo)
        mc = c[rng.integers(0, len(c), size=(k, len(c)))].mean(axis=1)
        mt = t[rng.integers(0, len(t), size=(k, len(t)))].mean(axis=1)
        diffs[lo:lo + k] = mt - mc
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------
# power and sample size


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise BadExperiment(f"power method must be one of {', '.join(METHODS)}, not {method!r}")


def power_two_proportions(p_control: float, p_treatment: float, n_control: float,
                          n_treatment: float, alpha: float = 0.05,
                          method: str = "pooled") -> float:
    """Power of the two-sided two-proportion test to detect p_treatment against p_control with
    these arm sizes.

    ``pooled`` (Fleiss et al. 2003 eq. 4.14; R ``power.prop.test`` for equal n): with
    p̄ = (n_c·p_c + n_t·p_t)/(n_c + n_t) and Δ = |p_t − p_c|,
    power = Φ((Δ − z_{1−α/2}·√(p̄(1−p̄)(1/n_c + 1/n_t))) / √(p_c(1−p_c)/n_c + p_t(1−p_t)/n_t)).

    ``arcsine`` (Cohen 1988 §6.2; statsmodels ``NormalIndPower``): with h the arcsine effect
    size and n' = 1/(1/n_c + 1/n_t), power = Φ(|h|√n' − z) + Φ(−|h|√n' − z), both tails.
    """
    _check_method(method)
    z = _z(alpha)
    if n_control <= 0 or n_treatment <= 0:
        return math.nan
    if method == "arcsine":
        h = 2 * math.asin(math.sqrt(p_treatment)) - 2 * math.asin(math.sqrt(p_control))
        root = abs(h) / math.sqrt(1 / n_control + 1 / n_treatment)
        return float(stats.norm.cdf(root - z) + stats.norm.cdf(-root - z))
    delta = abs(p_treatment - p_control)
    pbar = (n_control * p_control + n_treatment * p_treatment) / (n_control + n_treatment)
    null_se = math.sqrt(pbar * (1 - pbar) * (1 / n_control + 1 / n_treatment))
    alt_se = math.sqrt(p_control * (1 - p_control) / n_control
                       + p_treatment * (1 - p_treatment) / n_treatment)
    if alt_se == 0:
        return 1.0 if delta > 0 else math.nan
    return float(stats.norm.cdf((delta - z * null_se) / alt_se))


def target_rate(p_control: float, mde: float, relative: bool = True) -> float:
    """The treatment rate an MDE means: p_c·(1 + mde) when relative, p_c + mde otherwise."""
    return p_control * (1 + mde) if relative else p_control + mde


def sample_size_per_arm(p_control: float, mde: float, *, alpha: float = 0.05,
                        power: float = 0.8, relative: bool = True, ratio: float = 1.0,
                        method: str = "pooled") -> tuple[int, int]:
    """Users needed in (control, treatment) to detect the MDE with this power, treatment
    = `ratio` × control: the smallest whole n_c at which :func:`power_two_proportions` reaches
    `power`. Its closed forms, rounded up, give it (the arcsine form leaves out the far tail,
    as Cohen's tables do; that tail is 1e-6 at power 0.8 but 4e-5 at 0.5, so the arcsine n is
    then bisected down against the two-tailed power statsmodels solves for):

    pooled: n_c = (z_{1−α/2}·√(p̄q̄(1 + 1/k)) + z_{1−β}·√(p_c q_c + p_t q_t/k))² / Δ²,
    p̄ = (p_c + k·p_t)/(1 + k);  arcsine: n_c = (z_{1−α/2} + z_{1−β})²·(1 + 1/k) / h².

    Raises :class:`BadExperiment` when the MDE is zero or pushes the rate outside (0, 1).
    """
    _check_method(method)
    za = _z(alpha)
    if not 0 < power < 1:
        raise BadExperiment("err.exp.power", value=power)
    if ratio <= 0:
        raise BadExperiment(f"allocation ratio must be positive (got {ratio})")
    pt = target_rate(p_control, mde, relative)
    if not (0 < p_control < 1 and 0 < pt < 1) or pt == p_control:
        raise BadExperiment(
            f"a minimum detectable effect of {mde:g}{' (relative)' if relative else ''} on a "
            f"control rate of {p_control:.4g} gives a treatment rate of {pt:.4g}: both rates "
            f"must lie strictly between 0 and 1 and differ")
    zb = float(stats.norm.ppf(power))
    k = float(ratio)
    if method == "arcsine":
        h = 2 * math.asin(math.sqrt(pt)) - 2 * math.asin(math.sqrt(p_control))
        n_c = (za + zb) ** 2 * (1 + 1 / k) / h ** 2
    else:
        pbar = (p_control + k * pt) / (1 + k)
        num = (za * math.sqrt(pbar * (1 - pbar) * (1 + 1 / k))
               + zb * math.sqrt(p_control * (1 - p_control) + pt * (1 - pt) / k))
        n_c = num ** 2 / (pt - p_control) ** 2
    # 1e-9 guards against a float just above an integer turning 392.0000000001 into 393
    n = max(math.ceil(n_c - 1e-9), 1)
    if method == "arcsine":
        # the far tail only adds power: bisect [1, n] for the smallest n that reaches it
        lo = 1
        while lo < n:
            mid = (lo + n) // 2
            if power_two_proportions(p_control, pt, mid, k * mid, alpha, method) >= power:
                n = mid
            else:
                lo = mid + 1
    return n, math.ceil(k * n - 1e-9)


# ---------------------------------------------------------------------------------------------
# sample-ratio mismatch


@dataclass(frozen=True)
class SampleRatioCheck:
    observed: dict[str, int]
    planned: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool

    def to_dict(self) -> dict:
        return asdict(self)


def sample_ratio_check(observed: Mapping[str, int], planned: Mapping[str, float] | None = None,
                       threshold: float = SRM_THRESHOLD) -> SampleRatioCheck:
    """χ² goodness of fit of users per arm against the planned split (shares, normalised to sum
    to one; equal shares when no plan is given). Arms planned but never seen count as 0 users;
    arms seen but not planned make the check fail outright (p = 0), since no plan sent users
    there. `mismatch` is p < threshold (0.001 by default, Fabijan et al. 2019)."""
    obs = {str(k): int(v) for k, v in observed.items()}
    plan = {str(k): float(v) for k, v in (planned or {a: 1.0 for a in obs}).items()}
    if any(v < 0 for v in plan.values()) or sum(plan.values()) <= 0:
        raise BadExperiment(f"planned split {plan} must have non-negative shares summing to > 0")
    total_plan = sum(plan.values())
    plan = {k: v / total_plan for k, v in plan.items()}
    arms = list(plan) + [a for a in obs if a not in plan]
    counts = np.array([obs.get(a, 0) for a in arms], float)
    n = counts.sum()
    if n == 0 or len(arms) < 2:
        return SampleRatioCheck(obs, plan, math.nan, math.nan, False)
    shares = np.array([plan.get(a, 0.0) for a in arms])
    if np.any((shares == 0) & (counts > 0)):
        return SampleRatioCheck(obs, plan, math.inf, 0.0, True)
    keep = shares > 0
    expected = shares[keep] * n
    chi2 = float(((counts[keep] - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(chi2, int(keep.sum()) - 1))
    return SampleRatioCheck(obs, plan, chi2, p, p < threshold)


def parse_arms(text: str | None, where: str = "campaigns.arms") -> dict[str, float]:
    """A campaign's planned split from its `arms` JSON: an object {"A": 0.5, "B": 0.5} or a
    list of names (equal split). Empty → {} (no plan). The first arm is the control unless an
    arm is named "control"."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or not str(text).strip():
        return {}
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError) as exc:
        raise BadExperiment("err.exp.arms_json", where=where, value=text, reason=exc) from None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {v: 1.0 / len(value) for v in value}
    if isinstance(value, dict) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
            for v in value.values()):
        return {str(k): float(v) for k, v in value.items()}
    raise BadExperiment("err.exp.arms_shape", where=where, value=text)


def control_arm(plan: Mapping[str, float], seen) -> str | None:
    """The control: an arm named control/ctrl/baseline (any case), else the plan's first arm,
    else the first seen arm in sort order."""
    names = list(plan) + sorted(a for a in seen if a not in plan)
    for a in names:
        if a.strip().lower() in ("control", "ctrl", "baseline"):
            return a
    return names[0] if names else None


# ---------------------------------------------------------------------------------------------
# the estimator


class ABTest:
    """Every campaign's non-control arms against its control.

    `fit(arms, campaigns=None, users=None)`:

    * `arms` — one row per campaign and arm with ``campaign_id, arm, users, converters,
      revenue, revenue_sq`` (Σ revenue and Σ revenue² over the arm's users), as
      :func:`upmarket.features.experiments.experiment_arms` computes;
    * `campaigns` — optional ``campaign_id, arms`` (JSON plan) and ``name``; without a plan the
      arms are expected to be equal;
    * `users` — optional per-user ``campaign_id, arm, revenue``, only needed for the bootstrap.

    Results: `results_` (one row per campaign × non-control arm: rates, difference and uplift
    with intervals, p-values, revenue per user with Welch and bootstrap intervals, power as run,
    users needed per arm, SRM flag and the verdict code) and `srm_` (one row per campaign).
    """

    def __init__(self, alpha: float = 0.05, power: float = 0.8, mde: float = 0.10,
                 relative_mde: bool = True, method: str = "pooled",
                 srm_threshold: float = SRM_THRESHOLD, bootstrap: int = 0, seed: int = 0,
                 control: str | None = None, sequential: bool = True,
                 multiplicity: str = "bh"):
        self.alpha = alpha
        self.power = power
        self.mde = mde
        self.relative_mde = relative_mde
        self.method = method
        self.srm_threshold = srm_threshold
        self.bootstrap = bootstrap
        self.seed = seed
        self.control = control
        self.sequential = sequential
        self.multiplicity = multiplicity

    def fit(self, arms: pd.DataFrame, campaigns: pd.DataFrame | None = None,
            users: pd.DataFrame | None = None) -> ABTest:
        _z(self.alpha)
        _check_method(self.method)
        if self.multiplicity not in MULTIPLICITY:
            raise BadExperiment("err.option_choice", option="--multiplicity",
                                choices=", ".join(MULTIPLICITY), value=self.multiplicity)
        if not 0 < self.power < 1:
            raise BadExperiment("err.exp.power", value=self.power)
        if not np.isfinite(self.mde) or self.mde == 0:
            raise BadExperiment("err.exp.mde", value=self.mde)
        missing = [c for c in ARM_COLUMNS if c not in arms.columns]
        if missing:
            raise BadExperiment(f"the per-arm table lacks column(s) {', '.join(missing)}; "
                                f"it needs {', '.join(ARM_COLUMNS)}")
        if self.bootstrap and users is None:
            raise BadExperiment("a bootstrap needs per-user revenues: pass users= "
                                "(features.experiments.experiment_users)")
        plans: dict[str, dict[str, float]] = {}
        names: dict[str, str] = {}
        if campaigns is not None and len(campaigns):
            for row in campaigns.itertuples(index=False):
                cid = str(row.campaign_id)
                plans[cid] = parse_arms(getattr(row, "arms", None),
                                        f"campaign {cid}: arms")
                names[cid] = getattr(row, "name", None) or cid
        per_user = None
        if users is not None and self.bootstrap:
            # sorted, so a seed gives the same resamples whatever order the warehouse returned
            # the users in (a query without ORDER BY has none)
            per_user = {k: np.sort(g["revenue"].to_numpy(float))
                        for k, g in users.groupby(["campaign_id", "arm"], sort=False)}
        rows, srm_rows = [], []
        for cid, g in arms.groupby("campaign_id", sort=True):
            cid = str(cid)
            g = g.set_index(g["arm"].astype(str))
            plan = plans.get(cid, {})
            control = self.control if self.control is not None else control_arm(plan, g.index)
            srm = sample_ratio_check(g["users"].astype(int).to_dict(), plan or None,
                                     self.srm_threshold)
            srm_rows.append({"campaign_id": cid, "campaign": names.get(cid, cid),
                             "users": int(g["users"].sum()), "chi2": srm.chi2,
                             "p_value": srm.p_value, "srm": srm.mismatch,
                             "observed": json.dumps(srm.observed),
                             "planned": json.dumps(srm.planned)})
            ratio_plan = plan if plan else {a: 1.0 for a in g.index}
            # planned arms nobody was seen in still get a row (no data), so every campaign
            # is accounted for even when only its control was observed
            for arm in list(g.index) + sorted(set(plan) - set(g.index)):
                if arm == control:
                    continue
                rows.append(self._compare(cid, names.get(cid, cid), g, control, arm, srm,
                                          ratio_plan, per_user))
        res = pd.DataFrame(rows, columns=RESULT_COLUMNS)
        self.results_ = self._judge(res)
        self.srm_ = pd.DataFrame(srm_rows, columns=["campaign_id", "campaign", "users", "chi2",
                                                    "p_value", "srm", "observed", "planned"])
        return self

    def _compare(self, cid, name, g, control, arm, srm, plan, per_user) -> dict:
        out = {"campaign_id": cid, "campaign": name, "control": control, "arm": arm,
               "srm": bool(srm.mismatch), "srm_p_value": srm.p_value}
        t = g.loc[arm] if arm in g.index else None
        c = g.loc[control] if control in g.index else None
        n_t = int(t["users"]) if t is not None else 0
        n_c = int(c["users"]) if c is not None else 0
        out.update(users_control=n_c, users_arm=n_t)
        if n_c == 0 or n_t == 0:
            return {**out, "verdict": "no_data"}
        x_c, x_t = int(c["converters"]), int(t["converters"])
        conv = compare_proportions(x_c, n_c, x_t, n_t, self.alpha)
        out.update(converters_control=x_c, converters_arm=x_t,
                   rate_control=conv.control_rate, rate_arm=conv.treatment_rate,
                   difference=conv.difference, difference_low=conv.difference_low,
                   difference_high=conv.difference_high, uplift=conv.relative_uplift,
                   uplift_low=conv.uplift_low, uplift_high=conv.uplift_high, z=conv.z,
                   p_value=conv.p_value)
        mean_c, var_c = moments(n_c, float(c["revenue"]), float(c["revenue_sq"]))
        mean_t, var_t = moments(n_t, float(t["revenue"]), float(t["revenue_sq"]))
        rev = welch_from_stats(mean_c, var_c, n_c, mean_t, var_t, n_t, self.alpha)
        boot = (math.nan, math.nan)
        if per_user is not None:
            boot = bootstrap_difference(per_user.get((cid, control), []),
                                        per_user.get((cid, arm), []), alpha=self.alpha,
                                        n_boot=self.bootstrap, seed=self.seed)
        out.update(revenue_per_user_control=mean_c, revenue_per_user_arm=mean_t,
                   revenue_difference=rev.difference, revenue_low=rev.difference_low,
                   revenue_high=rev.difference_high, revenue_p_value=rev.p_value,
                   revenue_boot_low=boot[0], revenue_boot_high=boot[1])
        # always-valid versions, tuned to the effect the user said matters (--mde)
        target = target_rate(conv.control_rate, self.mde, self.relative_mde)
        var_conv = (conv.control_rate * (1 - conv.control_rate) / n_c
                    + conv.treatment_rate * (1 - conv.treatment_rate) / n_t)
        tau_conv = abs(target - conv.control_rate) or math.nan
        seq_p, seq_lo, seq_hi = msprt(conv.difference, var_conv, tau_conv, self.alpha)
        var_rev = var_c / n_c + var_t / n_t if n_c > 1 and n_t > 1 else math.nan
        tau_rev = abs(self.mde * mean_c) if self.relative_mde else abs(self.mde)
        rev_p, rev_lo, rev_hi = msprt(rev.difference, var_rev, tau_rev or math.nan, self.alpha)
        out.update(p_value_sequential=seq_p, difference_low_sequential=seq_lo,
                   difference_high_sequential=seq_hi, revenue_p_value_sequential=rev_p,
                   revenue_low_sequential=rev_lo, revenue_high_sequential=rev_hi)
        # power and needed size for the MDE on this campaign's own control rate
        ratio = plan.get(arm, 1.0) / plan.get(control, 1.0) if plan.get(control) else 1.0
        target = target_rate(conv.control_rate, self.mde, self.relative_mde)
        if 0 < conv.control_rate < 1 and 0 < target < 1:
            power = power_two_proportions(conv.control_rate, target, n_c, n_t, self.alpha,
                                          self.method)
            need_c, need_t = sample_size_per_arm(
                conv.control_rate, self.mde, alpha=self.alpha, power=self.power,
                relative=self.relative_mde, ratio=ratio, method=self.method)
        else:
            power, need_c, need_t = math.nan, math.nan, math.nan
        out.update(power=power, needed_control=need_c, needed_arm=need_t)
        return out

    def _judge(self, res: pd.DataFrame) -> pd.DataFrame:
        """Adjust the p-values for the family of comparisons read together, then give each its
        verdict on the adjusted p-value (always-valid unless `sequential=False`). A conversion
        uplift whose revenue per user is significantly down is not a win and says so."""
        res = res.copy()
        res["verdict"] = res["verdict"].astype(object)
        conv = "p_value_sequential" if self.sequential else "p_value"
        rev = "revenue_p_value_sequential" if self.sequential else "revenue_p_value"
        judged = res["verdict"].isna()
        res["p_value_adjusted"] = np.nan
        res["revenue_p_value_adjusted"] = np.nan
        if judged.any():
            res.loc[judged, "p_value_adjusted"] = adjust(
                res.loc[judged, conv].astype(float), self.multiplicity)
            res.loc[judged, "revenue_p_value_adjusted"] = adjust(
                res.loc[judged, rev].astype(float), self.multiplicity)
        res["significant"] = res["p_value_adjusted"].astype(float) < self.alpha
        for i in res.index[judged]:
            res.at[i, "verdict"] = self._verdict(res.loc[i])
        return res

    def _verdict(self, r) -> str:
        if r["srm"]:
            return "srm"
        if r["significant"]:
            if r["difference"] < 0:
                return "drop"
            revenue_down = (r["revenue_p_value_adjusted"] < self.alpha
                            and r["revenue_difference"] < 0)
            return "uplift_revenue_down" if revenue_down else "uplift"
        if np.isfinite(r["power"]) and r["power"] >= self.power:
            return "no_difference"
        return "inconclusive"


RESULT_COLUMNS = [
    "campaign_id", "campaign", "control", "arm", "users_control", "users_arm",
    "converters_control", "converters_arm", "rate_control", "rate_arm", "difference",
    "difference_low", "difference_high", "uplift", "uplift_low", "uplift_high", "z", "p_value",
    "revenue_per_user_control", "revenue_per_user_arm", "revenue_difference", "revenue_low",
    "revenue_high", "revenue_p_value", "revenue_boot_low", "revenue_boot_high", "power",
    "needed_control", "needed_arm", "srm", "srm_p_value", "p_value_sequential",
    "difference_low_sequential", "difference_high_sequential", "revenue_p_value_sequential",
    "revenue_low_sequential", "revenue_high_sequential", "verdict",
]
