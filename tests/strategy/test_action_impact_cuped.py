"""Variance reduction and pooling in the action measurements: the pre-decision covariates are
counted over the right windows and taken from a customer's first decision; CUPED keeps the
estimate on the truth while cutting its variance by about ρ²; tiers with small control groups
are pooled, and the pooled interval covers the truth about 95 % of the time where per-tier
intervals from a handful of held-out customers do not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.strategy import action_impact as I

T = pd.Timestamp("2025-03-01")
DAY = pd.Timedelta(days=1)


def test_pre_decision_covariates_count_the_windows_before():
    decided = pd.DataFrame({"customer_id": ["a", "b", "c"], "decided": [T] * 3,
                            "action": "win_back", "tier": "core",
                            "held_out": [False, True, False]})
    orders = pd.DataFrame({
        "order_id": ["O1", "O1", "O2", "O3", "O4", "O5"],
        "customer_id": ["a", "a", "a", "a", "b", "c"],
        # a: one two-line order 10 days before, one 200 days before, one 400 days before;
        # b: an order on the decision day (an outcome, not a covariate); c: a cancelled one
        "ts": [T - 10 * DAY, T - 10 * DAY, T - 200 * DAY, T - 400 * DAY, T, T - 5 * DAY],
        "amount": [30.0, 20.0, 70.0, 90.0, 40.0, 999.0], "quantity": 1.0, "sku": "P",
        "status": ["paid", "paid", "paid", "paid", "paid", "cancelled"]})
    out = I.outcomes(decided, orders, None, 30).set_index("customer_id")
    assert out.loc["a", "pre_conversion"] == 1 and out.loc["a", "pre_revenue"] == 50.0
    assert out.loc["a", "pre_orders"] == 2  # O1 (two lines) and O2; O3 is over a year back
    assert out.loc["b", "pre_conversion"] == 0 and out.loc["b", "conversion"] == 1
    assert out.loc["c", "pre_orders"] == 0 and out.loc["c", "pre_revenue"] == 0


def test_the_covariates_are_those_before_the_first_decision():
    # a treated customer decided twice: the second decision's pre-period holds what the first
    # treatment caused, so it must not be the covariate
    rows = pd.DataFrame({
        "action": "upsell", "tier": "core", "customer_id": ["a", "a", "b", "b"],
        "decided": [T, T + 30 * DAY, T, T + 30 * DAY], "held_out": [False, False, True, True],
        "conversion": [1.0, 0.0, 0.0, 1.0], "revenue": [10.0, 0.0, 0.0, 20.0],
        "margin": [3.0, 0.0, 0.0, 6.0], "pre_conversion": [0.0, 1.0, 0.0, 0.0],
        "pre_revenue": [0.0, 10.0, 0.0, 0.0], "pre_orders": [2.0, 3.0, 1.0, 1.0]})
    per = I._per_customer(rows.iloc[::-1]).set_index("customer_id")
    assert per.loc["a", "pre_conversion"] == 0 and per.loc["a", "pre_orders"] == 2
    assert per.loc["a", "conversion"] == 0.5 and per.loc["b", "revenue"] == 10.0


def _experiment(rng, n: int, effect: float, share: float, rho: float, tier: str = "basic"):
    """Customers whose pre-period spend explains a share ρ² of their outcome's variance."""
    pre = rng.normal(0, 1, n)
    noise = rng.normal(0, 1, n)
    held = rng.uniform(size=n) < share
    y = 10 + rho * pre + np.sqrt(1 - rho ** 2) * noise + np.where(held, 0.0, effect)
    return pd.DataFrame({"action": "upsell", "tier": tier, "held_out": held,
                         "customer_id": [f"{tier}{i}" for i in range(n)],
                         "conversion": y, "revenue": y, "margin": y,
                         "pre_conversion": 0.0, "pre_revenue": pre, "pre_orders": 0.0})


