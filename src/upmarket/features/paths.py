"""Touchpoint paths: each conversion's ordered channel path, and the paths that did not convert,
aggregated to the path table that `upmarket.models.attribution` (and ChannelAttribution) reads.

Two things decide whether Markov removal effects mean anything (Anderl et al. 2016 build their
chains from *all* journeys, converting or not):

* **Whose touch it is.** A visitor's touches before she registers carry only the device's
  `anonymous_id`; the register/login event carrying both ids links them (a CDP's identity
  stitching, Segment's `identify`). Without it every acquisition touch — made before the first
  purchase and so before the account — would be lost, and with it the channels that bring
  customers in. Devices never linked to a customer are visitors: their journeys never convert.
* **Which journeys did not convert.** Every touch belongs to exactly one journey: the converting
  journey of the first conversion after it if that is within the lookback window, otherwise a
  non-converting one. Counting only the still-open journeys of the last lookback window as
  non-converting (as a first version did) compared two years of conversions with one month of
  non-conversions and made journeys look 96 % likely to convert.
"""

from __future__ import annotations

from datetime import datetime

import ibis

from upmarket.features.orders import purchases_until

#: Between channels in a path string, as ChannelAttribution writes it.
PATH_SEP = " > "
#: Prefix of the journey key of a device never linked to a customer (cannot clash with an id).
VISITOR = "anonymous:"


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
    """Marketing touchpoints of known customers strictly before `as_of`: the touches of
    :func:`stitched_touches` that belong to a customer (so touches made before registering,
    under the device's anonymous id, count too): customer_id, message_id, ts, channel."""
    t = stitched_touches(events, as_of)
    t = t.filter(t.customer_id.notnull())
    return t.select("customer_id", "message_id", "ts", "channel")


def stitched_touches(events: ibis.Table, as_of: datetime) -> ibis.Table:
    """All marketing touchpoints strictly before `as_of` with the person they belong to:
    `customer_id` as recorded, else the customer the touch's `anonymous_id` is linked to by an
    event before `as_of` that carries both ids (only when it is linked to exactly one customer: a
    shared device stays anonymous), else null. `person` is the journey key: the customer, or
    ``"anonymous:" + anonymous_id`` for a device never linked (null without either id; such
    touches are dropped). Events without an `anonymous_id` column are taken as all identified."""
    before = events.filter(events.ts < ibis.literal(as_of))
    e = before.filter(before.channel.notnull(), before.channel.strip() != "")
    if "anonymous_id" not in events.columns:
        t = e.filter(e.customer_id.notnull())
        return t.select("message_id", "ts", customer_id=t.customer_id, person=t.customer_id,
                        channel=t.channel.strip())
    both = before.filter(before.customer_id.notnull(), before.anonymous_id.notnull())
    # linked to exactly one customer: the least and the greatest id are the same. A distinct
    # count says the same, but holds a set of ids per device and cost the engine most of the
    # stitching
    links = both.group_by("anonymous_id").aggregate(
        linked=both.customer_id.min(), last=both.customer_id.max())
    links = links.filter(links.linked == links.last).select(link_anon="anonymous_id",
                                                            linked="linked")
    j = e.left_join(links, e.anonymous_id == links.link_anon)
    customer = j.customer_id.fill_null(j.linked)
    person = customer.fill_null(ibis.literal(VISITOR) + j.anonymous_id)
    t = j.select("message_id", "ts", customer_id=customer, person=person,
                 channel=j.channel.strip())
    return t.filter(t.person.notnull())


def _conversion_touches(touches: ibis.Table, conv: ibis.Table, lookback_days: int
                        ) -> ibis.Table:
    """Each touch that belongs to a conversion's journey, joined to that conversion: in
    [order ts − lookback_days, order ts) and after the customer's previous conversion."""
    lookback = ibis.interval(days=int(lookback_days))
    j = touches.join(conv, touches.customer_id == conv.customer_id)
    return j.filter(j.ts < j.conv_ts, j.ts >= j.conv_ts - lookback,
                    j.prev_ts.isnull() | (j.ts > j.prev_ts))


