"""Learning from control groups: with no measurement the defaults stand; a precise measurement
moves the response probability to it, a weak one barely; an action measured to do nothing is
switched off and the next best action stops choosing it; the values used are recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.strategy import action_feedback as F
from upmarket.strategy import nba
from upmarket.strategy.action_impact import effects


def decisions(action: str, n: int, p: float = 0.08, gain: float = 100.0) -> pd.DataFrame:
    # a contact costing 2 and an offer costing 10 on every converting order: at a baseline of
    # 20 % the action pays from (2 + 0.2 × 10) / 100 = 4 points of extra conversion
    return pd.DataFrame({"action": action, "held_out": np.arange(n) % 10 == 0,
                         "probability": p, "conversion_gain": gain, "contact_cost": 2.0,
                         "offer_cost": 10.0})


def measured(action: str, n: int, effect: float, rng) -> pd.DataFrame:
    held = np.arange(n) % 10 == 0
    conv = (rng.uniform(size=n) < 0.2 + np.where(held, 0, effect)).astype(float)
    return pd.DataFrame({"action": action, "tier": "basic", "held_out": held,
                         "conversion": conv, "revenue": conv * 300, "margin": conv * 100})


def test_defaults_stand_without_measurements_and_move_with_evidence():
    rng = np.random.default_rng(2)
    d = pd.concat([decisions("referral_ask", 50), decisions("onboarding", 50, p=0.15)])
    learned, used = F.learn(effects(pd.DataFrame(columns=["action", "tier", "held_out",
                                                          "conversion", "revenue", "margin"])),
                            d)
    # nothing measured yet: the defaults stand while the actions are explored
    assert set(used["status"]) == {"exploring"}
    assert (used["holdout_share"] == F.FeedbackSettings().explore_share).all()
    _, used = F.learn(effects(pd.DataFrame(columns=["action", "tier", "held_out", "conversion",
                                                    "revenue", "margin"])), d,
                      feedback=F.FeedbackSettings(rule="posterior"))
    assert set(used["status"]) == {"prior"}
    assert learned.response_scale == {"referral_ask": 1.0, "onboarding": 1.0}
    # a large measurement of +0.15 for onboarding (its default), of 0 for the referral ask
    big = pd.concat([measured("onboarding", 20_000, 0.15, rng),
                     measured("referral_ask", 20_000, 0.0, rng)])
    learned, used = F.learn(effects(big), d)
    u = used.set_index("action")
    q = effects(big).set_index(["action", "tier"]).loc[("referral_ask", "all"),
                                                       "conversion_held_out"]
    assert u.loc["referral_ask", "worthwhile"] == pytest.approx((2 + q * 10) / 100)
    assert u.loc["referral_ask", "status"] in ("futile", "shown_to_harm")
    assert learned.response_scale["referral_ask"] == 0.0
    assert u.loc["onboarding", "status"] == "shown_to_help"
    assert u.loc["onboarding", "posterior_conversion"] == pytest.approx(0.15, abs=0.02)
    # few held-out customers: the posterior stays nearer the prior (20 pseudo-customers
    # against 20 held out, whose difference is the noisier of the two)
    small = measured("onboarding", 200, 0.5, rng)
    _, used = F.learn(effects(small), d)
    post = used.set_index("action").loc["onboarding", "posterior_conversion"]
    e = effects(small).set_index("tier").loc["all", "conversion_difference"]
    assert 0.15 < post < e and post - 0.15 < (e - 0.15) / 2


def test_the_next_best_action_stops_choosing_a_switched_off_action():
    c = pd.DataFrame({"customer_id": ["a", "b"], "tier": "basic", "clv": [500.0, 600.0],
                      "latest_nps": 10, "orders": 5, "expected_order_value": 80.0,
                      "lifecycle_stage": "loyalty"})
    consents = pd.DataFrame({"customer_id": ["a", "b"], "channel": "email", "granted": True})
    products = pd.DataFrame({"sku": ["P"], "name": ["p"], "category": ["x"],
                             "price_tier": ["mid"], "price": [80.0], "cost": [40.0]})
    before = nba.next_best_actions(c, products=products, consents=consents)
    assert (before["action"] == "referral_ask").all()
    off = nba.NbaSettings(response_scale={"referral_ask": 0.0})
    after = nba.next_best_actions(c, products=products, consents=consents, settings=off)
    assert not (after["action"] == "referral_ask").any()
    # the defaults' view travels with the decision, for the next measurement's prior
    assert after["prior_probability"].notna().equals(after["action"] != "no_contact")
    half = nba.next_best_actions(c, products=products, consents=consents,
                                 settings=nba.NbaSettings(response_scale={"referral_ask": 0.5}))
    assert half["probability"].to_numpy() == pytest.approx(before["probability"] / 2)
    assert half["prior_probability"].to_numpy() == pytest.approx(before["probability"])
