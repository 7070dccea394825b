"""Consents in the operational store, on SQLite and on a real PostgreSQL: validation naming the
field, all-or-nothing batches, retries stored once, the latest row in force (withdrawal wins a
tie), the copy to the warehouse (exactly once, crash-safe), the privacy gate seeing consents
not yet copied; and the generic export/erasure over every store table on both engines."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upmarket.activation import erasure, privacy
from upmarket.opstore import consents as oc
from upmarket.opstore import store as ops
from upmarket.opstore.schema import consents as consents_table

T0 = datetime(2026, 3, 1, 9)


def row(cid="C1", channel="email", granted=True, ts=None, **kw) -> dict:
    return {"customer_id": cid, "purpose": "marketing", "channel": channel, "granted": granted,
            "ts": ts, **kw}


def held(store) -> pd.DataFrame:
    return oc.history(store)


@pytest.mark.parametrize("bad, field", [
    ({"customer_id": "", "purpose": "marketing", "channel": "email", "granted": True},
     "customer_id"),
    ({"customer_id": "C1", "purpose": "market ing", "channel": "email", "granted": True},
     "purpose"),
    ({"customer_id": "C1", "purpose": "marketing", "granted": True}, "channel"),
    ({"customer_id": "C1", "purpose": "marketing", "channel": "email", "granted": "yes"},
     "granted"),
    ({"customer_id": "C1", "purpose": "marketing", "channel": "email", "granted": True,
      "ts": "yesterday"}, "ts"),
    ({"customer_id": "C1", "purpose": "marketing", "channel": "email", "granted": True,
      "ts": "1970-01-01T00:00:00"}, "ts"),
    ({"customer_id": "C1", "purpose": "marketing", "channel": "email", "granted": True,
      "source": "x" * 201}, "source"),
])
def test_a_bad_consent_is_refused_naming_its_field_and_nothing_is_stored(store, bad, field):
    with pytest.raises(oc.BadConsent) as caught:
        oc.record_consents(store, [row("C9"), bad])
    assert caught.value.field == f"[1].{field}" and caught.value.index == 1
    assert str(caught.value).startswith(f"[1].{field}:")
    assert held(store).empty  # the valid first row went with the batch


def test_retries_are_stored_once_and_a_contradiction_is_refused(store):
    at = datetime(2026, 1, 5, 8, 30, 0, 123456)
    first = oc.record_consents(store, [row(ts=at), row(channel="sms", granted=False, ts=at)])
    assert (first.received, first.stored) == (2, 2)
    again = oc.record_consents(store, [row(ts=at), row(channel="Email ", ts=at)])
    assert (again.received, again.stored) == (2, 0)  # same key, same answer: a retry
    with pytest.raises(oc.BadConsent, match="opposite") as caught:
        oc.record_consents(store, row(granted=False, ts=at))
    assert caught.value.field == "granted"
    with pytest.raises(oc.BadConsent, match="contradicts"):
        oc.record_consents(store, [row("C2", ts=at), row("C2", granted=False, ts=at)])
    h = held(store)
    assert len(h) == 2 and set(h["channel"]) == {"email", "sms"}
    assert h["ts"].tolist() == [at, at]  # microseconds kept: the key survives the round trip


def test_ts_is_utc_never_in_the_future_and_defaults_to_now(store):
    before = ops.now_utc()
    oc.record_consents(store, [
        row("A", ts=datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8)))),
        row("B", ts=(datetime.now(timezone.utc) + timedelta(minutes=2)).isoformat()),
        row("C"),
    ])
    after = ops.now_utc()
    h = held(store).set_index("customer_id")
    assert h.loc["A", "ts"] == datetime(2026, 1, 1, 0)
    # a client clock slightly ahead counts from receipt, not from its future
    assert before <= h.loc["B", "ts"] <= after and before <= h.loc["C", "ts"] <= after
    with pytest.raises(oc.BadConsent, match="future"):
        oc.record_consents(store, row("D", ts=ops.now_utc() + timedelta(hours=1)))
    assert h.loc["C", "source"] is None or pd.isna(h.loc["C", "source"])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=st.lists(st.tuples(st.sampled_from(["C1", "C2"]), st.sampled_from(["email", "sms"]),
                                 st.integers(0, 6), st.booleans()), max_size=14),
       cut=st.integers(0, 7))
def test_in_force_is_the_latest_row_before_the_time_and_a_tie_is_a_withdrawal(events, cut):
    rows = pd.DataFrame([{"customer_id": c, "purpose": "marketing", "channel": ch,
                          "granted": g, "ts": T0 + timedelta(days=d), "source": None}
                         for c, ch, d, g in events],
                        columns=list(oc.COLUMNS))
    at = T0 + timedelta(days=cut)
    got = oc.in_force(rows, at)
    got = {(r.customer_id, r.channel): bool(r.granted) for r in got.itertuples()}
    expected = {}
    for c in ("C1", "C2"):
        for ch in ("email", "sms"):
            before = [(d, g) for cc, cch, d, g in events if (cc, cch) == (c, ch) and d < cut]
            if before:
                last = max(d for d, _ in before)
                expected[(c, ch)] = all(g for d, g in before if d == last)
    assert got == expected


def test_consents_are_copied_to_the_warehouse_exactly_once(store, wh):
    oc.record_consents(store, [row("C1", ts=T0), row("C2", granted=False, ts=T0),
                               row("C1", channel="sms", ts=T0 + timedelta(hours=1))])
    assert len(oc.pending(store)) == 3
    first = oc.copy_consents_to_warehouse(store, wh)
    assert [r.accepted for r in first] == [3] and oc.pending(store).empty
    assert oc.copy_consents_to_warehouse(store, wh) == []
    got = wh.table("consents").order_by(["customer_id", "channel"]).to_pandas()
    expected = held(store).sort_values(["customer_id", "channel"])
    assert got[list(oc.COLUMNS[:5])].astype(str).values.tolist() == \
        expected[list(oc.COLUMNS[:5])].astype(str).values.tolist()
    # a crash after the warehouse took them but before they were marked: offered again,
    # skipped by the warehouse's key
    with store.engine.begin() as c:
        c.execute(consents_table.update().values(copied=False))
    again = oc.copy_consents_to_warehouse(store, wh)
    assert again[0].duplicates_skipped == 3 and again[0].accepted == 0
    assert wh.count("consents") == 3
    oc.record_consents(store, row("C3", ts=T0))
    assert [r.accepted for r in oc.copy_consents_to_warehouse(store, wh)] == [1]
    assert wh.count("consents") == 4


def test_the_gate_sees_a_withdrawal_before_it_is_copied(store, wh):
    wh.insert("consents", pd.DataFrame([
        {"customer_id": c, "purpose": "marketing", "channel": "email", "granted": True,
         "ts": T0, "source": "file"} for c in ("C1", "C2", "C3")]))
    frame = pd.DataFrame({"customer_id": ["C1", "C2", "C3", "C4"], "channel": "email"})
    assert privacy.consented(wh, frame, store=store).tolist() == [True, True, True, False]
    oc.record_consents(store, [row("C2", granted=False), row("C4")])  # not copied
    assert privacy.consented(wh, frame, store=store).tolist() == [True, False, True, True]
    oc.copy_consents_to_warehouse(store, wh)
    assert privacy.consented(wh, frame, store=store).tolist() == [True, False, True, True]
    # the warehouse alone now says the same
    assert privacy.consented(wh, frame, store=None).tolist() == [True, False, True, True]
    # an erased person's token is never consented, whatever its rows say
    tok = erasure.new_token()
    oc.record_consents(store, row(tok))
    assert not privacy.consented(wh, pd.DataFrame({"customer_id": [tok], "channel": ["email"]}),
                                 store=store).any()


def _mentions(value, needles: set[str]) -> set[str]:
    """The needles a cell holds as a whole value or as a word of its text (C1 in "call C1",
    not in "C10")."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return {n for n in needles
            if re.search(rf"(?<![A-Za-z0-9_\-]){re.escape(n)}(?![A-Za-z0-9_\-])", text)}


