"""The churn stage scores everyone a batch of customers at a time: the risk, the signal codes
and their words are those of one pass over the whole base, and the churn windows' inputs are
those a plain left join of the purchase rhythm gives."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket import pipeline
from upmarket.features.behaviour import purchase_rhythm
from upmarket.models.churn import ChurnClassifier, RfmBaseline, risk_signals, signal_words
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import Run

AS_OF = datetime(2025, 1, 1)


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """300 customers over two years, each with their own purchase rate, some stopping early;
    the run's features and value stage done."""
    rng = np.random.default_rng(5)
    start, rows = pd.Timestamp("2023-01-01"), []
    for c in range(300):
        first = int(rng.integers(0, 600))
        stop = first + int(rng.exponential(300))
        day, k = first, 0
        while day < min(stop, 730):
            price = round(float(rng.gamma(2.0, 20.0)) + 1, 2)
            rows.append({"order_id": f"O{c}-{k}", "line_no": 1, "customer_id": f"C{c:04d}",
                         "ts": start + pd.Timedelta(days=day), "sku": f"P{c % 5}",
                         "quantity": 1, "unit_price": price, "amount": price})
            day += 1 + int(rng.exponential(20 + 5 * (c % 7)))
            k += 1
    wh = connect(f"duckdb://{tmp_path_factory.mktemp('churn')}/w.duckdb")
    assert ingest("orders", pd.DataFrame(rows), warehouse=wh).accepted == len(rows)
    ctx = pipeline.Context(wh, AS_OF, Run(wh, AS_OF))
    pipeline.stage_features_and_value(ctx)
    yield wh, ctx.results
    wh.close()


def test_window_inputs_are_a_left_join_of_the_rhythm(scored):
    wh, res = scored
    got = pipeline.churn_inputs(wh, res, AS_OF)
    rhythm = purchase_rhythm(wh.table("orders"), AS_OF).to_pandas()
    expected = pipeline.churn_columns(res).merge(rhythm, on="customer_id", how="left")
    pd.testing.assert_frame_equal(got, expected.set_index(res.index))


@pytest.mark.parametrize("estimator", [ChurnClassifier, RfmBaseline])
def test_batches_score_as_one_pass_over_everyone(scored, estimator):
    wh, res = scored
    now = pipeline.churn_inputs(wh, res, AS_OF)
    churned = now["recency_days"].to_numpy() > np.median(now["recency_days"])
    model = estimator().fit(now, churned)
    whole = pipeline.churn_scores(wh, model, res, AS_OF)
    for rows in (7, 64):
        pd.testing.assert_frame_equal(pipeline.churn_scores(wh, model, res, AS_OF, rows=rows),
                                      whole)
    # and one pass is what the model and its signals say of the whole frame at once
    risk = model.predict_proba(now)
    signals = risk_signals(model, now, risk=risk)
    np.testing.assert_array_equal(whole["churn_risk"].to_numpy(), risk)
    assert whole["churn_signal_codes"].tolist() == [",".join(c) for c in signals["codes"]]
    assert whole["churn_signals"].tolist() == signal_words(signals, "en")
    assert whole["churn_signals_zh"].tolist() == signal_words(signals, "zh-CN")
    assert (whole["churn_signal_codes"] != "").any()


@pytest.mark.parametrize("estimator", [ChurnClassifier, RfmBaseline])
def test_training_on_the_sample_drawn_beforehand_is_training_on_the_window(scored, estimator):
    """The stage draws the classifiers' stratified sample itself and builds inputs for those
    customers only: the fit is the one `fit` makes when handed the whole window."""
    from upmarket.models.training_sample import stratified

    wh, res = scored
    now = pipeline.churn_inputs(wh, res, AS_OF)
    churned = now["recency_days"].to_numpy() > np.median(now["recency_days"])
    whole = estimator(sample_rows=100).fit(now, churned)
    rows = stratified(np.asarray(churned, int), 100).rows
    drawn = estimator(sample_rows=100).fit(now.iloc[rows], churned[rows])
    assert whole.sample_.sampled and not drawn.sample_.sampled and drawn.sample_.used == 100
    np.testing.assert_array_equal(drawn.predict_proba(now), whole.predict_proba(now))
