"""The exposure → click → register → purchase funnel as an Ibis feature."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from upmarket.features.funnels import (ALL_CHANNELS, funnel, funnel_of_users, funnel_users,
                                      stitched_events)
from upmarket.warehouse.ingest import ingest

AS_OF = datetime(2025, 2, 1)


@pytest.fixture
def tiny(wh):
    rows = [  # message, type, event, customer, device, ts, channel
        # p1: an old customer (registered in 2024) who sees, clicks and buys through search
        ("m01", "identify", "register", "c1", "d1", "2024-06-01", None),
        ("m02", "track", "ad_impression", "c1", "d1", "2025-01-10", "search"),
        ("m03", "track", "click", "c1", "d1", "2025-01-11", "search"),
        ("m04", "track", "ad_impression", "c1", "d1", "2025-01-20", "social"),
        # p2: an anonymous device that clicks, registers as c2 and buys: a new customer
        ("m05", "track", "ad_impression", None, "d2", "2025-01-05", "search"),
        ("m06", "track", "click", None, "d2", "2025-01-06", "search"),
        ("m07", "identify", "register", "c2", "d2", "2025-01-07", None),
        # p3: clicks, never registers
        ("m08", "track", "ad_impression", None, "d3", "2025-01-05", "search"),
        ("m09", "track", "click", None, "d3", "2025-01-06 10:00", "search"),
        # p4: a click with no logged impression; bought before clicking, not after
        ("m10", "track", "click", "c4", "d4", "2025-01-03", "social"),
        # outside the 90-day window, and at as_of: not counted
        ("m11", "track", "ad_impression", "c6", "d6", "2024-10-01", "search"),
        ("m12", "track", "ad_impression", "c7", "d7", "2025-02-01", "search"),
        # a click is an exposure as well, and counts for its own channel only
        ("m13", "track", "click", None, "d3", "2025-01-07", "email"),
    ]
    events = pd.DataFrame(rows, columns=["message_id", "type", "event", "customer_id",
                                         "anonymous_id", "ts", "channel"])
    events["ts"] = pd.to_datetime(events["ts"], format="ISO8601")
    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o4", "o6"], "line_no": 0,
        "customer_id": ["c1", "c2", "c4", "c6"],
        "ts": pd.to_datetime(["2025-01-12", "2025-01-08", "2025-01-02", "2025-01-15"]),
        "quantity": 1.0, "amount": [10.0, 20.0, 30.0, 40.0],
    })
    ingest("events", events, warehouse=wh)
    ingest("orders", orders, warehouse=wh)
    return wh


def test_steps_by_hand(tiny):
    got = funnel(tiny.table("events"), tiny.table("orders"), AS_OF, 90).to_pandas()
    assert got.channel.tolist() == ["email", "search", "social", ALL_CHANNELS]
    got = got.set_index("channel")
    cols = ["exposed", "clicked", "registered", "purchased", "new_registrations"]
    assert got.loc["search", cols].tolist() == [3, 3, 2, 2, 1]
    # p4 held an account (bought on Jan 2) before the click, but bought nothing after it
    assert got.loc["social", cols].tolist() == [2, 1, 1, 0, 0]
    assert got.loc["email", cols].tolist() == [1, 1, 0, 0, 0]
    assert got.loc[ALL_CHANNELS, cols].tolist() == [4, 4, 3, 2, 1]
    s = got.loc["search"]
    assert s.click_rate == 1.0 and s.register_rate == pytest.approx(2 / 3)
    assert s.purchase_rate == 1.0 and s.overall_rate == pytest.approx(2 / 3)
    assert pd.isna(got.loc["email", "purchase_rate"])  # nobody registered: no rate


def test_people_are_stitched_and_the_window_moves(tiny):
    users = funnel_users(tiny.table("events"), tiny.table("orders"), AS_OF, 90).to_pandas()
    p2 = users[(users.user_id == "c2") & (users.channel == "search")].iloc[0]
    assert p2.exposed_ts == pd.Timestamp("2025-01-05") and p2.new_registration
    assert p2.registered_ts == pd.Timestamp("2025-01-07")
    assert p2.purchased_ts == pd.Timestamp("2025-01-08")
    assert "anon:d3" in set(users.user_id)
    # before d2 identified itself it is still anonymous
    early = stitched_events(tiny.table("events"), datetime(2025, 1, 7)).to_pandas()
    assert set(early.user_id[early.anonymous_id == "d2"]) == {"anon:d2"}
    # a 20-day window keeps only the social impression of Jan 20 and the clicks after Jan 12
    short = funnel(tiny.table("events"), tiny.table("orders"), AS_OF, 20).to_pandas()
    assert short.set_index("channel").loc["social", "exposed"] == 1


def test_synthetic_world_counts_nest(wh):
    from upmarket.demo.world import WorldConfig, generate_world

    cfg = WorldConfig(customers=300, seed=2)
    for name, frame in generate_world(cfg):
        if name in ("events", "orders"):
            ingest(name, frame, warehouse=wh)
    got = funnel(wh.table("events"), wh.table("orders"), cfg.as_of, 120).to_pandas()
    steps = got[["exposed", "clicked", "registered", "purchased"]].to_numpy()
    assert (steps[:, :-1] >= steps[:, 1:]).all() and steps[-1, 0] > 0
    per = got[got.channel != ALL_CHANNELS]
    total = got[got.channel == ALL_CHANNELS].iloc[0]
    for col in ("exposed", "clicked", "registered", "purchased"):
        assert per[col].max() <= total[col] <= per[col].sum()
    # exposed people per channel, counted independently from the raw events
    e = wh.table("events").to_pandas()
    e = e[(e.ts >= cfg.as_of - timedelta(days=120)) & (e.ts < cfg.as_of) & e.channel.notna()]
    allev = wh.table("events").to_pandas()
    allev = allev[allev.ts < cfg.as_of].dropna(subset=["customer_id", "anonymous_id"])
    device = allev.groupby("anonymous_id").customer_id.min()
    person = e.customer_id.fillna(e.anonymous_id.map(device)).fillna("anon:" + e.anonymous_id)
    expected = e.assign(p=person).groupby("channel").p.nunique()
    assert per.set_index("channel").exposed.to_dict() == expected.to_dict()


def test_the_funnel_of_its_people_built_once_is_the_funnel(tiny):
    ev, od = tiny.table("events"), tiny.table("orders")
    users = funnel_users(ev, od, AS_OF, 90).cache()
    try:
        got = funnel_of_users(users).to_pandas()
    finally:
        users.release()
    pd.testing.assert_frame_equal(got, funnel(ev, od, AS_OF, 90).to_pandas())
    # the click at or after the exposure: the person's first click through the channel
    people = funnel_users(ev, od, AS_OF, 90).to_pandas().set_index(["user_id", "channel"])
    assert people.loc[("anon:d3", "search"), "clicked_ts"] == pd.Timestamp("2025-01-06 10:00")
    assert people.loc[("c4", "social"), "clicked_ts"] == pd.Timestamp("2025-01-03")
    assert pd.isna(people.loc[("c1", "social"), "clicked_ts"])
