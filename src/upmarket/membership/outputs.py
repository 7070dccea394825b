"""What a run publishes about the membership programme: the level of every member on the run's
date (`member_levels`), the points ledger (`points_ledger`) and each member's points statement
since the previous run (`points_balances`), and the summary lines of the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from upmarket.membership import economics, incremental, ingest, ledger, level_up, levels
from upmarket.membership.programme import Programme
from upmarket.warehouse.connection import Warehouse

ORDER_COLUMNS = ("customer_id", "order_id", "ts", "amount", "status", "line_kind",
                 "original_order_id")


#: Members evaluated at a time (`evaluate_programme`): their level history, order lines,
#: ledger entries and statements are the only ones held.
BATCH_MEMBERS = 50_000

#: The output tables, in the order they are handed out.
TABLES = ("member_levels", "points_ledger", "points_balances")


@dataclass
class MembershipResult:
    #: the output tables (`TABLES`); empty when they were handed to `write` as they were made
    tables: dict[str, pd.DataFrame]
    summary: dict
    #: per member, what the run's results carry of the programme (`member_fields`)
    fields: pd.DataFrame | None = None


def evaluate_programme(wh: Warehouse, as_of: datetime, programme: Programme, *,
                       previous_levels: pd.Series | ibis.Table | None = None,
                       period_start: datetime | None = None,
                       symbol: str | None = None,
                       margin_rate: float | None = None,
                       adjustments: pd.DataFrame | None = None,
                       write: Callable[[str, pd.DataFrame], None] | None = None,
                       batch_members: int | None = None) -> MembershipResult:
    """Levels, ledger and statements as of `as_of`. `previous_levels` (customer → level code,
    or a table of customer_id and level, read a run of members at a time) are what the
    previous run published, so changes are told against what members were last told; `period_start` opens the points statement (default: a year before `as_of`);
    `margin_rate` turns the incremental spend of joining into margin; `adjustments` are the
    corrections made by hand (`opstore.points`).

    Members are evaluated `batch_members` (default `BATCH_MEMBERS`) at a time, in runs of
    their ids in order: a member's levels, entries and statement depend on their own order
    lines, carried rows and adjustments only, once the evaluation dates and the next expiry
    date are set for all (`levels.history_dates`, `ledger.next_expiry`), so the runs put
    together are the tables evaluated at once, row for row and in the same order. With
    `write` (name, frame) each run's tables are handed to it as they are made and not kept;
    what the summary and the run's results need of them is kept in a few columns per
    member."""
    orders = wh.table("orders")
    brought = ingest.Ingested(wh, as_of, programme)
    everyone = levels.member_starts(orders, as_of, brought.starts())
    dates = levels.history_dates(everyone.first.min().execute(), as_of, programme)
    # every member's id, in order, held as Arrow (a few bytes each, no Python objects): each
    # run of them is turned into objects in its turn
    ids = everyone.select("customer_id").order_by("customer_id").to_pyarrow()[
        "customer_id"].combine_chunks()
    del everyone
    soonest = ledger.next_expiry(orders, as_of, programme, ids, brought.adding(), adjustments)
    start = pd.Timestamp(period_start) if period_start is not None \
        else pd.Timestamp(as_of) - pd.DateOffset(years=1)
    batch_members = batch_members or BATCH_MEMBERS
    cuts = np.asarray(ids[batch_members::batch_members].to_pylist(), dtype=object)
    kept: dict[str, list] = {"members": [], "balances": [], "fields": [], "lapsed": [],
                             "near": []}
    held: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}
    # each member's adjustments go with the run their id falls in
    at = _runs_of(adjustments, cuts)
    for k in range(len(cuts) + 1):
        lo = cuts[k - 1] if k else None
        hi = cuts[k] if k < len(cuts) else None
        part = brought.part(lo, hi)
        tables = _evaluate_part(orders, ids[k * batch_members:(k + 1) * batch_members].to_numpy(
                                    zero_copy_only=False).astype(object),
                                lo, hi, dates, soonest, start, as_of, programme,
                                previous_levels, symbol, kept, offset=k * batch_members,
                                members=part.members, entries=part.entries,
                                adjustments=_run(adjustments, at, k))
        del part
        for name in TABLES:
            if write is not None:
                write(name, tables[name])
            else:
                held[name].append(tables[name])
        del tables
    members = pd.concat(kept["members"], ignore_index=True)
    balances = pd.concat(kept["balances"], ignore_index=True)
    # the effect of joining reads the monthly spend summed in the engine, and only the rows
    # it can use of it
    joining = incremental.membership_effect_in(orders, brought.enrolled(), as_of,
                                               margin_rate=margin_rate)
    found = economics.economics(members, economics.Lapsed.joined(kept["lapsed"]), balances,
                                programme, as_of, margin_rate=margin_rate, joining=joining)
    found["level_up"] = level_up.effect(level_up.Near.joined(kept["near"]),
                                        margin_rate=margin_rate)
    counts = members["level"].value_counts()
    changes = members["change"].value_counts()
    in_grace = int(members["in_grace"].sum())
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
        "ingested": brought.summary(),
    }
    tables = {} if write is not None else {
        name: _joined(held[name], name) for name in TABLES}
    fields = pa.concat_tables(kept["fields"], promote_options="default").to_pandas()
    return MembershipResult(tables, summary, fields)


def _runs_of(frame: pd.DataFrame | None, cuts: np.ndarray) -> np.ndarray | None:
    """The run (`evaluate_programme`) each row of `frame` falls in by its customer_id."""
    if frame is None or frame.empty:
        return None
    return np.searchsorted(cuts, frame["customer_id"].astype(object).to_numpy(object),
                           side="right")


def _run(frame: pd.DataFrame | None, at: np.ndarray | None, k: int) -> pd.DataFrame | None:
    return frame if at is None else frame[at == k]


def _evaluate_part(orders: ibis.Table, ids: np.ndarray, lo, hi, dates, soonest, start,
                   as_of: datetime, programme: Programme, previous_levels, symbol,
                   kept: dict, *, offset: int, members: pd.DataFrame | None,
                   entries: pd.DataFrame | None, adjustments: pd.DataFrame | None
                   ) -> dict[str, pd.DataFrame]:
    """The tables of the members `ids`, whose ids run from `lo` up to (not including) `hi`
    (None: open), with the carried `members` and `entries` and the `adjustments` of those
    ids, and what `kept` keeps of them."""
    part = _between(orders, lo, hi)
    if isinstance(previous_levels, ibis.Table):
        previous_levels = _between(previous_levels, lo, hi).to_pandas().set_index(
            "customer_id")["level"]
    hist = levels.history_of(part, ids, dates, programme, members)
    members = levels.evaluate(hist, programme, previous=previous_levels, symbol=symbol)
    # each reader gets the order lines summed in the engine to what it reads of them, not
    # every line: at a million lines the lines themselves cost more than the rest together
    entries = ledger.build_ledger(ledger.ledger_lines(part, as_of).to_pandas(), hist,
                                  programme, as_of, entries, adjustments=adjustments)
    balances = ledger.statement(entries, hist.customers, start, as_of, soonest=soonest)
    members = members.merge(balances[["customer_id", "closing", "expiring", "expiring_at"]]
                            .rename(columns={"closing": "points_balance",
                                             "expiring": "points_expiring"}),
                            on="customer_id", how="left")
    # the level codes are a handful of strings each row points at: a few bytes a member
    kept["members"].append(pd.DataFrame({
        "level": members["level"].to_numpy(object),
        "previous_level": members["previous_level"].to_numpy(object),
        "change": members["change"].to_numpy(object),
        "in_grace": members["below_since"].notna().to_numpy(),
        "spend_window": members["spend_window"].to_numpy(float),
        "orders_window": members["orders_window"].to_numpy()}))
    kept["balances"].append(balances.drop(columns="customer_id"))
    # in Arrow: a member's id and sentences kept as Python strings, made among a run's
    # short-lived ones, would hold the interpreter's memory for them all through the stage
    kept["fields"].append(pa.Table.from_pandas(
        members[["customer_id", *MEMBER_FIELDS, "expiring_at"]], preserve_index=False))
    kept["lapsed"].append(economics.Lapsed.of(entries, as_of))
    kept["near"].append(level_up.Near.of(
        hist, level_up.period_lines(part, hist, as_of).to_pandas(), programme, as_of,
        offset=offset))
    return {"member_levels": members, "points_ledger": entries, "points_balances": balances}


def _between(t: ibis.Table, lo, hi) -> ibis.Table:
    """The rows of `t` whose customer_id runs from `lo` up to (not including) `hi`."""
    if lo is not None:
        t = t.filter(t.customer_id >= lo)
    if hi is not None:
        t = t.filter(t.customer_id < hi)
    return t


def _joined(parts: list[pd.DataFrame], name: str) -> pd.DataFrame:
    out = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    if name == "points_ledger":
        out["points"] = out["points"].astype(np.int64)
    return out


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
