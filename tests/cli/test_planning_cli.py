"""`upmarket budget` and `upmarket risk` on a small synthetic world."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import upmarket.cli.planning  # noqa: F401  (registers the commands until cli/__init__ does)
from upmarket.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 300-customer world with a published run whose results carry tiers, CLV and churn
    risk (made up here: the commands only read them)."""
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import Run

    cfg = WorldConfig(customers=300, seed=5)
    url = f"duckdb://{tmp_path_factory.mktemp('planning')}/w.duckdb"
    wh = connect(url)
    load_world(wh, cfg)
    cust = wh.table("orders").select("customer_id").distinct().order_by("customer_id") \
        .to_pandas()["customer_id"]
    n = len(cust)
    rng = np.random.default_rng(1)
    results = pd.DataFrame({
        "customer_id": cust,
        "tier": np.array(["diamond", "core", "potential", "basic"])[
            np.minimum(np.arange(n) * 4 // n, 3)],
        "clv": rng.gamma(2.0, 100.0, n), "churn_risk": rng.uniform(0, 1, n)})
    run = Run(wh, cfg.as_of)
    run.write("results", results)
    run.publish({})
    wh.close()
    return url, results


def test_risk_json_reads_the_run(world):
    url, results = world
    out = runner.invoke(app, ["risk", "-w", url, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["as_of"] == "2026-01-01"
    reg = pd.DataFrame(data["register"]).set_index("indicator")
    prem = results[results["tier"].isin(["diamond", "core"])]["churn_risk"].mean()
    assert reg.at["premium_churn_predicted", "value"] == pytest.approx(prem)
    assert set(reg["level"]) <= {"low", "medium", "high"}
    assert data["summary"]["open_risks"] == int((reg["level"] != "low").sum())
    assert {"credit", "sla", "anomalies", "feedback_weekly"} <= set(data)
    assert "premium_churn_predicted" not in data["summary"]["not_assessed"]


def test_risk_tables_in_both_languages(world):
    url, _ = world
    en = runner.invoke(app, ["risk", "-w", url])
    assert en.exit_code == 0, en.output
    assert "Risk register as of 2026-01-01" in en.stdout and "CRD-01" in en.stdout
    zh = runner.invoke(app, ["risk", "-w", url, "--lang", "zh"])
    assert zh.exit_code == 0, zh.output
    assert "风险登记表" in zh.stdout and "开票客户信用等级" in zh.stdout


def test_budget_json_conserves_the_budget(world):
    url, _ = world
    out = runner.invoke(app, ["budget", "-w", url, "--json", "--max-change", "0.2"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    re = pd.DataFrame(data["reallocation"])
    assert re["suggested"].sum() == pytest.approx(re["current"].sum())
    assert (re["change_pct"].abs() <= 0.2 + 1e-9).all()
    s = data["summary"]
    assert s["expected_return_suggested"] >= s["expected_return_now"]
    assert s["plan_source"] == "campaigns"
    # a channel whose mix-model curve is not credible keeps its budget, and says why
    mix = pd.DataFrame(data["mix_model"]).set_index("channel")
    weak = re[re["signal"] != "credible"]
    assert (weak["suggested"] == weak["current"]).all()
    for r in weak.itertuples():
        assert r.signal == mix.at[r.channel, "reason"] == s["not_enough_signal"][r.channel]
    pva = pd.DataFrame(data["plan_vs_actual"])
    assert s["actual"] == pytest.approx(pva[pva["planned_to_date"] > 0]["actual"].sum(),
                                        abs=0.01)


def test_budget_tables_and_quarterly_in_chinese(world):
    url, _ = world
    en = runner.invoke(app, ["budget", "-w", url])
    assert en.exit_code == 0, en.output
    assert "Suggested reallocation" in en.stdout and "execution rate" in en.stdout
    assert "Marketing-mix model" in en.stdout and "out-of-time R²" in en.stdout
    assert "not enough signal" in en.stdout or "credible" in en.stdout
    zh = runner.invoke(app, ["budget", "-w", url, "--period", "quarter", "--lang", "zh"])
    assert zh.exit_code == 0, zh.output
    assert "每季度" in zh.stdout and "建议再分配" in zh.stdout


def test_budget_with_a_plan_file(world, tmp_path):
    url, _ = world
    plan = tmp_path / "plan.csv"
    plan.write_text("channel,period,planned\nsearch,2025-11,5000\nsearch,2025-12,5000\n"
                    "email,2025-12,100\n")
    out = runner.invoke(app, ["budget", "-w", url, "--plan", str(plan), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["summary"]["plan_source"] == "file"
    rows = {(r["channel"], r["period"]): r for r in data["plan_vs_actual"]}
    assert rows[("search", "2025-12")]["planned"] == 5000
    r = rows[("email", "2025-12")]
    assert r["execution_rate"] == pytest.approx(r["actual"] / 100)


@pytest.mark.parametrize("args, message", [
    (["--max-change", "-0.5"], "--max-change"),
    (["--period", "week"], "--period must be month or quarter"),
    (["--model", "magic"], "--model must be one of"),
    (["--outcome", "clicks"], "the outcome must be one of new_customers, revenue"),
    (["--lift", "search=high"], "--lift 'search=high': write CHANNEL=ROI:SE"),
    (["--lift", "search=0.002:0"], "standard error SE > 0"),
])
def test_budget_bad_options(world, args, message):
    url, _ = world
    out = runner.invoke(app, ["budget", "-w", url, *args])
    assert out.exit_code == 2 and message in out.stderr
    assert "Traceback" not in out.output


def test_bad_plan_file_is_a_clear_error(world, tmp_path):
    url, _ = world
    plan = tmp_path / "plan.csv"
    plan.write_text("channel,period,planned\nsearch,2025-13,100\n")
    out = runner.invoke(app, ["budget", "-w", url, "--plan", str(plan)])
    assert out.exit_code == 2
    assert "plan.csv" in out.stderr and "line 2" in out.stderr and "Traceback" not in out.output


def test_risk_without_a_run_says_what_it_skipped(tmp_path):
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest

    url = f"duckdb://{tmp_path}/w.duckdb"
    wh = connect(url)
    ingest("orders", pd.DataFrame({
        "order_id": ["o1", "o2", "o3"], "line_no": 0, "customer_id": ["a", "b", "a"],
        "ts": pd.to_datetime(["2025-01-05", "2025-02-06", "2025-03-01"]), "quantity": 1,
        "amount": [20.0, 10.0, 30.0], "status": "paid"}), warehouse=wh)
    wh.close()
    out = runner.invoke(app, ["risk", "-w", url, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    skipped = data["summary"]["not_assessed"]
    assert {"credit", "tickets", "reputation", "premium_churn_predicted"} <= set(skipped)
    reg = {r["indicator"]: r for r in data["register"]}
    # two customers: the top 1 % is one customer holding 50 of 60
    assert reg["top1pct_share"]["value"] == pytest.approx(50 / 60)
    assert reg["top1pct_share"]["level"] == "high"
    # and the budget has nothing to work on
    out = runner.invoke(app, ["budget", "-w", url])
    assert out.exit_code == 0 and "No marketing spend" in out.stdout