def _path(t: ibis.Table) -> ibis.Value:
    """A group's channels in time order (ties broken by message id) joined by `PATH_SEP`.

    Written as collect → sort → join rather than `group_concat(order_by=...)`: Spark has no
    ordered string aggregation (Ibis refuses it there), while sorting a list of
    (ts, message_id, channel) structs means the same on every engine. Both fields of the sort
    key are never null here (touches carry a time and a required message id), so how an engine
    places nulls inside a struct cannot change the order."""
    touch = ibis.struct({"ts": t.ts, "message_id": t.message_id, "channel": t.channel})
    return touch.collect().sort().map(lambda x: x.channel).join(PATH_SEP)


def _per_conversion(j: ibis.Table) -> ibis.Table:
    return j.group_by(["customer_id", "order_id"]).aggregate(
        conv_ts=j.conv_ts.max(),
        path=_path(j),
        touches=j.count(),
        value=j.value.max(),
    )


def converting_journeys(events: ibis.Table, orders: ibis.Table, as_of: datetime,
                        lookback_days: int = 30) -> ibis.Table:
    """The converting journeys of :func:`journeys`, one row per conversion that had a touch:
    customer_id, order_id, `conv_ts` (the order's time), path, touches, value."""
    return _per_conversion(_conversion_touches(
        stitched_touches(events, as_of), conversions_until(orders, as_of), lookback_days))


def journeys(events: ibis.Table, orders: ibis.Table, as_of: datetime,
             lookback_days: int = 30) -> ibis.Table:
    """One row per journey: `customer_id` (null for an anonymous visitor), `converted` (bool),
    `value` (0 for non-converting), `path` (channels in time order joined by " > ", ties broken
    by message id), `touches`. Touches are those of :func:`stitched_touches`.

    * A converting journey is a paid order (see :func:`conversions_until`) with the customer's
      touches in [order ts − lookback_days, order ts) and after the previous conversion. Orders
      without such a touch have no journey (they are not in the result).
    * Every other touch is in a non-converting journey: a person's touches between two of her
      conversions (or before the first, or after the last) that are in no converting journey,
      cut where more than `lookback_days` pass between consecutive touches. The last one of a
      customer may still be open at `as_of`; it counts as non-converting, as ChannelAttribution
      users count it.
    """
    j = _journeys(stitched_touches(events, as_of), conversions_until(orders, as_of),
                  lookback_days)
    return j.select("customer_id", "converted", "value", "path", "touches")


def _journeys(t: ibis.Table, conv: ibis.Table, lookback_days: int) -> ibis.Table:
    """:func:`journeys` of the stitched touches `t` and the conversions `conv`, with the
    journey's `person` and the time of its conversion (`conv_ts`, null for non-converting)."""
    lookback = ibis.interval(days=int(lookback_days))
    j = _conversion_touches(t, conv, lookback_days)
    converting = _per_conversion(j).mutate(converted=ibis.literal(True))

    # the touches left over, and the conversions as markers between them: a running count of
    # conversions gives each touch its inter-purchase segment (a touch at the very moment of a
    # conversion is after it: it was not part of its journey)
    used = j.select(used_id=j.message_id)
    rest = t.left_join(used, t.message_id == used.used_id)
    rest = rest.filter(rest.used_id.isnull()).select(
        "person", "customer_id", "ts", "message_id", "channel", is_conv=ibis.literal(0))
    marks = conv.select(person=conv.customer_id, customer_id=conv.customer_id, ts=conv.conv_ts,
                        message_id=ibis.null().cast("string"), channel=ibis.null().cast("string"),
                        is_conv=ibis.literal(1))
    u = rest.union(marks)
    u = u.mutate(segment=u.is_conv.cumsum(group_by=u.person,
                                          order_by=[u.ts, u.is_conv.desc(), u.message_id]))
    u = u.filter(u.is_conv == 0)
    gap = ibis.window(group_by=[u.person, u.segment], order_by=[u.ts, u.message_id])
    u = u.mutate(prev_touch=u.ts.lag().over(gap))
    u = u.mutate(new=(u.prev_touch.isnull() | (u.ts > u.prev_touch + lookback)).cast("int64"))
    u = u.mutate(part=u.new.cumsum(group_by=[u.person, u.segment],
                                   order_by=[u.ts, u.message_id]))
    open_ = u.group_by(["person", "segment", "part"]).aggregate(
        customer_id=u.customer_id.max(),
        path=_path(u),
        touches=u.count(),
    ).mutate(value=ibis.literal(0.0), converted=ibis.literal(False))

    cols = ["person", "customer_id", "conv_ts", "converted", "value", "path", "touches"]
    converting = converting.mutate(person=converting.customer_id)
    open_ = open_.mutate(conv_ts=ibis.null().cast(converting.conv_ts.type()))
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


