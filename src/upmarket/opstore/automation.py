"""The automation state in the operational store: alerts, the tasks they set off, the webhook
outbox, and the copy of tasks into the warehouse.

Firing is exactly-once by construction, not by care. `fire_alerts` writes, in one transaction
per batch: the alert (its `dedup_key` is unique, so evaluating the same run or event again
inserts nothing), the cooldown claim (a conditional upsert that only succeeds when the rule last
fired for that subject at least a cooldown ago), and every action the alert sets off (tasks and
webhook messages). Either all of it commits or none does: the transactional-outbox pattern, so
a crash never leaves an alert without its actions, nor a webhook without its alert.

What to fire and what each action looks like is decided above, in `upmarket.activation`; this
module only stores it. Timestamps are naive UTC, as everywhere in the store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from upmarket.errors import UpmarketError
from upmarket.opstore.schema import alert_cooldowns, alerts, tasks, webhook_outbox
from upmarket.opstore.store import Store, _datetime, _insert

TASK_KINDS = ("task", "webhook", "export")
#: cancelled: its customer was erased (`activation.erasure`) before it was done
TASK_STATUSES = ("open", "done", "failed", "cancelled")
#: What a person reports when marking a task done (worklists): the customer was reached, was
#: not, or bought (`converted` counts in the rep's premium conversion).
OUTCOMES = ("reached", "not_reached", "converted")
#: A worklist's due states: open and not yet due, open past its due time, done.
DUE_STATES = ("open", "overdue", "done")
#: How long a deliverer owns the webhook messages it took: another deliverer (a second cron
#: job, the service's worker) leaves them alone meanwhile, and takes them over if it died.
DELIVERY_LEASE = timedelta(minutes=5)


class UnknownTask(UpmarketError):
    pass


class TaskError(UpmarketError):
    pass


@dataclass(frozen=True)
class Candidate:
    """An alert a rule would fire: about `subject` (a customer id, or a KPI and its group),
    found while evaluating `occasion` (a run id, or an event's message id)."""

    rule: str
    subject: str
    severity: str
    source: str  # run | event
    occasion: str
    cooldown: timedelta
    detail: Mapping[str, Any] = field(default_factory=dict)
    customer_id: str | None = None
    run_id: str | None = None
    #: the moment of the data the candidate was found in (a run's as-of, an event's time)
    data_time: datetime | None = None
    #: whatever the planner of actions needs (the rule, the customer's tier …); not stored
    payload: Any = None

    @property
    def dedup_key(self) -> str:
        text = "\x1f".join((self.rule, self.subject, self.source, self.occasion))
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Alert:
    id: int
    rule: str
    subject: str
    customer_id: str | None
    severity: str
    fired: datetime
    source: str
    run_id: str | None
    detail: dict
    data_time: datetime | None = None


@dataclass
class PlannedAction:
    """A row of `tasks` to write for an alert, and for a webhook its outbox message."""

    kind: str
    automated: bool
    title: str
    due: datetime
    customer_id: str | None = None
    tier: str | None = None
    assignee: str | None = None
    detail: dict = field(default_factory=dict)
    #: for kind webhook: url, secret_env, body (the JSON text to send), max_attempts
    webhook: dict | None = None


Planner = Callable[[Candidate, Alert], list[PlannedAction]]


def _json(v) -> str:
    return json.dumps(v, ensure_ascii=False, default=str, allow_nan=False)


def _loads(v) -> dict:
    if v is None or v == "":
        return {}
    return json.loads(v) if isinstance(v, str) else dict(v)


def fire_alerts(store: Store, candidates: Iterable[Candidate], now: datetime,
                plan: Planner | None = None, *, chunk: int = 5000) -> list[Alert]:
    """Fire the candidates that are neither duplicates (same rule, subject and occasion
    already fired) nor cooling down (the rule fired for the subject less than its cooldown
    before `now`), with the actions `plan` gives for each, in one transaction. Returns the
    alerts fired, in (rule, subject) order.

    Set-wise, `chunk` rows per statement (one alert costs ~1 ms when written statement by
    statement, most of it building statements): insert the alerts, skipping known dedup keys;
    claim the cooldown once per (rule, subject); take back (delete, unseen) the alerts whose
    claim failed; write the actions. Rows go in (rule, subject) order, so concurrent writers on
    PostgreSQL take their row locks in the same order and cannot deadlock.
    """
    todo: dict[str, Candidate] = {}
    for c in sorted(candidates, key=lambda c: (c.rule, c.subject, c.dedup_key)):
        todo.setdefault(c.dedup_key, c)
    if not todo:
        return []
    ins = _insert(store, alerts).on_conflict_do_nothing(index_elements=["dedup_key"]) \
        .returning(alerts.c.id, alerts.c.dedup_key)
    claim = _insert(store, alert_cooldowns)
    claim = claim.on_conflict_do_update(
        index_elements=["rule", "subject"],
        set_={"last_fired": claim.excluded.last_fired,
              "customer_id": claim.excluded.customer_id},
        where=alert_cooldowns.c.last_fired <= sa.bindparam("cutoff", type_=sa.DateTime()),
    ).returning(alert_cooldowns.c.rule, alert_cooldowns.c.subject)
    with store.engine.begin() as conn:
        new: dict[str, int] = {}
        rows = [{"rule": c.rule, "subject": c.subject, "customer_id": c.customer_id,
                 "fired": now, "data_time": c.data_time, "severity": c.severity,
                 "source": c.source,
                 "run_id": c.run_id, "detail": _json(dict(c.detail)), "dedup_key": key}
                for key, c in todo.items()]
        for part in _chunks(rows, chunk):
            new.update({k: int(i) for i, k in conn.execute(ins, part)})
        fresh = [c for key, c in todo.items() if key in new]  # still in (rule, subject) order
        # one claim per (rule, subject): the first new occasion contends for it
        contenders: dict[tuple[str, str], Candidate] = {}
        for c in fresh:
            contenders.setdefault((c.rule, c.subject), c)
        claimed: set[tuple[str, str]] = set()
        claims = [{"rule": r, "subject": sj, "customer_id": c.customer_id, "last_fired": now,
                   "cutoff": now - c.cooldown} for (r, sj), c in contenders.items()]
        for part in _chunks(claims, chunk):
            claimed.update((r, sj) for r, sj in conn.execute(claim, part))
        fired, dropped = [], []
        for c in fresh:
            first = contenders[(c.rule, c.subject)] is c
            # a zero cooldown lets every occasion through; otherwise only the contender
            ok = (c.rule, c.subject) in claimed and (first or c.cooldown <= timedelta(0))
            (fired if ok else dropped).append(c)
        for part in _chunks([new[c.dedup_key] for c in dropped], chunk):
            conn.execute(alerts.delete().where(alerts.c.id.in_(part)))  # never seen
        out = [Alert(new[c.dedup_key], c.rule, c.subject, c.customer_id, c.severity, now,
                     c.source, c.run_id, dict(c.detail), c.data_time) for c in fired]
        if plan is not None:
            _write_actions(conn, [(a, p) for c, a in zip(fired, out) for p in plan(c, a)], now,
                           chunk)
    return out


def _chunks(rows: list, n: int):
    for i in range(0, len(rows), n):
        yield rows[i:i + n]


def _write_actions(conn, planned: list[tuple[Alert, PlannedAction]], now: datetime,
                   chunk: int) -> None:
    for _, a in planned:
        if a.kind not in TASK_KINDS:
            raise TaskError("err.task_kind", value=a.kind, choices=", ".join(TASK_KINDS))
    rows = [{"alert_id": alert.id, "rule": alert.rule, "kind": a.kind,
             "automated": a.automated, "customer_id": a.customer_id, "tier": a.tier,
             "assignee": a.assignee, "title": a.title[:2000], "created": now, "due": a.due,
             "completed": None, "data_time": alert.data_time, "status": "open",
             "detail": _json(a.detail)}
            for alert, a in planned]
    hooks = [i for i, (_, a) in enumerate(planned) if a.kind == "webhook"]
    if not hooks:
        for part in _chunks(rows, chunk):
            conn.execute(tasks.insert(), part)
        return
    ids: list[int] = []
    stmt = tasks.insert().returning(tasks.c.id, sort_by_parameter_order=True)
    for part in _chunks(rows, chunk):
        ids += [int(r[0]) for r in conn.execute(stmt, part)]
    messages = []
    for i in hooks:
        alert, a = planned[i]
        w = a.webhook or {}
        messages.append({
            "alert_id": alert.id, "task_id": ids[i], "customer_id": a.customer_id,
            "url": w["url"], "secret_env": w["secret_env"], "body": w["body"], "created": now,
            "attempts": 0, "max_attempts": int(w["max_attempts"]), "next_attempt": now,
            "delivered": None, "status": "pending", "last_status": None, "last_error": None})
    for part in _chunks(messages, chunk):
        conn.execute(webhook_outbox.insert(), part)


# -- reading ---------------------------------------------------------------------------------
def _alert_dict(r) -> dict:
    d = dict(r._mapping)
    d["fired"] = _datetime(d["fired"])
    d["detail"] = _loads(d["detail"])
    return d


def list_alerts(store: Store, *, rule: str | None = None, since: datetime | None = None,
                customer_id: str | None = None, limit: int | None = 1000) -> list[dict]:
    """Alerts fired, newest first."""
    q = sa.select(alerts.c.id, alerts.c.rule, alerts.c.subject, alerts.c.customer_id,
                  alerts.c.fired, alerts.c.severity, alerts.c.source, alerts.c.run_id,
                  alerts.c.detail)
    if rule:
        q = q.where(alerts.c.rule == rule)
    if since is not None:
        q = q.where(alerts.c.fired >= since)
    if customer_id is not None:
        q = q.where(alerts.c.customer_id == customer_id)
    q = q.order_by(alerts.c.fired.desc(), alerts.c.id.desc())
    if limit:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        return [_alert_dict(r) for r in conn.execute(q)]


def _task_dict(r) -> dict:
    d = dict(r._mapping)
    for k in ("created", "due", "completed"):
        d[k] = _datetime(d[k])
    d["automated"] = bool(d["automated"])
    d["detail"] = _loads(d["detail"])
    return d


def list_tasks(store: Store, *, open_only: bool = False, assignee: str | None = None,
               kind: str | None = None, rule: str | None = None,
               limit: int | None = None) -> list[dict]:
    """Tasks (every action an alert set off), soonest due first."""
    q = sa.select(tasks)
    if open_only:
        q = q.where(tasks.c.status == "open")
    if assignee is not None:
        q = q.where(tasks.c.assignee == assignee)
    if kind is not None:
        q = q.where(tasks.c.kind == kind)
    if rule is not None:
        q = q.where(tasks.c.rule == rule)
    q = q.order_by(tasks.c.due, tasks.c.id)
    if limit:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        return [_task_dict(r) for r in conn.execute(q)]


def task_rules(store: Store) -> list[str]:
    """The rules that raised people's tasks (a worklist's rule filter)."""
    q = sa.select(tasks.c.rule).distinct().where(tasks.c.kind == "task").order_by(tasks.c.rule)
    with store.engine.connect() as conn:
        return [r for r, in conn.execute(q)]


def get_task(store: Store, task_id: int) -> dict:
    with store.engine.connect() as conn:
        r = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
    if r is None:
        raise UnknownTask("err.unknown_task", task_id=task_id)
    return _task_dict(r)


def customer_tasks(store: Store, customer_id: str, *, limit: int = 50) -> tuple[list[dict], int]:
    """One customer's tasks of every kind, latest created first, at most `limit` of them, and
    how many there are in all (the customer-360 page lists the recent ones and counts the
    rest); one indexed read (`ix_tasks_customer`)."""
    where = tasks.c.customer_id == customer_id
    with store.engine.connect() as conn:
        total = int(conn.execute(sa.select(sa.func.count()).select_from(tasks).where(where))
                    .scalar())
        rows = conn.execute(sa.select(tasks).where(where)
                            .order_by(tasks.c.created.desc(), tasks.c.id.desc()).limit(limit))
        return [_task_dict(r) for r in rows], total


def complete_task(store: Store, task_id: int, now: datetime,
                  outcome: str | None = None) -> dict:
    """Mark a person's task done at `now` (a second call keeps the first completion time),
    with what came of it (`OUTCOMES`; a later call may correct it). Automated actions
    (webhooks, exports) complete themselves and cannot be marked done."""
    if outcome is not None and outcome not in OUTCOMES:
        raise TaskError("err.task_outcome", choices=", ".join(OUTCOMES), value=outcome)
    with store.engine.begin() as conn:
        r = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
        if r is None:
            raise UnknownTask("err.unknown_task", task_id=task_id)
        if r.kind != "task":
            raise TaskError("err.task_automated_done", task_id=task_id, kind=r.kind)
        if r.status == "cancelled":
            raise TaskError("err.task_cancelled", task_id=task_id)
        if r.status == "open":
            conn.execute(tasks.update().where(tasks.c.id == task_id, tasks.c.status == "open")
                         .values(status="done", completed=now))
        if outcome is not None:
            conn.execute(tasks.update().where(tasks.c.id == task_id).values(outcome=outcome))
        r = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
    return _task_dict(r)


def assign_task(store: Store, task_id: int, assignee: str) -> tuple[dict, str | None]:
    """Give an open person's task to `assignee`; returns the task and who had it before."""
    assignee = assignee.strip()
    if not assignee:
        raise TaskError("err.task_assignee")
    with store.engine.begin() as conn:
        r = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
        if r is None:
            raise UnknownTask("err.unknown_task", task_id=task_id)
        if r.kind != "task":
            raise TaskError("err.task_automated_assign", task_id=task_id, kind=r.kind)
        if r.status != "open":
            raise TaskError("err.task_not_open", task_id=task_id, status=r.status)
        conn.execute(tasks.update().where(tasks.c.id == task_id).values(assignee=assignee))
        before = r.assignee
        r = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).first()
    return _task_dict(r), before


