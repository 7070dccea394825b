"""Opening a DuckDB file while another process may hold it: wait for the lock, writers first.

DuckDB lets one process write a database file at a time, and a process holding the file
read-only locks writers out too (https://duckdb.org/docs/stable/connect/concurrency). The lock
is taken when the file is opened and never waited for: a second opener fails at once. So
`upmarket ingest` or `upmarket run` started while `upmarket serve` reads would fail as soon as
one request happened to hold the file.

Here an opener retries with capped exponential backoff and jitter (the AWS Architecture Blog's
"Exponential Backoff and Jitter") for a bounded time, `UPMARKET_LOCK_WAIT` seconds (default 30),
and then says what is holding it up. A writer that is waiting leaves a marker file next to the
database, refreshed at each attempt; readers that see a fresh marker step aside instead of
taking the lock again, so a steady stream of short reads cannot starve a writer (the writer
preference of a readers–writer lock). A marker left by a writer that died goes stale within
`MARKER_FRESH` seconds and is then ignored.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import duckdb

from upmarket.errors import WarehouseError

LOCK_WAIT_ENV = "UPMARKET_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 30.0
#: A writer refreshes its marker at every attempt (at most `MAX_DELAY` apart): older is stale.
MARKER_FRESH = 5.0
FIRST_DELAY, MAX_DELAY = 0.05, 1.0


class WarehouseBusy(WarehouseError):
    """Another process holds the DuckDB file's lock and did not let go in time."""


def lock_wait() -> float:
    """Seconds a writer waits for the warehouse lock: `UPMARKET_LOCK_WAIT`, default 30."""
    raw = os.environ.get(LOCK_WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise WarehouseError("err.lock_wait", env=LOCK_WAIT_ENV, raw=raw)
    return value


def is_lock_conflict(exc: BaseException) -> bool:
    """True when `exc` is DuckDB refusing a file because another process holds its lock."""
    text = str(exc)
    return isinstance(exc, duckdb.IOException) and ("Could not set lock" in text
                                                    or "Conflicting lock" in text)


def marker(path: str | Path) -> Path:
    return Path(f"{Path(path).expanduser()}.writer-waiting")


def writer_waiting(path: str | Path, now: float | None = None) -> bool:
    """True when a writer is waiting for `path` (its marker is fresh): readers step aside."""
    try:
        mtime = marker(path).stat().st_mtime
    except OSError:
        return False
    return (time.time() if now is None else now) - mtime < MARKER_FRESH


def open_duckdb(path: str | Path, *, read_only: bool = False, wait: float | None = None):
    """`duckdb.connect(path)`, retried while another process holds the lock, for up to `wait`
    seconds (default `lock_wait()`; 0 tries once). A reader (`read_only`) also gives up while
    a writer is waiting. Raises `WarehouseBusy` naming the file once the time is spent."""
    path = Path(path).expanduser()
    wait = lock_wait() if wait is None else wait
    deadline = time.monotonic() + wait
    delay, flagged = FIRST_DELAY, False
    try:
        while True:
            if read_only and writer_waiting(path):
                if time.monotonic() >= deadline:
                    raise WarehouseBusy("err.writer_waiting", path=path)
            else:
                if not read_only and flagged:
                    _touch(marker(path))
                try:
                    return duckdb.connect(str(path), read_only=read_only)
                except duckdb.IOException as exc:
                    if not is_lock_conflict(exc):
                        raise
                    if time.monotonic() >= deadline:
                        raise WarehouseBusy("err.warehouse_busy", path=path, wait=wait,
                                            env=LOCK_WAIT_ENV) from None
                if not read_only and not flagged:
                    flagged = _touch(marker(path))
            time.sleep(min(delay * random.uniform(0.5, 1.0), max(0.0, deadline -
                                                                 time.monotonic())))
            delay = min(MAX_DELAY, delay * 2)
    finally:
        if flagged:
            try:
                marker(path).unlink(missing_ok=True)
            except OSError:
                pass


def _touch(path: Path) -> bool:
    """Leave or refresh the marker; a folder the writer may not write to just means readers
    are not asked to step aside (the wait still works, only without precedence)."""
    try:
        path.touch()
        return True
    except OSError:
        return False
