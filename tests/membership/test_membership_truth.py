"""The incremental margin of membership against the demo world's truth: members who join
mid-history, buyers who never join, and a known extra spend joining brings (`truth_members`).
The world's true effect lies inside the reported 90 % interval, in spend and in margin; with
the effect switched off the interval holds 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.demo import joining
from upmarket.demo.world import WorldConfig, generate_world
from upmarket.membership.incremental import membership_effect
from upmarket.membership.outputs import ORDER_COLUMNS

MARGIN_RATE = 0.35


def _world(config: WorldConfig) -> dict[str, pd.DataFrame]:
    keep = ("orders", "members", "truth_members", "customers")
    parts: dict[str, list[pd.DataFrame]] = {}
    for name, frame in generate_world(config):
        if name in keep:
            parts.setdefault(name, []).append(frame)
    return {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}


def _true_effect(world: dict[str, pd.DataFrame], as_of) -> float:
    """Mean extra spend over the members the estimate can be made for: joined with twelve
    months of history before the joining month and six after it, having bought before."""
    o, t = world["orders"], world["truth_members"]
    first = o["ts"].min().to_period("M")
    month = (t["joined_at"].dt.to_period("M") - first).map(lambda d: d.n)
    started = o.groupby("customer_id")["ts"].min().dt.to_period("M").map(lambda p: (p - first).n)
    last = (pd.Timestamp(as_of).to_period("M") - first).n
    ok = (month >= 12) & (month + 6 <= last) & (t["customer_id"].map(started) < month)
    assert ok.sum() >= 100
    return float(t.loc[ok, "extra_spend_6m"].mean())


@pytest.fixture(scope="module")
def config():
    return WorldConfig(customers=5_000, seed=1)


@pytest.fixture(scope="module")
def world(config):
    return _world(config)


def test_the_world_has_members_who_join_late_and_buyers_who_never_join(world, config):
    buyers = set(world["orders"]["customer_id"])
    members = world["members"].set_index("customer_id")
    created = world["customers"].set_index("customer_id")["created_at"]
    late = members["joined_at"] > created.reindex(members.index) + pd.Timedelta(days=29)
    assert late.mean() > 0.3 and (~late).mean() > 0.3
    never = buyers - set(members.index)
    assert 0.15 < len(never) / len(buyers) < 0.4
    assert (members["joined_at"] < pd.Timestamp(config.as_of)).all()
    # joining is what brings the extra orders: only members have them, and after joining
    t = world["truth_members"].set_index("customer_id")
    assert set(t.index) == set(members.index)
    assert (t["extra_orders"] > 0).sum() > 500 and (t["extra_spend_6m"] != 0).sum() > 200


def test_the_true_effect_lies_inside_the_interval(world, config):
    lines = world["orders"][list(ORDER_COLUMNS)]
    enrolled = world["members"][["customer_id", "joined_at"]]
    found = membership_effect(lines, enrolled, config.as_of, margin_rate=MARGIN_RATE)
    truth = _true_effect(world, config.as_of)
    assert found["reason"] is None and found["members"] >= 300 and found["controls"] >= 300
    assert found["low"] < truth < found["high"]
    assert found["margin_low"] < truth * MARGIN_RATE < found["margin_high"]
    # the interval says something: narrower than five times the effect itself
    assert found["high"] - found["low"] < 5 * truth


def test_without_the_effect_the_interval_holds_zero(config, monkeypatch):
    monkeypatch.setattr(joining, "EXTRA", 0.0)
    world = _world(config)
    assert (world["truth_members"]["extra_orders"] == 0).all()
    found = membership_effect(world["orders"][list(ORDER_COLUMNS)],
                              world["members"][["customer_id", "joined_at"]], config.as_of)
    assert found["low"] < 0 < found["high"]
    assert np.isfinite(found["spend"])
