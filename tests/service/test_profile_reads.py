"""The profile read's short way (`service.fast_profiles`) and the audit writer behind it: a
read answered before routing is the read the route answers, a key the route would refuse is
refused the same way (revocation at once, no token taken twice), and every read's audit record
is committed before its answer, in order, and none is lost on a burst or a clean shutdown."""

from __future__ import annotations

import asyncio
import sqlite3

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from upmarket.opstore import store as ops
from upmarket.opstore.audit import AuditWriter
from upmarket.service.app import create_app
from upmarket.service.fast_profiles import parse
from upmarket.warehouse import connect


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def snapshot(world, tmp_path_factory) -> str:
    """A store holding the snapshot of the world's current run (shared by the module)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('reads')}/ops.sqlite"
    wh = connect(world.warehouse)
    try:
        ops.publish_run_profiles(wh, url=url)
    finally:
        wh.close()
    return url


@pytest.fixture(scope="module")
def served(snapshot, world):
    app = create_app(snapshot, world.warehouse, rate=1e6, burst=10**6)
    store = app.state.store
    keys = {s: ops.create_key(store, s, [s])[1] for s in ("read", "collect", "export")}
    with TestClient(app) as client:
        yield client, store, keys


def audited(store) -> list[str]:
    return list(ops.read_audit(store)["subject"])


def test_the_short_way_answers_what_the_route_answers(served, world):
    client, store, keys = served
    for cid in world.results["customer_id"][:6]:
        for lang in ("en-US,en;q=0.9", "zh-CN,zh;q=0.9"):
            headers = {**bearer(keys["read"]), "Accept-Language": lang}
            short = client.get(f"/v1/customers/{cid}?events=5", headers=headers)
            # an extra query parameter is not a read the short way takes: the route answers
            routed = client.get(f"/v1/customers/{cid}?events=5&via=route", headers=headers)
            assert short.status_code == routed.status_code == 200
            assert short.json() == routed.json()
            for h in ("content-type", "content-language", "vary", "x-consents-as-of",
                      "content-security-policy", "x-frame-options", "cache-control"):
                assert short.headers.get(h) == routed.headers.get(h), h
    assert short.json()["next_best_action"]["reason"].startswith("可能升级")


def test_parse_takes_only_reads_within_the_routes_bounds():
    def scope(path="/v1/customers/C001", query=b"", headers=((b"authorization", b"Bearer k"),),
              method="GET"):
        return {"type": "http", "method": method, "path": path, "query_string": query,
                "headers": list(headers), "root_path": ""}

    assert parse(scope()) == ("Bearer k", "C001", "en", 10)
    assert parse(scope(query=b"events=100", headers=[
        (b"authorization", b"Bearer k"), (b"accept-language", b"zh-CN")])) == (
        "Bearer k", "C001", "zh-CN", 100)
    for refused in (scope(method="POST"), scope(path="/v1/customers/"),
                    scope(path="/v1/customers/" + "x" * 201), scope(path="/v1/customers/a/b"),
                    scope(query=b"events=0"), scope(query=b"events=101"),
                    scope(query=b"events=5&x=1"), scope(headers=()),
                    scope(headers=[(b"authorization", b"a"), (b"authorization", b"b")]),
                    scope(headers=[(b"authorization", b"a"),
                                   (b"accept-language", b"x" * 501)])):
        assert parse(refused) is None


def test_refused_keys_and_bad_parameters_are_answered_as_by_the_route(served, world, snapshot):
    client, store, keys = served
    cid = world.results["customer_id"].iloc[0]
    assert client.get(f"/v1/customers/{cid}").status_code == 401
    assert client.get(f"/v1/customers/{cid}", headers=bearer(keys["collect"])).status_code == 403
    assert client.get(f"/v1/customers/{cid}?events=0",
                      headers=bearer(keys["read"])).status_code == 400
    assert client.get("/v1/customers/" + "x" * 201,
                      headers=bearer(keys["read"])).status_code == 400
    missing = client.get("/v1/customers/NOBODY", headers=bearer(keys["read"]))
    assert missing.status_code == 404 and "NOBODY" in missing.json()["error"]
    assert missing.headers["x-content-type-options"] == "nosniff"
    # a key revoked by another process (its own connection) is refused by the next read
    record, key = ops.create_key(store, "soon revoked", ["read"])
    assert client.get(f"/v1/customers/{cid}", headers=bearer(key)).status_code == 200
    other = ops.open_store(snapshot)
    try:
        ops.revoke_key(other, record.id)
    finally:
        other.close()
    r = client.get(f"/v1/customers/{cid}", headers=bearer(key))
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers


def test_a_read_takes_one_token(world, snapshot):
    app = create_app(snapshot, world.warehouse, rate=0.001, burst=3)
    _, key = ops.create_key(app.state.store, "limited", ["read"])
    cid = world.results["customer_id"].iloc[1]
    with TestClient(app) as client:
        codes = [client.get(f"/v1/customers/{cid}", headers=bearer(key)).status_code
                 for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_every_read_is_audited_before_its_answer_even_in_a_burst(served, world):
    client, store, keys = served
    app = client.app
    ids = list(world.results["customer_id"])
    before = len(audited(store))

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            async def one(cid):
                r = await c.get(f"/v1/customers/{cid}", headers=bearer(keys["read"]))
                # committed before the answer: the record is there when the data is
                return r.status_code, cid in audited(store)[before:]
            return await asyncio.gather(*(one(cid) for cid in ids * 3))

    answers = asyncio.run(burst())
    assert answers == [(200, True)] * (3 * len(ids))
    got = audited(store)[before:]
    assert sorted(got) == sorted(ids * 3)


def test_audit_records_land_in_order_and_none_is_lost_on_shutdown(tmp_path, monkeypatch):
    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    # a long interval: most records are still queued when close() is called
    writer = AuditWriter(store, interval=0.5)

    async def readers():
        async def one(i):
            await writer.record("key:1:t", "read_profile", f"C{i:04d}")
        tasks = [asyncio.create_task(one(i)) for i in range(300)]  # queued in this order
        await asyncio.sleep(0)
        return tasks

    async def main():
        tasks = await readers()
        await asyncio.to_thread(writer.close)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    log = ops.read_audit(store)
    assert list(log["subject"]) == [f"C{i:04d}" for i in range(300)]
    assert log["ts"].is_monotonic_increasing and log["id"].is_monotonic_increasing
    writer.add("key:1:t", "read_profile", "after-close")  # written directly once closed
    assert audited(store)[-1] == "after-close"
    store.close()


def test_a_locked_store_fails_the_waiting_reads_as_sqlalchemy_does(tmp_path, monkeypatch):
    monkeypatch.setattr(ops, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "ops.sqlite"
    store = ops.open_store(f"sqlite:///{path}")
    writer = AuditWriter(store)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            writer.add("key:1:t", "read_profile", "C1")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    writer.add("key:1:t", "read_profile", "C2")  # the next batch, on a fresh connection
    writer.close()
    assert audited(store) == ["C2"]
    store.close()


def test_a_waiter_that_gives_up_stops_no_one_else(tmp_path):
    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    writer = AuditWriter(store, interval=0.3)
    writer.add("key:1:t", "read_profile", "first")  # the next commit waits out the interval
    gone = writer.submit("key:1:t", "read_profile", "left")
    assert gone.cancel()  # what asyncio.wrap_future does when its request is cancelled
    stayed = writer.submit("key:1:t", "read_profile", "stayed")
    stayed.result(10)
    writer.add("key:1:t", "read_profile", "later")
    writer.close()
    assert audited(store) == ["first", "left", "stayed", "later"]
    store.close()


def test_store_reads_use_one_connection_per_thread_and_process(tmp_path, monkeypatch):
    import threading

    from upmarket.opstore import read_connections

    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    record, key = ops.create_key(store, "reader", ["read"])
    here = store.readers.get()
    assert ops.verify_key(store, key) == record and store.readers.get() is here
    elsewhere = []
    t = threading.Thread(target=lambda: elsewhere.append(store.readers.get()))
    t.start()
    t.join()
    assert elsewhere[0] is not here
    # as in a child forked after the first read: its parent's connection is not used
    monkeypatch.setattr(read_connections.os, "getpid", lambda: -1)
    child = store.readers.get()
    assert child is not here and ops.verify_key(store, key) == record
    store.close()  # closes them all; a later read opens a new one
    assert ops.verify_key(store, key) == record and store.readers.get() is not child
    store.close()
