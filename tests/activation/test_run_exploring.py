"""`upmarket run` explores as the simulated cycles do: an action still exploring holds out of
its new customers more than the policy's share (toward `min_held_out`, at most
`explore_share`), a customer decided before keeps the group and share of their first decision,
and a tier the policy serves in full (share 0) has nobody held out, whatever before. Every
decision is recorded with what the next best action priced, the costs the futility rule
weighs."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from upmarket import pipeline
from upmarket.activation import holdout
from upmarket.demo import WorldConfig
from upmarket.demo.action_loop import SIMULATED
from upmarket.demo.load import load_world
from upmarket.models.value import ValueSettings
from upmarket.strategy import action_impact
from upmarket.strategy.nba import ACTIONS
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run
from upmarket.warehouse.schema import RUNS

CONFIG = WorldConfig(customers=300, seed=4)
EARLIER = 0.3  # the share the earlier run held out: neither the default nor the explore share
SETTINGS = pipeline.Settings(value=ValueSettings(candidates=("bgnbd",)),
                             holdout=holdout.HoldoutSettings(per_tier={"diamond": 0.0}))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explore")
    wh = connect(f"duckdb://{folder}/w.duckdb")
    load_world(wh, CONFIG)
    # an earlier run decided every action type for every other customer, at a share of its own
    ids = wh.table("customers").select("customer_id").to_pandas()["customer_id"].astype(str)
    old = ids.iloc[::2].to_numpy()
    past = pd.DataFrame({"customer_id": np.repeat(old, len(ACTIONS) - 1),
                         "action": np.tile(ACTIONS[:-1], len(old)), "tier": "core"})
    salt = holdout.salt(wh)
    past = holdout.assign(past, salt, holdout.HoldoutSettings(share=EARLIER))
    past = past.assign(probability=0.1, conversion_gain=50.0)
    earlier = Run(wh, CONFIG.as_of - timedelta(days=60))
    holdout.record(wh, past, run_id=earlier.run_id, decided=earlier.as_of)
    # counted as the simulated cycles' runs are, without becoming the run others read
    wh.insert(RUNS.name, pd.DataFrame([earlier._row(SIMULATED, {})]))
    ctx = pipeline.run(wh, CONFIG.as_of, settings=SETTINGS,
                       store_url=f"sqlite:///{folder}/ops.sqlite")
    d = action_impact.decisions(wh)
    wh.close()
    # the next best action's decisions (the automation rules' have control groups of their own)
    now = d[(d["run_id"] == ctx.run.run_id) & (d["source"] == "nba")]
    yield ctx, past, now


def test_customers_decided_before_keep_their_first_group(world):
    ctx, past, now = world
    again = now.merge(past, on=["action", "customer_id"], suffixes=("", "_first"))
    assert len(again) > 20
    served = again[again["tier"] != "diamond"]
    assert (served["holdout_share"] == EARLIER).all()
    assert (served["held_out"] == served["held_out_first"]).all()


def test_a_tier_served_in_full_has_nobody_held_out(world):
    ctx, _, now = world
    diamond = now[now["tier"] == "diamond"]
    assert len(diamond) > 0
    assert (diamond["holdout_share"] == 0).all() and not diamond["held_out"].any()
    acts = ctx.tables["actions"]
    assert not acts.loc[acts["tier"] == "diamond", "held_out"].any()


def test_new_customers_of_an_exploring_action_are_held_out_more(world):
    ctx, past, now = world
    learned = ctx.tables["nba_learned"].set_index("action")["status"]
    key = pd.MultiIndex.from_frame(past[["action", "customer_id"]])
    new = now[~pd.MultiIndex.from_frame(now[["action", "customer_id"]]).isin(key)
              & (now["tier"] != "diamond")]
    exploring = new[new["action"].map(learned).eq("exploring")]
    assert exploring["action"].nunique() >= 2
    default, most = SETTINGS.holdout.share, SETTINGS.feedback.explore_share
    for action, g in exploring.groupby("action"):
        held_before = int(past.loc[past["action"] == action, "held_out"].sum())
        # the share that brings the control group to `min_held_out`, within the bounds
        want = np.clip((SETTINGS.feedback.min_held_out - held_before) / len(g), default, most)
        assert g["holdout_share"].eq(want).all(), (action, g["holdout_share"].unique(), want)
        assert want > default
    # the treated customers' actions are carried out; the held-out get nothing
    acts = ctx.tables["actions"].set_index("customer_id")
    held = now.loc[now["held_out"], "customer_id"]
    assert (acts.loc[held, "action"] == "no_contact").all()


def test_every_decision_carries_what_it_was_priced_at(world):
    _, _, now = world
    assert len(now) > 0
    assert now["contact_cost"].notna().all() and (now["contact_cost"] >= 0).all()
    assert now["offer_cost"].notna().all() and (now["offer_cost"] >= 0).all()
