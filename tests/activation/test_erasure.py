"""A person's data: the export holds every row about them (checked against independent
queries), erasure leaves no trace of them in any table of the warehouse, the run outputs, the
quarantine or the operational store while revenue and order counts stay as they were, the
erased person is absent from exports, and the retention purge deletes exactly the old events.

Ids C1 … C12 on purpose: C1 is a prefix of C10, C11 and C12, so a substring match would take
their rows for C1's."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from upmarket.activation import erasure, privacy
from upmarket.activation.exports import export_actions
from upmarket.opstore import consents as oc
from upmarket.opstore import store as ops
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import Run

AS_OF = datetime(2026, 6, 1)
IDS = [f"C{i}" for i in range(1, 13)]
WHO = "C1"
DEVICE = "dev-1"
#: Personal values of C1 that must not survive erasure anywhere.
SECRETS = {WHO, DEVICE, "alice@example.com", "Alice Example", "+86 138 0000 0001",
           "I am Alice, call me", "10.1.2.3"}


def build(wh: Warehouse, store: ops.Store) -> None:
    """A small world through the real paths: ingestion (with quarantined rows), two
    published runs, and an operational store with events, identities, consents, a profile
    snapshot and audit records."""
    n = len(IDS)
    ingest("customers", pd.DataFrame({
        "customer_id": IDS, "created_at": [AS_OF - timedelta(days=300 - i) for i in range(n)],
        "country": "CN", "city_tier": "1", "gender": ["F", "M"] * (n // 2),
        "birth_year": [1980 + i for i in range(n)], "occupation": "engineer",
        "income_band": "20k-50k", "industry": "retail", "acquisition_channel": "wechat",
        "name": ["Alice Example"] + [f"Person {i}" for i in range(2, n + 1)],
        "email": ["alice@example.com"] + [f"p{i}@example.com" for i in range(2, n + 1)],
        "phone": ["+86 138 0000 0001"] + [None] * (n - 1)}), warehouse=wh)
    orders = []
    for i, cid in enumerate(IDS):
        for k in range(1 + i % 3):
            orders.append({"order_id": f"O{i}-{k}", "customer_id": cid, "sku": f"S{k}",
                           "ts": AS_OF - timedelta(days=10 + 20 * k + i), "quantity": 1 + k,
                           "unit_price": 10.0 * (i + 1)})
    # two rows that will be quarantined: one of C1, one of C10
    orders += [{"order_id": "BAD1", "customer_id": "C1", "sku": "S1", "ts": "not a date",
                "quantity": 1, "unit_price": 5.0},
               {"order_id": "BAD10", "customer_id": "C10", "sku": "S1", "ts": "not a date",
                "quantity": 1, "unit_price": 5.0}]
    rep = ingest("orders", pd.DataFrame(orders), warehouse=wh)
    assert rep.quarantined == 2
    ingest("payments", pd.DataFrame({
        "invoice_id": ["I1", "I10"], "customer_id": ["C1", "C10"], "amount": [100.0, 50.0],
        "issued": [AS_OF - timedelta(days=40)] * 2, "due": [AS_OF - timedelta(days=10)] * 2}),
        warehouse=wh)
    ingest("tickets", pd.DataFrame({
        "ticket_id": ["T1", "T2"], "customer_id": ["C1", "C11"],
        "opened": [AS_OF - timedelta(days=5)] * 2, "kind": "complaint",
        "text": ["I am Alice, call me", "late delivery"]}), warehouse=wh)
    ingest("feedback", pd.DataFrame({
        "id": ["F1", "F2"], "customer_id": ["C1", "C12"], "ts": [AS_OF - timedelta(days=3)] * 2,
        "nps_score": [9, 3], "text": ["I am Alice, call me", "meh"]}), warehouse=wh)
    ev = [{"message_id": f"E{i}", "type": "track", "event": "click", "customer_id": cid,
           "anonymous_id": DEVICE if cid == WHO else f"dev-{cid}", "channel": "email",
           "ts": AS_OF - timedelta(days=i + 1), "properties": json.dumps({"ip": "10.1.2.3"}
                                                                         if cid == WHO else {})}
          for i, cid in enumerate(IDS)]
    # the device browsed before the customer identified: no customer_id on these
    ev += [{"message_id": "E-anon", "type": "page", "event": "home", "customer_id": None,
            "anonymous_id": DEVICE, "ts": AS_OF - timedelta(days=30), "properties": "{}"}]
    ingest("events", pd.DataFrame(ev), warehouse=wh)
    ingest("consents", pd.DataFrame({
        "customer_id": IDS, "purpose": "marketing", "channel": "email", "granted": True,
        "ts": AS_OF - timedelta(days=60), "source": "signup"}), warehouse=wh)

    o = wh.table("orders").to_pandas()
    revenue = o.groupby("customer_id")["amount"].sum()
    results = pd.DataFrame({"customer_id": IDS, "tier": ["diamond", "core", "potential",
                                                         "basic"] * (n // 4),
                            "rfm_segment": "loyal", "net_revenue": revenue.reindex(IDS).values,
                            "action_reason": [f"likely to upgrade ({c})" for c in IDS]})
    actions = pd.DataFrame({
        "customer_id": IDS, "tier": results["tier"], "action": "upsell", "offer_type": "coupon",
        "offer_value": 5.0, "sku": "S9", "product_name": "Premium", "route": "campaign",
        "channel": "email", "send_hour": 9, "due_hours": 48.0, "probability": 0.2,
        "expected_value": 3.0, "reason_en": "move up", "reason_zh": "升级"})
    for as_of in (AS_OF - timedelta(days=30), AS_OF):  # an older run and the current one
        run = Run(wh, as_of)
        run.write("results", results)
        run.write("actions", actions)
        run.publish({})

    ops.insert_events(store, [
        {"message_id": "m1", "type": "page", "event": "pricing", "anonymous_id": DEVICE,
         "ts": AS_OF, "properties": {"path": "/pricing"}, "context": {"ip": "10.1.2.3"}},
        {"message_id": "m2", "type": "identify", "user_id": WHO, "anonymous_id": DEVICE,
         "ts": AS_OF, "properties": {"email": "alice@example.com", "name": "Alice Example"}},
        {"message_id": "m3", "type": "track", "event": "click", "user_id": "C10", "ts": AS_OF}])
    oc.record_consents(store, [{"customer_id": WHO, "purpose": "marketing", "channel": "sms",
                                "granted": True}])
    ops.write_audit(store, "analyst", "read_profile", WHO)
    ops.write_audit(store, "analyst", "read_profile", "C10")
    ops.publish_run_profiles(wh, url=store.url)


@pytest.fixture
def world(wh, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/ops.sqlite"
    monkeypatch.setenv("UPMARKET_DATABASE", url)  # exports' audit and consent reads
    monkeypatch.setenv("UPMARKET_ACTOR", "dpo")
    store = ops.open_store(url)
    build(wh, store)
    yield wh, store
    store.close()


def base_tables(wh) -> list[str]:
    """Written independently of the code under test: DuckDB's own catalogue."""
    return [r[0] for r in wh.backend.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]


