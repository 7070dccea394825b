"""Learning from the control groups: the next best action's response probabilities and the
value of a conversion start from `NbaSettings` (and the models behind them) and move toward
what the held-out comparisons measured (`strategy.action_impact`), by normal–normal shrinkage.

For an action type a, the prior is what the next best action assumed for the customers it was
decided for under its defaults: incremental conversion p₀ = their mean response probability,
margin per contact m₀ = their mean probability × margin if converted. Its strength is stated as
`prior_strength` pseudo-customers: the prior variance is p₀(1 − p₀)/n₀ for conversion and the
same relative spread, (m₀·τ/p₀)², for margin. The measurement is the effect on the treated over
all tiers (difference d, standard error s), adjusted by the customers' pre-decision behaviour
(CUPED, `strategy.action_impact`), so the narrower s lets the same held-out customers move the
default further. The posterior mean is the precision-weighted

    p̂ = (p₀/τ² + d/s²) / (1/τ² + 1/s²),  sd = (1/τ² + 1/s²)^(−1/2)

(the conjugate normal update, Gelman et al., *Bayesian Data Analysis*, 3rd ed., §2.5), so a
few held-out customers barely move the default and many override it. The next best action then
multiplies the action's probabilities by ``p̂/p₀`` (`response_scale`) and its margin per
conversion by ``(m̂/p̂)/(m₀/p₀)`` (`value_scale`): its expected value per contact becomes the
measured one.

**When an action is switched off** (`FeedbackSettings.rule`, default ``futility``). Each
cycle the actions read together are tested as one family, and an action is kept on, and
measured, unless its control group shows it should not be:

1. *Always-valid test of no effect.* For each measured action, the mixture sequential
   probability ratio test of "no effect" on its adjusted conversion difference d with variance
   s² (Johari, Koomen, Pekelis & Walsh 2017, "Peeking at A/B tests", KDD, §4, the normal
   mixture likelihood ratio Λ = √(s²/(s² + τ²)) · exp(τ² d² / (2 s² (s² + τ²))), averaged over
   scales as `models.sequential.msprt` does), with τ the effect the defaults assume (p₀). Its
   p-value min(1, 1/Λ) stays valid however often the loop looks (Ville's inequality), so
   reading the same control groups every cycle does not inflate the error.
2. *Always-valid test of worth (futility).* The smallest worthwhile effect δ of an action is
   the incremental conversion at which its value covers its cost, from what the next best
   action priced when it chose it: each contact costs c (the tier's contact cost), and the
   offer o it carries is paid by every customer who converts, including those who would have
   bought anyway (the held-out group's conversion q), while each extra conversion earns the
   margin net of the offer g, so the action pays when δ·ḡ ≥ c̄ + q·ō, i.e.
   δ = (c̄ + q·ō) / ḡ over its treated decisions. The hypothesis "θ ≥ δ" is one-sided, and
   so is its test: the one-sided normal mixture centred at δ (Howard, Ramdas, McAuliffe &
   Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann. Stat.
   49:1055–1080; `models.sequential.msprt_upper`), which mixes only the alternatives below δ,
   so only an estimate below δ counts against it and none of the evidence is spent on the
   side that cannot make an action futile. Rejecting it is the same as the one-sided
   always-valid upper bound of θ (`futility_bound`) lying below δ: the non-binding futility
   boundary of group-sequential designs, built on a confidence sequence, so it stays valid at
   every look. At the same level it lies about 0.3 standard errors nearer the estimate than
   the upper end of the two-sided interval (3.0 against 3.3 at α = 0.05).
3. *Multiplicity.* The tests of no effect: Holm's step-down over the actions read in the
   cycle (Holm 1979, Scand. J. Stat. 6:65–70): the chance that any action is wrongly shown to
   help or harm is at most `alpha` per cycle, whatever the dependence between them. The
   tests of worth (`futility_error`): by default each at `alpha` (``per_action``), so for
   every action whose effect is worth its cost the chance that it is *ever* switched off as
   futile is at most `alpha`, at every look (Ville's inequality), whatever the other actions
   do; the expected number of such actions switched off is at most `alpha` times their
   number. That is the error that costs: each switch-off is a decision about one action, and
   what a wrong one loses is that action's margin; no decision rests on the joint claim "all
   of these are futile" that a family-wise rate protects. Holm's correction over eight
   actions would ask each bound to hold at α/8, some 0.7 standard errors wider (3.7 against
   3.0), so a control group about a third larger before an action doing nothing is switched
   off. ``family`` keeps Holm for the tests of worth too: at most `alpha` that any action
   worth its cost is switched off in a cycle.
4. *Decision.* Shown to harm (adjusted p < `alpha`, d < 0): off. Futile (adjusted p of worth
   < `alpha`): off. Shown to help: kept. Otherwise the action stays on and goes on being
   measured with its posterior scales: while fewer than `min_held_out` customers were held
   out of it, it is *exploring* and its new customers are held out at the share that brings
   its control group to `min_held_out`, up to `explore_share`
   (`activation.holdout.hold_out_exploring`, used by the run and by the simulated cycles of
   `demo.action_loop`); after that it is *measuring*.
5. *Measure until decided.* A measuring action goes on holding out a larger share of its
   new customers, up to `measure_share`, until its control group reaches `target_held_out`:
   the held-out count at which an action that does nothing would be shown futile with
   probability `measure_power` (90 %), i.e. its one-sided always-valid upper bound, at the
   level of its futility test (`alpha`, or α over the actions read with ``family``) and the
   per-customer spread measured so far, falls below δ for every estimate up to z₁₋β standard
   errors above 0 (the usual sample-size reasoning, z_α + z_β, with the always-valid width in
   place of z_α). The new customers that fill the control group at `measure_share` fill the
   treated group too, at 1 − `measure_share`, so the target counts both: it is always finite
   (`target_held_out`). Once it is reached, or once the action is decided (shown to help: the
   policy's share; futile or harmful: switched off), its new customers get the policy's share
   again.
   Customers keep the group of their first decision, and a tier whose share is 0 stays fully
   served (`activation.holdout.hold_out_exploring`). This is response-adaptive allocation in
   the "measure until decided" sense: the extra control customers go only to the arms whose
   decision is still open, as top-two sampling spends its draws on the arms still in
   contention (Russo 2020, "Simple Bayesian algorithms for best-arm identification", Oper.
   Res. 68:1625–1647), but with a target fixed by the futility boundary rather than by a
   posterior, so the always-valid tests stay valid: who is held out depends only on what was
   measured before, and confidence sequences hold under such predictable allocation (Howard
   et al. 2021). The price is paid by the held-out customers of an undecided action that
   helps: up to `measure_share` of its new customers, until it is shown to help or its
   target is met.

**The mixture's scale.** Johari et al. (2017 §4.3) tune τ² near the effect of interest. For
the test of no effect that is the effect the defaults assume (τ = p₀). For the test of worth it
is the distance from the break-even δ to an action that does nothing, δ itself, so its
mixture's smallest scale is τ = δ (`futility_scale`; p₀ where nothing is priced), averaged as
everywhere over τ × 1 … 32 (`models.sequential.SCALES`) so that a harmful action, many δ
below, is found as fast. When an action doing nothing is about to be switched off its
standard error is near δ/4, where that mixture's bound is within 0.4 standard errors of the
best any single scale gives; a single scale at δ would gain no more than that and lose far
more on the harmful action (about three times as wide when τ is a quarter of the standard
error).

So a helpful action is not switched off at the first look for want of proof: it is switched
off only once its upper bound shows it cannot pay. The price is time: an action that does
nothing is switched off only once its control group is large enough for the bound to fall
below δ, and until then it weighs in the next best action only as much as its posterior
effect says (a posterior of zero or less makes its response scale 0).

Two earlier rules are kept for comparison: ``sequential`` (steps
1 and 3, and, once `min_held_out` were held out, off whenever the posterior probability of a
positive effect Φ(p̂/sd) is below `min_confidence`, which switches small true effects off at
the first look) and ``posterior`` (that last rule alone, at the default share from the first
decision).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from upmarket.models.sequential import adjust, msprt, msprt_upper
from upmarket.strategy.action_impact import ALL
from upmarket.strategy.nba import ACTIONS, NbaSettings

COLUMNS = ["action", "prior_conversion", "measured_conversion", "measured_se",
           "posterior_conversion", "posterior_sd", "p_positive", "prior_margin",
           "measured_margin", "posterior_margin", "response_scale", "value_scale",
           "n_held_out", "p_value", "p_adjusted", "interval_low", "interval_high",
           "worthwhile", "futility_p", "futility_adjusted", "futility_bound", "holdout_share",
           "target_held_out", "status"]
#: the switch-off rules `FeedbackSettings.rule` can name (see the module docstring)
RULES = ("futility", "sequential", "posterior")
#: what the futility tests' `alpha` bounds (`FeedbackSettings.futility_error`, module docstring)
FUTILITY_ERRORS = ("per_action", "family")
#: statuses under which the next best action no longer weighs the action
OFF = ("switched_off", "shown_to_harm", "futile")


@dataclass(frozen=True)
class FeedbackSettings:
    #: how many customers' worth of evidence the defaults count as
    prior_strength: float = 20.0
    #: rules ``sequential`` and ``posterior``: below this posterior probability of a positive
    #: effect the action is switched off (0.95: kept only while its posterior 90 % interval
    #: lies above zero) …
    min_confidence: float = 0.95
    #: … once at least this many customers were held out of it; every rule explores an action
    #: (larger control groups, defaults moved by what little was measured) until then
    min_held_out: int = 100
    #: bounds on how far one update may scale a conversion's value
    max_value_scale: float = 5.0
    #: "futility" (always-valid tests of no effect and of worth, Holm), "sequential" or
    #: "posterior" (see the module docstring)
    rule: str = "futility"
    #: the family-wise error of the always-valid tests over the actions read in one cycle
    alpha: float = 0.05
    #: the control-group share of an action still being explored (fewer than `min_held_out`
    #: held out, nothing shown yet); 0: every action keeps the default share
    explore_share: float = 0.5
    #: rule ``futility``: the largest control-group share of the new customers of an action
    #: still measuring, until `target_held_out` are held out (module docstring, step 5); 0:
    #: the policy's share once an action is explored
    measure_share: float = 0.5
    #: … and the chance with which an action doing nothing is then shown futile
    measure_power: float = 0.9
    #: rule ``futility``: "per_action", the chance that an action worth its cost is ever
    #: switched off as futile is at most `alpha` for each action; "family", Holm over the
    #: actions read, at most `alpha` that any of them is (module docstring, step 3)
    futility_error: str = "per_action"

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"feedback rule must be one of {', '.join(RULES)}, not {self.rule!r}")
        if self.futility_error not in FUTILITY_ERRORS:
            raise ValueError(f"feedback futility_error must be one of "
                             f"{', '.join(FUTILITY_ERRORS)}, not {self.futility_error!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"feedback alpha must be between 0 and 1 (got {self.alpha})")
        if not 0 < self.measure_power < 1:
            raise ValueError(f"feedback measure_power must be between 0 and 1 "
                             f"(got {self.measure_power})")
        for name in ("explore_share", "measure_share"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"feedback {name} must be at least 0 and below 1 "
                                 f"(got {getattr(self, name)})")


def _update(prior: float, tau: float, d: float, s: float) -> tuple[float, float]:
    if not (np.isfinite(d) and np.isfinite(s) and s > 0):
        return prior, tau
    precision = 1 / tau ** 2 + 1 / s ** 2
    return (prior / tau ** 2 + d / s ** 2) / precision, float(np.sqrt(1 / precision))


def _mean(frame: pd.DataFrame, col: str) -> float:
    """Mean of a cost column over the decisions; decisions recorded before the column existed
    count as costing nothing (which can only make the action look worth more)."""
    if col not in frame or not len(frame):
        return 0.0
    v = frame[col].to_numpy(float)
    return float(np.where(np.isfinite(v), v, 0.0).mean())


def worthwhile(mine: pd.DataFrame, held_out_conversion: float) -> float:
    """The smallest worthwhile incremental conversion of an action: δ = (c̄ + q·ō) / ḡ over
    its treated decisions `mine` (contact_cost c, offer_cost o, conversion_gain g, the margin
    of a conversion net of the offer) with q the conversion of its held-out customers, who
    would buy without it and still use the offer if treated (see the module docstring). 0
    when the action's margin is unknown or not positive (nothing to compare against)."""
    g = mine["conversion_gain"].to_numpy(float)
    g = float(g[np.isfinite(g)].mean()) if np.isfinite(g).any() else np.nan
    if not np.isfinite(g) or g <= 0:
        return 0.0
    q = held_out_conversion if np.isfinite(held_out_conversion) else 0.0
    return max(_mean(mine, "contact_cost") + q * _mean(mine, "offer_cost"), 0.0) / g


