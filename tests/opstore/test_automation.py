"""The automation tables on SQLite and on a real PostgreSQL: an occasion fires once, a cooldown
holds (also against writers racing each other), an alert and its actions commit together or
not at all, tasks are completed once, outbox messages are leased to one deliverer, and the
tasks are copied whole into the warehouse."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from upmarket.opstore import automation as auto
from upmarket.opstore.schema import alert_cooldowns, alerts, tasks, webhook_outbox

T0 = datetime(2026, 5, 4, 10, 0)


def cand(subject="C1", occasion="run1", cooldown=timedelta(hours=1), rule="r", **kw):
    return auto.Candidate(rule, subject, "high", "run", occasion, cooldown,
                          {"churn_risk": 0.9}, customer_id=subject, run_id=occasion, **kw)


def plan_task_and_webhook(c, alert):
    return [
        auto.PlannedAction("task", False, f"call {c.subject}", alert.fired + timedelta(hours=4),
                           c.customer_id, "core", "amy"),
        auto.PlannedAction("webhook", True, "hook", alert.fired + timedelta(hours=4),
                           c.customer_id, "core",
                           webhook={"url": "http://x/h", "secret_env": "S",
                                    "body": f'{{"alert_id": {alert.id}}}', "max_attempts": 3}),
    ]


def count(store, table) -> int:
    with store.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(table)).scalar())


def test_an_occasion_fires_once_and_a_cooldown_holds(store):
    first = auto.fire_alerts(store, [cand(), cand("C2")], T0, plan_task_and_webhook)
    assert [a.subject for a in first] == ["C1", "C2"]
    # the same occasion again, even after the cooldown: nothing
    assert auto.fire_alerts(store, [cand()], T0 + timedelta(days=9)) == []
    # another occasion within the cooldown: nothing; at the cooldown: fires
    assert auto.fire_alerts(store, [cand(occasion="run2")], T0 + timedelta(minutes=59)) == []
    again = auto.fire_alerts(store, [cand(occasion="run2")], T0 + timedelta(hours=1))
    assert [a.subject for a in again] == ["C1"]
    # another rule has its own cooldown
    assert len(auto.fire_alerts(store, [cand(rule="other", occasion="run2")],
                                T0 + timedelta(minutes=1))) == 1
    assert count(store, alerts) == 4
    assert count(store, tasks) == 4 and count(store, webhook_outbox) == 2
    stored = auto.list_alerts(store, rule="r")
    assert [a["subject"] for a in stored] == ["C1", "C2", "C1"]  # newest first
    assert stored[0]["detail"] == {"churn_risk": 0.9}
    assert auto.list_alerts(store, since=T0 + timedelta(minutes=30), rule="r")[0]["id"] == \
        again[0].id


def test_two_events_of_one_customer_in_a_batch_fire_once(store):
    fired = auto.fire_alerts(store, [cand(occasion="m1"), cand(occasion="m2")], T0)
    assert len(fired) == 1
    assert count(store, alerts) == 1  # the one held back was never committed


def test_an_alert_and_its_actions_commit_together(store):
    def broken(c, alert):
        raise RuntimeError("planner failed")

    with pytest.raises(RuntimeError):
        auto.fire_alerts(store, [cand()], T0, broken)
    assert count(store, alerts) == 0 and count(store, alert_cooldowns) == 0
    # nothing was burnt: the same occasion still fires
    assert len(auto.fire_alerts(store, [cand()], T0, plan_task_and_webhook)) == 1


def test_racing_writers_fire_a_subject_once(store):
    """Eight threads fire the same rule and customer for eight different events at once:
    the cooldown claim lets exactly one through."""
    results, errors = [], []
    barrier = threading.Barrier(8)

    def go(i):
        try:
            barrier.wait()
            results.append(len(auto.fire_alerts(store, [cand(occasion=f"m{i}")], T0)))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(results) == [0] * 7 + [1]
    assert count(store, alerts) == 1


def test_tasks_are_completed_once_and_automated_ones_refuse(store):
    auto.fire_alerts(store, [cand()], T0, plan_task_and_webhook)
    task, = auto.list_tasks(store, kind="task", assignee="amy", open_only=True)
    assert task["due"] == T0 + timedelta(hours=4) and not task["automated"]
    done = auto.complete_task(store, task["id"], T0 + timedelta(hours=2))
    assert done["status"] == "done" and done["completed"] == T0 + timedelta(hours=2)
    # a second completion keeps the first time
    assert auto.complete_task(store, task["id"], T0 + timedelta(hours=9))["completed"] == \
        T0 + timedelta(hours=2)
    assert auto.list_tasks(store, open_only=True, kind="task") == []
    hook, = auto.list_tasks(store, kind="webhook")
    with pytest.raises(auto.TaskError, match="automated webhook action"):
        auto.complete_task(store, hook["id"], T0)
    with pytest.raises(auto.UnknownTask, match="no task with id 999"):
        auto.complete_task(store, 999, T0)


def test_outbox_lease_and_attempts(store):
    auto.fire_alerts(store, [cand()], T0, plan_task_and_webhook)
    taken = auto.claim_deliveries(store, T0)
    assert len(taken) == 1 and auto.claim_deliveries(store, T0) == []
    mid = taken[0]["id"]
    assert auto.record_attempt(store, mid, T0, ok=False, status=503, error="busy",
                               retry_at=T0 + timedelta(seconds=30)) == "pending"
    assert auto.claim_deliveries(store, T0 + timedelta(seconds=29)) == []
    assert len(auto.claim_deliveries(store, T0 + timedelta(seconds=30))) == 1
    assert auto.record_attempt(store, mid, T0 + timedelta(seconds=31), ok=True,
                               status=200) == "delivered"
    msg, = auto.outbox(store)
    assert (msg["attempts"], msg["status"], msg["delivered"]) == \
        (2, "delivered", T0 + timedelta(seconds=31))
    hook, = auto.list_tasks(store, kind="webhook")
    assert hook["status"] == "done" and hook["completed"] == T0 + timedelta(seconds=31)


def test_open_exports_and_finishing_them(store):
    def plan(c, alert):
        return [auto.PlannedAction("export", True, "export", alert.fired, c.customer_id,
                                   None, None, {"path": "out", "format": "csv"})]

    auto.fire_alerts(store, [cand("C1"), cand("C2")], T0, plan)
    pending = auto.open_exports(store)
    assert [p["customer_id"] for p in pending] == ["C1", "C2"]
    assert pending[0]["alert_detail"] == {"churn_risk": 0.9}
    auto.finish_tasks(store, {pending[0]["id"]: {"file": "out/a.csv"}}, T0)
    assert [p["customer_id"] for p in auto.open_exports(store)] == ["C2"]
    done = auto.get_task(store, pending[0]["id"])
    assert done["detail"] == {"path": "out", "format": "csv", "file": "out/a.csv"}


def test_tasks_copied_whole_to_the_warehouse(store, wh):
    auto.fire_alerts(store, [cand("C1"), cand("C2")], T0, plan_task_and_webhook)
    assert auto.copy_tasks_to_warehouse(store, wh) == 4
    first = wh.table("tasks").to_pandas()
    task = auto.list_tasks(store, kind="task")[0]
    auto.complete_task(store, task["id"], T0 + timedelta(hours=1))
    assert auto.copy_tasks_to_warehouse(store, wh) == 4  # replaced, not appended
    copied = wh.table("tasks").to_pandas().set_index("id")
    assert len(first) == 4 and len(copied) == 4
    mine = copied.loc[task["id"]]
    assert mine["status"] == "done" and pd.Timestamp(mine["completed"]) == \
        pd.Timestamp(T0 + timedelta(hours=1))
    assert sorted(copied["kind"]) == ["task", "task", "webhook", "webhook"]
    assert copied["automated"].tolist() == [k == "webhook" for k in copied["kind"]]