def test_cuped_keeps_the_estimate_on_the_truth_and_cuts_the_variance():
    rng = np.random.default_rng(3)
    rho, effect = 0.8, 0.05
    adjusted, plain, covered, reduction, se = [], [], 0, [], []
    for _ in range(60):
        m = _experiment(rng, 1000, effect, 0.1, rho)
        a = I.effects(m).set_index("tier").loc["all"]
        b = I.effects(m, cuped=False).set_index("tier").loc["all"]
        adjusted.append(a["revenue_difference"])
        plain.append(b["revenue_difference"])
        covered += a["revenue_low"] <= effect <= a["revenue_high"]
        reduction.append(a["revenue_variance_reduction"])
        se.append(a["revenue_se"])
        # without the adjustment the standard error is the unadjusted one
        assert b["revenue_se"] == pytest.approx(a["revenue_se_unadjusted"])
    adjusted, plain = np.array(adjusted), np.array(plain)
    # unbiased (mean within 3 standard errors of the truth) …
    assert abs(adjusted.mean() - effect) < 3 * adjusted.std() / np.sqrt(len(adjusted))
    # … its reported standard error is the spread it really has …
    assert adjusted.std(ddof=1) == pytest.approx(np.mean(se), rel=0.25)
    # … and the variance falls by about ρ², as reported (the replicates' own variance ratio
    # is noisier: 60 replicates)
    assert np.mean(reduction) == pytest.approx(rho ** 2, abs=0.05)
    assert adjusted.var() / plain.var() < 0.65
    assert covered >= 0.88 * len(adjusted)


def test_without_a_useful_covariate_nothing_changes():
    rng = np.random.default_rng(4)
    m = _experiment(rng, 600, 0.1, 0.2, 0.0).assign(pre_revenue=0.0)
    a = I.effects(m).set_index("tier").loc["basic"]
    held = m["held_out"].to_numpy()
    y = m["revenue"].to_numpy()
    assert a["revenue_difference"] == pytest.approx(y[~held].mean() - y[held].mean())
    assert a["revenue_variance_reduction"] == pytest.approx(0.0)


def test_small_tiers_are_pooled_and_their_interval_covers_the_truth():
    rng = np.random.default_rng(9)
    effect = 0.10
    pooled_cover = plain_cover = 0
    reps = 100
    for _ in range(reps):
        # four tiers, each with about 6 customers held out (10 % of 60): alone, each tier's
        # Welch standard error rests on a handful of people
        parts = []
        for tier, base in (("diamond", 0.5), ("core", 0.3), ("potential", 0.2),
                           ("basic", 0.1)):
            n = 60
            held = np.zeros(n, bool)
            held[rng.choice(n, 6, replace=False)] = True
            conv = (rng.uniform(size=n) < base + np.where(held, 0, effect)).astype(float)
            parts.append(pd.DataFrame({"action": "win_back", "tier": tier, "held_out": held,
                                       "customer_id": [f"{tier}{i}" for i in range(n)],
                                       "conversion": conv, "revenue": conv, "margin": conv}))
        m = pd.concat(parts, ignore_index=True)
        a = I.effects(m).set_index("tier").loc["all"]
        b = I.effects(m, cuped=False, min_held_out=0).set_index("tier").loc["all"]
        assert set(a["pooled"].split(",")) == {"diamond", "core", "potential", "basic"}
        assert b["pooled"] == ""
        pooled_cover += a["conversion_low"] <= effect <= a["conversion_high"]
        plain_cover += b["conversion_low"] <= effect <= b["conversion_high"]
    assert pooled_cover / reps >= 0.90
    # pooling is no worse than separate tiers (it matters little here: four tiers' noisy
    # standard errors, averaged, are already fair; what no pooling can mend is a control group
    # too small in total, see BENCHMARKS.md)
    assert plain_cover <= pooled_cover


def test_a_large_tier_stays_apart_while_small_ones_are_pooled():
    rng = np.random.default_rng(1)
    parts = [_experiment(rng, 2000, 0.0, 0.1, 0.5, "basic"),
             _experiment(rng, 200, 0.0, 0.1, 0.5, "core"),
             _experiment(rng, 200, 0.0, 0.1, 0.5, "potential"),
             _experiment(rng, 30, 0.0, 0.0, 0.5, "diamond")]  # nobody held out
    e = I.effects(pd.concat(parts, ignore_index=True)).set_index("tier")
    assert (e.loc[["core", "potential"], "n_held_out"] < I.MIN_HELD_OUT).all()
    assert e.loc["basic", "n_held_out"] >= I.MIN_HELD_OUT
    assert set(e.loc["all", "pooled"].split(",")) == {"core", "potential"}
    # the tier without a control group measures nothing and is left out of every stratum
    assert np.isnan(e.loc["diamond", "conversion_difference"])
    assert "diamond" not in e.loc["all", "pooled"]
