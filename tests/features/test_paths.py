"""Touchpoint paths as an Ibis feature: a hand-made warehouse, identity stitching and
non-converting journeys by hand, and the synthetic world against an independent pandas
implementation of the same definition."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upmarket.features.paths import VISITOR, journeys, stitched_touches, touchpoint_paths
from upmarket.models.attribution import attribute
from upmarket.warehouse.ingest import ingest

AS_OF = datetime(2025, 2, 1)


@pytest.fixture
def tiny(wh):
    events = pd.DataFrame({
        "message_id": [f"m{i}" for i in range(10)], "type": "track",
        "customer_id": ["c1", "c1", "c1", "c1", "c2", "c2", "c3", "c1", "c2", "c1"],
        "ts": pd.to_datetime(["2025-01-01", "2025-01-03", "2025-01-02", "2025-01-10",
                              "2025-01-05", "2025-01-06", "2025-01-07", "2025-01-20",
                              "2024-11-01", "2025-01-04 12:00"], format="ISO8601"),
        "channel": ["search", "email", "social", None, "email", "search", "display", "email",
                    "tv", "sms"],
    })
    orders = pd.DataFrame({
        "order_id": ["o1", "o1", "o2", "o3", "o4"], "line_no": [0, 1, 0, 0, 0],
        "customer_id": ["c1", "c1", "c2", "c1", "c4"],
        "ts": pd.to_datetime(["2025-01-04", "2025-01-04", "2025-01-08", "2025-01-05",
                              "2025-01-09"]),
        "quantity": 1, "amount": [10.0, 5.0, 7.0, 3.0, 9.0],
    })
    ingest("events", events, warehouse=wh)
    ingest("orders", orders, warehouse=wh)
    return wh


def test_tiny_warehouse(tiny):
    got = touchpoint_paths(tiny.table("events"), tiny.table("orders"), AS_OF).to_pandas()
    got = got.set_index("path")
    # o1 (c1, Jan 4): search Jan 1, social Jan 2, email Jan 3 — in time order, not message order
    # o3 (c1, Jan 5): only sms (Jan 4 12:00), after o1; o2 (c2, Jan 8): email, search; o4 (c4)
    # has no touch: no path. Non-converting: c2's tv touch of Nov 1 (outside o2's 30 days, so in
    # no converting journey), c1's email of Jan 20 (the null-channel event is not a touch) and
    # c3's display.
    assert got.to_dict("index") == {
        "display": {"total_conversions": 0, "total_conversion_value": 0.0, "total_null": 1},
        "email": {"total_conversions": 0, "total_conversion_value": 0.0, "total_null": 1},
        "email > search": {"total_conversions": 1, "total_conversion_value": 7.0,
                           "total_null": 0},
        "search > social > email": {"total_conversions": 1, "total_conversion_value": 15.0,
                                    "total_null": 0},
        "sms": {"total_conversions": 1, "total_conversion_value": 3.0, "total_null": 0},
        "tv": {"total_conversions": 0, "total_conversion_value": 0.0, "total_null": 1},
    }
    # a shorter lookback moves the early touches of o1 and o2 into non-converting journeys:
    # o1's search (Jan 1) on its own; c2's tv (Nov 1) and email (Jan 5) are 65 days apart, two
    short = touchpoint_paths(tiny.table("events"), tiny.table("orders"), AS_OF,
                             lookback_days=2).to_pandas().set_index("path")
    assert short.total_conversions.to_dict() == {
        "social > email": 1, "search": 1, "sms": 1, "display": 0, "email": 0, "tv": 0}
    assert short.total_null.to_dict() == {
        "social > email": 0, "search": 1, "sms": 0, "display": 1, "email": 2, "tv": 1}
    # as_of hides later orders and events: c1's three touches are one open journey
    early = touchpoint_paths(tiny.table("events"), tiny.table("orders"),
                             datetime(2025, 1, 3, 12)).to_pandas().set_index("path")
    assert early.loc["search > social > email"].to_dict() == {
        "total_conversions": 0, "total_conversion_value": 0.0, "total_null": 1}
    assert early.total_conversions.sum() == 0
    # the table feeds the attribution models directly
    res = attribute(got.reset_index(), "markov")
    assert res.conversions.sum() == pytest.approx(3)


def _events(rows):
    """rows: (message_id, customer_id, anonymous_id, day of Jan 2025 (float), channel)"""
    return pd.DataFrame(rows, columns=["message_id", "customer_id", "anonymous_id", "day",
                                       "channel"]).assign(
        ts=lambda d: pd.Timestamp("2025-01-01") + pd.to_timedelta(d.day, unit="D")).drop(
        columns="day")


def _orders(rows):
    """rows: (order_id, customer_id, day of Jan 2025, amount)"""
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "day", "amount"]).assign(
        ts=lambda d: pd.Timestamp("2025-01-01") + pd.to_timedelta(d.day, unit="D"),
        line_no=0, quantity=1.0, status="paid", line_kind="product").drop(columns="day")


def _tables(events: pd.DataFrame, orders: pd.DataFrame):
    con = ibis.duckdb.connect()
    text = {"message_id": "string", "customer_id": "string", "anonymous_id": "string",
            "channel": "string"}
    return (con.create_table("events", events.astype(text)),
            con.create_table("orders", orders.astype({"order_id": "string",
                                                      "customer_id": "string"})))


def test_stitching_and_non_converting_journeys_by_hand():
    events = _events([
        # device d1: two ads before she registers as c1 (the register event carries both ids)
        ("a1", None, "d1", 1.0, "douyin"), ("a2", None, "d1", 2.0, "social"),
        ("r1", "c1", "d1", 3.0, None),
        ("a3", "c1", "d1", 3.5, "search"),  # then a branded search, and she buys on day 4
        # emails at the very moments of her two orders (part of neither: a journey ends before
        # its purchase), so six days apart but with a purchase between them, then two touches 40
        # days later — three non-converting journeys in all
        ("a4", "c1", "d1", 4.0, "email"), ("a5", "c1", "d1", 10.0, "email"),
        ("a6", "c1", "d1", 60.0, "wechat"), ("a7", "c1", "d1", 61.0, "email"),
        # device d2 is used by two customers: its anonymous touch stays a visitor's
        ("b1", None, "d2", 5.0, "xiaohongshu"), ("r2", "c2", "d2", 6.0, None),
        ("r3", "c3", "d2", 7.0, None),
        # device d3 never identifies: a visitor with two touches within 30 days, one journey
        ("v1", None, "d3", 8.0, "douyin"), ("v2", None, "d3", 9.0, "social"),
    ])
    orders = _orders([("o1", "c1", 4.0, 50.0), ("o2", "c1", 10.0, 20.0),
                      ("o3", "c2", 6.5, 30.0)])
    ev, od = _tables(events, orders)
    as_of = datetime(2025, 4, 1)
    t = stitched_touches(ev, as_of).to_pandas().set_index("message_id")
    assert {m: c if isinstance(c, str) else None for m, c in t.customer_id.items()} == {
        "a1": "c1", "a2": "c1", "a3": "c1", "a4": "c1", "a5": "c1", "a6": "c1", "a7": "c1",
        "b1": None, "v1": None, "v2": None}
    assert t.person["b1"] == VISITOR + "d2" and t.person["v1"] == VISITOR + "d3"
    j = journeys(ev, od, as_of).to_pandas()
    assert sorted(j.loc[j.converted, "path"]) == ["douyin > social > search"]
    assert j.loc[j.converted, "value"].tolist() == [50.0]  # o2 and o3 had no touch: no journey
    assert sorted(j.loc[~j.converted, "path"]) == [
        "douyin > social", "email", "email", "wechat > email", "xiaohongshu"]
    # every touch is in exactly one journey
    assert j.touches.sum() == len(t)


def reference_journeys(events: pd.DataFrame, orders: pd.DataFrame, as_of: datetime,
                       days: int) -> pd.DataFrame:
    """The journeys definition written out in plain pandas and Python loops, independently of
    the Ibis expressions: (converted, value, path) per journey."""
    before = events[events.ts < as_of]
    e = before[before.channel.notna() & (before.channel.str.strip() != "")].copy()
    both = before[before.customer_id.notna() & before.anonymous_id.notna()]
    links = {a: g.iloc[0] for a, g in both.groupby("anonymous_id").customer_id
             if g.nunique() == 1}
    e["customer_id"] = [c if isinstance(c, str) else links.get(a)
                        for c, a in zip(e.customer_id, e.anonymous_id)]
    e["person"] = [c if isinstance(c, str) else (VISITOR + a if isinstance(a, str) else None)
                   for c, a in zip(e.customer_id, e.anonymous_id)]
    e = e[e.person.notna()].sort_values(["ts", "message_id"])
    e["channel"] = e.channel.str.strip()
    o = orders[(orders.status == "paid") & (orders.line_kind == "product") & (orders.ts < as_of)]
    conv = o.groupby(["customer_id", "order_id"], as_index=False).agg(
        ts=("ts", "min"), value=("amount", "sum")).sort_values(["ts", "order_id"])
    window = timedelta(days=days)
    out = []
    for person, touches in e.groupby("person", sort=False):
        cs = conv[conv.customer_id == person]
        used = set()
        prev = None
        for c in cs.itertuples():
            mine = touches[(touches.ts < c.ts) & (touches.ts >= c.ts - window)
                           & ((prev is None) or (touches.ts > prev))]
            if len(mine):
                out.append((True, c.value, " > ".join(mine.channel)))
                used |= set(mine.message_id)
            prev = c.ts
        rest = touches[~touches.message_id.isin(used)]
        last_seg, last_ts, current = None, None, []
        for r in rest.itertuples():
            seg = int((cs.ts <= r.ts).sum())
            if current and (seg != last_seg or r.ts > last_ts + window):
                out.append((False, 0.0, " > ".join(current)))
                current = []
            current.append(r.channel)
            last_seg, last_ts = seg, r.ts
        if current:
            out.append((False, 0.0, " > ".join(current)))
    return pd.DataFrame(out, columns=["converted", "value", "path"])


def _table(j: pd.DataFrame) -> pd.DataFrame:
    g = j.assign(c=j.converted.astype(int), n=(~j.converted).astype(int)).groupby("path")
    return pd.DataFrame({"total_conversions": g.c.sum(), "total_conversion_value": g.value.sum(),
                         "total_null": g.n.sum()}).sort_index()


day = st.floats(0, 90).map(lambda d: round(d * 4) / 4)  # quarter days: ties happen


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from([None, "c1", "c2"]), st.sampled_from(["d1", "d2", "d3"]),
                          day, st.sampled_from([None, "a", "b", "c"])), min_size=1, max_size=14),
       st.lists(st.tuples(st.sampled_from(["c1", "c2"]), day, st.floats(1, 100)), max_size=5),
       st.sampled_from([3, 10, 30]))
def test_matches_independent_reference(ev_rows, ord_rows, days):
    events = _events([(f"m{i:02d}", c, a, d, ch) for i, (c, a, d, ch) in enumerate(ev_rows)])
    orders = _orders([(f"o{i}", c, d, round(v, 2)) for i, (c, d, v) in enumerate(ord_rows)])
    if orders.empty:
        orders = _orders([("o0", "c9", 0.0, 1.0)])
    as_of = datetime(2025, 3, 15)
    ev, od = _tables(events, orders)
    got = journeys(ev, od, as_of, days).to_pandas()
    want = reference_journeys(events, orders, as_of, days)
    assert sorted(map(tuple, got[["converted", "path"]].to_numpy().tolist())) == sorted(
        map(tuple, want[["converted", "path"]].to_numpy().tolist()))
    if len(want):
        pd.testing.assert_frame_equal(
            _table(got)[["total_conversions", "total_null"]],
            _table(want)[["total_conversions", "total_null"]], check_dtype=False)
        assert got.value.sum() == pytest.approx(want.value.sum())
    # every touch is in exactly one journey
    assert got.touches.sum() == stitched_touches(ev, as_of).count().execute()


def _world(wh):
    from upmarket.demo.world import WorldConfig, generate_world

    cfg = WorldConfig(customers=300)
    for name, frame in generate_world(cfg):
        if name in ("events", "orders"):  # all that paths read
            ingest(name, frame, warehouse=wh)
    return cfg


def test_synthetic_world(wh):
    cfg = _world(wh)
    as_of, days = cfg.as_of, 30
    paths = touchpoint_paths(wh.table("events"), wh.table("orders"), as_of, days).to_pandas()
    assert len(paths) > 0 and paths.total_conversions.sum() > 0 and paths.total_null.sum() > 0

    # the same table from the independent pandas implementation
    want = _table(reference_journeys(wh.table("events").to_pandas(),
                                     wh.table("orders").to_pandas(), as_of, days))
    got = paths.set_index("path").sort_index()
    pd.testing.assert_frame_equal(got[["total_conversions", "total_null"]],
                                  want[["total_conversions", "total_null"]], check_dtype=False)
    assert got.total_conversion_value.to_numpy() == pytest.approx(
        want.total_conversion_value.to_numpy())
    # the world's pre-registration touches are stitched: first purchases have their
    # acquisition touch (without stitching most of them would have no path at all)
    touches = stitched_touches(wh.table("events"), as_of).to_pandas()
    ev = wh.table("events").to_pandas()
    anon = ev[ev.channel.notna() & ev.customer_id.isna() & (ev.ts < as_of)]
    assert touches.message_id.isin(anon.message_id).sum() > 0.5 * len(anon)

    j = journeys(wh.table("events"), wh.table("orders"), as_of, days).to_pandas()
    assert (j.touches == j.path.str.count(" > ") + 1).all()
    assert j.touches.sum() == len(touches)
    for model in ("last", "markov", "shapley"):
        res = attribute(paths, model)
        assert res.conversions.sum() == pytest.approx(paths.total_conversions.sum())


def test_paths_by_period_are_the_path_table_and_the_budgets_periods(wh):
    from upmarket.features.budget import period_paths
    from upmarket.features.paths import paths_by_period

    cfg = _world(wh)
    ev, od, as_of = wh.table("events"), wh.table("orders"), cfg.as_of
    by_period = paths_by_period(ev, od, as_of, "M", 30).to_pandas()
    # the open journeys have no period; each converting row has its conversions
    assert (by_period.loc[by_period.period.isna(), "total_conversions"] == 0).all()
    assert (by_period.loc[by_period.period.notna(), "total_null"] == 0).all()
    # summed over the periods: the path table
    cols = ["total_conversions", "total_conversion_value", "total_null"]
    summed = by_period.groupby("path")[cols].sum().sort_index()
    whole = touchpoint_paths(ev, od, as_of, 30).to_pandas().set_index("path").sort_index()
    pd.testing.assert_frame_equal(summed[["total_conversions", "total_null"]],
                                  whole[["total_conversions", "total_null"]], check_dtype=False)
    np.testing.assert_allclose(summed.total_conversion_value, whole.total_conversion_value,
                               rtol=1e-12)
    # its converting rows: the budget's paths per period
    conv = by_period[by_period.period.notna()].sort_values(["period", "path"], ignore_index=True)
    want = period_paths(ev, od, as_of, "M", 30).to_pandas()
    pd.testing.assert_frame_equal(conv[["period", "path", "total_conversions"]],
                                  want[["period", "path", "total_conversions"]], check_dtype=False)
    np.testing.assert_allclose(conv.total_conversion_value, want.total_conversion_value,
                               rtol=1e-12)
    # built in parts over the same stitched touches, the parts add up to the whole
    touches = stitched_touches(ev, as_of).cache()
    parts = pd.concat([paths_by_period(ev, od, as_of, "M", 30, touches=touches,
                                       part=(k, 3)).to_pandas() for k in range(3)])
    touches.release()
    again = parts.groupby(["period", "path"], dropna=False)[cols].sum()
    first = by_period.set_index(["period", "path"]).sort_index()
    again = again.sort_index()
    pd.testing.assert_frame_equal(again[["total_conversions", "total_null"]],
                                  first[["total_conversions", "total_null"]], check_dtype=False)


def test_parts_marked_once_are_the_parts_hashed_each_time(wh):
    from upmarket.features.paths import PART, conversions_until, in_parts, paths_by_period

    cfg = _world(wh)
    ev, od, as_of = wh.table("events"), wh.table("orders"), cfg.as_of
    touches, conv = stitched_touches(ev, as_of), conversions_until(od, as_of)
    marked_t, marked_c = in_parts(touches, conv, 3)
    marked_t, marked_c = marked_t.cache(), marked_c.cache()
    try:
        # ordered by part, and every row of a person in one part
        parts = marked_t.to_pandas()
        assert parts[PART].is_monotonic_increasing and set(parts[PART]) == {0, 1, 2}
        assert (parts.groupby("person")[PART].nunique() == 1).all()
        cols = ["total_conversions", "total_conversion_value", "total_null"]
        for k in range(3):
            hashed = paths_by_period(ev, od, as_of, "M", 30, touches=touches, conversions=conv,
                                     part=(k, 3)).to_pandas()
            marked = paths_by_period(ev, od, as_of, "M", 30, touches=marked_t,
                                     conversions=marked_c, part=(k, 3)).to_pandas()
            assert len(marked) > 0
            key = ["period", "path"]
            hashed = hashed.sort_values(key, ignore_index=True)
            marked = marked.sort_values(key, ignore_index=True)
            pd.testing.assert_frame_equal(marked[key + cols[::2]], hashed[key + cols[::2]])
            np.testing.assert_allclose(marked[cols[1]], hashed[cols[1]], rtol=1e-12)
    finally:
        marked_t.release()
        marked_c.release()
