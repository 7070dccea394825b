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

**When an action is switched off** (`FeedbackSettings.rule`, default ``sequential``). Each
cycle the actions read together are tested as one family:

1. *Always-valid test.* For each measured action, the mixture sequential probability ratio
   test of "no effect" on its adjusted conversion difference d with variance s² (Johari,
   Koomen, Pekelis & Walsh 2017, "Peeking at A/B tests", KDD, §4, the normal mixture
   likelihood ratio Λ = √(s²/(s² + τ²)) · exp(τ² d² / (2 s² (s² + τ²))), averaged over scales as
   `models.sequential.msprt` does), with τ the effect the defaults assume (p₀). Its p-value
   min(1, 1/Λ) stays valid however often the loop looks (Ville's inequality), so reading the
   same control groups every cycle does not inflate the error.
2. *Multiplicity.* Holm's step-down over the actions read in the cycle (Holm 1979, Scand. J.
   Stat. 6:65–70): the chance that any action is wrongly "shown" to help or to harm is at most
   `alpha` per cycle, whatever the dependence between them.
3. *Decision.* Shown to harm (adjusted p < `alpha`, d < 0): off. Shown to help (adjusted
   p < `alpha`, d > 0): kept with its posterior scales, whatever the posterior probability
   says. Neither: while fewer than `min_held_out` customers were held out of it, the action is
   *exploring*: the defaults (moved by what little was measured) stand, and its new customers
   are held out at the share that brings its control group to `min_held_out`, up to
   `explore_share` (`activation.holdout.hold_out_exploring`, which the simulated cycles of
   `demo.action_loop` use), so a rarely chosen action is measured as soon as a frequent one
   instead of never; once `min_held_out` are held out, it is switched
   off if its posterior probability of raising conversion, Φ(p̂/sd), is below
   `min_confidence` (0.95: its 90 % posterior interval no longer lies above zero).

Without step 3's last rule an action that does nothing would keep a small positive posterior
mean from the prior and from noise and, multiplied by the large value it assumes per
conversion, would go on being chosen; with it, an action must show it helps. The price is that
a truly small effect may be switched off too, at the first look with `min_held_out` held out.
The ``posterior`` rule is the one before exploring and the sequential tests: the last rule
alone, at the default share from the first decision, so a rare action kept its defaults for
want of a control group.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from upmarket.models.sequential import adjust, msprt
from upmarket.strategy.action_impact import ALL
from upmarket.strategy.nba import ACTIONS, NbaSettings

COLUMNS = ["action", "prior_conversion", "measured_conversion", "measured_se",
           "posterior_conversion", "posterior_sd", "p_positive", "prior_margin",
           "measured_margin", "posterior_margin", "response_scale", "value_scale",
           "n_held_out", "p_value", "p_adjusted", "interval_low", "interval_high",
           "holdout_share", "status"]
#: the switch-off rules `FeedbackSettings.rule` can name (see the module docstring)
RULES = ("sequential", "posterior")


@dataclass(frozen=True)
class FeedbackSettings:
    #: how many customers' worth of evidence the defaults count as
    prior_strength: float = 20.0
    #: below this posterior probability of a positive effect the action is switched off
    #: (0.95: kept only while its posterior 90 % interval lies above zero) …
    min_confidence: float = 0.95
    #: … once at least this many customers were held out of it (before, the defaults stand)
    min_held_out: int = 100
    #: bounds on how far one update may scale a conversion's value
    max_value_scale: float = 5.0
    #: "sequential": always-valid tests, Holm over the actions read together; "posterior":
    #: the posterior probability above, read at every look (see the module docstring)
    rule: str = "sequential"
    #: the family-wise error of the sequential rule over the actions read in one cycle
    alpha: float = 0.05
    #: the control-group share of an action still being explored (fewer than `min_held_out`
    #: held out, nothing shown yet); 0: every action keeps the default share
    explore_share: float = 0.5

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"feedback rule must be one of {', '.join(RULES)}, not {self.rule!r}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"feedback alpha must be between 0 and 1 (got {self.alpha})")
        if not 0 <= self.explore_share < 1:
            raise ValueError(f"feedback explore_share must be at least 0 and below 1 "
                             f"(got {self.explore_share})")


