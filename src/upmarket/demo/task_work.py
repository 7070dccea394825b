"""The weeks between the demo's runs, on the data's timeline: the automation rules are checked
once a week, as a company running upmarket weekly would have them checked, and the account
managers work the tasks they raise — a known share (`DONE_SHARE`) is done, each within a
known delay (uniform up to `DONE_WITHIN`), the rest left open. Everything is stamped with the
data's time (the check's date, plus the delay for a completion), never the wall clock, so the
scorecard's marketing automation rate, response time and task completion rate of the
simulated months read real figures, placed where their data are.

The same code as a run's: the rules fire through `activation.rules.evaluate_customers`
(cooldowns, deduplication, the tier's due time, assignment to the roster, exports through the
privacy gate) and a person's task is done through `opstore.automation.complete_task`, as
``upmarket tasks done`` does. The customers' tier and churn risk are those the value model
gave at the world's as-of (as the learning loop's, `demo.action_loop`: the weeks change what
happens to the customers, not who they are); their recency is counted from their orders at
each check, the simulated cycles' orders included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.activation import rules as R
from upmarket.opstore import automation as auto
from upmarket.opstore.store import open_store

#: how often the rules are checked between runs
CHECK_EVERY = timedelta(days=7)
#: the share of the people's tasks the account managers do, and the longest they take
DONE_SHARE = 0.8
DONE_WITHIN = timedelta(hours=8)


@dataclass
class TaskWork:
    """What the simulated weeks did: rule checks, alerts fired, people's tasks raised and
    done, and automated actions (exports) carried out."""

    checks: int = 0
    alerts: int = 0
    tasks: int = 0
    done: int = 0
    automated: int = 0

    def summary(self) -> dict:
        return {"checks": self.checks, "alerts": self.alerts, "tasks": self.tasks,
                "done": self.done, "automated": self.automated,
                "done_share": DONE_SHARE, "done_within_hours": DONE_WITHIN / timedelta(hours=1)}


def customers_at(wh, frame: pd.DataFrame, when: datetime) -> pd.DataFrame:
    """`frame` (customer_id, tier, churn_risk) with each customer's `recency_days` at `when`:
    days since their last paid order before it (NaN for a customer with none)."""
    o = wh.table("orders")
    o = o.filter(o.ts < when, o.status == "paid")
    last = o.group_by("customer_id").aggregate(last=o.ts.max()).to_pandas()
    out = frame[["customer_id", "tier", "churn_risk"]].copy()
    out["customer_id"] = out["customer_id"].astype(str)
    seen = out["customer_id"].map(last.set_index(last["customer_id"].astype(str))["last"])
    out["recency_days"] = (pd.Timestamp(when) - pd.to_datetime(seen)).dt.total_seconds() / 86400
    return out


def work_tasks(store, fired: list, rng: np.random.Generator) -> int:
    """The account managers do `DONE_SHARE` of the people's tasks of the alerts `fired`, each
    after a delay drawn up to `DONE_WITHIN` from its creation; returns how many were done."""
    ids = {a.id for a in fired}
    done = 0
    for t in auto.list_tasks(store, open_only=True, kind="task"):
        if t["alert_id"] not in ids or rng.uniform() >= DONE_SHARE:
            continue
        # to the second, as the store's clock stamps a task done through the CLI
        delay = timedelta(seconds=round(DONE_WITHIN.total_seconds() * rng.uniform()))
        auto.complete_task(store, t["id"], t["created"] + delay)
        done += 1
    return done


def simulate(wh, store_url: str, rules, frame: pd.DataFrame, start: datetime, end: datetime,
             random_state: int = 0) -> TaskWork:
    """Check `rules` every `CHECK_EVERY` in ``[start, end)`` on the customers of `frame`, and
    work the tasks raised; returns what was done. The run at `end` raises its own tasks and
    copies these into the warehouse for its scorecard."""
    rng = np.random.default_rng(random_state)
    report = TaskWork()
    store = open_store(store_url)
    try:
        when = start
        while when < end:
            fired = R.evaluate_customers(wh, store, customers_at(wh, frame, when), rules, when,
                                         occasion=f"weekly check {when:%Y-%m-%d}")
            fired_ids = {a.id for a in fired}
            raised = [t for t in auto.list_tasks(store) if t["alert_id"] in fired_ids]
            report.checks += 1
            report.alerts += len(fired)
            report.tasks += sum(t["kind"] == "task" for t in raised)
            report.automated += sum(t["kind"] != "task" and t["status"] == "done"
                                    for t in raised)
            report.done += work_tasks(store, fired, rng)
            when += CHECK_EVERY
    finally:
        store.close()
    return report