def columns(wh, table: str) -> list[str]:
    return [r[0] for r in wh.backend.con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]).fetchall()]


def mentions(value, needles) -> set[str]:
    text = value if isinstance(value, str) else json.dumps(value, default=str,
                                                          ensure_ascii=False)
    return {n for n in needles
            if re.search(rf"(?<![A-Za-z0-9_\-]){re.escape(n)}(?![A-Za-z0-9_\-])", text)}


def scan(wh, store, needles) -> list[str]:
    """Every cell of every stored warehouse table and view (not this session's temporary
    in-memory views) and every store table that names one of `needles`, as a value or as a
    word of a text."""
    hits = []
    names = [r[0] for r in wh.backend.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary UNION ALL "
        "SELECT view_name FROM duckdb_views() WHERE NOT temporary AND NOT internal").fetchall()]
    for name in names:
        frame = wh.backend.con.execute(f'SELECT * FROM "{name}"').fetchdf()
        for col in frame.columns:
            for v in frame[col].dropna().unique():
                hits += [f"{name}.{col}: {n}" for n in mentions(str(v), needles)]
    with store.engine.connect() as conn:
        for t in sa.inspect(store.engine).get_table_names():
            for r in conn.execute(sa.text(f'SELECT * FROM "{t}"')).mappings():
                hits += [f"{t}.{k}: {n}" for k, v in r.items() if v is not None
                         for n in mentions(v, needles)]
    return hits