def _scan(store, needles: set[str]) -> list[str]:
    hits = []
    with store.engine.connect() as conn:
        for t in erasure.op_tables(store):
            for r in conn.execute(sa.select(t)).mappings():
                hits += [f"{t.name}.{k}: {n}" for k, v in r.items() if v is not None
                         for n in _mentions(v, needles)]
    return hits


def test_export_and_erasure_cover_every_store_table(store, wh):
    """Found generically: the schema's tables and one the schema does not know about."""
    extra = sa.Table("crm_notes", sa.MetaData(),
                     sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("customer_id", sa.String(200)),
                     sa.Column("title", sa.Text, nullable=False),
                     sa.Column("note", sa.Text))
    extra.create(store.engine)
    with store.engine.begin() as c:
        c.execute(extra.insert(), [
            {"id": 1, "customer_id": "C1", "title": "call C1 about C10's order", "note": "VIP"},
            {"id": 2, "customer_id": "C10", "title": "call C10", "note": "keep"}])
    ops.insert_events(store, [
        {"message_id": "m1", "type": "page", "anonymous_id": "dev-1", "ts": T0,
         "properties": {"path": "/p"}, "context": {"ip": "10.0.0.1"}},
        {"message_id": "m2", "type": "identify", "user_id": "C1", "anonymous_id": "dev-1",
         "ts": T0, "properties": {"email": "c1@example.com"}},
        {"message_id": "m3", "type": "track", "event": "click", "user_id": "C10", "ts": T0}])
    oc.record_consents(store, [row("C1", ts=T0), row("C10", ts=T0)])
    ops.write_audit(store, "analyst", "read_profile", "C1")
    ops.write_audit(store, "analyst", "export_segment_members", "rfm.loyal",
                    members=["C1", "C10"])
    ops.publish_profiles(store, pd.DataFrame({"customer_id": ["C1", "C10"],
                                              "doc": [{"customer_id": "C1"},
                                                      {"customer_id": "C10"}]}), "r1")

    with store.engine.connect() as c:  # independent counts, written out by hand
        q = lambda sql: c.execute(sa.text(sql), {"quoted": '%"C1"%'}).scalar()  # noqa: E731
        expected = {
            "event_inbox": q("SELECT count(*) FROM event_inbox WHERE user_id = 'C1' OR "
                             "anonymous_id = 'dev-1'"),
            "identities": q("SELECT count(*) FROM identities WHERE user_id = 'C1'"),
            "consents": q("SELECT count(*) FROM consents WHERE customer_id = 'C1'"),
            "profiles": q("SELECT count(*) FROM profiles WHERE customer_id = 'C1'"),
            "audit_log": q("SELECT count(*) FROM audit_log WHERE subject = 'C1' OR "
                           "detail LIKE :quoted"),
            "crm_notes": q("SELECT count(*) FROM crm_notes WHERE customer_id = 'C1'"),
        }
    doc = erasure.export_person(wh, store, "C1")
    got = {k: len(v) for k, v in doc["opstore"].items()}
    assert got == expected and expected["event_inbox"] == 2 and expected["audit_log"] == 2
    assert doc["devices"] == ["dev-1"]

    report = erasure.erase_person(wh, store, "C1")
    assert report.token.startswith("erased_") and report.deleted == {"identities": 1,
                                                                     "profiles": 1}
    assert _scan(store, {"C1", "dev-1", "c1@example.com", "10.0.0.1"}) == []
    with store.engine.connect() as c:
        notes = dict(c.exec_driver_sql("SELECT id, title FROM crm_notes").fetchall())
        kept = c.exec_driver_sql("SELECT user_id FROM event_inbox WHERE message_id = 'm3'")
        assert kept.scalar() == "C10"
        granted = c.exec_driver_sql("SELECT granted FROM consents WHERE customer_id = "
                                    f"'{report.token}'").scalar()
    # C10 is untouched, also where it sits beside C1 in the same text
    assert notes == {1: f"call {report.token} about C10's order", 2: "call C10"}
    assert not granted  # an erased person's consent is a withdrawn one
    log = ops.read_audit(store)
    mine = log[log["action"] == "erase_person"]
    assert mine["subject"].tolist() == [report.token]
    assert "C1" not in set(log["subject"])
    assert json.loads(log[log["action"] == "export_segment_members"]["detail"].iloc[0]) == {
        "members": [report.token, "C10"]}
    assert erasure.erase_person(wh, store, "C1").nothing_held
    assert len(ops.read_audit(store)) == len(log)  # nothing done, nothing recorded


