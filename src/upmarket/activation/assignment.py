"""Account managers and who gets a task (DESIGN §4, account managers and the sales team: the
key-account chapters expect customers assigned to people, by rules or explicitly, and tasks
carrying an assignee).

The roster file
---------------
``upmarket ingest account_managers FILE`` reads a CSV/TSV/Excel file, one row per person::

    name,email,tiers,regions,customers
    Li Wei,li.wei@example.com,diamond;core,CN-East;1,
    Zhang Min,zhang.min@example.com,potential;basic,,
    Wang Fang,wang.fang@example.com,,,C000042;C000107

``name`` and ``email`` are required; ``tiers`` (diamond, core, potential, basic, or their
Chinese names), ``regions`` (matched, case-blind, against the customer's region, country or
city tier) and ``customers`` (ids assigned to this person explicitly) are lists separated by
``;``, ``,``, ``、`` or ``|``; an empty list covers everything. Chinese headers are understood
(姓名, 邮箱, 层级, 区域, 客户). The file is the whole roster: people it no longer lists stop
getting tasks (their open tasks stay theirs until reassigned). A file with any mistake is
refused whole, every mistake named by file, row and field, so that a half-loaded roster never
hands out tasks.

Who gets a task
---------------
A person's task about a customer goes, in this order, to: the assignee the rule names; the
customer's explicitly assigned manager (while active); else, among the active managers whose
tiers and regions cover the customer, the one with the fewest open tasks (ties by e-mail, so
the choice is reproducible) — the usual least-loaded routing of a CRM's assignment rules. When
nobody covers the customer's region, the managers covering the tier are asked, then everyone,
so no task is left without a person. A task about no customer (a KPI) goes to the
least-loaded manager of all. With no managers loaded, tasks stay unassigned as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from upmarket.errors import Codes, Joined, Msg, UpmarketError
from upmarket.opstore import account_managers as roster
from upmarket.opstore.account_managers import Manager
from upmarket.opstore.automation import PlannedAction
from upmarket.opstore.store import Store
from upmarket.strategy.tiers import TIER_ORDER

#: Header → field; Chinese headers as a CRM export writes them.
HEADERS = {"name": "name", "姓名": "name", "客户经理": "name", "manager": "name",
           "email": "email", "e-mail": "email", "mail": "email", "邮箱": "email",
           "电子邮件": "email", "tiers": "tiers", "tier": "tiers", "层级": "tiers",
           "客户等级": "tiers", "regions": "regions", "region": "regions", "区域": "regions",
           "地区": "regions", "customers": "customers", "customer_ids": "customers",
           "客户": "customers", "客户编号": "customers"}
FIELDS = ("name", "email", "tiers", "regions", "customers")
_LIST = re.compile(r"[;,、|，；]+")
# a practical e-mail check (one @, a dotted domain, no spaces): the address is a name for the
# person here, nothing is sent to it
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
#: How many mistakes a refused file lists before saying how many more there are.
MAX_ERRORS = 20


class BadRoster(UpmarketError):
    """An account-managers file is refused; the message lists every mistake found."""


def tier_name(code: str, lang: str | None = None) -> str:
    from upmarket.i18n import value_label

    return value_label("tier", code, lang)


def _tier_names() -> dict[str, str]:
    from upmarket.i18n import label

    names = {t: t for t in TIER_ORDER}
    for t in TIER_ORDER:
        names[label(f"tier.{t}", "en").lower()] = t
        names[label(f"tier.{t}", "zh-CN")] = t
        names[label(f"tier.{t}", "zh-CN").removesuffix("客户")] = t  # 钻石, 核心 …
    return names


def _items(text: str) -> list[str]:
    return [p.strip() for p in _LIST.split(text or "") if p.strip()]


@dataclass
class Roster:
    """A checked roster file: the people and the explicit assignments."""

    source: str
    people: list[Manager] = field(default_factory=list)
    assigned: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0


def read_roster(path: str | Path) -> Roster:
    """Read and check an account-managers file (see the module docstring); `BadRoster` lists
    every mistake by file, row (the line in the file, or the sheet row) and field."""
    from upmarket.warehouse.readers import read_file

    sheet = read_file(path)
    src = str(path)
    frame = sheet.frame
    cols: dict[str, str] = {}
    for col in frame.columns:
        key = HEADERS.get(str(col).strip().lower()) or HEADERS.get(str(col).strip())
        if key is None:
            raise BadRoster("err.roster.column", file=src, column=col)
        if key in cols.values():
            raise BadRoster("err.roster.twice", file=src, key=key, column=col,
                            other=next(c for c, k in cols.items() if k == key))
        cols[col] = key
    missing = [f for f in ("name", "email") if f not in cols.values()]
    if missing:
        raise BadRoster("err.roster.missing", file=src, missing=", ".join(missing))
    frame = frame.rename(columns=cols)
    for f in FIELDS:
        if f not in frame:
            frame[f] = ""
    tiers = _tier_names()
    errors: list[Msg] = []
    out = Roster(src, rows_read=len(frame))
    seen: dict[str, int] = {}
    owner: dict[str, tuple[str, int]] = {}
    for i, r in enumerate(frame.fillna("").astype(str).to_dict("records")):
        row = sheet.first_line + i

        def bad(f: str, key: str, **fields) -> None:
            errors.append(Msg("err.roster.row", file=src, row=row,
                               field=Msg(f"err.roster.field.{f}"),
                               reason=Msg(f"err.roster.{key}", **fields)))

        name, email = r["name"].strip(), r["email"].strip().lower()
        if not name:
            bad("name", "no_name")
        elif len(name) > 200:
            bad("name", "long_name", n=len(name))
        if not email:
            bad("email", "no_email")
        elif not _EMAIL.match(email) or len(email) > 320:
            bad("email", "bad_email", value=r["email"].strip())
        elif email in seen:
            bad("email", "email_twice", email=email, other=seen[email])
        else:
            seen[email] = row
        got_tiers = set()
        for t in _items(r["tiers"]):
            code = tiers.get(t.lower()) or tiers.get(t)
            if code is None:
                bad("tiers", "tier", value=t, tiers=Codes(TIER_ORDER, tier_name))
            else:
                got_tiers.add(code)
        regions = {p.lower() for p in _items(r["regions"])}
        for p in regions:
            if len(p) > 100 or " " in p:
                bad("regions", "region", value=p)
        for cid in _items(r["customers"]):
            if len(cid) > 200:
                bad("customers", "long_id", n=len(cid))
            elif cid in owner and owner[cid][0] != email:
                bad("customers", "owned", customer=cid, email=owner[cid][0], other=owner[cid][1])
            else:
                owner[cid] = (email, row)
        out.people.append(Manager(email, name, frozenset(got_tiers), frozenset(regions)))
    if not len(frame):
        errors.append(Msg("err.roster.empty", file=src))
    if errors:
        more = len(errors) - MAX_ERRORS
        raise BadRoster("err.roster.refused", file=src, errors=Joined("\n", errors[:MAX_ERRORS]),
                        more=Msg("err.roster.more", n=more) if more > 0 else "")
    out.assigned = {cid: e for cid, (e, _) in owner.items()}
    return out


def load_roster(store: Store, path: str | Path, now: datetime) -> dict:
    """Check the file and make it the roster (`opstore.account_managers.replace_roster`)."""
    from upmarket.opstore.suppression import suppressed_rows

    r = read_roster(path)
    # an erased person stays erased: an old roster naming them does not bring their id back
    ids = pd.DataFrame({"customer_id": list(r.assigned)})
    gone = set(ids.loc[suppressed_rows(store, ids).to_numpy(), "customer_id"])
    assigned = {c: e for c, e in r.assigned.items() if c not in gone}
    counts = roster.replace_roster(store, r.people, assigned, now)
    return {"source": r.source, "rows_read": r.rows_read, "managers": len(r.people), **counts,
            "suppressed": len(gone)}


class Assigner:
    """Picks an assignee for each new person's task (module docstring), counting the tasks it
    hands out so that one batch of alerts is spread as evenly as tasks arriving one by one."""

    def __init__(self, store: Store, places: Mapping[str, Iterable[str]] | None = None):
        self.people = roster.managers(store)
        self.by_email = {p.email: p for p in self.people}
        self.load = roster.open_counts(store) if self.people else {}
        self.places = places or {}
        self._explicit: dict[str, str] = {}
        self._store = store

    def __bool__(self) -> bool:
        return bool(self.people)

    def prefetch(self, customer_ids: Iterable[str]) -> None:
        """Read the explicit assignments of the customers about to get tasks, at once."""
        if self.people:
            self._explicit.update(roster.explicit_assignments(self._store, customer_ids))

    def pick(self, customer_id: str | None, tier: str | None) -> str | None:
        if not self.people:
            return None
        who = self._explicit.get(customer_id) if customer_id is not None else None
        if who not in self.by_email:
            places = self.places.get(customer_id) if customer_id is not None else None
            # nobody covering the customer's region falls back to those covering the tier,
            # then to everyone: a task nobody holds is a task nobody does
            eligible = [p for p in self.people if customer_id is None or p.covers(tier, places)] \
                or [p for p in self.people if p.covers(tier, None)] or self.people
            who = min(eligible, key=lambda p: (self.load.get(p.email, 0), p.email)).email
        self.load[who] = self.load.get(who, 0) + 1
        return who

    def assign(self, action: PlannedAction) -> PlannedAction:
        """The action with an assignee when it is a person's task that has none."""
        if action.kind != "task" or action.assignee:
            return action
        who = self.pick(action.customer_id, action.tier)
        return action if who is None else replace(action, assignee=who)


