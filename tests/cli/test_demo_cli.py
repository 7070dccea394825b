"""`upmarket demo` end to end on a small world: the warehouse, the service's store and the
customers file are where it says, the automation rules fired on the run, and a second demo
starts afresh (same alerts again, not silenced by the first one's cooldowns)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from typer.testing import CliRunner

from upmarket.activation import privacy
from upmarket.activation.holdout import assignments
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
        alerts = pd.read_sql("SELECT rule, customer_id, run_id FROM alerts", c)
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
        decided = assignments(wh)
    finally:
        wh.close()
    # each rule's control group is recorded and fires nothing (activation.holdout)
    rules = decided[decided["source"] == "rule"]
    # the premium rules' customers (the membership rules have control groups of their own)
    premium = rules[rules["action"].isin(["rule:premium_churn_risk", "rule:premium_win_back"])]
    held = set(privacy.pseudonymise(premium.loc[premium["held_out"], "customer_id"], key))
    # the shipped customer rule, checked against the published results independently
    at_risk = results[results["tier"].isin(["diamond", "core"]) & (results["churn_risk"] > 0.6)]
    # the weekly checks of the quarter before the run fired too; the run fires only for the
    # customers at risk at its as-of, and every one of them not held out has been alerted, by
    # the run or by a check whose alert is still within the rule's cooldown
    every = alerts[alerts["rule"].isin(["premium_churn_risk", "premium_win_back"])]
    fired = every[every["run_id"] == info["run_id"]]
    assert len(at_risk) > 0 and len(fired) > 0
    shown = set(results["customer_ref"])
    fired_refs = set(privacy.pseudonymise(fired["customer_id"], key)) & shown
    every_refs = set(privacy.pseudonymise(every["customer_id"], key)) & shown
    assert set(privacy.pseudonymise(premium["customer_id"], key)) \
        & shown == set(at_risk["customer_ref"])
    assert fired_refs <= set(at_risk["customer_ref"]) - held
    assert set(at_risk["customer_ref"]) - held <= every_refs
    # those who lapsed months before the as-of get the win-back, not the call within hours
    back = fired[fired["rule"] == "premium_win_back"]
    lapsed = at_risk.loc[at_risk["recency_days"] > 90, "customer_ref"]
    calls = fired[fired["rule"] == "premium_churn_risk"]
    assert set(privacy.pseudonymise(back["customer_id"], key)) & shown <= set(lapsed) - held
    assert not set(privacy.pseudonymise(calls["customer_id"], key)) & set(lapsed)
    assert info["automation"]["alerts"] == (alerts["run_id"] == info["run_id"]).sum()
    assert set(tasks.dropna()["customer_id"]) >= set(fired["customer_id"])
    # the weeks of the quarter the run scores were worked, so it scores the automation rate
    card = runner.invoke(app, ["scorecard", "-w", f"duckdb://{out / 'demo.duckdb'}", "--json"])
    assert card.exit_code == 0, card.output
    auto = {m["metric"]: m for m in json.loads(card.stdout)["current"]["metrics"]}[
        "marketing_automation_rate"]
    assert auto["status"] == "ok" and 0 <= auto["actual"] <= 1
    # no policy file: the defaults, recorded; then the same demo under an edited policy
    assert info["policy"]["source"] is None
    assert info["tiers"]["diamond"] == math.ceil(0.02 * info["customers"])
    (tmp_path / "upmarket.yaml").write_text(
        "tiers:\n  shares: {diamond: 0.05, core: 0.15, potential: 0.30, basic: 0.50}\n")
    again = runner.invoke(app, ["demo", "--customers", "600", "--out", str(out), "--json"])
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    # Diamond and Core together are still the top 20 %, so the same premium rules match; a
    # fresh warehouse draws a fresh holdout salt, so another control group is left alone
    wh = connect(f"duckdb://{out / 'demo.duckdb'}", create=False)
    try:
        redone = assignments(wh)
        row = wh.table("runs").filter(lambda t: t.run_id == second["run_id"]).to_pandas()
    finally:
        wh.close()
    redone = redone[redone["source"] == "rule"]
    assert sorted(redone["customer_id"]) == sorted(rules["customer_id"])
    # customers' alerts: the KPI rules (the risk register's levels) move with the tier shares
    engine = sa.create_engine(f"sqlite:///{out / 'demo-ops.sqlite'}")
    with engine.connect() as c:
        again_alerts = pd.read_sql("SELECT rule, customer_id, run_id FROM alerts", c)
    engine.dispose()
    again_alerts = again_alerts[again_alerts["run_id"] == second["run_id"]]
    assert len(again_alerts) == second["automation"]["alerts"]
    # the new control group is left alone: none of its customers is alerted by the run
    assert not set(again_alerts["customer_id"].dropna()) \
        & set(redone.loc[redone["held_out"], "customer_id"])
    assert second["policy"]["source"] == "upmarket.yaml"
    assert second["tiers"]["diamond"] == math.ceil(0.05 * second["customers"])
    assert second["tiers"]["core"] == math.ceil(0.20 * second["customers"]) - \
        second["tiers"]["diamond"]
    recorded = json.loads(row["config"].iloc[0])["policy"]
    assert recorded["tiers"]["shares"] == {"diamond": 0.05, "core": 0.15, "potential": 0.30,
                                           "basic": 0.50}
    assert row["config_hash"].iloc[0] == second["policy"]["config_hash"] != \
        info["policy"]["config_hash"]


def test_the_files_listed_fit_80_columns_in_chinese(monkeypatch):
    """Each file the demo wrote: its name and path on one line, what it holds below, wrapped
    within its column at 80 columns; no name left alone on a line, no line over 80 cells."""
    from rich.cells import cell_len

    from upmarket.cli import console
    from upmarket.cli.runs import _print_files
    from upmarket.i18n import label

    monkeypatch.setenv("COLUMNS", "80")
    folder = Path("/srv/演示输出")  # nothing is written: the listing alone is printed
    paths = {k: folder / name for k, name in (("customers", "customers.csv"),
                                               ("team", "account_managers.csv"))}
    with console.capture() as got:
        _print_files([
            (label("demo.customers", "zh", path=paths["customers"], n="3"), paths["customers"]),
            (label("demo.team", "zh", path=paths["team"]), paths["team"])])
    lines = got.get().splitlines()
    assert all(cell_len(line) <= 80 for line in lines), lines
    assert lines[0].split()[:2] == ["客户清单", str(paths["customers"])]
    assert lines[1].strip().startswith("每位同意接收营销的客户一行")
    # the description wraps under the path, not back under the name
    indent = lines[0].index(str(paths["customers"]))
    assert all(line[:indent].strip() == "" for line in lines[1:3]), lines
    assert any("销售团队" in line and str(paths["team"]) in line for line in lines)


def test_a_path_longer_than_the_terminal_is_listed_whole(monkeypatch):
    """A path is never folded inside a word: a folded path cannot be copied, and its pieces
    read as words in no language."""
    from upmarket.cli import console
    from upmarket.cli.runs import _print_files
    from upmarket.i18n import label

    monkeypatch.setenv("COLUMNS", "80")
    path = Path("/srv") / ("深层目录/" * 8) / "a-rather-long-folder-name" / "customers.csv"
    with console.capture() as got:
        _print_files([(label("demo.customers", "en", path=path, n="3"), path)])
    text = got.get()
    assert str(path) in text.replace("\n", "") and str(path) in text, text