def _due_state(state: str, now: datetime):
    c = tasks.c
    if state == "open":
        return sa.and_(c.status == "open", c.due >= now)
    if state == "overdue":
        return sa.and_(c.status == "open", c.due < now)
    return c.status == "done"


def find_tasks(store: Store, now: datetime, *, assignee: str | None = None,
               tier: str | None = None, rule: str | None = None, state: str | None = None,
               kind: str | None = "task", offset: int = 0,
               limit: int = 25) -> tuple[list[dict], int]:
    """A page of tasks (soonest due first; done ones latest done first) and how many match
    in all: the worklist's query. `state` is one of `DUE_STATES` (None: open and overdue);
    `assignee` "" means tasks nobody has."""
    if state is not None and state not in DUE_STATES:
        raise TaskError("err.task_state", choices=", ".join(DUE_STATES), value=state)
    c = tasks.c
    conds = [_due_state(state, now) if state else c.status == "open"]
    if kind is not None:
        conds.append(c.kind == kind)
    if assignee is not None:
        conds.append(c.assignee.is_(None) if assignee == "" else c.assignee == assignee)
    if tier:
        conds.append(c.tier == tier)
    if rule:
        conds.append(c.rule == rule)
    order = [c.completed.desc(), c.id.desc()] if state == "done" else [c.due, c.id]
    with store.engine.connect() as conn:
        total = int(conn.execute(sa.select(sa.func.count()).select_from(tasks)
                                 .where(*conds)).scalar())
        rows = conn.execute(sa.select(tasks).where(*conds).order_by(*order)
                            .offset(max(offset, 0)).limit(limit)).all()
    return [_task_dict(r) for r in rows], total


