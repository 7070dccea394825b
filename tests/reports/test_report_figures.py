"""Figures: each one's data equal the frames it was built from (counted again here with pandas,
independently of the figure code), and its labels follow the language."""

from __future__ import annotations

import re
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.i18n import label
from upmarket.reports import figures as F

sys.path.insert(0, str(Path(__file__).parent))
from report_world import run_frames  # noqa: E402

AS_OF = datetime(2026, 1, 1)
CJK = re.compile(r"[\u4e00-\u9fff]")
IDS = [f"C{i:04d}" for i in range(300)]


@pytest.fixture(scope="module")
def frames():
    return run_frames(IDS, AS_OF)


def bars(fig, name=None):
    return [t for t in fig.data if t.type == "bar" and (name is None or t.name == name)]


def test_tier_pyramid_counts_shares_and_benchmark(frames):
    res, summary = frames["results"], frames["tier_summary"]
    fig = F.fig_tier_pyramid(summary, "en", benchmark=0.30)
    counts = res["tier"].value_counts()
    customers = fig.data[0]
    # the pyramid: Diamond on top, then down the ladder, with the counts of the results
    assert list(customers.y) == ["Diamond", "Core", "Potential", "Basic"]
    assert list(customers.x) == [counts[t] for t in ("diamond", "core", "potential", "basic")]
    revenue = bars(fig, "Share of past revenue")[0]
    by_tier = res.groupby("tier")["net_revenue"].sum() / res["net_revenue"].sum()
    assert list(revenue.x) == pytest.approx(
        [by_tier[t] for t in ("diamond", "core", "potential", "basic")])
    clv = bars(fig, "Share of predicted CLV")[0]
    share = res.groupby("tier")["clv"].sum() / res["clv"].sum()
    assert list(clv.x) == pytest.approx(
        [share[t] for t in ("diamond", "core", "potential", "basic")])
    line = [t for t in fig.data if t.type == "scatter"][0]
    assert set(line.x) == {0.30} and "30%" in line.name
    assert fig.layout.meta["figure"] == "tier_pyramid"


def test_rfm_segments_are_the_value_counts(frames):
    res = frames["results"]
    fig = F.fig_rfm_segments(res, "zh")
    counts = res["rfm_segment"].value_counts()
    (trace,) = fig.data
    # zh names in the segments' display order, one bar per segment present
    expected = [s for s in ("champions", "loyal", "potential_loyalist", "new", "promising",
                            "need_attention", "about_to_sleep", "at_risk", "cant_lose",
                            "hibernating", "lost") if s in counts.index]
    assert list(trace.y) == [label(f"segment.{s}", "zh") for s in expected]
    assert list(trace.x) == [counts[s] for s in expected]
    assert sum(trace.x) == len(res)


def test_clv_distribution_stacks_every_customer_once(frames):
    res = frames["results"]
    fig = F.fig_clv_distribution(res, "en")
    per_tier = res["tier"].value_counts()
    assert {t.name: sum(t.y) for t in fig.data} == {
        label(f"tier.{t}", "en"): n for t, n in per_tier.items()}
    edges = F.clv_bins(res["clv"])
    for t in fig.data:
        code = {label(f"tier.{c}", "en"): c for c in per_tier.index}[t.name]
        own = res.loc[res["tier"] == code, "clv"].to_numpy()
        # the bins counted again by hand: lower edge inclusive, the last bin closed
        idx = np.clip(np.searchsorted(edges, own, side="right") - 1, 0, len(edges) - 2)
        assert list(t.y) == list(np.bincount(idx, minlength=len(edges) - 1))


def test_clv_axis_counts_as_each_language_does(frames):
    """Chinese groups by 万 (ten thousand) and 亿, never k or M; English keeps k and M."""
    assert [F._short(v, "zh-CN") for v in (950, 7449.8, 74_480, 1.4e6, 2.5e8)] == [
        "950", "7,450", "7.45万", "140万", "2.5亿"]
    assert [F._short(v, "en") for v in (950, 7449.8, 74_480, 1.4e6)] == [
        "950", "7.45k", "74.5k", "1.4M"]
    res = frames["results"].assign(clv=frames["results"]["clv"] * 100)  # amounts past 万
    ticks = F.fig_clv_distribution(res, "zh").layout.xaxis.ticktext
    assert any("万" in t for t in ticks) and not any(re.search(r"\d[kM]$", t) for t in ticks)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1e7), st.floats(-100, 0), st.just(0.0)), min_size=1,
                max_size=60), st.integers(2, 40))
