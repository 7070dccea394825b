"""Runs and atomic publishing.

A run writes each of its outputs to a table of its own (`results__<run_id>`). Nothing reads
those until the run is published. Publishing is one step for every reader:

- **the `runs` row is the current-run pointer.** Code reads the current run's outputs through
  `current_run` → `output` (the tables of the latest published run), never through the views,
  so it cannot mix two runs whatever happens to the views;
- **the `<name>` views** (for SQL users and BI tools) are repointed in the same DuckDB
  transaction that appends the `runs` row. DuckDB's DDL is transactional and its write-ahead
  log replays only committed transactions, so a process killed at any instant leaves either
  the old row with all old views or the new row with all new views. A view whose output the
  new run did not write (a stage that found nothing to say this time) is dropped in that same
  transaction rather than left showing an older run beside the new one: reading it fails with
  "table not found", as `output` does for that run.

On backends without transactions (Spark) the append of the `runs` row is the commit point: it
comes first, then the views are repointed; Spark's views are session-scoped (temporary), so
other processes read through `current_run` → `output` only, and those are switched by the one
append. `sync_views` repoints the views of a session to the current run.

A run that fails or is killed never appends its published row, so the previous run stays the
current one. What it leaves behind (output tables of a killed run, or of a failure killed
while cleaning up, and the scratch tables it kept while running) is dropped by
`drop_orphans`, which the pipeline calls before a run and again right after publishing.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import ibis
import pandas as pd
import pyarrow as pa

from upmarket.errors import NoRun
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.schema import RUNS, SYSTEM_TABLES, TABLES

#: `<output>__<run_id>`; a run id is its start time (UTC, to the second) and 6 random hex
#: digits, so ids sort by start time.
OUTPUT_TABLE = re.compile(r"^(?P<name>.+)__(?P<run_id>\d{14}_[0-9a-f]{6})$")
#: `_scratch__<run_id>__<name>`: a table a run keeps for itself while it runs (the per-date
#: customer features, `features.snapshots`) and drops before publishing; never an output.
SCRATCH_TABLE = re.compile(r"^_scratch__(?P<run_id>\d{14}_[0-9a-f]{6})__(?P<name>\w+)$")
#: An unpublished run's tables are an orphan's once a later run is published, or once the run
#: started this long ago: no run takes a day, so no live process is still writing them.
ORPHAN_AGE = timedelta(hours=24)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


#: Rows of a frame a run converts and hands to DuckDB at a time (`Run.write`).
WRITE_BATCH_ROWS = 100_000


def _typed(schema: pa.Schema) -> pa.Schema:
    """`schema` with float64 for its NULL-typed columns: a column that happens to be empty in
    this run (no NPS answers yet, say) has no type of its own, and DuckDB refuses them."""
    for i, f in enumerate(schema):
        if pa.types.is_null(f.type):
            schema = schema.set(i, f.with_type(pa.float64()))
    return schema


def output_table(name: str, run_id: str) -> str:
    return f"{name}__{run_id}"


def scratch_table(name: str, run_id: str) -> str:
    return f"_scratch__{run_id}__{name}"


def _started(run_id: str) -> datetime:
    return datetime.strptime(run_id[:14], "%Y%m%d%H%M%S")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Run:
    """One pipeline run in progress: `write` its outputs, then `publish` (or `fail`)."""

    def __init__(self, wh: Warehouse, as_of: datetime, config: dict | None = None):
        self.wh = wh
        self.as_of = as_of
        self.config = config or {}
        self.run_id = _now().strftime("%Y%m%d%H%M%S") + "_" + uuid.uuid4().hex[:6]
        self.started = _now()
        self.outputs: dict[str, int] = {}
        self.config_hash = hashlib.sha256(
            json.dumps(self.config, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]

    def write(self, name: str, data: pd.DataFrame | pa.Table | ibis.Table) -> str:
        table = output_table(name, self.run_id)
        if isinstance(data, ibis.Table):
            self.wh.create_table(table, data.mutate(run_id=ibis.literal(self.run_id)),
                                 overwrite=True)
        elif isinstance(data, pd.DataFrame) and self.wh.is_duckdb and len(data) > WRITE_BATCH_ROWS:
            self._write_batches(table, data)
        else:
            if isinstance(data, pd.DataFrame):
                data = pa.Table.from_pandas(data, preserve_index=False)
            self.wh.create_table(table, self._stamped(data, _typed(data.schema)), overwrite=True)
        self.outputs[name] = self.wh.count(table)
        return table

    def _stamped(self, data: pa.Table, schema: pa.Schema) -> pa.Table:
        """`data` in `schema` with this run's id as its last column."""
        data = data.cast(schema) if data.schema != schema else data
        return data.append_column("run_id", pa.array([self.run_id] * data.num_rows, pa.string()))

    def _write_batches(self, table: str, frame: pd.DataFrame) -> None:
        """Write a large frame `WRITE_BATCH_ROWS` rows at a time: the table is made from the
        first batch and each further one appended, so only one batch is ever held as Arrow
        beside the frame (a whole copy of a million customers' results was the run's peak)."""
        schema = _typed(pa.Schema.from_pandas(frame, preserve_index=False))
        for lo in range(0, len(frame), WRITE_BATCH_ROWS):
            part = pa.Table.from_pandas(frame.iloc[lo:lo + WRITE_BATCH_ROWS], schema=schema,
                                        preserve_index=False)
            self._append(table, self._stamped(part, schema), first=lo == 0)

    def _append(self, table: str, part: pa.Table, *, first: bool) -> None:
        """Make `table` from `part` (`first`), or append `part` to it."""
        if first:
            self.wh.create_table(table, part, overwrite=True)
            return
        con = self.wh.backend.con
        con.register("_upmarket_write_batch", part)
        try:
            con.execute(f"INSERT INTO {_quote(table)} SELECT * FROM _upmarket_write_batch")
        finally:
            con.unregister("_upmarket_write_batch")

    def publish(self, counts: dict | None = None) -> None:
        """Make this run the current one: its `runs` row, every `<name>` view pointed at its
        table, and the views of outputs it did not write dropped, all in one transaction on
        DuckDB (see the module docstring for Spark)."""
        row = self._row("published", counts)
        stale = sorted(_output_views(self.wh) - set(self.outputs))
        if self.wh.is_duckdb:
            con = self.wh.backend.con
            with self.wh.transaction():
                con.execute(f"INSERT INTO {RUNS.name} ({', '.join(row)}) "
                            f"VALUES ({', '.join('?' * len(row))})", list(row.values()))
                for name in self.outputs:
                    con.execute(f"CREATE OR REPLACE VIEW {_quote(name)} AS SELECT * FROM "
                                f"{_quote(output_table(name, self.run_id))}")
                for name in stale:
                    con.execute(f"DROP VIEW IF EXISTS {_quote(name)}")
            return
        self.wh.insert(RUNS.name, pd.DataFrame([row]))
        _point_views(self.wh, self.run_id, self.outputs, stale)

    def fail(self, error: str) -> None:
        for name in self.outputs:
            self.wh.drop_table(output_table(name, self.run_id))
        self.wh.insert(RUNS.name, pd.DataFrame([self._row("failed", {"error": error[:2000]})]))

    def _row(self, status: str, counts: dict | None) -> dict:
        return {"run_id": self.run_id, "as_of": self.as_of, "started": self.started,
                "finished": _now(), "status": status, "config_hash": self.config_hash,
                "counts": json.dumps({"outputs": self.outputs, **(counts or {})}, default=str),
                "config": json.dumps(self.config, sort_keys=True, ensure_ascii=False,
                                     default=str)}


