"""The points ledger (积分流水): append-only entries per member, computed from the orders.

- **earn**: a paid order earns ⌊product spend × points per unit × the multiplier of the level
  the member held when it was placed⌋ (postage and fees earn nothing);
- **reverse**: a cancellation or return takes back the points of what it reverses, at the
  original order's multiplier, so that after every reversal the order keeps exactly
  ⌊what is left of its spend × rate⌋: a wholly cancelled order nets to zero points;
- **expire**: at the end of the year after the one they were earned in, what is left of a
  year's points lapses (a reversal after its points lapsed has nothing left to take back);
- **adjust**: a correction by hand (`POST /v1/points/adjust`, kept in the operational store),
  dated when it takes effect; its points count with the points earned that year, so a credit
  lapses with them and a debit takes from what is left of them;
- **redeem** entries come from redemptions, which are not ingested yet.

Every entry is a function of orders dated before it and of the level history before them
(`levels`), so a later run's ledger starts with exactly the entries of an earlier one: nothing
is rewritten, corrections are new entries. Each member's statement over a period reconciles:
opening + earned − redeemed − expired = closing, with earned net of reversals.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from upmarket.membership.levels import LevelHistory
from upmarket.membership.programme import Programme

KINDS = ("earn", "reverse", "redeem", "expire", "adjust")
LEDGER_COLUMNS = ("entry_id", "customer_id", "ts", "kind", "points", "order_id", "level",
                  "multiplier", "earned_year", "expires_at")
#: Lines that earn points: products (a file without line kinds holds products only).
_EARNING = ("product",)


def _earning(lines: pd.DataFrame) -> pd.Series:
    kind = lines["line_kind"] if "line_kind" in lines else pd.Series(None, index=lines.index)
    return kind.isna() | kind.isin(_EARNING)


def build_ledger(lines: pd.DataFrame, hist: LevelHistory, programme: Programme,
                 as_of: datetime, adjustments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every ledger entry up to `as_of` from order `lines` (customer_id, order_id, ts, amount,
    status, line_kind, original_order_id) and `adjustments` (request_id, customer_id, ts,
    points) of members, oldest first."""
    lines = lines[(lines["ts"] < pd.Timestamp(as_of)) & _earning(lines)]
    lines = lines[lines["customer_id"].isin(set(hist.customers))]
    paid = lines[lines["status"] == "paid"]
    orders = paid.groupby("order_id", sort=True).agg(
        customer_id=("customer_id", "first"), ts=("ts", "min"), base=("amount", "sum"))
    orders = orders[orders["base"] > 0].reset_index()
    row = pd.Index(hist.customers)
    held = hist.level_at(row.get_indexer(orders["customer_id"]), orders["ts"])
    codes = np.asarray(programme.codes, dtype=object)
    mult = np.array([lv.multiplier for lv in programme.levels])[held]
    orders["level"] = codes[held]
    orders["multiplier"] = mult
    orders["rate"] = programme.points_per_unit * mult
    orders["points"] = np.floor(orders["base"] * orders["rate"] + 1e-9).astype(np.int64)
    orders["earned_year"] = pd.to_datetime(orders["ts"]).dt.year
    orders["expires_at"] = programme.expires_at(orders["ts"])
    earn = orders.assign(kind="earn", entry_id="earn:" + orders["order_id"])

    back = lines[(lines["status"] != "paid") & lines["original_order_id"].isin(
        set(orders["order_id"]))]
    back = back.groupby(["original_order_id", "ts"], sort=True)["amount"].sum().reset_index()
    back = back.merge(orders.rename(columns={"order_id": "original_order_id", "ts": "placed",
                                             "points": "earned", "amount": "_"}),
                      on="original_order_id")
    back = back.sort_values(["original_order_id", "ts"], kind="stable")
    back["taken"] = (-back["amount"]).groupby(back["original_order_id"]).cumsum()
    left = np.floor(np.maximum(back["base"] - back["taken"], 0.0) * back["rate"] + 1e-9)
    back["left"] = np.minimum(left, back["earned"]).astype(np.int64)
    before = back.groupby("original_order_id")["left"].shift(1).fillna(back["earned"])
    back["points"] = (back["left"] - before).astype(np.int64)
    # points that already lapsed cannot be taken back: the year's remainder expired with them
    lapsed = back["expires_at"].notna() & (back["ts"] >= back["expires_at"])
    back = back[(back["points"] != 0) & ~lapsed]
    back = back.assign(kind="reverse", order_id=back["original_order_id"],
                       entry_id="reverse:" + back["original_order_id"] + ":"
                       + back["ts"].dt.strftime("%Y%m%d%H%M%S"))

    cols = list(LEDGER_COLUMNS)
    adjust = _adjustments(adjustments, hist, programme, as_of)
    moves = pd.concat([earn.reindex(columns=cols), back.reindex(columns=cols),
                       adjust.reindex(columns=cols)], ignore_index=True)
    expire = _expiries(moves, as_of)
    out = pd.concat([moves, expire.reindex(columns=cols)], ignore_index=True)
    out["points"] = out["points"].astype(np.int64)
    # within a moment: what was earned before a reversal of it, expiries last
    out["_k"] = out["kind"].map({k: i for i, k in enumerate(KINDS)})
    out = out.sort_values(["customer_id", "ts", "_k", "entry_id"], kind="stable")
    return out.drop(columns="_k").reset_index(drop=True)


