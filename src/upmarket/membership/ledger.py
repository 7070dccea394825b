"""The points ledger (积分流水): append-only entries per member, computed from the orders.

- **earn**: a paid order earns ⌊product spend × points per unit × the multiplier of the level
  the member held when it was placed⌋ (postage and fees earn nothing);
- **reverse**: a cancellation or return takes back the points of what it reverses, at the
  original order's multiplier, so that after every reversal the order keeps exactly
  ⌊what is left of its spend × rate⌋: a wholly cancelled order nets to zero points;
- **expire**: at the end of the year after the one they were earned in, what is left of a
  year's points lapses (a reversal after its points lapsed has nothing left to take back);
- **open**, **redeem**, **adjust** and ingested **earn** and **expire** entries come from an
  existing programme's data (`upmarket ingest members|points`, `membership.carried`): the
  balance a member brought over, redemptions, corrections, points earned outside these
  orders, and the old system's own expiries;
- **adjust** entries also come from corrections by hand (`POST /v1/points/adjust`, kept in
  the operational store), dated when they take effect.

Points are spent first in, first out: a redemption, a negative adjustment or an ingested
expiry takes from the year whose points lapse soonest, so what lapses at a year's end is what
is left of that year's points after everything spent from it.

Every entry is a function of orders dated before it and of the level history before them
(`levels`), so a later run's ledger starts with exactly the entries of an earlier one: nothing
is rewritten, corrections are new entries. Each member's statement over a period reconciles:
opening + earned − redeemed − expired ± adjusted = closing, with earned net of reversals and
the opening holding any balance carried over from an earlier system.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import numpy as np
import pandas as pd

from upmarket.lookups import among
from upmarket.membership.levels import LevelHistory
from upmarket.membership.programme import Programme

KINDS = ("open", "earn", "reverse", "redeem", "adjust", "expire")
#: Entries that spend points (first in, first out) rather than add to a year's points.
SPENDING = ("redeem", "expire")
LEDGER_COLUMNS = ("entry_id", "customer_id", "ts", "kind", "points", "order_id", "level",
                  "multiplier", "earned_year", "expires_at", "reference")
#: Lines that earn points: products (a file without line kinds holds products only).
_EARNING = ("product",)


def _earning(lines: pd.DataFrame) -> pd.Series:
    kind = lines["line_kind"] if "line_kind" in lines else pd.Series(None, index=lines.index)
    return kind.isna() | kind.isin(_EARNING)


def ledger_lines(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """What `build_ledger` reads of the order lines before `as_of`, summed in the engine: one
    row per paid order (the spend of its earning lines, at its first line's time) and one per
    reversal of an order at a moment and status. `build_ledger` sums lines to exactly these,
    so it finds the same entries from them as from every line, from a table a fraction of
    the size."""
    o = orders.filter(orders.ts < ibis.literal(as_of))
    o = o.filter(o.line_kind.isnull() | o.line_kind.isin(list(_EARNING)))
    paid = o.filter(o.status == "paid")
    paid = paid.group_by(["customer_id", "order_id"]).aggregate(
        ts=paid.ts.min(), amount=paid.amount.sum())
    paid = paid.mutate(status=ibis.literal("paid"),
                       original_order_id=ibis.null().cast("string"))
    back = o.filter(o.status != "paid", o.original_order_id.notnull())
    back = back.group_by(["customer_id", "original_order_id", "ts", "status"]).aggregate(
        order_id=back.order_id.min(), amount=back.amount.sum())
    cols = ["customer_id", "order_id", "ts", "amount", "status", "original_order_id"]
    return paid.select(*cols).union(back.select(*cols))


#: Members whose ledger is built at a time (`build_ledger`).
BATCH_MEMBERS = 100_000


def build_ledger(lines: pd.DataFrame, hist: LevelHistory, programme: Programme,
                 as_of: datetime, carried: pd.DataFrame | None = None,
                 adjustments: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every ledger entry up to `as_of` from order `lines` (customer_id, order_id, ts, amount,
    status, line_kind, original_order_id), the `carried` entries of an existing programme
    (entry_id, customer_id, ts, kind, points signed, reference) and the hand-made
    `adjustments` (request_id, customer_id, ts, points) of members, oldest first.

    Built `BATCH_MEMBERS` members at a time: a member's entries depend on their own lines,
    levels and entries only, and the ledger is ordered by member first, so the batches, cut
    at member ids in order, put together are the ledger built at once. Only one batch's
    working frames (several times the size of its entries) are ever held."""
    members = hist.customers
    if len(members) <= BATCH_MEMBERS:
        return _build_ledger(lines, hist, programme, as_of, carried, adjustments)
    cuts = np.asarray(members[BATCH_MEMBERS::BATCH_MEMBERS], dtype=object)

    def batch_of(frame: pd.DataFrame | None) -> np.ndarray | None:
        if frame is None:
            return None
        ids = frame["customer_id"].astype(object).to_numpy(object)
        return np.searchsorted(cuts, ids, side="right")

    at = {"lines": batch_of(lines), "carried": batch_of(carried),
          "adjustments": batch_of(adjustments)}
    parts = []
    for k in range(len(cuts) + 1):
        def part(frame, key):
            return None if frame is None else frame[at[key] == k]
        parts.append(_build_ledger(part(lines, "lines"), hist, programme, as_of,
                                   part(carried, "carried"), part(adjustments, "adjustments")))
    out = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    out["points"] = out["points"].astype(np.int64)
    return out


def _build_ledger(lines: pd.DataFrame, hist: LevelHistory, programme: Programme,
                  as_of: datetime, carried: pd.DataFrame | None = None,
                  adjustments: pd.DataFrame | None = None) -> pd.DataFrame:
    """`build_ledger` of the members `lines`, `carried` and `adjustments` hold."""
    lines = lines[(lines["ts"] < pd.Timestamp(as_of)) & _earning(lines)]
    lines = lines[among(lines["customer_id"], hist.customers)]
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

    back = lines[(lines["status"] != "paid").to_numpy(bool)
                 & among(lines["original_order_id"], orders["order_id"])]
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
    parts = [earn.reindex(columns=cols), back.reindex(columns=cols)]
    carried = _with_adjustments(carried, adjustments, hist.customers)
    if carried is not None and len(carried):
        parts.append(_dated(carried[pd.to_datetime(carried["ts"]) < pd.Timestamp(as_of)],
                            programme).reindex(columns=cols))
    moves = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(
        len(p) for p in parts) else parts[0]
    moves["points"] = moves["points"].astype(np.int64)
    spends = moves["kind"].isin(SPENDING) | ((moves["kind"] == "adjust") & (moves["points"] < 0))
    spenders = set(moves.loc[spends, "customer_id"])
    plain = ~among(moves["customer_id"], spenders)
    expire = pd.concat([_expiries(moves[plain], as_of).reindex(columns=cols),
                        _expiries_spent(moves[~plain], as_of).reindex(columns=cols)],
                       ignore_index=True)
    out = pd.concat([moves, expire], ignore_index=True)
    out["points"] = out["points"].astype(np.int64)
    return out.take(_ledger_order(out)).reset_index(drop=True)


def _ledger_order(entries: pd.DataFrame) -> np.ndarray:
    """The positions of `entries` in ledger order: by member, time, kind (within a moment,
    what was earned before a reversal of it, expiries last) and entry id, ties kept in place.
    The entry id only breaks ties, so only tied entries have theirs compared: ordering a
    million distinct ids costs more than the rest of the order."""
    if entries.empty:
        return np.zeros(0, dtype=np.int64)
    who = pd.factorize(entries["customer_id"], sort=True)[0]
    ts = pd.to_datetime(entries["ts"]).to_numpy("datetime64[ns]").astype(np.int64)
    kind = pd.Index(KINDS).get_indexer(entries["kind"])
    first = np.lexsort((kind, ts, who))
    a, b, c = who[first], ts[first], kind[first]
    same = np.r_[False, (a[1:] == a[:-1]) & (b[1:] == b[:-1]) & (c[1:] == c[:-1])]
    tied = np.zeros(len(entries), dtype=bool)
    tied[first[same | np.r_[same[1:], False]]] = True
    if not tied.any():
        return first
    ids = np.zeros(len(entries), dtype=np.int64)
    ids[tied] = pd.factorize(entries["entry_id"].to_numpy(object)[tied], sort=True)[0]
    return np.lexsort((ids, kind, ts, who))


def _dated(carried: pd.DataFrame, programme: Programme) -> pd.DataFrame:
    """Carried entries that add points get the year they count in and its expiry, as points
    earned from an order on their date would; spending entries take from years already held."""
    out = carried.copy()
    out["ts"] = pd.to_datetime(out["ts"])
    adds = ~out["kind"].isin(SPENDING) & (out["points"] > 0)
    out["earned_year"] = out["ts"].dt.year.where(adds)
    out["expires_at"] = programme.expires_at(out["ts"]).where(adds)
    return out


def _expiries_spent(moves: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Expiries of members who spent points: each year's points are held apart, spending takes
    from the year that lapses first, and a spend beyond what is held is owed by the points
    earned next; what a year still holds when it lapses expires."""
    cols = list(LEDGER_COLUMNS)
    if moves.empty:
        return pd.DataFrame(columns=cols)
    never = np.iinfo(np.int64).max  # points that never lapse sort after every date
    order = moves.take(_ledger_order(moves))
    # plain Python lists: this walk runs once per entry of every member who spent points, and
    # a list item costs a fraction of a NumPy scalar
    who = order["customer_id"].to_numpy()
    ts = pd.to_datetime(order["ts"]).to_numpy("datetime64[ns]").astype(np.int64)
    due = pd.to_datetime(order["expires_at"]).to_numpy("datetime64[ns]")
    due = np.where(np.isnat(due), never, due.astype(np.int64))
    year = order["earned_year"].to_numpy(float)
    pts = order["points"].to_numpy(np.int64)
    kind = order["kind"].to_numpy()
    spends = np.isin(kind, SPENDING) | ((kind == "adjust") & (pts < 0))
    end = int(pd.Timestamp(as_of).value)
    found: list[tuple] = []
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    ts, due, year, pts, spends = (a.tolist() for a in (ts, due, year, pts, spends))
    for lo, hi in zip(starts.tolist(), np.r_[starts[1:], len(who)].tolist()):
        held: dict[tuple[int, float], int] = {}  # (expires_at ns, earned year) → points left
        owed = 0
        soonest = never  # the earliest expiry among the years held

        def lapse_until(when, c=who[lo]):
            for key in sorted(k for k in held if k[0] <= when):
                left = held.pop(key)
                if left > 0:
                    found.append((c, key[1], key[0], left))
            return min((k[0] for k in held), default=never)

        for r in range(lo, hi):
            if held and soonest <= ts[r]:
                soonest = lapse_until(ts[r])
            p = pts[r]
            key = (due[r], year[r])
            if not spends[r] and p > 0:
                paid = min(owed, p)
                owed -= paid
                held[key] = held.get(key, 0) + p - paid
                soonest = min(soonest, key[0])
                continue
            need = -p
            if not spends[r]:
                # a reversal takes back its own year's points; what spending already took of
                # them is taken from the other years, as a spend would be
                take = min(max(held.get(key, 0), 0), need)
                if key in held:
                    held[key] -= take
                need -= take
            for k in sorted(held):  # soonest to lapse first
                if not need:
                    break
                take = min(max(held[k], 0), need)
                held[k] -= take
                need -= take
            owed += need
        lapse_until(end)
    if not found:
        return pd.DataFrame(columns=cols)
    c, y, at, left = zip(*found)
    expires = pd.to_datetime(np.array(at, dtype="datetime64[ns]"))
    y = np.array(y, dtype=np.int64)
    return pd.DataFrame({
        "entry_id": ["expire:" + str(a) + ":" + str(b) for a, b in zip(c, y)],
        "customer_id": np.array(c, dtype=object), "ts": expires - pd.Timedelta(microseconds=1),
        "kind": "expire", "points": -np.array(left, dtype=np.int64), "earned_year": y,
        "expires_at": expires}).reindex(columns=cols)


def _with_adjustments(carried: pd.DataFrame | None, adjustments: pd.DataFrame | None,
                      members) -> pd.DataFrame | None:
    """The carried entries plus members' hand-made adjustments in the same shape, keyed by
    their request id (so one request is one entry however often it was sent). An adjustment
    then counts like any carried entry: a credit lapses with the points earned that year, a
    debit is spent first in, first out."""
    if adjustments is None or adjustments.empty:
        return carried
    a = adjustments.assign(ts=pd.to_datetime(adjustments["ts"]))
    a = a[among(a["customer_id"], members)].drop_duplicates("request_id")
    a = pd.DataFrame({"entry_id": "adjust:" + a["request_id"].astype(str),
                      "customer_id": a["customer_id"], "ts": a["ts"], "kind": "adjust",
                      "points": a["points"].astype(np.int64)})
    if carried is None or carried.empty:
        return a.reset_index(drop=True)
    return pd.concat([carried, a], ignore_index=True)


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


def next_expiry(orders: ibis.Table, as_of: datetime, programme: Programme, members,
                carried: pd.DataFrame | None = None,
                adjustments: pd.DataFrame | None = None) -> pd.Timestamp | None:
    """The next expiry date after `as_of` of any entry of the ledger `build_ledger` makes of
    `members` (what `statement` reads off a whole ledger), found without building it, so a
    ledger built a part of the members at a time states the same date for all of them.

    Only entries that add points have an expiry of their own (reversals take their order's,
    expiries lapse by `as_of`), and a year's points all lapse together
    (`Programme.expires_at`), so each year's first earning order stands for all of them."""
    lines = ledger_lines(orders, as_of)
    earned = lines.filter(lines.status == "paid", lines.amount > 0)
    firsts = earned.group_by(year=earned.ts.year()).aggregate(ts=earned.ts.min()).to_pandas()
    due = [programme.expires_at(pd.to_datetime(firsts["ts"]))]
    carried = _with_adjustments(carried, adjustments, members)
    if carried is not None and len(carried):
        due.append(_dated(carried[pd.to_datetime(carried["ts"]) < pd.Timestamp(as_of)],
                          programme)["expires_at"])
    due = pd.concat([d for d in due if len(d)] or due[:1], ignore_index=True)
    due = due[pd.to_datetime(due) > pd.Timestamp(as_of)]
    return due.min() if len(due) else None


#: `statement`'s next expiry when the caller has not given it: read off the ledger.
_FROM_LEDGER = object()


def statement(ledger: pd.DataFrame, members, start: datetime, as_of: datetime, *,
              soonest=_FROM_LEDGER) -> pd.DataFrame:
    """Each member's points over [start, as_of): opening (every entry before `start`, the
    closing of a statement ending there, and any balance carried over), earned (net of
    reversals; the reversed points are shown apart too), redeemed, expired, adjusted (signed),
    closing, and the points that lapse at the next expiry date after `as_of` (`soonest`:
    that date as `next_expiry` finds it, None for none, when `ledger` holds only some
    members' entries)."""
    members = pd.Index(sorted(members), name="customer_id")
    ts = pd.to_datetime(ledger["ts"])
    start = pd.Timestamp(start)

    # each total filters the two columns it sums, not a copy of every column of the ledger
    points = ledger[["customer_id", "points"]]

    def total(mask) -> pd.Series:
        return points[mask].groupby("customer_id")["points"].sum().reindex(members,
                                                                          fill_value=0)

    kind = ledger["kind"]
    within = ts >= start
    # a balance carried over from an earlier system opens the member's statement whenever
    # it was carried, so that the statement reconciles from the first period it appears in
    out = pd.DataFrame({
        "opening": total(~within | (kind == "open")),
        "earned": total(within & kind.isin(["earn", "reverse"])),
        "reversed": -total(within & (kind == "reverse")),
        "redeemed": -total(within & (kind == "redeem")),
        "expired": -total(within & (kind == "expire")),
        "adjusted": total(within & (kind == "adjust")),
        "closing": total(ts.notna()),
    }, index=members).astype(np.int64)
    if soonest is _FROM_LEDGER:
        nxt = ledger["expires_at"][pd.to_datetime(ledger["expires_at"]) > pd.Timestamp(as_of)]
        soonest = nxt.min() if len(nxt) else None
    if soonest is not None:
        # in the unit of the ledger's dates, as read off it
        kind_of = ledger["expires_at"].dtype
        first = pd.Timestamp(soonest).as_unit(np.datetime_data(kind_of)[0]) \
            if isinstance(kind_of, np.dtype) and kind_of.kind == "M" else soonest
        due = pd.to_datetime(ledger["expires_at"])
        # spending takes the soonest-lapsing points first, so what lapses next is what the
        # balance holds beyond the later years' points
        later = total(due > first)
        out["expiring"] = np.minimum(total(due == first), out["closing"] - later).clip(lower=0)
        out["expiring_at"] = first
    else:
        out["expiring"] = 0
        out["expiring_at"] = pd.NaT
    out.insert(0, "period_start", start)
    return out.reset_index()
