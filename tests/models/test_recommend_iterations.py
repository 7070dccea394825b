"""How many ALS iterations the tuned hybrid's final fit runs, and the in-place blend of the
final scoring: the held-out customers decide the first, the second must change no score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.models.recommend import ALS_ITERATIONS, Hybrid, ImplicitALS, TunedHybrid


@pytest.fixture(scope="module")
def lines():
    """Customers buy within one of 12 product families, spread over a year: a structure ALS
    learns, with enough held-out buying to measure it."""
    rng = np.random.default_rng(5)
    rows = []
    for c in range(600):
        family = rng.integers(0, 12)
        for _ in range(int(rng.integers(3, 9))):
            sku = f"P{family}_{rng.integers(0, 8)}" if rng.random() < 0.85 else \
                f"P{rng.integers(0, 12)}_{rng.integers(0, 8)}"
            rows.append((f"u{c}", sku, pd.Timestamp("2024-01-01")
                         + pd.Timedelta(days=int(rng.integers(0, 365)))))
    out = pd.DataFrame(rows, columns=["customer_id", "sku", "ts"])
    out["order_id"] = range(len(out))
    return out


@pytest.fixture(scope="module")
def tuned(lines):
    return TunedHybrid(validation_days=90, min_customers=20, grid=[
        {"als": 1.0, "item": 0.3, "content": 0.3, "popularity": 0.5}]).fit(lines)


def test_kept_factors_are_those_of_a_shorter_fit(lines):
    long = ImplicitALS(factors=8, iterations=6, keep_iterations=(2, 4)).fit(lines)
    assert sorted(long.factors_at_) == [2, 4]
    short = ImplicitALS(factors=8, iterations=4).fit(lines)
    users, items = long.factors_at_[4]
    assert np.array_equal(users, short.user_factors_)
    assert np.array_equal(items, short.item_factors_)
    assert not np.array_equal(users, long.user_factors_)  # the fit went on after the 4th


def test_iterations_follow_the_one_standard_error_rule(tuned):
    t = tuned.iteration_tuning_
    assert list(t["iterations"]) == [5, 8, 10, ALS_ITERATIONS]
    assert (t["customers"] > 20).all()
    assert np.allclose(t["se"], np.sqrt(t["hit_rate"] * (1 - t["hit_rate"]) / t["customers"]))
    best = t.loc[t["hit_rate"].idxmax()]
    within = t[t["hit_rate"] >= best["hit_rate"] - best["se"]]
    assert tuned.als_iterations_ == within["iterations"].min()
    # the final fit runs that many iterations, and the full count is what the weights saw
    assert tuned.components_["als"].iterations == tuned.als_iterations_
    assert t.loc[t["iterations"] == ALS_ITERATIONS, "hit_rate"].iloc[0] == pytest.approx(
        tuned.tuning_["hit_rate"].iloc[0])


def test_without_choices_or_without_als_the_full_count_runs(lines):
    plain = TunedHybrid(validation_days=90, min_customers=20, iteration_choices=(),
                        grid=[{"als": 1.0, "item": 0.3, "content": 0.3, "popularity": 0.5}])
    plain.fit(lines)
    assert list(plain.iteration_tuning_["iterations"]) == [ALS_ITERATIONS]
    assert plain.components_["als"].iterations == ALS_ITERATIONS
    no_als = TunedHybrid(validation_days=90, min_customers=20,
                         grid=[{"als": 0.0, "item": 1.0, "content": 0.3, "popularity": 0.5}])
    no_als.fit(lines)
    assert no_als.iteration_tuning_.empty and "als" not in no_als.components_


def test_in_place_blend_gives_the_same_scores(lines, tuned):
    rows = tuned.customers_.get_indexer(pd.Index(["u1", "u2", "u3", "nobody"]))
    fresh = tuned._blend(list(tuned._components(rows)), tuned.weights)
    assert np.array_equal(tuned._score(rows), fresh)
    h = Hybrid(als_params={"factors": 4, "iterations": 3}).fit(lines)
    assert np.array_equal(h._score(rows), h._blend(list(h._components(rows)), h.weights))
