"""Profiles are live: a person the service has just met (through the official Segment Python
client) has a profile at once, marked not yet scored, with their traits, events and consents;
a scored customer's recent events include those ingested into the warehouse, each once."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pandas as pd
import pytest
import uvicorn
from segment.analytics import Client

from upmarket.i18n import label
from upmarket.opstore import store as ops
from upmarket.service.app import create_app
from upmarket.warehouse import connect

#: Events ingested into the warehouse for C004 (a customer of the world's run): w2 was also
#: collected by the service, so it is in both places.
INGESTED = [("w1", "viewed", datetime(2026, 5, 1, 9)), ("w2", "carted", datetime(2026, 5, 2, 9)),
            ("w3", "bought", datetime(2026, 5, 3, 9))]


@pytest.fixture(scope="module")
def served(world, tmp_path_factory):
    """`create_app` served by uvicorn on a free port (the Segment client speaks HTTP), over the
    module's warehouse with C004's ingested events added first."""
    wh = connect(world.warehouse)
    try:
        wh.insert("events", pd.DataFrame(
            [{"message_id": m, "type": "track", "event": e, "customer_id": "C004", "ts": ts,
              "properties": "{}"} for m, e, ts in INGESTED]))
    finally:
        wh.close()
    app = create_app(f"sqlite:///{tmp_path_factory.mktemp('live')}/ops.sqlite", world.warehouse,
                     rate=1000, burst=1000)
    keys = {s: ops.create_key(app.state.store, f"{s}-key", [s])[1] for s in ("collect", "read")}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", keys
    server.should_exit = True
    thread.join(10)


def _get(base, key, path, **headers):
    return httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {key}", **headers},
                     timeout=10)


def test_segment_client_new_user_has_a_profile_at_once(served):
    base, keys = served
    errors = []
    # the collect key is the write key, sent as Segment does: HTTP Basic, key as the username
    client = Client(keys["collect"], host=base, sync_mode=True, max_retries=0,
                    on_error=lambda e, batch: errors.append(e))
    start = datetime(2026, 6, 2, 8, tzinfo=timezone.utc)
    _, first = client.identify("new-7", {"name": "Lin Wei", "email": "lin@example.com",
                                         "plan": "trial"}, timestamp=start)
    sent = [first]
    for i in range(20):
        _, msg = client.track("new-7", "Product Viewed", {"sku": f"S{i}", "price": 10 + i},
                              timestamp=start + timedelta(minutes=i + 1))
        sent.append(msg)
    client.identify("new-7", {"plan": "pro"}, timestamp=start + timedelta(hours=1))
    client.flush()
    assert errors == []
    r = httpx.post(f"{base}/v1/consents",
                   headers={"Authorization": f"Bearer {keys['collect']}"},
                   json={"customer_id": "new-7", "purpose": "marketing", "channel": "email",
                         "granted": True, "ts": "2026-06-02T09:30:00Z"})
    assert r.status_code == 200, r.text

    got = _get(base, keys["read"], "/v1/customers/new-7?events=30")
    assert got.status_code == 200, got.text
    p = got.json()
    assert p["scored"] is False and p["status"] == "not_yet_scored"
    assert p["note"] == label("profile.not_yet_scored", "en")
    assert p["run_id"] is None and p["tier"] is None and p["next_best_action"] is None
    # traits merged across identify calls: the later plan wins, the rest stay
    assert p["traits"] == {"name": "Lin Wei", "email": "lin@example.com", "plan": "pro"}
    assert p["consents"] == [{"channel": "email", "granted": True,
                              "since": "2026-06-02T09:30:00"}]
    events = p["recent_events"]
    assert len(events) == 22 and events[0]["type"] == "identify"  # the second identify
    tracks = [e for e in events if e["event"] == "Product Viewed"]
    # every track call the client sent, newest first, under the client's own message ids
    assert [e["message_id"] for e in tracks] == [m["messageId"] for m in reversed(sent[1:])]
    assert events[-1]["message_id"] == first["messageId"]
    assert p["events_from"] == ["collected", "ingested"]

    zh = _get(base, keys["read"], "/v1/customers/new-7", **{"Accept-Language": "zh-CN"}).json()
    assert zh["note"] == label("profile.not_yet_scored", "zh-CN") != p["note"]
    assert len(zh["recent_events"]) == 10  # the default page


def test_scored_customer_events_include_ingested_ones_once(served):
    base, keys = served
    collect = {"Authorization": f"Bearer {keys['collect']}"}
    for body in ({"userId": "C004", "event": "carted", "messageId": "w2",
                  "timestamp": "2026-05-02T09:00:00Z"},
                 {"userId": "C004", "event": "opened email", "messageId": "s1",
                  "timestamp": "2026-05-04T09:00:00Z"}):
        assert httpx.post(f"{base}/v1/track", json=body, headers=collect).status_code == 200
    p = _get(base, keys["read"], "/v1/customers/C004").json()
    assert p["scored"] is True and p["status"] == "scored" and p["note"] is None
    assert p["tier"] is not None and p["run_id"] is not None
    assert [e["message_id"] for e in p["recent_events"]] == ["s1", "w3", "w2", "w1"]
    assert p["events_from"] == ["collected", "ingested"]


def test_someone_never_seen_is_404(served):
    base, keys = served
    r = _get(base, keys["read"], "/v1/customers/nobody-9")
    assert r.status_code == 404 and "has not seen them" in r.json()["error"]


def test_live_profile_before_any_warehouse(tmp_path):
    """A service collecting before anything was ingested or run still answers the people it
    has seen; someone it has not seen is told there is no run yet."""
    from fastapi.testclient import TestClient

    app = create_app(f"sqlite:///{tmp_path}/ops.sqlite", f"duckdb://{tmp_path}/none.duckdb")
    keys = {s: ops.create_key(app.state.store, s, [s])[1] for s in ("collect", "read")}
    with TestClient(app) as client:
        r = client.post("/v1/identify", json={"userId": "u1", "traits": {"name": "A"},
                                              "messageId": "i1"},
                        headers={"Authorization": f"Bearer {keys['collect']}"})
        assert r.status_code == 200
        read = {"Authorization": f"Bearer {keys['read']}"}
        p = client.get("/v1/customers/u1", headers=read).json()
        assert p["scored"] is False and p["traits"] == {"name": "A"}
        assert [e["message_id"] for e in p["recent_events"]] == ["i1"]
        assert p["events_from"] == ["collected"]  # no warehouse to read ingested ones from
        other = client.get("/v1/customers/u2", headers=read)
        assert other.status_code == 503 and "upmarket run" in other.json()["error"]
    assert not (tmp_path / "none.duckdb").exists()
