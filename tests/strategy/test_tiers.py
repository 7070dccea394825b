from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.strategy.tiers import (TIER_ORDER, TierPolicy, assign_tiers, diamond_claim_holds,
                                     distance_to_next_tier, tier_change, tier_report)


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
