"""The run chooses its value model on a holdout cut from the data's own recent history."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared_data import shared
from upmarket import pipeline
from upmarket.models.value_choice import RUN_CANDIDATES, run_holdout
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import Run


def test_holdout_is_a_third_of_history_capped_at_the_horizon_in_whole_weeks():
    as_of = datetime(2020, 1, 1)
    start, end = run_holdout(as_of - timedelta(days=300), as_of, horizon_days=365)
    assert end == as_of and (end - start).days == 98  # 100 days → 14 whole weeks
    start, _ = run_holdout(as_of - timedelta(days=2000), as_of, horizon_days=365)
    assert (as_of - start).days == 364
    assert run_holdout(as_of - timedelta(days=80), as_of) is None  # 26 days: under four weeks


@pytest.fixture(scope="module")
def cdnow_sample():
    wh = connect("duckdb://")
    ingest("orders", shared("cdnow/CDNOW_sample.txt"), preset="cdnow", warehouse=wh)
    return wh


def test_run_uses_the_best_candidate_that_passes(cdnow_sample):
    as_of = datetime(1998, 7, 1)
    ctx = pipeline.Context(cdnow_sample, as_of, Run(cdnow_sample, as_of))
    pipeline.stage_features_and_value(ctx)
    choice = ctx.summary["value_choice"]
    assert set(choice["ranking"]) == set(RUN_CANDIDATES)
    assert choice["chosen"] == choice["ranking"][0]
    maes = [m["mae"] for m in choice["models"] if not m["degenerate"]]
    assert maes == sorted(maes) or len({round(m, 3) for m in maes}) < len(maes)
    # the value model tries the candidates in the holdout's order and uses the first whose fit
    # on all the data passes its diagnostics
    report = ctx.summary["value_model"]
    rejected = {r["model"] for r in report.get("rejected", [])}
    first_passing = next(m for m in choice["ranking"] if m not in rejected)
    assert report["transactions"] == first_passing
    table = ctx.tables["value_model_comparison"]
    assert set(table["model"]) >= set(RUN_CANDIDATES)
    assert table.set_index("model").loc[choice["chosen"], "actual"] > 0


def test_short_history_says_why_and_still_values_everyone():
    wh = connect("duckdb://")
    ingest("orders", shared("cdnow/CDNOW_sample.txt"), preset="cdnow", warehouse=wh)
    as_of = datetime(1997, 2, 20)  # seven weeks of history: no four-week holdout in a third
    ctx = pipeline.Context(wh, as_of, Run(wh, as_of))
    pipeline.stage_features_and_value(ctx)
    assert ctx.summary["value_choice"] == {"chosen": None, "reason": "short_history"}
    assert ctx.results["clv"].notna().all()
