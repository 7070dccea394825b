"""Lifecycle stages (the key-account strategy course and the back-to-basics marketing course): awareness → evaluation → first purchase → retention →
loyalty → advocacy, or lapsed; each with its own next actions.

Buyers are staged from their purchase history, model outputs and feedback, first rule winning:

1. lapsed — P(alive) < `lapsed_p_alive`, or silent for more than `lapsed_overdue` times their
   own usual gap between purchases (and at least `min_lapsed_days`);
2. advocacy — a promoter (latest NPS ≥ 9) with at least two orders;
3. loyalty — at least `loyal_orders` orders;
4. retention — at least two orders;
5. first purchase — one order.

People who have not bought are in awareness (seen, e.g. an ad impression or a sign-up in the
customer list) or evaluation (engaged: clicked, browsed, registered, added to cart).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STAGES = ("awareness", "evaluation", "first_purchase", "retention", "loyalty", "advocacy", "lapsed")
#: Events that show someone weighing a purchase rather than merely being exposed.
ENGAGEMENT_EVENTS = ("click", "page_view", "register", "add_to_cart", "product_view", "search")


@dataclass(frozen=True)
class LifecycleRules:
    lapsed_p_alive: float = 0.25
    lapsed_overdue: float = 3.0
    min_lapsed_days: float = 90.0
    loyal_orders: int = 4
    promoter_nps: int = 9


def buyer_stage(frame: pd.DataFrame, rules: LifecycleRules = LifecycleRules()) -> np.ndarray:
    orders = frame["orders"].to_numpy(float)
    recency = frame["recency_days"].to_numpy(float)
    p_alive = frame["p_alive"].to_numpy(float) if "p_alive" in frame else np.ones(len(frame))
    tenure = frame["tenure_days"].to_numpy(float) if "tenure_days" in frame else recency
    gap = np.where(orders > 1, (tenure - recency) / np.maximum(orders - 1, 1), np.nan)
    overdue = np.where(np.isnan(gap), recency / 120.0, recency / np.maximum(gap, 1.0))
    nps = frame["latest_nps"].to_numpy(float) if "latest_nps" in frame else np.full(len(frame), np.nan)
    lapsed = ((p_alive < rules.lapsed_p_alive)
              | ((overdue > rules.lapsed_overdue) & (recency > rules.min_lapsed_days)))
    return np.select(
        [lapsed, (nps >= rules.promoter_nps) & (orders >= 2), orders >= rules.loyal_orders,
         orders >= 2],
        ["lapsed", "advocacy", "loyalty", "retention"],
        default="first_purchase",
    )


def prospect_stages(engaged: pd.Series) -> pd.Series:
    """awareness or evaluation for people who have not bought (`engaged`: any engagement event)."""
    return pd.Series(np.where(engaged.to_numpy(bool), "evaluation", "awareness"), index=engaged.index)


def transitions(current: pd.Series, previous: pd.Series | None) -> pd.DataFrame:
    """Counts of customers by (previous stage → current stage); `new` for first-time entries."""
    prev = (previous.reindex(current.index) if previous is not None
            else pd.Series(index=current.index, dtype=object)).fillna("new")
    return pd.crosstab(prev.rename("from"), current.rename("to"))


def stage_kpis(frame: pd.DataFrame) -> pd.DataFrame:
    """Per stage: customers, share, revenue share, mean CLV, mean churn risk."""
    total = float(frame["net_revenue"].sum()) or 1.0
    g = frame.groupby("lifecycle_stage")
    out = pd.DataFrame({
        "customers": g.size(),
        "revenue_share": g["net_revenue"].sum() / total,
        "mean_clv": g["clv"].mean(),
        "mean_churn_risk": g["churn_risk"].mean() if "churn_risk" in frame else np.nan,
    })
    out["customer_share"] = out["customers"] / out["customers"].sum()
    order = [s for s in STAGES if s in out.index]
    return out.loc[order].reset_index().rename(columns={"index": "lifecycle_stage"})
