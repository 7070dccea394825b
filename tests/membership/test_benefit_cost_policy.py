"""Benefit costs in the policy file (`membership.benefit_costs`): the defaults are the cost
model's planning figures and `config init` writes them, a changed figure changes the benefit
cost per level in the economics (and only where that benefit is granted), a figure left out
keeps its default, and a bad key or value is refused with its path."""

from __future__ import annotations

import pandas as pd
import pytest

from upmarket.membership import economics
from upmarket.membership.benefit_cost import DEFAULT_COSTS
from upmarket.membership.programme import Programme
from upmarket.policy import BadPolicy, Policy, default_yaml, parse_policy

#: two gold members (free shipping among their benefits), one silver, one base member
MEMBERS = pd.DataFrame({
    "customer_id": ["a", "b", "c", "d"],
    "level": ["member", "silver", "gold", "gold"],
    "previous_level": [None, None, None, None],
    "spend_window": [500.0, 3_000.0, 9_000.0, 12_000.0],
    "orders_window": [2, 5, 10, 14]})


def test_the_defaults_are_the_cost_models_and_config_init_writes_them():
    assert Policy().membership.programme().benefit_costs == DEFAULT_COSTS
    text = default_yaml()
    block = text[text.index("  benefit_costs:"):]
    assert "# share of members' net spend" in text
    assert "free_shipping:" in block and "per_order: 8.0" in block
    assert "dedicated_manager:" in block and "per_member_year: 600.0" in block
    assert parse_policy(text).membership.programme() == Programme()


def test_a_changed_cost_changes_the_benefit_cost_per_level():
    before = economics.benefit_cost(MEMBERS, Policy().membership.programme())
    programme = parse_policy("""
membership:
  benefit_costs:
    free_shipping: {per_order: 12}
    birthday_gift: {per_member_year: 50}
""").settings().membership
    assert programme.benefit_costs["free_shipping"].per_order == 12
    # the figures not given keep their defaults
    assert programme.benefit_costs["member_price"] == DEFAULT_COSTS["member_price"]
    after = economics.benefit_cost(MEMBERS, programme)
    # gold: 24 orders ship at 4 more each, 2 birthday gifts at 20 more each
    assert after["gold"]["cost"] - before["gold"]["cost"] == pytest.approx(24 * 4 + 2 * 20)
    assert after["gold"]["per_member"] - before["gold"]["per_member"] == pytest.approx(68)
    # silver has a birthday gift but no free shipping
    assert after["silver"]["cost"] - before["silver"]["cost"] == pytest.approx(20)
    # the base level grants neither
    assert after["member"] == before["member"]


def test_the_programmes_costs_reach_the_whole_economics():
    programme = parse_policy("membership: {benefit_costs: {member_price: {spend_share: 0.1}}}"
                             ).membership.programme()
    empty = pd.DataFrame({"customer_id": MEMBERS["customer_id"], "points": 0, "kind": "earn",
                          "expires_at": pd.NaT, "earned_year": 2026})
    balances = pd.DataFrame({"customer_id": MEMBERS["customer_id"], "closing": 0, "earned": 0,
                             "redeemed": 0, "period_start": pd.Timestamp("2026-01-01")})
    found = economics.economics(MEMBERS, empty, balances, programme,
                                pd.Timestamp("2026-03-01"))
    # member prices are the base level's only benefit: a tenth of its 500 of spend
    assert found["benefit_cost"]["member"]["cost"] == pytest.approx(50.0)


@pytest.mark.parametrize("text, message", [
    ("membership: {benefit_costs: {free_shipping: {per_order: -1}}}",
     "membership.benefit_costs.free_shipping.per_order: must be 0 or more"),
    ("membership: {benefit_costs: {member_price: {spend_share: 3}}}",
     "membership.benefit_costs.member_price.spend_share: must be between 0 and 1"),
    ("membership: {benefit_costs: {free_shiping: {per_order: 5}}}",
     "membership.benefit_costs.free_shiping: unknown key; did you mean 'free_shipping'?"),
    ("membership: {benefit_costs: {birthday_gift: {per_year: 5}}}",
     "membership.benefit_costs.birthday_gift.per_year: unknown key"),
])
def test_bad_costs_are_named_by_their_path(text, message):
    with pytest.raises(BadPolicy) as found:
        parse_policy(text, "shop.yaml")
    assert str(found.value).startswith("shop.yaml: ") and message in str(found.value)
