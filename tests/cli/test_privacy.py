"""`upmarket consents set|list` and `upmarket privacy export|erase|purge` on a real warehouse
and operational store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import upmarket.cli.privacy  # noqa: F401  (attaches the commands until cli/__init__ imports it)
from upmarket.cli import app
from upmarket.opstore import store as ops
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import Run

runner = CliRunner()
#: purge's cutoff is relative to the real clock (naive UTC, as stored)
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
IDS = ["C1", "C2", "C10"]


@pytest.fixture
def paths(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path}/ops.sqlite"
    url = f"duckdb://{tmp_path}/w.duckdb"
    monkeypatch.setenv("UPMARKET_DATABASE", db)
    monkeypatch.setenv("UPMARKET_ACTOR", "dpo")
    monkeypatch.delenv("UPMARKET_RETENTION_DAYS", raising=False)
    wh = connect(url)
    ingest("customers", pd.DataFrame({"customer_id": IDS, "email": [f"{c}@x.cn" for c in IDS]}),
           warehouse=wh)
    ingest("orders", pd.DataFrame({
        "order_id": [f"O{i}" for i in range(6)], "customer_id": IDS * 2, "sku": "S",
        "ts": [NOW - timedelta(days=d) for d in (1, 2, 3, 40, 50, 60)], "quantity": 1,
        "unit_price": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]}), warehouse=wh)
    ingest("events", pd.DataFrame({
        "message_id": [f"E{d}" for d in range(0, 100, 10)], "type": "track", "event": "click",
        "customer_id": (IDS * 4)[:10],
        "ts": [NOW - timedelta(days=d) for d in range(0, 100, 10)]}), warehouse=wh)
    run = Run(wh, NOW)
    run.write("results", pd.DataFrame({"customer_id": IDS, "tier": "core"}))
    run.publish({})
    wh.close()
    return db, url


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_consents_set_and_list(paths):
    db, url = paths
    r = invoke("consents", "set", "C1", "--channel", "email", "--granted", "--database", db,
               "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"received": 1, "stored": 1}
    r = invoke("consents", "set", "C1", "--channel", "Email", "--withdrawn", "--database", db)
    assert r.exit_code == 0 and "withdrawn" in r.output
    bad = invoke("consents", "set", "C1", "--channel", "e mail", "--granted", "--database", db)
    assert bad.exit_code == 2 and "channel" in bad.output
    neither = invoke("consents", "set", "C1", "--channel", "sms", "--database", db)
    assert neither.exit_code == 2  # --granted or --withdrawn must be said
    listed = invoke("consents", "list", "C1", "--database", db, "-w", url, "--json")
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    assert [(h["channel"], h["granted"], h["source"]) for h in body["history"]] == [
        ("email", True, "cli:dpo"), ("email", False, "cli:dpo")]
    assert [(c["channel"], c["granted"]) for c in body["in_force"]] == [("email", False)]
    assert invoke("consents", "list", "C1", "--database", db, "-w", url).exit_code == 0
    store = ops.open_store(db)
    log = ops.read_audit(store)
    store.close()
    assert list(log["action"]) == ["read_consents"] * 2 and set(log["subject"]) == {"C1"}


def test_export_erase_and_erase_again(paths, tmp_path):
    db, url = paths
    out = tmp_path / "c1.json"
    r = invoke("privacy", "export", "C1", "--out", out, "--database", db, "-w", url)
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["warehouse"]["orders"]) == 2 and len(doc["warehouse"]["events"]) == 4
    assert doc["warehouse"]["customers"][0]["email"] == "C1@x.cn"
    assert [r["customer_id"] for r in doc["run"]["outputs"]["results"]] == ["C1"]
    printed = invoke("privacy", "export", "C2", "--database", db, "-w", url)
    assert json.loads(printed.stdout)["customer_id"] == "C2"

    refused = invoke("privacy", "erase", "C1", "--database", db, "-w", url)
    assert refused.exit_code == 2 and "--yes" in refused.output
    done = invoke("privacy", "erase", "C1", "--yes", "--database", db, "-w", url, "--json")
    assert done.exit_code == 0, done.output
    rep = json.loads(done.stdout)
    assert rep["warehouse"]["orders"] == 2 and not rep["nothing_held"]
    again = invoke("privacy", "erase", "C1", "--yes", "--database", db, "-w", url)
    assert again.exit_code == 0 and "nothing held" in again.output
    wh = connect(url, create=False)
    orders = wh.table("orders").to_pandas()
    wh.close()
    assert "C1" not in set(orders["customer_id"]) and orders["amount"].sum() == 210.0
    assert (orders["customer_id"] == rep["token"]).sum() == 2
    empty = json.loads(invoke("privacy", "export", "C1", "--database", db, "-w", url).stdout)
    assert empty["rows"] == 0 and empty["warehouse"] == {}


def test_purge_needs_days_counts_and_deletes(paths, monkeypatch):
    db, url = paths
    r = invoke("privacy", "purge", "--database", db, "-w", url)
    assert r.exit_code == 2 and "UPMARKET_RETENTION_DAYS" in r.output
    wh = connect(url, create=False)
    events = wh.table("events").to_pandas()
    wh.close()
    monkeypatch.setenv("UPMARKET_RETENTION_DAYS", "45")
    expected = int((events["ts"] < NOW - timedelta(days=45)).sum())
    assert expected == 5  # days 50 … 90
    dry = invoke("privacy", "purge", "--dry-run", "--database", db, "-w", url, "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["warehouse_events"] == expected
    done = invoke("privacy", "purge", "--older-than-days", "45", "--database", db, "-w", url)
    assert done.exit_code == 0 and "deleted events before" in done.output
    wh = connect(url, create=False)
    assert wh.count("events") == len(events) - expected
    wh.close()
    bad = invoke("privacy", "purge", "--older-than-days", "0", "--database", db, "-w", url)
    assert bad.exit_code == 2 and "at least 1 day" in bad.output
