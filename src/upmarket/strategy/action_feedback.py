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

An action is switched off (scale 0) once at least `min_held_out` customers were held out of
it and its posterior probability of raising conversion, Φ(p̂/sd), is below `min_confidence`
(0.95: its 90 % posterior interval no longer lies above zero). Without that rule an action
that does nothing would keep a small positive posterior mean from the prior and from noise and,
multiplied by the large value it assumes per conversion, would go on being chosen; with it, an
action must show it helps. The price is that a truly small effect may be switched off too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from upmarket.strategy.action_impact import ALL
from upmarket.strategy.nba import ACTIONS, NbaSettings

COLUMNS = ["action", "prior_conversion", "measured_conversion", "measured_se",
           "posterior_conversion", "posterior_sd", "p_positive", "prior_margin",
           "measured_margin", "posterior_margin", "response_scale", "value_scale", "status"]


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
    were used and why."""
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
        positive = float(stats.norm.cdf(p_hat / sd))
        measured = np.isfinite(d) and np.isfinite(s)
        held = int(row["n_held_out"]) if row is not None else 0
        if measured and held >= feedback.min_held_out and positive < feedback.min_confidence:
            r, v, status = 0.0, 1.0, "switched_off"
        else:
            r = max(p_hat, 0.0) / p0
            v = float(np.clip((m_hat / p_hat) / (m0 / p0), 0.0, feedback.max_value_scale)) \
                if p_hat > 0 and m0 > 0 else 1.0
            status = "updated" if measured else "prior"
        response[action], value[action] = r, v
        rows.append({"action": action, "prior_conversion": p0, "measured_conversion": d,
                     "measured_se": s, "posterior_conversion": p_hat, "posterior_sd": sd,
                     "p_positive": positive, "prior_margin": m0, "measured_margin": dm,
                     "posterior_margin": m_hat, "response_scale": r, "value_scale": v,
                     "status": status})
    learned = dataclasses.replace(settings, response_scale=response, value_scale=value)
    return learned, pd.DataFrame(rows, columns=COLUMNS)
