"""The service over HTTP: collection (idempotent, gzip, 400 naming the field, 413), access
control (401/403/429), profiles in en/zh, consent-filtered segment members, audit records."""

from __future__ import annotations

import base64
import gzip
import json
import time

import pandas as pd
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.activation import privacy
from upmarket.opstore import store as ops
from upmarket.opstore.schema import event_inbox
from upmarket.service.app import TokenBuckets, _key_from_header, create_app
from upmarket.service.profiles import lang_of


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def inbox(store) -> pd.DataFrame:
    with store.engine.connect() as c:
        return pd.read_sql(sa.select(event_inbox), c)


# -- collection ------------------------------------------------------------------------------
def test_same_message_id_twice_is_one_row(service):
    client, store, keys = service
    body = {"userId": "C001", "event": "Order Completed", "messageId": "msg-1",
            "properties": {"revenue": 12.5}, "timestamp": "2026-05-01T10:00:00+08:00"}
    first = client.post("/v1/track", json=body, headers=bearer(keys.collect))
    again = client.post("/v1/track", json=body, headers=bearer(keys.collect))
    assert first.status_code == again.status_code == 200
    assert (first.json()["stored"], again.json()["stored"]) == (1, 0)
    rows = inbox(store)
    assert list(rows["message_id"]) == ["msg-1"]
    assert rows["ts"].iloc[0] == pd.Timestamp("2026-05-01 02:00:00")  # stored as UTC
    # without a messageId, a retry of the same body is still one row (content hash)
    for _ in range(2):
        r = client.post("/v1/page", json={"anonymousId": "a-1", "name": "home"},
                        headers=bearer(keys.collect))
        assert r.status_code == 200
    assert len(inbox(store)) == 2


