"""Measuring until decided (`strategy.action_feedback`, step 5; `activation.holdout`): an
action still measuring holds out more of its new customers, up to `measure_share`, until its
control group is large enough for the futility bound of an action doing nothing to reach its
break-even, then returns to the policy's share; customers keep their first group and a tier
held at 0 stays served. Read cycle after cycle, an action that does nothing is found futile
sooner, and one worth its cost is not called futile more often than `alpha`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.activation.holdout import HoldoutSettings, hold_out_actions, hold_out_exploring
from upmarket.models.sequential import msprt_upper
from upmarket.strategy import action_feedback as F

POLICY = HoldoutSettings(share=0.1, per_tier={"diamond": 0.0})
#: baseline conversion of every simulated customer
BASE = 0.2


def decisions(action: str = "cross_sell", contact: float = 6.0) -> pd.DataFrame:
    # pays from (contact + 0.2 × 10) / 100: 8 points at a contact cost of 6
    return pd.DataFrame({"action": [action], "held_out": False, "probability": 0.08,
                         "conversion_gain": 100.0, "contact_cost": contact,
                         "offer_cost": 10.0})


def effects(rows: dict[str, tuple[float, float, int, int]]) -> pd.DataFrame:
    """tier ``all`` rows: action → (difference, standard error, held out, treated)."""
    return pd.DataFrame([{"action": a, "tier": "all", "conversion_difference": d,
                          "conversion_se": s, "conversion_held_out": BASE,
                          "margin_difference": d * 100, "margin_se": s * 100,
                          "n_held_out": n, "n_treated": t}
                         for a, (d, s, n, t) in rows.items()])


def nba_rows(action: str, ids, tier: str = "basic") -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"c{i}" for i in ids], "tier": tier, "action": action,
                         "probability": 0.1, "conversion_margin": 50.0, "offer_cost": 5.0,
                         "expected_value": 1.0, "route": "automated", "reason_en": "",
                         "reason_zh": ""})


def test_the_target_counts_the_treated_customers_new_customers_add():
    s, held, treated, delta, tau = 0.03, 200, 2000, 0.05, 0.05
    var = s ** 2 / (1 / held + 1 / treated)
    z = 1.2816  # an action doing nothing estimates less than this 90 % of the time
    for alpha in (0.05, 0.05 / 8):
        for share in (0.5, 0.25):
            t = F.target_held_out(s, held, treated, delta, tau, alpha, share=share)
            assert held < t < np.inf
            # at the target the new customers (t − held) / share added t − held held out and
            # the rest treated: the one-sided always-valid upper bound from an estimate z
            # standard errors above 0 is then the break-even
            new = (t - held) / share
            at = np.sqrt(var * (1 / t + 1 / (treated + (1 - share) * new)))
            assert msprt_upper(z * at, at ** 2, tau, alpha)[1] == pytest.approx(delta, rel=0.01)
            assert F.target_held_out(s, held, treated, delta, tau, alpha, power=0.5,
                                     share=share) < t
        # counting the treated side's growth asks fewer held out than growing the control
        # group alone against the treated customers there are now (share 0)
        assert F.target_held_out(s, held, treated, delta, tau, alpha) < \
            F.target_held_out(s, held, treated, delta, tau, alpha, share=0.0)
    # a stricter level needs more held out
    assert F.target_held_out(s, held, treated, delta, tau, 0.05 / 8) > \
        F.target_held_out(s, held, treated, delta, tau, 0.05)
    # too few treated for the control group alone to get there, but new customers add both
    assert F.target_held_out(s, held, 50, delta, tau, 0.05, share=0.0) == np.inf
    assert held < F.target_held_out(s, held, 50, delta, tau, 0.05) < np.inf
    # already enough held out: the target is the control group there is
    assert F.target_held_out(0.005, 4000, 40000, delta, tau, 0.05) == 4000
    # nothing measured, or nothing to reach
    assert np.isnan(F.target_held_out(np.nan, held, treated, delta, tau, 0.05))
    assert np.isnan(F.target_held_out(s, held, treated, 0.0, tau, 0.05))


def test_a_measuring_action_holds_out_more_until_its_target_then_the_policy_share():
    d0 = pd.concat([decisions(), decisions("win_back")])
    found = effects({"cross_sell": (0.0, 0.035, 150, 1350), "win_back": (0.1, 0.01, 500, 4500)})
    _, used = F.learn(found, d0)
    u = used.set_index("action")
    assert u.loc["cross_sell", "status"] == "measuring"
    assert u.loc["cross_sell", "holdout_share"] == F.FeedbackSettings().measure_share
    target = u.loc["cross_sell", "target_held_out"]
    assert 150 < target < np.inf
    # decided: the policy's share
    assert u.loc["win_back", "status"] == "shown_to_help"
    assert np.isnan(u.loc["win_back", "holdout_share"])
    # switched off: the policy's share once explored
    _, fixed = F.learn(found, d0, feedback=F.FeedbackSettings(measure_share=0.0))
    assert np.isnan(fixed.set_index("action").loc["cross_sell", "holdout_share"])

    # 1 500 customers decided before at 10 %, 400 new and 40 new Diamond
    past = hold_out_actions(nba_rows("cross_sell", range(1500)), "s", POLICY)[1].assign(
        decided=pd.Timestamp("2025-01-01"))
    held = int(past["held_out"].sum())
    acts = pd.concat([nba_rows("cross_sell", range(1500)),
                      nba_rows("cross_sell", range(5000, 5400)),
                      nba_rows("cross_sell", range(9000, 9040), "diamond")], ignore_index=True)
    _, d = hold_out_exploring(acts, "s", POLICY, used, past)
    d = d.set_index("customer_id")
    new = d.loc[[f"c{i}" for i in range(5000, 5400)]]
    assert (new["holdout_share"] == np.clip((target - held) / 400, 0.1, 0.5)).all()
    assert new["holdout_share"].iloc[0] > 0.1
    # the customers decided before keep their group; Diamond stays served
    old = d.loc[past["customer_id"]]
    assert (old["held_out"].to_numpy() == past["held_out"].to_numpy()).all()
    assert (old["holdout_share"] == 0.1).all()
    assert not d.loc[[f"c{i}" for i in range(9000, 9040)], "held_out"].any()
    # once the target is held out (the standard error as narrow as it then is), an action
    # still undecided (an estimate two standard errors above 0: neither futile nor shown)
    # gets the policy's share again
    share = F.FeedbackSettings().measure_share
    more_treated = 1350 + (target - 150) * (1 - share) / share
    narrow = 0.035 * np.sqrt((1 / target + 1 / more_treated) / (1 / 150 + 1 / 1350))
    _, done = F.learn(effects({"cross_sell": (2 * narrow, narrow, int(target) + 2,
                                              int(more_treated) + 2),
                               "win_back": (0.1, 0.01, 500, 4500)}), d0)
    assert done.set_index("action").loc["cross_sell", "status"] == "measuring"
    assert np.isnan(done.set_index("action").loc["cross_sell", "holdout_share"])
    _, d2 = hold_out_exploring(acts, "s", POLICY, done, past)
    assert (d2.set_index("customer_id").loc[new.index, "holdout_share"] == 0.1).all()


def loop(effect: float, measure_share: float, rng, cycles: int = 4, per_cycle: int = 600):
    """Statuses of one action read after each of `cycles` cycles of `per_cycle` new customers
    (conversion `BASE`, plus `effect` when treated), held out as `hold_out_exploring` says."""
    feedback = F.FeedbackSettings(measure_share=measure_share)
    d0, used = decisions(), pd.DataFrame(columns=["action", "status", "holdout_share"])
    past, outcome, statuses = pd.DataFrame(), np.array([]), []
    salt = f"loop-{rng.integers(1 << 30)}"
    for k in range(cycles):
        acts = nba_rows("cross_sell", range(k * per_cycle, (k + 1) * per_cycle))
        _, d = hold_out_exploring(acts, salt, POLICY, used, past,
                                  min_held_out=feedback.min_held_out,
                                  explore_share=feedback.explore_share)
        past = pd.concat([past, d.assign(decided=pd.Timestamp("2025-01-01") + pd.Timedelta(
            days=30 * k))], ignore_index=True)
        held = d["held_out"].to_numpy(bool)
        outcome = np.concatenate([outcome, (rng.uniform(size=len(d))
                                            < BASE + np.where(held, 0.0, effect)).astype(float)])
        h = past["held_out"].to_numpy(bool)
        y1, y0 = outcome[~h], outcome[h]
        s = np.sqrt(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
        _, used = F.learn(effects({"cross_sell": (y1.mean() - y0.mean(), s, len(y0), len(y1))}),
                          d0, feedback=feedback)
        statuses.append(used["status"].iloc[0])
    return statuses, int(past["held_out"].sum())


def test_an_action_doing_nothing_is_found_futile_sooner_when_measured_until_decided():
    rng = np.random.default_rng(4)
    runs = 25
    fixed = [loop(0.0, 0.0, rng) for _ in range(runs)]
    adaptive = [loop(0.0, 0.5, rng) for _ in range(runs)]
    futile = {name: np.mean([s[-1] == "futile" for s, _ in found])
              for name, found in (("fixed", fixed), ("adaptive", adaptive))}
    # with 2 400 customers over four cycles at 10 % the bound seldom falls below 8 points;
    # holding out up to half of the new customers until it can gets there most of the time
    assert futile["adaptive"] >= 0.7
    assert futile["adaptive"] >= futile["fixed"] + 0.3
    # the extra control customers stop once enough are held out (a few hundred, not half)
    assert np.mean([n for _, n in adaptive]) < 0.35 * 2400


def test_an_action_worth_its_cost_is_rarely_called_futile_when_measured_until_decided():
    rng = np.random.default_rng(9)
    runs = 25
    # the truth is the break-even, 8 points: never futile, however the groups were filled
    ever = np.mean([any(s == "futile" for s in loop(0.08, 0.5, rng)[0]) for _ in range(runs)])
    assert ever <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / runs)


def test_bad_measuring_settings_are_refused():
    with pytest.raises(ValueError, match="measure_share"):
        F.FeedbackSettings(measure_share=1.0)
    for power in (0.0, 1.0):
        with pytest.raises(ValueError, match="measure_power"):
            F.FeedbackSettings(measure_power=power)
