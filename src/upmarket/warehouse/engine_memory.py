"""The memory budget of a DuckDB warehouse file's engine, and where it spills the rest.

Left alone, DuckDB may use 80 % of the machine's memory
(https://duckdb.org/docs/stable/configuration/overview#configuration-reference,
`memory_limit`), and a run does every large join and aggregate there: at 1,000,000 customers
that was gigabytes of the run's peak (the per-date customer feature tables a run keeps,
`features.snapshots`, are tables of the file, whose pages are evicted like any other). With
`memory_limit` set, DuckDB writes hash joins, aggregates, sorts, windows and
temporary tables out in blocks once the budget is full ("Larger-than-memory workloads",
https://duckdb.org/docs/stable/guides/performance/how_to_tune_workloads).

Two things follow from how DuckDB does that:

- The spilled blocks are customer data. They go to `spill_directory`, beside the warehouse
  file that holds the same data (DuckDB's own default for a file, set explicitly so it cannot
  move to the working directory); DuckDB deletes its files, and the directory when it made it,
  when the connection closes. A process that is killed leaves them there, as it leaves the
  file's write-ahead log.
- Some operators cannot spill: an aggregate collecting lists (`features.paths` builds each
  journey's path that way) needs its states in memory, and past the budget the query fails
  with an out-of-memory error. Such a query is run once more with DuckDB's default limit
  (`BudgetedConnection`) rather than failing the run: the budget bounds what can be bounded,
  and never turns a query that used to succeed into a failure.

`preserve_insertion_order` stays on (DuckDB's default), although turning it off lets DuckDB
spill more: without it a query with no ORDER BY may return its rows in any order, and not every
reader of a query's rows in a run has been shown not to depend on that order.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from upmarket.errors import WarehouseError

ENGINE_MEMORY_ENV = "UPMARKET_ENGINE_MEMORY"
#: Chosen from measurements on the synthetic worlds: see `budget_engine`.
DEFAULT_ENGINE_MEMORY = "1GiB"
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*((?:[KMGT]i?)?B)\s*", re.IGNORECASE)


def engine_memory() -> str:
    """The engine's budget: `UPMARKET_ENGINE_MEMORY` (a size as DuckDB writes it: 2GB, 1.5GiB,
    800MB), default `DEFAULT_ENGINE_MEMORY`."""
    raw = os.environ.get(ENGINE_MEMORY_ENV, "").strip()
    if not raw:
        return DEFAULT_ENGINE_MEMORY
    m = _SIZE.fullmatch(raw)
    if not m or float(m.group(1)) <= 0:
        raise WarehouseError("err.engine_memory", env=ENGINE_MEMORY_ENV, raw=raw)
    return f"{m.group(1)}{m.group(2)}"


def spill_directory(path: Path) -> Path:
    """Where the engine of the warehouse file `path` writes what does not fit its budget."""
    return path.with_name(path.name + ".tmp")


def budget_engine(con: duckdb.DuckDBPyConnection, path: Path) -> BudgetedConnection:
    """`con` (a connection to the warehouse file `path`) bounded to `engine_memory()`, spilling
    to `spill_directory(path)`.

    Why 1 GiB by default (measured on the synthetic worlds, peak resident memory of the run
    so far, together with the narrower frames of the churn stage and of the value-model
    check): at 1,000,000 customers the features stage went from 3,154 to 2,367 MB and the
    churn stage from 4,384 to 3,407 MB, for about a tenth more CPU time (the spilling), with
    the same results; at 200,000 customers little changed (1,100 to 1,000 MB after the
    features stage), where 512 MB gave 921 MB and 300 MB 860 MB. A smaller budget spills more and
    sends more statements past it (`BudgetedConnection`); a machine with memory to spare can
    raise it with `UPMARKET_ENGINE_MEMORY`."""
    budget = engine_memory()
    unbounded = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    con.execute(f"SET memory_limit = '{budget}'")
    con.execute(f"SET temp_directory = '{_sql_text(spill_directory(path))}'")
    return BudgetedConnection(con, budget, unbounded)


#: Cached file pages below this are left alone (evicting them gains nothing worth a re-read).
_WORTH_DROPPING = 64 * 2**20


class BudgetedConnection:
    """A DuckDB connection whose statements run within `budget`, and once more without it
    when DuckDB runs out of memory in an operator that cannot spill.

    Everything else is the connection's own (attributes are passed through). The retry lifts
    the limit to DuckDB's default for that statement alone and puts the budget back after;
    inside an explicit transaction it does not retry (DuckDB aborts the transaction on the
    error, so the statement cannot be run again there) and the error stands. `lifted` counts
    the statements that needed it.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, budget: str, unbounded: str) -> None:
        self._con = con
        self.budget = budget
        #: DuckDB's own limit, set again by value: `RESET memory_limit` (DuckDB 1.5) reports
        #: the default but leaves the buffer pool at the budget
        self.unbounded = unbounded
        self.lifted = 0
        self._in_transaction = False
        self._unrestored = False

    def __getattr__(self, name):
        return getattr(self._con, name)

    def execute(self, *args, **kwargs):
        result = self._within_budget(lambda: self._con.execute(*args, **kwargs))
        # DuckDB hands back the connection itself, on which callers go on executing
        return self if result is self._con else result

    def sql(self, *args, **kwargs):
        rel = self._within_budget(lambda: self._con.sql(*args, **kwargs))
        if not isinstance(rel, duckdb.DuckDBPyRelation):
            return rel
        return _Relation(rel, lambda: self._con.sql(*args, **kwargs), self)

    def begin(self):
        self._con.begin()
        self._in_transaction = True
        return self

    def commit(self):
        try:
            return self._con.commit()
        finally:
            self._in_transaction = False

    def rollback(self):
        try:
            return self._con.rollback()
        finally:
            self._in_transaction = False

    def _within_budget(self, statement, again=None):
        """`statement()`; on running out of memory outside a transaction, `again()` (default:
        the statement once more) without the budget."""
        if self._unrestored:
            self._restore()
        try:
            return statement()
        except duckdb.OutOfMemoryException:
            if self._in_transaction:
                raise
        self.lifted += 1
        self._set_limit(self.unbounded)
        try:
            return (again or statement)()
        finally:
            self._restore()

    def _restore(self) -> None:
        try:
            self._set_limit(self.budget)
            self._unrestored = False
        except duckdb.Error:
            # what the lifted statement left (a temporary table) may not be evictable at
            # once: the next statement tries again
            self._unrestored = True


    def drop_cached_pages(self) -> None:
        """Let go of the warehouse file's pages the engine keeps cached after reading them.

        DuckDB keeps every block it has read (`BASE_TABLE` in `duckdb_memory()`) until the
        budget is full, so a run that reads orders, events and earlier outputs sits at its
        whole budget from the middle on, and each stage's own memory comes on top. Those
        blocks are already on disk: lowering the limit to what the engine holds otherwise
        (temporary tables, running statements) evicts them without writing anything, and the
        budget is then put back. A block read again later is read from the file (usually
        still in the operating system's cache). Between statements only: nothing is pinned."""
        if self._in_transaction:
            return
        with self._con.cursor() as cur:
            held, cached = cur.execute(
                "SELECT coalesce(sum(memory_usage_bytes) FILTER (WHERE tag <> 'BASE_TABLE'), 0),"
                " coalesce(sum(memory_usage_bytes) FILTER (WHERE tag = 'BASE_TABLE'), 0)"
                " FROM duckdb_memory()").fetchone()
        if cached < _WORTH_DROPPING:
            return
        try:
            self._set_limit(f"{int(held + _WORTH_DROPPING) // 2**20}MiB")
        except duckdb.Error:
            pass  # nothing could be evicted to that size: the cache stays, as before
        self._restore()

    def _set_limit(self, limit: str) -> None:
        # on a cursor of its own: the limit is the database's, and a statement on this
        # connection would replace the result the caller is about to fetch
        with self._con.cursor() as cur:
            cur.execute(f"SET memory_limit = '{limit}'")


class _Relation:
    """A relation of a `BudgetedConnection`: its results are fetched within the budget too
    (a relation runs its query when its result is asked for, not when it is made)."""

    _FETCH = frozenset({"arrow", "to_arrow_table", "fetch_arrow_table", "df", "to_df",
                        "fetchdf", "fetchall", "fetchone", "fetchmany", "fetchnumpy",
                        "execute", "create", "to_table", "insert_into", "pl"})

    def __init__(self, rel: duckdb.DuckDBPyRelation, remake, owner: BudgetedConnection) -> None:
        self._rel = rel
        #: the same relation made afresh: one whose query failed keeps failing with the error
        self._remake = remake
        self._owner = owner

    def __getattr__(self, name):
        attr = getattr(self._rel, name)
        if name not in self._FETCH or not callable(attr):
            return attr

        def fetched(*a, **k):
            return self._owner._within_budget(
                lambda: attr(*a, **k), lambda: getattr(self._remake(), name)(*a, **k))
        return fetched


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")
