"""`upmarket keys create|list|revoke` and `upmarket collect sync` against real stores."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import upmarket.cli.service  # noqa: F401  (attaches the commands until cli/__init__ imports it)
from upmarket.cli import app
from upmarket.opstore import store as ops
from upmarket.warehouse import connect

runner = CliRunner()


def test_keys_lifecycle(tmp_path):
    db = f"sqlite:///{tmp_path}/ops.sqlite"
    made = runner.invoke(app, ["keys", "create", "web", "--scope", "collect", "--scope", "read",
                               "--database", db, "--json"])
    assert made.exit_code == 0, made.output
    info = json.loads(made.stdout)
    assert info["scopes"] == ["collect", "read"] and info["key"].startswith("um_")
    store = ops.open_store(db)
    assert ops.verify_key(store, info["key"]).id == info["id"]
    listed = json.loads(runner.invoke(app, ["keys", "list", "--database", db, "--json"]).stdout)
    assert [k["name"] for k in listed["keys"]] == ["web"]
    assert info["key"] not in json.dumps(listed)  # the key is shown once, never listed
    r = runner.invoke(app, ["keys", "revoke", str(info["id"]), "--database", db])
    assert r.exit_code == 0 and "revoked" in r.output
    assert ops.verify_key(store, info["key"]) is None
    store.close()
    bad = runner.invoke(app, ["keys", "create", "x", "--scope", "write", "--database", db])
    assert bad.exit_code == 2 and "collect, read, export, admin" in bad.output
    gone = runner.invoke(app, ["keys", "revoke", "99", "--database", db])
    assert gone.exit_code == 2 and "99" in gone.output


def test_collect_sync_copies_once(tmp_path):
    db = f"sqlite:///{tmp_path}/ops.sqlite"
    wh_url = f"duckdb://{tmp_path}/w.duckdb"
    store = ops.open_store(db)
    ops.insert_events(store, [{"message_id": f"m{i}", "type": "track", "event": "click",
                               "user_id": f"C{i % 3}"} for i in range(7)]
                      + [{"message_id": "id1", "type": "identify", "user_id": "C9",
                          "properties": {"email": "c9@example.com"}}])
    from upmarket.opstore.consents import record_consents

    record_consents(store, {"customer_id": "C9", "purpose": "marketing", "channel": "email",
                            "granted": True})
    store.close()
    first = runner.invoke(app, ["collect", "sync", "--database", db, "-w", wh_url, "--json"])
    assert first.exit_code == 0, first.output
    copied = json.loads(first.stdout)
    assert copied["events"]["accepted"] == 8 and copied["customers"]["accepted"] == 1
    assert copied["consents"]["accepted"] == 1
    second = json.loads(runner.invoke(app, ["collect", "sync", "--database", db, "-w", wh_url,
                                            "--json"]).stdout)
    assert second["events"]["rows_read"] == 0 and second["customers"]["rows_read"] == 0
    assert second["consents"]["rows_read"] == 0
    wh = connect(wh_url, create=False)
    assert wh.count("events") == 8 and wh.count("customers") == 1
    wh.close()
