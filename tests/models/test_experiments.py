"""A/B test statistics against published values and independent implementations.

References used below (values as printed there):
* statsmodels' own test of `proportions_ztest` (GH 2969): counts (5, 12) of (83, 99) give
  z = -1.4078304151258787, p = 0.15918129181156992 (group 1 minus group 2);
* Newcombe (1998), Stat. Med. 17:873–890, Table II, example (a) 56/70 vs 48/80: simple
  asymptotic (Wald) interval for the difference 0.0575 to 0.3425;
* R `power.prop.test(p1=.30, p2=.25, power=.9)` → n = 1673.856 per group and
  `power.prop.test(p1=.05, p2=.10, power=.9)` → n = 581.0821 (the pooled formula); R
  `pwr.2p.test(h=ES.h(.05, .10), power=.9)` → n = 567.2579 (arcsine, the statsmodels
  `NormalIndPower` + `proportion_effectsize` computation);
* Cohen (1988), Table 6.4.1 (two-tailed α = .05, power .80): n = 392, 63, 25 per group for
  h = .20, .50, .80 (rounded to the nearest user);
* statsmodels `NormalIndPower().solve_power(proportion_effectsize(.13, .15), power=.8,
  alpha=.05, ratio=1)` = 4719.8 → 4720 per group (the widely reproduced A/B-testing example).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from upmarket.models.experiments import (
    ABTest,
    BadExperiment,
    bootstrap_difference,
    compare_proportions,
    control_arm,
    moments,
    parse_arms,
    power_two_proportions,
    sample_ratio_check,
    sample_size_per_arm,
    welch_from_stats,
)


# -- conversion ------------------------------------------------------------------------------
def test_two_proportion_z_test_matches_statsmodels():
    r = compare_proportions(5, 83, 12, 99)
    # statsmodels reports group 1 − group 2; ours is treatment − control
    assert r.z == pytest.approx(1.4078304151258787, rel=1e-12)
    assert r.p_value == pytest.approx(0.15918129181156992, rel=1e-12)
    assert r.difference == pytest.approx(12 / 99 - 5 / 83)


def test_wald_interval_matches_newcombe_1998():
    r = compare_proportions(48, 80, 56, 70)
    assert (round(r.difference_low, 4), round(r.difference_high, 4)) == (0.0575, 0.3425)


def arm(low: int = 0, most: int = 400):
    """(conversions, users) with 1 ≤ users ≤ most and low ≤ conversions ≤ users."""
    return st.integers(max(low, 1), most).flatmap(
        lambda n: st.tuples(st.integers(low, n), st.just(n)))


@given(c=arm(), t=arm())
@settings(max_examples=150, deadline=None)
def test_z_squared_is_pearson_chi_square(c, t):
    (xc, nc), (xt, nt) = c, t
    assume(0 < xc + xt < nc + nt)
    r = compare_proportions(xc, nc, xt, nt)
    table = np.array([[xc, nc - xc], [xt, nt - xt]])
    chi2, p, _, _ = stats.chi2_contingency(table, correction=False)
    assert r.z ** 2 == pytest.approx(chi2, rel=1e-9, abs=1e-12)
    assert r.p_value == pytest.approx(p, rel=1e-7, abs=1e-12)


@given(c=arm(1, 500), t=arm(1, 500), alpha=st.sampled_from([0.01, 0.05, 0.1, 0.2]))
@settings(max_examples=150, deadline=None)
def test_intervals_contain_their_estimates_and_narrow_with_alpha(c, t, alpha):
    (xc, nc), (xt, nt) = c, t
    r = compare_proportions(xc, nc, xt, nt, alpha)
    assert r.difference_low <= r.difference <= r.difference_high
    assert r.uplift_low <= r.relative_uplift <= r.uplift_high
    wider = compare_proportions(xc, nc, xt, nt, alpha / 2)
    assert wider.difference_low <= r.difference_low and wider.difference_high >= r.difference_high
    assert wider.uplift_low <= r.uplift_low and wider.uplift_high >= r.uplift_high


def test_symmetric_arms_give_uniform_p_values():
    """A/A tests: under the null the p-value is (close to) uniform, so about alpha of the
    tests reject."""
    rng = np.random.default_rng(7)
    n, rate, k = 3000, 0.08, 1500
    xc, xt = rng.binomial(n, rate, k), rng.binomial(n, rate, k)
    p = np.array([compare_proportions(int(a), n, int(b), n).p_value for a, b in zip(xc, xt)])
    assert stats.kstest(p, "uniform").pvalue > 0.001
    assert 0.035 <= (p < 0.05).mean() <= 0.065


def test_uplift_interval_covers_the_true_uplift():
    rng = np.random.default_rng(3)
    pc, pt, n, k = 0.10, 0.12, 4000, 600
    xc, xt = rng.binomial(n, pc, k), rng.binomial(n, pt, k)
    hits = [(r.uplift_low <= pt / pc - 1 <= r.uplift_high, r.difference_low <= pt - pc
             <= r.difference_high)
            for r in (compare_proportions(int(a), n, int(b), n) for a, b in zip(xc, xt))]
    cover = np.array(hits).mean(axis=0)
    assert 0.93 <= cover[0] <= 0.97 and 0.93 <= cover[1] <= 0.97


def test_degenerate_and_bad_counts():
    r = compare_proportions(0, 100, 0, 100)
    assert math.isnan(r.p_value) and math.isnan(r.relative_uplift)
    assert math.isnan(compare_proportions(0, 100, 3, 100).relative_uplift)
    with pytest.raises(BadExperiment, match="treatment arm"):
        compare_proportions(1, 10, 11, 10)
    with pytest.raises(BadExperiment, match="alpha"):
        compare_proportions(1, 10, 1, 10, alpha=1.5)


# -- revenue per user -------------------------------------------------------------------------
@given(seed=st.integers(0, 10_000), nc=st.integers(2, 300), nt=st.integers(2, 300))
@settings(max_examples=60, deadline=None)
def test_welch_from_sums_matches_scipy_on_raw_data(seed, nc, nt):
    rng = np.random.default_rng(seed)
    c = rng.gamma(0.5, 80.0, nc) * (rng.random(nc) < 0.3)
    t = rng.gamma(0.5, 95.0, nt) * (rng.random(nt) < 0.35)
    assume(c.var() > 0 and t.var() > 0)
    mc, vc = moments(nc, c.sum(), (c * c).sum())
    mt, vt = moments(nt, t.sum(), (t * t).sum())
    assert vc == pytest.approx(c.var(ddof=1), rel=1e-8)
    r = welch_from_stats(mc, vc, nc, mt, vt, nt)
    ref = stats.ttest_ind(t, c, equal_var=False)
    assert r.t == pytest.approx(ref.statistic, rel=1e-7)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    lo, hi = ref.confidence_interval(0.95)
    assert (r.difference_low, r.difference_high) == pytest.approx((lo, hi), rel=1e-6, abs=1e-9)


def test_bootstrap_is_seeded_and_agrees_with_welch_on_a_large_sample():
    rng = np.random.default_rng(1)
    c, t = rng.normal(100, 30, 4000), rng.normal(103, 30, 4000)
    a = bootstrap_difference(c, t, n_boot=800, seed=5)
    assert a == bootstrap_difference(c, t, n_boot=800, seed=5)
    assert a != bootstrap_difference(c, t, n_boot=800, seed=6)
    w = welch_from_stats(c.mean(), c.var(ddof=1), len(c), t.mean(), t.var(ddof=1), len(t))
    assert a[0] < t.mean() - c.mean() < a[1]
    assert a == pytest.approx((w.difference_low, w.difference_high), abs=0.35)


# -- power and sample size --------------------------------------------------------------------
def test_sample_size_matches_published_tables():
    # R power.prop.test (pooled normal approximation)
    assert sample_size_per_arm(0.30, -0.05, relative=False, power=0.9) == (1674, 1674)
    assert sample_size_per_arm(0.05, 0.05, relative=False, power=0.9) == (582, 582)
    # R pwr.2p.test / statsmodels NormalIndPower (arcsine)
    assert sample_size_per_arm(0.05, 0.05, relative=False, power=0.9,
                               method="arcsine") == (568, 568)
    assert sample_size_per_arm(0.13, 0.02, relative=False, method="arcsine") == (4720, 4720)
    # Cohen's table: pick p_t so that h is exactly .2, .5, .8 from p_c = .5. The table rounds
    # to the nearest user (392.4 → 392); we round up, so power is never short of the target
    for h, table in ((0.2, 392), (0.5, 63), (0.8, 25)):
        pt = math.sin(math.asin(math.sqrt(0.5)) + h / 2) ** 2
        n, _ = sample_size_per_arm(0.5, pt - 0.5, relative=False, method="arcsine")
        assert n - 1 < table + 0.5 <= n + 0.5


def test_power_at_the_published_sizes_is_the_target():
    assert power_two_proportions(0.30, 0.25, 1673.856, 1673.856) == pytest.approx(0.9, abs=1e-5)
    assert power_two_proportions(0.05, 0.10, 581.0821, 581.0821) == pytest.approx(0.9, abs=1e-5)
    assert power_two_proportions(0.05, 0.10, 567.2579, 567.2579,
                                 method="arcsine") == pytest.approx(0.9, abs=1e-5)


@given(pc=st.floats(0.01, 0.6), mde=st.floats(0.05, 0.5), power=st.floats(0.5, 0.95),
       ratio=st.sampled_from([0.5, 1.0, 2.0]), method=st.sampled_from(["pooled", "arcsine"]))
@settings(max_examples=120, deadline=None)
def test_sample_size_is_the_smallest_that_reaches_the_power(pc, mde, power, ratio, method):
    nc, nt = sample_size_per_arm(pc, mde, power=power, ratio=ratio, method=method)
    pt = pc * (1 + mde)
    got = power_two_proportions(pc, pt, nc, ratio * nc, method=method)
    assert got >= power - 1e-9
    if nc > 1:
        assert power_two_proportions(pc, pt, nc - 1, ratio * (nc - 1), method=method) < power
    assert nt == math.ceil(ratio * nc - 1e-9)


def test_power_grows_with_size_and_impossible_mdes_are_refused():
    ps = [power_two_proportions(0.1, 0.11, n, n) for n in (100, 1000, 10_000, 100_000)]
    assert ps == sorted(ps) and ps[-1] > 0.99
    with pytest.raises(BadExperiment, match="between 0 and 1"):
        sample_size_per_arm(0.95, 0.10)
    with pytest.raises(BadExperiment, match="method"):
        sample_size_per_arm(0.1, 0.1, method="exact")


# -- sample-ratio mismatch --------------------------------------------------------------------
def test_srm_flags_55_45_on_20k_and_not_50_50():
    plan = {"A": 0.5, "B": 0.5}
    assert sample_ratio_check({"A": 11_000, "B": 9_000}, plan).mismatch
    assert not sample_ratio_check({"A": 10_000, "B": 10_000}, plan).mismatch
    # a fair coin over 20k users rarely trips the 0.001 threshold
    rng = np.random.default_rng(11)
    flags = [sample_ratio_check({"A": int(a), "B": 20_000 - int(a)}, plan).mismatch
             for a in rng.binomial(20_000, 0.5, 400)]
    assert np.mean(flags) < 0.01


def test_srm_uses_the_planned_split():
    r = sample_ratio_check({"control": 18_050, "new": 1_950}, {"control": 9, "new": 1})
    assert not r.mismatch and r.planned == {"control": 0.9, "new": 0.1}
    expected = stats.chisquare([18_050, 1_950], [18_000, 2_000])
    assert r.chi2 == pytest.approx(expected.statistic) and r.p_value == pytest.approx(
        expected.pvalue)
    # users in an arm nobody planned is a broken assignment
    assert sample_ratio_check({"A": 500, "B": 500, "C": 3}, {"A": 1, "B": 1}).mismatch
    # a planned arm never seen counts as zero users
    assert sample_ratio_check({"A": 1000}, {"A": 0.5, "B": 0.5}).mismatch


def test_arm_plans_and_control():
    assert parse_arms('{"A": 0.5, "B": 0.5}') == {"A": 0.5, "B": 0.5}
    assert parse_arms('["x", "y", "z"]') == pytest.approx({"x": 1 / 3, "y": 1 / 3, "z": 1 / 3})
    assert parse_arms(None) == {} and parse_arms(" ") == {}
    with pytest.raises(BadExperiment, match="campaign C9: arms.*not JSON"):
        parse_arms("{A: .5}", "campaign C9: arms")
    with pytest.raises(BadExperiment, match="planned share"):
        parse_arms('{"A": "half"}')
    assert control_arm({"A": 0.5, "B": 0.5}, ["B", "A"]) == "A"
    assert control_arm({"treat": 0.5, "Control": 0.5}, []) == "Control"
    assert control_arm({}, ["v2", "v1"]) == "v1"


# -- the estimator ----------------------------------------------------------------------------
def _arm_rows(cid, arm, n, conv, rev_mean=0.0):
    return {"campaign_id": cid, "arm": arm, "users": n, "converters": conv,
            "revenue": rev_mean * n, "revenue_sq": (rev_mean ** 2 + 100.0) * n}


def test_abtest_verdicts():
    arms = pd.DataFrame([
        _arm_rows("win", "A", 10_000, 1_000), _arm_rows("win", "B", 10_000, 1_200),
        _arm_rows("flat", "A", 50_000, 5_000), _arm_rows("flat", "B", 50_000, 5_010),
        _arm_rows("tiny", "A", 200, 20), _arm_rows("tiny", "B", 200, 22),
        _arm_rows("skew", "A", 11_000, 1_100), _arm_rows("skew", "B", 9_000, 1_100),
        _arm_rows("lose", "control", 8_000, 1_000), _arm_rows("lose", "new", 8_000, 800),
    ])
    camps = pd.DataFrame({"campaign_id": ["win", "flat", "tiny", "skew", "lose"],
                          "name": ["Win", "Flat", "Tiny", "Skew", "Lose"],
                          "arms": ['{"A": 0.5, "B": 0.5}'] * 4 + ['["new", "control"]']})
    res = ABTest().fit(arms, camps).results_.set_index("campaign_id")
    assert res.loc["win", "verdict"] == "uplift"
    assert res.loc["flat", "verdict"] == "no_difference"
    assert res.loc["tiny", "verdict"] == "inconclusive"
    assert res.loc["tiny", "needed_control"] > 200 and res.loc["tiny", "power"] < 0.8
    assert res.loc["skew", "verdict"] == "srm" and res.loc["skew", "srm"]
    assert res.loc["lose", "verdict"] == "drop" and res.loc["lose", "control"] == "control"
    # the table agrees with the single-comparison function
    one = compare_proportions(1_000, 10_000, 1_200, 10_000)
    assert res.loc["win", "uplift"] == pytest.approx(one.relative_uplift)
    assert res.loc["win", "uplift_low"] == pytest.approx(one.uplift_low)


def test_abtest_bootstrap_and_input_errors():
    rng = np.random.default_rng(0)
    users = pd.DataFrame({"campaign_id": "c", "arm": np.repeat(["A", "B"], 500),
                          "revenue": rng.gamma(1.0, 50.0, 1000)})
    g = users.groupby("arm")["revenue"]
    arms = pd.DataFrame({"campaign_id": "c", "arm": ["A", "B"], "users": [500, 500],
                         "converters": [100, 110], "revenue": g.sum().to_numpy(),
                         "revenue_sq": g.apply(lambda s: (s * s).sum()).to_numpy()})
    row = ABTest(bootstrap=300, seed=1).fit(arms, None, users).results_.iloc[0]
    assert row.revenue_boot_low < row.revenue_difference < row.revenue_boot_high
    ref = stats.ttest_ind(users.revenue[500:], users.revenue[:500], equal_var=False)
    assert row.revenue_p_value == pytest.approx(ref.pvalue, rel=1e-6)
    with pytest.raises(BadExperiment, match="revenue_sq"):
        ABTest().fit(arms.drop(columns="revenue_sq"))
    with pytest.raises(BadExperiment, match="per-user"):
        ABTest(bootstrap=10).fit(arms)
    with pytest.raises(BadExperiment, match="power must be"):
        ABTest(power=80).fit(arms)
    with pytest.raises(BadExperiment, match="non-zero"):
        ABTest(mde=0).fit(arms)
