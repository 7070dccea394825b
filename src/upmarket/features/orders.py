"""Order lines as the rest of the product sees them, and the per-customer purchase summary."""

from __future__ import annotations

from datetime import datetime

import ibis


def days_between(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    """Days from `earlier` to `later` as a float, counted in whole seconds, equal on every backend.

    Portable on purpose: DuckDB's epoch has fractions of a second while Spark's UNIX_TIMESTAMP
    is whole seconds, so both are floored; and the difference is cast to double before the
    division, because Spark reads the literal 86400.0 as a DECIMAL and bigint / decimal keeps
    only 7 decimal places.
    """
    seconds = later.epoch_seconds().floor() - earlier.epoch_seconds().floor()
    return seconds.cast("float64") / 86400.0


def lines_until(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """Order lines strictly before `as_of` (cancellations and returns included: their negative
    amounts net out what they reverse)."""
    return orders.filter(orders.ts < ibis.literal(as_of))


def purchases_until(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """Paid product lines strictly before `as_of`: what customers chose to buy."""
    lines = lines_until(orders, as_of)
    return lines.filter(lines.status == "paid", lines.line_kind == "product")


def customer_summary(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """One row per customer who bought before `as_of`: orders, first and last purchase, net
    revenue (after cancellations and returns) and days since the last purchase."""
    lines = lines_until(orders, as_of)
    # one scan: paid lines and reversals are told apart inside the aggregation, not by two
    # filtered passes over the order history joined back together
    paid = lines.status == "paid"
    reversal = lines.status != "paid"
    g = lines.group_by("customer_id").aggregate(
        _paid_lines=lines.count(where=paid),
        orders=lines.order_id.nunique(where=paid),
        first_purchase=lines.ts.min(where=paid),
        last_purchase=lines.ts.max(where=paid),
        gross_revenue=lines.amount.sum(where=paid),
        reversed_amount=lines.amount.sum(where=reversal),
    )
    joined = g.filter(g._paid_lines > 0).drop("_paid_lines")
    return joined.mutate(
        net_revenue=joined.gross_revenue + joined.reversed_amount.fill_null(0.0),
        days_since_last=days_between(ibis.literal(as_of).cast("timestamp"),
                                     joined.last_purchase),
    )