def test_clv_bins_cover_every_value(values, bins):
    edges = F.clv_bins(values, bins)
    assert np.all(np.diff(edges) > 0)
    v = np.asarray(values)
    assert edges[0] <= v.min() and edges[-1] >= v.max()
    counts, _ = np.histogram(v, bins=edges)
    assert counts.sum() == len(v)


def test_churn_by_tier_is_the_crosstab_and_counts_at_risk_premium(frames):
    res = frames["results"]
    fig = F.fig_churn_by_tier(res, "en")
    table = pd.crosstab(res["tier"], res["churn_band"])
    tiers = ["diamond", "core", "potential", "basic"]
    for trace in fig.data:
        band = {label(f"band.{b}", "en"): b for b in table.columns}[trace.name]
        assert list(trace.y) == [table.at[t, band] for t in tiers]
    assert [t.name for t in fig.data] == [label(f"band.{b}", "en") for b in
                                          ("low", "medium", "high", "critical")
                                          if b in table.columns]
    premium = res["tier"].isin(["diamond", "core"])
    risky = res["churn_band"].isin(["high", "critical"])
    n = int((premium & risky).sum())
    assert f"{n:,} at-risk premium" in fig.layout.title.text
    # the list behind it: same customers, most value at stake first
    listed = F.at_risk_premium(res)
    assert set(listed["customer_id"]) == set(res.loc[premium & risky, "customer_id"])
    assert listed["at_stake"].is_monotonic_decreasing


def test_actions_counts_and_expected_value(frames):
    acts = frames["actions"]
    fig = F.fig_actions(acts, "en")
    count, ev = fig.data
    g = acts.groupby("action")
    codes = {label(f"action.{a}", "en"): a for a in acts["action"].unique()}
    assert [g.size()[codes[y]] for y in count.y] == list(count.x)
    assert list(ev.x) == pytest.approx([g["expected_value"].sum()[codes[y]] for y in ev.y])


def test_channel_roi_best_first_with_break_even_colours(frames):
    roi = frames["channel_roi"]
    fig = F.fig_channel_roi(roi, "en")
    (trace,) = fig.data
    best = roi.sort_values("roi", ascending=False)
    assert list(trace.x) == best["channel"].tolist()
    assert list(trace.y) == pytest.approx(((best["profit"] - best["cost"]) / best["cost"]).tolist())
    assert [c == "#c8102e" for c in trace.marker.color] == [v < 0 for v in trace.y]


def test_campaigns_short_and_long_term(frames):
    c = frames["campaign_roi"]
    fig = F.fig_campaigns(c, "en")
    order = c.sort_values("start")
    short, long_ = fig.data
    assert list(short.x) == order["name"].tolist()
    assert list(short.y) == order["roi"].tolist()
    assert list(long_.y) == order["roi_long_term"].tolist()


def test_attribution_one_trace_per_model():
    att = pd.DataFrame({"model": ["first", "first", "markov", "markov"],
                        "channel": ["search", "email", "search", "email"],
                        "conversions": [3.0, 1.0, 2.5, 1.5], "value": [1, 1, 1, 1]})
    fig = F.fig_attribution(att, "zh")
    assert [t.name for t in fig.data] == [label("report.model.first", "zh"),
                                          label("report.model.markov", "zh")]
    assert list(fig.data[0].x) == ["search", "email"]
    assert list(fig.data[0].y) == [3.0, 1.0] and list(fig.data[1].y) == [2.5, 1.5]


