"""A DuckDB warehouse file's engine runs within a memory budget (UPMARKET_ENGINE_MEMORY), spills
beside the file and removes what it spilled when closed, and a query that cannot spill runs
without the budget rather than failing; an in-memory warehouse keeps DuckDB's own settings."""

from __future__ import annotations

import json

import duckdb
import pytest
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.errors import WarehouseError
from upmarket.warehouse import connect
from upmarket.warehouse.engine_memory import (DEFAULT_ENGINE_MEMORY, ENGINE_MEMORY_ENV,
                                              BudgetedConnection, spill_directory)
from upmarket.warehouse.runs import output

from tests.test_pipeline_small import orders_file


def _setting(wh, name: str) -> str:
    return wh.backend.con.execute(f"SELECT current_setting('{name}')").fetchone()[0]


def _in_mib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit]


def test_a_warehouse_file_has_the_budget_and_spills_beside_it(tmp_path, monkeypatch):
    monkeypatch.delenv(ENGINE_MEMORY_ENV, raising=False)
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    try:
        assert DEFAULT_ENGINE_MEMORY == "1GiB" and _setting(wh, "memory_limit") == "1.0 GiB"
        assert _setting(wh, "temp_directory") == str(tmp_path / "w.duckdb.tmp")
    finally:
        wh.close()
    monkeypatch.setenv(ENGINE_MEMORY_ENV, "300MB")
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    try:
        assert _in_mib(_setting(wh, "memory_limit")) == pytest.approx(300e6 / 2**20, abs=0.1)
    finally:
        wh.close()


@pytest.mark.parametrize("raw", ["lots", "0GB", "2 gallons", "1GB'; DROP TABLE orders; --"])
def test_a_budget_that_is_not_a_size_is_refused(tmp_path, monkeypatch, raw):
    monkeypatch.setenv(ENGINE_MEMORY_ENV, raw)
    with pytest.raises(WarehouseError, match=ENGINE_MEMORY_ENV):
        connect(f"duckdb://{tmp_path}/w.duckdb")


def test_an_in_memory_warehouse_keeps_duckdbs_settings(monkeypatch):
    monkeypatch.setenv(ENGINE_MEMORY_ENV, "100MB")
    wh = connect("duckdb://")
    try:
        default = duckdb.connect().execute(
            "SELECT current_setting('memory_limit')").fetchone()[0]
        assert _setting(wh, "memory_limit") == default
        assert not isinstance(wh.backend.con, BudgetedConnection)
    finally:
        wh.close()


def test_what_exceeds_the_budget_is_spilled_and_removed_on_close(tmp_path, monkeypatch):
    monkeypatch.setenv(ENGINE_MEMORY_ENV, "64MB")
    path = tmp_path / "w.duckdb"
    wh = connect(f"duckdb://{path}")
    con = wh.backend.con
    con.execute("CREATE TEMP TABLE big AS SELECT i, md5(i::VARCHAR) || md5((i + 1)::VARCHAR) AS s"
                " FROM range(3000000) t(i)")
    spilled = con.execute("SELECT sum(size) FROM duckdb_temporary_files()").fetchone()[0]
    assert spilled and spilled > 0
    assert spill_directory(path).is_dir() and any(spill_directory(path).iterdir())
    # the spilled table is read back whole
    assert con.execute("SELECT count(*), count(DISTINCT s) FROM big").fetchone() == (3000000,) * 2
    wh.close()
    assert not spill_directory(path).exists()


LISTS = ("SELECT g, list(s ORDER BY s) AS l FROM (SELECT i % 1000 AS g, md5(i::VARCHAR) AS s "
         "FROM range(1500000) t(i)) GROUP BY g ORDER BY g")


def test_a_query_that_cannot_spill_runs_without_the_budget(tmp_path, monkeypatch):
    monkeypatch.setenv(ENGINE_MEMORY_ENV, "32MB")
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    con = wh.backend.con
    try:
        with pytest.raises(duckdb.OutOfMemoryException):  # within the budget it cannot run
            con._con.execute(LISTS).fetchall()
        # through the connection, through a relation, and through Ibis
        assert len(con.execute(LISTS).fetchall()) == 1000
        assert con.sql(LISTS).to_arrow_table().num_rows == 1000
        assert len(wh.backend.sql(LISTS).to_pandas()) == 1000
        assert con.lifted == 3
        # the budget is back for what comes next
        assert _in_mib(_setting(wh, "memory_limit")) == pytest.approx(32e6 / 2**20, abs=0.1)
        # inside a transaction the statement cannot run again: the error stands
        with pytest.raises(duckdb.OutOfMemoryException), wh.transaction():
            con.execute(LISTS)
        assert con.lifted == 3
    finally:
        wh.close()


def test_a_run_with_a_budget_too_small_for_it_completes_with_the_same_answers(
        tmp_path, monkeypatch):
    runner = CliRunner()
    orders_file(tmp_path / "orders.csv", 400, 18, seed=21)
    answers = {}
    for budget in ("4GB", "16MB"):
        monkeypatch.setenv(ENGINE_MEMORY_ENV, budget)
        url = f"duckdb://{tmp_path}/{budget}.duckdb"
        done = runner.invoke(app, ["ingest", "orders", str(tmp_path / "orders.csv"), "-w", url])
        assert done.exit_code == 0, done.output
        ran = runner.invoke(app, ["run", "-w", url, "--json", "--as-of", "2025-07-01"])
        assert ran.exit_code == 0, ran.output
        summary = json.loads(ran.stdout)
        assert summary["customers"] == 400
        assert summary["engine_memory"]["limit"] == budget
        assert summary["engine_memory"]["statements_over"] >= 0
        wh = connect(url, create=False)
        answers[budget] = output(wh, "results").to_pandas().drop(columns="run_id") \
            .sort_values("customer_id").reset_index(drop=True)
        wh.close()
        assert not (tmp_path / f"{budget}.duckdb.tmp").exists()
    a, b = answers["4GB"], answers["16MB"]
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if a[col].dtype.kind == "f":
            assert a[col].to_numpy() == pytest.approx(b[col].to_numpy(), rel=1e-9, nan_ok=True)
        else:
            assert a[col].equals(b[col]), col


def _held_mib(wh) -> dict[str, float]:
    rows = wh.backend.con.execute(
        "SELECT tag, memory_usage_bytes / 2^20 FROM duckdb_memory()").fetchall()
    return dict(rows)


def test_cached_file_pages_are_let_go_and_the_budget_kept(tmp_path, monkeypatch):
    monkeypatch.delenv(ENGINE_MEMORY_ENV, raising=False)
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    try:
        con = wh.backend.con
        con.execute("CREATE TABLE big AS SELECT range AS i, random() AS x FROM range(20000000)")
        con.execute("CREATE TEMP TABLE kept AS SELECT range AS i FROM range(3000000)")
        con.execute("CHECKPOINT")
        assert con.execute("SELECT sum(x) > 0 FROM big").fetchone()[0]
        before = _held_mib(wh)
        assert before["BASE_TABLE"] > 100
        con.drop_cached_pages()
        after = _held_mib(wh)
        assert after["BASE_TABLE"] < 70
        # the temporary table stays in memory (nothing of it had to be written out)
        assert after["IN_MEMORY_TABLE"] == pytest.approx(before["IN_MEMORY_TABLE"], rel=0.05)
        assert _setting(wh, "memory_limit") == "1.0 GiB"
        # and the table reads the same from the file
        assert con.execute("SELECT count(*) FROM big").fetchone()[0] == 20_000_000
    finally:
        wh.close()
