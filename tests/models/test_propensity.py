"""Upgrade-path mining on a hand-made history, and premium propensity on the synthetic world
against its ground truth (`truth_customers.upgrades_to_premium`)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket.demo import WorldConfig, generate_world
from upmarket.models import evaluation
from upmarket.models.propensity import PremiumPropensity, evaluate, fit_at
from upmarket.models.upgrade_paths import (
    customer_upgrade_rate,
    transitions,
    upgrade_paths,
    upgrade_rates,
)
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest


def history() -> pd.DataFrame:
    rows = [  # customer, day, category, tier, amount
        ("a", 0, "k", "basic", 10.0), ("a", 30, "k", "basic", 10.0),
        ("a", 40, "k", "mid", 30.0), ("a", 100, "k", "premium", 60.0),
        ("a", 120, "k", "mid", 30.0),  # downgrade
        ("a", 5, "t", "basic", 4.0),  # another category: no transition
        ("b", 0, "k", "basic", 10.0), ("b", 20, "k", "premium", 50.0),  # basic → premium
        ("c", 0, "k", "mid", 20.0), ("c", 10, "k", "basic", 10.0),
        ("c", 50, "k", "mid", 20.0),  # down, then back up (a return, not an upgrade)
    ]
    d = pd.DataFrame(rows, columns=["customer_id", "day", "category", "price_tier", "amount"])
    d["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(d.pop("day"), unit="D")
    d["sku"] = d["category"] + "-" + d["price_tier"]
    return d


def test_transitions_on_a_hand_made_history():
    t = transitions(history())
    got = [(r.customer_id, r.from_tier, r.to_tier, r.kind) for r in t.itertuples()]
    assert got == [("a", "basic", "mid", "upgrade"), ("a", "mid", "premium", "upgrade"),
                   ("a", "premium", "mid", "downgrade"), ("b", "basic", "premium", "upgrade"),
                   ("c", "mid", "basic", "downgrade"), ("c", "basic", "mid", "return")]
    a = t[(t.customer_id == "a") & (t.kind == "upgrade")].set_index("to_tier")
    assert a.loc["mid", "days"] == pytest.approx(40)  # from the first basic purchase
    assert a.loc["premium", "days"] == pytest.approx(60)  # from the first mid purchase
    assert a.loc["mid", "mean_before"] == pytest.approx(10)
    assert a.loc["mid", "mean_after"] == pytest.approx(40)  # (30 + 60 + 30) / 3
    down = t[t.kind == "downgrade"].set_index("customer_id")
    assert down.loc["a", "days"] == pytest.approx(20)  # premium on day 100, mid on day 120

    p = upgrade_paths(history()).set_index(["from_tier", "to_tier", "kind"])
    assert p.loc[("basic", "mid", "upgrade"), "transitions"] == 1
    assert p.loc[("basic", "premium", "upgrade"), "median_days"] == pytest.approx(20)
    assert p.loc[("basic", "premium", "upgrade"), "revenue_uplift"] == pytest.approx(4.0)
    assert p.loc[("basic", "mid", "upgrade"), "revenue_uplift"] == pytest.approx(3.0)
    assert p["transitions"].sum() == 6


def test_peer_upgrade_rate():
    h = history()
    r = upgrade_rates(h, datetime(2025, 1, 1), horizon_days=180, min_customers=1)
    r = r.set_index(["category", "tier"])
    # reached basic as a new high in k: a, b, c (c's first was mid, so not basic) → a and b,
    # both moved up within 180 days
    assert r.loc[("k", "basic"), "at_tier"] == 2
    assert r.loc[("k", "basic"), "rate"] == pytest.approx(1.0)
    # reached mid as a new high in k: a (→ premium after 60 d) and c (never higher)
    assert r.loc[("k", "mid"), "rate"] == pytest.approx(0.5)
    c = customer_upgrade_rate(h, r.reset_index()).set_index("customer_id")
    assert c.loc["c", "current_tier"] == "mid"
    assert c.loc["c", "peer_upgrade_rate"] == pytest.approx(0.5)
    assert c.loc["a", "peer_upgrade_rate"] == 0.0  # already premium in k


def test_unfitted_and_single_class():
    with pytest.raises(Exception):
        PremiumPropensity().predict_proba(pd.DataFrame({"share_mid": [0.1]}))
    with pytest.raises(ValueError):
        PremiumPropensity().fit(pd.DataFrame({"share_mid": [0.1, 0.2]}), [0, 0])


WORLD = WorldConfig(customers=6000, seed=1)


@pytest.fixture(scope="module")
def world():
    wh = connect("duckdb://")
    truth = []
    for name, frame in generate_world(WORLD):
        if name == "truth_customers":
            truth.append(frame)
        elif name in ("orders", "products", "service_tickets", "feedback"):
            ingest(name, frame, warehouse=wh, source="demo world")
    yield wh, pd.concat(truth, ignore_index=True)
    wh.close()


def test_top_decile_holds_three_times_the_true_upgraders(world):
    wh, truth = world
    tables = {n: wh.table(n) for n in ("orders", "products", "service_tickets", "feedback")}
    model, now, info = fit_at(tables, WORLD.as_of, horizon_days=180, columns=None)
    assert info["train_customers"] > 1000 and 0 < info["train_rate"] < 0.5
    # the truth's population: customers who had not bought premium by as_of
    pop = now[now["bought_premium"] == 0].merge(
        truth[["customer_id", "upgrades_to_premium"]], on="customer_id", how="inner")
    assert len(pop) > 3000
    y = pop["upgrades_to_premium"].to_numpy()
    e = evaluate(y, pop["premium_propensity"], pop["premium_baseline"])
    print("premium propensity on", WORLD, {k: round(v, 3) for k, v in e.items()},
          "recency-only lift", round(evaluation.lift_at(y, -pop["recency_days"]), 3))
    assert e["lift"] >= 3.0
    assert e["auc"] > e["auc_baseline"]
    assert e["calibration_error"] < 0.03  # calibrated: mean predicted ≈ observed per decile
    assert np.all((now["premium_propensity"] >= 0) & (now["premium_propensity"] <= 1))


def test_backtest_from_the_warehouse_alone(world):
    from upmarket.models.propensity import backtest

    wh, _ = world
    tables = {n: wh.table(n) for n in ("orders", "products", "service_tickets", "feedback")}
    e = backtest(tables, WORLD.as_of, horizon_days=180)
    print("backtest", {k: round(v, 3) for k, v in e.items()})
    assert e["lift"] > 2.0 and e["auc"] > 0.7


def test_batches_and_a_fetched_sample_give_the_model_of_the_whole_frames(world):
    from upmarket.features.customer import customer_features
    from upmarket.features.premium import (
        first_premium_between,
        premium_features,
        price_ladder,
        tiered_lines,
    )
    from upmarket.models.propensity import Snapshots, assemble, backtest
    from upmarket.models.upgrade_paths import upgrade_rates_in_engine

    wh, _ = world
    tables = {n: wh.table(n) for n in ("orders", "products", "service_tickets", "feedback")}
    orders, ladder = tables["orders"], price_ladder(tables["products"], tables["orders"])

    def whole(when):
        return assemble(customer_features(tables, when).order_by("customer_id").to_pandas(),
                        premium_features(orders, ladder, when).to_pandas(),
                        upgrade_rates_in_engine(tiered_lines(orders, ladder, when), when))

    t0 = WORLD.as_of - pd.Timedelta(days=180)
    snap = Snapshots(tables, rows=700)
    model, now, info = fit_at(tables, WORLD.as_of, snapshot=snap, sample_rows=1500)
    # what the model was before: every training row's features at hand, sampled afterwards
    then = whole(t0)
    rows = then[then["bought_premium"] == 0].reset_index(drop=True)
    ups = set(first_premium_between(orders, ladder, t0, WORLD.as_of).to_pandas()["customer_id"])
    ref = PremiumPropensity(sample_rows=1500).fit(rows, rows["customer_id"].isin(ups))
    assert model.sample_.sampled and np.array_equal(model.sample_.rows, ref.sample_.rows)
    assert model.features_ == ref.features_ and info["train_customers"] == len(rows)
    everyone = whole(WORLD.as_of)
    assert list(now["customer_id"]) == list(everyone["customer_id"]) and len(now) > 700
    # the engine's parallel sums differ in the last bits from one query to the next
    np.testing.assert_allclose(now["premium_propensity"], ref.predict_proba(everyone),
                               rtol=0, atol=1e-8)
    # the back-test reads its dates in batches of 700 as it would in one
    small = backtest(tables, WORLD.as_of, snapshot=snap, sample_rows=1500)
    assert small == pytest.approx(backtest(tables, WORLD.as_of, sample_rows=1500), abs=1e-9)
    snap.release()


def _in_engine(lines: pd.DataFrame):
    import ibis

    ranked = lines.assign(tier_rank=lines["price_tier"].map({"basic": 0, "mid": 1, "premium": 2}))
    return ibis.memtable(ranked)


def test_rates_and_paths_counted_in_the_engine_are_the_ones_mined_in_pandas():
    from upmarket.models.upgrade_paths import upgrade_paths_in_engine, upgrade_rates_in_engine

    h = history()
    for min_customers in (1, 20):
        mined = upgrade_rates(h, datetime(2025, 1, 1), horizon_days=180,
                              min_customers=min_customers)
        counted = upgrade_rates_in_engine(_in_engine(h), datetime(2025, 1, 1),
                                          horizon_days=180, min_customers=min_customers)
        key = ["category", "tier"]
        pd.testing.assert_frame_equal(
            counted.sort_values(key).reset_index(drop=True),
            mined.sort_values(key).reset_index(drop=True), check_dtype=False)
    for by_category in (False, True):
        pd.testing.assert_frame_equal(upgrade_paths_in_engine(_in_engine(h), by_category=by_category),
                                      upgrade_paths(h, by_category=by_category), check_dtype=False)


def test_the_models_inputs_from_the_engine_match_the_line_by_line_mining(world):
    from upmarket.features.premium import premium_features, price_ladder, tiered_lines
    from upmarket.models.propensity import assemble
    from upmarket.models.upgrade_paths import upgrade_paths_in_engine, upgrade_rates_in_engine

    wh, _ = world
    orders, products = wh.table("orders"), wh.table("products")
    ladder = price_ladder(products, orders)
    tiered = tiered_lines(orders, ladder, WORLD.as_of)
    lines = tiered.to_pandas()
    mined = upgrade_rates(lines, WORLD.as_of)
    counted = upgrade_rates_in_engine(tiered, WORLD.as_of)
    assert mined["at_tier"].sum() > 1000
    key = ["category", "tier"]
    pd.testing.assert_frame_equal(counted.sort_values(key).reset_index(drop=True),
                                  mined.sort_values(key).reset_index(drop=True),
                                  check_dtype=False)
    paths = upgrade_paths(lines, by_category=True)
    assert paths["transitions"].sum() > 1000
    pd.testing.assert_frame_equal(upgrade_paths_in_engine(tiered, by_category=True), paths,
                                  check_dtype=False)
    # each customer's main category, tier there and peer rate, as the pandas mining names them
    prem = premium_features(orders, ladder, WORLD.as_of).to_pandas()
    ids = prem[["customer_id"]]
    frame = assemble(ids, prem, counted).set_index("customer_id")
    peer = customer_upgrade_rate(lines, mined).set_index("customer_id")
    cols = ["main_category", "current_tier", "peer_upgrade_rate"]
    pd.testing.assert_frame_equal(frame.loc[peer.index, cols], peer[cols], check_dtype=False)
