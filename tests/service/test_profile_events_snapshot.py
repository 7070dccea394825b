"""A scored customer's ingested events come with the profiles snapshot: a profile read answers
the same events as the warehouse path does, without opening the warehouse, and events
collected after the publish still show at once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from upmarket.opstore import store as ops
from upmarket.service.app import create_app
from upmarket.warehouse import connect

T0 = datetime(2026, 5, 1, 9)


def _events() -> pd.DataFrame:
    rows = [("a1", "C001", "viewed", T0), ("a2", "C001", "carted", T0 + timedelta(hours=1)),
            ("a3", "C001", None, T0 + timedelta(hours=2))]
    # more than a snapshot keeps, so a long read must still list them all
    rows += [(f"b{i:02d}", "C002", f"step {i}", T0 + timedelta(minutes=i)) for i in range(15)]
    # two events at one instant: the order between them is the message id's, on both paths
    rows += [("c1", "C003", "x", T0), ("c2", "C003", "y", T0)]
    rows += [("z1", "someone-else", "viewed", T0)]  # not in the run
    return pd.DataFrame([{"message_id": m, "type": "track" if e else "page", "event": e,
                          "customer_id": c, "ts": ts, "properties": "{}"}
                         for m, c, e, ts in rows])


@pytest.fixture(scope="module")
def both(world, tmp_path_factory):
    """Two apps over the module's warehouse (with ingested events): one whose store holds no
    snapshot (the warehouse path), one whose store holds the run's snapshot."""
    wh = connect(world.warehouse)
    try:
        wh.insert("events", _events())
        snap_url = f"sqlite:///{tmp_path_factory.mktemp('snap')}/ops.sqlite"
        ops.publish_run_profiles(wh, url=snap_url)
    finally:
        wh.close()
    plain = create_app(f"sqlite:///{tmp_path_factory.mktemp('plain')}/ops.sqlite",
                       world.warehouse, rate=1000, burst=1000)
    snap = create_app(snap_url, world.warehouse, rate=1000, burst=1000)
    keys = [ops.create_key(a.state.store, "reader", ["read", "collect"])[1] for a in (plain, snap)]
    with TestClient(plain) as a, TestClient(snap) as b:
        yield (a, keys[0], plain), (b, keys[1], snap)


def _events_of(client, key, customer_id, n=None):
    path = f"/v1/customers/{customer_id}" + (f"?events={n}" if n else "")
    r = client.get(path, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    return r.json()["recent_events"], r.json()["events_from"]


def test_snapshot_answers_the_same_events_without_the_warehouse(both):
    (a, ka, _), (b, kb, snap) = both
    opened = snap.state.reads.opened
    for cid in ("C001", "C002", "C003", "C004"):
        before, src_a = _events_of(a, ka, cid)
        after, src_b = _events_of(b, kb, cid)
        assert after == before and src_a == src_b == ["collected", "ingested"]
    assert [e["message_id"] for e in _events_of(b, kb, "C003")[0]] == ["c2", "c1"]
    assert len(_events_of(b, kb, "C002")[0]) == 10
    # a long read of a customer with few events is whole in the snapshot too
    assert _events_of(b, kb, "C001", 50) == _events_of(a, ka, "C001", 50)
    assert snap.state.reads.opened == opened, "a scored customer's read opened the warehouse"


def test_a_long_read_of_a_customer_with_more_events_reads_the_warehouse(both):
    (a, ka, _), (b, kb, snap) = both
    before = _events_of(a, ka, "C002", 30)[0]
    assert [e["message_id"] for e in before] == [f"b{i:02d}" for i in range(14, -1, -1)]
    assert _events_of(b, kb, "C002", 30)[0] == before


def test_an_event_collected_after_the_publish_shows_first(both):
    _, (b, kb, _) = both
    r = b.post("/v1/track", headers={"Authorization": f"Bearer {kb}"},
               json={"userId": "C001", "event": "bought", "messageId": "new-1",
                     "timestamp": "2026-06-03T10:00:00Z"})
    assert r.status_code == 200, r.text
    shown = [e["message_id"] for e in _events_of(b, kb, "C001")[0]]
    assert shown == ["new-1", "a3", "a2", "a1"]