def test_export_holds_every_row_about_the_person(world):
    wh, store = world
    doc = erasure.export_person(wh, store, WHO)
    assert doc["devices"] == [DEVICE]
    run_tables = {t for t in base_tables(wh) if re.search(r"__\d{14}_[0-9a-f]{6}$", t)}
    current = privacy_run_id(wh)
    expected_wh, expected_run = {}, {}
    for t in base_tables(wh):
        cols = columns(wh, t)
        if "customer_id" not in cols:
            continue
        where = "customer_id = ?" + (" OR anonymous_id = ?" if "anonymous_id" in cols else "")
        params = [WHO, DEVICE] if "anonymous_id" in cols else [WHO]
        n = wh.backend.con.execute(f'SELECT count(*) FROM "{t}" WHERE {where}',
                                   params).fetchone()[0]
        if not n:
            continue
        if t not in run_tables:
            expected_wh[t] = n
        elif t.endswith(current):
            expected_run[t.rsplit("__", 1)[0]] = n
    assert {k: len(v) for k, v in doc["warehouse"].items()} == expected_wh
    assert {k: len(v) for k, v in doc["run"]["outputs"].items()} == expected_run
    assert set(expected_wh) >= {"customers", "orders", "payments", "service_tickets", "events",
                                "feedback", "consents"}
    assert len(doc["warehouse"]["events"]) == 2  # their own and the device's anonymous one
    assert [json.loads(q["raw"])["order_id"] for q in doc["quarantine"]] == ["BAD1"]
    assert doc["warehouse"]["customers"][0]["email"] == "alice@example.com"
    assert {k: len(v) for k, v in doc["opstore"].items()} == {
        "event_inbox": 2, "identities": 1, "consents": 1, "profiles": 1, "audit_log": 1}
    # nothing about anyone else: every row names the person or their device
    for section in (doc["warehouse"], doc["run"]["outputs"], doc["opstore"]):
        for rows in section.values():
            assert all(mentions(r, {WHO, DEVICE}) for r in rows)
    log = ops.read_audit(store)
    last = log.iloc[-1]
    assert (last["action"], last["subject"], last["actor"]) == ("export_person", WHO, "dpo")
    assert json.loads(last["detail"])["rows"] == doc["rows"] > 0


def privacy_run_id(wh) -> str:
    from upmarket.warehouse.runs import current_run

    return current_run(wh)["run_id"]


def test_erasure_leaves_no_trace_and_keeps_the_figures(world, tmp_path):
    wh, store = world
    orders = wh.table("orders").to_pandas()
    c10 = {t: wh.backend.con.execute(f'SELECT * FROM "{t}" WHERE customer_id = ? ORDER BY ALL',
                                     ["C10"]).fetchdf()
           for t in ("orders", "customers", "payments", "consents")}
    quarantined = wh.count("quarantine")
    assert scan(wh, store, SECRETS)  # the scan does find them before

    report = erasure.erase_person(wh, store, WHO)

    token = report.token
    assert re.fullmatch(r"erased_[0-9a-f]{32}", token)
    assert scan(wh, store, SECRETS) == []
    after = wh.table("orders").to_pandas()
    assert len(after) == len(orders) and after["amount"].sum() == pytest.approx(
        orders["amount"].sum())
    # per-customer figures still add up: the token has exactly what C1 had, in every run
    assert after.loc[after["customer_id"] == token, "amount"].sum() == pytest.approx(
        orders.loc[orders["customer_id"] == WHO, "amount"].sum())
    for t in base_tables(wh):
        if t.startswith("results__"):
            n = wh.backend.con.execute(f'SELECT count(*) FROM "{t}" WHERE customer_id = ?',
                                       [token]).fetchone()[0]
            assert n == 1, t
    # the neighbours are untouched
    for t, before in c10.items():
        now = wh.backend.con.execute(f'SELECT * FROM "{t}" WHERE customer_id = ? ORDER BY ALL',
                                     ["C10"]).fetchdf()
        pd.testing.assert_frame_equal(now, before)
    person = wh.backend.con.execute("SELECT * FROM customers WHERE customer_id = ?",
                                    [token]).fetchdf().iloc[0]
    assert person[list(erasure.PERSONAL_ATTRIBUTES[:3])].isna().all()
    assert person[["gender", "birth_year", "country", "occupation"]].isna().all()
    assert person["acquisition_channel"] == "wechat" and pd.notna(person["created_at"])
    assert wh.count("quarantine") == quarantined
    assert ops.read_profile(store, WHO) is None and ops.resolve_user(store, DEVICE) is None

    log = ops.read_audit(store)
    assert log.iloc[-1]["action"] == "erase_person" and log.iloc[-1]["subject"] == token
    assert json.loads(log.iloc[-1]["detail"])["warehouse"]["orders"] == int(
        (orders["customer_id"] == WHO).sum())

    again = erasure.erase_person(wh, store, WHO)
    assert again.nothing_held and again.token is None
    assert len(ops.read_audit(store)) == len(log)


