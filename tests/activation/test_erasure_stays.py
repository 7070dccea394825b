"""Erasure stays erased: after `privacy erase`, re-ingesting every original file and collecting
the person's events again bring nothing of them back (each ingest summary counts their rows
as suppressed), no table of either store holds them, and neither database file holds their
e-mail, name or phone as bytes. Also: the pseudonymisation key is not in the warehouse, and
`privacy export` copes with a run output whose `customer_id` came out DOUBLE.

The world is built from files through the CLI, as a user would; the erased person's values are
checked as present in the DuckDB file's bytes before the erasure, so their absence after it
means something."""

from __future__ import annotations

import json
import shutil
import stat
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import upmarket.cli.privacy  # noqa: F401  (attaches the commands until cli/__init__ imports it)
from upmarket.activation import erasure, privacy
from upmarket.cli import app
from upmarket.opstore import keyfile, suppression
from upmarket.opstore import store as ops
from upmarket.opstore.consents import record_consents
from upmarket.service.app import create_app
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run

runner = CliRunner()
T0 = datetime(2026, 3, 1)
WHO = "CX-ALICE-7731"
DEVICE = "dev-alice-phone-0042"
NAME, EMAIL, PHONE = "Alice Qiaomu Example", "Alice.Qiaomu@Example.COM", "+86 138 5550 7731"
#: The same person as another export spells her: other case and spacing, other phone format.
EMAIL_AGAIN, PHONE_AGAIN = "  alice.qiaomu@example.com ", "138-5550-7731"
OTHERS = [f"CX-B{i}" for i in range(1, 6)]
KINDS = ("customers", "consents", "orders", "feedback", "tickets", "events")


def write_files(folder: Path) -> dict[str, tuple[Path, int]]:
    """The original exports, and how many rows of each are the erased person's."""
    ids = [WHO, *OTHERS]
    frames = {
        "customers": pd.DataFrame({
            "customer_id": ids, "created_at": [T0 - timedelta(days=90 + i) for i in range(6)],
            "country": "CN", "name": [NAME] + [f"Other Person {i}" for i in range(1, 6)],
            "email": [EMAIL] + [f"other{i}@example.org" for i in range(1, 6)],
            "phone": [PHONE] + [f"+86 139 0000 000{i}" for i in range(1, 6)]}),
        "consents": pd.DataFrame({
            "customer_id": ids, "purpose": "marketing", "channel": "email", "granted": True,
            "ts": T0 - timedelta(days=30),
            "source": [f"{NAME} <{EMAIL}> via web form"] + [f"B{i} via web form"
                                                           for i in range(1, 6)]}),
        "orders": pd.DataFrame({
            "order_id": [f"O{i}" for i in range(12)], "customer_id": ids * 2,
            "ts": [T0 - timedelta(days=i) for i in range(12)], "sku": "SKU-1",
            "quantity": 1, "unit_price": [10.0 + i for i in range(12)]}),
        "feedback": pd.DataFrame({
            "id": [f"F{i}" for i in range(6)], "customer_id": ids,
            "ts": T0 - timedelta(days=3), "nps_score": 9,
            "text": [f"Great, call me on {PHONE}, {NAME}"] + ["fine"] * 5}),
        "tickets": pd.DataFrame({
            "ticket_id": [f"T{i}" for i in range(6)], "customer_id": ids,
            "opened": T0 - timedelta(days=5), "kind": "question",
            "text": [f"{NAME} asked to write to {EMAIL}"] + ["where is my parcel"] * 5}),
        "events": pd.DataFrame({
            "message_id": [f"E{i}" for i in range(12)], "type": "track", "event": "view",
            "customer_id": ids * 2, "anonymous_id": [DEVICE] + [None] * 11,
            "ts": [T0 - timedelta(hours=i) for i in range(12)],
            "properties": [json.dumps({"email": EMAIL})] + ["{}"] * 11}),
    }
    # a later customers export spelling her e-mail and phone differently, under an id she
    # never had: recognised by the normalised e-mail and phone alone
    frames["customers_crm"] = pd.DataFrame({
        "customer_id": ["CRM-991", "CX-B9"], "name": [NAME, "Someone Else"],
        "email": [EMAIL_AGAIN, "else@example.org"], "phone": [PHONE_AGAIN, None]})
    theirs = {"customers": 1, "consents": 1, "orders": 2, "feedback": 1, "tickets": 1,
              "events": 2, "customers_crm": 1}
    out = {}
    for name, frame in frames.items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        out[name] = (path, theirs[name])
    return out


