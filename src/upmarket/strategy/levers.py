"""CLV levers (the back-to-basics marketing course): what retention, purchase frequency, order value and cost to serve do
to total customer value, computed from the fitted models rather than quoted percentages.

The key-account strategy course and the back-to-basics marketing course claim +5 % retention lifts profit by 25–95 %; `what_if` reports what this
customer base's own models say instead.

Net CLV per customer = CLV − cost to serve. A tier's cost to serve is fixed from today's
figures as a yearly cost per active customer: its `cost_share` of the tier's mean CLV, spread
over its expected active customers (Σ P(alive)). It is then charged per customer as cost ×
P(alive) (a customer who has left costs nothing), so a lever that keeps more customers active
also costs more to serve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from upmarket.models.value import LifetimeValue
from upmarket.strategy.tiers import TIER_ORDER, TierPolicy


@dataclass(frozen=True)
class Levers:
    retention_points: float = 0.0
    frequency_pct: float = 0.0
    order_value_pct: float = 0.0
    cost_to_serve_pct: float = 0.0


def serving_cost(base: pd.DataFrame, tiers: pd.Series, policy: TierPolicy) -> pd.Series:
    """Cost of serving one active customer of each tier over the horizon (see module doc)."""
    g = pd.DataFrame({"tier": tiers, "clv": base["clv"], "p": _active(base)}).groupby("tier")
    share = pd.Series({t: policy.level(t).cost_share for t in g.groups})
    return share * g["clv"].sum() / g["p"].sum().clip(lower=1e-9)


def _net(pred: pd.DataFrame, tiers: pd.Series, cost: pd.Series, factor: float) -> np.ndarray:
    per_active = tiers.map(cost).to_numpy(float)
    return pred["clv"].to_numpy(float) - per_active * factor * _active(pred).to_numpy(float)


def _active(pred: pd.DataFrame) -> pd.Series:
    """P(alive), or 1 where the value model has no dropout (it publishes none): such a model
    forecasts every customer as buying on, so every customer is served."""
    return pred["p_alive"].fillna(1.0)


def what_if(frame: pd.DataFrame, model: LifetimeValue, tiers: pd.Series, levers: Levers,
            policy: TierPolicy = TierPolicy()) -> pd.DataFrame:
    """Total net CLV per tier now and under the levers, with the change in value and percent."""
    base = model.predict(frame)
    scenario_model = model.with_retention(levers.retention_points) if levers.retention_points else model
    scen = scenario_model.predict(frame, rate_multiplier=1 + levers.frequency_pct / 100,
                                  value_multiplier=1 + levers.order_value_pct / 100)
    tiers = pd.Series(np.asarray(tiers), index=frame.index)
    cost = serving_cost(base, tiers, policy)
    df = pd.DataFrame({
        "tier": tiers,
        "base": _net(base, tiers, cost, 1.0),
        "scenario": _net(scen, tiers, cost, 1 + levers.cost_to_serve_pct / 100),
    })
    out = df.groupby("tier")[["base", "scenario"]].sum().reindex(TIER_ORDER).fillna(0.0)
    out.loc["total"] = out.sum()
    out["change"] = out["scenario"] - out["base"]
    out["change_pct"] = np.where(out["base"] != 0, 100 * out["change"] / out["base"].abs(), np.nan)
    return out.reset_index()
