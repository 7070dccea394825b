"""The card's default period follows the data's as-of: on a period's first day it is the last
complete period; once the data moved on inside a period (a run after simulated cycles), it is
that period to date (once it holds four weeks of data), against the same span of its base
period. A run's own tasks are placed at its as-of, the exclusive end of the period it scores:
they count in the period read later, so the run's figures and a later reading agree."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from upmarket.activation import rules as R
from upmarket.activation.holdout import HoldoutSettings
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.strategy import scorecard as sc
from upmarket.warehouse.runs import Run

AS_OF = datetime(2026, 5, 1)  # four 30-day cycles after the first of January


@pytest.mark.parametrize("as_of", [datetime(2026, 1, 1), datetime(2025, 7, 1),
                                   datetime(2026, 4, 1)])
def test_on_a_periods_first_day_the_default_is_the_last_complete_one(as_of):
    p = sc.default_period(as_of)
    assert p == sc.last_complete(as_of) and not p.to_date and p.end == as_of


def test_inside_a_period_the_default_is_that_period_to_date_against_the_same_span():
    p = sc.default_period(AS_OF)
    assert (p.label, p.start, p.end, p.to_date) == ("2026-Q2", datetime(2026, 4, 1), AS_OF, True)
    base = p.previous()
    assert base.label == "2026-Q1" and base.start == datetime(2026, 1, 1)
    assert base.end - base.start == p.end - p.start == timedelta(days=30)
    year = p.year_before()
    assert (year.start, year.end) == (datetime(2025, 4, 1), datetime(2025, 5, 1))
    # a few days into a period say too little: the last complete one stays the default
    assert sc.default_period(datetime(2026, 4, 3)) == sc.last_complete(datetime(2026, 4, 3))
    assert sc.default_period(datetime(2026, 4, 3)).label == "2026-Q1"
    assert sc.default_period(datetime(2026, 4, 29)).to_date


def test_the_runs_tasks_count_after_the_period_it_scored_not_in_it(wh, tmp_path):
    run = Run(wh, AS_OF)
    run.write("results", pd.DataFrame({"customer_id": ["C1", "C2", "C3"], "tier": "core",
                                       "churn_risk": 0.9, "recency_days": 5}))
    run.publish({})
    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    try:
        rules = R.parse_rules({"rules": [{
            "name": "churn", "when": {"customer": ["churn_risk > 0.5"]},
            "actions": [{"task": {"title": "call {customer_id}"}},
                        {"webhook": {"url": "http://127.0.0.1:9/h", "secret_env": "S"}}]}]}, "t")
        R.evaluate_run(wh, store, run.run_id, rules, datetime(2026, 12, 1),
                       holdout_settings=HoldoutSettings(share=0.0))
        auto.copy_tasks_to_warehouse(store, wh)
    finally:
        store.close()
    _, summary = sc.scorecard_tables(wh, AS_OF)
    card = summary["effect_index"]
    assert (card["period"], card["compare"]) == ("2026-Q2", "2026-Q1")
    # 2026-Q2 to date ends where the run's tasks begin: scoring it again after the run (as
    # upmarket scorecard and the report do) finds what the run found, no task
    assert "marketing_automation_rate" in card["no_data"]
    # the quarter read whole, later, holds all six (three calls, three webhooks), raised on
    # 1 May on the data's timeline although written on 1 December
    whole = sc.parse_period("2026-Q2")
    rate = sc.WarehouseMetrics(wh).measure(["marketing_automation_rate"], [whole])["2026-Q2"]
    m = rate["marketing_automation_rate"]
    assert m.ok and m.args["n"] == 6 and m.value == m.args["done"] / 6
    # and the quarter before holds none of them
    before = sc.WarehouseMetrics(wh).measure(["marketing_automation_rate"],
                                             [sc.last_complete(AS_OF)])["2026-Q1"]
    assert before["marketing_automation_rate"].value is None
