"""The demo world's campaign A/B tests behave like real ones: one arm per person and campaign in
the planned split, and an A/B analysis of the warehouse recovers the true uplifts that
`campaign_uplifts` reports (the generator's own knowledge, not stored in the warehouse)."""

from __future__ import annotations

import json
from collections import defaultdict
from types import SimpleNamespace

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from upmarket.demo.world import (EXPERIMENT_WINDOW_DAYS, WorldConfig, _arms, campaign_uplifts,
                                 generate_world)
from upmarket.features.experiments import experiment_arms
from upmarket.models.experiments import ABTest

CFG = WorldConfig(customers=20_000, seed=0)  # the default demo world


@pytest.fixture(scope="module")
def world():
    parts = defaultdict(list)
    for name, frame in generate_world(CFG):
        if name in ("events", "orders", "campaigns"):
            parts[name].append(frame)
    w = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
    con = ibis.duckdb.connect()
    arms = experiment_arms(con.create_table("events", w["events"]),
                           con.create_table("orders", w["orders"]), CFG.as_of,
                           EXPERIMENT_WINDOW_DAYS).to_pandas()
    res = ABTest().fit(arms, w["campaigns"]).results_
    truth = campaign_uplifts(CFG).set_index("campaign_id")
    return w, arms, res.set_index("campaign_id").join(truth.rename(columns={"uplift": "true"}))


def test_each_person_has_one_arm_per_campaign(world):
    w, arms, _ = world
    e = w["events"]
    arm = e.properties.str.extract(r'"arm"\s*:\s*"([^"]*)"')[0]
    on = e.campaign_id.notna()
    # every campaign exposure carries an arm, nothing else does
    assert arm[on].isin(["A", "B"]).all() and arm[~on].isna().all()
    # a device id is one person (customers keep theirs after registering)
    per_person = pd.DataFrame({"c": e.campaign_id[on], "p": e.anonymous_id[on],
                               "a": arm[on]}).groupby(["c", "p"]).a.nunique()
    assert len(per_person) > 1_000 and (per_person == 1).all()
    assert arms.mixed_users.sum() == 0


def test_arms_follow_the_planned_split(world):
    w, arms, res = world
    plan = {r.campaign_id: json.loads(r.arms) for r in w["campaigns"].itertuples()}
    truth = campaign_uplifts(CFG).set_index("campaign_id")
    assert {k: v["B"] for k, v in plan.items()} == truth.treatment_share.to_dict()
    assert set(truth.treatment_share) == {0.5, 0.8}  # both 50/50 and holdout designs occur
    users = arms.pivot(index="campaign_id", columns="arm", values="users")
    n = users.sum(axis=1)
    share = users["B"] / n
    pi = truth.treatment_share.reindex(users.index)
    # binomial: within 4 standard errors of the plan, and no sample-ratio alarm
    assert (abs(share - pi) < 4 * np.sqrt(pi * (1 - pi) / n)).all()
    assert not res.srm.any()


def test_the_ab_analysis_recovers_the_true_uplifts(world):
    _, _, res = world
    assert len(res) >= 10
    rho = stats.spearmanr(res.uplift, res["true"]).statistic
    assert rho > 0.5, rho
    # the Katz intervals cover the truth about as often as they claim (95%)
    covered = (res.uplift_low <= res["true"]) & (res["true"] <= res.uplift_high)
    assert covered.mean() >= 0.8
    # big true uplifts are detected; no campaign with a real effect is judged a drop
    big = res[res["true"] >= 0.25]
    assert len(big) and (big.verdict == "uplift").mean() >= 2 / 3
    assert not (res.verdict == "drop").any()
    # pooled over campaigns, the estimates are unbiased for the truth
    assert abs((res.uplift - res["true"]).mean()) < 0.05


@settings(max_examples=25, deadline=None)
@given(u=st.floats(0.0, 1.0), pi=st.sampled_from([0.2, 0.5, 0.8]), c=st.floats(0.05, 0.6),
       seed=st.integers(0, 2**16))
def test_arm_draws_give_the_planned_split_and_the_uplift(u, pi, c, seed):
    # the Bayes-rule assignment on its own: 200k people exposed once at day 10, a share c of
    # whom bought inside the window; arm B must hold a share pi and convert (1 + u)× as often
    rng = np.random.default_rng(seed)
    n = 200_000
    buys = rng.random(n) < c
    ctx = SimpleNamespace(camp_ids=np.array(["K"]), camp_uplift=np.array([u]),
                          camp_share_b=np.array([pi]), E=400.0, T=365.0)
    late = np.nonzero(~buys)[0][: n // 10]  # some buy only after the window: not converted
    o_cust = np.concatenate([np.nonzero(buys)[0], late])
    o_t = np.concatenate([np.full(buys.sum(), 10.5),
                          np.full(len(late), 10.0 + EXPERIMENT_WINDOW_DAYS + 1)])
    srt = np.lexsort((o_t, o_cust))
    arm = _arms(ctx, np.random.default_rng(seed + 1), n, np.zeros(n, np.int64), np.arange(n),
                np.full(n, 10.0), o_cust[srt], o_t[srt])
    b = arm == "B"
    assert set(arm) <= {"A", "B"}
    assert abs(b.mean() - pi) < 5 * np.sqrt(pi * (1 - pi) / n)
    p_a, p_b = buys[~b].mean(), buys[b].mean()
    # delta-method standard error of the log rate ratio
    se = np.sqrt((1 - p_a) / buys[~b].sum() + (1 - p_b) / buys[b].sum())
    assert abs(np.log(p_b / p_a) - np.log1p(u)) < 5 * se


def test_campaign_uplifts_match_the_campaigns_table():
    cfg = WorldConfig(customers=300, seed=3)
    camps = next(f for name, f in generate_world(cfg) if name == "campaigns")
    truth = campaign_uplifts(cfg)
    assert truth.campaign_id.tolist() == camps.campaign_id.tolist()
    assert truth.uplift.between(0.0, 0.4).all()
    assert truth.equals(campaign_uplifts(cfg))  # deterministic from the seed
