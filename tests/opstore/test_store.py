"""The operational store, on SQLite and on a real PostgreSQL: idempotent event inserts,
identity stitching, API keys (hashed, constant-time verified, revocable), the audit log, and the
copy of collected events into the warehouse."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upmarket.activation import privacy
from upmarket.opstore import store as ops
from upmarket.opstore.audit import AuditWriter
from upmarket.opstore.schema import api_keys, event_inbox


def ev(mid: str, **kw) -> dict:
    return {"message_id": mid, "type": "track", "event": "click", "user_id": "u1", **kw}


def inbox_ids(store) -> list[str]:
    with store.engine.connect() as c:
        return [r[0] for r in c.execute(sa.select(event_inbox.c.message_id))]


def test_sqlite_is_durable_wal(tmp_path):
    s = ops.open_store(f"sqlite:///{tmp_path}/d.sqlite")
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    s.close()


def test_a_retried_message_is_stored_once(store):
    assert ops.insert_events(store, [ev("m1"), ev("m2")]) == 2
    assert ops.insert_events(store, [ev("m1"), ev("m3")]) == 1
    assert ops.insert_events(store, [ev("m4"), ev("m4", event="other")]) == 1
    assert sorted(inbox_ids(store)) == ["m1", "m2", "m3", "m4"]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.lists(st.integers(0, 12), max_size=6), min_size=1, max_size=6))
def test_any_sequence_of_retries_stores_each_message_once(store, requests):
    """However messages are split into requests and repeated, each distinct id is stored
    exactly once, and each request reports as new exactly the ids not seen before it."""
    run = uuid.uuid4().hex[:8]
    seen: set[int] = set()
    for req in requests:
        expected_new = len(set(req) - seen)
        got = ops.insert_events(store, [ev(f"{run}-{i}") for i in req])
        assert got == expected_new
        seen |= set(req)
    mine = [m for m in inbox_ids(store) if m.startswith(run)]
    assert sorted(mine) == sorted(f"{run}-{i}" for i in seen)


def test_identify_stitches_anonymous_events(store):
    ops.insert_events(store, [
        {"message_id": "a1", "type": "page", "event": "home", "anonymous_id": "anon-9",
         "ts": datetime(2026, 1, 1, 10)},
        {"message_id": "a2", "type": "identify", "user_id": "C42", "anonymous_id": "anon-9",
         "ts": datetime(2026, 1, 1, 11)},
    ])
    assert ops.resolve_user(store, "anon-9") == "C42"
    assert ops.resolve_user(store, "anon-unknown") is None
    recent = ops.recent_events(store, "C42")
    assert [e["message_id"] for e in recent] == ["a2", "a1"]  # newest first, anonymous included
    # a later identify re-links the same device to another user
    ops.insert_events(store, [{"message_id": "a3", "type": "identify", "user_id": "C43",
                               "anonymous_id": "anon-9", "ts": datetime(2026, 1, 2)}])
    assert ops.resolve_user(store, "anon-9") == "C43"


def test_keys_are_hashed_verified_and_revocable(store):
    record, key = ops.create_key(store, "tracker", ["collect"])
    other, key2 = ops.create_key(store, "analyst", ["read", "export", "read"])
    assert key.startswith(f"um_{record.prefix}_") and len(key) > 40
    assert other.scopes == {"read", "export"}
    with store.engine.connect() as c:
        stored = [dict(r._mapping) for r in c.execute(sa.select(api_keys))]
    assert not any(key in str(v) or key2 in str(v) for row in stored for v in row.values())
    assert ops.verify_key(store, key).id == record.id
    assert ops.verify_key(store, key2).allows("export") and not other.allows("admin")
    assert not ops.verify_key(store, key).allows("read")  # collect is write-only
    # the right prefix with a wrong secret, a truncated key, garbage: all refused
    assert ops.verify_key(store, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert ops.verify_key(store, key[:-5]) is None
    assert ops.verify_key(store, "um__x") is None and ops.verify_key(store, "nope") is None
    revoked = ops.revoke_key(store, record.id)
    assert revoked.revoked is not None
    assert ops.verify_key(store, key) is None
    assert ops.verify_key(store, key2) is not None
    assert [k.revoked is not None for k in ops.list_keys(store)] == [True, False]
    with pytest.raises(ops.UnknownKey, match="keys list"):
        ops.revoke_key(store, 999)
    with pytest.raises(ops.BadScope, match="collect, read, export, admin"):
        ops.create_key(store, "x", ["write"])


def test_admin_implies_every_scope():
    k = ops.ApiKey(1, "a", "p", frozenset({"admin"}), datetime(2026, 1, 1))
    assert all(k.allows(s) for s in ("collect", "read", "export", "admin"))
    e = ops.ApiKey(2, "e", "q", frozenset({"export"}), datetime(2026, 1, 1))
    assert e.allows("read") and not e.allows("collect") and not e.allows("admin")


def test_audit_goes_to_the_operational_store(store, monkeypatch):
    monkeypatch.setenv("UPMARKET_ACTOR", "auditor")
    privacy.audit(None, "export_actions", "/tmp/x.csv", store=store, rows=3)
    ops.write_audit(store, "key:1:web", "read_profile", "C1")
    log = ops.read_audit(store)
    assert list(log["action"]) == ["export_actions", "read_profile"]
    assert list(log["actor"]) == ["auditor", "key:1:web"]
    assert json.loads(log["detail"].iloc[0]) == {"rows": 3}


def test_profiles_snapshot_is_replaced_whole_and_read_by_key(store):
    import pandas as pd

    assert ops.profiles_run(store) is None and ops.read_profile(store, "C1") is None
    docs = [{"customer_id": f"C{i}", "tier": "core", "clv": i * 1.5, "name": "张三"}
            for i in range(2500)]
    frame = pd.DataFrame({"customer_id": [d["customer_id"] for d in docs], "doc": docs})
    assert ops.publish_profiles(store, frame, "r1", chunk=1000) == 2500
    assert ops.profiles_run(store) == "r1"
    assert ops.read_profile(store, "C7") == docs[7]  # JSON text round trip, non-ASCII kept
    # the next publish replaces what is served: C0 left the base
    assert ops.publish_profiles(store, frame.iloc[1:3], "r2") == 2
    assert ops.read_profile(store, "C0") is None and ops.read_profile(store, "C2") == docs[2]
    with pytest.raises(ops.StoreError, match="appears twice"):
        ops.publish_profiles(store, pd.concat([frame.iloc[:2], frame.iloc[:1]]), "r3")
    assert ops.profiles_run(store) == "r2"  # a refused publish leaves the previous snapshot
    # the previous snapshot is kept beside the current one, older ones are deleted
    assert ops.publish_profiles(store, frame.iloc[5:6], "r3") == 1
    with store.engine.connect() as c:
        held = c.exec_driver_sql("SELECT run_id, count(*) FROM profiles GROUP BY run_id "
                                 "ORDER BY run_id").all()
    assert [tuple(r) for r in held] == [("r2", 2), ("r3", 1)]
    assert list(ops.snapshots(store)["run_id"]) == ["r2", "r3"]
    assert ops.read_profile(store, "C2") is None and ops.read_profile(store, "C5") == docs[5]


def test_audit_writer_commits_every_record_before_answering(store):
    import threading

    writer = AuditWriter(store)
    futures, lock = [], threading.Lock()

    def reader(t: int):
        for i in range(50):
            f = writer.submit(f"key:{t}", "read_profile", f"C{t}-{i}")
            with lock:
                futures.append(f)
            f.result(10)

    threads = [threading.Thread(target=reader, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    log = ops.read_audit(store)
    assert sorted(log["subject"]) == sorted(f"C{t}-{i}" for t in range(4) for i in range(50))
    writer.add("late", "read_profile", "after-close")  # written directly once closed
    assert ops.read_audit(store)["subject"].iloc[-1] == "after-close"


def test_copy_events_to_warehouse(store, wh):
    ops.insert_events(store, [
        {"message_id": "e1", "type": "page", "event": "pricing", "anonymous_id": "anon-1",
         "ts": datetime(2026, 3, 1, 9), "properties": {"path": "/pricing"},
         "context": {"campaign": {"source": "newsletter", "medium": "email", "name": "spring"}}},
        {"message_id": "e2", "type": "identify", "user_id": "C7", "anonymous_id": "anon-1",
         "ts": datetime(2026, 3, 1, 10)},
        {"message_id": "e3", "type": "track", "event": "click", "user_id": "C8",
         "ts": datetime(2026, 3, 1, 11), "properties": {"channel": "sms", "campaign_id": "K1"}},
    ])
    reports = ops.copy_events_to_warehouse(store, wh)
    assert sum(r.accepted for r in reports if r.table == "events") == 3
    got = wh.table("events").order_by("message_id").to_pandas().set_index("message_id")
    assert list(got.index) == ["e1", "e2", "e3"]
    # the anonymous page view counts for the customer the device was identified as
    assert got.loc["e1", "customer_id"] == "C7" and got.loc["e1", "anonymous_id"] == "anon-1"
    assert (got.loc["e1", ["utm_source", "utm_medium", "utm_campaign", "channel"]].tolist()
            == ["newsletter", "email", "spring", "email"])
    assert json.loads(got.loc["e1", "properties"]) == {"path": "/pricing"}
    assert got.loc["e3", "channel"] == "sms" and got.loc["e3", "campaign_id"] == "K1"
    assert got.loc["e3", "ts"] == datetime(2026, 3, 1, 11)
    # copying again adds nothing; a new event is copied by the next sync
    assert ops.copy_events_to_warehouse(store, wh) == []
    ops.insert_events(store, [ev("e4", ts=datetime(2026, 3, 2))])
    again = ops.copy_events_to_warehouse(store, wh)
    assert [r.accepted for r in again] == [1] and wh.count("events") == 4


def test_identify_adds_new_customers_and_leaves_known_ones(store, wh):
    import pandas as pd

    from upmarket.warehouse.ingest import ingest

    ingest("customers", pd.DataFrame({"customer_id": ["C1"], "country": ["CN"],
                                      "email": ["old@example.com"]}), warehouse=wh)
    ops.insert_events(store, [
        {"message_id": "i1", "type": "identify", "user_id": "C2", "ts": datetime(2026, 3, 1),
         "properties": {"email": "li@example.com", "name": "李雷", "title": "engineer",
                        "birthday": "1990-05-02", "address": {"country": "CN"}},
         "context": {"campaign": {"medium": "email"}}},
        # a later identify of the same user updates traits, not the sign-up date
        {"message_id": "i2", "type": "identify", "user_id": "C2", "ts": datetime(2026, 3, 5),
         "properties": {"email": "lilei@example.com", "phone": "+86 138 0000 0000"}},
        {"message_id": "i3", "type": "identify", "user_id": "C1", "ts": datetime(2026, 3, 2),
         "properties": {"email": "new@example.com"}},
        ev("t1", user_id="C3", ts=datetime(2026, 3, 3)),  # a track alone makes no customer
    ])
    reports = ops.copy_events_to_warehouse(store, wh)
    by_table = {r.table: r for r in reports}
    assert by_table["customers"].accepted == 1 and by_table["customers"].duplicates_skipped == 1
    got = wh.table("customers").order_by("customer_id").to_pandas().set_index("customer_id")
    assert list(got.index) == ["C1", "C2"]
    assert got.loc["C1", "email"] == "old@example.com"  # the CRM's record is kept
    c2 = got.loc["C2"]
    assert (c2["email"], c2["name"], c2["phone"], c2["occupation"], c2["country"]) == (
        "lilei@example.com", "李雷", "+86 138 0000 0000", "engineer", "CN")
    assert c2["birth_year"] == 1990 and c2["acquisition_channel"] == "email"
    assert c2["created_at"] == datetime(2026, 3, 1)


def test_copy_is_safe_after_a_crash_before_marking(store, wh):
    """If the process died after the warehouse took the events but before they were marked,
    the next copy offers them again and the warehouse keeps one of each."""
    ops.insert_events(store, [ev("c1", ts=datetime(2026, 1, 1)), ev("c2", ts=datetime(2026, 1, 1))])
    ops.copy_events_to_warehouse(store, wh)
    with store.engine.begin() as c:
        c.execute(event_inbox.update().values(copied=False))
    reports = ops.copy_events_to_warehouse(store, wh)
    assert reports[0].duplicates_skipped == 2 and reports[0].accepted == 0
    assert wh.count("events") == 2


def test_bad_url_is_a_clear_error(tmp_path):
    with pytest.raises(ops.StoreError, match="UPMARKET_DATABASE"):
        ops.open_store("mysql+nosuchdriver://x/y")


def test_a_run_first_copies_what_the_service_collected(tmp_path, wh, monkeypatch):
    from types import SimpleNamespace

    from upmarket.pipeline import stage_collected_events

    ctx = SimpleNamespace(wh=wh, summary={}, store_url=None)
    monkeypatch.chdir(tmp_path)  # no store at the default place, none configured: no copy
    monkeypatch.delenv("UPMARKET_DATABASE", raising=False)
    stage_collected_events(ctx)
    assert ctx.summary == {} and not (tmp_path / "upmarket-ops.sqlite").exists()
    # configured but never served yet: the store is made, nothing to copy
    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{tmp_path}/fresh.sqlite")
    stage_collected_events(ctx)
    assert ctx.summary["collected_events"] == 0 and (tmp_path / "fresh.sqlite").exists()
    url = f"sqlite:///{tmp_path}/ops.sqlite"
    monkeypatch.setenv("UPMARKET_DATABASE", url)
    s = ops.open_store(url)
    ops.insert_events(s, [ev("r1", ts=datetime(2026, 1, 1)),
                          {"message_id": "r2", "type": "identify", "user_id": "N1",
                           "ts": datetime(2026, 1, 2)}])
    s.close()
    stage_collected_events(ctx)
    assert ctx.summary == {"collected_events": 2, "collected_customers": 1,
                           "collected_consents": 0, "copied_tasks": 0}
    assert wh.count("events") == 2 and wh.count("customers") == 1


def _docs(*ids: str):
    import pandas as pd

    return pd.DataFrame({"customer_id": list(ids), "doc": [{"customer_id": c} for c in ids]})


def test_a_written_snapshot_is_served_only_once_switched(store):
    ops.publish_profiles(store, _docs("A", "B"), "r1")
    assert ops.write_snapshot(store, _docs("B", "C"), "r2") == 2
    # written before the warehouse publishes r2: readers still get r1 whole
    assert ops.profiles_run(store) == "r1" and ops.read_profile(store, "A") is not None
    assert ops.read_profile(store, "C") is None
    ops.switch_snapshot(store, "r2")
    assert ops.profiles_run(store) == "r2" and ops.read_profile(store, "A") is None
    with pytest.raises(ops.StoreError, match="no complete profiles snapshot of run 'r9'"):
        ops.switch_snapshot(store, "r9")
    assert ops.profiles_run(store) == "r2"


def test_the_store_is_realigned_with_the_warehouse_current_run(store):
    ops.publish_profiles(store, _docs("A"), "r1")
    ops.write_snapshot(store, _docs("A", "B"), "r2")
    # killed after the warehouse published r2, before the switch: the next opener repairs
    assert ops.align_snapshot(store, "r2") == "r2" and ops.read_profile(store, "B") is not None
    assert ops.align_snapshot(store, "r2") == "r2"
    # the warehouse's current run has no snapshot here: serve none rather than another run
    assert ops.align_snapshot(store, "r3") is None
    assert ops.profiles_run(store) is None and ops.read_profile(store, "A") is None
    # a run that failed after writing its snapshot leaves nothing behind
    ops.write_snapshot(store, _docs("Z"), "r4")
    ops.discard_snapshot(store, "r4")
    assert "r4" not in set(ops.snapshots(store)["run_id"])


def test_a_profiles_table_of_the_earlier_layout_is_replaced(store):
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE profiles")
        conn.exec_driver_sql("CREATE TABLE profiles (customer_id VARCHAR(200) PRIMARY KEY, "
                             "run_id VARCHAR(64) NOT NULL, doc TEXT NOT NULL)")
        conn.exec_driver_sql("INSERT INTO profiles VALUES ('A', 'old', '{}')")
    assert ops.profiles_run(store) is None and ops.read_profile(store, "A") is None
    ops.publish_profiles(store, _docs("A"), "r1")
    ops.publish_profiles(store, _docs("A"), "r2")  # one customer in two runs' snapshots
    with store.engine.connect() as conn:
        held = conn.execute(sa.text("SELECT run_id FROM profiles ORDER BY run_id")).scalars()
        assert list(held) == ["r1", "r2"]
    assert ops.read_profile(store, "A") == {"customer_id": "A"}
