"""Runs and atomic publishing.

A run writes each of its outputs to a table of its own (`results__<run_id>`). Nothing reads
those until the run is published, which is one append to `runs` followed by repointing the
`<name>` views; a run that fails or is killed never appends its row, so the previous run stays
the current one and no half-written result is ever visible.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import ibis
import pandas as pd
import pyarrow as pa

from upmarket.errors import NoRun
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.schema import RUNS


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def output_table(name: str, run_id: str) -> str:
    return f"{name}__{run_id}"


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
            data = data.mutate(run_id=ibis.literal(self.run_id))
        else:
            if isinstance(data, pd.DataFrame):
                data = pa.Table.from_pandas(data, preserve_index=False)
            data = data.append_column("run_id", pa.array([self.run_id] * data.num_rows, pa.string()))
            # a column that happens to be empty in this run (no NPS answers yet, say) has no
            # type of its own; DuckDB refuses NULL-typed columns, so give it float64
            for i, f in enumerate(data.schema):
                if pa.types.is_null(f.type):
                    data = data.set_column(i, f.name, data.column(i).cast(pa.float64()))
        self.wh.create_table(table, data, overwrite=True)
        self.outputs[name] = self.wh.count(table)
        return table

    def publish(self, counts: dict | None = None) -> None:
        self._record("published", counts)
        for name in self.outputs:
            self.wh.backend.create_view(
                name, self.wh.table(output_table(name, self.run_id)), overwrite=True
            )

    def fail(self, error: str) -> None:
        for name in self.outputs:
            self.wh.drop_table(output_table(name, self.run_id))
        self._record("failed", {"error": error[:2000]})

    def _record(self, status: str, counts: dict | None) -> None:
        self.wh.insert(RUNS.name, pd.DataFrame([{
            "run_id": self.run_id, "as_of": self.as_of, "started": self.started,
            "finished": _now(), "status": status, "config_hash": self.config_hash,
            "counts": json.dumps({"outputs": self.outputs, **(counts or {})}, default=str),
        }]))


def runs(wh: Warehouse) -> pd.DataFrame:
    return wh.table(RUNS.name).order_by(ibis.desc("finished")).to_pandas()


def current_run(wh: Warehouse) -> dict:
    """The latest published run, or `NoRun` telling the user to run the pipeline."""
    t = wh.table(RUNS.name)
    latest = t.filter(t.status == "published").order_by(ibis.desc("finished")).limit(1).to_pandas()
    if latest.empty:
        raise NoRun("no published run yet: run `upmarket run` (or `upmarket demo`) first")
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
        raise NoRun(f"run {run_id} has no output {name!r}")
    return wh.table(table)