def finish_tasks(store: Store, outcomes: Mapping[int, dict], now: datetime, *,
                 status: str = "done") -> None:
    """Close open automated tasks (exports written): status, completion time, and each task's
    outcome merged into its detail."""
    if status not in TASK_STATUSES:
        raise TaskError(f"status must be one of {', '.join(TASK_STATUSES)}")
    if not outcomes:
        return
    with store.engine.begin() as conn:
        rows = conn.execute(sa.select(tasks.c.id, tasks.c.detail)
                            .where(tasks.c.id.in_(list(outcomes)))).all()
        for task_id, detail in rows:
            merged = {**_loads(detail), **outcomes[task_id]}
            conn.execute(tasks.update().where(tasks.c.id == task_id, tasks.c.status == "open")
                         .values(status=status, completed=now if status == "done" else None,
                                 detail=_json(merged)))


def open_exports(store: Store) -> list[dict]:
    """Open export tasks with their alert (subject, customer, detail, fired), oldest first."""
    q = (sa.select(tasks.c.id, tasks.c.rule, tasks.c.customer_id, tasks.c.tier,
                   tasks.c.detail, tasks.c.created, alerts.c.subject, alerts.c.severity,
                   alerts.c.fired, alerts.c.run_id, alerts.c.detail.label("alert_detail"))
         .select_from(tasks.join(alerts, alerts.c.id == tasks.c.alert_id))
         .where(tasks.c.kind == "export", tasks.c.status == "open")
         .order_by(tasks.c.id))
    with store.engine.connect() as conn:
        out = []
        for r in conn.execute(q):
            d = dict(r._mapping)
            d["detail"], d["alert_detail"] = _loads(d["detail"]), _loads(d["alert_detail"])
            d["fired"], d["created"] = _datetime(d["fired"]), _datetime(d["created"])
            out.append(d)
        return out