def _update(prior: float, tau: float, d: float, s: float) -> tuple[float, float]:
    if not (np.isfinite(d) and np.isfinite(s) and s > 0):
        return prior, tau
    precision = 1 / tau ** 2 + 1 / s ** 2
    return (prior / tau ** 2 + d / s ** 2) / precision, float(np.sqrt(1 / precision))


def learn(effects: pd.DataFrame, decisions: pd.DataFrame, settings: NbaSettings = NbaSettings(),
          feedback: FeedbackSettings = FeedbackSettings()) -> tuple[NbaSettings, pd.DataFrame]:
    """`settings` with response and value scales learned from `effects`
    (`action_impact.effects`) against the priors of the treated `decisions` (action,
    held_out, probability, conversion_gain), and one row per action type saying which values
    were used and why (`status`: prior, exploring, shown_to_help, updated, switched_off,
    shown_to_harm) and the control-group share its next decisions should get
    (`holdout_share`: `explore_share` while it is explored, NaN for the default)."""
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
        p_hat, sd = _update(p0, tau, d, s)
        m_hat, _ = _update(m0, abs(m0) * tau / p0 if m0 else 1.0, dm, sm)
        measured = bool(np.isfinite(d) and np.isfinite(s) and s > 0)
        # the always-valid test of "no effect", its mixture tuned to the effect the defaults
        # assume (Johari et al. 2017 §4.3: most power near τ)
        pv, lo, hi = msprt(d, s ** 2, p0, feedback.alpha) if measured else (np.nan,) * 3
        rows.append({"action": action, "prior_conversion": p0, "measured_conversion": d,
                     "measured_se": s, "posterior_conversion": p_hat, "posterior_sd": sd,
                     "p_positive": float(stats.norm.cdf(p_hat / sd)), "prior_margin": m0,
                     "measured_margin": dm, "posterior_margin": m_hat,
                     "n_held_out": int(row["n_held_out"]) if row is not None else 0,
                     "p_value": pv, "interval_low": lo, "interval_high": hi,
                     "measured": measured})
    out = pd.DataFrame(rows)
    if len(out):
        # the actions read together are one family: Holm keeps the chance of any wrong
        # "shown" at `alpha` whatever their dependence (Holm 1979)
        out["p_adjusted"] = adjust(out["p_value"].to_numpy(float), "holm")
    final = []
    for r in out.to_dict("records"):
        action, p0, m0, p_hat = r["action"], r["prior_conversion"], r["prior_margin"], \
            r["posterior_conversion"]
        share = np.nan
        shown = r["measured"] and r["p_adjusted"] < feedback.alpha
        enough = r["measured"] and r["n_held_out"] >= feedback.min_held_out
        unlikely = r["p_positive"] < feedback.min_confidence
        sequential = feedback.rule == "sequential"
        if sequential and shown and r["measured_conversion"] < 0:
            status = "shown_to_harm"
        elif sequential and shown:
            status = "shown_to_help"
        elif enough and unlikely:
            status = "switched_off"
        elif sequential and not enough:
            status = "exploring"
            share = feedback.explore_share or np.nan
        else:
            status = "updated" if r["measured"] else "prior"
        if status in ("switched_off", "shown_to_harm"):
            rs, v = 0.0, 1.0
        else:
            rs = max(p_hat, 0.0) / p0
            v = float(np.clip((r["posterior_margin"] / p_hat) / (m0 / p0), 0.0,
                              feedback.max_value_scale)) if p_hat > 0 and m0 > 0 else 1.0
        response[action], value[action] = rs, v
        final.append({**r, "response_scale": rs, "value_scale": v, "status": status,
                      "holdout_share": share})
    learned = dataclasses.replace(settings, response_scale=response, value_scale=value)
    return learned, pd.DataFrame(final, columns=COLUMNS)
