"""The sequential switch-off rule (`strategy.action_feedback`, rule ``sequential``): read at
every cycle, actions that do nothing are shown to help or harm at most `alpha` of the time over
all looks and all actions together (always-valid tests, Holm); a clear harm switches an action
off at once; an action with too small a control group is explored, not judged; and the loop's
explore shares (`activation.holdout.hold_out_exploring`) bring a rare action's control group toward
`min_held_out` without touching a tier held at 0 or a customer already decided."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.activation.holdout import HoldoutSettings
from upmarket.activation.holdout import hold_out_exploring
from upmarket.models.sequential import msprt
from upmarket.strategy import action_feedback as F

ACTS = ["upsell", "cross_sell", "bundle", "win_back"]


def decisions(actions=ACTS, p: float = 0.08) -> pd.DataFrame:
    return pd.DataFrame({"action": actions, "held_out": False, "probability": p,
                         "conversion_gain": 100.0})


def effects(rows: dict[str, tuple[float, float, int]]) -> pd.DataFrame:
    """tier ``all`` rows: action → (difference, standard error, held out)."""
    return pd.DataFrame([{"action": a, "tier": "all", "conversion_difference": d,
                          "conversion_se": s, "margin_difference": d * 100,
                          "margin_se": s * 100, "n_held_out": n}
                         for a, (d, s, n) in rows.items()])


def test_actions_that_do_nothing_are_rarely_shown_anything_however_often_read():
    rng = np.random.default_rng(7)
    families, looks, per_look, sd = 120, 6, 150, 0.45
    ever = 0
    d0 = decisions()
    for _ in range(families):
        x = rng.normal(0.0, sd, (len(ACTS), looks * per_look))
        shown = False
        for k in range(1, looks + 1):
            n = k * per_look
            found = effects({a: (float(x[i, :n].mean()), sd / np.sqrt(n), n)
                             for i, a in enumerate(ACTS)})
            _, used = F.learn(found, d0)
            shown |= used["status"].isin(["shown_to_help", "shown_to_harm"]).any()
        ever += shown
    # at most alpha = 5 % of families, with room for the binomial noise of 120 families
    assert ever / families <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / families)


def test_holm_asks_more_of_one_action_among_many():
    # a difference whose always-valid p-value alone is between 1 % and 5 %
    s = 0.02
    d = next(v for v in np.arange(0.01, 0.2, 0.001) if msprt(v, s * s, 0.08)[0] < 0.04)
    assert msprt(d, s * s, 0.08)[0] > 0.01
    _, alone = F.learn(effects({"upsell": (d, s, 500)}), decisions(["upsell"]))
    assert alone.set_index("action").loc["upsell", "status"] == "shown_to_help"
    many = effects({"upsell": (d, s, 500), **{a: (0.0, s, 500) for a in ACTS[1:]}})
    _, used = F.learn(many, decisions())
    u = used.set_index("action")
    assert u.loc["upsell", "p_adjusted"] > u.loc["upsell", "p_value"]
    assert u.loc["upsell", "status"] != "shown_to_help"


def test_harm_switches_off_at_once_and_small_groups_are_explored():
    found = effects({"win_back": (-0.2, 0.03, 40), "bundle": (0.0, 0.05, 40),
                     "upsell": (0.0, 0.02, 400)})
    # the earlier rule: switched off once 100 are held out unless shown to help
    learned, used = F.learn(found, decisions(), feedback=F.FeedbackSettings(rule="sequential"))
    u = used.set_index("action")
    assert u.loc["win_back", "status"] == "shown_to_harm"
    assert learned.response_scale["win_back"] == 0.0
    # 40 held out measure too little to judge: explored, its defaults still weigh
    assert u.loc["bundle", "status"] == "exploring"
    assert u.loc["bundle", "holdout_share"] == F.FeedbackSettings().explore_share
    assert learned.response_scale["bundle"] > 0
    # 400 held out and nothing shown: switched off
    assert u.loc["upsell", "status"] == "switched_off"
    assert learned.response_scale["upsell"] == 0.0
    # the futility rule keeps it on and measuring: nothing priced, so any effect above 0
    # pays, and an interval around 0 does not lie below that
    _, used = F.learn(found, decisions())
    u = used.set_index("action")
    assert u.loc["upsell", "status"] == "measuring" and u.loc["upsell", "worthwhile"] == 0
    assert u.loc["win_back", "status"] == "shown_to_harm"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="rule"):
        F.FeedbackSettings(rule="sometimes")
    with pytest.raises(ValueError, match="explore_share"):
        F.FeedbackSettings(explore_share=1.0)


def nba_rows(action: str, n: int, tier: str = "basic", start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(start, start + n)],
                         "tier": tier, "action": action, "probability": 0.1,
                         "conversion_margin": 50.0, "offer_cost": 5.0, "expected_value": 1.0,
                         "route": "automated", "reason_en": "", "reason_zh": ""})


def test_explore_shares_fill_the_control_group_but_respect_zero_and_first_decisions():
    settings = HoldoutSettings(share=0.1, per_tier={"diamond": 0.0})
    acts = pd.concat([nba_rows("bundle", 120), nba_rows("bundle", 60, "diamond", 1000),
                      nba_rows("upsell", 2000, start=2000)], ignore_index=True)
    none = pd.DataFrame(columns=["action", "status", "holdout_share"])
    _, d = hold_out_exploring(acts, "s", settings, none, pd.DataFrame())
    share = d.groupby(["action", "tier"])["holdout_share"].first()
    # 100 / 120 needed, capped at the explore share; diamond stays served; a frequent action
    # needs no more than its default
    assert share[("bundle", "basic")] == F.FeedbackSettings().explore_share
    assert share[("bundle", "diamond")] == 0.0
    assert share[("upsell", "basic")] == pytest.approx(0.1)
    assert not d.loc[d["tier"] == "diamond", "held_out"].any()
    # once the action is settled, new customers get the default share and the first ones
    # keep theirs (and so their group)
    past = d.assign(decided=pd.Timestamp("2025-01-01"))
    settled = pd.DataFrame({"action": ["bundle", "upsell"], "status": "updated",
                            "holdout_share": np.nan})
    more = pd.concat([acts, nba_rows("bundle", 50, start=9000)], ignore_index=True)
    _, d2 = hold_out_exploring(more, "s", settings, settled, past)
    old = d2.merge(d, on=["action", "customer_id"], suffixes=("", "_first"))
    assert (old["held_out"] == old["held_out_first"]).all()
    assert (old["holdout_share"] == old["holdout_share_first"]).all()
    new = d2[d2["customer_id"].isin([f"c{i}" for i in range(9000, 9050)])]
    assert (new["holdout_share"] == 0.1).all()


def test_a_tier_served_in_full_stays_served_whatever_its_first_share():
    acts = nba_rows("bundle", 80, "diamond")
    past = pd.DataFrame({"action": "bundle", "customer_id": acts["customer_id"],
                         "held_out": True, "holdout_share": 0.5,
                         "decided": pd.Timestamp("2025-01-01")})
    none = pd.DataFrame(columns=["action", "status", "holdout_share"])
    out, d = hold_out_exploring(acts, "s", HoldoutSettings(per_tier={"diamond": 0.0}), none,
                                past)
    assert not d["held_out"].any() and (out["action"] == "bundle").all()
