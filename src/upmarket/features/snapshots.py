"""Per-customer features built once per date and reused for the rest of a run.

A run needs the customer feature table (`features.customer.customer_features`) at several
dates: the scoring date, the churn model's training and test cut-offs, the premium model's
training and back-test cut-offs. Several stages ask for the same dates (the churn test
cut-off at 180 days before the run is the premium model's training cut-off), and each used to
rebuild the whole join from the order lines. `FeatureSnapshots` builds each (date, unit, RFM
bins) once and keeps the result *in the warehouse engine* (Ibis `Table.cache`: a temporary
table in DuckDB, a cached DataFrame in Spark), so later readers scan a small per-customer
table instead of the order history, and nothing per-customer is held in Python between
stages. `release` drops them when the run ends.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import pandas as pd

from upmarket.features.customer import customer_features

#: The warehouse tables `customer_features` reads.
SOURCES = ("orders", "products", "service_tickets", "feedback")


class FeatureSnapshots:
    """Customer features per date for one run, materialised in the engine on first use."""

    def __init__(self, tables: dict[str, ibis.Table]) -> None:
        self.tables = {n: tables[n] for n in SOURCES}
        self._cached: dict[tuple, ibis.Table] = {}
        #: how many times each key was asked for (a key asked once gained nothing)
        self.requests: dict[tuple, int] = {}

    def table(self, as_of: datetime, *, unit: str = "W", rfm_bins: int = 5) -> ibis.Table:
        """The customer feature table at `as_of`, built the first time it is asked for."""
        key = (pd.Timestamp(as_of), unit, rfm_bins)
        self.requests[key] = self.requests.get(key, 0) + 1
        if key not in self._cached:
            self._cached[key] = customer_features(self.tables, as_of, unit=unit,
                                                  rfm_bins=rfm_bins).cache()
        return self._cached[key]

    def frame(self, as_of: datetime, *, unit: str = "W", rfm_bins: int = 5,
              columns: tuple[str, ...] | None = None) -> pd.DataFrame:
        """`table` as a frame in customer order: a fresh frame per call, so a caller that
        adds columns changes nobody else's. `columns`: only these of the table's columns (and
        the customer id; names it lacks are left out), chosen in the engine, for a reader that
        needs a few of them and should not hold every customer's whole row."""
        t = self.table(as_of, unit=unit, rfm_bins=rfm_bins)
        if columns is not None:
            t = t.select(*dict.fromkeys(c for c in ("customer_id", *columns) if c in t.columns))
        return t.order_by("customer_id").to_pandas()

    @property
    def built(self) -> int:
        return len(self._cached)

    def release(self) -> None:
        """Drop the materialised tables (they would otherwise last as long as the connection)."""
        for t in self._cached.values():
            try:
                t.release()
            except Exception:  # noqa: BLE001 - a table already gone with its connection is fine
                pass
        self._cached.clear()
