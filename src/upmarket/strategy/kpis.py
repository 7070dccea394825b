"""Customer-base KPIs with the source guides' benchmarks beside them (the upward-marketing guide, the key-account strategy course and the back-to-basics marketing course).

- premium-customer retention: of the customers in the top 20 % by revenue during the previous
  window, the share who bought again in the latest window (the upward-marketing guide: 42 % at laggards, 78 %
  benchmark; alert when premium churn exceeds 30 %);
- share of revenue from existing customers: revenue of the latest window bought by customers
  whose first purchase came before it (the back-to-basics marketing course: 65 %);
- Diamond revenue share (the key-account strategy course claims ≥ 30 %);
- yearly retention: of the previous window's buyers, the share who bought in the latest
  window, raised to the power 365/window to put it on a yearly footing.

The window is a year, shortened to half the history when less than two years are held.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import pandas as pd

from upmarket.features.orders import lines_until

BENCHMARKS = {
    "premium_retention": 0.78,
    "premium_retention_laggards": 0.42,
    "premium_churn_alert": 0.30,
    "existing_customer_revenue_share": 0.65,
    "diamond_revenue_share": 0.30,
}


def window_days(orders: ibis.Table, as_of: datetime) -> int:
    first = orders.ts.min().execute()
    if first is None or pd.isna(first):
        return 365
    span = (as_of - pd.Timestamp(first).to_pydatetime()).days
    return int(min(365, max(30, span // 2)))


def base_kpis(orders: ibis.Table, as_of: datetime) -> dict[str, float]:
    days = window_days(orders, as_of)
    start = as_of - timedelta(days=days)
    prev_start = start - timedelta(days=days)
    lines = lines_until(orders, as_of).filter(ibis._.status == "paid")
    # one row per customer, not the two windows' lines: what each KPI reads of a customer is
    # their first purchase, what they spent in the previous window and whether they bought
    # (and how much) in the latest one
    in_prev = (lines.ts >= ibis.literal(prev_start)) & (lines.ts < ibis.literal(start))
    in_cur = lines.ts >= ibis.literal(start)
    per = lines.group_by("customer_id").aggregate(
        first=lines.ts.min(), prev=lines.amount.sum(where=in_prev), was_prev=in_prev.any(),
        cur=lines.amount.sum(where=in_cur), is_cur=in_cur.any(),
    ).filter(ibis._.was_prev | ibis._.is_cur).to_pandas()
    # a window's lines with no amount sum to 0 for that customer, not to nothing
    per[["prev", "cur"]] = per[["prev", "cur"]].fillna(0.0)
    known = per["customer_id"].notna()
    prev = per.loc[known & per["was_prev"].astype(bool)].set_index("customer_id")["prev"]
    cur = per.loc[per["is_cur"].astype(bool)]
    bought_now = cur["customer_id"].unique()
    out: dict[str, float] = {"kpi_window_days": float(days)}
    if len(prev):
        premium = prev[prev >= prev.quantile(0.8)].index
        out["premium_retention"] = float(pd.Index(premium).isin(bought_now).mean())
    if len(prev):
        # share of last window's buyers who bought again, put on a yearly footing
        kept = float(pd.Index(prev.index).isin(bought_now).mean())
        out["yearly_retention"] = kept ** (365.0 / days) if kept > 0 else 0.0
    if len(cur) and cur["cur"].sum() > 0:
        existing = cur["first"] < start
        out["existing_customer_revenue_share"] = float(cur["cur"][existing].sum()
                                                       / cur["cur"].sum())
    return out
