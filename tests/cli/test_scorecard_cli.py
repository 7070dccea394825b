"""`upmarket scorecard` on a small synthetic world: default periods, comparison, supplied
values, the input-only cards, and user errors (exit 2, no traceback)."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

import upmarket.cli.scorecard  # noqa: F401  (attaches the command to the app)
from upmarket.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse import connect

    url = f"duckdb://{tmp_path_factory.mktemp('world')}/w.duckdb"
    wh = connect(url)
    load_world(wh, WorldConfig(customers=300, seed=5))
    latest = pd.Timestamp(wh.table("orders").ts.max().execute())
    wh.close()
    return url, latest


def run(*args):
    return runner.invoke(app, ["scorecard", *args])


def test_default_is_the_effect_index_for_the_last_complete_quarter(world):
    url, latest = world
    result = run("-w", url, "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # the day after the latest order, then the quarter before the one holding that day
    day = latest.normalize() + timedelta(days=1)
    q = (day.month - 1) // 3 + 1
    year, q = (day.year, q - 1) if q > 1 else (day.year - 1, 4)
    prev = (year, q - 1) if q > 1 else (year - 1, 4)
    assert out["card"] == "effect_index"
    assert out["period"] == f"{year}-Q{q}" and out["compare"] == f"{prev[0]}-Q{prev[1]}"
    cur = out["current"]
    metrics = {m["metric"]: m for m in cur["metrics"]}
    assert sum(m["points"] for m in cur["metrics"]) == pytest.approx(out["index"], abs=1e-4)
    assert out["delta"] == pytest.approx(out["index"] - out["compare_index"], abs=1e-4)
    dims = {d["dimension"]: d for d in cur["dimensions"]}
    assert {k: d["weight"] for k, d in dims.items()} == {
        "customer_value": 0.5, "brand_value": 0.3, "operational_efficiency": 0.2}
    auto = metrics["marketing_automation_rate"]
    assert auto["status"] == "no_data" and auto["points"] == 0
    assert "not available" in auto["note_text"]
    assert any(n["note"] == "renormalised" and "marketing automation rate" in n["text"]
               for n in cur["notes"])
    # NPS is scored against the guide's absolute target, actual ÷ 50
    if metrics["nps"]["status"] == "ok":
        assert metrics["nps"]["attainment"] == pytest.approx(
            min(max(metrics["nps"]["actual"] / 50, 0), 1), abs=1e-6)
    # the comparison's actuals are the previous evaluation's
    prev_metrics = {m["metric"]: m for m in out["previous"]["metrics"]}
    for ch in out["changes"]:
        assert ch["compare_actual"] == prev_metrics[ch["metric"]]["actual"]


def test_tables_in_english(world):
    url, _ = world
    en = run("-w", url, "--period", "2025-Q3", "--compare", "2025-Q2")
    assert en.exit_code == 0, en.output
    for text in ("Upward-marketing effect index: 2025-Q3 vs 2025-Q2", "Customer value",
                 "Overall index", "no data", "brand awareness", "not available"):
        assert text in en.stdout


def test_tables_in_chinese(world):
    url, _ = world
    zh = run("-w", url, "--period", "2025-Q3", "--lang", "zh")
    assert zh.exit_code == 0, zh.output
    for text in ("向上营销效果指数", "客户价值", "综合指数", "无数据"):
        assert text in zh.stdout


@pytest.mark.parametrize("period, compare, kind_compare", [
    ("2025年8月", "2024-08", "2024-08"), ("2025", None, "2024")])
def test_months_and_years(world, period, compare, kind_compare):
    url, _ = world
    args = ["-w", url, "--period", period, "--json"] + (["--compare", compare] if compare else [])
    result = run(*args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["compare"] == kind_compare
    assert out["previous"]["baseline"] is not None


def test_a_quarters_index_does_not_depend_on_what_it_is_compared_with_and_counts_bav(world):
    url, _ = world
    seen = {}
    for other in ("2025-Q3", "2024-Q4"):
        result = run("-w", url, "--period", "2025-Q4", "--compare", other, "--json")
        assert result.exit_code == 0, result.output
        seen[other] = json.loads(result.stdout)
    a, b = seen["2025-Q3"], seen["2024-Q4"]
    assert a["compare"] == "2025-Q3" and b["compare"] == "2024-Q4"
    # growth targets are measured against the card's base period (the quarter before) in
    # both, so the same metrics are scored the same way and the index is one number
    assert a["current"]["baseline"] == b["current"]["baseline"] == "2025-Q3"
    assert a["index"] is not None and a["index"] == b["index"]
    rows = [{m["metric"]: (m["status"], m["attainment"]) for m in out["current"]["metrics"]}
            for out in (a, b)]
    assert rows[0] == rows[1]
    # the comparison period is scored against its own base, not against 2025-Q4
    assert b["previous"]["baseline"] == "2024-Q3"
    # a metric whose base period has no value is listed as unscored, with the reason
    for m in a["current"]["metrics"]:
        if m["status"] == "no_target":
            assert "2025-Q3" in m["note_text"]
    # BAV is scored in the brand dimension where surveys exist: awareness × association ×
    # loyalty × the premium coefficient
    metrics = {m["metric"]: m for m in a["current"]["metrics"]}
    bav, parts = metrics["bav"], [metrics[k] for k in ("awareness", "association", "loyalty")]
    assert bav["dimension"] == "brand_value" and bav["status"] == "ok"
    product = parts[0]["actual"] * parts[1]["actual"] * parts[2]["actual"]
    assert bav["actual"] == pytest.approx(product * bav["note_args"]["coefficient"], rel=1e-4)


def test_a_card_can_measure_growth_year_on_year(world, tmp_path):
    url, _ = world
    card = tmp_path / "yoy.yaml"
    card.write_text("base: year_before\ndimensions:\n"
                    "  - {key: value, weight: 1, metrics: [{key: net_revenue, target: '+10%'}]}\n")
    out = {}
    for other in ("2025-Q3", "2025-Q2"):
        result = run("-w", url, "--file", str(card), "--period", "2025-Q4", "--compare", other,
                     "--json")
        assert result.exit_code == 0, result.output
        out[other] = json.loads(result.stdout)
    assert out["2025-Q3"]["current"]["baseline"] == "2024-Q4"
    assert out["2025-Q3"]["previous"]["baseline"] == "2024-Q3"
    assert out["2025-Q3"]["index"] == out["2025-Q2"]["index"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(card.read_text().replace("year_before", "last_year"))
    result = run("-w", url, "--file", str(bad))
    assert result.exit_code == 2 and "previous, year_before" in result.stderr


def test_supplied_value_fills_the_automation_rate(world, tmp_path):
    url, _ = world
    f = tmp_path / "ops.yaml"
    f.write_text("marketing_automation_rate: 60%\nsomething_else: 3\n")
    result = run("-w", url, "--period", "2025-Q3", "--inputs", str(f), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    auto = {m["metric"]: m for m in out["current"]["metrics"]}["marketing_automation_rate"]
    assert auto["status"] == "ok" and auto["attainment"] == pytest.approx(0.6 / 0.8)
    assert out["unused_inputs"] == ["something_else"]
    # flat values belong to the period scored, not the comparison period
    prev = {m["metric"]: m for m in out["previous"]["metrics"]}["marketing_automation_rate"]
    assert prev["status"] == "no_data"


def test_platform_selection_ranks_the_candidates(tmp_path):
    f = tmp_path / "platforms.yaml"
    f.write_text("Vendor A: {maturity: 8, data_integration: 6, scalability: 7, "
                 "vendor_support: 9}\n"
                 "Vendor B: {maturity: 7, data_integration: 9, scalability: 8, "
                 "vendor_support: 6}\n")
    result = run("--file", "platform_selection", "--inputs", str(f), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    weights = {"maturity": 0.4, "data_integration": 0.3, "scalability": 0.2,
               "vendor_support": 0.1}
    ratings = {"Vendor A": (8, 6, 7, 9), "Vendor B": (7, 9, 8, 6)}
    expected = {k: sum(w * r * 10 for w, r in zip(weights.values(), v))
                for k, v in ratings.items()}
    got = {s["subject"]: s["index"] for s in out["subjects"]}
    assert got == pytest.approx(expected)
    assert [s["subject"] for s in out["subjects"]] == sorted(expected, key=expected.get,
                                                             reverse=True)
    table = run("--file", "platform_selection", "--inputs", str(f), "--lang", "zh")
    assert table.exit_code == 0 and "技术成熟度" in table.stdout and "Vendor B" in table.stdout


def test_sales_competency_from_csv_for_one_person(tmp_path):
    f = tmp_path / "team.csv"
    f.write_text("subject,metric,value\nLi,product_expertise,5\nLi,customer_insight,3\n"
                 "Li,value_presentation,1\nLi,relationships,4\n")
    result = run("--file", "sales_competency", "--inputs", str(f), "--period", "Li", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)["subjects"][0]
    # ratings 1–5 score linearly: (r − 1) / 4
    expected = 100 * (0.35 * 1 + 0.30 * 0.5 + 0.25 * 0 + 0.10 * 0.75)
    assert out["subject"] == "Li" and out["index"] == pytest.approx(expected)


@pytest.mark.parametrize("args, message", [
    (["--period", "2025-13"], "write a month as 2025-07"),
    (["--period", "2025-Q3", "--compare", "2025-06"], "must be another quarter"),
    (["--period", "2025-Q3", "--compare", "2025-Q3"], "must be another quarter"),
    (["--file", "nope.yaml"], "no such scorecard file"),
    (["--file", "platform_selection"], "pass --inputs"),
    (["--file", "sales_competency", "--inputs", "TEAM", "--period", "Wang"],
     "holds no values for 'Wang'; it has Li"),
])
def test_user_errors_exit_2(world, tmp_path, args, message):
    url, _ = world
    team = tmp_path / "team.csv"
    team.write_text("subject,metric,value\nLi,product_expertise,5\n")
    result = run("-w", url, *[str(team) if a == "TEAM" else a for a in args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.output


def test_bad_card_and_empty_warehouse(tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text("dimensions:\n  a: {weight: 0.7, metrics: {nps: {target: '> 50'}}}\n"
                    "  b: {weight: 0.2, metrics: {csat: {target: '>= 80%'}}}\n")
    from upmarket.warehouse import connect

    url = f"duckdb://{tmp_path}/empty.duckdb"
    connect(url).close()
    result = run("-w", url, "--file", str(card))
    assert result.exit_code == 2 and "card.yaml" in result.stderr
    assert "sum to 0.9" in " ".join(result.stderr.split())
    card.write_text("dimensions:\n  a: {metrics: {nps: {target: '> 50'}}}\n")
    result = run("-w", url, "--file", str(card))
    assert result.exit_code == 2 and "no orders" in result.stderr
