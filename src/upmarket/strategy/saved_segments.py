"""Segments saved by name: a condition in the segment language (`segment_conditions`) kept in
the warehouse table `saved_segments`, evaluated afresh on the current run's results whenever
it is used — `segments export`, rules (`segment: NAME`), `/v1/segments/{name}/members`, the
report and the dashboard. Only the condition is stored, never a list of customers, so a saved
segment follows its customers from run to run and holds no personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import ibis
import pandas as pd

from upmarket.errors import Msg, UnknownSegment, UpmarketError
from upmarket.models.churn import BANDS
from upmarket.strategy import segment_conditions as sc
from upmarket.strategy.lifecycle import STAGES
from upmarket.strategy.segments import SEGMENTS
from upmarket.strategy.tiers import TIER_ORDER
from upmarket.warehouse.runs import current_run, output
from upmarket.warehouse.schema import SAVED_SEGMENTS

TABLE = SAVED_SEGMENTS.name
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
#: The codes of the run's own groups: a saved segment may not take one, so `segments export
#: NAME` is never ambiguous.
RESERVED = frozenset((*TIER_ORDER, *SEGMENTS, *STAGES, *(b for _, b in BANDS)))


class BadSegmentName(UpmarketError):
    """A name a segment cannot be saved under."""


@dataclass
class Evaluated:
    """A condition evaluated on one run: its members (rows of the run's results) and size."""
    condition: str
    run_id: str
    members: ibis.Table
    customers: int
    total_customers: int
    revenue: float
    revenue_share: float


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise BadSegmentName("err.segment.name", name=name)
    if name in RESERVED:
        raise BadSegmentName("err.segment.reserved", name=name)
    return name


def evaluate(wh, condition: str, *, run: dict | None = None, at: datetime | None = None,
             strict: bool = False) -> Evaluated:
    """The members of `condition` in `run` (default the current one). `strict` also refuses
    values of open categories the data do not hold (a typo such as `city_tier = 7`), as a
    condition is checked when it is saved; later runs evaluate it as it is."""
    tree = sc.parse(condition)
    run = run or current_run(wh)
    res = output(wh, "results", run["run_id"])
    base = sc.base_table(wh, res, pd.Timestamp(run["as_of"]).to_pydatetime())
    known = sc.known_values(wh, base, tree) if strict else None
    pred = sc.compile_condition(tree, base, wh, at=at or _now(), known=known)
    ids = base.filter(pred).select("customer_id")
    members = res.semi_join(ids, "customer_id")
    # a run without revenue figures still has sizes: its revenue share is 0
    money = (lambda t: t.net_revenue.sum()) if "net_revenue" in res.columns else (
        lambda t: ibis.literal(0.0))
    sizes = members.aggregate(n=members.count(), revenue=money(members)).to_pandas()
    totals = res.aggregate(n=res.count(), revenue=money(res)).to_pandas()
    revenue = float(sizes["revenue"].fillna(0).iloc[0])
    total = float(totals["revenue"].fillna(0).iloc[0])
    return Evaluated(condition, run["run_id"], members, int(sizes["n"].iloc[0]),
                     int(totals["n"].iloc[0]), revenue, revenue / total if total else 0.0)


def save(wh, name: str, condition: str, *, now: datetime | None = None) -> Evaluated:
    """Check `condition` on the current run and save it as `name` (replacing a segment of
    that name). Returns it evaluated, for its count and revenue share."""
    check_name(name)
    found = evaluate(wh, condition, strict=True)
    now = now or _now()
    held = saved(wh)
    created = held.loc[held["name"] == name, "created"]
    row = pd.DataFrame([{"name": name, "condition": condition.strip(),
                         "created": created.iloc[0] if len(created) else now, "updated": now}])
    with wh.transaction():
        _delete(wh, name)
        wh.insert(TABLE, row)
    return found


def _delete(wh, name: str) -> None:
    if wh.is_duckdb:
        # a parameter, never text pasted into SQL
        wh.backend.con.execute(f'DELETE FROM "{TABLE}" WHERE name = ?', [name])
    else:
        t = wh.table(TABLE)
        wh.create_table(TABLE, t.filter(t.name != name).to_pyarrow(), overwrite=True)


def delete(wh, name: str) -> None:
    condition_of(wh, name)
    with wh.transaction():
        _delete(wh, name)


def saved(wh) -> pd.DataFrame:
    """Every saved segment: name, condition, created, updated; by name."""
    if not wh.has_table(TABLE):  # a warehouse opened read-only before this table existed
        return pd.DataFrame(columns=["name", "condition", "created", "updated"])
    return wh.table(TABLE).order_by("name").to_pandas()


def is_saved(wh, name: str) -> bool:
    held = saved(wh)
    return bool((held["name"] == name).any())


def condition_of(wh, name: str) -> str:
    held = saved(wh)
    hit = held.loc[held["name"] == name, "condition"]
    if hit.empty:
        names = ", ".join(held["name"]) or Msg("err.segment.none_yet")
        raise UnknownSegment("err.segment.unknown", name=name, names=names)
    return str(hit.iloc[0])


def members(wh, name: str, *, run: dict | None = None, at: datetime | None = None) -> Evaluated:
    """Saved segment `name` evaluated on `run` (default the current one)."""
    return evaluate(wh, condition_of(wh, name), run=run, at=at)


def summary(wh, *, run: dict | None = None, at: datetime | None = None) -> list[dict]:
    """Each saved segment's size and revenue share in `run`; a segment whose condition no
    longer fits the data (a field the warehouse lost) says why instead of failing the rest."""
    out = []
    run = run or current_run(wh)
    for r in saved(wh).itertuples():
        try:
            ev = evaluate(wh, r.condition, run=run, at=at)
            out.append({"name": r.name, "condition": r.condition, "customers": ev.customers,
                        "revenue_share": ev.revenue_share, "error": None})
        except sc.BadCondition as exc:
            out.append({"name": r.name, "condition": r.condition, "customers": None,
                        "revenue_share": None, "error": str(exc)})
    return out