def test_gzip_batch_with_basic_auth(service):
    client, store, keys = service
    batch = {"batch": [{"type": "track", "userId": "C002", "event": "click", "messageId": f"b{i}"}
                       for i in range(5)] + [{"type": "identify", "userId": "C002",
                                              "anonymousId": "dev-2", "messageId": "b-id"}],
             "context": {"campaign": {"source": "wechat"}}}
    basic = base64.b64encode(f"{keys.collect}:".encode()).decode()  # Segment: key as username
    r = client.post("/v1/batch", content=gzip.compress(json.dumps(batch).encode()),
                    headers={"Authorization": f"Basic {basic}", "Content-Encoding": "gzip",
                             "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "received": 6, "stored": 6}
    rows = inbox(store).set_index("message_id")
    assert set(rows.index) == {"b0", "b1", "b2", "b3", "b4", "b-id"}
    ctx = rows.loc["b0", "context"]
    ctx = json.loads(ctx) if isinstance(ctx, str) else ctx
    assert ctx["campaign"]["source"] == "wechat"  # the batch context reaches every event
    assert ops.resolve_user(store, "dev-2") == "C002"


def test_validation_errors_are_400_naming_the_field(service):
    client, _, keys = service
    h = bearer(keys.collect)
    r = client.post("/v1/track", json={"userId": "C1"}, headers=h)
    assert r.status_code == 400 and r.json()["fields"] == ["event"]
    r = client.post("/v1/batch", json={"batch": [{"type": "track", "userId": "x", "event": "e"},
                                                 {"type": "track", "userId": "x", "event": ""}]},
                    headers=h)
    assert r.status_code == 400 and any(f.startswith("batch.1") and f.endswith("event")
                                        for f in r.json()["fields"]), r.json()
    r = client.post("/v1/track", json={"event": "e"}, headers=h)
    assert r.status_code == 400 and "userId or anonymousId" in r.json()["error"]
    r = client.post("/v1/track", json={"userId": "u", "event": "e", "timestamp": "yesterday"},
                    headers=h)
    assert r.status_code == 400 and r.json()["fields"] == ["timestamp"]
    r = client.post("/v1/track", content=b"{not json", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400
    r = client.post("/v1/track", content=b"plain", headers={**h, "Content-Encoding": "gzip"})
    assert r.status_code == 400 and r.json()["fields"] == ["Content-Encoding"]


def test_bodies_over_the_limit_are_413_also_when_gzipped(service):
    client, store, keys = service
    big = {"userId": "u", "event": "e", "properties": {"blob": "x" * 70_000}}
    r = client.post("/v1/track", json=big, headers=bearer(keys.collect))
    assert r.status_code == 413
    # 70 kB of x gzips to a few hundred bytes: the limit applies to what it inflates to
    packed = gzip.compress(json.dumps(big).encode())
    assert len(packed) < 64 * 1024
    r = client.post("/v1/track", content=packed, headers={
        **bearer(keys.collect), "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 413
    assert inbox(store).empty


# -- access control --------------------------------------------------------------------------
def test_missing_wrong_revoked_and_out_of_scope_keys_are_refused(service):
    client, store, keys = service
    ev = {"userId": "u", "event": "e"}
    assert client.get("/healthz").status_code == 200  # the one open route
    assert client.post("/v1/track", json=ev).status_code == 401
    assert client.post("/v1/track", json=ev, headers=bearer("um_0000_nope")).status_code == 401
    assert client.post("/v1/track", json=ev, headers={"Authorization": "Basic !!"}).status_code == 401
    forged = keys.collect[:-2] + ("zz" if not keys.collect.endswith("zz") else "yy")
    assert client.post("/v1/track", json=ev, headers=bearer(forged)).status_code == 401
    # collect is write-only; read cannot write
    assert client.get("/v1/kpis", headers=bearer(keys.collect)).status_code == 403
    assert client.post("/v1/track", json=ev, headers=bearer(keys.read)).status_code == 403
    assert client.get("/v1/kpis", headers=bearer(keys.admin)).status_code == 200
    ops.revoke_key(store, keys.ids["read"])
    r = client.get("/v1/kpis", headers=bearer(keys.read))
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    assert inbox(store).empty


def test_refusals_speak_the_language_the_client_prefers(service):
    client, _store, keys = service
    ev = {"userId": "u", "event": "e"}
    zh = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    plain = client.post("/v1/track", json=ev)
    chinese = client.post("/v1/track", json=ev, headers=zh)
    assert plain.status_code == chinese.status_code == 401
    assert plain.json()["error"].startswith("a valid API key is required")
    assert "需要有效的接口密钥" in chinese.json()["error"]
    scoped = client.get("/v1/kpis", headers={**bearer(keys.collect), **zh})
    assert scoped.status_code == 403
    # the scope names are API words and stay as they are; the sentence around them is Chinese
    assert scoped.json()["error"] == "此密钥没有 read 权限（已有：collect）"
    english = client.get("/v1/kpis", headers={**bearer(keys.collect), "Accept-Language": "fr"})
    assert english.json()["error"] == "this key lacks the read scope (it has: collect)"


def test_keyless_requests_are_limited_per_address_without_touching_keyed_ones(service):
    from upmarket.service.app import REFUSED_BURST, REFUSED_RATE

    client, store, keys = service
    ev = {"userId": "u", "event": "e"}
    codes, started = [], time.monotonic()
    while 429 not in codes and len(codes) < 10 * REFUSED_BURST:
        r = client.post("/v1/track", json=ev, headers=bearer(f"um_0000_guess{len(codes)}"))
        codes.append(r.status_code)
    elapsed = time.monotonic() - started
    # refused only once the burst (plus what refilled meanwhile) is spent, never before
    assert codes[-1] == 429 and set(codes[:-1]) == {401}
    assert REFUSED_BURST <= len(codes) - 1 <= REFUSED_BURST + REFUSED_RATE * elapsed + 1
    assert int(r.headers["Retry-After"]) >= 1
    assert client.post("/v1/track", json=ev, headers=bearer(keys.collect)).status_code == 200


def test_rate_limit_answers_429_with_retry_after(world, tmp_path):
    app = create_app(f"sqlite:///{tmp_path}/o.sqlite", world.warehouse, rate=0.5, burst=3)
    store = app.state.store
    _, key = ops.create_key(store, "k", ["collect"])
    _, other = ops.create_key(store, "k2", ["collect"])
    from fastapi.testclient import TestClient

    client = TestClient(app)
    codes = [client.post("/v1/track", json={"userId": "u", "event": "e", "messageId": f"m{i}"},
                         headers=bearer(key)) for i in range(5)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429, 429]
    assert int(codes[-1].headers["Retry-After"]) >= 1
    assert len(inbox(store)) == 3  # refused requests stored nothing
    # the limit is per key
    assert client.post("/v1/track", json={"userId": "u", "event": "e"},
                       headers=bearer(other)).status_code == 200


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.5, 50), burst=st.integers(1, 20),
       gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60))
def test_token_bucket_never_admits_more_than_burst_plus_rate_times_time(rate, burst, gaps):
    b = TokenBuckets(rate, burst)
    t, admitted = 0.0, 0
    for g in gaps:
        t += g
        wait = b.take("k", now=t)
        admitted += wait == 0
        assert admitted <= burst + rate * t + 1e-9
        if wait:  # the promised wait is enough
            assert b.take("k", now=t + wait + 1e-9) == 0
            admitted += 1
            t += wait + 1e-9


def test_authorization_header_forms():
    assert _key_from_header("Bearer um_a_b") == "um_a_b"
    assert _key_from_header("bearer  um_a_b ") == "um_a_b"
    assert _key_from_header("Basic " + base64.b64encode(b"um_a_b:").decode()) == "um_a_b"
    assert _key_from_header("Basic " + base64.b64encode(b":pw").decode()) is None
    assert _key_from_header("Token um_a_b") is None and _key_from_header(None) is None


# -- profiles ----------------------------------------------------------------------------------
def test_profile_in_english_and_chinese(service, world):
    client, store, keys = service
    client.post("/v1/identify", json={"userId": "C004", "anonymousId": "d4", "messageId": "i4"},
                headers=bearer(keys.collect))
    client.post("/v1/page", json={"anonymousId": "d4", "name": "pricing", "messageId": "p4",
                                  "timestamp": "2026-01-01T00:00:00Z"}, headers=bearer(keys.collect))
    en = client.get("/v1/customers/C004", headers=bearer(keys.read))
    zh = client.get("/v1/customers/C004", headers={**bearer(keys.read),
                                                   "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert en.status_code == zh.status_code == 200, en.text
    a, b = en.json(), zh.json()
    row = world.results.set_index("customer_id").loc["C004"]
    assert a["tier"] == row["tier"] and a["rfm_segment"] == row["rfm_segment"]
    assert a["clv"] == row["clv"] and a["churn_risk"] == row["churn_risk"]
    assert a["next_best_action"]["reason"] == "likely to move up to Premium 4"
    assert b["next_best_action"]["reason"] == "可能升级到 Premium 4"
    assert zh.headers["Content-Language"] == "zh-CN" and en.headers["Content-Language"] == "en"
    assert a["service_level"]["service"] != b["service_level"]["service"]
    assert a["consents"] == [{"channel": "email", "granted": True, "since": "2026-05-02T00:00:00"}]
    assert [e["message_id"] for e in a["recent_events"]] == ["i4", "p4"]  # stitched, newest first
    log = ops.read_audit(store)
    reads = log[log["action"] == "read_profile"]
    assert list(reads["subject"]) == ["C004", "C004"]
    assert reads["actor"].str.contains("read-key").all()
    assert client.get("/v1/customers/NOPE", headers=bearer(keys.read)).status_code == 404


def test_accept_language():
    assert lang_of("zh-CN,zh;q=0.9") == "zh-CN" and lang_of("zh-Hant") == "zh-CN"
    assert lang_of("en-US,zh;q=0.8") == "en" and lang_of("fr") == "en"
    assert lang_of("en;q=0.2, zh;q=0.7") == "zh-CN" and lang_of(None) == "en"
    assert lang_of("zh;q=nan") == "en"


def test_segments_and_kpis(service, world):
    client, _, keys = service
    segs = client.get("/v1/segments", headers=bearer(keys.read)).json()["segments"]
    rfm = {s["value"]: s["customers"] for s in segs if s["grouping"] == "rfm"}
    assert rfm == world.results["rfm_segment"].value_counts().to_dict()
    tiers = {s["name"]: s["customers"] for s in segs if s["grouping"] == "tier"}
    assert tiers == {f"tier.{k}": v for k, v in world.results["tier"].value_counts().items()}
    k = client.get("/v1/kpis", headers=bearer(keys.read)).json()
    assert k["kpis"] == {"repeat_rate": 0.25, "yearly_retention": 0.6}


def test_segment_members_are_consenting_pseudonymised_and_paginated(service, world):
    client, store, keys = service
    res = world.results
    for name, column, value in [("rfm.champions", "rfm_segment", "champions"),
                                ("tier.diamond", "tier", "diamond")]:
        expected = sorted(set(res.loc[res[column] == value, "customer_id"]) & world.consenting)
        got, offset = [], 0
        while offset is not None:
            page = client.get(f"/v1/segments/{name}/members",
                              params={"limit": 2, "offset": offset},
                              headers=bearer(keys.export)).json()
            assert len(page["members"]) <= 2 and page["total"] == len(expected)
            assert not page["pseudonymised"]
            got += page["members"]
            offset = page["next_offset"]
        assert got == expected  # complete, ordered, no overlap, nobody without consent
        assert {"C000", "C003", "C006"}.isdisjoint(got)
    # a read key sees pseudonyms: the same ones an export would use
    plain = client.get("/v1/segments/rfm.champions/members", headers=bearer(keys.read)).json()
    assert plain["pseudonymised"]
    expected = sorted(set(res.loc[res["rfm_segment"] == "champions", "customer_id"])
                      & world.consenting)
    from upmarket.warehouse import connect

    wh = connect(world.warehouse, create=False)
    key = privacy.pseudonym_key(wh)
    wh.close()
    assert plain["members"] == list(privacy.pseudonymise(pd.Series(expected), key))
    # by channel: only C001 consents to sms
    sms = client.get("/v1/segments/loyal/members", headers=bearer(keys.export))
    assert sms.status_code == 404
    sms = client.get("/v1/segments/rfm.loyal/members", params={"channel": "sms"},
                     headers=bearer(keys.export)).json()
    assert sms["members"] == ["C001"]
    log = ops.read_audit(store)
    assert {"export_segment_members", "read_segment_members"} <= set(log["action"])
    assert client.get("/v1/segments/rfm.nobody/members", headers=bearer(keys.read)).status_code == 404


# -- overload and missing data: retry, never lose --------------------------------------------
def test_a_locked_store_answers_503_with_retry_after(world, tmp_path, monkeypatch):
    """While another writer holds the SQLite lock past the busy timeout, the event is not
    acknowledged (503 + Retry-After), and the retry after the lock is released is stored."""
    import sqlite3

    from fastapi.testclient import TestClient

    monkeypatch.setattr(ops, "BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "o.sqlite"
    app = create_app(f"sqlite:///{path}", world.warehouse)
    _, key = ops.create_key(app.state.store, "k", ["collect"])
    client = TestClient(app)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    body = {"userId": "u", "event": "e", "messageId": "locked-1"}
    try:
        r = client.post("/v1/track", json=body, headers=bearer(key))
        assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert inbox(app.state.store).empty
    r = client.post("/v1/track", json=body, headers=bearer(key))
    assert r.status_code == 200 and r.json()["stored"] == 1


def test_reads_without_a_warehouse_or_run_are_503(tmp_path):
    from fastapi.testclient import TestClient

    from upmarket.warehouse import connect

    missing = create_app(f"sqlite:///{tmp_path}/a.sqlite", f"duckdb://{tmp_path}/none.duckdb")
    _, key = ops.create_key(missing.state.store, "k", ["read"])
    r = TestClient(missing).get("/v1/kpis", headers=bearer(key))
    assert r.status_code == 503 and "upmarket demo" in r.json()["error"]
    assert not (tmp_path / "none.duckdb").exists()  # reading never creates a warehouse
    connect(f"duckdb://{tmp_path}/empty.duckdb").close()
    empty = create_app(f"sqlite:///{tmp_path}/b.sqlite", f"duckdb://{tmp_path}/empty.duckdb")
    _, key = ops.create_key(empty.state.store, "k", ["read"])
    r = TestClient(empty).get("/v1/customers/C1", headers=bearer(key))
    assert r.status_code == 503 and "upmarket run" in r.json()["error"]
    assert "Retry-After" in r.headers