# -- webhook outbox --------------------------------------------------------------------------
def outbox(store: Store, *, alert_id: int | None = None) -> list[dict]:
    q = sa.select(webhook_outbox).order_by(webhook_outbox.c.id)
    if alert_id is not None:
        q = q.where(webhook_outbox.c.alert_id == alert_id)
    with store.engine.connect() as conn:
        out = []
        for r in conn.execute(q):
            d = dict(r._mapping)
            for k in ("created", "next_attempt", "delivered"):
                d[k] = _datetime(d[k])
            out.append(d)
        return out


def claim_deliveries(store: Store, now: datetime, *, limit: int = 100,
                     lease: timedelta = DELIVERY_LEASE) -> list[dict]:
    """Take up to `limit` pending messages due at `now`: each is pushed `lease` into the future
    by a compare-and-set on its `next_attempt`, so of two deliverers only one sends it; a
    deliverer that dies mid-way leaves it to be taken again once the lease runs out."""
    o = webhook_outbox.c
    with store.engine.connect() as conn:
        due = conn.execute(sa.select(webhook_outbox)
                           .where(o.status == "pending", o.next_attempt <= now)
                           .order_by(o.next_attempt, o.id).limit(limit)).all()
    taken = []
    for r in due:
        with store.engine.begin() as conn:
            n = conn.execute(webhook_outbox.update()
                             .where(o.id == r.id, o.status == "pending",
                                    o.next_attempt == r.next_attempt)
                             .values(next_attempt=now + lease)).rowcount
        if n == 1:
            d = dict(r._mapping)
            d["next_attempt"] = _datetime(d["next_attempt"])
            taken.append(d)
    return taken


