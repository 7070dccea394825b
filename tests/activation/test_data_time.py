"""Automation on the data's own time: an alert and its tasks record the moment of the data they
were raised for (the run's as-of), the scorecard places them in that period whatever the wall
clock said, a premium customer who lapsed months before the as-of gets a win-back task due in a
week rather than a call due within hours, and a store made before data times existed gains
the columns when opened."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from upmarket.activation import actions as A
from upmarket.activation import rules as R
from upmarket.activation.holdout import HoldoutSettings
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.strategy import scorecard as sc
from upmarket.warehouse.runs import Run

AS_OF = datetime(2025, 11, 1)       # the data: last year's fourth quarter
WALL = datetime(2026, 12, 6, 9, 0)  # when the run happens to be made


#: control groups are tested in test_holdout; here every matching customer is acted on
NO_HOLDOUT = HoldoutSettings(share=0.0)


@pytest.fixture
def store(tmp_path):
    s = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    yield s
    s.close()


def publish(wh, results: pd.DataFrame) -> str:
    run = Run(wh, AS_OF)
    run.write("results", results)
    run.publish({})
    return run.run_id


def premium(recency_days: list[int]) -> pd.DataFrame:
    n = len(recency_days)
    return pd.DataFrame({"customer_id": [f"C{i}" for i in range(n)],
                         "tier": ["diamond", "core"] * (n // 2) + ["diamond"] * (n % 2),
                         "churn_risk": [0.9] * n, "recency_days": recency_days})


def test_alerts_and_tasks_carry_the_runs_data_time_and_count_in_its_period(wh, store):
    run = publish(wh, premium([10, 20]))
    hook = R.parse_rules({"rules": [{
        "name": "churn", "when": {"customer": ["churn_risk > 0.5"]},
        "actions": [{"task": {"title": "call {customer_id}"}},
                    {"webhook": {"url": "http://127.0.0.1:9/h", "secret_env": "S"}}]}]}, "t")
    fired = R.evaluate_run(wh, store, run, hook, WALL, holdout_settings=NO_HOLDOUT)
    assert len(fired) == 2 and {a.data_time for a in fired} == {AS_OF}
    with store.engine.connect() as c:
        alerts = pd.read_sql("SELECT data_time, fired FROM alerts", c, parse_dates=["data_time",
                                                                                    "fired"])
    assert (alerts["data_time"] == AS_OF).all() and (alerts["fired"] == WALL).all()
    # the webhooks go out five minutes after the run; one person's task is done a day later
    for msg in auto.outbox(store):
        auto.record_attempt(store, msg["id"], WALL + timedelta(minutes=5), ok=True, status=200)
    person = auto.list_tasks(store, kind="task")[0]
    auto.complete_task(store, person["id"], WALL + timedelta(days=1))
    auto.copy_tasks_to_warehouse(store, wh)
    copied = wh.table("tasks").to_pandas()
    assert (copied["data_time"] == AS_OF).all()
    metrics = ["marketing_automation_rate", "task_response_hours"]
    q4 = sc.WarehouseMetrics(wh).measure(metrics, [sc.parse_period("2025-Q4")])["2025-Q4"]
    # two webhooks done of four tasks, placed in the data's quarter, not the wall clock's
    assert q4["marketing_automation_rate"].value == pytest.approx(2 / 4)
    assert q4["task_response_hours"].value == pytest.approx(24.0)
    now = sc.WarehouseMetrics(wh).measure(metrics, [sc.parse_period("2026-Q4")])["2026-Q4"]
    assert now["marketing_automation_rate"].value is None


def test_lapsed_premium_customers_get_a_win_back_not_a_call_due_within_hours(wh, store):
    recency = [5, 30, 89, 120, 200, 400]
    run = publish(wh, premium(recency))
    R.evaluate_run(wh, store, run, R.load_rules(), WALL, holdout_settings=NO_HOLDOUT)
    tasks = pd.DataFrame(auto.list_tasks(store, kind="task"))
    tasks["recency"] = tasks["customer_id"].map(dict(zip(premium(recency)["customer_id"],
                                                         recency)))
    tasks["hours"] = (pd.to_datetime(tasks["due"]) - pd.to_datetime(tasks["created"])) \
        .dt.total_seconds() / 3600
    assert set(tasks["customer_id"]) == {f"C{i}" for i in range(len(recency))}
    lapsed = tasks[tasks["recency"] > 90]
    assert len(lapsed) == 3 and (lapsed["hours"] == 7 * 24).all()
    assert (lapsed["rule"] == "premium_win_back").all()
    lapsing = tasks[tasks["recency"] <= 90]
    # diamond 1 h, core 4 h: the tier's response time
    assert (lapsing["hours"] <= 4).all() and (lapsing["rule"] == "premium_churn_risk").all()


def test_a_store_from_before_data_times_gains_the_columns_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.exec_driver_sql(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, alert_id BIGINT NOT NULL, "
            "rule VARCHAR(200) NOT NULL, kind VARCHAR(16) NOT NULL, automated BOOLEAN NOT NULL, "
            "customer_id VARCHAR(200), tier VARCHAR(20), assignee VARCHAR(200), "
            "title TEXT NOT NULL, created DATETIME NOT NULL, due DATETIME NOT NULL, "
            "completed DATETIME, status VARCHAR(16) NOT NULL, detail TEXT)")
        c.exec_driver_sql(
            "INSERT INTO tasks (alert_id, rule, kind, automated, title, created, due, status) "
            "VALUES (1, 'r', 'task', 0, 'old', '2025-01-01 00:00:00', '2025-01-02 00:00:00', "
            "'open')")
    engine.dispose()
    s = ops.open_store(f"sqlite:///{path}")
    try:
        cols = {c["name"] for c in sa.inspect(s.engine).get_columns("tasks")}
        assert "data_time" in cols
        (old,) = auto.list_tasks(s)
        assert old["title"] == "old"
        fired = auto.fire_alerts(s, [auto.Candidate("r", "C1", "high", "run", "x",
                                                    timedelta(0), {}, "C1", "x",
                                                    data_time=AS_OF)], WALL,
                                 lambda c, a: A.plan_actions([A.TaskAction("t")], c, a,
                                                             tier="core"))
        assert fired[0].data_time == AS_OF
    finally:
        s.close()