def test_latest_by_channel_agrees_with_in_force(store):
    """The profile route's one-query read (raw driver SQL, so both engines' placeholder and
    timestamp handling are exercised) gives what `in_force` gives over the same history."""
    oc.record_consents(store, [
        row(channel="email", granted=True, ts=T0),
        row(channel="email", granted=False, ts=T0 + timedelta(days=2)),
        row(channel="sms", granted=False, ts=T0 + timedelta(days=1)),
        row(channel="sms", granted=True, ts=T0 + timedelta(days=3)),
        row(channel="wechat", granted=True, ts=T0 + timedelta(days=5)),
        {**row(channel="phone", granted=True, ts=T0), "purpose": "research"},
        row(cid="C2", channel="email", granted=True, ts=T0 + timedelta(days=9)),
    ])
    got = oc.latest_by_channel(store, "C1")
    want = oc.in_force(oc.history(store, "C1"), T0 + timedelta(days=30), "marketing")
    assert {ch: g for ch, (g, _) in got.items()} == dict(zip(want["channel"], want["granted"]))
    assert {ch: ts for ch, (_, ts) in got.items()} == dict(
        zip(want["channel"], pd.to_datetime(want["ts"]).dt.to_pydatetime()))
    assert oc.latest_by_channel(store, "nobody") == {}


def test_racing_requests_store_one_row_and_never_both_answers(store):
    """Eight threads send the same consent at once, then eight send opposite answers for one
    key: one row each time; every contradicting request after the first is refused."""
    import threading

    def race(payloads):
        outcomes, lock = [], threading.Lock()
        gate = threading.Barrier(len(payloads))

        def send(p):
            gate.wait()
            try:
                r = oc.record_consents(store, p)
                out = ("ok", r.stored)
            except oc.BadConsent:
                out = ("refused", 0)
            with lock:
                outcomes.append(out)

        threads = [threading.Thread(target=send, args=(p,)) for p in payloads]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return outcomes

    same = race([row(ts=T0)] * 8)
    assert len(held(store)) == 1 and sum(n for _, n in same) == 1
    assert all(o == "ok" for o, _ in same)
    mixed = race([row(channel="sms", ts=T0, granted=i % 2 == 0) for i in range(8)])
    rows = held(store)
    sms = rows[rows["channel"] == "sms"]
    assert len(sms) == 1
    # the four requests agreeing with the stored answer succeed (one stored it, three were
    # retries of it); the four saying the opposite are refused
    assert sum(n for _, n in mixed) == 1
    assert sorted(o for o, _ in mixed) == ["ok"] * 4 + ["refused"] * 4
