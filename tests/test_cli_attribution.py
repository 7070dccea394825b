"""`upmarket attribution`: from a CSV path table and from the warehouse's events."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from upmarket.cli import app

runner = CliRunner()

CSV = ("path,total_conversions,total_conversion_value,total_null\n"
       "search > email > offline,10,1000,5\n"
       "search,5,200,20\n"
       "email > social,2,50,3\n"
       "social,0,0,12\n")


@pytest.fixture
def csv(tmp_path):
    f = tmp_path / "paths.csv"
    f.write_text(CSV)
    return f


@pytest.mark.parametrize("model", ["first", "last", "linear", "time-decay", "position",
                                   "markov", "shapley"])
def test_json_conserves_totals(csv, model):
    result = runner.invoke(app, ["attribution", "--paths", str(csv), "--model", model,
                                 "--order", "2", "--half-life", "1.5", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["model"] == model
    assert out["total_conversions"] == 17 and out["total_value"] == 1250
    chans = pd.DataFrame(out["channels"])
    assert set(chans.channel) == {"search", "email", "offline", "social"}
    assert chans.conversions.sum() == pytest.approx(17)
    assert chans.value.sum() == pytest.approx(1250)
    assert chans.share.sum() == pytest.approx(1)


def test_all_models_table_and_json(csv):
    result = runner.invoke(app, ["attribution", "--paths", str(csv), "--model", "all"])
    assert result.exit_code == 0, result.output
    assert "shapley" in result.stdout and "offline" in result.stdout
    out = json.loads(runner.invoke(app, ["attribution", "--paths", str(csv), "--model", "all",
                                         "--json"]).stdout)
    assert set(out["models"]) == {"first", "last", "linear", "time-decay", "position",
                                  "markov", "shapley"}
    one = runner.invoke(app, ["attribution", "--paths", str(csv), "--model", "last"])
    assert one.exit_code == 0 and "offline" in one.stdout


@pytest.mark.parametrize("text, message", [
    ("path,conversions\na,1\n", "lacks column(s) total_conversions"),
    ("path,total_conversions\na > b,1\nc,-1\n", "row 2: total_conversions"),
    ("path,total_conversions\na > b,1\n,3\n", "row 2: path is empty"),
    ("path,total_conversions\na > b,lots\n", "row 1: total_conversions is 'lots'"),
])
def test_bad_file(tmp_path, text, message):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    result = runner.invoke(app, ["attribution", "--paths", str(f), "--model", "linear"])
    assert result.exit_code == 2
    assert "bad.csv" in result.stderr and message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_bad_model_and_missing_file(csv, tmp_path):
    result = runner.invoke(app, ["attribution", "--paths", str(csv), "--model", "magic"])
    assert result.exit_code == 2 and "--model must be one of" in result.stderr
    result = runner.invoke(app, ["attribution", "--paths", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2 and "nope.csv" in result.stderr


def test_from_warehouse(tmp_path):
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest

    url = f"duckdb://{tmp_path}/w.duckdb"
    wh = connect(url)
    ingest("events", pd.DataFrame({
        "message_id": ["m1", "m2", "m3", "m4"], "type": "track",
        "customer_id": ["c1", "c1", "c2", "c3"],
        "ts": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]),
        "channel": ["search", "email", "email", "social"]}), warehouse=wh)
    ingest("orders", pd.DataFrame({
        "order_id": ["o1", "o2"], "line_no": [0, 0], "customer_id": ["c1", "c2"],
        "ts": pd.to_datetime(["2025-01-05", "2025-01-06"]), "quantity": 1,
        "amount": [20.0, 10.0]}), warehouse=wh)
    wh.close()
    result = runner.invoke(app, ["attribution", "-w", url, "--model", "linear", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["total_conversions"] == 2 and out["total_value"] == 30
    got = {r["channel"]: r["conversions"] for r in out["channels"]}
    assert got == pytest.approx({"search": 0.5, "email": 1.5, "social": 0.0})
    # before any touch there is nothing to attribute: a clear message, exit 2
    result = runner.invoke(app, ["attribution", "-w", url, "--as-of", "2024-12-01"])
    assert result.exit_code == 2 and "no touchpoint paths" in result.stderr


def test_missing_warehouse(tmp_path):
    result = runner.invoke(app, ["attribution", "-w", f"duckdb://{tmp_path}/none.duckdb"])
    assert result.exit_code == 2
