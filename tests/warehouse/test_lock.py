"""Waiting for a DuckDB file another process holds: a writer waits (bounded by
UPMARKET_LOCK_WAIT) and gets the file once it is let go, says clearly when it is not, and goes
before readers while it waits."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import pytest

from upmarket.errors import WarehouseError
from upmarket.warehouse import connect
from upmarket.warehouse.lock import (LOCK_WAIT_ENV, WarehouseBusy, lock_wait, marker,
                                     open_duckdb, writer_waiting)

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("held", flush=True)
time.sleep(float(sys.argv[3]))
"""


def _hold(path, mode: str, seconds: float) -> subprocess.Popen:
    """Another process holding `path` (read-only or read-write) for `seconds`."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), mode, str(seconds)],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    return path


def test_writer_waits_for_a_reader_in_another_process(db, monkeypatch):
    monkeypatch.setenv(LOCK_WAIT_ENV, "20")
    holder = _hold(db, "ro", 1.5)
    t = time.monotonic()
    wh = connect(f"duckdb://{db}")  # without waiting, DuckDB refuses it at once
    waited = time.monotonic() - t
    try:
        assert wh.count("orders") == 0
    finally:
        wh.close()
        holder.wait(10)
    assert 0.5 < waited < 15, waited
    assert not marker(db).exists()  # the writer's marker is gone once it has the file


def test_a_lock_held_past_the_wait_is_a_clear_error(db, monkeypatch):
    monkeypatch.setenv(LOCK_WAIT_ENV, "0.4")
    holder = _hold(db, "rw", 20)
    try:
        t = time.monotonic()
        with pytest.raises(WarehouseBusy) as err:
            connect(f"duckdb://{db}")
        assert 0.4 <= time.monotonic() - t < 5
    finally:
        holder.kill()
        holder.wait(10)
    text = str(err.value)
    assert str(db) in text and LOCK_WAIT_ENV in text and "waited 0.4 s" in text
    assert not marker(db).exists()


def test_readers_step_aside_while_a_writer_waits(db):
    holder = _hold(db, "ro", 20)
    try:
        assert not writer_waiting(db)
        con = open_duckdb(db, read_only=True, wait=0)  # readers share the file
        con.close()
        with pytest.raises(WarehouseBusy):
            open_duckdb(db, wait=0.3)  # a writer that gives up removes its marker
        assert not writer_waiting(db)
        marker(db).touch()  # as a waiting writer leaves it
        with pytest.raises(WarehouseBusy):
            open_duckdb(db, read_only=True, wait=0.2)
        assert writer_waiting(db, now=time.time() + 60) is False  # a stale marker is ignored
    finally:
        marker(db).unlink(missing_ok=True)
        holder.kill()
        holder.wait(10)


def test_lock_wait_setting(monkeypatch):
    monkeypatch.delenv(LOCK_WAIT_ENV, raising=False)
    assert lock_wait() == 30
    monkeypatch.setenv(LOCK_WAIT_ENV, "2.5")
    assert lock_wait() == 2.5
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv(LOCK_WAIT_ENV, bad)
        with pytest.raises(WarehouseError, match=LOCK_WAIT_ENV):
            lock_wait()
