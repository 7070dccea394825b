from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.strategy.tiers import (TIER_ORDER, TierPolicy, assign_tiers, diamond_claim_holds,
                                     distance_to_next_tier, tier_change, tier_report,
                                     tier_value)


def test_seed_shares_on_a_round_base():
    value = np.random.default_rng(0).gamma(0.5, 100, size=1000)
    tiers = assign_tiers(value)
    counts = pd.Series(tiers).value_counts()
    assert [counts[t] for t in TIER_ORDER] == [20, 180, 300, 500]
    # the top 2 % by value are diamond
    top = np.argsort(-value)[:20]
    assert set(tiers[top]) == {"diamond"}


@given(st.lists(st.floats(-1e6, 1e9, allow_nan=False), min_size=1, max_size=300))
@settings(max_examples=60, deadline=None)
def test_every_customer_gets_one_tier_and_order_is_monotone(values):
    value = np.array(values)
    tiers = assign_tiers(value)
    assert len(tiers) == len(value) and set(tiers) <= set(TIER_ORDER)
    rank = np.array([TIER_ORDER.index(t) for t in tiers])
    # a higher value never sits in a lower tier
    order = np.argsort(-value, kind="stable")
    assert np.all(np.diff(rank[order]) >= 0)
    d = distance_to_next_tier(value, tiers)
    assert np.all(d >= 0) and np.all(d[tiers == "diamond"] == 0)


def test_distance_is_what_it_takes_to_move_up():
    value = np.arange(100, dtype=float)
    tiers = assign_tiers(value)
    d = distance_to_next_tier(value, tiers)
    i = int(np.flatnonzero(tiers == "core")[0])  # the lowest core customer
    moved = value.copy()
    moved[i] += d[i] + 1e-6
    assert assign_tiers(moved)[i] == "diamond"


def test_nan_values_rank_last():
    tiers = assign_tiers(np.array([np.nan] + list(range(99)), dtype=float))
    assert tiers[0] == "basic"


def test_policy_validates_shares():
    with pytest.raises(ValueError):
        TierPolicy(shares=(0.5, 0.5, 0.1, 0.1))


def test_tier_change_and_report():
    cur = pd.Series(["diamond", "core", "basic", "core"], index=["a", "b", "c", "d"])
    prev = pd.Series(["core", "core", "potential"], index=["a", "b", "c"])
    assert tier_change(cur, prev).tolist() == ["promoted", "same", "demoted", "new"]
    rep = tier_report(cur, pd.Series([50.0, 20, 10, 20], index=cur.index))
    assert rep.customers.sum() == 4
    assert rep.set_index("tier").loc["diamond", "revenue_share"] == pytest.approx(0.5)
    assert diamond_claim_holds(rep)
    assert rep.set_index("tier").loc["core", "response_hours"] == 4


def _parts(n=1000, seed=1):
    rng = np.random.default_rng(seed)
    current = rng.gamma(0.4, 500, n) * rng.binomial(1, 0.7, n)  # many without a recent year
    potential = rng.gamma(0.5, 300, n)
    return current, potential


def test_weight_zero_reproduces_tiers_on_predicted_value():
    current, potential = _parts()
    policy = TierPolicy(current_weight=0.0)
    assert np.array_equal(assign_tiers(tier_value(current, potential, policy), policy),
                          assign_tiers(potential))


def test_weight_one_ranks_by_trailing_margin():
    current, potential = _parts()
    policy = TierPolicy(current_weight=1.0)
    value = tier_value(current, potential, policy)
    assert np.array_equal(value, current)
    tiers = assign_tiers(value, policy)
    top = np.argsort(-current, kind="stable")[:20]
    assert set(tiers[top]) == {"diamond"}


@given(st.floats(0, 1), st.lists(st.tuples(st.floats(0, 1e6), st.floats(0, 1e6)), min_size=1,
                                 max_size=50))
@settings(max_examples=60, deadline=None)
def test_tier_value_is_the_weighted_blend(w, pairs):
    current, potential = (np.array(x) for x in zip(*pairs))
    value = tier_value(current, potential, TierPolicy(current_weight=w))
    assert np.allclose(value, w * current + (1 - w) * potential)
    assert np.all(value >= np.minimum(current, potential) - 1e-6)
    assert np.all(value <= np.maximum(current, potential) + 1e-6)


def test_a_lapsing_big_spender_keeps_a_high_tier():
    current, potential = _parts()
    current[0], potential[0] = current.max() * 2, 0.0  # spent most last year, forecast nothing
    assert assign_tiers(potential)[0] == "basic"
    assert assign_tiers(tier_value(current, potential))[0] in ("diamond", "core")


def test_missing_forecast_falls_back_on_current_value():
    current = np.array([100.0, 50.0, np.nan, 10.0])
    potential = np.array([np.nan, 40.0, np.nan, 20.0])
    value = tier_value(current, potential, TierPolicy(current_weight=0.3))
    assert value[0] == 100.0  # the past year stands in for the missing forecast
    assert value[1] == pytest.approx(0.3 * 50 + 0.7 * 40)
    assert np.isnan(value[2])  # nothing known: ranked last
    assert assign_tiers(value)[2] == "basic"


def test_distance_speaks_in_tier_value():
    # the distance is tier value: raising the current value by distance / w moves a customer up
    current, potential = _parts(200)
    policy = TierPolicy(current_weight=0.5)
    value = tier_value(current, potential, policy)
    tiers = assign_tiers(value, policy)
    d = distance_to_next_tier(value, tiers)
    i = int(np.flatnonzero(tiers == "potential")[-1])
    raised = current.copy()
    raised[i] += (d[i] + 1e-6) / policy.current_weight
    assert assign_tiers(tier_value(raised, potential, policy), policy)[i] == "core"


def test_policy_validates_weight():
    with pytest.raises(ValueError):
        TierPolicy(current_weight=1.5)
