"""A run's outputs beside its per-customer results, written as each stage finishes.

A stage puts the tables it made in the run's outputs (`ctx.tables[name] = frame`); when the
stage ends the pipeline writes them to the run's own tables (`Run.write`) and lets the frames
go. Holding every output in memory until the run's end made the largest of them (the points
ledger and the members' statements, a row per paid order or member; the recommendations, ten
rows per customer) stay resident through every later stage, so the run's peak grew with the
customers times the stages still to come. Written, an output costs its stage's memory only.

A stage that makes an output in parts (the membership tables, a batch of members at a time)
`append`s them: on DuckDB each part is written as it comes, typed as the parts put together
in one frame would be, so the whole output is never held.

Nothing changes for readers: the tables are the run's unpublished tables, published together
at the end (`warehouse.runs`), and a run that fails has them dropped like any other. An
output already written is still readable here: it is read back from the warehouse (opened
again if the caller closed it after the run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping, Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from upmarket.warehouse.connection import connect
from upmarket.warehouse.runs import Run, _quote, _typed, output_table


class RunOutputs(MutableMapping[str, pd.DataFrame]):
    """name → frame, for the outputs of `run`: held until `write_held`, then in the warehouse."""

    def __init__(self, run: Run):
        self._run = run
        # None: written to the run's table and no longer held
        self._frames: dict[str, pd.DataFrame | None] = {}
        # of the outputs written in parts: per column, its type so far and whether any part
        # had a value in it
        self._parts: dict[str, dict[str, tuple[pa.DataType, bool]]] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        frame = self._frames[name]
        if frame is not None:
            return frame
        table = output_table(name, self._run.run_id)
        try:
            return self._run.wh.table(table).drop("run_id").to_pandas()
        except duckdb.ConnectionException:
            # the caller closed the warehouse after the run: the tables are in its file
            wh = connect(self._run.wh.url, create=False)
            try:
                return wh.table(table).drop("run_id").to_pandas()
            finally:
                wh.close()

    def __setitem__(self, name: str, frame: pd.DataFrame) -> None:
        self._frames[name] = frame

    def __delitem__(self, name: str) -> None:
        if self._frames.pop(name) is None:
            self._run.wh.drop_table(output_table(name, self._run.run_id))
            self._run.outputs.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._frames)

    def __len__(self) -> int:
        return len(self._frames)

    def write_parts(self, name: str, parts: Iterable[pd.DataFrame],
                    columns: Sequence[str]) -> None:
        """Write the output `name` from `parts` as they come (each `append`ed), for one too
        large to hold whole until its stage ends (the recommendations: ten rows per
        customer); no parts at all make an empty table of `columns`."""
        if name in self._frames:
            raise ValueError(f"output {name!r} is already in this run")
        for part in parts:
            self.append(name, part)
        if name not in self._frames:
            self._frames[name] = pd.DataFrame(columns=list(columns))

    def held(self) -> list[str]:
        """The outputs still in memory, not yet written."""
        return [n for n, f in self._frames.items() if f is not None]

    def write_held(self) -> None:
        """Write every output still held to the run's tables, and let the frames go."""
        for name in self.held():
            self._run.write(name, self._frames[name])
            self._frames[name] = None

    def append(self, name: str, frame: pd.DataFrame) -> None:
        """Add `frame`'s rows to output `name`, made in parts. On DuckDB the part is written
        now; a column gets the type `pd.concat` of every part would give it: a part with no
        value in a column does not decide its type, and numbers widen (int to float)."""
        if not self._run.wh.is_duckdb:
            held = self._frames.get(name)
            parts = [f for f in (held, frame) if f is not None and len(f)]
            self._frames[name] = pd.concat(parts, ignore_index=True) if parts else frame
            return
        data = pa.Table.from_pandas(frame, preserve_index=False)
        seen = {f.name: (f.type, data.column(f.name).null_count < data.num_rows)
                for f in data.schema}
        if name not in self._parts:
            self._run.write(name, data)
            self._frames[name] = None
            self._parts[name] = seen
            return
        known = self._parts[name]
        table = output_table(name, self._run.run_id)
        con = self._run.wh.backend.con
        for col, (kind, filled) in seen.items():
            was, was_filled = known[col]
            if not filled:
                continue
            now = kind if not was_filled else pa.unify_schemas(
                [pa.schema([(col, was)]), pa.schema([(col, kind)])],
                promote_options="permissive").field(col).type
            known[col] = (now, True)
            if now != was:
                sql = _duckdb_type(con, now)
                # a column with no value yet takes the type as it is; one with values keeps them
                cast = f"CAST(NULL AS {sql})" if not was_filled else f"CAST({_quote(col)} AS {sql})"
                con.execute(f"ALTER TABLE {_quote(table)} ALTER COLUMN {_quote(col)} "
                            f"SET DATA TYPE {sql} USING {cast}")
        schema = _typed(pa.schema([(col, known[col][0]) for col in data.column_names]))
        # a column with no value here is nulls of the output's type, whatever its own
        data = pa.table([data.column(f.name).cast(f.type) if seen[f.name][1]
                         else pa.nulls(data.num_rows, f.type) for f in schema], schema=schema)
        con.register("_upmarket_write_part", data)
        try:
            con.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT *, ? AS run_id "
                        "FROM _upmarket_write_part", [self._run.run_id])
        finally:
            con.unregister("_upmarket_write_part")
        self._run.outputs[name] = self._run.outputs.get(name, 0) + data.num_rows


def _duckdb_type(con: duckdb.DuckDBPyConnection, kind: pa.DataType) -> str:
    """DuckDB's name for the type it reads an Arrow column of `kind` as."""
    empty = pa.table({"c": pa.array([], _typed(pa.schema([("c", kind)])).field("c").type)})
    con.register("_upmarket_type_probe", empty)
    try:
        return con.execute("DESCRIBE _upmarket_type_probe").fetchall()[0][1]
    finally:
        con.unregister("_upmarket_type_probe")