def invoke(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r


def ingest_file(kind: str, path: Path, url: str) -> dict:
    return json.loads(invoke("ingest", kind.removesuffix("_crm"), path, "--warehouse", url,
                             "--json").stdout)


def file_bytes(path: Path) -> bytes:
    """The file and its write-ahead log, if any, as raw bytes."""
    data = path.read_bytes()
    for wal in (Path(str(path) + ".wal"), Path(str(path) + "-wal")):
        if wal.exists():
            data += wal.read_bytes()
    return data


PERSONAL = [NAME, EMAIL, PHONE, EMAIL_AGAIN.strip(), PHONE_AGAIN]


def leaks(data: bytes) -> list[str]:
    """The person's values found in `data`, as UTF-8 (how DuckDB and SQLite store text) and
    lower-cased."""
    low = data.lower()
    return [v for v in PERSONAL if v.encode() in data or v.lower().encode() in low]


@pytest.fixture
def world(tmp_path, monkeypatch):
    db_path = tmp_path / "ops.sqlite"
    db, url = f"sqlite:///{db_path}", f"duckdb://{tmp_path}/w.duckdb"
    monkeypatch.setenv("UPMARKET_DATABASE", db)
    monkeypatch.setenv("UPMARKET_ACTOR", "dpo")
    files = write_files(tmp_path)
    first = {name: ingest_file(name, path, url) for name, (path, _) in files.items()
             if name != "customers_crm"}
    store = ops.open_store(db)
    try:
        record_consents(store, {"customer_id": WHO, "purpose": "marketing", "channel": "sms",
                                "granted": True, "source": f"phone call with {NAME}"})
        ops.insert_events(store, [{"message_id": "M-id", "type": "identify", "event": None,
                                   "user_id": WHO, "anonymous_id": DEVICE, "ts": T0,
                                   "properties": {"name": NAME, "email": EMAIL,
                                                  "phone": PHONE}, "context": {}}])
    finally:
        store.close()
    invoke("collect", "sync", "--database", db, "--warehouse", url)
    return {"db": db, "db_path": db_path, "url": url, "wh_path": tmp_path / "w.duckdb",
            "files": files, "first": first}


def test_erased_person_stays_erased_across_every_file_and_store(world):
    db, url, files = world["db"], world["url"], world["files"]
    assert all(r["accepted"] == r["rows_read"] for r in world["first"].values())
    wh = connect(url)
    held_before = {t: wh.count(t) for t in ("customers", "orders", "feedback",
                                            "service_tickets", "events", "consents")}
    wh.close()  # checkpoints: the values are in the file now
    assert set(leaks(file_bytes(world["wh_path"]))) >= {NAME, EMAIL, PHONE}, \
        "the check below would prove nothing if the file never held the values as bytes"
    assert leaks(file_bytes(world["db_path"]))

    r = invoke("privacy", "erase", WHO, "--yes", "--database", db, "--warehouse", url)
    assert "suppression list" in r.output and "not yet gone" not in r.output

    again = {name: ingest_file(name, path, url) for name, (path, _) in files.items()}
    for name, (_, theirs) in files.items():
        rep = again[name]
        assert rep["suppressed"] == theirs, (name, rep)
        new = 1 if name == "customers_crm" else 0  # CX-B9, someone else
        assert rep["accepted"] == new and rep["quarantined"] == 0, (name, rep)
        assert rep["reconciles"] and rep["rows_read"] == rep["duplicates_skipped"] + theirs + new
    # the summary a user reads says so too, in both languages
    path, theirs = files["orders"]
    shown = invoke("ingest", "orders", path, "--warehouse", url).stdout
    assert "suppressed (erased people)" in shown
    assert "已屏蔽" in invoke("ingest", "orders", path, "--warehouse", url, "--lang",
                           "zh-CN").stdout

    # the service refuses the person's events (by id, by device, by a trait's e-mail alone)
    store = ops.open_store(db)
    _, key = ops.create_key(store, "tracker", ["collect"])
    api = create_app(db, url)
    with TestClient(api) as client:
        auth = {"Authorization": f"Bearer {key}"}
        sent = [{"type": "track", "event": "view", "userId": WHO, "messageId": "N1"},
                {"type": "track", "event": "view", "anonymousId": DEVICE, "messageId": "N2"},
                {"type": "identify", "userId": "NEW-1", "messageId": "N3",
                 "traits": {"email": EMAIL_AGAIN}},
                {"type": "track", "event": "view", "userId": OTHERS[0], "messageId": "N4"}]
        ack = client.post("/v1/batch", json={"batch": sent}, headers=auth)
        assert ack.status_code == 200, ack.text
        assert ack.json() == {"success": True, "received": 4, "stored": 1}
    # nor a consent sent for her afterwards, by the API or the CLI
    rec = record_consents(store, {"customer_id": WHO, "purpose": "marketing",
                                  "channel": "email", "granted": True, "source": NAME})
    assert (rec.received, rec.stored) == (1, 0)
    invoke("collect", "sync", "--database", db, "--warehouse", url)
    with store.engine.connect() as conn:
        inbox = {m for m, in conn.execute(sa.text("SELECT message_id FROM event_inbox"))}
    assert inbox == {"M-id", "N4"}  # M-id was anonymised by the erasure, not deleted

    # nothing of her in any table of either store; everyone else as they were
    secrets = [WHO, DEVICE, *PERSONAL, "CRM-991"]
    wh = connect(url)
    try:
        for name in erasure.base_tables(wh):
            text = wh.table(name).to_pandas().to_csv(index=False).lower()
            found = [s for s in secrets if s.lower() in text]
            assert not found, (name, found)
        held_after = {t: wh.count(t) for t in held_before}
        assert held_after == {**held_before, "customers": held_before["customers"] + 1,
                              "events": held_before["events"] + 1}  # CX-B9, N4
        c = wh.table("customers").to_pandas()
        assert set(OTHERS) | {"CX-B9"} <= set(c["customer_id"])
        assert c.loc[c["customer_id"] == OTHERS[0], "email"].item() == "other1@example.org"
        o = wh.table("orders").to_pandas()
        assert o["amount"].sum() == pytest.approx(sum(10.0 + i for i in range(12)))
    finally:
        wh.close()
    with store.engine.connect() as conn:
        for t in erasure.op_tables(store):
            text = json.dumps([list(r) for r in conn.execute(sa.select(t))],
                              default=str).lower()
            found = [s for s in secrets if s.lower() in text]
            assert not found, (t.name, found)
        listed = conn.execute(sa.text("SELECT kind, count(*) FROM suppression GROUP BY kind"))
        assert dict(listed.fetchall()) == {"customer_id": 1, "device": 1, "email": 1,
                                           "phone": 1}
    store.close()

    # and not in the bytes of either file, their logs included
    assert leaks(file_bytes(world["wh_path"])) == []
    assert leaks(file_bytes(world["db_path"])) == []


def test_without_compaction_the_bytes_would_stay(world):
    """What the rewrite is for: the same erasure without it leaves the values in the file;
    `privacy compact` then removes them."""
    store, wh = ops.open_store(world["db"]), connect(world["url"])
    try:
        erasure.erase_person(wh, store, WHO, compact=False)
    finally:
        wh.close()
        store.close()
    assert leaks(file_bytes(world["wh_path"]))
    r = invoke("privacy", "compact", "--database", world["db"], "--warehouse", world["url"])
    assert "compacted" in r.output
    assert leaks(file_bytes(world["wh_path"])) == []
    assert leaks(file_bytes(world["db_path"])) == []
    wh = connect(world["url"])
    assert wh.count("orders") == 12 and wh.count("customers") == 6  # nothing else lost
    wh.close()


def test_pseudonym_key_lives_beside_the_store_not_in_the_warehouse(tmp_path, monkeypatch):
    monkeypatch.delenv(keyfile.FILE_ENV)
    db_dir = tmp_path / "ops"
    db_dir.mkdir()
    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{db_dir}/ops.sqlite")
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    key = privacy.pseudonym_key(wh)
    wh.close()
    path = db_dir / keyfile.FILE_NAME
    assert path.read_text().strip().encode() == key and len(key) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # a copy of the warehouse taken elsewhere holds no key to recompute pseudonyms with
    elsewhere = tmp_path / "copied" / "w.duckdb"
    elsewhere.parent.mkdir()
    shutil.copy(tmp_path / "w.duckdb", elsewhere)
    assert key not in file_bytes(elsewhere)
    copy = connect(f"duckdb://{elsewhere}")
    assert copy.count("system_keys") == 0
    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{elsewhere.parent}/ops.sqlite")
    with pytest.raises(Exception, match="no pseudonymisation key yet"):
        privacy.pseudonym_key(copy, create=False)
    copy.close()
    # the same key again, from the file; a file others may read is refused
    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{db_dir}/ops.sqlite")
    assert privacy.pseudonym_key() == key
    path.chmod(0o644)
    with pytest.raises(keyfile.KeyFileError, match="chmod 600"):
        privacy.pseudonym_key()


def test_without_a_local_store_the_key_goes_to_the_user_config_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(keyfile.FILE_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    url = "postgresql://crm@db.example.internal/ops"
    path = tmp_path / "config" / "upmarket" / keyfile.FILE_NAME
    assert keyfile.key_path(url) == path
    key = privacy.pseudonym_key(store_url=url)
    assert path.read_text().strip().encode() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv(keyfile.KEY_ENV, "from-the-environment-" + "0" * 40)
    assert privacy.pseudonym_key(store_url=url) == b"from-the-environment-" + b"0" * 40


def test_key_an_older_version_kept_in_the_warehouse_moves_out_unchanged(tmp_path, own_key_file):
    url = f"duckdb://{tmp_path}/w.duckdb"
    wh = connect(url)
    old = "ab" * 32
    wh.insert("system_keys", pd.DataFrame({"name": ["pseudonym_key"], "value": [old],
                                           "created": [T0]}))
    before = privacy.pseudonymise(pd.Series(["C1", "C2"]), old.encode())
    wh.close()
    assert old.encode() in file_bytes(tmp_path / "w.duckdb")
    wh = connect(url)
    try:
        key = privacy.pseudonym_key(wh)
        assert key == old.encode()
        assert privacy.pseudonymise(pd.Series(["C1", "C2"]), key).tolist() == before.tolist()
        assert own_key_file.read_text().strip() == old
        assert wh.count("system_keys") == 0
    finally:
        wh.close()
    assert old.encode() not in file_bytes(tmp_path / "w.duckdb")


def test_export_copes_with_an_empty_output_whose_id_came_out_double(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path}/ops.sqlite"
    monkeypatch.setenv("UPMARKET_DATABASE", db)
    url = f"duckdb://{tmp_path}/w.duckdb"
    wh = connect(url)
    wh.insert("customers", pd.DataFrame({"customer_id": ["C1", "C2"]}))
    run = Run(wh, T0)
    run.write("results", pd.DataFrame({"customer_id": ["C1", "C2"], "tier": "core"}))
    # no row: the column has no type of its own and is written as DOUBLE (`Run.write`)
    run.write("upsell", pd.DataFrame({"customer_id": pd.Series([], dtype=object)}))
    run.publish({})
    out = wh.table(f"upsell__{run.run_id}")
    assert out.schema()["customer_id"].is_floating()  # the case the export used to crash on
    wh.close()
    r = invoke("privacy", "export", "C1", "--database", db, "--warehouse", url,
               "--out", tmp_path / "c1.json")
    doc = json.loads((tmp_path / "c1.json").read_text())
    assert "upsell" not in doc["run"]["outputs"]
    assert doc["run"]["outputs"]["results"] == [{"customer_id": "C1", "tier": "core",
                                                 "run_id": run.run_id}]
    assert "2 rows" in r.output
    r = invoke("privacy", "erase", "C1", "--yes", "--database", db, "--warehouse", url,
               "--json")
    assert json.loads(r.stdout)["warehouse"] == {"customers": 1, f"results__{run.run_id}": 1}


def test_suppression_list_refuses_a_replaced_key(tmp_path, monkeypatch, own_key_file):
    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    try:
        suppression.add(store, {"customer_id": [WHO], "email": [EMAIL]})
        frame = pd.DataFrame({"customer_id": ["X", "Y"], "email": [EMAIL_AGAIN, "y@e.org"]})
        kept, n = suppression.withhold(frame, store)
        assert n == 1 and kept["customer_id"].tolist() == ["Y"]
        own_key_file.unlink()
        monkeypatch.setenv(keyfile.KEY_ENV, "cd" * 32)
        with pytest.raises(suppression.SuppressionKeyMismatch, match="Restore the original"):
            suppression.withhold(frame, store)
    finally:
        store.close()
