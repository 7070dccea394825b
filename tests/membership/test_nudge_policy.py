"""`membership.nudge` in the policy file: the level nudge's reach and response rate and the
points offers' bonus points, with today's defaults, written by `config init`, reaching the next
best action's settings, and an unknown key refused with its path."""

from __future__ import annotations

import pytest
import yaml

from upmarket.policy import BadPolicy, Policy, default_yaml, parse_policy
from upmarket.strategy import nba


def test_the_defaults_are_todays_and_config_init_writes_them():
    written = yaml.safe_load(default_yaml())["membership"]["nudge"]
    engine = nba.NbaSettings()
    assert written["orders"] == engine.level_nudge_orders
    assert written["rate"] == engine.level_nudge_rate
    assert {a: n for a, n in written["bonus_points"].items() if n} == engine.points_bonus
    assert Policy().settings().nba == engine


def test_edits_reach_the_next_best_action():
    policy = parse_policy("membership:\n  nudge:\n    orders: 2\n    rate: 0.25\n"
                          "    bonus_points:\n      onboarding: 800\n      win_back: 300\n")
    s = policy.settings().nba
    assert (s.level_nudge_orders, s.level_nudge_rate) == (2.0, 0.25)
    # the one not given keeps its default
    assert s.points_bonus == {"onboarding": 800, "referral_ask": 1000, "win_back": 300}


@pytest.mark.parametrize("text, expected", [
    ("membership:\n  nudge:\n    rates: 0.2\n",
     "membership.nudge.rates: unknown key; did you mean 'rate'?"),
    ("membership:\n  nudge:\n    bonus_points:\n      onboardin: 300\n",
     "membership.nudge.bonus_points.onboardin: unknown key; did you mean 'onboarding'?"),
    ("membership:\n  nudge:\n    rate: 1.5\n", "membership.nudge.rate"),
    ("membership:\n  nudge:\n    bonus_points:\n      onboarding: -5\n",
     "membership.nudge.bonus_points.onboarding"),
])
def test_mistakes_are_named_with_their_path(text, expected):
    with pytest.raises(BadPolicy) as err:
        parse_policy(text, "upmarket.yaml")
    assert expected in str(err.value)
