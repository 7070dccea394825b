"""The marketing-mix model against the demo world's true media curves."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from upmarket.demo.world import WorldConfig, generate_world, truth_channel_response
from upmarket.features import media as fmedia
from upmarket.models.mmm import BadMmmData, MmmSettings, adstock, fit_mmm, hill, weekly_frame

#: Large enough that weekly new customers (~1,000) are not drowned in Poisson noise. The world
#: is generated only up to its customers (a second): the outcome is counted from their
#: registrations, which the world follows with the first purchase within minutes; that the
#: orders-based outcome agrees is checked on a smaller world below.
CFG = WorldConfig(customers=100_000, chunk_customers=10**7)
SMALL = WorldConfig(customers=5_000, chunk_customers=10**7)


def _frames(cfg: WorldConfig, last: str) -> dict[str, pd.DataFrame]:
    frames = {}
    for name, frame in generate_world(cfg):
        frames[name] = frame
        if name == last:
            return frames
    raise AssertionError(f"the world yielded no {last}")


def _weekly_registrations(customers: pd.DataFrame) -> pd.DataFrame:
    week = pd.to_datetime(customers["created_at"]).dt.to_period("W-SUN").dt.start_time
    return week.value_counts().rename_axis("week").rename("outcome").reset_index()


@pytest.fixture(scope="module")
def world():
    frames = _frames(CFG, "customers")
    as_of = CFG.as_of
    spend = fmedia.weekly_spend(ibis.memtable(frames["marketing_spend"]), as_of).to_pandas()
    promos = fmedia.promotion_days(ibis.memtable(frames["promotions"]), as_of).to_pandas()
    frame = weekly_frame(spend, _weekly_registrations(frames["customers"]), promos, as_of)
    return frames, frame, fit_mmm(frame)


def test_weekly_frame_keeps_every_complete_week_and_all_spend():
    frames = _frames(SMALL, "orders")
    as_of = SMALL.as_of
    spend = fmedia.weekly_spend(ibis.memtable(frames["marketing_spend"]), as_of).to_pandas()
    outcome = fmedia.weekly_outcome(ibis.memtable(frames["orders"]), as_of).to_pandas()
    frame = weekly_frame(spend, outcome, None, as_of)
    assert (frame.index.day_of_week == 0).all()
    assert ((frame.index[1:] - frame.index[:-1]) == pd.Timedelta(days=7)).all()
    assert frame.index[-1] + pd.Timedelta(days=7) <= pd.Timestamp(as_of)
    raw = frames["marketing_spend"]
    d = pd.to_datetime(raw["date"])
    inside = (d >= frame.index[0]) & (d < frame.index[-1] + pd.Timedelta(days=7))
    for ch, total in raw[inside].groupby("channel")["cost"].sum().items():
        assert frame[ch].sum() == pytest.approx(total, rel=1e-9)
    # new customers = first paid purchases, minutes after registering
    regs = _weekly_registrations(frames["customers"]).set_index("week")["outcome"]
    gap = (frame["outcome"] - regs.reindex(frame.index)).abs()
    assert gap.max() <= 0.05 * frame["outcome"].max()
    assert frame["outcome"].sum() == pytest.approx(regs.reindex(frame.index).sum(), rel=0.01)
    revenue = fmedia.weekly_outcome(ibis.memtable(frames["orders"]), as_of, "revenue").to_pandas()
    lines = frames["orders"][pd.to_datetime(frames["orders"]["ts"]) < as_of]
    assert revenue["outcome"].sum() == pytest.approx(lines["amount"].sum(), rel=1e-9)


def test_identified_channels_recover_the_true_roi_and_the_others_are_flagged(world):
    _, _, res = world
    truth = truth_channel_response(CFG).set_index("channel")
    ch = res.channels.set_index("channel")
    credible = ch[ch["credible"]]
    assert len(credible) >= 1
    for name, row in credible.iterrows():
        assert row["roi"] == pytest.approx(truth.at[name, "roi"], rel=0.25), name
        assert row["roi_low"] <= row["roi"] <= row["roi_high"]
        assert row["interval_ratio"] <= res.fit["thresholds"]["max_interval_ratio"]
    flagged = ch[~ch["credible"]]
    assert flagged["reason"].notna().all()
    # offline and referral spend follows the plan without flights: not identified
    for name in ("offline", "referral"):
        assert ch.at[name, "reason"] == "spend_variation"
        assert ch.at[name, "spend_variation"] < res.fit["thresholds"]["min_spend_variation"]
    assert res.fit["r2_holdout"] >= res.fit["thresholds"]["min_holdout_r2"]


def test_a_lift_test_pulls_the_channel_toward_what_it_measured(world):
    _, frame, res = world
    truth = truth_channel_response(CFG).set_index("channel")
    target = float(truth.at["search", "roi"]) * 2.0
    tight = fit_mmm(frame, MmmSettings(bootstrap=0, lift_tests={"search": (target, target / 50)}))
    before = res.channels.set_index("channel").at["search", "roi"]
    after = tight.channels.set_index("channel")
    assert abs(after.at["search", "roi"] - target) < abs(before - target)
    assert after.at["search", "roi"] == pytest.approx(target, rel=0.1)
    assert bool(after.at["search", "calibrated"])


def test_curves_and_refusals():
    x = np.array([10.0, 0.0, 0.0, 0.0])
    a = adstock(x, 0.5)
    assert a[0] == pytest.approx(10.0) and a[1] == pytest.approx(5.0)
    assert adstock(np.full(5, 3.0), 0.7) == pytest.approx(np.full(5, 3.0))
    assert hill(np.array([0.0, 2.0]), 2.0, 1.0) == pytest.approx([0.0, 0.5])
    weeks = pd.date_range("2025-01-06", periods=10, freq="W-MON")
    short = pd.DataFrame({"outcome": 1.0, "promo": 0.0, "search": 1.0}, index=weeks)
    with pytest.raises(BadMmmData, match="10 complete weeks"):
        fit_mmm(short)
    with pytest.raises(BadMmmData, match="no marketing spend"):
        weekly_frame(pd.DataFrame(columns=["channel", "week", "spend"]),
                     pd.DataFrame(columns=["week", "outcome"]), None, weeks[-1])


def test_reallocation_moves_only_credible_curves(world):
    import dataclasses

    from upmarket.strategy.budget import reallocate_mix

    _, frame, res = world
    current = (frame.drop(columns=["outcome", "promo"]).tail(13).mean() * 4.35).to_dict()
    as_fitted = reallocate_mix(res, current, 4.35)
    weak = ~as_fitted["signal"].eq("credible")
    assert weak.any()
    assert (as_fitted.loc[weak, "suggested"] == as_fitted.loc[weak, "current"]).all()
    assert set(as_fitted.loc[weak, "signal"]) <= {"spend_variation", "holdout_fit",
                                                   "interval_width"}
    # declare two curves credible: money moves between those two only, total kept
    trusted = {"search", "wechat"}
    table = res.channels.assign(credible=res.channels["channel"].isin(trusted))
    forced = dataclasses.replace(res, channels=table)
    out = reallocate_mix(forced, current, 4.35, max_increase=0.3, max_decrease=0.3).set_index(
        "channel")
    moved = out.index[(out["suggested"] - out["current"]).abs() > 1e-6]
    assert set(moved) <= trusted and len(moved) == 2
    assert out.loc[list(trusted), "suggested"].sum() == pytest.approx(
        out.loc[list(trusted), "current"].sum())
    assert (out["change_pct"].abs() <= 0.3 + 1e-9).all()
    assert out["expected_return_suggested"].sum() >= out["expected_return_now"].sum() - 1e-9
    # the richer channel at the margin gains
    gain = out.loc[list(trusted), "marginal_return_now"].idxmax()
    assert out.at[gain, "change"] > 0
