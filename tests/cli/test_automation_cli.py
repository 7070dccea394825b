"""`upmarket alerts|tasks|rules` on a small published run: check fires what a pandas filter
selects (once), list and filter alerts and tasks, mark a task done, deliver a webhook to a local
receiver, validate rules files; user errors exit 2 without a traceback."""

from __future__ import annotations

import json
from pathlib import Path
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import upmarket.cli.automation  # noqa: F401  (attaches the commands to the app)
from upmarket.cli import app
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run

runner = CliRunner()

RULES = """
rules:
  - name: churn
    when:
      customer: ["tier in [diamond, core]", "churn_risk > 0.6"]
    actions:
      - task: {title: "Call {customer_id}", assignee: amy}
    cooldown: 7d
    severity: high
  - name: roi_drop
    when: {kpi: channel_roi.roi, by: channel, change: "< -20%"}
    actions:
      - task: {title: "ROI of {group} fell", assignee: marketing}
      - webhook: {url: "URL", secret_env: CLI_HOOK_SECRET}
"""


class Receiver:
    def __init__(self):
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                outer.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def setup(tmp_path, monkeypatch):
    rx = Receiver()
    url = f"duckdb://{tmp_path}/w.duckdb"
    db = f"sqlite:///{tmp_path}/ops.sqlite"
    monkeypatch.setenv("UPMARKET_DATABASE", db)
    monkeypatch.setenv("CLI_HOOK_SECRET", "s3cret")
    monkeypatch.delenv("UPMARKET_RULES", raising=False)
    rng = np.random.default_rng(3)
    n = 60
    res = pd.DataFrame({"customer_id": [f"C{i:02d}" for i in range(n)],
                        "tier": rng.choice(["diamond", "core", "potential", "basic"], n),
                        "churn_risk": rng.uniform(0, 1, n)})
    wh = connect(url)
    for run_id, roi in (("20260101000000_a", [1.0, 1.0]), ("20260201000000_b", [0.5, 0.95])):
        run = Run(wh, datetime(2026, 2, 1))
        run.run_id = run_id
        run.write("results", res)
        run.write("channel_roi", pd.DataFrame({"channel": ["wechat", "email"], "roi": roi}))
        run.publish({})
    wh.close()
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES.replace("URL", rx.url))
    yield url, db, rules, res, rx
    rx.close()


def cli(*args):
    result = runner.invoke(app, list(args))
    return result


def test_check_list_done_and_deliver(setup):
    url, db, rules, res, rx = setup
    r = cli("alerts", "check", "--rules", str(rules), "-w", url, "--database", db, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    matching = set(res.loc[res["tier"].isin(["diamond", "core"]) & (res["churn_risk"] > 0.6),
                           "customer_id"])
    # the rule's control group is recorded and left alone (activation.holdout)
    from upmarket.activation.holdout import assignments
    from upmarket.warehouse import connect

    wh = connect(url, create=False)
    decided = assignments(wh)
    wh.close()
    assert set(decided["customer_id"]) == matching
    people = sorted(matching - set(decided.loc[decided["held_out"], "customer_id"]))
    fired = out["fired"]
    assert sorted(a["subject"] for a in fired if a["rule"] == "churn") == people
    assert [a["subject"] for a in fired if a["rule"] == "roi_drop"] == ["channel_roi:wechat"]
    assert out["tasks_in_warehouse"] == len(people) + 2
    # checking again fires nothing new
    again = json.loads(cli("alerts", "check", "--rules", str(rules), "-w", url, "--json").stdout)
    assert again["fired"] == []

    listed = json.loads(cli("alerts", "list", "--rule", "churn", "--since", "1d",
                            "--json").stdout)["alerts"]
    assert sorted(a["subject"] for a in listed) == people
    assert "churn" in cli("alerts", "list").stdout

    mine = json.loads(cli("tasks", "list", "--open", "--assignee", "amy", "--json").stdout)
    assert sorted(t["customer_id"] for t in mine["tasks"]) == people
    first = mine["tasks"][0]["id"]
    done = cli("tasks", "done", str(first))
    assert done.exit_code == 0 and f"task {first} done" in done.stdout
    left = json.loads(cli("tasks", "list", "--open", "--assignee", "amy", "--json").stdout)
    assert len(left["tasks"]) == len(people) - 1
    table = cli("tasks", "list", "--kind", "task")
    assert table.exit_code == 0 and "Call" in table.stdout

    hook = json.loads(cli("tasks", "list", "--kind", "webhook", "--json").stdout)["tasks"]
    refused = cli("tasks", "done", str(hook[0]["id"]))
    assert refused.exit_code == 2 and "completes itself" in refused.output
    assert "Traceback" not in refused.output

    sent = cli("alerts", "deliver", "-w", url, "--json")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["delivered"] == 1
    assert len(rx.bodies) == 1 and json.loads(rx.bodies[0])["rule"] == "roi_drop"
    hook = json.loads(cli("tasks", "list", "--kind", "webhook", "--json").stdout)["tasks"]
    assert hook[0]["status"] == "done"


def test_rules_validate(setup, tmp_path):
    _, _, rules, _, _ = setup
    ok = cli("rules", "validate", str(rules), "--json")
    assert ok.exit_code == 0, ok.output
    got = json.loads(ok.stdout)
    assert got["valid"] and [r["name"] for r in got["rules"]] == ["churn", "roi_drop"]
    assert got["rules"][0]["when"] == "tier in [diamond, core] and churn_risk > 0.6"
    assert got["rules"][0]["cooldown"] == "1w"
    shipped = cli("rules", "validate")
    assert shipped.exit_code == 0 and "premium_churn_risk" in shipped.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: oops\n    when: {customer: ['tier in diamond']}\n"
                   "    actions: [task: {title: '{nobody}'}]\n")
    r = cli("rules", "validate", str(bad))
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "bad.yaml: rule 'oops'" in r.output and "{nobody}" in r.output


def test_friendly_errors(setup):
    url, db, rules, _, _ = setup
    # a read command never leaves an empty store behind at a wrong path
    for args in (("tasks", "done", "4242"), ("tasks", "list"), ("alerts", "list")):
        r = cli(*args)
        assert r.exit_code == 2 and "no operational store at" in r.output
    assert not Path(db.removeprefix("sqlite:///")).exists()
    from upmarket.opstore.store import open_store

    open_store(db).close()
    r = cli("tasks", "done", "4242")
    assert r.exit_code == 2 and "no task with id 4242" in r.output
    r = cli("alerts", "list", "--since", "last tuesday")
    assert r.exit_code == 2 and "--since 'last tuesday'" in r.output
    r = cli("alerts", "check", "--rules", str(rules), "-w", url, "--run", "nope")
    assert r.exit_code == 2 and "no published run 'nope'" in r.output
    r = cli("tasks", "list", "--kind", "email")
    assert r.exit_code == 2 and "--kind must be one of" in r.output
