"""The programme in the policy file: the built-in default is the engine's, a changed programme
reaches the run's settings, and a bad value is refused with its key path."""

from __future__ import annotations

import pytest

from upmarket.membership.programme import Programme
from upmarket.pipeline import Settings
from upmarket.policy import BadPolicy, Policy, default_yaml, parse_policy


def test_the_default_programme_is_the_engines_and_reads_back_from_config_init():
    assert Policy().membership.programme() == Programme() == Settings().membership
    text = default_yaml()
    assert "# levels[3]" in text and "黑金" in text
    assert parse_policy(text).membership.programme() == Programme()
    names = [(lv.name, lv.name_zh) for lv in Programme().levels]
    assert names == [("Member", "普通会员"), ("Silver", "银卡"), ("Gold", "金卡"),
                     ("Black Gold", "黑金")]


def test_a_changed_programme_reaches_the_settings():
    policy = parse_policy("""
membership:
  grace_days: 30
  evaluation: quarterly
  levels:
    - {code: base, name: Base, name_zh: 普通会员}
    - {code: vip, name: VIP, name_zh: 贵宾, min_orders: 5, multiplier: 3}
""")
    got = policy.settings().membership
    assert got.grace_days == 30 and got.evaluation == "quarterly" and got.codes == ["base", "vip"]
    vip = got.level("vip")
    assert vip.multiplier == 3 and vip.qualifies([0, 0], [4, 5]).tolist() == [False, True]
    # the other keys keep their defaults
    assert got.points_per_unit == 1.0 and got.window_months == 12


LEVELS = "membership: {levels: [{code: member, name: M, name_zh: 会员}, %s]}"


@pytest.mark.parametrize("text, message", [
    (LEVELS % "{code: gold, name: G, name_zh: 金, min_spend: -3}",
     "membership.levels[1].min_spend: must be 0 or more"),
    (LEVELS % "{code: gold, name: G, name_zh: 金, min_spend: 9, colour: red}",
     "membership.levels[1].colour: unknown key (allowed here: code, name, name_zh, min_spend"),
    (LEVELS % "{code: gold, name: G, name_zh: 金}",
     "levels[1] (gold): needs min_spend or min_orders above 0"),
    (LEVELS % "{code: gold, name: G, name_zh: 金, min_spend: 9}, "
               "{code: silver, name: S, name_zh: 银, min_spend: 5}",
     "levels[2] (silver): min_spend 5 is below gold's 9"),
    (LEVELS % "{code: member, name: G, name_zh: 金, min_spend: 9}", "member is given twice"),
    ("membership: {levels: [{code: member, name: M, name_zh: 会员, min_orders: 2}]}",
     "levels[0] (member): the first level is every member's"),
    (LEVELS % "{code: Gold Card, name: G, name_zh: 金, min_spend: 9}",
     "membership.levels[1].code: String should match pattern"),
    ("membership: {grace_dayz: 3}", "membership.grace_dayz: unknown key; did you mean "
                                    "'grace_days'?"),
    ("membership: {evaluation: weekly}", "membership.evaluation: 'weekly' is not allowed "
                                         "(allowed: monthly, quarterly)"),
    ("membership: {expiry: soon}", "membership.expiry: 'soon' is not allowed"),
])
def test_bad_values_are_named_by_their_path(text, message):
    with pytest.raises(BadPolicy) as found:
        parse_policy(text, "shop.yaml")
    assert str(found.value).startswith("shop.yaml: ") and message in str(found.value)