def _futility(d: float, s: float, delta: float, tau: float, alpha: float
              ) -> tuple[float, float]:
    """(always-valid p-value of "the effect is at least δ", always-valid upper bound at
    `alpha`): the one-sided mixture (`models.sequential.msprt_upper`), so only an estimate
    below δ counts against it."""
    if not (np.isfinite(d) and np.isfinite(s) and s > 0):
        return np.nan, np.nan
    return msprt_upper(d, s ** 2, tau, alpha, null=delta)


def futility_scale(delta: float, p0: float) -> float:
    """The smallest scale of the futility test's mixture: the break-even δ, the distance from
    it of an action that does nothing (Johari et al. 2017 §4.3: most power near the effect of
    interest), or the assumed effect `p0` when nothing is priced (δ = 0)."""
    return float(delta) if np.isfinite(delta) and delta > 0 else float(p0)


def target_held_out(s: float, n_held_out: float, n_treated: float, delta: float, tau: float,
                    alpha: float, power: float = 0.9, share: float = 0.5) -> float:
    """Held-out customers at which an action with no effect is shown futile (at level
    `alpha`) with probability `power`: its one-sided always-valid upper bound from an
    estimate z_power standard errors above 0 reaches its smallest worthwhile effect `delta`.
    The per-customer variance σ² is read off the present standard error `s` of `n_held_out`
    against `n_treated` customers; the bound's width at a standard error s* is the mixture's
    (`models.sequential.msprt_upper`, scale `tau`), solved for z·s* + width = δ by
    fixed-point steps on its ratio to s*. New customers come in at the control-group `share`
    (the measuring share), so N of them add share·N held out *and* (1 − share)·N treated, and
    the target is n₀ + share·N for the smallest N with

        σ² (1 / (n₀ + share·N) + 1 / (n₁ + (1 − share)·N)) ≤ s*²,

    a quadratic in N, always finite since both groups grow. With `share` 0 (no measuring
    share) only the control group is taken to grow, against the treated side as it is, and
    the target is infinite when the treated side alone is too noisy. NaN when nothing is
    measured or δ is not positive."""
    if not (np.isfinite(s) and s > 0 and n_held_out > 0 and np.isfinite(delta) and delta > 0):
        return np.nan
    inv_t = 1 / n_treated if np.isfinite(n_treated) and n_treated > 0 else 0.0
    var = s ** 2 / (1 / n_held_out + inv_t)
    z, goal = float(stats.norm.ppf(power)), s
    # the width's ratio to s* hardly moves with s*: three steps settle it to 0.1 %
    for _ in range(3):
        goal = delta * goal / (z * goal + msprt_upper(0.0, goal ** 2, tau, alpha)[1])
    g = goal ** 2 / var
    if not 0 < share < 1 or inv_t == 0:
        # the control group alone grows (or the treated side is unknown, as if unlimited)
        room = g - inv_t
        return float(np.ceil(1 / room)) if room > 0 else np.inf
    a0, b0 = float(n_held_out), float(n_treated)
    # g·x·y − x − y ≥ 0 with x = a0 + share·N, y = b0 + (1 − share)·N
    qa = g * share * (1 - share)
    qb = g * (a0 * (1 - share) + b0 * share) - 1
    qc = g * a0 * b0 - a0 - b0
    if qc >= 0:
        return float(np.ceil(a0))
    n = (-qb + np.sqrt(qb * qb - 4 * qa * qc)) / (2 * qa)
    return float(np.ceil(a0 + share * n))


