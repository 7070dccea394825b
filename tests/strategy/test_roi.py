"""ROI: the guide's formula, the stratified long-term effect, and the tables a run publishes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from upmarket.strategy import roi


def test_roi_formula_and_channel_table():
    assert roi.roi(150.0, 100.0) == pytest.approx(0.5)
    assert np.isnan(roi.roi(10.0, 0.0))
    attributed = pd.DataFrame({"channel": ["a", "b"], "conversions": [3.0, 1.0],
                               "value": [1000.0, 200.0]})
    spend = pd.Series({"a": 100.0, "c": 50.0})
    out = roi.channel_roi(attributed, spend, 0.4).set_index("channel")
    assert out.loc["a", "profit"] == pytest.approx(400.0)
    assert out.loc["a", "roi"] == pytest.approx((400 - 100) / 100)
    assert np.isnan(out.loc["b", "roi"])           # no spend, no ROI
    assert out.loc["c", "roi"] == pytest.approx(-1.0)  # spend, nothing attributed


def test_stratified_effect_by_hand():
    # two strata (low / high baseline), 2 customers each side
    baseline = pd.Series([1, 2, 3, 4, 10, 11, 12, 13], dtype=float)
    touched = pd.Series([True, True, False, False, True, False, False, False])
    delta = pd.Series([5, 7, 1, 3, 20, 8, 10, 12], dtype=float)
    effect, n = roi.stratified_effect(delta, baseline, touched, strata=2)
    # low: touched mean 6 vs untouched 2 → 2 × 4; high: 20 vs 10 → 1 × 10
    assert n == 3 and effect == pytest.approx(2 * 4 + 1 * 10)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1000), st.booleans()), min_size=20, max_size=200),
       st.floats(-50, 50))
def test_a_constant_shift_of_the_touched_is_recovered(rows, shift):
    """When touched customers change by exactly `shift` more than untouched ones of the same
    baseline, the effect is shift × touched customers compared."""
    base = pd.Series([b for b, _ in rows])
    touched = pd.Series([t for _, t in rows])
    effect, n = roi.stratified_effect(pd.Series(np.where(touched, shift, 0.0)), base, touched)
    if n:
        assert effect == pytest.approx(shift * n, abs=1e-6)
    else:
        assert touched.all() or not touched.any() or np.isnan(effect) or effect == 0


def test_clv_at_a_campaign_start_in_batches_is_the_clv_of_all_at_once(tmp_path):
    from datetime import timedelta

    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.features.customer import purchase_days, value_inputs_on
    from upmarket.pipeline import FEATURE_TABLES, Settings, snapshot
    from upmarket.warehouse import connect

    cfg = WorldConfig(customers=300, seed=5)
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    load_world(wh, cfg)
    _, value = snapshot(wh, cfg.as_of, Settings())
    start = cfg.as_of - timedelta(days=120)
    days = purchase_days({n: wh.table(n) for n in FEATURE_TABLES}, [start]).cache()
    inputs = value_inputs_on(days, [start], start)
    whole = inputs.order_by("customer_id").to_pandas()
    want = value.predict(whole)["clv"].to_numpy()
    one = roi.clv_on(value, inputs)
    batched = roi.clv_on(value, inputs, rows=7)
    days.release()
    wh.close()
    assert len(whole) > 100
    for got in (one, batched):
        assert got.index.tolist() == whole["customer_id"].tolist()
        # the same customers in the same order; the inputs are summed again by the engine
        # for each read, in parallel, so a value may differ in its last bit
        np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-12, atol=0)
