"""What a run publishes about the membership programme: the level of every member on the run's
date (`member_levels`), the points ledger (`points_ledger`) and each member's points statement
since the previous run (`points_balances`), and the summary lines of the run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from upmarket.membership import economics, incremental, ingest, ledger, level_up, levels
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
                       margin_rate: float | None = None,
                       adjustments: pd.DataFrame | None = None) -> MembershipResult:
    """Levels, ledger and statements as of `as_of`. `previous_levels` (customer → level code)
    are what the previous run published, so changes are told against what members were last
    told; `period_start` opens the points statement (default: a year before `as_of`);
    `margin_rate` turns the incremental spend of joining into margin; `adjustments` are the
    corrections made by hand (`opstore.points`)."""
    orders = wh.table("orders")
    brought = ingest.carried(wh, as_of, programme)
    hist = levels.build_history(orders, as_of, programme, brought.members)
    members = levels.evaluate(hist, programme, previous=previous_levels, symbol=symbol)
    # each reader gets the order lines summed in the engine to what it reads of them, not
    # every line: at a million lines the lines themselves cost more than the rest together
    entries = ledger.build_ledger(ledger.ledger_lines(orders, as_of).to_pandas(), hist,
                                  programme, as_of, brought.entries, adjustments=adjustments)
    start = pd.Timestamp(period_start) if period_start is not None \
        else pd.Timestamp(as_of) - pd.DateOffset(years=1)
    balances = ledger.statement(entries, hist.customers, start, as_of)
    members = members.merge(balances[["customer_id", "closing", "expiring", "expiring_at"]]
                            .rename(columns={"closing": "points_balance",
                                             "expiring": "points_expiring"}),
                            on="customer_id", how="left")
    enrolled = brought.enrolled
    monthly = incremental.monthly_lines(orders, as_of).to_pandas() \
        if enrolled is not None and len(enrolled) else None
    found = economics.economics(members, entries, balances, programme, as_of, lines=monthly,
                                enrolled=enrolled, margin_rate=margin_rate)
    found["level_up"] = level_up.level_up_effect(
        hist, level_up.period_lines(orders, hist, as_of).to_pandas(), programme, as_of,
        margin_rate=margin_rate)
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
        # when the soonest-lapsing points lapse (the start of the day they no longer count)
        "points_expiring_at": _soonest(balances),
        "economics": found,
        "ingested": {"members": int(len(brought.members)), "entries": int(len(brought.entries)),
                     "unknown_levels": brought.unknown_levels},
    }
    return MembershipResult({"member_levels": members, "points_ledger": entries,
                             "points_balances": balances}, summary)


def _soonest(balances: pd.DataFrame) -> str | None:
    due = pd.to_datetime(balances.loc[balances["expiring"] > 0, "expiring_at"]).dropna()
    return None if due.empty else f"{due.min():%Y-%m-%d}"


#: What the run's per-customer results carry of the programme, for the automation rules
#: (`member_level == gold`, `member_level_change == upgrade`, `points_expiring_days <= 30`) and
#: the next best action's level nudge.
MEMBER_FIELDS = {"level": "member_level", "change": "member_level_change",
                 "points_balance": "points_balance", "points_expiring": "points_expiring",
                 "spend_to_next": "spend_to_next_level", "orders_to_next": "orders_to_next_level",
                 "next_level": "next_member_level", "distance_en": "level_distance_en",
                 "distance_zh": "level_distance_zh"}


def member_fields(results: pd.DataFrame, member_levels: pd.DataFrame, as_of: datetime,
                  programme: Programme) -> None:
    """Add the `MEMBER_FIELDS` of `member_levels` to `results` (in place), with
    `next_level_rule` (how the next level's bars combine; a bar the level does not use is
    missing rather than 0, so it never reads as reached), and `points_expiring_days`: days
    from the run's date to the next expiry of points, where some of the member's points lapse
    then (missing otherwise)."""
    m = member_levels.set_index("customer_id")
    ids = results["customer_id"]
    for src, dst in MEMBER_FIELDS.items():
        results[dst] = ids.map(m[src]).to_numpy()
    nxt = results["next_member_level"]
    bars = {lv.code: lv for lv in programme.levels}
    results["next_level_rule"] = nxt.map({c: lv.rule for c, lv in bars.items()}).to_numpy()
    for col, bar in (("spend_to_next_level", "min_spend"), ("orders_to_next_level", "min_orders")):
        used = nxt.map({c: getattr(lv, bar) > 0 for c, lv in bars.items()}).fillna(False)
        results[col] = pd.to_numeric(results[col], errors="coerce").where(
            used.astype(bool)).to_numpy(float)
    at = pd.to_datetime(ids.map(m["expiring_at"]))
    days = (at - pd.Timestamp(as_of)).dt.total_seconds() / 86400.0
    results["points_expiring_days"] = days.where(
        pd.to_numeric(results["points_expiring"], errors="coerce").fillna(0) > 0).to_numpy(float)