def test_budget_sums_per_channel(frames):
    plan = frames["budget_plan_vs_actual"]
    fig = F.fig_budget(plan, "en")
    planned, actual = fig.data
    sums = plan.groupby("channel")[["planned_to_date", "actual"]].sum()
    assert list(planned.y) == pytest.approx(sums.loc[list(planned.x), "planned_to_date"].tolist())
    assert list(actual.y) == pytest.approx(sums.loc[list(actual.x), "actual"].tolist())


def test_cohort_heatmap_is_the_pivot(frames):
    c = frames["cohorts"]
    fig = F.fig_cohort_retention(c, "en")
    (hm,) = fig.data
    for i, cohort in enumerate(sorted(c["cohort"].unique())):
        assert hm.y[i] == pd.Timestamp(cohort).strftime("%Y-%m")
        for j, m in enumerate(hm.x):
            row = c[(c["cohort"] == cohort) & (c["months_since"] == m)]
            assert hm.z[i][j] == pytest.approx(row["retention_rate"].iloc[0])


def test_funnel_uses_the_all_row_else_the_channel_sum(frames):
    f = frames["funnels"]
    steps = ["exposed", "clicked", "registered", "purchased"]
    fig = F.fig_funnel(f, "en")
    assert list(fig.data[0].x) == f[f.channel == "all"][steps].iloc[0].tolist()
    fig = F.fig_funnel(f[f.channel != "all"], "en")
    assert list(fig.data[0].x) == f[f.channel != "all"][steps].sum().tolist()


def test_revenue_trend_bars_and_highlight():
    m = pd.DataFrame({"month": pd.date_range("2025-01-01", periods=6, freq="MS"),
                      "revenue": [10.0, 20, 30, 40, 50, 60], "buyers": [1, 2, 3, 4, 5, 6]})
    fig = F.fig_revenue_trend(m, "en", highlight=(datetime(2025, 4, 1), datetime(2025, 7, 1)))
    bar, line = fig.data
    assert list(bar.y) == m["revenue"].tolist() and list(line.y) == m["buyers"].tolist()
    (shade,) = fig.layout.shapes
    # April to June are bars 3..5 of the categorical axis
    assert (shade.x0, shade.x1) == (2.5, 5.5)


def test_effect_index_dimensions():
    dims = pd.DataFrame({"dimension": ["customer_value", "brand_value"],
                         "score": [40.0, 70.0], "compare_score": [30.0, np.nan]})
    fig = F.fig_effect_index(dims, "zh", period="2025-Q4", compare="2025-Q3", index=52.0,
                             compare_index=None)
    before, now = fig.data
    assert list(now.x) == ["客户价值", "品牌价值"]
    assert list(now.y) == [40.0, 70.0] and list(before.y) == [30.0, None]
    assert "52.0" in fig.layout.title.text and "—" in fig.layout.title.text


def test_risk_register_bars_are_the_exposures(frames):
    reg = frames["risk_register"]
    fig = F.fig_risk_register(reg, "en")
    shown = {y.split(" ")[0]: x for t in fig.data for x, y in zip(t.x, t.y)}
    finite = reg[np.isfinite(reg["exposure"])]
    assert shown == dict(zip(finite["id"], finite["exposure"]))
    colours = {t.name: t.marker.color for t in fig.data}
    assert colours[label("band.high", "en")] == F.LEVEL_COLOURS["high"]