def test_the_erased_person_is_absent_from_exports(world, tmp_path):
    wh, store = world
    from upmarket.warehouse.runs import output

    actions = output(wh, "actions").to_pandas()
    key = privacy.pseudonym_key(wh)
    ref = privacy.pseudonymise(pd.Series([WHO]), key).iloc[0]
    before = export_actions(wh, actions, tmp_path / "before.csv", fmt="csv", run_id="r",
                            with_pii=True)
    assert WHO in set(pd.read_csv(tmp_path / "before.csv", dtype=str)["customer_id"])
    assert before.rows == len(IDS)

    token = erasure.erase_person(wh, store, WHO).token
    actions = output(wh, "actions").to_pandas()
    assert token in set(actions["customer_id"])  # the run's row is still there, anonymised
    clear = export_actions(wh, actions, tmp_path / "pii.csv", fmt="csv", run_id="r",
                           with_pii=True)
    pseudo = export_actions(wh, actions, tmp_path / "p.csv", fmt="csv", run_id="r")
    got = pd.read_csv(tmp_path / "pii.csv", dtype=str)
    refs = pd.read_csv(tmp_path / "p.csv", dtype=str)["customer_ref"]
    assert clear.rows == pseudo.rows == len(IDS) - 1 and clear.dropped_no_consent == 1
    assert not {WHO, token} & set(got["customer_id"])
    assert "alice@example.com" not in set(got["email"].dropna())
    assert ref not in set(refs)
    assert privacy.pseudonymise(pd.Series([token]), key).iloc[0] not in set(refs)


def test_a_pending_withdrawal_keeps_the_person_out_of_exports(world, tmp_path):
    wh, store = world
    from upmarket.warehouse.runs import output

    actions = output(wh, "actions").to_pandas()
    oc.record_consents(store, {"customer_id": "C5", "purpose": "marketing", "channel": "email",
                               "granted": False})  # stored, not copied to the warehouse
    rep = export_actions(wh, actions, tmp_path / "a.csv", fmt="csv", run_id="r", with_pii=True)
    got = set(pd.read_csv(tmp_path / "a.csv", dtype=str)["customer_id"])
    assert "C5" not in got and got == set(IDS) - {"C5"} and rep.dropped_no_consent == 1


def test_purge_deletes_exactly_the_old_events_and_never_an_uncopied_one(world):
    wh, store = world
    now = AS_OF + timedelta(hours=6)
    days = 7
    events = wh.table("events").to_pandas()
    cutoff = now - timedelta(days=days)
    expected_old = int((events["ts"] < cutoff).sum())
    assert 0 < expected_old < len(events)
    old, new = now - timedelta(days=days + 1), now - timedelta(days=days - 1)
    ops.insert_events(store, [{"message_id": m, "type": "track", "event": "x", "user_id": "C3",
                               "ts": ts} for m, ts in (("old-copied", old), ("new-copied", new))])
    ops.copy_events_to_warehouse(store, wh)
    ops.insert_events(store, [{"message_id": m, "type": "track", "event": "x", "user_id": "C3",
                               "ts": ts} for m, ts in (("old-uncopied", old),
                                                       ("new-uncopied", new))])
    events = wh.table("events").to_pandas()
    expected_old = int((events["ts"] < cutoff).sum())
    with store.engine.connect() as c:
        inbox_before = {r[0] for r in c.exec_driver_sql("SELECT message_id FROM event_inbox")}
    # uncopied inbox rows from the world (m1–m3, dated AS_OF) are newer than the cutoff

    dry = erasure.purge_raw_events(wh, store, days, now=now, dry_run=True)
    assert (dry.warehouse_events, dry.inbox_events, dry.inbox_not_copied_kept) == (
        expected_old, 1, 1)
    assert wh.count("events") == len(events)

    done = erasure.purge_raw_events(wh, store, days, now=now)
    assert (done.warehouse_events, done.inbox_events) == (expected_old, 1)
    left = wh.table("events").to_pandas()
    assert len(left) == len(events) - expected_old and (left["ts"] >= cutoff).all()
    with store.engine.connect() as c:
        inbox = {r[0] for r in c.exec_driver_sql("SELECT message_id FROM event_inbox")}
    assert inbox == inbox_before - {"old-copied"}
    log = ops.read_audit(store)
    assert log.iloc[-1]["action"] == "purge_raw_events"
    assert json.loads(log.iloc[-1]["detail"])["warehouse_events"] == expected_old
    again = erasure.purge_raw_events(wh, store, days, now=now)
    assert (again.warehouse_events, again.inbox_events) == (0, 0)
    assert len(ops.read_audit(store)) == len(log)


