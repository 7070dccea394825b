"""Association rules against a brute-force count, thresholds that do not depend on the size of
the shop, rules that hold on later orders, and bundles that never suggest what is owned."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats

from upmarket.models.basket import association_rules, best_bundles, holdout_check, significant

ITEMS = ["tea", "mug", "pot", "cup", "POST"]


def _lines(baskets) -> pd.DataFrame:
    return pd.DataFrame([{"order_id": f"o{i}", "sku": s} for i, b in enumerate(baskets)
                         for s in b])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.sampled_from(ITEMS), min_size=1), min_size=1, max_size=40))
def test_rules_match_a_brute_force_count(baskets):
    rules = association_rules(_lines(baskets), min_orders=1, min_lift=0.0, alpha=1.0,
                              max_rules_per_item=10)
    real = [b - {"POST"} for b in baskets if b - {"POST"}]  # postage-only orders are not baskets
    n = len(real)
    expected = {}
    for a, b in itertools.permutations(ITEMS[:4], 2):
        both = sum(a in s and b in s for s in real)
        na, nb = sum(a in s for s in real), sum(b in s for s in real)
        if both >= 1:
            # Fisher's exact test, one-sided: more orders with both than independence gives
            table = [[both, na - both], [nb - both, n - na - nb + both]]
            p = stats.fisher_exact(table, alternative="greater").pvalue
            expected[(a, b)] = (both / n, both / na, both / na / (nb / n), p)
    got = {(r.antecedent, r.consequent): (r.support, r.confidence, r.lift, r.p_value)
           for r in rules.itertuples()}
    assert set(got) == set(expected)  # postage never enters a rule
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-6)


def test_lift_and_count_thresholds_and_order():
    baskets = [{"tea", "mug"}] * 6 + [{"tea", "pot"}] * 2 + [{"mug"}] * 10 + [{"pot"}] * 2
    rules = association_rules(_lines(baskets), min_orders=2, min_lift=1.2, alpha=1.0)
    # tea → mug: conf 6/8, P(mug) = 16/20 → lift 0.94: dropped;
    # tea → pot: conf 2/8, P(pot) = 4/20 → lift 1.25; pot → tea: conf 2/4, lift 1.25
    assert list(zip(rules.antecedent, rules.consequent)) == [("pot", "tea"), ("tea", "pot")]
    assert association_rules(_lines(baskets), min_orders=3, min_lift=1.2, alpha=1.0).empty
    assert association_rules(_lines(baskets), min_orders=2, min_lift=1.3, alpha=1.0).empty


def test_benjamini_hochberg_steps_up_and_counts_the_whole_family():
    p = np.array([0.03, 0.01, 0.5, 0.02])
    assert significant(p, 0.05, family=4).tolist() == [True, True, False, True]
    # untested pairs count: the same p-values among 8 hypotheses reject nothing
    assert not significant(p, 0.05, family=8).any()
    # step-up: every p-value above its own rank's bar is still rejected when a later one passes
    assert significant(np.full(4, 0.04), 0.05, family=4).all()
    assert significant(p, 1.0, family=100).all()


def _shop(rng: np.random.Generator, orders: int, groups: int, per_group: int) -> pd.DataFrame:
    """Orders of one or two products; a second product comes from the first one's group (the
    habit rules should find) half the time, else from anywhere."""
    k = groups * per_group
    first = rng.integers(0, k, orders)
    same = first // per_group * per_group + rng.integers(0, per_group, orders)
    second = np.where(rng.random(orders) < 0.5, same, rng.integers(0, k, orders))
    two = rng.random(orders) < 0.6
    oid = np.concatenate([np.arange(orders), np.arange(orders)[two]])
    sku = np.concatenate([first, second[two]])
    return pd.DataFrame({"order_id": oid, "sku": [f"p{s:04d}" for s in sku]})


@pytest.fixture(scope="module")
def shops():
    rng = np.random.default_rng(7)
    # the same habits in a small shop and in one with 10× the orders and 3× the catalogue
    return _shop(rng, 20_000, 30, 10), _shop(rng, 200_000, 30, 30)


def test_rules_are_found_whatever_the_size_of_the_shop(shops):
    small, big = shops
    for lines in (small, big):
        rules = association_rules(lines)
        group = lambda s: s.str[1:].astype(int) // (10 if lines is small else 30)  # noqa: E731
        assert len(rules) > 100
        # the habit: rules pair products of one group (the test lets through a few chance
        # pairs, 5 % of the rules at most on average)
        assert (group(rules["antecedent"]) == group(rules["consequent"])).mean() > 0.99
    # a fixed confidence floor that keeps half the small shop's rules keeps none of the big one's
    floor = association_rules(small)["confidence"].median()
    assert (association_rules(big)["confidence"] < floor).all()


def test_no_rules_from_independent_purchases():
    rng = np.random.default_rng(11)
    orders = 30_000
    two = rng.random(orders) < 0.6
    sku = np.concatenate([rng.integers(0, 200, orders), rng.integers(0, 200, two.sum())])
    oid = np.concatenate([np.arange(orders), np.arange(orders)[two]])
    lines = pd.DataFrame({"order_id": oid, "sku": [f"p{s}" for s in sku]})
    # without the test, chance alone clears the lift and count floors
    assert len(association_rules(lines, alpha=1.0)) > 0
    assert association_rules(lines).empty


def test_holdout_check_counts_against_the_base_rate(shops):
    small, _ = shops
    rules = pd.DataFrame({"antecedent": ["tea", "mug"], "consequent": ["mug", "pot"]})
    later = _lines([{"tea", "mug"}, {"tea", "mug"}, {"tea"}, {"mug", "pot"}, {"pot"}, {"POST"}])
    c = holdout_check(rules, later)
    # 5 orders (postage-only is not a basket): tea in 3, mug in 3, pot in 2; tea & mug 2,
    # mug & pot 1
    assert c["orders"] == 5 and c["observed"] == 3
    assert c["expected"] == pytest.approx(3 * 3 / 5 + 3 * 2 / 5)
    assert c["lift"] == pytest.approx(3 / 3.0)
    assert c["lift_low"] < 1 < c["lift_high"] and c["rules_above_base"] == 0.5
    # rules mined on earlier orders of the small shop hold on its later ones
    early, late = small[small["order_id"] < 14_000], small[small["order_id"] >= 14_000]
    held = holdout_check(association_rules(early), late)
    assert held["lift_low"] > 2


def test_best_bundle_skips_owned_consequents():
    rules = pd.DataFrame({"antecedent": ["a", "a", "b"], "consequent": ["b", "c", "c"],
                          "orders_both": 5, "support": 0.1, "confidence": [0.6, 0.4, 0.5],
                          "lift": [2.0, 1.5, 3.0]})
    owned = pd.DataFrame({"customer_id": ["x", "x", "y"], "sku": ["a", "b", "a"]})
    best = best_bundles(owned, rules).set_index("customer_id")
    assert best.loc["x", "consequent"] == "c" and best.loc["x", "antecedent"] == "b"
    assert best.loc["y", "consequent"] == "b"


def test_best_bundles_are_the_same_in_batches(shops):
    small, _ = shops
    rules = association_rules(small)
    rng = np.random.default_rng(3)
    owned = small.assign(customer_id=rng.integers(0, 3_000, len(small)).astype(str))
    whole = best_bundles(owned, rules, batch_customers=10**9)
    batched = best_bundles(owned, rules, batch_customers=7)
    assert len(whole) > 1_000
    pd.testing.assert_frame_equal(whole, batched)
    # never a product the customer already has
    has = set(zip(owned["customer_id"], owned["sku"]))
    assert not any((c, s) in has for c, s in zip(batched["customer_id"], batched["consequent"]))
