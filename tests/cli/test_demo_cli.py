"""`upmarket demo` end to end on a small world: the warehouse, the service's store and the
customers file are where it says, the automation rules fired on the run, and a second demo
starts afresh (same alerts again, not silenced by the first one's cooldowns)."""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from upmarket.activation import privacy
from upmarket.cli import app
from upmarket.warehouse import connect

runner = CliRunner()


def test_demo_runs_everything_and_says_where(tmp_path, monkeypatch):
    monkeypatch.delenv("UPMARKET_DATABASE", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    first = runner.invoke(app, ["demo", "--customers", "600", "--out", str(out), "--json"])
    assert first.exit_code == 0, first.output
    info = json.loads(first.stdout)
    assert (out / "demo.duckdb").exists() and (out / "customers.csv").exists()
    assert not (tmp_path / "upmarket-ops.sqlite").exists()  # the demo keeps to its folder
    engine = sa.create_engine(f"sqlite:///{out / 'demo-ops.sqlite'}")
    with engine.connect() as c:
        alerts = pd.read_sql("SELECT rule, customer_id FROM alerts", c)
        tasks = pd.read_sql("SELECT customer_id, tier FROM tasks", c)
        profiles = c.exec_driver_sql("SELECT count(*) FROM profiles").scalar()
    engine.dispose()
    results = pd.read_csv(out / "customers.csv", encoding="utf-8-sig")
    # the file is an export like any other: consenting customers, pseudonymised ids
    assert profiles == info["customers"]
    assert len(results) + info["customers_left_out_no_consent"] == info["customers"]
    assert "customer_id" not in results and results["customer_ref"].str.startswith("p_").all()
    wh = connect(f"duckdb://{out / 'demo.duckdb'}", create=False)
    try:
        key = privacy.pseudonym_key(wh)
    finally:
        wh.close()
    # the shipped customer rule, checked against the published results independently
    at_risk = results[results["tier"].isin(["diamond", "core"]) & (results["churn_risk"] > 0.6)]
    fired = alerts[alerts["rule"].isin(["premium_churn_risk", "premium_win_back"])]
    assert len(at_risk) > 0
    fired_refs = set(privacy.pseudonymise(fired["customer_id"], key))
    assert fired_refs & set(results["customer_ref"]) == set(at_risk["customer_ref"])
    # those who lapsed months before the as-of get the win-back, not the call within hours
    back = fired[fired["rule"] == "premium_win_back"]
    lapsed = at_risk.loc[at_risk["recency_days"] > 90, "customer_ref"]
    assert set(privacy.pseudonymise(back["customer_id"], key)) & set(results["customer_ref"]) \
        == set(lapsed)
    assert info["automation"]["alerts"] == len(alerts)
    assert set(tasks.dropna()["customer_id"]) >= set(fired["customer_id"])
    # the run's tasks are about its data's last quarter, so the demo scores its automation rate
    card = runner.invoke(app, ["scorecard", "-w", f"duckdb://{out / 'demo.duckdb'}", "--json"])
    assert card.exit_code == 0, card.output
    auto = {m["metric"]: m for m in json.loads(card.stdout)["current"]["metrics"]}[
        "marketing_automation_rate"]
    assert auto["status"] == "ok" and 0 <= auto["actual"] <= 1
    again = runner.invoke(app, ["demo", "--customers", "600", "--out", str(out), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["automation"]["alerts"] == len(alerts)
