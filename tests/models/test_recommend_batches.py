"""The recommender at scale gives the answers of the straightforward computation: batch sizes
do not change the lists, the tuning sample holds every evaluated customer, the held-out
products are the ones a set comparison finds, and bundles match a plain sort of every
candidate rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.models import recommend
from upmarket.models.basket import association_rules, best_bundles
from upmarket.models.purchase_codes import PurchaseCodes
from upmarket.models.recommend import Hybrid, TunedHybrid


@pytest.fixture(scope="module")
def shop():
    """A few hundred customers over a year, each leaning to one category, buying up its tiers."""
    rng = np.random.default_rng(11)
    cats, tiers = ["coffee", "tea", "skin", "shoes"], ["basic", "mid", "premium"]
    products = pd.DataFrame([{"sku": f"{c[:2].upper()}{t[0]}{k}", "category": c,
                              "price_tier": t, "consumable": c == "tea"}
                             for c in cats for t in tiers for k in range(4)])
    rows = []
    start = pd.Timestamp("2025-01-01")
    for u in range(500):
        home = rng.integers(len(cats))
        for o in range(rng.integers(1, 9)):
            cat = cats[home] if rng.random() < 0.7 else cats[rng.integers(len(cats))]
            tier = tiers[min(2, o // 3 + int(rng.random() < 0.2))]
            pool = products[(products["category"] == cat) & (products["price_tier"] == tier)]
            for sku in rng.choice(pool["sku"].to_numpy(), size=rng.integers(1, 3)):
                rows.append({"customer_id": f"C{u:04d}", "order_id": f"O{u}-{o}", "sku": sku,
                             "ts": start + pd.Timedelta(days=int(rng.integers(0, 365))),
                             "amount": 10.0})
    return pd.DataFrame(rows), products


@pytest.fixture(scope="module")
def hybrid(shop):
    lines, products = shop
    return Hybrid(als_params={"factors": 4, "iterations": 3}).fit(lines, products)


def test_batches_do_not_change_the_lists(shop, hybrid):
    lines, _ = shop
    ids = list(np.random.default_rng(1).permutation(lines["customer_id"].unique())) + ["new"]
    hybrid.batch_size = 10_000
    whole = hybrid.recommend(ids, n=7)
    for size in (1, 13, 64):
        hybrid.batch_size = size
        parts = list(hybrid.recommend_batches(ids, n=7))
        assert len(parts) == -(-len(ids) // size)
        pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)
    # the lists as the dense score matrix orders them
    scores = hybrid.score_matrix(ids[:40])
    for j, cid in enumerate(ids[:40]):
        mine = whole[whole["customer_id"] == cid]
        best = np.argsort(-scores[j], kind="stable")[:7]
        best = best[np.isfinite(scores[j][best])]
        assert list(mine["rank"]) == list(range(1, len(best) + 1))
        np.testing.assert_allclose(mine["score"], scores[j][best], rtol=1e-6)


def _relevant_reference(train, test, consumable):
    owned = set(zip(train["customer_id"], train["sku"]))
    known = set(train["customer_id"])
    out = {}
    for c, s in zip(test["customer_id"], test["sku"]):
        if c in known and ((c, s) not in owned or s in consumable):
            out.setdefault(c, set()).add(s)
    return out


def test_held_out_products_match_a_set_comparison(shop):
    lines, products = shop
    split = pd.Timestamp("2025-10-01")
    train, test = lines[lines["ts"] < split], lines[lines["ts"] >= split]
    consumable = set(products.loc[products["consumable"], "sku"])
    got = recommend._relevant(train, test, consumable)
    want = _relevant_reference(train, test, consumable)
    assert len(want) > 50 and got.to_dict() == want
    assert list(got.index) == sorted(want)


def test_tuning_sample_keeps_every_evaluated_customer(shop):
    lines, _ = shop
    codes = PurchaseCodes.from_frame(lines)
    evaluated = codes.customers.get_indexer(["C0003", "C0100", "C0499"])
    model = TunedHybrid(fit_customers=120, random_state=4)

    def customers(sample):
        return set(sample.customers[sample.customer])

    sample = model._tuning_sample(codes, evaluated)
    kept = customers(sample)
    assert len(kept) == 120 and {"C0003", "C0100", "C0499"} <= kept
    # each kept customer keeps every line; the same draw every time, another with another state
    assert len(sample) == lines["customer_id"].isin(kept).sum()
    assert customers(model._tuning_sample(codes, evaluated)) == kept
    other = TunedHybrid(fit_customers=120, random_state=5)._tuning_sample(codes, evaluated)
    assert customers(other) != kept
    # a shop no bigger than the sample is tuned on everyone, as without a sample
    assert TunedHybrid(fit_customers=500)._tuning_sample(codes, evaluated) is codes


def test_tuning_on_everyone_when_the_sample_covers_the_shop(shop):
    lines, products = shop
    small = dict(validation_days=90, min_customers=20, als_params={"factors": 4,
                                                                    "iterations": 3})
    full = TunedHybrid(fit_customers=None, **small).fit(lines, products)
    covered = TunedHybrid(fit_customers=10_000, **small).fit(lines, products)
    pd.testing.assert_frame_equal(full.tuning_, covered.tuning_)
    sampled = TunedHybrid(fit_customers=150, **small).fit(lines, products)
    assert len(sampled.tuning_) == len(full.tuning_)
    assert sampled.tuning_["customers"].iloc[0] == full.tuning_["customers"].iloc[0]


def _bundles_reference(owned, rules):
    """Every (owned antecedent, rule) pair at once, sorted, best per customer."""
    own = owned[["customer_id", "sku"]].astype(str).drop_duplicates()
    cand = own.sort_values("customer_id", kind="stable").merge(
        rules[["antecedent", "consequent", "confidence", "lift"]], left_on="sku",
        right_on="antecedent")
    has = set(zip(own["customer_id"], own["sku"]))
    cand = cand[[(c, s) not in has for c, s in zip(cand["customer_id"], cand["consequent"])]]
    cand = cand.sort_values(["customer_id", "confidence", "lift", "consequent"],
                            ascending=[True, False, False, True], kind="stable")
    return cand.drop_duplicates("customer_id")[
        ["customer_id", "antecedent", "consequent", "confidence", "lift"]].reset_index(drop=True)


def test_bundles_match_a_plain_sort_of_every_candidate(shop):
    lines, _ = shop
    rules = association_rules(lines, min_orders=2, min_lift=1.0, alpha=1.0)
    assert len(rules) > 20
    want = _bundles_reference(lines, rules)
    for size in (7, 10**6):
        got = best_bundles(lines[["customer_id", "sku"]], rules, batch_customers=size)
        assert len(got) > 100
        pd.testing.assert_frame_equal(got.astype({"customer_id": object}),
                                      want.astype({"customer_id": object}),
                                      check_dtype=False)