def learn(effects: pd.DataFrame, decisions: pd.DataFrame, settings: NbaSettings = NbaSettings(),
          feedback: FeedbackSettings = FeedbackSettings()) -> tuple[NbaSettings, pd.DataFrame]:
    """`settings` with response and value scales learned from `effects`
    (`action_impact.effects`) against the priors of the treated `decisions` (action,
    held_out, probability, conversion_gain; contact_cost and offer_cost for the smallest
    worthwhile effect), and one row per action type saying which values were used and why
    (`status`: prior, exploring, measuring, shown_to_help, updated, switched_off, futile,
    shown_to_harm; `worthwhile`: δ, the effect at which it pays; `futility_bound`: the
    one-sided always-valid upper bound compared with it) and the control-group share
    its next decisions should get (`holdout_share`: `explore_share` while it is explored,
    `measure_share` while it is measuring short of `target_held_out`, NaN for the
    default)."""
    rows, response, value = [], {}, {}
    eff = effects[effects["tier"] == ALL].set_index("action") if len(effects) else pd.DataFrame()
    treated = decisions[~decisions["held_out"].astype(bool)] if len(decisions) else decisions
    for action in ACTIONS[:-1]:
        mine = treated[treated["action"] == action] if len(treated) else treated
        p = mine["probability"].to_numpy(float) if len(mine) else np.array([])
        g = mine["conversion_gain"].to_numpy(float) if len(mine) else np.array([])
        ok = np.isfinite(p) & np.isfinite(g)
        if not ok.any():
            continue
        p0 = float(np.clip(p[ok].mean(), 1e-4, 1 - 1e-4))
        m0 = float((p[ok] * g[ok]).mean())
        tau = float(np.sqrt(p0 * (1 - p0) / feedback.prior_strength))
        row = eff.loc[action] if action in eff.index else None
        d = float(row["conversion_difference"]) if row is not None else np.nan
        s = float(row["conversion_se"]) if row is not None else np.nan
        dm = float(row["margin_difference"]) if row is not None else np.nan
        sm = float(row["margin_se"]) if row is not None else np.nan
        q = float(row["conversion_held_out"]) if row is not None \
            and "conversion_held_out" in row else np.nan
        p_hat, sd = _update(p0, tau, d, s)
        m_hat, _ = _update(m0, abs(m0) * tau / p0 if m0 else 1.0, dm, sm)
        measured = bool(np.isfinite(d) and np.isfinite(s) and s > 0)
        # the always-valid test of "no effect", its mixture tuned to the effect the defaults
        # assume (Johari et al. 2017 §4.3: most power near τ)
        pv, lo, hi = msprt(d, s ** 2, p0, feedback.alpha) if measured else (np.nan,) * 3
        delta = worthwhile(mine[ok], q)
        fp, fb = _futility(d, s, delta, futility_scale(delta, p0), feedback.alpha)
        rows.append({"action": action, "prior_conversion": p0, "measured_conversion": d,
                     "measured_se": s, "posterior_conversion": p_hat, "posterior_sd": sd,
                     "p_positive": float(stats.norm.cdf(p_hat / sd)), "prior_margin": m0,
                     "measured_margin": dm, "posterior_margin": m_hat,
                     "n_held_out": int(row["n_held_out"]) if row is not None else 0,
                     "n_treated": float(row["n_treated"]) if row is not None
                     and "n_treated" in row else np.nan,
                     "p_value": pv, "interval_low": lo, "interval_high": hi,
                     "worthwhile": delta, "futility_p": fp, "futility_bound": fb,
                     "measured": measured})
    out = pd.DataFrame(rows)
    family = max(int(np.isfinite(out["futility_p"]).sum()), 1) if len(out) else 1
    if len(out):
        # the actions read together are one family: Holm keeps the chance of any wrong
        # "shown" at `alpha` whatever their dependence (Holm 1979); a wrong "futile" is
        # bounded per action, or over the family too (`futility_error`, module docstring)
        out["p_adjusted"] = adjust(out["p_value"].to_numpy(float), "holm")
        out["futility_adjusted"] = adjust(
            out["futility_p"].to_numpy(float),
            "none" if feedback.futility_error == "per_action" else "holm")
        if feedback.futility_error == "family":
            # the bound at Holm's first step, the level the smallest p-value must pass
            out["futility_bound"] = [
                _futility(r["measured_conversion"], r["measured_se"], r["worthwhile"],
                          futility_scale(r["worthwhile"], r["prior_conversion"]),
                          feedback.alpha / family)[1] for r in out.to_dict("records")]
    final = []
    for r in out.to_dict("records"):
        action, p0, m0, p_hat = r["action"], r["prior_conversion"], r["prior_margin"], \
            r["posterior_conversion"]
        share, target = np.nan, np.nan
        shown = r["measured"] and r["p_adjusted"] < feedback.alpha
        futile = r["measured"] and r["futility_adjusted"] < feedback.alpha
        enough = r["measured"] and r["n_held_out"] >= feedback.min_held_out
        unlikely = r["p_positive"] < feedback.min_confidence
        rule = feedback.rule
        if rule != "posterior" and shown and r["measured_conversion"] < 0:
            status = "shown_to_harm"
        elif rule == "futility" and futile:
            status = "futile"
        elif rule != "posterior" and shown:
            status = "shown_to_help"
        elif rule != "futility" and enough and unlikely:
            status = "switched_off"
        elif rule != "posterior" and not enough:
            status = "exploring"
            share = feedback.explore_share or np.nan
            target = float(feedback.min_held_out)
        elif rule == "futility":
            status = "measuring"
            level = feedback.alpha if feedback.futility_error == "per_action" \
                else feedback.alpha / family
            target = target_held_out(r["measured_se"], r["n_held_out"], r["n_treated"],
                                     r["worthwhile"],
                                     futility_scale(r["worthwhile"], p0), level,
                                     feedback.measure_power, feedback.measure_share)
            if feedback.measure_share > 0 and target > r["n_held_out"]:
                share = feedback.measure_share
        else:
            status = "updated" if r["measured"] else "prior"
        if status in OFF:
            rs, v = 0.0, 1.0
        else:
            rs = max(p_hat, 0.0) / p0
            v = float(np.clip((r["posterior_margin"] / p_hat) / (m0 / p0), 0.0,
                              feedback.max_value_scale)) if p_hat > 0 and m0 > 0 else 1.0
        response[action], value[action] = rs, v
        final.append({**r, "response_scale": rs, "value_scale": v, "status": status,
                      "holdout_share": share, "target_held_out": target})
    learned = dataclasses.replace(settings, response_scale=response, value_scale=value)
    return learned, pd.DataFrame(final, columns=COLUMNS)
