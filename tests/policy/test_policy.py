"""The business policy's schema and file: defaults equal the engine's settings, `config init`'s
text reads back as the defaults with a comment on every key, edits reach the settings, and
mistakes are refused with their key path and the allowed values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from upmarket.pipeline import Settings
from upmarket.policy import (BadPolicy, LoadedPolicy, Policy, default_yaml, find_policy,
                             load_policy, parse_policy)
from upmarket.strategy.tiers import assign_tiers, distance_to_next_tier


def test_the_defaults_are_the_engines_settings():
    assert Policy().settings() == Settings()


def test_init_text_reads_back_as_the_defaults_with_a_comment_on_every_key():
    text = default_yaml()
    assert parse_policy(text) == Policy()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    for before, line in zip(lines, lines[1:]):
        if not line.lstrip().startswith("#"):
            assert before.lstrip().startswith("#"), f"no comment above {line!r}"
    keys = set()

    def walk(d, prefix=""):
        for k, v in d.items():
            keys.add(prefix + k)
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
    walk(yaml.safe_load(text))
    assert {"tiers.shares.diamond", "tiers.service_levels.core.response_hours",
            "tiers.service_levels.basic.contacts_per_month", "offers.upsell.value",
            "response_rates.win_back_rate", "horizons.churn_days", "currency.symbol",
            "language"} <= keys


def test_tier_shares_reach_the_tiers():
    policy = parse_policy("tiers:\n  shares: {diamond: 0.05, core: 0.15, potential: 0.30, "
                          "basic: 0.50}\n")
    shares = policy.settings().tiers.shares
    assert shares == (0.05, 0.15, 0.30, 0.50)
    tiers = assign_tiers(np.random.default_rng(1).gamma(2.0, 100.0, 1000), policy.settings().tiers)
    assert (tiers == "diamond").sum() == 50 and (tiers == "core").sum() == 150


def test_control_group_shares_reach_the_holdout():
    held = parse_policy("holdout:\n  share: 0.2\n  per_tier: {diamond: 0}\n").settings().holdout
    assert held.share == 0.2 and dict(held.per_tier) == {"diamond": 0.0}
    assert held.share_for("diamond") == 0.0 and held.share_for("basic") == 0.2
    assert dict(parse_policy("").settings().holdout.per_tier) == {}
    with pytest.raises(BadPolicy, match=r"holdout\.share: must be at least 0 and below 1"):
        parse_policy("holdout:\n  share: 1\n")


def test_a_section_given_in_part_keeps_the_other_defaults():
    policy = parse_policy("tiers: {service_levels: {core: {response_hours: 2}}}\n"
                          "offers: {onboarding: {value: 0.1}}\nhorizons: {churn_days: 60}\n"
                          "language: zh\n")
    s = policy.settings()
    assert s.tiers.level("core").response_hours == 2
    assert s.tiers.level("core").contacts_per_month == Settings().tiers.level("core").contacts_per_month
    onboarding = s.nba.offers["onboarding"]
    assert onboarding.value == 0.1 and onboarding.redemption == Settings().nba.offers["onboarding"].redemption
    assert s.churn_horizon_days == 60 and policy.language == "zh-CN"


@pytest.mark.parametrize("text, expected", [
    ("tiers:\n  shares:\n    diamond: 1.5\n", ["tiers.shares.diamond: must be between 0 and 1"]),
    ("tiers:\n  sharez: {}\n", ["tiers.sharez: unknown key; did you mean 'shares'?",
                                "allowed here: shares, thresholds, current_weight, diamond_revenue_claim, "
                                "service_levels"]),
    ("offers:\n  upsell: {type: percent_discont}\n",
     ["offers.upsell.type: 'percent_discont' is not allowed; did you mean 'percent_discount'?",
      "allowed: time_limited, threshold_discount, percent_discount, bundle, gift, coupon, points"]),
    ("tiers: {shares: {diamond: 0.05}}\n", ["tiers.shares: the four shares must add up to 1; "
                                           "they add up to 1.03"]),
    ("tiers: {service_levels: {diamond: {response_hours: 0}}}\n",
     ["tiers.service_levels.diamond.response_hours: must be greater than 0"]),
    ("language: fr\n", ["language: 'fr' is not allowed (allowed: en, zh-CN)"]),
    ("curency: {symbol: $}\n", ["curency: unknown key; did you mean 'currency'?"]),
    ("tiers: 5\n", ["tiers: must be a mapping with keys shares"]),
    ("- tiers\n", ["the policy is a mapping of sections"]),
    ("tiers: [\n", ["not valid YAML at line 2"]),
])
def test_mistakes_are_named_with_their_path(text, expected):
    with pytest.raises(BadPolicy) as caught:
        parse_policy(text, "my.yaml")
    message = str(caught.value)
    assert message.startswith("my.yaml: ")
    for part in expected:
        assert part in message


def test_every_problem_is_listed():
    with pytest.raises(BadPolicy, match=r"2 problems:\n  horizons.churn_days: must be greater "
                                        r"than 0\n  economics.monthly_discount: must be between"):
        parse_policy("horizons: {churn_days: -5}\neconomics: {monthly_discount: 2}\n")


def test_where_the_file_is_found(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPMARKET_CONFIG", raising=False)
    assert find_policy() is None and load_policy().policy == Policy()
    (tmp_path / "upmarket.yaml").write_text("horizons: {premium_days: 90}\n")
    loaded = load_policy()
    assert loaded.source.name == "upmarket.yaml" and loaded.policy.horizons.premium_days == 90
    other = tmp_path / "other.yaml"
    other.write_text("horizons: {premium_days: 30}\n")
    monkeypatch.setenv("UPMARKET_CONFIG", str(other))
    assert load_policy().policy.horizons.premium_days == 30
    assert load_policy(tmp_path / "upmarket.yaml").policy.horizons.premium_days == 90
    with pytest.raises(BadPolicy, match=r"nope.yaml: no such policy file \(named by --config or UPMARKET_CONFIG\)"):
        load_policy(tmp_path / "nope.yaml")
    monkeypatch.setenv("UPMARKET_CONFIG", str(tmp_path / "gone.yaml"))
    with pytest.raises(BadPolicy, match="named by UPMARKET_CONFIG"):
        load_policy()


def test_the_record_is_the_content(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPMARKET_CONFIG", raising=False)
    a = load_policy().record()  # no file here: the defaults
    b = {"policy": parse_policy("# only a comment\n").model_dump(mode="json")}
    assert a == b
    assert math.isclose(a["policy"]["tiers"]["shares"]["diamond"], Settings().tiers.shares[0])


def test_a_run_gives_back_the_policy_it_recorded():
    from upmarket.policy.file import policy_of_run

    edited = parse_policy("tiers: {shares: {diamond: 0.05, core: 0.15}}\nhorizons: "
                          "{value_months: 6}\n")
    stored = json.dumps(LoadedPolicy(edited, None).record())
    assert policy_of_run({"config": stored}) == edited
    assert policy_of_run({"config": stored}).settings().value.horizon_months == 6
    # a run from before runs recorded their policy ran on the defaults
    assert policy_of_run({"config": None}) == policy_of_run({}) == Policy()


def test_fixed_thresholds_instead_of_shares():
    policy = parse_policy("tiers: {thresholds: {diamond: 500, core: 100, potential: 20}}\n")
    t = policy.settings().tiers
    value = np.array([900.0, 500.0, 499.0, 100.0, 60.0, 20.0, 3.0, np.nan])
    tiers = assign_tiers(value, t)
    assert tiers.tolist() == ["diamond", "diamond", "core", "core", "potential", "potential",
                              "basic", "basic"]
    # the distance to the next tier is to its bar, not to its lowest member
    assert distance_to_next_tier(value, tiers, t)[[2, 4, 6]].tolist() == [1.0, 40.0, 17.0]
    with pytest.raises(BadPolicy, match="tiers.thresholds: the bars must not rise"):
        parse_policy("tiers: {thresholds: {diamond: 50, core: 100, potential: 20}}\n")
