"""A run's outputs beside its per-customer results, written as each stage finishes.

A stage puts the tables it made in the run's outputs (`ctx.tables[name] = frame`); when the
stage ends the pipeline writes them to the run's own tables (`Run.write`) and lets the frames
go. Holding every output in memory until the run's end made the largest of them (the points
ledger and the members' statements, a row per paid order or member; the recommendations, ten
rows per customer) stay resident through every later stage, so the run's peak grew with the
customers times the stages still to come. Written, an output costs its stage's memory only.

Nothing changes for readers: the tables are the run's unpublished tables, published together
at the end (`warehouse.runs`), and a run that fails has them dropped like any other. An
output already written is still readable here: it is read back from the warehouse (opened
again if the caller closed it after the run).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping, Sequence

import duckdb
import pandas as pd

from upmarket.warehouse.connection import connect
from upmarket.warehouse.runs import Run, output_table


class RunOutputs(MutableMapping[str, pd.DataFrame]):
    """name → frame, for the outputs of `run`: held until `write_held`, then in the warehouse."""

    def __init__(self, run: Run):
        self._run = run
        # None: written to the run's table and no longer held
        self._frames: dict[str, pd.DataFrame | None] = {}

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
        """Write the output `name` from `parts` as they come (`Run.write_parts`), for one too
        large to hold whole until its stage ends; read back like any other written one."""
        self._run.write_parts(name, parts, columns)
        self._frames[name] = None

    def held(self) -> list[str]:
        """The outputs still in memory, not yet written."""
        return [n for n, f in self._frames.items() if f is not None]

    def write_held(self) -> None:
        """Write every output still held to the run's tables, and let the frames go."""
        for name in self.held():
            self._run.write(name, self._frames[name])
            self._frames[name] = None