def _output_views(wh: Warehouse) -> set[str]:
    """Names that are views over run outputs: a name `N` in the catalog, not a canonical
    table, with at least one `N__<run_id>` table beside it."""
    names = set(wh.backend.list_tables())
    outputs = {m["name"] for n in names if (m := OUTPUT_TABLE.match(n))}
    return (outputs & names) - set(TABLES) - set(SYSTEM_TABLES)


def _point_views(wh: Warehouse, run_id: str, outputs, stale) -> None:
    for name in outputs:
        wh.backend.create_view(name, wh.table(output_table(name, run_id)), overwrite=True)
    for name in stale:
        try:
            wh.backend.drop_view(name, force=True)
        except Exception:  # noqa: BLE001 - a table of the user's by that name: not ours
            continue


def sync_views(wh: Warehouse) -> None:
    """Point every output view at the current run's table (and drop the views of outputs it
    lacks). Publishing already does this on DuckDB, in its transaction; a Spark session, whose
    views are temporary, gets them back from here."""
    try:
        run = current_run(wh)
    except NoRun:
        return
    outputs = run["counts"].get("outputs") or {}
    outputs = [n for n in outputs if wh.has_table(output_table(n, run["run_id"]))]
    _point_views(wh, run["run_id"], outputs, _output_views(wh) - set(outputs))


