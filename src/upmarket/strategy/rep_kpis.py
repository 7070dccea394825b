"""Rep KPIs: each account manager's results, read from the tasks they were given (DESIGN §4,
account managers and the sales team: "rep KPIs (SLA kept, premium conversion of their
customers) feed the sales-competency card").

* ``tasks_within_sla`` — of the rep's people's tasks whose outcome is known (done, or still open
  past their due time), the share done by their due time, which is the customer tier's
  response time (the key-account strategy course: Diamond 1 h, Core 4 h, Potential 24 h, Basic 48 h).
* ``premium_conversion`` — of the customers whose tasks the rep completed, the share the rep
  reported as converted (``upmarket tasks done ID --outcome converted`` or the worklist).

Both come from the warehouse's copy of the tasks (`opstore.automation.copy_tasks_to_warehouse`),
so they are the same figures the other scorecards read. The sales-competency card holds them
as metrics of the competency each one evidences (responsiveness builds relationships; finding
the customers ready to move up is customer insight) beside the ratings a manager supplies;
`RepMetrics` provides them by rep, named by e-mail or by the name on the roster.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import ibis
import pandas as pd

from upmarket.strategy.scorecard import Measurement, MetricProvider, subject_label

REP_METRICS = ("tasks_within_sla", "premium_conversion")


def rep_table(wh, now: datetime) -> pd.DataFrame:
    """Per assignee: tasks with a known outcome, those done within their due time, customers
    worked (a done task about them) and customers converted."""
    cols = ["assignee", "judged", "within_sla", "customers", "converted"]
    if not wh.has_table("tasks"):
        return pd.DataFrame(columns=cols)
    t = wh.table("tasks")
    t = t.filter(t.kind == "task", t.assignee.notnull())
    done = t.status == "done"
    late_open = (t.status == "open") & (t.due < ibis.literal(now))
    in_sla = done & t.completed.notnull() & (t.completed <= t.due)
    has_outcome = "outcome" in t.columns
    judged = t.group_by("assignee").aggregate(
        judged=(done | late_open).cast("int64").sum(),
        within_sla=in_sla.cast("int64").sum())
    worked = t.filter(done, t.customer_id.notnull())
    conv = (worked.outcome == "converted") if has_outcome else ibis.literal(False)
    per_customer = worked.group_by(["assignee", "customer_id"]).aggregate(
        converted=conv.cast("int64").max())
    people = per_customer.group_by("assignee").aggregate(
        customers=per_customer.count(), converted=per_customer.converted.sum())
    out = judged.left_join(people, "assignee").select(
        "assignee", "judged", "within_sla", customers=ibis._.customers.fill_null(0),
        converted=ibis._.converted.fill_null(0)).to_pandas()
    return out[cols]


class RepMetrics(MetricProvider):
    """The rep KPIs as scorecard values for subjects that are reps (an e-mail, or a name that
    `names` maps to one); other subjects and keys get nothing, so supplied values or "no
    data" stand."""

    def __init__(self, wh, now: datetime, names: Mapping[str, str] | None = None):
        self.frame = rep_table(wh, now).set_index("assignee")
        self.names = dict(names or {})

    def names_of(self, email: str) -> str:
        """The rep's name on the roster, else their e-mail."""
        return next((n for n, e in self.names.items() if e == email), email)

    @property
    def reps(self) -> list[str]:
        """Reps with any task whose outcome is known, by e-mail."""
        return sorted(self.frame.index[self.frame["judged"] > 0])

    def measure(self, keys, subjects):
        out: dict[str, dict[str, Measurement]] = {}
        for s in subjects:
            lab = subject_label(s)
            who = self.names.get(lab, lab)
            got: dict[str, Measurement] = {}
            if who in self.frame.index:
                r = self.frame.loc[who]
                if "tasks_within_sla" in keys and r["judged"]:
                    got["tasks_within_sla"] = Measurement(
                        int(r["within_sla"]) / int(r["judged"]), "rep_sla",
                        {"k": int(r["within_sla"]), "n": int(r["judged"])}, origin="tasks")
                if "premium_conversion" in keys and r["customers"]:
                    got["premium_conversion"] = Measurement(
                        int(r["converted"]) / int(r["customers"]), "rep_conversion",
                        {"k": int(r["converted"]), "n": int(r["customers"])}, origin="tasks")
            out[lab] = got
        return out
