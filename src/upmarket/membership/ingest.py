"""What an existing programme's data adds to a run: the members ingested with
`upmarket ingest members FILE` (joined date, the level they held, the points they brought)
and the points rows ingested with `upmarket ingest points FILE` (redemptions, expiries,
corrections, points earned outside the orders held here).

Ingestion itself is the warehouse's (read → map → validate → quarantine → deduplicate, with
the rule that an ingested row's points say their direction by its kind, `warehouse.validate`);
this module turns the stored rows into ledger entries and level floors. Ingested rows are
facts of their date: they enter the append-only ledger beside the points computed from the
orders and never rewrite them. They are read a run of members at a time (`Ingested`): at a
million members, the rows read whole cost more than a run's whole evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import ibis
import numpy as np
import pandas as pd

from upmarket.lookups import among
from upmarket.membership.programme import Programme
from upmarket.warehouse.connection import Warehouse

#: An ingested row's kind → the ledger's kind and the sign its points take there.
KIND_OF = {"earned": ("earn", 1), "redeemed": ("redeem", -1), "expired": ("expire", -1),
           "adjusted": ("adjust", 1)}


@dataclass
class Carried:
    #: ledger entries: entry_id, customer_id, ts, kind, points (signed), reference
    entries: pd.DataFrame
    #: customer_id, joined_at, level (a code of the programme, or None)
    members: pd.DataFrame
    #: ingested level codes the programme does not have, with how many members hold each:
    #: those members start from the orders alone
    unknown_levels: dict[str, int] = field(default_factory=dict)


def _rows(wh: Warehouse, name: str, ts: str, as_of: datetime) -> ibis.Table | None:
    """The rows of `name` dated before `as_of`, with `order`: the order they are stored in
    (on DuckDB; by customer elsewhere, where the stored order is not kept)."""
    if not wh.has_table(name) or not wh.count(name):
        return None
    t = wh.table(name)
    t = t.mutate(order=t.rowid() if wh.is_duckdb
                 else ibis.row_number().over(order_by=t.customer_id))
    return t.filter(t[ts] < ibis.literal(as_of))


class Ingested:
    """The ingested members and points rows dated before `as_of`, left in the warehouse and
    read a run of members at a time (`part`): a member's carried rows are their own, so the
    parts put together are what `carried` reads at once. What crosses members (how many
    there are, the levels the programme lacks, when each joined, the years points were
    brought in) is summed in the engine."""

    def __init__(self, wh: Warehouse, as_of: datetime, programme: Programme):
        self.programme = programme
        self._members = _rows(wh, "members", "joined_at", as_of)
        self._points = _rows(wh, "points", "ts", as_of)

    def part(self, lo=None, hi=None) -> Carried:
        """The carried rows of the members whose ids run from `lo` up to (not including)
        `hi` (None: open), in the order they are stored; the levels the programme lacks are
        counted over all members (`summary`)."""
        def read(t: ibis.Table | None) -> pd.DataFrame:
            if t is None:
                return pd.DataFrame()
            if lo is not None:
                t = t.filter(t.customer_id >= lo)
            if hi is not None:
                t = t.filter(t.customer_id < hi)
            return t.order_by("order").drop("order").to_pandas()

        return _carried(read(self._members), read(self._points), self.programme)

    def summary(self) -> dict:
        """How many members and entries were carried (members named only by a points row
        count), and the ingested level codes the programme does not have."""
        members = entries = 0
        unknown: dict[str, int] = {}
        m, p = self._members, self._points
        if m is not None:
            members = int(m.count().execute())
            entries = int(m.filter(m.opening_balance > 0).count().execute())
            stray = m.filter(m.level.notnull(), ~m.level.isin(self.programme.codes))
            # most held first, ties in the order they are stored, as the rows counted in turn
            counts = stray.group_by("level").aggregate(
                n=stray.count(), first=stray.order.min()).to_pandas()
            counts = counts.sort_values(["n", "first"], ascending=[False, True], kind="stable")
            unknown = {str(k): int(v) for k, v in zip(counts["level"], counts["n"])}
        if p is not None:
            entries += int(p.count().execute())
            alone = p.select("customer_id").distinct()
            if m is not None:
                alone = alone.filter(~alone.customer_id.isin(m.customer_id))
            members += int(alone.count().execute())
        return {"members": members, "entries": entries, "unknown_levels": unknown}

    def starts(self) -> ibis.Table | None:
        """customer_id and joined_at of every carried member: the members file's date, or a
        member's first points row when the file left them out."""
        m, p = self._members, self._points
        parts = [] if m is None else [m.select("customer_id", "joined_at")]
        if p is not None:
            first = p.group_by("customer_id").aggregate(joined_at=p.ts.min())
            if m is not None:
                first = first.filter(~first.customer_id.isin(m.customer_id))
                first = first.mutate(joined_at=first.joined_at.cast(m.joined_at.type()))
            parts.append(first)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else parts[0].union(parts[1])

    def enrolled(self) -> ibis.Table | None:
        """The members file's rows (customer_id, joined_at) with `order`, the order they are
        read in; None without any."""
        m = self._members
        if m is None:
            return None
        return m.select("customer_id", "joined_at", "order")

    def adding(self) -> pd.DataFrame | None:
        """One carried entry per year in which carried entries add points (dated at the
        year's first): all that `ledger.next_expiry` reads of them, since a year's points all
        lapse together (`Programme.expires_at`)."""
        dates = []
        m, p = self._members, self._points
        if m is not None:
            o = m.filter(m.opening_balance > 0)
            dates.append(o.group_by(year=o.joined_at.year()).aggregate(ts=o.joined_at.min()))
        if p is not None:
            # earned and adjusted rows keep their sign in the ledger (`KIND_OF`)
            a = p.filter(p.kind.isin(["earned", "adjusted"]), p.points > 0)
            dates.append(a.group_by(year=a.ts.year()).aggregate(ts=a.ts.min()))
        found = [d.to_pandas() for d in dates]
        found = [pd.to_datetime(d["ts"]) for d in found if len(d)]
        if not found:
            return None
        ts = pd.concat(found, ignore_index=True)
        return pd.DataFrame({"entry_id": None, "customer_id": None, "ts": ts, "kind": "earn",
                             "points": np.ones(len(ts), dtype=np.int64), "reference": None})


