"""The one place that walks a run through the layers (DESIGN §2):
as_of → features → models → strategy → activation → publish.

Each stage is a function of the run context; stages register in `STAGES` in order, and the
whole run is published atomically at the end (see `warehouse.runs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from upmarket.errors import UpmarketError
from upmarket.features.orders import customer_summary
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import Run


class EmptyWarehouse(UpmarketError):
    pass


@dataclass
class Context:
    wh: Warehouse
    as_of: datetime
    run: Run
    #: Per-customer results built up stage by stage, one row per customer.
    results: pd.DataFrame | None = None
    summary: dict = field(default_factory=dict)


def default_as_of(wh: Warehouse) -> datetime:
    """The day after the latest order: a run over the data as it stands, reproducibly."""
    latest = wh.table("orders").ts.max().execute()
    if latest is None or pd.isna(latest):
        raise EmptyWarehouse(
            "the warehouse holds no orders yet: ingest some first, e.g. `upmarket ingest orders "
            "FILE --preset online-retail`, or try `upmarket demo`"
        )
    return (pd.Timestamp(latest).normalize() + timedelta(days=1)).to_pydatetime()


def stage_customers(ctx: Context) -> None:
    summary = customer_summary(ctx.wh.table("orders"), ctx.as_of)
    ctx.results = summary.order_by("customer_id").to_pandas()
    ctx.summary["customers"] = len(ctx.results)
    ctx.summary["net_revenue"] = float(ctx.results["net_revenue"].sum())


STAGES: list[tuple[str, Callable[[Context], None]]] = [
    ("customer features", stage_customers),
]


def run(
    wh: Warehouse,
    as_of: datetime | None = None,
    *,
    config: dict | None = None,
    on_stage: Callable[[str, int, int], None] | None = None,
) -> Context:
    """Run every stage for `as_of` (default: the day after the latest order) and publish."""
    as_of = as_of or default_as_of(wh)
    ctx = Context(wh, as_of, Run(wh, as_of, config))
    try:
        for i, (name, stage) in enumerate(STAGES):
            if on_stage:
                on_stage(name, i, len(STAGES))
            stage(ctx)
        if ctx.results is None or ctx.results.empty:
            raise EmptyWarehouse(f"no customer bought anything before {as_of:%Y-%m-%d}; "
                                 "choose a later --as-of")
        ctx.run.write("results", ctx.results)
        ctx.run.publish(ctx.summary)
    except BaseException as exc:
        ctx.run.fail(f"{type(exc).__name__}: {exc}")
        raise
    return ctx