def test_retention_needs_a_number_of_days(monkeypatch, wh):
    monkeypatch.delenv(erasure.RETENTION_ENV, raising=False)
    with pytest.raises(erasure.ErasureError, match="UPMARKET_RETENTION_DAYS"):
        erasure.purge_raw_events(wh, None, None)
    monkeypatch.setenv(erasure.RETENTION_ENV, "a year")
    with pytest.raises(erasure.ErasureError, match="whole number"):
        erasure.retention_days()
    monkeypatch.setenv(erasure.RETENTION_ENV, "30")
    assert erasure.retention_days() == 30 and erasure.retention_days(5) == 5
    with pytest.raises(erasure.ErasureError, match="at least 1 day"):
        erasure.retention_days(0)


def test_erasure_refuses_a_warehouse_it_cannot_update(wh, tmp_path):
    class Spark(Warehouse):  # a backend without UPDATE, as upmarket sees it
        is_duckdb = False

    other = Spark(wh.url, wh.backend)
    with pytest.raises(erasure.UnsupportedBackend, match="only on DuckDB"):
        erasure.erase_person(other, None, "C1")
    with pytest.raises(erasure.UnsupportedBackend):
        ingest("events", pd.DataFrame([{"message_id": "x", "type": "track",
                                        "ts": datetime(2020, 1, 1)}]), warehouse=other)
        erasure.purge_raw_events(other, None, 1, now=datetime(2026, 1, 1))


def test_erasure_stops_pending_work_and_rerandomises_alert_keys(world):
    """Alerts, tasks and webhook messages about the person: the alert's dedup key (a hash of
    rule, customer and run) cannot be recomputed from a guessed id afterwards, an open task
    is cancelled and an undelivered webhook fails; work about others is left alone."""
    import hashlib

    from upmarket.opstore.schema import alerts, tasks, webhook_outbox

    wh, store = world
    now = datetime(2026, 6, 2)
    key = {c: hashlib.sha256(f"churn|{c}|r1".encode()).hexdigest() for c in (WHO, "C2")}
    with store.engine.begin() as c:
        for i, cid in enumerate((WHO, "C2"), start=1):
            c.execute(alerts.insert().values(
                id=i, rule="churn", subject=cid, customer_id=cid, fired=now, severity="high",
                source="run", run_id="r1", detail=json.dumps({"customer_id": cid}),
                dedup_key=key[cid]))
            for kind, status in (("task", "open"), ("task", "done"), ("webhook", "open")):
                c.execute(tasks.insert().values(
                    alert_id=i, rule="churn", kind=kind, automated=kind != "task",
                    customer_id=cid, tier="core", title=f"Call {cid}", created=now, due=now,
                    status=status))
            c.execute(webhook_outbox.insert().values(
                alert_id=i, task_id=3 * i, customer_id=cid, url="http://x", secret_env="S",
                body=json.dumps({"customer_id": cid}), created=now, max_attempts=8,
                next_attempt=now, status="pending"))

    erasure.erase_person(wh, store, WHO)

    with store.engine.connect() as c:
        keys = dict(c.execute(sa.select(alerts.c.id, alerts.c.dedup_key)).all())
        states = c.execute(sa.select(tasks.c.alert_id, tasks.c.kind, tasks.c.status)
                           .order_by(tasks.c.id)).all()
        outbox = dict(c.execute(sa.select(webhook_outbox.c.alert_id,
                                          webhook_outbox.c.status)).all())
    assert keys[2] == key["C2"] and keys[1] not in key.values()
    assert [s for a, _, s in states if a == 1] == ["cancelled", "done", "cancelled"]
    assert [s for a, _, s in states if a == 2] == ["open", "done", "open"]
    assert outbox == {1: "failed", 2: "pending"}
    from upmarket.opstore import automation

    cancelled = next(i for i, (a, k, s) in enumerate(states, start=1) if s == "cancelled")
    with pytest.raises(automation.TaskError, match="erased"):
        automation.complete_task(store, cancelled, now)
