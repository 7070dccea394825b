"""What an existing programme's data adds to a run: the members ingested with
`upmarket ingest members FILE` (joined date, the level they held, the points they brought)
and the points rows ingested with `upmarket ingest points FILE` (redemptions, expiries,
corrections, points earned outside the orders held here).

Ingestion itself is the warehouse's (read → map → validate → quarantine → deduplicate, with
the rule that an ingested row's points say their direction by its kind, `warehouse.validate`);
this module turns the stored rows into ledger entries and level floors. Ingested rows are
facts of their date: they enter the append-only ledger beside the points computed from the
orders and never rewrite them.
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
    #: the members file's own rows (customer_id, joined_at): who joined when
    enrolled: pd.DataFrame | None = None


def _rows(wh: Warehouse, name: str, ts: str, as_of: datetime) -> pd.DataFrame:
    if not wh.has_table(name) or not wh.count(name):
        return pd.DataFrame()
    t = wh.table(name)
    return t.filter(t[ts] < ibis.literal(as_of)).to_pandas()


def carried(wh: Warehouse, as_of: datetime, programme: Programme) -> Carried:
    """The ingested members and points rows dated before `as_of`, as ledger entries."""
    members = _rows(wh, "members", "joined_at", as_of)
    points = _rows(wh, "points", "ts", as_of)
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
    enrolled = members[["customer_id", "joined_at"]].copy()
    # a points row is a member's even when the members file left them out: they join with it
    if len(points):
        first = points.groupby("customer_id", as_index=False)["ts"].min().rename(
            columns={"ts": "joined_at"})
        first = first[~among(first["customer_id"], members["customer_id"])].assign(level=None)
        members = pd.concat([members[["customer_id", "joined_at", "level"]], first],
                            ignore_index=True)
    return Carried(entries[cols], members[["customer_id", "joined_at", "level"]], unknown,
                   enrolled)
