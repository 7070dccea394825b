"""Account managers and their customers in the operational store: the roster a file loads,
the explicit customer assignments, and each person's workload (open, overdue and done tasks).

Which manager a task goes to is decided above, in `upmarket.activation.assignment`; this
module only stores and counts. Timestamps are naive UTC, as everywhere in the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from upmarket.opstore.schema import account_assignments, account_managers, tasks
from upmarket.opstore.store import Store


@dataclass(frozen=True)
class Manager:
    email: str
    name: str
    #: tiers covered; empty: every tier
    tiers: frozenset[str]
    #: regions covered (matched against a customer's region, country or city tier); empty: all
    regions: frozenset[str]
    active: bool = True

    def covers(self, tier: str | None, places: Iterable[str] | None) -> bool:
        """Whether a customer of `tier` living in `places` (None: not known) is theirs by the
        rules. A customer whose place is not known is matched on the tier alone."""
        if self.tiers and tier not in self.tiers:
            return False
        if not self.regions or places is None:
            return True
        return bool(self.regions & {str(p).strip().lower() for p in places if p is not None})


def _split(text: str | None) -> frozenset[str]:
    return frozenset((text or "").split())


def replace_roster(store: Store, people: Iterable[Manager], assigned: Mapping[str, str],
                   now: datetime) -> dict:
    """Make `people` the active managers (added or updated by e-mail; those no longer listed
    become inactive, kept because tasks name them) and `assigned` (customer → e-mail) the
    explicit assignments, in one transaction. Returns what changed."""
    people = list(people)
    m = account_managers.c
    with store.engine.begin() as conn:
        held = {r.email for r in conn.execute(sa.select(m.email))}
        listed = {p.email for p in people}
        for p in people:
            values = {"name": p.name, "tiers": " ".join(sorted(p.tiers)),
                      "regions": " ".join(sorted(p.regions)), "active": True, "updated": now}
            if p.email in held:
                conn.execute(account_managers.update().where(m.email == p.email)
                             .values(**values))
            else:
                conn.execute(account_managers.insert().values(email=p.email, **values))
        gone = sorted(held - listed)
        if gone:
            conn.execute(account_managers.update().where(m.email.in_(gone))
                         .values(active=False, updated=now))
        conn.execute(account_assignments.delete())
        rows = [{"customer_id": c, "manager": e, "updated": now} for c, e in assigned.items()]
        for i in range(0, len(rows), 5000):
            conn.execute(account_assignments.insert(), rows[i:i + 5000])
    return {"added": len(listed - held), "updated": len(listed & held),
            "deactivated": len(gone), "assignments": len(rows)}


def managers(store: Store, *, active_only: bool = True) -> list[Manager]:
    m = account_managers.c
    q = sa.select(account_managers).order_by(m.name, m.email)
    if active_only:
        q = q.where(m.active == sa.true())
    with store.engine.connect() as conn:
        return [Manager(r.email, r.name, _split(r.tiers), _split(r.regions), bool(r.active))
                for r in conn.execute(q)]


def explicit_assignments(store: Store, customer_ids: Iterable[str] | None = None
                         ) -> dict[str, str]:
    """customer → manager e-mail, for `customer_ids` (None: all)."""
    a = account_assignments.c
    q = sa.select(a.customer_id, a.manager)
    out: dict[str, str] = {}
    with store.engine.connect() as conn:
        if customer_ids is None:
            return {c: e for c, e in conn.execute(q)}
        ids = sorted({str(c) for c in customer_ids})
        for i in range(0, len(ids), 5000):
            out.update({c: e for c, e in conn.execute(q.where(a.customer_id.in_(ids[i:i + 5000])))})
    return out


def open_counts(store: Store) -> dict[str, int]:
    """Open people's tasks per assignee: the workload assignment balances."""
    c = tasks.c
    q = (sa.select(c.assignee, sa.func.count()).where(c.status == "open", c.kind == "task",
                                                      c.assignee.isnot(None))
         .group_by(c.assignee))
    with store.engine.connect() as conn:
        return {a: int(n) for a, n in conn.execute(q)}


def workload(store: Store, now: datetime) -> list[dict]:
    """Per manager (and per any other assignee that holds tasks): open tasks, of which
    overdue, done, done within their due time (the tier's SLA) and that share, and the
    customers who bought (outcome converted). Managers first, by name."""
    c = tasks.c
    overdue = sa.case((sa.and_(c.status == "open", c.due < now), 1), else_=0)
    opened = sa.case((c.status == "open", 1), else_=0)
    done = sa.case((c.status == "done", 1), else_=0)
    in_sla = sa.case((sa.and_(c.status == "done", c.completed <= c.due), 1), else_=0)
    converted = sa.case((c.outcome == "converted", 1), else_=0)
    q = (sa.select(c.assignee, sa.func.sum(opened), sa.func.sum(overdue), sa.func.sum(done),
                   sa.func.sum(in_sla), sa.func.sum(converted))
         .where(c.kind == "task", c.assignee.isnot(None)).group_by(c.assignee))
    with store.engine.connect() as conn:
        counts = {a: tuple(int(v or 0) for v in rest) for a, *rest in conn.execute(q)}
    people = managers(store, active_only=False)
    out = []
    for who, name, active in [(p.email, p.name, p.active) for p in people] + \
            [(a, None, None) for a in sorted(set(counts) - {p.email for p in people})]:
        n_open, n_overdue, n_done, n_sla, n_conv = counts.get(who, (0, 0, 0, 0, 0))
        if active is False and not any((n_open, n_done)):
            continue  # a former manager with no tasks left is nobody's concern
        out.append({"assignee": who, "name": name, "manager": name is not None,
                    "active": active, "open": n_open, "overdue": n_overdue, "done": n_done,
                    "done_within_sla": n_sla,
                    "sla_share": n_sla / n_done if n_done else None,
                    "converted": n_conv})
    return out
