"""Gradient-boosted value model: features at a cut-off, training inside the data, horizon
scaling, no look-ahead."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket.models.ml_value import GradientBoostedValue, NotEnoughHistory, features_at, targets_in


def _tx(rows):
    return pd.DataFrame(rows, columns=["customer_id", "day", "spend"]).assign(day=lambda d: pd.to_datetime(d["day"]))


def test_features_at_a_cutoff():
    tx = _tx([("a", "2024-01-01", 10.0), ("a", "2024-01-15", 30.0), ("a", "2024-03-01", 5.0),
              ("b", "2024-02-01", 7.0)])
    f = features_at(tx, datetime(2024, 2, 29))  # a's March purchase is after the cut-off
    assert list(f.index) == ["a", "b"]
    a = f.loc["a"]
    assert "T" not in f and a.rate == pytest.approx(1 / (58 / 7 + 1))
    assert a.recency_share == pytest.approx(14 / 58)
    assert a.mean_spend == 20 and a.last_spend == 30 and a.max_spend == 30 and a.mean_gap == 2.0
    assert a.days_4w == 0 and a.days_13w == 2 and a.weeks_since_last == pytest.approx(44 / 7)
    assert f.loc["b", "rate"] == 0 and f.loc["b", "mean_gap"] == -1
    y = targets_in(tx, datetime(2024, 2, 29), datetime(2024, 4, 1), f.index)
    assert y.loc["a"].tolist() == [1.0, 5.0] and y.loc["b"].tolist() == [0.0, 0.0]


def _world(n=1500, weeks=60, random_state=3):
    rng = np.random.default_rng(random_state)
    lam = rng.gamma(1.5, 1 / 6.0, n)  # purchases per week
    start = pd.Timestamp("2023-01-02")
    rows = []
    for i in range(n):
        first = rng.integers(0, 70)
        t = float(first)
        while t < weeks * 7:
            rows.append((f"c{i}", start + pd.Timedelta(days=int(t)), float(rng.gamma(2.0, 15.0))))
            t += rng.exponential(7.0 / lam[i])
    tx = pd.DataFrame(rows, columns=["customer_id", "day", "spend"])
    return tx.groupby(["customer_id", "day"], as_index=False)["spend"].sum(), start


def test_trained_inside_the_data_and_blind_to_later_purchases():
    tx, start = _world()
    as_of = start + pd.Timedelta(weeks=40)
    m = GradientBoostedValue(max_iter=40).fit(tx, as_of, horizon_days=70)
    assert m.window_days_ == 70 and m.training_cutoff_ == (as_of - pd.Timedelta(days=70)).to_pydatetime()
    p = m.predict(tx, as_of)
    # purchases after as_of change neither the fit nor the predictions
    later = tx[tx["day"] < as_of]
    p2 = GradientBoostedValue(max_iter=40).fit(later, as_of, horizon_days=70).predict(later, as_of)
    pd.testing.assert_frame_equal(p, p2)
    assert np.all(p["spend_low"] <= p["spend_high"]) and np.all(p[["purchases", "spend"]] >= 0)
    # a stationary base: the forecast total is close to what happened next
    actual = targets_in(tx, as_of, as_of + pd.Timedelta(days=70), p.index)
    assert p["purchases"].sum() == pytest.approx(actual["purchases"].sum(), rel=0.15)
    # better than giving everyone the mean
    mae = np.mean(np.abs(p["purchases"] - actual["purchases"]))
    assert mae < np.mean(np.abs(actual["purchases"].mean() - actual["purchases"]))
    covered = np.mean((actual["spend"] >= p["spend_low"]) & (actual["spend"] <= p["spend_high"]))
    assert 0.6 < covered <= 1.0


def test_short_history_trains_on_half_and_scales_to_the_horizon():
    tx, start = _world(n=800)
    as_of = start + pd.Timedelta(weeks=20)
    span = (as_of - tx["day"].min()).days
    m = GradientBoostedValue(max_iter=20).fit(tx, as_of, horizon_days=300)
    assert m.window_days_ == pytest.approx(round(span / 2), abs=1)
    p_long = m.predict(tx, as_of)
    m.horizon_days_ = m.window_days_
    p_short = m.predict(tx, as_of)
    assert np.allclose(p_long["purchases"], p_short["purchases"] * 300 / m.window_days_)


def test_not_enough_history():
    tx = _tx([("a", "2024-01-01", 10.0), ("b", "2024-01-03", 5.0)])
    with pytest.raises(NotEnoughHistory):
        GradientBoostedValue().fit(tx, datetime(2024, 2, 1), horizon_days=30)
    with pytest.raises(NotEnoughHistory):
        GradientBoostedValue().fit(tx, datetime(2023, 2, 1), horizon_days=30)