def _adjustments(adjustments: pd.DataFrame | None, hist: LevelHistory, programme: Programme,
                 as_of: datetime) -> pd.DataFrame:
    """Adjustment entries of members dated before `as_of`, keyed by their request id (so one
    request is one entry however often it was sent)."""
    if adjustments is None or adjustments.empty:
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    a = adjustments.assign(ts=pd.to_datetime(adjustments["ts"]))
    a = a[(a["ts"] < pd.Timestamp(as_of)) & a["customer_id"].isin(set(hist.customers))]
    a = a.drop_duplicates("request_id").reset_index(drop=True)
    return a.assign(kind="adjust", entry_id="adjust:" + a["request_id"].astype(str),
                    points=a["points"].astype(np.int64), earned_year=a["ts"].dt.year,
                    expires_at=programme.expires_at(a["ts"]))


def _expiries(moves: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """One entry per member and earning year whose expiry has come by `as_of`: minus what is
    left of that year's points."""
    due = moves[moves["expires_at"].notna() & (moves["expires_at"] <= pd.Timestamp(as_of))]
    left = due.groupby(["customer_id", "earned_year", "expires_at"])["points"].sum()
    left = left[left > 0].reset_index()
    # dated the last instant before they lapse (the end of the year), so every entry of a
    # ledger as of a date lies before it and consecutive statements share their boundary
    return left.assign(kind="expire", ts=left["expires_at"] - pd.Timedelta(microseconds=1),
                       points=-left["points"],
                       entry_id="expire:" + left["customer_id"].astype(str) + ":"
                       + left["earned_year"].astype(str))


def statement(ledger: pd.DataFrame, members, start: datetime, as_of: datetime
              ) -> pd.DataFrame:
    """Each member's points over [start, as_of): opening (every entry before `start`, the
    closing of a statement ending there), earned (net of reversals; the
    reversed points are shown apart too), redeemed, expired, closing, and the points that
    lapse at the next expiry date after `as_of`."""
    members = pd.Index(sorted(members), name="customer_id")
    ts = pd.to_datetime(ledger["ts"])
    start = pd.Timestamp(start)

    def total(mask) -> pd.Series:
        return ledger[mask].groupby("customer_id")["points"].sum().reindex(members,
                                                                          fill_value=0)

    kind = ledger["kind"]
    within = ts >= start
    out = pd.DataFrame({
        "opening": total(~within),
        "earned": total(within & kind.isin(["earn", "reverse", "adjust"])),
        "reversed": -total(within & (kind == "reverse")),
        "redeemed": -total(within & (kind == "redeem")),
        "expired": -total(within & (kind == "expire")),
        "closing": total(ts.notna()),
    }, index=members).astype(np.int64)
    nxt = ledger["expires_at"][pd.to_datetime(ledger["expires_at"]) > pd.Timestamp(as_of)]
    if len(nxt):
        first = nxt.min()
        out["expiring"] = total(ledger["expires_at"] == first).clip(lower=0)
        out["expiring_at"] = first
    else:
        out["expiring"] = 0
        out["expiring_at"] = pd.NaT
    out.insert(0, "period_start", start)
    return out.reset_index()
