"""Compacting a DuckDB warehouse file: rewrite it so that deleted or overwritten data is gone
from its bytes, not just from its tables.

DuckDB marks the blocks an UPDATE or DELETE frees as free and reuses them later; it does not
overwrite them, so an erased e-mail stays readable in the file (`strings upmarket.duckdb`)
until the block happens to be reused. After an erasure that is not good enough (PIPL art. 47,
GDPR art. 17; OWASP Top 10 Privacy Risks P4 "Insufficient Deletion of Personal Data"). The only
way to be rid of the free blocks is a new file: the live data is copied into a fresh database
(`ATTACH` + `COPY FROM DATABASE`), checkpointed, and moved over the old file in one atomic
rename. The write-ahead log is checkpointed first and removed with the old file, so it cannot
replay old pages onto the new one.

While the file is swapped, no other process may have it open: one that did would keep reading
the old file, or write to it and lose the writes. DuckDB itself locks the file (fcntl) while
it is open; the same lock is taken here between closing and renaming, so a process that tries
to open the warehouse meanwhile is refused by DuckDB instead, and if another process holds it
the compaction is refused (`WarehouseBusy`) and the old file left as it was.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import ibis

from upmarket.errors import WarehouseError
from upmarket.warehouse.connection import Warehouse, duckdb_path
from upmarket.warehouse.engine_memory import budget_engine
from upmarket.warehouse.lock import WarehouseBusy  # another process holds the file


@dataclass
class CompactReport:
    path: str
    bytes_before: int
    bytes_after: int


def _path_of(wh: Warehouse) -> Path | None:
    if not wh.is_duckdb:
        return None
    path = duckdb_path(wh.url)
    if path in ("", ":memory:"):
        return None
    return Path(path).expanduser().resolve()


def is_writable(wh: Warehouse) -> bool:
    """True for a DuckDB warehouse opened for writing."""
    if not wh.is_duckdb:
        return False
    row = wh.backend.con.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return row is not None and not row[0]


def _size(path: Path) -> int:
    wal = Path(str(path) + ".wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def compact(wh: Warehouse) -> CompactReport | None:
    """Rewrite the DuckDB file of `wh` without its free blocks and reopen `wh` on the new
    file. None when there is no file to rewrite (in-memory, or another engine).

    Raises `WarehouseBusy`, the old file untouched and `wh` reopened on it, when another
    process holds the file; `WarehouseError` when it is opened read-only."""
    path = _path_of(wh)
    if path is None:
        return None
    if not is_writable(wh):
        raise WarehouseError("err.compact_read_only", path=path)
    con = wh.backend.con
    fresh = path.with_name(f".{path.name}.compact-{os.getpid()}")
    for leftover in (fresh, Path(str(fresh) + ".wal")):
        leftover.unlink(missing_ok=True)
    before = _size(path)
    with wh._lock:
        con.execute("CHECKPOINT")
        catalog = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ATTACH '{_sql_text(fresh)}' AS upmarket_compact")
        try:
            con.execute(f'COPY FROM DATABASE "{_ident(catalog)}" TO upmarket_compact')
            con.execute("CHECKPOINT upmarket_compact")
        finally:
            con.execute("DETACH upmarket_compact")
        wh.close()
        try:
            _swap(path, fresh)
        finally:
            fresh.unlink(missing_ok=True)
            _reopen(wh, path)
    return CompactReport(str(path), before, _size(path))


def _swap(path: Path, fresh: Path) -> None:
    """Move `fresh` over `path` while holding DuckDB's own lock on `path`."""
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise WarehouseBusy("err.compact_busy", path=path) from None
        wal = Path(str(path) + ".wal")
        if wal.exists():  # checkpointed above: what it held is in the file already
            wal.unlink()
        os.replace(fresh, path)
        _fsync_dir(path.parent)
    finally:
        os.close(fd)  # releases the lock, on the old file which is gone by now


def _reopen(wh: Warehouse, path: Path) -> None:
    # bounded as every warehouse file's engine is (warehouse.engine_memory)
    backend = ibis.duckdb.from_connection(budget_engine(duckdb.connect(str(path)), path))
    backend.raw_sql("SET enable_progress_bar = false")
    wh.backend = backend


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def _ident(name: str) -> str:
    return name.replace('"', '""')
