"""Touchpoint paths: each conversion's ordered channel path, aggregated to the path table that
`upmarket.models.attribution` (and ChannelAttribution) reads."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

from upmarket.features.orders import purchases_until

#: Between channels in a path string, as ChannelAttribution writes it.
PATH_SEP = " > "


def conversions_until(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """One row per paid order before `as_of` (a conversion): customer, time of its first paid
    product line, value = sum of its paid product lines, and the time of the customer's previous
    conversion (null for the first)."""
    lines = purchases_until(orders, as_of)
    conv = lines.group_by(["customer_id", "order_id"]).aggregate(
        conv_ts=lines.ts.min(), value=lines.amount.sum())
    w = ibis.window(group_by=conv.customer_id, order_by=[conv.conv_ts, conv.order_id])
    return conv.mutate(prev_ts=conv.conv_ts.lag().over(w))


def touches_until(events: ibis.Table, as_of: datetime) -> ibis.Table:
    """Marketing touchpoints: events with a known customer and a non-null, non-empty `channel`
    strictly before `as_of`."""
    e = events.filter(events.ts < ibis.literal(as_of), events.channel.notnull(),
                      events.channel.strip() != "", events.customer_id.notnull())
    return e.select("customer_id", "message_id", "ts", channel=e.channel.strip())


def journeys(events: ibis.Table, orders: ibis.Table, as_of: datetime,
             lookback_days: int = 30) -> ibis.Table:
    """One row per journey: `customer_id`, `converted` (bool), `value` (0 for non-converting),
    `path` (channels in time order joined by " > ", ties broken by message id), `touches`.

    * A converting journey is a paid order (see :func:`conversions_until`) with the customer's
      touches in [order ts − lookback_days, order ts) and after the previous conversion. Orders
      without such a touch have no journey (they are not in the result).
    * A non-converting journey is, per customer, the touches in [as_of − lookback_days, as_of)
      after the customer's last conversion before `as_of` (the open journey still without a
      purchase); customers with no such touch have none.
    """
    t = touches_until(events, as_of)
    conv = conversions_until(orders, as_of)
    lookback = ibis.interval(days=int(lookback_days))

    j = t.join(conv, t.customer_id == conv.customer_id)
    j = j.filter(j.ts < j.conv_ts, j.ts >= j.conv_ts - lookback,
                 j.prev_ts.isnull() | (j.ts > j.prev_ts))
    converting = j.group_by(["customer_id", "order_id"]).aggregate(
        path=j.channel.group_concat(PATH_SEP, order_by=[j.ts, j.message_id]),
        touches=j.count(),
        value=j.value.max(),
    ).mutate(converted=ibis.literal(True))

    last = conv.group_by("customer_id").aggregate(last_conv=conv.conv_ts.max())
    start = ibis.literal(as_of - timedelta(days=int(lookback_days)))
    o = t.left_join(last, t.customer_id == last.customer_id)
    o = o.filter(o.ts >= start, o.last_conv.isnull() | (o.ts > o.last_conv))
    open_ = o.group_by("customer_id").aggregate(
        path=o.channel.group_concat(PATH_SEP, order_by=[o.ts, o.message_id]),
        touches=o.count(),
    ).mutate(value=ibis.literal(0.0), converted=ibis.literal(False))

    cols = ["customer_id", "converted", "value", "path", "touches"]
    return converting.select(*cols).union(open_.select(*cols))


def touchpoint_paths(events: ibis.Table, orders: ibis.Table, as_of: datetime,
                     lookback_days: int = 30) -> ibis.Table:
    """The path table of :func:`journeys`: one row per distinct path with `total_conversions`,
    `total_conversion_value` and `total_null` (non-converting journeys), the ChannelAttribution
    format read by :func:`upmarket.models.attribution.attribute`. Ordered by path."""
    j = journeys(events, orders, as_of, lookback_days)
    agg = j.group_by("path").aggregate(
        total_conversions=j.converted.cast("int64").sum(),
        total_conversion_value=j.value.sum().cast("float64"),
        total_null=(~j.converted).cast("int64").sum(),
    )
    return agg.order_by("path")