@pytest.mark.parametrize("name", sorted(F.FIGURES))
def test_labels_follow_the_language(frames, name):
    args = {
        "tier_pyramid": frames["tier_summary"], "rfm_segments": frames["results"],
        "clv_distribution": frames["results"], "churn_by_tier": frames["results"],
        "actions": frames["actions"], "channel_roi": frames["channel_roi"],
        "campaigns": frames["campaign_roi"], "budget": frames["budget_plan_vs_actual"],
        "cohort_retention": frames["cohorts"], "funnel": frames["funnels"],
        "risk_register": frames["risk_register"],
        "value_choice": frames["value_model_comparison"],
        "attribution": pd.DataFrame({"model": ["linear"], "channel": ["search"],
                                     "conversions": [1.0]}),
        "revenue_trend": pd.DataFrame({"month": [datetime(2025, 1, 1)], "revenue": [1.0],
                                       "buyers": [1]}),
        "effect_index": pd.DataFrame({"dimension": ["customer_value"], "score": [50.0],
                                      "compare_score": [40.0]}),
    }[name]
    en, zh = F.FIGURES[name](args, "en"), F.FIGURES[name](args, "zh")
    assert en.layout.meta["figure"] == zh.layout.meta["figure"] == name
    assert en.layout.title.text != zh.layout.title.text
    assert CJK.search(zh.layout.title.text) and not CJK.search(en.layout.title.text)
    # every legend entry and axis title is translated too (data such as channel codes aside)
    texts = [t.name for t in zh.data if t.name] + [
        a.title.text for a in (zh.layout.xaxis, zh.layout.yaxis) if a.title.text]
    for text in texts:
        assert CJK.search(text) or text in ("2025-Q4", "2025-Q3", ""), text
    # the numbers are the same in both languages; only the words change
    for a, b in zip(en.data, zh.data, strict=True):
        for attr in ("x", "y", "z"):
            va, vb = _numbers(getattr(a, attr, None)), _numbers(getattr(b, attr, None))
            assert va == vb


def _numbers(values):
    if values is None:
        return None
    flat = list(np.ravel(np.asarray(values, dtype=object)))
    if all(v is None or isinstance(v, int | float | np.number) for v in flat):
        return flat
    return None


@pytest.mark.parametrize("name", sorted(F.FIGURES))
def test_empty_frames_say_so(name):
    fig = F.FIGURES[name](pd.DataFrame(), "en")
    assert not fig.data and fig.layout.annotations[0].text == "no data"


def test_value_choice_one_bar_per_candidate_against_the_actual(frames):
    from report_world import RANKING

    table = frames["value_model_comparison"]
    fig = F.fig_value_choice(table, "en", chosen="bgnbd", ranking=RANKING)
    shown = {x: y for t in bars(fig) for x, y in zip(t.x, t.y)}
    # the three candidates, each once, best first; the analyst rankings forecast no purchases
    # and have no bar
    assert list(fig.layout.xaxis.categoryarray) == ["BG/NBD", "MBG/NBD", "Pareto/NBD"]
    assert sorted(shown) == sorted(fig.layout.xaxis.categoryarray)
    predicted = table.set_index("model")["predicted"]
    assert shown == {"BG/NBD": predicted["bgnbd"], "MBG/NBD": predicted["mbgnbd"],
                     "Pareto/NBD": predicted["pnbd"]}
    # the chosen one, the usable others and the degenerate fit each under their own legend
    by_kind = {t.name: list(t.x) for t in bars(fig)}
    assert by_kind == {"chosen": ["BG/NBD"], "other candidates": ["MBG/NBD"],
                       "not usable": ["Pareto/NBD"]}
    # the purchases made, once, as a dashed reference line labelled with its number
    (line,) = fig.layout.shapes
    assert line.y0 == line.y1 == 2318.0 and line.line.dash == "dash"
    assert [t.name for t in fig.data if t.type == "scatter"] == ["actual: 2,318"]
    # each bar says its error against the actual
    texts = {x: s for t in bars(fig) for x, s in zip(t.x, t.text)}
    assert texts["BG/NBD"] == f"1,982 ({1982 / 2318 - 1:+.1%})"


def test_value_choice_candidate_without_a_fit_keeps_its_place():
    table = pd.DataFrame({"model": ["bgnbd", "pnbd"], "predicted": [10.0, np.nan],
                          "actual": [12.0, np.nan], "error": [-1 / 6, np.nan],
                          "mae": [0.4, np.nan], "degenerate": [False, True],
                          "reason": ["", "no_fit"]})
    fig = F.fig_value_choice(table, "zh", chosen="bgnbd")
    texts = {x: (y, s) for t in bars(fig) for x, y, s in zip(t.x, t.y, t.text)}
    assert texts["Pareto/NBD 模型"] == (None, "未拟合")  # a category, no made-up height
    assert texts["BG/NBD 模型"][0] == 10.0