def _carried(members: pd.DataFrame, points: pd.DataFrame, programme: Programme) -> Carried:
    """The ingested `members` and `points` rows as ledger entries and level floors."""
    cols = ["entry_id", "customer_id", "ts", "kind", "points", "reference"]
    parts = []
    unknown: dict[str, int] = {}
    if len(members):
        members["joined_at"] = pd.to_datetime(members["joined_at"])
        level = members["level"].where(members["level"].isin(programme.codes))
        strays = members.loc[members["level"].notna() & level.isna(), "level"]
        unknown = {str(k): int(v) for k, v in strays.value_counts().items()}
        members["level"] = level
        bal = members[members["opening_balance"].fillna(0) > 0]
        parts.append(pd.DataFrame({
            "entry_id": "open:" + bal["customer_id"].astype(str),
            "customer_id": bal["customer_id"], "ts": bal["joined_at"], "kind": "open",
            "points": bal["opening_balance"].astype("int64"), "reference": None}))
    else:
        members = pd.DataFrame(columns=["customer_id", "joined_at", "level"])
    if len(points):
        # looked up once per kind, not once per row
        known = pd.Index(list(KIND_OF)).get_indexer(points["kind"])
        if (known < 0).any():
            raise KeyError(str(points["kind"][known < 0].iloc[0]))
        kind = np.array([KIND_OF[k][0] for k in KIND_OF], dtype=object)[known]
        sign = np.array([KIND_OF[k][1] for k in KIND_OF])[known]
        parts.append(pd.DataFrame({
            "entry_id": "ingested:" + points["id"].astype(str),
            "customer_id": points["customer_id"], "ts": pd.to_datetime(points["ts"]),
            "kind": kind, "points": points["points"].astype("int64") * sign,
            "reference": points["reference"]}))
    entries = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    # a points row is a member's even when the members file left them out: they join with it
    if len(points):
        first = points.groupby("customer_id", as_index=False)["ts"].min().rename(
            columns={"ts": "joined_at"})
        first = first[~among(first["customer_id"], members["customer_id"])].assign(level=None)
        members = pd.concat([members[["customer_id", "joined_at", "level"]], first],
                            ignore_index=True)
    return Carried(entries[cols], members[["customer_id", "joined_at", "level"]], unknown)