def release_deliveries(store: Store, ids: Iterable[int], at: datetime) -> None:
    """Hand taken messages back unsent, due again at `at` (no attempt is counted)."""
    ids = list(ids)
    if ids:
        with store.engine.begin() as conn:
            conn.execute(webhook_outbox.update()
                         .where(webhook_outbox.c.id.in_(ids),
                                webhook_outbox.c.status == "pending")
                         .values(next_attempt=at))


def record_attempt(store: Store, message_id: int, now: datetime, *, ok: bool,
                   status: int | None = None, error: str | None = None,
                   retry_at: datetime | None = None) -> str:
    """Book one delivery attempt of outbox message `message_id`: delivered (`ok`), to be
    retried at `retry_at`, or given up (neither). Its task follows: done when delivered, failed
    when given up. Returns the message's new status."""
    o = webhook_outbox.c
    with store.engine.begin() as conn:
        r = conn.execute(sa.select(o.task_id, o.attempts).where(o.id == message_id)).first()
        if r is None:
            raise TaskError("err.no_webhook_message", message_id=message_id)
        values: dict[str, Any] = {"attempts": int(r.attempts) + 1, "last_status": status,
                                  "last_error": None if ok else (error or "")[:2000]}
        if ok:
            new = "delivered"
            values.update(status=new, delivered=now)
        elif retry_at is not None:
            new = "pending"
            values.update(next_attempt=retry_at)
        else:
            new = "failed"
            values.update(status=new)
        conn.execute(webhook_outbox.update().where(o.id == message_id).values(**values))
        if new != "pending":
            conn.execute(tasks.update().where(tasks.c.id == r.task_id, tasks.c.status == "open")
                         .values(status="done" if ok else "failed",
                                 completed=now if ok else None))
    return new


# -- warehouse copy --------------------------------------------------------------------------
#: The columns of the warehouse `tasks` table (`upmarket.warehouse.schema.TASKS`).
WAREHOUSE_COLUMNS = ("id", "alert_id", "rule", "kind", "automated", "customer_id", "tier",
                     "assignee", "created", "due", "completed", "data_time", "status", "outcome")


def tasks_frame(store: Store) -> pd.DataFrame:
    c = tasks.c
    with store.engine.connect() as conn:
        frame = pd.read_sql(sa.select(*[c[n] for n in WAREHOUSE_COLUMNS]).order_by(c.id), conn)
    for k in ("created", "due", "completed", "data_time"):
        frame[k] = pd.to_datetime(frame[k])
    frame["automated"] = frame["automated"].astype(bool)
    return frame


def copy_tasks_to_warehouse(store: Store, wh) -> int:
    """Replace the warehouse's `tasks` table with the store's tasks as they stand (a task
    changes after it is copied — it gets done — so the copy is whole, not appended). The
    scorecard reads the marketing-automation rate and task response times from it. Titles and
    action details stay in the store. Returns the number of tasks copied (0, leaving the
    warehouse alone, when the store has no tasks table yet)."""
    from upmarket.warehouse.connection import conform
    from upmarket.warehouse.schema import SYSTEM_TABLES

    spec = SYSTEM_TABLES["tasks"]
    if not sa.inspect(store.engine).has_table(tasks.name):
        return 0  # a store opened without creating tables, from before automation existed
    data = conform(tasks_frame(store), spec)
    wh.create_table(spec.name, data, overwrite=True)
    return data.num_rows
