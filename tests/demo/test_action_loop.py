"""The learning loop against the world's truth: over simulated decide → respond → measure
cycles on a small world, every action type decided gets a held-out group, the measured
incremental conversion of at least 80 % of the measured types lies within its interval of
`truth_action_effect`, and the actions that truly do nothing or harm are no longer chosen.

A small world (3 000 customers, one year) written straight into the warehouse, four 30-day
cycles with a 30 % control group: at the default 10 % a world this small holds too few
customers out of each action to tell "nothing" from "a little" within four cycles."""

from __future__ import annotations

import pandas as pd
import pytest

from upmarket.activation.holdout import HoldoutSettings
from upmarket.demo import action_loop
from upmarket.demo.world import WorldConfig, generate_world, truth_action_effect
from upmarket.warehouse import connect

CFG = WorldConfig(customers=3000, years=1.0)


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    wh = connect(f"duckdb://{tmp_path_factory.mktemp('loop')}/w.duckdb")
    for table, frame in generate_world(CFG):
        wh.insert(table, frame)
    # a fixed salt makes the control groups, and so the test, reproducible
    wh.insert("holdout_salt", pd.DataFrame({"salt": ["loop-test"],
                                            "created": [pd.Timestamp("2025-01-01")]}))
    report = action_loop.run_cycles(wh, CFG.as_of, 4,
                                    holdout_settings=HoldoutSettings(share=0.3))
    yield wh, report
    wh.close()


def test_the_truth_has_zero_and_negative_effects():
    t = truth_action_effect().set_index("action")["incremental_conversion"]
    assert (t == 0).sum() >= 2 and (t < 0).sum() == 1 and (t > 0).sum() >= 4


def test_every_decided_action_has_its_held_out_group(loop):
    _, report = loop
    first = report.cycles[0]
    assert len(first["actions"]) >= 5
    for action, n in first["actions"].items():
        assert 0 < first["held_out"][action] < n


def test_measured_effects_cover_the_truth_and_useless_actions_stop(loop):
    _, report = loop
    t = report.against_truth()
    assert len(t) >= 5 and t["covered"].mean() >= 0.8
    truth = truth_action_effect().set_index("action")["incremental_conversion"]
    useless = [a for a in truth.index if truth[a] <= 0]
    # they were chosen before anything was measured …
    assert sum(report.cycles[0]["actions"].get(a, 0) for a in useless) > 500
    # … and are not any more, while the loop has not simply stopped acting: an action that
    # helps is still chosen (with a few hundred held out, some helpful ones may be switched
    # off too — the price of asking every action to show it helps)
    assert all(report.next_choice[a] == 0 for a in useless)
    assert sum(report.next_choice[a] for a in truth.index if truth[a] > 0) > 100
    learned = report.learned.set_index("action")
    assert set(learned.loc[[a for a in useless if a in learned.index], "status"]) == \
        {"switched_off"}
