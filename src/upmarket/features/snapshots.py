"""Per-customer features built once per date and reused for the rest of a run.

A run needs the customer feature table (`features.customer.customer_features`) at several
dates: the scoring date, the churn model's training and test cut-offs, the premium model's
training and back-test cut-offs. Several stages ask for the same dates (the churn test
cut-off at 180 days before the run is the premium model's training cut-off), and each used to
rebuild the whole join from the order lines. `FeatureSnapshots` builds each (date, unit, RFM
bins) once and keeps the result *in the warehouse engine*, so later readers scan a small
per-customer table instead of the order history, and nothing per-customer is held in Python
between stages. `release` drops them when the run is done with them.

Where they are kept:

- On a DuckDB warehouse, as tables of the warehouse itself, named for the run
  (`warehouse.runs.scratch_table`). DuckDB holds a temporary table in its memory for as long
  as it exists (`IN_MEMORY_TABLE` in `duckdb_memory()`; spilled only once the engine's budget
  is full): four dates were ~170 MB at 200,000 customers and ~0.9 GB at 1,000,000, resident
  from the first stage to the last. A table in the file is written once, compressed, and its
  pages are evicted between stages like any other file page
  (`BudgetedConnection.drop_cached_pages`) and read back when a stage scans it. A run killed
  before dropping them leaves them behind as it leaves its output tables: `runs.drop_orphans`
  drops them with those. Measured on the 200,000-customer world: the engine's in-memory
  tables between stages went from ~200 MB to under 12 MB, and the process between stages
  from 870-1,050 MB to 690-790 MB, for the same results.
  Each date is built in steps: the purchase summary and each of the parts joined to it
  (`features.customer.feature_parts`) are written first, then joined. One query holding every
  part's aggregation at once held them all in memory together: at 200,000 customers one
  date grew the process by ~570 MB as one query into a temporary table, ~300 MB in steps
  into temporary tables, ~150 MB in steps into the file, for the same rows.
- Elsewhere (Spark), as Ibis `Table.cache` (a cached DataFrame), as before.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import pandas as pd

from upmarket.features.customer import customer_features, feature_parts, joined_features
from upmarket.features.orders import customer_summary
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import scratch_table

#: The warehouse tables `customer_features` reads.
SOURCES = ("orders", "products", "service_tickets", "feedback")


def _fetched(t: ibis.Table) -> pd.DataFrame:
    """`t.to_pandas()` of a DuckDB table: the same columns, types and values, for less memory.

    Ibis' DuckDB backend (`Backend.execute`, ibis 12) fetches an Arrow table and hands every
    column that holds a null to pandas as a list of Python objects, which its converter
    (`DuckDBPandasData`) then turns into the column's type. The same is done here, except that
    a numeric column with some values and some nulls goes from Arrow to float64 with NaN at
    once: what the converter makes of the list too (a column of nulls alone stays as Ibis
    leaves it, objects). At 200,000 customers the whole feature frame grew the process by
    ~260 MB one way, ~125 MB this way."""
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    table = t.to_pyarrow()

    def column(col):
        numeric = pat.is_integer(col.type) or pat.is_floating(col.type)
        if (pat.is_nested(col.type) or pat.is_dictionary(col.type)
                or (col.null_count and not (numeric and col.null_count < len(col)))):
            return col.to_pylist()
        return col.to_pandas()

    frame = pd.DataFrame({name: column(col)
                          for name, col in zip(table.column_names, table.columns)}, copy=False)
    del table
    return DuckDBPandasData.convert_table(frame, t.schema())


class FeatureSnapshots:
    """Customer features per date for one run, materialised in the engine on first use.

    `warehouse` and `run_id`: keep them as scratch tables of that run in a DuckDB warehouse
    (see the module docstring); without them, or on another engine, as cached tables."""

    def __init__(self, tables: dict[str, ibis.Table], *, warehouse: Warehouse | None = None,
                 run_id: str | None = None) -> None:
        self.tables = {n: tables[n] for n in SOURCES}
        self._wh = warehouse if warehouse is not None and warehouse.is_duckdb else None
        self._run_id = run_id
        self._cached: dict[tuple, ibis.Table] = {}
        #: the scratch tables written, to drop on `release`
        self._scratch: list[str] = []
        #: how many times each key was asked for (a key asked once gained nothing)
        self.requests: dict[tuple, int] = {}

    def table(self, as_of: datetime, *, unit: str = "W", rfm_bins: int = 5) -> ibis.Table:
        """The customer feature table at `as_of`, built the first time it is asked for."""
        key = (pd.Timestamp(as_of), unit, rfm_bins)
        self.requests[key] = self.requests.get(key, 0) + 1
        if key not in self._cached:
            if self._wh is None or self._run_id is None:
                self._cached[key] = customer_features(self.tables, as_of, unit=unit,
                                                      rfm_bins=rfm_bins).cache()
            else:
                self._cached[key] = self._stored(len(self._cached), as_of, unit, rfm_bins)
        return self._cached[key]

    def _stored(self, n: int, as_of: datetime, unit: str, rfm_bins: int) -> ibis.Table:
        """`customer_features` as scratch table `features_<n>`, built in steps."""
        s = self._write(f"features_{n}_summary",
                        customer_summary(self.tables["orders"], as_of))
        parts = [self._write(f"features_{n}_part{k}", part) for k, part in enumerate(
            feature_parts(self.tables, s, as_of, unit=unit, rfm_bins=rfm_bins))]
        out = self._write(f"features_{n}", joined_features(s, parts, as_of, unit=unit))
        for step in (s, *parts):
            self._drop(step.get_name())
        return out

    def _write(self, name: str, expr: ibis.Table) -> ibis.Table:
        table = scratch_table(name, self._run_id)
        self._scratch.append(table)
        self._wh.create_table(table, expr)
        return self._wh.table(table)

    def _drop(self, table: str) -> None:
        try:
            self._wh.drop_table(table)
        except Exception:  # noqa: BLE001 - a table already gone with its connection is fine
            return
        self._scratch.remove(table)

    def frame(self, as_of: datetime, *, unit: str = "W", rfm_bins: int = 5,
              columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """`table` as a frame in customer order: a fresh frame per call, so a caller that
        adds columns changes nobody else's. `columns`: only these of the table's columns (and
        the customer id; names it lacks are left out), chosen in the engine, for a reader that
        needs a few of them and should not hold every customer's whole row."""
        t = self.table(as_of, unit=unit, rfm_bins=rfm_bins)
        if columns is not None:
            t = t.select(*dict.fromkeys(c for c in ("customer_id", *columns) if c in t.columns))
        t = t.order_by("customer_id")
        return _fetched(t) if self._wh is not None else t.to_pandas()

    @property
    def built(self) -> int:
        return len(self._cached)

    def release(self) -> None:
        """Drop the materialised tables (cached ones would otherwise last as long as the
        connection, scratch tables for good)."""
        for t in self._cached.values():
            if self._wh is not None and self._run_id is not None:
                continue
            try:
                t.release()
            except Exception:  # noqa: BLE001 - a table already gone with its connection is fine
                pass
        for table in list(self._scratch):
            self._drop(table)
        self._cached.clear()
