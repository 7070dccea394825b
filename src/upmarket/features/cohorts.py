"""Monthly acquisition cohorts (DESIGN §4 Measurement: "cohorts"): customers grouped by the
month of their first purchase and followed month by month — how many are still buying, how much
they spend, and what a cohort's customer is worth so far.

The cohort month is the month of the first paid product purchase, the same definition as
`features.acquisition.new_customers`, so CAC per cohort and the cohort's revenue line up. Per
cohort and month since acquisition (0 = the acquisition month):

* `active_customers` — customers of the cohort with a paid product purchase that month;
* `retention_rate` — active customers ÷ cohort size (month 0 is 1 by construction);
* `revenue` — net revenue of the cohort's customers that month: every order line, so
  cancellations and returns are subtracted in the month they happen (as in
  `features.orders.customer_summary`);
* `cumulative_revenue_per_customer` — revenue summed over months 0…k ÷ cohort size, the
  cohort's revenue-side lifetime value to date.

Every calendar month from the cohort's month to the last month with data before `as_of` has a
row, with zeros when nobody of the cohort bought, so curves do not skip months. The grid is
built from the months in which any order line exists (portable across backends, no generated
series); a month in which the whole business sold nothing has no row. The last month is
partial when `as_of` is not a month start.
"""

from __future__ import annotations

from datetime import datetime

import ibis

from upmarket.features.orders import lines_until, purchases_until


def _month_index(ts: ibis.Value) -> ibis.Value:
    return ts.year().cast("int64") * 12 + ts.month().cast("int64")


def cohort_table(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """cohort (month start) × months_since: `cohort_size`, `active_customers`,
    `retention_rate`, `revenue`, `cumulative_revenue`, `cumulative_revenue_per_customer`;
    ordered by cohort and month."""
    paid = purchases_until(orders, as_of)
    first = paid.group_by("customer_id").aggregate(cohort=paid.ts.min().truncate("M"))
    sizes = first.group_by("cohort").aggregate(cohort_size=first.count())

    lines = lines_until(orders, as_of)
    months = lines.select(month=lines.ts.truncate("M")).distinct()
    grid = sizes.cross_join(months)
    grid = grid.filter(grid.month >= grid.cohort)

    active = paid.join(first, "customer_id")
    active = active.group_by([active.cohort, active.ts.truncate("M").name("month")]).aggregate(
        active_customers=active.customer_id.nunique())
    spend = lines.join(first, "customer_id")
    spend = spend.group_by([spend.cohort, spend.ts.truncate("M").name("month")]).aggregate(
        revenue=spend.amount.sum())

    t = grid.left_join(active, ["cohort", "month"])
    t = t.drop(*[c for c in t.columns if c.endswith("_right")])
    t = t.left_join(spend, ["cohort", "month"])
    t = t.drop(*[c for c in t.columns if c.endswith("_right")])
    t = t.mutate(months_since=_month_index(t.month) - _month_index(t.cohort),
                 active_customers=t.active_customers.fill_null(0),
                 revenue=t.revenue.fill_null(0.0).cast("float64"))
    w = ibis.window(group_by=t.cohort, order_by=t.months_since,
                    preceding=None, following=0)
    t = t.mutate(cumulative_revenue=t.revenue.sum().over(w))
    t = t.mutate(
        retention_rate=t.active_customers.cast("float64") / t.cohort_size.cast("float64"),
        cumulative_revenue_per_customer=t.cumulative_revenue / t.cohort_size.cast("float64"))
    return t.select("cohort", "months_since", "cohort_size", "active_customers",
                    "retention_rate", "revenue", "cumulative_revenue",
                    "cumulative_revenue_per_customer").order_by(["cohort", "months_since"])
