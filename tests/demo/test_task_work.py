"""The demo's weeks between runs: the rules checked weekly on the data's timeline and the
account managers' work on their tasks are what the next run's scorecard reads. On a small
world (400 customers, one year), five weekly checks after its as-of, then a run five weeks on:
its own summary scores the marketing automation rate (non-zero: the demo's exports are carried
out) and the response time, from the tasks placed by their data time, and the figures are
those the store's tasks give when counted independently."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from upmarket import pipeline
from upmarket.activation.assignment import load_roster
from upmarket.activation.rules import load_rules
from upmarket.demo import action_loop, task_work
from upmarket.demo.rules import EXPORTED_RULE, write_rules
from upmarket.demo.team import write_team
from upmarket.demo.world import WorldConfig, generate_world
from upmarket.opstore import automation as auto
from upmarket.opstore.store import now_utc, open_store
from upmarket.strategy import scorecard as sc
from upmarket.warehouse import connect
from upmarket.warehouse.runs import output

CFG = WorldConfig(customers=400, years=1.0)
WEEKS = 5
RUN_AT = CFG.as_of + WEEKS * task_work.CHECK_EVERY  # five weeks into a quarter: to date


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    folder = tmp_path_factory.mktemp("work")
    wh = connect(f"duckdb://{folder}/w.duckdb")
    for table, frame in generate_world(CFG):
        wh.insert(table, frame)
    url = f"sqlite:///{folder}/ops.sqlite"
    store = open_store(url)
    try:
        load_roster(store, write_team(folder), now_utc())
    finally:
        store.close()
    rules = load_rules(write_rules(folder))
    work = task_work.simulate(wh, url, rules, action_loop.decision_frame(wh, CFG.as_of),
                              CFG.as_of, RUN_AT)
    ctx = pipeline.run(wh, RUN_AT, store_url=url, rules=rules)
    store = open_store(url)
    try:
        tasks = auto.tasks_frame(store)
    finally:
        store.close()
    yield wh, work, ctx, tasks, folder
    wh.close()


def test_the_runs_summary_scores_the_automation_rate_and_response_time(ran):
    wh, work, ctx, tasks, _ = ran
    card = ctx.summary["effect_index"]
    period = sc.default_period(RUN_AT)
    assert period.to_date and period.start == CFG.as_of and period.end == RUN_AT
    assert (card["period"], card["compare"], card["to_date"]) == (
        period.label, period.previous().label, True)
    assert "marketing_automation_rate" not in card["no_data"]
    assert "response_time_hours" not in card["no_data"]
    m = output(wh, "scorecard_metrics", ctx.run.run_id).to_pandas().set_index(
        ["subject", "metric"])
    rate = m.loc[(period.label, "marketing_automation_rate")]
    assert rate["status"] == "ok" and rate["actual"] > 0

    # counted independently from the store: the tasks of the weekly checks (the run's own
    # are raised after its scorecard) whose data time lies in the period scored
    checked = tasks[tasks["data_time"] < RUN_AT]
    moment = checked["data_time"]
    held = checked[(moment >= period.start) & (moment < period.end)]
    # every weekly check lies in the quarter to date, the first one on its first day
    assert len(held) == len(checked) > 0
    done = held[held["automated"] & (held["status"] == "done")
                & (held["completed"] - held["created"] < period.end - moment[held.index])]
    assert rate["actual"] == pytest.approx(len(done) / len(held))
    assert set(done["kind"]) == {"export"} and set(done["rule"]) == {EXPORTED_RULE}
    people = held[(held["kind"] == "task") & (held["status"] == "done")]
    hours = (people["completed"] - people["created"]).dt.total_seconds() / 3600
    response = m.loc[(period.label, "response_time_hours")]
    # no service tickets after the world's as-of: the response time is the tasks' alone
    assert response["actual"] == pytest.approx(hours.median())


def test_account_managers_work_a_known_share_within_a_known_delay_on_the_datas_timeline(ran):
    _, work, _, tasks, folder = ran
    simulated = tasks[tasks["data_time"] < RUN_AT]
    checks = {CFG.as_of + k * task_work.CHECK_EVERY for k in range(WEEKS)}
    assert work.checks == WEEKS
    # stamped on the data's timeline: created at the check's date, not the wall clock
    assert set(simulated["created"]) <= checks and set(simulated["data_time"]) <= checks
    people = simulated[simulated["kind"] == "task"]
    done = people[people["status"] == "done"]
    assert work.tasks == len(people) > 0 and work.done == len(done)
    delay = done["completed"] - done["created"]
    assert (delay >= timedelta(0)).all() and (delay <= task_work.DONE_WITHIN).all()
    # each task is done with chance DONE_SHARE: the count stays within 4 standard deviations
    n, p = len(people), task_work.DONE_SHARE
    assert abs(len(done) - n * p) <= 4 * (n * p * (1 - p)) ** 0.5 + 1
    # the automated actions were carried out at once, through the consent-checked export
    automated = simulated[simulated["automated"]]
    assert work.automated == len(automated) > 0
    assert (automated["status"] == "done").all()
    assert (automated["completed"] == automated["created"]).all()
    assert any((folder / "exports").glob(f"{EXPORTED_RULE}_*.csv"))
    # the people's tasks went to the demo's account managers
    assert people["assignee"].notna().all()


def test_a_later_reading_of_the_period_agrees_with_the_runs_own(ran):
    """The run scores its period before raising its own tasks, which are placed at its as-of,
    the period's exclusive end: reading the period afterwards (as upmarket scorecard and the
    report do) gives the run's figures, and says nothing about a difference."""
    import json

    from typer.testing import CliRunner

    from upmarket.cli import app

    wh, _, ctx, tasks, _ = ran
    own = tasks[tasks["data_time"] == RUN_AT]
    assert len(own) > 0  # the run raised tasks at its as-of
    seen = ctx.summary["effect_index"]
    out = CliRunner().invoke(app, ["scorecard", "--json", "-w", wh.url])
    assert out.exit_code == 0, out.output
    reading = json.loads(out.output)
    assert reading["current"]["subject"] == seen["period"]
    now = {m["metric"]: m for m in reading["current"]["metrics"]}
    then = output(wh, "scorecard_metrics", ctx.run.run_id).to_pandas().set_index(
        ["subject", "metric"]).loc[seen["period"]]
    for metric in ("marketing_automation_rate", "response_time_hours"):
        assert json.loads(then.loc[metric, "note_args"]) == now[metric]["note_args"]
        assert now[metric]["actual"] == pytest.approx(then.loc[metric, "actual"])
    assert round(reading["current"]["index"], 2) == pytest.approx(seen["index"])
    assert "since_run" not in reading
    # a reading that did move (data ingested since, say) names the run's figure and why
    moved = sc.compare(sc.load_scorecard("effect_index"), sc.WarehouseMetrics(wh),
                       sc.parse_period(seen["period"]), sc.parse_period(seen["compare"]))
    run = {"run_id": ctx.run.run_id, "as_of": RUN_AT,
           "counts": {"effect_index": {**seen, "index": moved.current.index + 2.5}}}
    since = sc.since_run(run, moved)
    assert since["run_index"] == pytest.approx(moved.current.index + 2.5)
    assert since["index"] == pytest.approx(moved.current.index)
    run["counts"]["effect_index"]["index"] = round(moved.current.index, 2)
    assert sc.since_run(run, moved) is None
