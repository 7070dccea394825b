"""Touchpoint paths as an Ibis feature: a hand-made warehouse and the synthetic world."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from upmarket.features.paths import journeys, touchpoint_paths
from upmarket.models.attribution import attribute
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.schema import TABLES

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
    # o3 (c1, Jan 5): only sms (Jan 4 12:00), after o1; o2 (c2, Jan 8): email, search (the tv
    # touch of Nov 1 is outside 30 days); o4 (c4) has no touch: no path.
    # Open journeys: c1's email of Jan 20 (the null-channel event is not a touch), c3's display.
    assert got.to_dict("index") == {
        "display": {"total_conversions": 0, "total_conversion_value": 0.0, "total_null": 1},
        "email": {"total_conversions": 0, "total_conversion_value": 0.0, "total_null": 1},
        "email > search": {"total_conversions": 1, "total_conversion_value": 7.0,
                           "total_null": 0},
        "search > social > email": {"total_conversions": 1, "total_conversion_value": 15.0,
                                    "total_null": 0},
        "sms": {"total_conversions": 1, "total_conversion_value": 3.0, "total_null": 0},
    }
    # a shorter lookback drops the early touches; as_of hides later orders and events
    short = touchpoint_paths(tiny.table("events"), tiny.table("orders"), AS_OF,
                             lookback_days=2).to_pandas()
    # o1: [Jan 2, Jan 4) keeps social (on the boundary) and email; o2: only search of Jan 6;
    # the open journeys' touches are all before Jan 30
    assert set(short.path) == {"social > email", "search", "sms"}
    early = touchpoint_paths(tiny.table("events"), tiny.table("orders"),
                             datetime(2025, 1, 3, 12)).to_pandas()
    assert early.to_dict("records") == [{"path": "search > social > email",
                                         "total_conversions": 0, "total_conversion_value": 0.0,
                                         "total_null": 1}]
    # the table feeds the attribution models directly
    res = attribute(got.reset_index(), "markov")
    assert res.conversions.sum() == pytest.approx(3)


def _world(wh):
    from upmarket.demo.world import WorldConfig, generate_world

    cfg = WorldConfig(customers=300)
    for name, frame in generate_world(cfg):
        if name in TABLES:
            ingest(name, frame, warehouse=wh)
    return cfg


def test_synthetic_world(wh):
    cfg = _world(wh)
    as_of, days = cfg.as_of, 30
    paths = touchpoint_paths(wh.table("events"), wh.table("orders"), as_of, days).to_pandas()
    assert len(paths) > 0 and paths.total_conversions.sum() > 0

    # independent count in pandas: paid orders with >= 1 touch in the window
    o = wh.table("orders").to_pandas()
    o = o[(o.status == "paid") & (o.line_kind == "product") & (o.ts < as_of)]
    conv = o.groupby(["customer_id", "order_id"], as_index=False).agg(ts=("ts", "min"))
    conv = conv.sort_values(["customer_id", "ts", "order_id"])
    conv["prev"] = conv.groupby("customer_id").ts.shift()
    e = wh.table("events").to_pandas()
    e = e[e.channel.notna() & (e.channel.str.strip() != "") & e.customer_id.notna()
          & (e.ts < as_of)]
    m = conv.merge(e[["customer_id", "ts"]], on="customer_id", suffixes=("", "_e"))
    m = m[(m.ts_e < m.ts) & (m.ts_e >= m.ts - timedelta(days=days))
          & (m.prev.isna() | (m.ts_e > m.prev))]
    expected = m[["customer_id", "order_id"]].drop_duplicates()
    assert paths.total_conversions.sum() == len(expected)

    j = journeys(wh.table("events"), wh.table("orders"), as_of, days).to_pandas()
    assert (j.touches == j.path.str.count(" > ") + 1).all()
    for model in ("last", "markov", "shapley"):
        res = attribute(paths, model)
        assert res.conversions.sum() == pytest.approx(len(expected))
