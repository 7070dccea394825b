"""Control groups on every action: the hash assignment is stable across runs, independent
across action types, holds the configured share per tier (none where the share is 0); a
held-out customer's next best action becomes no contact with a reason, and every decision,
treated or held out, is recorded once; a customer rule fires nothing for its control group."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket.activation import holdout as H
from upmarket.activation import rules as R
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.warehouse.runs import Run

TIERS = np.array(["diamond", "core", "potential", "basic"])


def decisions(n: int, action: str = "upsell", random_state: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(random_state)
    return pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)],
                         "tier": TIERS[rng.integers(0, 4, n)], "action": action})


def test_assignment_is_stable_has_its_share_and_is_independent_across_actions():
    d = decisions(20_000)
    settings = H.HoldoutSettings(share=0.10, per_tier={"diamond": 0.0, "core": 0.25})
    a = H.assign(d, "salt-1", settings)
    assert a.equals(H.assign(d, "salt-1", settings))  # the same groups in every run
    share = a.groupby("tier")["held_out"].mean()
    assert share["diamond"] == 0.0
    # binomial: 5 000 customers a tier, 3.5 standard errors either way
    assert abs(share["core"] - 0.25) < 3.5 * np.sqrt(0.25 * 0.75 / 4000)
    for t in ("potential", "basic"):
        assert abs(share[t] - 0.10) < 3.5 * np.sqrt(0.09 / 4000)
    # another action type (or salt) draws a different, unrelated control group
    other = H.assign(d.assign(action="win_back"), "salt-1", settings)
    both = (a["held_out"] & other["held_out"]).mean()
    nondiamond = a["tier"] != "diamond"
    assert 0 < both < a["held_out"].mean()
    assert not a["held_out"].equals(H.assign(d, "salt-2", settings)["held_out"])
    assert set(a.loc[~nondiamond, "holdout_share"]) == {0.0}
    u = H.uniform("s", d["customer_id"], d["action"])
    assert ((u >= 0) & (u < 1)).all() and abs(u.mean() - 0.5) < 0.01


def test_settings_refuse_bad_shares_and_tiers():
    with pytest.raises(ValueError, match="per_tier.core must be at least 0 and below 1"):
        H.HoldoutSettings(per_tier={"core": 1.0})
    with pytest.raises(ValueError, match="unknown tiers gold"):
        H.HoldoutSettings(per_tier={"gold": 0.1})


def nba_frame(n: int) -> pd.DataFrame:
    d = decisions(n)
    d["action"] = np.where(np.arange(n) % 5 == 0, "no_contact", "upsell")
    contact = d["action"] != "no_contact"
    return d.assign(offer_type=np.where(contact, "time_limited", None),
                    offer_value=np.where(contact, 0.1, np.nan), sku=np.where(contact, "P1", None),
                    product_name=None, probability=np.where(contact, 0.2, np.nan),
                    conversion_margin=np.where(contact, 50.0, np.nan),
                    offer_cost=np.where(contact, 10.0, np.nan),
                    contact_cost=np.where(contact, 1.0, np.nan),
                    expected_value=np.where(contact, 7.0, 0.0),
                    route=np.where(contact, "automated", "none"),
                    channel=np.where(contact, "email", None), send_hour=10.0, due_hours=np.nan,
                    reason_en="r", reason_zh="r")


def test_held_out_customers_get_no_contact_and_every_decision_is_recorded(wh):
    acts = nba_frame(2000)
    salt = H.salt(wh)
    assert H.salt(wh) == salt and len(salt) == 32  # drawn once, then kept
    out, decided = H.hold_out_actions(acts, salt)
    contact = acts["action"] != "no_contact"
    assert len(decided) == contact.sum() and set(decided["action"]) == {"upsell"}
    held = out["held_out"]
    assert 100 < held.sum() < 230  # 10 % of 1 600
    assert (out.loc[held, "action"] == "no_contact").all()
    assert out.loc[held, "channel"].isna().all() and (out.loc[held, "route"] == "none").all()
    assert (out.loc[held, "decided_action"] == "upsell").all()
    assert out.loc[held, "reason_en"].str.startswith(
        "Held out as the control group of upsell to premium (10% of the tier)").all()
    assert out.loc[held, "reason_zh"].str.contains("对照组").all()
    assert (out.loc[~held & contact, "action"] == "upsell").all()
    assert decided["conversion_gain"].eq(40.0).all()
    # what the contact and the offer cost, for the effect at which the action pays
    assert decided["contact_cost"].eq(1.0).all() and decided["offer_cost"].eq(10.0).all()

    run = Run(wh, datetime(2025, 7, 1))
    assert H.record(wh, decided, run_id=run.run_id, decided=run.as_of) == len(decided)
    assert H.record(wh, decided, run_id=run.run_id, decided=run.as_of) == 0  # once per run
    assert H.assignments(wh).empty  # not published yet: nothing counts
    run.publish({})
    got = H.assignments(wh)
    assert len(got) == len(decided) and got["held_out"].sum() == held.sum()
    assert set(got["source"]) == {"nba"} and (got["decided"] == pd.Timestamp("2025-07-01")).all()
    assert got["offer_cost"].eq(10.0).all()


RULE = """
rules:
  - name: call_at_risk
    when: {customer: ["churn_risk > 0.5"]}
    actions: [{task: {title: "Call {customer_id}"}}]
"""


def test_a_customer_rule_fires_nothing_for_its_control_group(wh, tmp_path):
    import yaml

    res = decisions(600).drop(columns="action").assign(churn_risk=0.9)
    run = Run(wh, datetime(2025, 7, 1))
    run.write("results", res)
    run.publish({})
    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    try:
        settings = H.HoldoutSettings(share=0.3)
        fired = R.evaluate_run(wh, store, run.run_id, R.parse_rules(yaml.safe_load(RULE), "t"),
                               datetime(2026, 1, 1), holdout_settings=settings)
        tasks = {t["customer_id"] for t in auto.list_tasks(store)}
    finally:
        store.close()
    got = H.assignments(wh)
    assert len(got) == 600 and set(got["action"]) == {"rule:call_at_risk"}
    assert set(got["source"]) == {"rule"}
    held = set(got.loc[got["held_out"], "customer_id"])
    assert 130 < len(held) < 230
    assert {a.subject for a in fired} == tasks == set(res["customer_id"]) - held


def test_holding_out_in_place_gives_the_same_actions_and_decisions():
    """A caller done with the decided frame (the run) lets the control groups be drawn in it,
    with the answer of a copy; by default the frame given is left as it was."""
    acts = nba_frame(3000)
    acts.loc[acts.index % 7 == 1, "action"] = "win_back"
    before = acts.copy()
    settings = H.HoldoutSettings(share=0.10, per_tier={"core": 0.25})
    out, decided = H.hold_out_exploring(acts, "s", settings, pd.DataFrame(), pd.DataFrame())
    pd.testing.assert_frame_equal(acts, before)
    assert out["held_out"].any() and set(decided["action"]) == {"upsell", "win_back"}
    mine = before.copy()
    out2, decided2 = H.hold_out_exploring(mine, "s", settings, pd.DataFrame(), pd.DataFrame(),
                                          copy=False)
    assert out2 is mine
    pd.testing.assert_frame_equal(out2, out)
    pd.testing.assert_frame_equal(decided2, decided)
