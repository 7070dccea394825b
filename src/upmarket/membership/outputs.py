"""What a run publishes about the membership programme: the level of every member on the run's
date (`member_levels`), the points ledger (`points_ledger`) and each member's points statement
since the previous run (`points_balances`), and the summary lines of the run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from upmarket.membership import economics, ingest, ledger, levels
from upmarket.membership.programme import Programme
from upmarket.warehouse.connection import Warehouse

ORDER_COLUMNS = ("customer_id", "order_id", "ts", "amount", "status", "line_kind",
                 "original_order_id")


@dataclass
class MembershipResult:
    tables: dict[str, pd.DataFrame]
    summary: dict


def evaluate_programme(wh: Warehouse, as_of: datetime, programme: Programme, *,
                       previous_levels: pd.Series | None = None,
                       period_start: datetime | None = None,
                       symbol: str | None = None,
                       margin_rate: float | None = None) -> MembershipResult:
    """Levels, ledger and statements as of `as_of`. `previous_levels` (customer → level code)
    are what the previous run published, so changes are told against what members were last
    told; `period_start` opens the points statement (default: a year before `as_of`);
    `margin_rate` turns the incremental spend of joining into margin."""
    orders = wh.table("orders")
    brought = ingest.carried(wh, as_of, programme)
    hist = levels.build_history(orders, as_of, programme, brought.members)
    members = levels.evaluate(hist, programme, previous=previous_levels, symbol=symbol)
    o = orders.filter(orders.ts < as_of)
    lines = o.select(*[c for c in ORDER_COLUMNS if c in o.columns]).to_pandas()
    entries = ledger.build_ledger(lines, hist, programme, as_of, brought.entries)
    start = pd.Timestamp(period_start) if period_start is not None \
        else pd.Timestamp(as_of) - pd.DateOffset(years=1)
    balances = ledger.statement(entries, hist.customers, start, as_of)
    members = members.merge(balances[["customer_id", "closing", "expiring", "expiring_at"]]
                            .rename(columns={"closing": "points_balance",
                                             "expiring": "points_expiring"}),
                            on="customer_id", how="left")
    counts = members["level"].value_counts()
    changes = members["change"].value_counts()
    in_grace = int(members["below_since"].notna().sum())
    summary = {
        "levels": {c: int(counts.get(c, 0)) for c in programme.codes},
        "changes": {c: int(changes.get(c, 0)) for c in levels.CHANGES},
        "in_grace": in_grace,
        "points": {k: int(balances[k].sum()) for k in
                   ("opening", "earned", "reversed", "redeemed", "expired", "adjusted",
                    "closing", "expiring")},
        "period_start": f"{start:%Y-%m-%d}",
        "economics": economics.economics(members, entries, balances, programme, as_of,
                                         lines=lines, enrolled=brought.enrolled,
                                         margin_rate=margin_rate),
        "ingested": {"members": int(len(brought.members)), "entries": int(len(brought.entries)),
                     "unknown_levels": brought.unknown_levels},
    }
    return MembershipResult({"member_levels": members, "points_ledger": entries,
                             "points_balances": balances}, summary)
