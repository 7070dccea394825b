"""Load the synthetic world into a warehouse through the same ingestion users go through, so
the demo exercises validation, deduplication and bookkeeping exactly as real data does."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from upmarket.demo.world import WorldConfig, generate_world
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.ingest import ingest


def load_world(
    wh: Warehouse,
    config: WorldConfig,
    on_table: Callable[[str, int], None] | None = None,
) -> dict[str, dict[str, int]]:
    """Generate and ingest the world; returns rows read/accepted/quarantined per table."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    source = (f"demo world (world={config.world}, customers={config.customers}, "
              f"seed={config.seed})")
    for table, frame in generate_world(config):
        report = ingest(table, frame, warehouse=wh, source=source)
        for key in ("rows_read", "accepted", "quarantined", "duplicates_skipped"):
            totals[table][key] += getattr(report, key)
        if on_table:
            on_table(table, len(frame))
    return {t: dict(v) for t, v in totals.items()}
