"""Spend and attributed conversions per channel and period: the two sides of the response curves
in `upmarket.strategy.budget` (the marketing-plan framework's elastic budget control)."""

from __future__ import annotations

from datetime import datetime

import ibis

from upmarket.features.paths import converting_journeys

#: Period lengths the budget understands: calendar months or quarters.
FREQS = {"M": "M", "Q": "Q"}


def _unit(freq: str) -> str:
    try:
        return FREQS[freq]
    except KeyError:
        raise ValueError(f"period must be one of {', '.join(FREQS)}, not {freq!r}") from None


def spend_by_period(marketing_spend: ibis.Table, as_of: datetime, freq: str = "M",
                    cost_types: tuple[str, ...] | None = None) -> ibis.Table:
    """Spend per channel, period start and campaign before `as_of`, over the chosen cost types
    (all four by default: the fully-loaded cost of the key-account strategy course). The campaign stays a column so
    the budget can tell spend against a planned campaign from always-on spend."""
    s = marketing_spend.filter(marketing_spend.date < ibis.literal(as_of.date()))
    if cost_types:
        s = s.filter(s.cost_type.isin(list(cost_types)))
    s = s.mutate(period=s.date.cast("timestamp").truncate(_unit(freq)),
                 campaign=s.campaign.fill_null(""))
    return s.group_by(["channel", "period", "campaign"]).aggregate(cost=s.cost.sum())


def period_paths(events: ibis.Table, orders: ibis.Table, as_of: datetime, freq: str = "M",
                 lookback_days: int = 30, part: tuple[int, int] | None = None) -> ibis.Table:
    """The converting half of `features.paths.touchpoint_paths`, split by the period of the
    conversion: one row per (period, path) with `total_conversions` and
    `total_conversion_value`.

    The paths are those of `features.paths.converting_journeys`; a conversion's period is that
    of its order. Open (non-converting) journeys are left out: they belong to no period's
    revenue. The rows are the converting ones of `features.paths.paths_by_period`, which
    builds them with the open journeys when the caller wants both.

    `part` = (k, n): only the journeys of the k-th of n parts of the customers (split by a
    hash of the id). A journey is one customer's, so the n parts' rows summed per (period,
    path) are the table of all customers, and the engine holds one part's journeys at a time."""
    per = converting_journeys(events, orders, as_of, lookback_days)
    if part is not None:
        k, n = part
        per = per.filter((per.customer_id.hash() % n + n) % n == k)
    per = per.mutate(period=per.conv_ts.truncate(_unit(freq)))
    return per.group_by(["period", "path"]).aggregate(
        total_conversions=per.count(),
        total_conversion_value=per.value.sum().cast("float64"),
    ).order_by(["period", "path"])
