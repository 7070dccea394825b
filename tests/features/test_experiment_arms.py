"""Experiment inputs as Ibis features: a hand-made warehouse with every rule exercised, and the
synthetic world against an independent pandas computation.

(Named test_experiment_arms.py, not test_experiments.py: tests/ has no packages, so two test
modules may not share a basename; tests/models/test_experiments.py holds the statistics.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from upmarket.features.experiments import experiment_arms, experiment_users
from upmarket.models.experiments import ABTest
from upmarket.warehouse.ingest import ingest

AS_OF = datetime(2025, 3, 1)


@pytest.fixture
def tiny(wh):
    arm = '{{"arm": "{}"}}'.format
    rows = [  # message, type, event, customer, device, ts, properties, campaign
        ("m01", "track", "ad_impression", "c1", "d1", "2025-01-01", arm("A"), "K1"),
        ("m02", "track", "click", "c1", "d1", "2025-01-02", arm("B"), "K1"),
        # d2 is seen anonymously, then identifies as c2
        ("m03", "track", "ad_impression", None, "d2", "2025-01-05", arm("B"), "K1"),
        ("m04", "identify", "register", "c2", "d2", "2025-01-06", "{}", None),
        ("m05", "track", "click", "c3", "d3", "2025-02-20", arm("B"), "K1"),
        ("m06", "track", "ad_impression", None, "d4", "2025-01-20", arm("A"), "K1"),
        ("m07", "track", "ad_impression", "c5", "d5", "2025-01-10", '{"variant": "A"}', "K1"),
        # no arm, or unreadable properties: not an exposure, and no crash
        ("m08", "track", "ad_impression", "c6", "d6", "2025-01-11", "{}", "K1"),
        ("m09", "track", "ad_impression", "c6", "d6", "2025-01-12", "{broken", "K1"),
        ("m10", "track", "ad_impression", "c1", "d1", "2025-02-01", arm("control"), "K2"),
        # at as_of: not seen
        ("m11", "track", "ad_impression", "c7", "d7", "2025-03-01", arm("A"), "K1"),
        # same second as m01's user in K2 would tie: message id breaks it
        ("m12", "track", "ad_impression", "c8", "d8", "2025-02-02", arm("treat"), "K2"),
        ("m13", "track", "ad_impression", "c8", "d8", "2025-02-02", arm("control"), "K2"),
    ]
    events = pd.DataFrame(rows, columns=["message_id", "type", "event", "customer_id",
                                         "anonymous_id", "ts", "properties", "campaign_id"])
    events["ts"] = pd.to_datetime(events["ts"])
    orders = pd.DataFrame([  # order, line, customer, ts, amount, status, kind
        ("o1", 0, "c1", "2025-01-10", 100.0, "paid", "product"),
        ("o2", 0, "c1", "2025-02-15", 30.0, "paid", "product"),  # K1 window over; K2's in
        ("o3", 0, "c2", "2025-01-07", 50.0, "paid", "product"),
        ("o3", 1, "c2", "2025-01-07", 8.0, "paid", "postage"),  # not a product
        ("o4", 0, "c2", "2025-01-08", -50.0, "cancelled", "product"),
        ("o5", 0, "c3", "2025-03-05", 70.0, "paid", "product"),  # after as_of
        ("o6", 0, "c5", "2025-01-09", 20.0, "paid", "product"),  # before exposure
    ], columns=["order_id", "line_no", "customer_id", "ts", "amount", "status", "line_kind"])
    orders["ts"] = pd.to_datetime(orders["ts"])
    orders["quantity"] = 1.0
    ingest("events", events, warehouse=wh)
    ingest("orders", orders, warehouse=wh)
    return wh


def test_assignment_stitching_window_and_revenue(tiny):
    e, o = tiny.table("events"), tiny.table("orders")
    users = experiment_users(e, o, AS_OF, 30).to_pandas().set_index(["campaign_id", "user_id"])
    # c1: first exposure was A (the later B click does not move them), bought 100 in window
    assert users.loc[("K1", "c1")][["arm", "arms_seen", "converted", "revenue"]].tolist() == [
        "A", 2, True, 100.0]
    # d2 was anonymous when exposed and is c2 now: the later order counts, the postage and
    # the cancellation do not change revenue
    assert users.loc[("K1", "c2")][["customer_id", "arm", "converted", "revenue"]].tolist() == [
        "c2", "B", True, 50.0]
    assert users.loc[("K1", "c3"), "converted"] == False  # noqa: E712 (bought after as_of)
    assert users.loc[("K1", "anon:d4")][["arm", "converted"]].tolist() == ["A", False]
    assert pd.isna(users.loc[("K1", "anon:d4"), "customer_id"])
    assert users.loc[("K1", "c5")][["arm", "converted"]].tolist() == ["A", False]
    assert ("K1", "c6") not in users.index and ("K1", "c7") not in users.index
    assert users.loc[("K2", "c1")][["arm", "converted", "revenue"]].tolist() == [
        "control", True, 30.0]
    # tie on the timestamp: the smaller message id (m12) wins
    assert users.loc[("K2", "c8"), "arm"] == "treat"

    arms = experiment_arms(e, o, AS_OF, 30).to_pandas().set_index(["campaign_id", "arm"])
    assert arms.loc[("K1", "A")][["users", "converters", "revenue", "revenue_sq",
                                  "mixed_users"]].tolist() == [3, 1, 100.0, 10_000.0, 1]
    assert arms.loc[("K1", "B")][["users", "converters", "revenue", "mixed_users"]].tolist() == [
        2, 1, 50.0, 0]
    assert arms.loc[("K2", "treat"), "mixed_users"] == 1


def test_windows(tiny):
    e, o = tiny.table("events"), tiny.table("orders")
    # a 5-day window misses c1's order on day 9 after exposure
    short = experiment_users(e, o, AS_OF, 5).to_pandas().set_index(["campaign_id", "user_id"])
    assert not short.loc[("K1", "c1"), "converted"] and short.loc[("K1", "c2"), "converted"]
    # complete windows only: people first exposed after as_of − 30 days are left out
    done = experiment_users(e, o, AS_OF, 30, complete_windows=True).to_pandas()
    assert set(done.user_id[done.campaign_id == "K1"]) == {"c1", "c2", "anon:d4", "c5"}
    assert done[done.campaign_id == "K2"].empty
    # as_of hides what came later
    early = experiment_users(e, o, datetime(2025, 1, 6), 30).to_pandas()
    assert set(early.user_id) == {"c1", "anon:d2"}


def _world(wh):
    from upmarket.demo.world import WorldConfig, generate_world

    cfg = WorldConfig(customers=400, seed=5)
    for name, frame in generate_world(cfg):
        if name in ("events", "orders", "campaigns"):
            ingest(name, frame, warehouse=wh)
    return cfg


def _pandas_users(events: pd.DataFrame, orders: pd.DataFrame, as_of, days) -> pd.DataFrame:
    """The same rules written independently in pandas."""
    e = events[events.ts < as_of].copy()
    known = e.dropna(subset=["customer_id", "anonymous_id"])
    device = known.groupby("anonymous_id").customer_id.min()
    e["person"] = e.customer_id.fillna(e.anonymous_id.map(device))
    e["user_id"] = e.person.fillna("anon:" + e.anonymous_id)
    e["arm"] = e.properties.str.extract(r'"arm"\s*:\s*"([^"]*)"')[0]
    x = e[e.campaign_id.notna() & e.arm.notna()].sort_values(["ts", "message_id"])
    first = x.groupby(["campaign_id", "user_id"], as_index=False).first()
    seen = x.groupby(["campaign_id", "user_id"]).arm.nunique().rename("arms_seen")
    first = first.join(seen, on=["campaign_id", "user_id"])
    paid = orders[(orders.status == "paid") & (orders.line_kind == "product")
                  & (orders.ts < as_of)]
    m = first.merge(paid[["customer_id", "ts", "amount"]], left_on="person",
                    right_on="customer_id", suffixes=("", "_o"))
    m = m[(m.ts_o >= m.ts) & (m.ts_o < m.ts + timedelta(days=days))]
    rev = m.groupby(["campaign_id", "user_id"]).amount.sum()
    first["revenue"] = first.set_index(["campaign_id", "user_id"]).index.map(rev).fillna(0.0)
    first["converted"] = first.set_index(["campaign_id", "user_id"]).index.isin(rev.index)
    return first


def test_synthetic_world_matches_pandas(wh):
    cfg = _world(wh)
    as_of = cfg.as_of - timedelta(days=60)
    got = experiment_users(wh.table("events"), wh.table("orders"), as_of, 14).to_pandas()
    ref = _pandas_users(wh.table("events").to_pandas(), wh.table("orders").to_pandas(),
                        as_of, 14)
    assert len(got) == len(ref) > 50
    key = ["campaign_id", "user_id"]
    got, ref = got.set_index(key).sort_index(), ref.set_index(key).sort_index()
    assert (got.arm == ref.arm).all() and (got.arms_seen == ref.arms_seen).all()
    assert (got.converted == ref.converted).all()
    np.testing.assert_allclose(got.revenue, ref.revenue, rtol=1e-9)

    arms = experiment_arms(wh.table("events"), wh.table("orders"), as_of, 14).to_pandas()
    assert arms.users.sum() == len(ref) and arms.converters.sum() == ref.converted.sum()
    # the table is exactly what the model needs
    res = ABTest().fit(arms, wh.table("campaigns").to_pandas()).results_
    assert len(res) == arms.campaign_id.nunique()
    # a campaign seen in one arm only cannot be judged; every other gets a real verdict
    one_arm = arms.groupby("campaign_id")["arm"].nunique() == 1
    single = res["campaign_id"].isin(one_arm[one_arm].index)
    assert set(res[single].verdict) <= {"no_data"}
    assert set(res[~single].verdict) <= {"uplift", "drop", "no_difference", "inconclusive", "srm"}
