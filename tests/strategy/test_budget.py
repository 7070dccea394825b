"""Budget: plan vs actual, saturating response curves, and the reallocation's guarantees."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from upmarket.strategy.budget import (BadBudgetSettings, BadPlan, BudgetSettings,
                                      SaturatingResponse, _equalise, budget_tables,
                                      campaign_plan,
                                      complete_periods, file_plan, plan_vs_actual, read_plan,
                                      reallocate)
from upmarket.warehouse.connection import duckdb_path


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """A 300-customer synthetic store, loaded once for this module."""
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse import connect

    cfg = WorldConfig(customers=300, seed=5)
    wh = connect(f"duckdb://{tmp_path_factory.mktemp('budget')}/w.duckdb")
    load_world(wh, cfg)
    yield wh, cfg.as_of
    wh.close()


def curve(a, b):
    return SaturatingResponse.from_params(a, b)


def total_return(curves, alloc):
    return sum(curves[ch].predict(x) for ch, x in alloc.items())


# ---------------------------------------------------------------------------------------------
# response curves


def test_fit_recovers_a_known_curve_from_noisy_periods():
    rng = np.random.default_rng(3)
    a, b = 50_000.0, 2_000.0
    spend = rng.uniform(200, 8_000, 24)
    revenue = a * (1 - np.exp(-spend / b)) * rng.lognormal(0, 0.03, 24)
    c = SaturatingResponse().fit(spend, revenue)
    assert c.method_ == "least_squares" and not c.linear_
    assert c.a_ == pytest.approx(a, rel=0.05) and c.b_ == pytest.approx(b, rel=0.10)
    assert c.r2_ > 0.9
    # marginal return is the derivative of the curve
    h = 1e-3
    x = 1_500.0
    assert c.marginal(x) == pytest.approx((c.predict(x + h) - c.predict(x - h)) / (2 * h),
                                          rel=1e-5)


def test_straight_line_data_is_flagged_linear():
    spend = np.linspace(100, 1_000, 12)
    c = SaturatingResponse().fit(spend, 3.0 * spend)
    assert c.method_ == "least_squares" and c.linear_
    # over the data the curve is the line: revenue ≈ 3 × spend
    assert np.allclose(c.predict(spend), 3.0 * spend, rtol=0.01)


def test_fallback_with_too_few_points_goes_through_the_mean_point():
    spend, revenue = np.array([100.0, 300.0, 500.0]), np.array([900.0, 1500.0, 2400.0])
    c = SaturatingResponse(min_points=6).fit(spend, revenue)
    assert c.method_ == "mean_point" and np.isnan(c.r2_)
    assert c.b_ == pytest.approx(spend.mean())
    assert c.predict(spend.mean()) == pytest.approx(revenue.mean())
    # at the mean, the channel is at 1 − 1/e of its saturation
    assert c.predict(spend.mean()) / c.a_ == pytest.approx(1 - np.exp(-1))


def test_no_revenue_means_no_return():
    c = SaturatingResponse().fit([100, 200, 300, 400, 500, 600], [0, 0, 0, 0, 0, 0])
    assert c.method_ == "no_revenue" and c.a_ == 0
    assert np.all(c.predict([0, 1e6]) == 0)
    c = SaturatingResponse().fit([0, 0, 0], [10, 20, 30])
    assert c.method_ == "no_spend" and c.a_ == 0


# ---------------------------------------------------------------------------------------------
# reallocation

channel_set = st.lists(
    st.tuples(st.floats(0.0, 1e5), st.floats(1.0, 1e4), st.floats(0.0, 1e4)),
    min_size=1, max_size=8)


@given(channel_set, st.floats(0.0, 1.0), st.floats(0.0, 2.0))
@settings(max_examples=150, deadline=None)
def test_reallocation_conserves_total_respects_bounds_and_never_loses(chans, down, up):
    curves = {f"c{i}": curve(a, b) for i, (a, b, _) in enumerate(chans)}
    current = {f"c{i}": x for i, (_, _, x) in enumerate(chans)}
    out = reallocate(curves, current, max_increase=up, max_decrease=down).set_index("channel")
    total = sum(current.values())
    assert out["suggested"].sum() == pytest.approx(total, rel=1e-9, abs=1e-6)
    x0 = out["current"]
    assert np.all(out["suggested"] >= x0 * (1 - down) - 1e-6 * (1 + x0))
    assert np.all(out["suggested"] <= x0 * (1 + up) + 1e-6 * (1 + x0))
    now = total_return(curves, current)
    new = total_return(curves, out["suggested"].to_dict())
    assert new >= now - 1e-9 * max(now, 1.0)
    assert out["expected_return_suggested"].sum() == pytest.approx(new)


@given(channel_set, st.floats(0.0, 1.0), st.floats(0.0, 2.0))
@settings(max_examples=150, deadline=None)
def test_the_solver_itself_never_loses(chans, down, up):
    # `reallocate` falls back on today's allocation should rounding ever lose; the solver
    # underneath must not need that
    a, b, x0 = (np.array(v, float) for v in zip(*chans))
    x = _equalise(a, b, x0 * (1 - down), x0 * (1 + up), float(x0.sum()))
    assert x.sum() == pytest.approx(x0.sum(), rel=1e-9, abs=1e-6)

    def f(v):
        return float((a * -np.expm1(-v / b)).sum())

    assert f(x) >= f(x0) - 1e-9 * max(f(x0), 1.0)


@given(st.floats(100.0, 1e5), st.floats(10.0, 1e4),
       st.lists(st.floats(1.0, 10.0), min_size=2, max_size=8))
@settings(max_examples=100, deadline=None)
def test_identical_curves_split_evenly(a, b, budgets):
    curves = {f"c{i}": curve(a, b) for i in range(len(budgets))}
    current = {f"c{i}": x for i, x in enumerate(budgets)}
    # bounds wide enough for the even split to be feasible
    out = reallocate(curves, current, max_decrease=1.0, max_increase=100.0)
    even = sum(budgets) / len(budgets)
    assert np.allclose(out["suggested"], even, rtol=1e-7)


def test_unbound_channels_end_with_equal_marginal_returns_and_match_a_generic_solver():
    curves = {"search": curve(40_000, 3_000), "email": curve(20_000, 500),
              "social": curve(30_000, 6_000), "douyin": curve(5_000, 4_000)}
    current = {"search": 6_000.0, "email": 1_500.0, "social": 2_000.0, "douyin": 2_500.0}
    out = reallocate(curves, current, max_increase=0.5, max_decrease=0.5).set_index("channel")
    inside = (out["suggested"] > out["lower"] + 1e-6) & (out["suggested"] < out["upper"] - 1e-6)
    assert inside.sum() >= 2
    m = out.loc[inside, "marginal_return_suggested"]
    assert m.max() == pytest.approx(m.min(), rel=1e-6)
    # a channel held at its lower bound earns less at the margin than the common rate, one at
    # its upper bound more (else moving budget would pay)
    common = m.mean()
    assert np.all(out.loc[out["suggested"] <= out["lower"] + 1e-6, "marginal_return_suggested"]
                  <= common + 1e-9)
    assert np.all(out.loc[out["suggested"] >= out["upper"] - 1e-6, "marginal_return_suggested"]
                  >= common - 1e-9)
    # an independent solver (SLSQP) does no better
    names = list(current)
    x0 = np.array([current[n] for n in names])

    def neg(x):
        return -sum(curves[n].predict(v) for n, v in zip(names, x))

    res = minimize(neg, x0, method="SLSQP", bounds=list(zip(x0 * 0.5, x0 * 1.5)),
                   constraints=[{"type": "eq", "fun": lambda x: x.sum() - x0.sum()}],
                   options={"ftol": 1e-12, "maxiter": 500})
    ours = out["expected_return_suggested"].sum()
    assert ours >= -res.fun - 1e-6 * ours
    assert out.loc[names, "suggested"].to_numpy() == pytest.approx(res.x, rel=1e-3)


def test_per_channel_limits_and_channels_without_return():
    curves = {"a": curve(10_000, 1_000), "dead": curve(0.0, 1_000)}
    current = {"a": 1_000.0, "dead": 1_000.0}
    out = reallocate(curves, current, limits={"dead": (0.1, 0.0)}).set_index("channel")
    # the channel that returns nothing gives up all it may (10 %), and no more
    assert out.at["dead", "suggested"] == pytest.approx(900.0)
    assert out.at["a", "suggested"] == pytest.approx(1_100.0)


@pytest.mark.parametrize("down, up", [(-0.1, 0.3), (1.5, 0.3), (0.3, -0.2), (0.3, np.inf)])
def test_impossible_limits_are_refused(down, up):
    with pytest.raises(BadBudgetSettings, match="max-change"):
        reallocate({"a": curve(1, 1)}, {"a": 1.0}, max_decrease=down, max_increase=up)


def test_settings_refuse_an_unknown_period():
    with pytest.raises(BadBudgetSettings, match="month"):
        BudgetSettings(freq="W")


# ---------------------------------------------------------------------------------------------
# plan vs actual


def test_campaign_budget_is_spread_over_its_days_and_periods():
    campaigns = pd.DataFrame({
        "campaign_id": ["C1"], "name": ["spring"], "channel": ["search"],
        "start": [pd.Timestamp("2025-01-20")], "end": [pd.Timestamp("2025-02-09 23:59:59")],
        "budget": [2_100.0]})
    plan = campaign_plan(campaigns, datetime(2025, 2, 5, 12), "M").set_index("period")
    # 21 days at 100 a day: 12 in January, 9 in February
    assert plan.at["2025-01", "planned"] == pytest.approx(1_200)
    assert plan.at["2025-02", "planned"] == pytest.approx(900)
    assert plan.at["2025-01", "planned_to_date"] == pytest.approx(1_200)
    # 1–4 February whole, and half of the 5th
    assert plan.at["2025-02", "planned_to_date"] == pytest.approx(450)
    q = campaign_plan(campaigns, datetime(2025, 6, 1), "Q")
    assert q["period"].tolist() == ["2025Q1"] and q["planned"].iloc[0] == pytest.approx(2_100)


def test_execution_status_fires_exactly_beyond_the_tolerance():
    periods = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05"]
    plan = pd.DataFrame({"channel": "search", "period": periods[:4],
                         "planned": 100.0, "planned_to_date": 100.0})
    actual = pd.DataFrame({"channel": "search", "period": periods,
                           "actual": [110.0, 110.5, 90.0, 89.5, 40.0]})
    out = plan_vs_actual(plan, actual, datetime(2025, 7, 1), "M", tolerance=0.10)
    assert out["status"].tolist() == ["on_plan", "over", "on_plan", "under", "unplanned"]
    assert out["execution_rate"].iloc[:4].tolist() == pytest.approx([1.1, 1.105, 0.9, 0.895])
    assert out["variance"].iloc[0] == pytest.approx(10.0)


def test_file_plan_counts_the_elapsed_share_of_the_current_period():
    plan = pd.DataFrame({"channel": ["a", "a", "a"], "period": ["2025-03", "2025-04", "2025-05"],
                         "planned": [310.0, 300.0, 310.0]})
    out = file_plan(plan, datetime(2025, 4, 16), "M")
    assert out["planned_to_date"].tolist() == pytest.approx([310.0, 150.0, 0.0])


def test_complete_periods_stop_before_the_period_of_as_of():
    assert complete_periods("2025-01-15", datetime(2025, 4, 1), "M") == \
        ["2025-01", "2025-02", "2025-03"]
    assert complete_periods("2025-01-15", datetime(2025, 4, 20), "M")[-1] == "2025-03"


def test_read_plan_csv_with_chinese_headers_and_gbk(tmp_path):
    f = tmp_path / "plan.csv"
    f.write_bytes("渠道,期间,预算\nsearch,2025-01,1000\nsearch,2025-01,500\nemail,2025-02,300\n"
                  .encode("gbk"))
    plan = read_plan(f).set_index(["channel", "period"])["planned"]
    assert plan.to_dict() == {("email", "2025-02"): 300.0, ("search", "2025-01"): 1500.0}
    # a quarterly plan adds the months of a quarter together
    assert read_plan(f, "Q").set_index("channel")["planned"].to_dict() == \
        {"email": 300.0, "search": 1500.0}


def test_read_plan_yaml_both_shapes(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("- {channel: search, period: 2025-01, planned: 1000}\n"
                 "- {channel: email, period: 2025-01, planned: 200}\n")
    b = tmp_path / "b.yml"
    b.write_text("search:\n  2025-01: 1000\nemail:\n  2025-01: 200\n")
    assert read_plan(a).equals(read_plan(b))
    assert read_plan(a)["planned"].sum() == 1200


@pytest.mark.parametrize("text, message", [
    ("channel,planned\nsearch,10\n", "missing column(s) period"),
    ("channel,period,planned\nsearch,2025-01,10\nemail,2025-02,-5\n", "line 3: planned is '-5'"),
    ("channel,period,planned\nsearch,2025-01,lots\n", "line 2: planned is 'lots'"),
    ("channel,period,planned\nsearch,someday,10\n", "line 2: period 'someday'"),
    ("channel,period,planned\n,2025-01,10\n", "line 2: channel is empty"),
])
def test_bad_plan_files_name_the_file_and_line(tmp_path, text, message):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(BadPlan) as e:
        read_plan(f)
    assert "bad.csv" in str(e.value) and message in str(e.value)


def test_missing_plan_file(tmp_path):
    with pytest.raises(BadPlan, match="no such file"):
        read_plan(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# from the warehouse


def test_budget_tables_on_a_small_world(small_world):
    wh, as_of = small_world
    tables, summary = budget_tables(wh, as_of)
    pva = tables["budget_plan_vs_actual"]
    # actual = spend rows that name a campaign, summed independently here
    spend = wh.table("marketing_spend").to_pandas()
    names = set(wh.table("campaigns").to_pandas()["name"])
    spend = spend[pd.to_datetime(spend["date"]) < as_of]
    assert pva["actual"].sum() == pytest.approx(spend[spend["campaign"].isin(names)]["cost"].sum())
    assert pva["channel_spend"].sum() <= spend["cost"].sum() + 1e-6
    budgets = wh.table("campaigns").to_pandas()
    started = budgets[budgets["end"] < as_of]
    assert pva["planned"].sum() >= started["budget"].sum() - 1e-6
    due = pva["planned_to_date"] > 0
    assert summary["execution_rate"] == pytest.approx(
        pva.loc[due, "actual"].sum() / pva["planned_to_date"].sum(), abs=1e-4)
    assert summary["unplanned_spend"] == pytest.approx(pva.loc[~due, "actual"].sum(), abs=0.01)
    re = tables["budget_reallocation"]
    assert re["suggested"].sum() == pytest.approx(re["current"].sum())
    assert summary["expected_return_suggested"] >= summary["expected_return_now"]
    assert (re["change_pct"].abs() <= 0.30 + 1e-9).all()
    assert set(tables["budget_curves"]["channel"]) == set(re["channel"])


def test_budget_tables_with_a_plan_frame(small_world):
    wh, as_of = small_world
    plan = pd.DataFrame({"channel": ["search", "email"], "period": ["2025-12", "2025-12"],
                         "planned": [1_000.0, 0.0]})
    tables, summary = budget_tables(wh, as_of, plan=plan,
                                    settings=BudgetSettings(max_increase=0.1, max_decrease=0.1))
    pva = tables["budget_plan_vs_actual"].set_index(["channel", "period"])
    spend = wh.table("marketing_spend").to_pandas()
    dec = spend[(pd.to_datetime(spend["date"]) >= datetime(2025, 12, 1))
                & (spend["channel"] == "search")]
    assert pva.at[("search", "2025-12"), "actual"] == pytest.approx(dec["cost"].sum())
    assert summary["plan_source"] == "frame"
    # spend in December on search has a plan; every other cell with spend is unplanned
    assert summary["planned_to_date"] == pytest.approx(1_000.0)
    assert summary["actual"] == pytest.approx(dec["cost"].sum(), abs=0.01)
    assert summary["unplanned_spend"] == pytest.approx(
        spend[pd.to_datetime(spend["date"]) < as_of]["cost"].sum() - dec["cost"].sum(), abs=0.1)
    assert (tables["budget_reallocation"]["change_pct"].abs() <= 0.1 + 1e-9).all()


def test_paths_built_in_parts_of_the_customers_are_the_paths_of_all(small_world, monkeypatch):
    from upmarket.strategy import budget

    wh, as_of = small_world
    whole = budget._period_paths(wh, as_of, "M", 30)
    monkeypatch.setattr(budget, "PATH_PART_CUSTOMERS", 70)  # 300 customers: 5 parts
    parts = budget._period_paths(wh, as_of, "M", 30)
    assert len(whole) > 20 and whole["total_conversions"].sum() > 100
    # the parts read the touches from files beside the warehouse, gone once they are built
    beside = Path(duckdb_path(wh.url)).parent
    assert not list(beside.glob("*.paths.*"))
    pd.testing.assert_frame_equal(parts[["period", "path", "total_conversions"]],
                                  whole[["period", "path", "total_conversions"]])
    np.testing.assert_allclose(parts["total_conversion_value"], whole["total_conversion_value"],
                               rtol=1e-12)
    # and the curves read the same revenue from them
    monkeypatch.setattr(budget, "PATH_PART_CUSTOMERS", 250_000)
    tables_whole, _ = budget_tables(wh, as_of)
    monkeypatch.setattr(budget, "PATH_PART_CUSTOMERS", 70)
    tables_parts, _ = budget_tables(wh, as_of)
    np.testing.assert_allclose(tables_parts["budget_points"]["revenue"],
                               tables_whole["budget_points"]["revenue"], rtol=1e-9)


def test_journey_paths_serve_roi_and_the_budget_alike_in_parts_or_whole(small_world,
                                                                        monkeypatch):
    from upmarket.features.paths import touchpoint_paths
    from upmarket.strategy import budget
    from upmarket.strategy.roi import path_table

    wh, as_of = small_world
    whole = budget.journey_paths(wh, as_of, "M", 30)
    monkeypatch.setattr(budget, "PATH_PART_CUSTOMERS", 70)  # 300 customers: 5 parts
    parts = budget.journey_paths(wh, as_of, "M", 30)
    # summed over the periods, in parts or not: ROI's path table
    want = touchpoint_paths(wh.table("events"), wh.table("orders"), as_of, 30).to_pandas()
    assert want["total_null"].sum() > 0
    for found in (whole, parts):
        got = path_table(found)
        pd.testing.assert_frame_equal(got[["path", "total_conversions", "total_null"]],
                                      want[["path", "total_conversions", "total_null"]],
                                      check_dtype=False)
        np.testing.assert_allclose(got["total_conversion_value"],
                                   want["total_conversion_value"], rtol=1e-12)
    # and a budget handed them reads what it would have built itself
    tables_own, summary_own = budget_tables(wh, as_of)
    tables_given, summary_given = budget_tables(wh, as_of, paths=parts)
    np.testing.assert_allclose(tables_given["budget_points"]["revenue"],
                               tables_own["budget_points"]["revenue"], rtol=1e-9)
    assert summary_given == summary_own


@pytest.mark.parametrize("where", ["file", "memory"])
def test_tables_held_for_the_parts_read_back_as_they_were(tmp_path, where):
    import ibis

    from upmarket.strategy import budget
    from upmarket.warehouse import connect

    wh = connect(f"duckdb://{tmp_path}/w.duckdb" if where == "file" else "duckdb://")
    rows = pd.DataFrame({"k": [3, 1, 2, 1], "name": ["c", "a", None, "it's"],
                         "ts": pd.to_datetime(["2024-01-02", None, "2024-03-04 05:06:07",
                                               "2024-01-01"], format="ISO8601"),
                         "v": [0.1, np.nan, 2.5, 1e-300]})
    t = ibis.memtable(rows).order_by("k")
    with budget._held(wh, t=t) as held:
        got = held["t"].to_pandas()
        if where == "file":
            assert len(list(tmp_path.glob("w.duckdb.paths.*/*.parquet"))) == 1
    pd.testing.assert_frame_equal(got, t.to_pandas(), check_dtype=False)
    # written in the order asked for: the parts read their own row groups
    assert got["k"].tolist() == [1, 1, 2, 3]
    assert not list(tmp_path.glob("*.paths.*"))
    wh.close()


def test_files_a_killed_run_left_behind_are_removed_when_tables_are_held_again(tmp_path):
    import ibis

    from upmarket.strategy import budget
    from upmarket.warehouse import connect

    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    left = tmp_path / "w.duckdb.paths.killed"
    left.mkdir()
    (left / "touches.parquet").write_bytes(b"customer data of a run killed mid-way")
    other = tmp_path / "other.duckdb.paths.x"  # another warehouse's: not this file's to remove
    other.mkdir()
    with budget._held(wh, t=ibis.memtable(pd.DataFrame({"k": [1]}))) as held:
        assert held["t"].to_pandas()["k"].tolist() == [1]
        assert not left.exists()
    assert other.exists()
    assert not list(tmp_path.glob("w.duckdb.paths.*"))
    wh.close()
