"""Next best action: the choice is the expected-value maximum, consent and caps always win,
routing follows the tier policy, the reasons state the facts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from upmarket.strategy import nba
from upmarket.strategy.tiers import TIER_ORDER, TierPolicy

PRODUCTS = pd.DataFrame({
    "sku": ["B1", "P1", "X1", "Y1"],
    "name": ["Basic one", "Premium one", "Cross one", "Bundle one"],
    "category": ["c", "c", "d", "d"],
    "price_tier": ["basic", "premium", "mid", "mid"],
    "price": [100.0, 400.0, 50.0, 80.0],
    "cost": [70.0, 200.0, 30.0, 40.0],
})


def customer(cid, tier="potential", **kw):
    row = {"customer_id": cid, "tier": tier, "clv": 300.0, "churn_risk": 0.2, "p_alive": 0.8,
           "expected_purchases_90d": 0.5, "expected_order_value": 100.0, "margin_rate": 0.3,
           "orders": 3, "tenure_days": 300.0, "recency_days": 20.0, "lifecycle_stage": "retention",
           "latest_nps": 7.0, "premium_propensity": 0.3, "peer_upgrade_rate": 0.38,
           "current_tier": "mid", "main_category": "espresso_machines", "months_since_last": 5.0,
           "churn_signals": "few orders: 3 in 10 months",
           "churn_signals_zh": "10 个月仅下单 3 次"}
    row.update(kw)
    return row


def all_consents(ids, channels=("email", "sms", "wechat", "phone", "app_push"), granted=True):
    return pd.DataFrame([{"customer_id": c, "channel": ch, "granted": granted}
                         for c in ids for ch in channels])


def run(customers, **kw):
    c = pd.DataFrame(customers)
    kw.setdefault("consents", all_consents(c["customer_id"]))
    kw.setdefault("upsell", pd.DataFrame({"customer_id": c["customer_id"], "sku": "P1"}))
    return nba.next_best_actions(c, products=PRODUCTS, **kw)


def test_upsell_expected_value_is_computed_from_its_parts():
    out = run([customer("a")]).iloc[0]
    assert out.action == "upsell"
    margin = 400.0 - 200.0
    offer = 0.10 * 400.0  # the default time-limited 10 % off
    assert out.conversion_margin == pytest.approx(margin)
    assert out.offer_cost == pytest.approx(offer)
    assert out.expected_value == pytest.approx(0.3 * (margin - offer) - out.contact_cost)
    assert out.sku == "P1" and out.product_name == "Premium one"
    assert out.reason_en == ("Bought mid-range espresso machines 5 months ago; 38% of similar "
                             "customers upgraded to premium within 6 months")
    assert "38%" in out.reason_zh and "高端" in out.reason_zh


def test_contact_cost_follows_the_tier_policy():
    policy = TierPolicy()
    c = pd.DataFrame([customer("d", "diamond", clv=12_000.0), customer("b", "basic", clv=60.0)])
    cost = nba.contact_costs(c, policy)
    assert cost["diamond"] == pytest.approx(0.15 * 12_000 / (12 * 8))
    assert cost["basic"] == pytest.approx(0.03 * 60 / (12 * 2))


def test_routing_by_tier_with_response_time_as_due():
    rows = [customer(t, t) for t in TIER_ORDER]
    out = run(rows).set_index("customer_id")
    policy = TierPolicy()
    for t in ("diamond", "core"):
        assert out.loc[t, "route"] == "account_manager"
        assert out.loc[t, "due_hours"] == policy.level(t).response_hours
        assert out.loc[t, "channel"] in nba.NbaSettings().personal_channels
    for t in ("potential", "basic"):
        assert out.loc[t, "route"] == "automated" and np.isnan(out.loc[t, "due_hours"])
        assert out.loc[t, "channel"] in nba.NbaSettings().automated_channels


def test_no_consent_means_no_contact_and_withdrawn_channels_are_never_used():
    rows = [customer("none"), customer("sms_only"), customer("diamond_email", "diamond")]
    consents = pd.concat([
        all_consents(["none"], granted=False),
        all_consents(["sms_only"], ("sms",)),
        all_consents(["sms_only"], ("email", "wechat", "app_push", "phone"), granted=False),
        all_consents(["diamond_email"], ("email",)),
        all_consents(["diamond_email"], ("sms", "phone"), granted=False),
    ])
    out = run(rows, consents=consents).set_index("customer_id")
    assert out.loc["none", "action"] == "no_contact"
    assert out.loc["none", "reason_en"].startswith("No marketing consent")
    assert out.loc["sms_only", "channel"] == "sms"
    assert out.loc["diamond_email", "channel"] == "email"


def test_channel_is_the_consented_one_they_respond_on():
    rows = [customer("a"), customer("b")]
    responses = pd.DataFrame({"customer_id": ["a", "a", "b"], "channel": ["wechat", "email", "sms"],
                              "responses": [5, 2, 9]})
    consents = pd.concat([all_consents(["a"]), all_consents(["b"], ("email", "app_push"))])
    out = run(rows, consents=consents, responses=responses).set_index("customer_id")
    assert out.loc["a", "channel"] == "wechat"
    # b responds on sms but never consented to it: the preferred consented channel instead
    assert out.loc["b", "channel"] == "app_push"


def test_contact_cap_per_tier():
    cap = TierPolicy().level("basic").contacts_per_month
    rows = [customer("at_cap", "basic"), customer("below", "basic")]
    contacts = pd.DataFrame({"customer_id": ["at_cap", "below"], "contacts": [cap, cap - 1]})
    out = run(rows, contacts=contacts).set_index("customer_id")
    assert out.loc["at_cap", "action"] == "no_contact"
    assert f"cap is {cap}" in out.loc["at_cap", "reason_en"]
    assert out.loc["below", "action"] != "no_contact"


def test_send_hour_is_the_active_hour_within_working_hours_for_managers():
    rows = [customer("night_owl", "basic"), customer("night_owl_vip", "diamond"),
            customer("unknown", "basic")]
    hours = pd.DataFrame({"customer_id": ["night_owl", "night_owl_vip"], "active_hour": [23, 23]})
    out = run(rows, hours=hours).set_index("customer_id")
    assert out.loc["night_owl", "send_hour"] == 23
    assert out.loc["night_owl_vip", "send_hour"] == nba.NbaSettings().default_send_hour
    assert out.loc["unknown", "send_hour"] == nba.NbaSettings().default_send_hour


def test_life_stage_actions():
    rows = [
        customer("lapsed", lifecycle_stage="lapsed", premium_propensity=0.9, recency_days=400,
                 p_alive=0.05),
        customer("new", orders=1, tenure_days=10, premium_propensity=np.nan),
        customer("fan", latest_nps=10, premium_propensity=np.nan, orders=12),
        customer("leaving", churn_risk=0.9, clv=2000.0, premium_propensity=np.nan),
    ]
    out = run(rows, upsell=pd.DataFrame(columns=["customer_id", "sku"])).set_index("customer_id")
    assert out.loc["lapsed", "action"] == "win_back"  # never upsell to the lapsed
    assert out.loc["lapsed", "reason_en"] == "No purchase for 400 days; 5% chance they are still active"
    assert out.loc["new", "action"] == "onboarding"
    assert out.loc["fan", "action"] == "referral_ask"
    assert out.loc["fan", "reason_zh"].startswith("推荐者（NPS 10）")
    assert out.loc["leaving", "action"] == "retention_offer"
    assert "90%" in out.loc["leaving", "reason_en"]
    # the retention reason quotes the customer's own signals, in each language
    assert "few orders: 3 in 10 months" in out.loc["leaving", "reason_en"]
    assert "10 个月仅下单 3 次" in out.loc["leaving", "reason_zh"]


def test_nothing_worth_its_cost_is_no_contact():
    settings = nba.NbaSettings(nurture_rate=0.0)
    rows = [customer("poor", "basic", premium_propensity=np.nan, expected_purchases_90d=0.0)]
    out = run(rows, settings=settings, upsell=pd.DataFrame(columns=["customer_id", "sku"]))
    assert out.iloc[0].action == "no_contact"
    assert out.iloc[0].reason_en.startswith("No action is worth its cost")


def test_offer_cost_models():
    v = np.array([50.0, 200.0])
    assert nba.Offer("percent_discount", 0.1).cost(v) == pytest.approx([5, 20])
    assert nba.Offer("threshold_discount", 30).cost(v) == pytest.approx([30, 30])
    assert nba.Offer("coupon", 80).cost(v) == pytest.approx([50, 80])  # never more than the order
    assert nba.Offer("gift", 12).cost(v) == pytest.approx([12, 12])
    assert nba.Offer("points", 0.1, redemption=0.5).cost(v) == pytest.approx([2.5, 10])
    with pytest.raises(ValueError, match="not one of"):
        nba.Offer("free_money", 1)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(TIER_ORDER), st.floats(0, 1), st.floats(0, 1),
                          st.floats(0, 3), st.booleans(), st.integers(0, 10)),
                min_size=1, max_size=6))
def test_choice_is_the_best_allowed_action(rows):
    customers, consents, contacts = [], [], []
    for i, (tier, prop, risk, purchases, consent, sent) in enumerate(rows):
        cid = f"c{i}"
        customers.append(customer(cid, tier, premium_propensity=prop, churn_risk=risk,
                                  expected_purchases_90d=purchases))
        consents.append(all_consents([cid], granted=consent))
        contacts.append({"customer_id": cid, "contacts": sent})
    consents = pd.concat(consents)
    out = run(customers, consents=consents, contacts=pd.DataFrame(contacts),
              cross_sell=pd.DataFrame({"customer_id": [c["customer_id"] for c in customers],
                                       "sku": "X1"}))
    policy = TierPolicy()
    for (tier, _, _, _, consent, sent), o in zip(rows, out.itertuples()):
        blocked = not consent or sent >= policy.level(tier).contacts_per_month
        if blocked:
            assert o.action == "no_contact" and pd.isna(o.channel)
        else:
            assert o.action != "no_contact" or o.reason_en.startswith("No action is worth")
        if o.action != "no_contact":
            assert o.expected_value > 0
            assert o.expected_value == pytest.approx(
                o.probability * (o.conversion_margin - o.offer_cost) - o.contact_cost)
        if o.action != "no_contact" and o.Index == 0:
            # the single-customer choice agrees with the batch choice
            alone = run([customers[int(o.customer_id[1:])]],
                        consents=all_consents([o.customer_id]),
                        cross_sell=pd.DataFrame({"customer_id": [o.customer_id], "sku": "X1"}))
            assert alone.iloc[0].action == o.action
        assert o.reason_en and o.reason_zh