def drop_orphans(wh: Warehouse, *, keep: str | None = None, now: datetime | None = None
                 ) -> list[str]:
    """Drop the output tables of runs that were never published and never will be: a run
    killed mid-way, or a failure killed while cleaning up; and the scratch tables
    (`scratch_table`) of every run that is over. Returns the tables dropped.

    A run's tables are kept while it is published (every published run stays readable by its
    id, see `output`), while it is `keep` (the caller's own run in progress), and while it may
    still be running in another process: unpublished tables are dropped only when their run
    started before the latest published run did, or more than `ORPHAN_AGE` ago, or when the
    run is recorded as failed. Scratch tables follow the same rule, except that a published
    run's are dropped too (its run is over: it dropped them itself unless killed between).
    """
    now = now or _now()
    by_run: dict[str, list[str]] = {}
    scratch: set[str] = set()
    for name in wh.backend.list_tables():
        if m := OUTPUT_TABLE.match(name) or SCRATCH_TABLE.match(name):
            by_run.setdefault(m["run_id"], []).append(name)
            if m.re is SCRATCH_TABLE:
                scratch.add(name)
    if not by_run:
        return []
    t = wh.table(RUNS.name)
    status = dict(t.select("run_id", "status").to_pandas().itertuples(index=False))
    published = sorted(r for r, s in status.items() if s == "published")
    latest = published[-1] if published else None
    dropped = []
    for run_id, tables in sorted(by_run.items()):
        if run_id == keep:
            continue
        if status.get(run_id) == "published":
            for table in sorted(n for n in tables if n in scratch):
                wh.drop_table(table)
                dropped.append(table)
            continue
        try:
            started = _started(run_id)
        except ValueError:
            continue
        if (status.get(run_id) == "failed" or (latest is not None and run_id < latest)
                or now - started > ORPHAN_AGE):
            for table in sorted(tables):
                wh.drop_table(table)
                dropped.append(table)
    return dropped


def runs(wh: Warehouse) -> pd.DataFrame:
    return wh.table(RUNS.name).order_by(ibis.desc("finished")).to_pandas()


def current_run(wh: Warehouse) -> dict:
    """The latest published run, or `NoRun` telling the user to run the pipeline."""
    t = wh.table(RUNS.name)
    latest = t.filter(t.status == "published").order_by(ibis.desc("finished")).limit(1).to_pandas()
    if latest.empty:
        raise NoRun("err.no_run")
    row = latest.iloc[0].to_dict()
    row["counts"] = json.loads(row["counts"] or "{}")
    return row


def previous_run(wh: Warehouse, before: str) -> dict | None:
    t = wh.table(RUNS.name)
    rows = t.filter(t.status == "published", t.run_id < before) \
        .order_by(ibis.desc("finished")).limit(1).to_pandas()
    return None if rows.empty else rows.iloc[0].to_dict()


def output(wh: Warehouse, name: str, run_id: str | None = None) -> ibis.Table:
    """An output of a published run (the current one by default)."""
    run_id = run_id or current_run(wh)["run_id"]
    table = output_table(name, run_id)
    if not wh.has_table(table):
        raise NoRun("err.run_lacks_output", run_id=run_id, name=name)
    return wh.table(table)
