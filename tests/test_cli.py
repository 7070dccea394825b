"""The command line as a user meets it: messages, exit codes, JSON."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from upmarket.cli import app

runner = CliRunner()


def test_ingest_json_then_run(tmp_path):
    url = f"duckdb://{tmp_path}/w.duckdb"
    csv = tmp_path / "o.csv"
    csv.write_text("order_id,customer_id,ts,quantity,unit_price\nA,c,2024-01-01,1,5\n"
                   "B,,2024-01-02,1,5\n")
    result = runner.invoke(app, ["ingest", "orders", str(csv), "-w", url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows_read"] == 2 and report["accepted"] == 1 and report["reconciles"]
    assert report["quarantined_by_reason"] == {"missing customer_id": 1}
    result = runner.invoke(app, ["run", "-w", url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customers"] == 1
    result = runner.invoke(app, ["quarantine", "-w", url, "--json"])
    assert json.loads(result.stdout)[0]["row_number"] == 3


def test_user_errors_exit_2_without_traceback(tmp_path):
    url = f"duckdb://{tmp_path}/w.duckdb"
    result = runner.invoke(app, ["ingest", "orders", str(tmp_path / "missing.csv"), "-w", url])
    assert result.exit_code == 2
    assert "no such file" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["run", "-w", url])
    assert result.exit_code == 2 and "no orders" in result.output


def test_help_teaches():
    result = runner.invoke(app, ["ingest", "--help"])
    assert result.exit_code == 0
    for needle in ("online-retail", "cdnow", "mapping", "GBK"):
        assert needle in result.output


def test_holdout_report_on_cdnow_sample(tmp_path):
    from shared_data import shared

    url = f"duckdb://{tmp_path}/w.duckdb"
    path = shared("cdnow/CDNOW_sample.txt")
    assert runner.invoke(app, ["ingest", "orders", str(path), "--preset", "cdnow", "-w", url]).exit_code == 0
    result = runner.invoke(app, ["holdout", "--calibration-end", "1997-10-01", "--holdout-end", "1998-07-01",
                                 "--model", "bgnbd", "-w", url, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    (bg,) = out["models"]
    assert round(bg["params"]["r"], 3) == 0.243
    rows = {r["frequency"]: r for r in out["per_frequency"]}
    assert rows["0"]["n_customers"] == 1411
    assert abs(rows["all"]["bgnbd"] - rows["all"]["actual"]) < 0.15


