"""What a report's period covers: how many of its months hold orders, from when to when.

A year chosen by default can hold a single month of data (a dataset that starts in December):
every rate, total and comparison of that year then describes one month, and a reader must be
told so before reading them, not left to infer it from empty cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import pandas as pd

from upmarket.i18n import label
from upmarket.strategy import scorecard as sc
from upmarket.warehouse.connection import Warehouse


@dataclass(frozen=True)
class Coverage:
    period: str
    #: calendar months of the period that hold at least one order
    months_with_data: int
    months_in_period: int
    first: datetime | None
    last: datetime | None

    @property
    def partial(self) -> bool:
        return self.months_with_data < self.months_in_period


def months_in(p: sc.Period) -> int:
    return (p.end.year - p.start.year) * 12 + p.end.month - p.start.month


def period_coverage(wh: Warehouse, p: sc.Period) -> Coverage:
    """The months of `p` with orders, and its first and last order."""
    o = wh.table("orders")
    inside = o.filter(o.ts >= ibis.literal(p.start), o.ts < ibis.literal(p.end))
    stats = inside.aggregate(first=inside.ts.min(), last=inside.ts.max(),
                             months=(inside.ts.year() * 12 + inside.ts.month()).nunique()
                             ).to_pandas().iloc[0]
    first, last = stats["first"], stats["last"]
    return Coverage(
        p.label, int(stats["months"] or 0), months_in(p),
        None if pd.isna(first) else pd.Timestamp(first).to_pydatetime(),
        None if pd.isna(last) else pd.Timestamp(last).to_pydatetime())


def coverage_text(c: Coverage, lang: str) -> str:
    """"1 month of data in 2010 (2010-12-01 to 2010-12-09)"."""
    key = "report.coverage.one" if c.months_with_data == 1 else "report.coverage.many"
    span = (label("report.coverage.span", lang, first=f"{c.first:%Y-%m-%d}",
                  last=f"{c.last:%Y-%m-%d}") if c.first and c.last else "")
    return label(key, lang, months=c.months_with_data, period=c.period) + span


def coverage_warning(c: Coverage, compare: str, lang: str) -> str | None:
    """A warning when the period is only partly covered, else None."""
    if not c.partial:
        return None
    return label("report.coverage.partial", lang, months=c.months_with_data,
                 total=c.months_in_period, period=c.period, compare=compare)