#: Column of :func:`in_parts` holding each row's part.
PART = "journey_part"


def part_of(key: ibis.Value, n: int) -> ibis.Value:
    """Which of `n` parts (0 … n − 1) the person with journey key `key` falls in."""
    return (key.hash() % n + n) % n


def in_parts(touches: ibis.Table, conversions: ibis.Table, n: int
             ) -> tuple[ibis.Table, ibis.Table]:
    """:func:`stitched_touches` and :func:`conversions_until` with each row's part of `n`
    (:func:`part_of` the person) in column `PART`, ordered by it, for :func:`paths_by_period`
    to build the parts from. Materialised (cached) in that order, a part's rows sit in a run of blocks
    whose min/max the engine keeps (DuckDB's zone maps), and a part's filter skips every other
    part's blocks: the n parts together read the touches about once, where filtering on a hash
    of the key read and hashed all of them for every part."""
    t = touches.mutate(**{PART: part_of(touches.person, n)})
    conv = conversions.mutate(**{PART: part_of(conversions.customer_id, n)})
    return t.order_by(PART), conv.order_by(PART)


def _part(t: ibis.Table, key: ibis.Value, k: int, n: int) -> ibis.Table:
    """The rows of `t` in the `k`-th of `n` parts: by its `PART` column when it has one
    (:func:`in_parts`, made with the same `n`), else by hashing `key`."""
    if PART in t.columns:
        return t.filter(t[PART] == k).drop(PART)
    return t.filter(part_of(key, n) == k)


def paths_by_period(events: ibis.Table, orders: ibis.Table, as_of: datetime, unit: str = "M",
                    lookback_days: int = 30, *, touches: ibis.Table | None = None,
                    conversions: ibis.Table | None = None,
                    part: tuple[int, int] | None = None) -> ibis.Table:
    """The journeys of :func:`journeys` by path and by the period (`unit`: "M" or "Q") their
    conversion fell in: one row per (period, path) with `total_conversions`,
    `total_conversion_value` and `total_null`; the non-converting journeys have a null period.
    Summed over the periods it is :func:`touchpoint_paths`; its converting rows are the
    budget's attributed revenue per period (`features.budget.period_paths`), so one pass
    serves both.

    `touches` and `conversions`: :func:`stitched_touches` and :func:`conversions_until` at
    `as_of`, when the caller holds them already (materialised once for several parts, best
    as :func:`in_parts` with the same n).
    `part` = (k, n): only the journeys of the k-th of n parts of the people (split by a hash
    of the customer id or the visitor's key). A journey is one person's, and the identity
    links are made before the split, so the n parts' rows summed per (period, path) are the
    table of everyone while the engine builds one part's journeys at a time."""
    t = touches if touches is not None else stitched_touches(events, as_of)
    conv = conversions if conversions is not None else conversions_until(orders, as_of)
    if part is not None:
        k, n = part
        t = _part(t, t.person, k, n)
        conv = _part(conv, conv.customer_id, k, n)
    j = _journeys(t, conv, lookback_days)
    j = j.mutate(period=j.conv_ts.truncate(unit))
    return j.group_by(["period", "path"]).aggregate(
        total_conversions=j.converted.cast("int64").sum(),
        total_conversion_value=j.value.sum().cast("float64"),
        total_null=(~j.converted).cast("int64").sum(),
    )