def customer_places(wh, customer_ids: Iterable[str]) -> dict[str, list[str]]:
    """Each customer's region, country and city tier (those the warehouse holds), the values
    a manager's regions are matched against."""
    ids = sorted({str(c) for c in customer_ids if c is not None})
    if not ids or not wh.has_table("customers"):
        return {}
    t = wh.table("customers")
    cols = [c for c in ("region", "country", "city_tier") if c in t.columns]
    if not cols:
        return {}
    frame = t.filter(t.customer_id.isin(ids)).select("customer_id", *cols).to_pandas()
    out: dict[str, list[str]] = {}
    for r in frame.to_dict("records"):
        out[str(r["customer_id"])] = [str(r[c]).strip().lower() for c in cols
                                      if r[c] is not None and not pd.isna(r[c])
                                      and str(r[c]).strip()]
    return out


def assign_open(store: Store, wh=None) -> int:
    """Give every open person's task that has no assignee one, by the rules (with `wh`, the
    customers' regions are read from it). Returns how many were assigned."""
    from upmarket.opstore import automation as auto

    pending = [t for t in auto.list_tasks(store, open_only=True, kind="task")
               if not t["assignee"]]
    if not pending:
        return 0
    places = customer_places(wh, (t["customer_id"] for t in pending)) if wh is not None else {}
    a = Assigner(store, places)
    if not a:
        return 0
    a.prefetch(t["customer_id"] for t in pending if t["customer_id"])
    n = 0
    for t in pending:
        who = a.pick(t["customer_id"], t["tier"])
        if who is not None:
            auto.assign_task(store, t["id"], who)
            n += 1
    return n
