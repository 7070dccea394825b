"""RFM inputs and 1–5 scores as Ibis expressions (the key-account strategy course).

Scores are quantile ranks computed with a window function, so they run on any backend:
score = 1 + ⌊bins · percent_rank⌋, capped at `bins`. `percent_rank` gives tied values the same
rank, so equal inputs always get equal scores (a heavily tied frequency of 1 scores 1, as
analysts expect). Recency is reversed: the most recent buyers score highest.
"""

from __future__ import annotations

from datetime import datetime

import ibis

from upmarket.features.orders import customer_summary


def rfm_inputs(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """recency_days, frequency (orders) and monetary (net revenue) per customer."""
    return inputs_from_summary(customer_summary(orders, as_of))


def inputs_from_summary(s: ibis.Table) -> ibis.Table:
    """`rfm_inputs` from a `features.orders.customer_summary` the caller already has."""
    return s.select(
        customer_id=s.customer_id,
        recency_days=s.days_since_last,
        frequency_orders=s.orders.cast("float64"),
        monetary_value=s.net_revenue,
    )


def _score(column: ibis.Column, bins: int, descending: bool = False) -> ibis.Column:
    order = column.desc() if descending else column.asc()
    pr = ibis.percent_rank().over(order_by=order)
    return ibis.least((pr * bins).floor().cast("int64") + 1, bins)


def rfm_scores(orders: ibis.Table, as_of: datetime, *, bins: int = 5) -> ibis.Table:
    """`r_score`, `f_score`, `m_score` in 1..bins and their concatenation `rfm_cell` ("545")."""
    return scores_from_inputs(rfm_inputs(orders, as_of), bins=bins)


def scores_from_inputs(x: ibis.Table, *, bins: int = 5) -> ibis.Table:
    """`rfm_scores` of RFM inputs (`rfm_inputs`, `inputs_from_summary`)."""
    if not 2 <= bins <= 9:
        raise ValueError("RFM bins must be between 2 and 9")
    scored = x.mutate(
        r_score=_score(x.recency_days, bins, descending=True),
        f_score=_score(x.frequency_orders, bins),
        m_score=_score(x.monetary_value, bins),
    )
    return scored.mutate(
        rfm_cell=scored.r_score.cast("string") + scored.f_score.cast("string")
        + scored.m_score.cast("string")
    )
