"""The service's reads of the warehouse: short-lived, and answered from memory while the
warehouse has not changed, so that `upmarket ingest` and `upmarket run` find the file free.

DuckDB lets one process write a file, and a reader in another process locks writers out for as
long as it holds the file (`warehouse.lock`). So the service opens the file read-only for one
read and closes it at once (`profiles.reading`), and opens it only when something may have
changed: a signature of the file — size and modification time of the database and of its
write-ahead log, two `stat` calls, no lock — tells. Answers that depend on the published run
alone (segments, KPIs) are kept per run id; a customer's ingested events per signature.

While a writer holds the file, the answer of the last run read is served rather than a 503:
until the writer publishes, that run is still the current one, and after, the previous one
for the seconds before the writer lets go — as the profiles snapshot is. Only a read never
answered before (and reads that depend on more than the run, like segment members) has to
wait for the file, at most `profiles.READ_WAIT`, and then answers 503.

Other backends (Spark, Postgres…) have no file to watch: their answers are kept for
`TTL_OTHER` seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from upmarket.errors import NoRun
from upmarket.service import profiles
from upmarket.warehouse.connection import default_url, duckdb_path
from upmarket.warehouse.lock import WarehouseBusy
from upmarket.warehouse.runs import current_run

#: How long an answer from a warehouse that is not a DuckDB file is reused.
TTL_OTHER = 5.0
#: Customers whose ingested events are kept in memory (least recently read dropped first).
EVENTS_KEPT = 10_000


class WarehouseReads:
    """Reads of the warehouse at `url` (default: the configured one) for one service process.
    Thread-safe: requests run on several worker threads."""

    def __init__(self, url: str | None, *, events_kept: int = EVENTS_KEPT,
                 on_new_run: Callable[[str], Any] | None = None):
        self.url = url or default_url()
        self.events_kept = events_kept
        # told the published run whenever a read finds it changed: the service realigns the
        # profiles snapshot with it, so a run killed between the warehouse's commit and the
        # store's switch is not served a run behind until the next run (opstore.store)
        self.on_new_run = on_new_run
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self._run_id: str | None = None
        self._answers: dict[tuple, Any] = {}
        self._changing: dict[tuple, tuple[tuple, Any]] = {}
        self._events: OrderedDict[str, tuple[tuple, list[dict]]] = OrderedDict()
        self.opened = 0  # how many times the warehouse was opened: for tests and tuning

    def signature(self) -> tuple:
        """Changes whenever the warehouse may have: a DuckDB file's and its WAL's size and
        modification time (None where absent); elsewhere the current `TTL_OTHER` window."""
        if not self.url.startswith("duckdb://"):
            return ("window", int(time.monotonic() // TTL_OTHER))
        path = Path(duckdb_path(self.url)).expanduser()
        sig = []
        for p in (path, Path(f"{path}.wal")):
            try:
                st = p.stat()
                sig.append((st.st_size, st.st_mtime_ns))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def _open(self, wait: float = profiles.READ_WAIT):
        self.opened += 1
        return profiles.reading(self.url, wait=wait)

    def per_run(self, name: str, fn: Callable, *args, **kwargs):
        """`fn(wh, *args, **kwargs)`, whose answer depends on the published run alone, computed
        once per run id. `name` with the arguments keys the answer."""
        key = (name, args, tuple(sorted(kwargs.items())))
        sig = self.signature()
        with self._lock:
            if sig == self._signature and key in self._answers:
                return self._answers[key]
            held = key in self._answers
        try:
            # with an answer in hand there is no reason to make a writer wait: try once
            with self._open(wait=0 if held else profiles.READ_WAIT) as wh:
                run_id = self._saw_run(wh)
                with self._lock:
                    self._signature = sig
                    if key in self._answers:
                        return self._answers[key]
                found = fn(wh, *args, **kwargs)
        except WarehouseBusy:
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            raise
        with self._lock:
            if self._run_id == run_id:
                self._answers[key] = found
        return found

    def per_change(self, name: str, fn: Callable, *args, **kwargs):
        """As `per_run`, for an answer that also depends on what is saved beside the run (the
        saved segments): computed again whenever the warehouse may have changed (its own
        signature is kept with it), and the last one served while a writer holds the file."""
        key = (name, args, tuple(sorted(kwargs.items())))
        sig = self.signature()
        with self._lock:
            kept = self._changing.get(key)
        if kept is not None and kept[0] == sig:
            return kept[1]
        try:
            with self._open(wait=0 if kept is not None else profiles.READ_WAIT) as wh:
                self._saw_run(wh)
                found = fn(wh, *args, **kwargs)
        except WarehouseBusy:
            if kept is not None:
                return kept[1]
            raise
        with self._lock:
            self._changing[key] = (sig, found)
        return found

    def _saw_run(self, wh) -> str:
        """The warehouse's published run; a new one clears the answers kept for the old and is
        passed to `on_new_run`."""
        run_id = current_run(wh)["run_id"]
        with self._lock:
            changed = run_id != self._run_id
            if changed:
                self._answers.clear()
                self._run_id = run_id
        if changed and self.on_new_run is not None:
            self.on_new_run(run_id)
        return run_id

    def call(self, fn: Callable, *args, **kwargs):
        """`fn(wh, *args, **kwargs)` on a freshly opened warehouse, closed right after: for
        reads that depend on more than the run (segment members: consents in force now)."""
        with self._open() as wh:
            return fn(wh, *args, **kwargs)

    def kept_events(self, customer_id: str) -> tuple[bool, list[dict] | None]:
        """(True, events) when the customer's ingested events in memory are current — no
        need to open the file, or to leave the event loop; else (False, None)."""
        sig = self.signature()
        with self._lock:
            kept = self._events.get(customer_id)
            if kept is not None and kept[0] == sig:
                self._events.move_to_end(customer_id)
                return True, kept[1]
        return False, None

    def events_of(self, customer_id: str) -> list[dict] | None:
        """The customer's latest ingested events (`profiles.ingested_events`); the last ones
        read while a writer holds the file (events only accumulate, so they are a true subset);
        None when they cannot be read (no warehouse yet, busy and never read)."""
        sig = self.signature()
        with self._lock:
            kept = self._events.get(customer_id)
            if kept is not None and kept[0] == sig:
                self._events.move_to_end(customer_id)
                return kept[1]
        try:
            # a profile is answered from the store without waiting for a writer
            with self._open(wait=0) as wh:
                found = profiles.ingested_events(wh, customer_id)
                with contextlib.suppress(NoRun):  # events may be held before any run
                    self._saw_run(wh)
        except (WarehouseBusy, NoRun):
            return kept[1] if kept is not None else None
        with self._lock:
            self._events[customer_id] = (sig, found)
            self._events.move_to_end(customer_id)
            while len(self._events) > self.events_kept:
                self._events.popitem(last=False)
        return found
