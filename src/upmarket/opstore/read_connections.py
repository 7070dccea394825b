"""One long-lived SQLite connection per thread for the store's per-request reads.

The profile route makes a handful of indexed reads per request (key, profile document, traits,
consents, recent events), each ~10 µs of SQLite work. Checking a pooled connection out of
SQLAlchemy's pool and back in (its reset-on-return rollback included) costs about as much again
per read, measured on this machine; a connection kept by the thread that uses it costs nothing
between reads.

The connections run in autocommit mode: each SELECT is its own read transaction, so a reader
never holds a WAL snapshot between requests (a checkpoint is never held back, and each read sees
every transaction committed before it, from any process). They only read: every write still
goes through the engine and its pragmas (WAL, synchronous=FULL).

Only a SQLite file gets them: an in-memory database is private to each connection, and
PostgreSQL keeps its pooled connections (`store._raw`).
"""

from __future__ import annotations

import os
import sqlite3
import threading

from sqlalchemy.engine import Engine


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a SQLite engine, None for anything else (another dialect, an
    in-memory database, a URL with driver options this module would not apply)."""
    url = engine.url
    if engine.dialect.name != "sqlite" or url.query:
        return None
    path = url.database or ""
    if path in ("", ":memory:") or path.startswith("file:"):
        return None
    return path


class ThreadConnections:
    """A read connection per thread to the SQLite file at `path`, opened on first use."""

    def __init__(self, path: str, busy_timeout_ms: int):
        self.path, self.busy_timeout_ms = path, busy_timeout_ms
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[sqlite3.Connection] = []
        # bumped by close(): a thread holding a connection of an earlier generation opens anew
        self._generation = 0

    def get(self) -> sqlite3.Connection:
        local = self._local
        # a forked child must not use its parent's connection (https://www.sqlite.org/
        # howtocorrupt.html, "carrying an open database connection across a fork()"), so one
        # made in another process is left alone and a new one opened
        if getattr(local, "generation", -1) != self._generation or local.pid != os.getpid():
            # isolation_level=None: no implicit BEGIN, so no read transaction outlives a query
            con = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000,
                                  isolation_level=None, check_same_thread=False)
            con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            with self._lock:
                self._open.append(con)
                local.con, local.generation, local.pid = con, self._generation, os.getpid()
        return local.con

    def close(self) -> None:
        """Close every thread's connection; a later read opens a new one."""
        with self._lock:
            self._generation += 1
            held, self._open = self._open, []
        for con in held:
            con.close()
