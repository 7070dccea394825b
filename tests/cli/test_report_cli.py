"""`upmarket report`: writes the file and says where, names it after the period by default,
and refuses a bad period or a warehouse without a run with a message and exit status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import upmarket.cli.report  # noqa: F401  (attaches the command to the app)
from upmarket.cli import app
from upmarket.opstore import store as ops
from upmarket.opstore.schema import audit_log

sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))
from report_world import build  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    url = f"duckdb://{tmp_path_factory.mktemp('report-cli')}/w.duckdb"
    run_id, _, _ = build(url)
    return url, run_id


@pytest.fixture(autouse=True)
def ops_store(tmp_path, monkeypatch):
    """Each test audits into its own operational store, never ./upmarket-ops.sqlite."""
    url = f"sqlite:///{tmp_path}/ops.sqlite"
    monkeypatch.setenv(ops.ENV_VAR, url)
    return url


def audit_actions(url: str) -> list[str]:
    store = ops.open_store(url)
    try:
        with store.engine.connect() as conn:
            return [r.action for r in conn.execute(sa.select(audit_log))]
    finally:
        store.close()


def test_writes_the_file_and_says_where(world, tmp_path, ops_store):
    url, run_id = world
    out = tmp_path / "q4.html"
    result = runner.invoke(app, ["report", "-w", url, "--cycle", "quarter", "--period",
                                 "2025-Q4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "Quarterly assessment: 2025-Q4" in result.stdout and str(out) in result.stdout
    assert run_id in result.stdout and "pseudonymised" in result.stdout
    assert audit_actions(ops_store) == ["report"]


def test_default_name_cycle_from_period_and_json(world, tmp_path, monkeypatch, ops_store):
    url, run_id = world
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "-w", url, "--period", "2025-11", "--lang", "zh",
                                 "--json", "--with-pii"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    # a month given, so a monthly quick review, written where the user stands
    assert out["cycle"] == "month" and out["period"] == "2025-11" and out["lang"] == "zh-CN"
    path = tmp_path / "upmarket-report-2025-11-zh.html"
    assert Path(out["path"]) == path.relative_to(tmp_path)
    assert path.stat().st_size == out["bytes"] and out["pseudonymised"] is False
    assert "月度快评：2025-11" in path.read_text(encoding="utf-8")
    assert audit_actions(ops_store) == ["report_with_pii"]


@pytest.mark.parametrize("args, message", [
    (["--period", "2025-13"], "cannot read the period '2025-13'"),
    (["--period", "2026-Q1"], "has not ended by the run's as-of date 2026-01-01"),
    (["--cycle", "year", "--period", "2025-Q4"], "2025-Q4 is a quarter"),
    (["--cycle", "week"], "--cycle must be one of month, quarter, year"),
    (["--period", "2019-Q1"], "no orders in 2019-Q1"),
    (["--run", "nope"], "no published run 'nope'"),
])
def test_bad_input_exits_2_with_a_message(world, tmp_path, args, message, ops_store):
    url, _ = world
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", "-w", url, "--out", str(out), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # the message, not a traceback
    assert "Traceback" not in result.output
    assert not out.exists() and audit_actions(ops_store) == []


def test_no_run_yet(tmp_path):
    from upmarket.warehouse import connect

    url = f"duckdb://{tmp_path}/empty.duckdb"
    connect(url).close()
    result = runner.invoke(app, ["report", "-w", url])
    assert result.exit_code == 2
    assert "no published run yet" in result.output
