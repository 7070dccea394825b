"""Compacting the DuckDB file: the rewrite keeps every table and view, and is refused, the
file left as it was, while another process has the warehouse open."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from upmarket.warehouse import connect
from upmarket.warehouse.compact import WarehouseBusy, _swap, compact


def test_compact_keeps_tables_and_views(tmp_path):
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    try:
        wh.insert("customers", pd.DataFrame({"customer_id": ["A", "B"], "email": ["a@x", "b@x"]}))
        wh.backend.con.execute("CREATE VIEW two AS SELECT * FROM customers")
        report = compact(wh)
        assert report.path == str((tmp_path / "w.duckdb").resolve())
        assert wh.count("customers") == 2 and wh.count("two") == 2
        assert not (tmp_path / "w.duckdb.wal").exists()
        assert [p.name for p in tmp_path.iterdir()] == ["w.duckdb"]  # no leftover copy
    finally:
        wh.close()


def test_swap_refused_while_another_process_holds_the_file(tmp_path):
    path = tmp_path / "w.duckdb"
    connect(f"duckdb://{path}").close()
    before = path.read_bytes()
    fresh = tmp_path / "fresh"
    fresh.write_bytes(b"new")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1], "
         "read_only=True); print('open', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(WarehouseBusy, match="upmarket privacy compact"):
            _swap(path, fresh)
    finally:
        holder.communicate("")
    assert path.read_bytes() == before and Path(fresh).exists()
