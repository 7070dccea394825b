"""Weekly spend per channel, weekly outcome and weekly promotion days: the inputs of the
marketing-mix model in `upmarket.models.mmm`.

Weeks start on Monday (`date_trunc('week')`). Spend counts every cost type unless told
otherwise, as the budget does (`features.budget.spend_by_period`).
"""

from __future__ import annotations

from datetime import datetime

import ibis

from upmarket.features.orders import lines_until, purchases_until

#: What the mix model can explain: new customers (the week of each customer's first paid
#: purchase) or net revenue (all order lines, cancellations and returns netted).
OUTCOMES = ("new_customers", "revenue")


def weekly_spend(marketing_spend: ibis.Table, as_of: datetime,
                 cost_types: tuple[str, ...] | None = None) -> ibis.Table:
    """One row per channel and week before `as_of`: `week` (Monday) and `spend`."""
    s = marketing_spend.filter(marketing_spend.date < ibis.literal(as_of.date()))
    if cost_types:
        s = s.filter(s.cost_type.isin(list(cost_types)))
    s = s.mutate(week=s.date.cast("timestamp").truncate("W"))
    return s.group_by(["channel", "week"]).aggregate(spend=s.cost.sum().cast("float64"))


def weekly_outcome(orders: ibis.Table, as_of: datetime, outcome: str = "new_customers"
                   ) -> ibis.Table:
    """One row per week before `as_of` with an outcome: `week` and `outcome`."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if outcome == "new_customers":
        paid = purchases_until(orders, as_of)
        first = paid.group_by("customer_id").aggregate(first=paid.ts.min())
        first = first.mutate(week=first["first"].truncate("W"))
        return first.group_by("week").aggregate(outcome=first.count().cast("float64"))
    lines = lines_until(orders, as_of)
    lines = lines.mutate(week=lines.ts.truncate("W"))
    return lines.group_by("week").aggregate(outcome=lines.amount.sum().cast("float64"))


def promotion_days(promotions: ibis.Table, as_of: datetime) -> ibis.Table:
    """Each promotion before `as_of` with its start and end, for the model to count, per
    week, the days some promotion ran (a control: spend and demand both rise in promotions)."""
    p = promotions.filter(promotions.start < ibis.literal(as_of))
    return p.select("promotion_id", "start", "end")
