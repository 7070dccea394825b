"""Weighted scorecards: card validation, scoring rules, missing data, periods, comparisons, and
the warehouse metrics checked against hand computations on a tiny warehouse."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from upmarket.strategy import scorecard as sc
from upmarket.strategy.scorecard import (
    BadInputs, BadPeriod, BadScorecard, InputMetrics, Measurement, attainment,
    parse_period, parse_scorecard, score_card,
)


def card(dims, **extra):
    return parse_scorecard({"dimensions": dims, **extra}, "my_card.yaml")


THREE = [
    {"key": "value", "weight": 0.5, "metrics": [
        {"key": "a", "from": "inputs", "target": 10, "weight": 0.5},
        {"key": "b", "from": "inputs", "target": 10, "weight": 0.3},
        {"key": "c", "from": "inputs", "target": 10, "weight": 0.2}]},
    {"key": "brand", "weight": 0.3, "metrics": [
        {"key": "d", "from": "inputs", "target": 4, "direction": "lower"}]},
    {"key": "ops", "weight": 0.2, "metrics": [
        {"key": "e", "from": "inputs", "target": 1.0, "direction": "closest"}]},
]


def vals(**kw):
    return {k: Measurement(v, origin="x") for k, v in kw.items()}


# -- card validation ------------------------------------------------------------------------
def test_dimension_weights_must_sum_to_one_and_the_error_names_file_and_dimensions():
    dims = [dict(d) for d in THREE]
    dims[2] = {**dims[2], "weight": 0.1}
    with pytest.raises(BadScorecard) as e:
        card(dims)
    msg = str(e.value)
    assert "my_card.yaml" in msg and "sum to 0.9" in msg
    assert "value 0.5" in msg and "brand 0.3" in msg and "ops 0.1" in msg


def test_metric_weights_within_a_dimension_are_checked_and_named():
    dims = [dict(d) for d in THREE]
    dims[0] = {**dims[0], "metrics": [{**m, "weight": 0.4} for m in dims[0]["metrics"]]}
    with pytest.raises(BadScorecard, match=r"my_card.yaml, dimension 'value'.*sum to 1\.2"):
        card(dims)


def test_weights_all_or_none_percent_strings_and_equal_shares():
    c = card([{"key": "x", "weight": "60%", "metrics": [
                  {"key": "a", "from": "inputs", "target": 1},
                  {"key": "b", "from": "inputs", "target": 1}]},
              {"key": "y", "weight": "40%", "metrics": [
                  {"key": "c", "from": "inputs", "target": 1}]}])
    assert [d.weight for d in c.dimensions] == pytest.approx([0.6, 0.4])
    assert [m.weight for m in c.dimensions[0].metrics] == pytest.approx([0.5, 0.5])
    with pytest.raises(BadScorecard, match="give every dimension a weight or none.*y"):
        card([{"key": "x", "weight": 1, "metrics": [{"key": "a", "from": "inputs",
                                                      "target": 1}]},
              {"key": "y", "metrics": [{"key": "c", "from": "inputs", "target": 1}]}])
    with pytest.raises(BadScorecard, match="'x'.*weight must be positive"):
        card([{"key": "x", "weight": -1, "metrics": [{"key": "a", "from": "inputs",
                                                       "target": 1}]},
              {"key": "y", "weight": 2, "metrics": [{"key": "c", "from": "inputs",
                                                     "target": 1}]}])


@pytest.mark.parametrize("metric, message", [
    ({"key": "nps_scor", "target": 50}, "unknown metric source 'nps_scor'.*from: inputs"),
    ({"key": "nps", "target": "lots"}, "cannot read the target 'lots'"),
    ({"key": "nps"}, "needs a 'target'"),
    ({"key": "nps", "target": "> 50", "direction": "lower"}, "asks for higher values"),
    ({"key": "a", "from": "inputs", "target": 5, "method": "linear"}, "needs a 'floor'"),
    ({"key": "a", "from": "inputs", "target": 5, "method": "linear", "floor": 8},
     "floor .* far side"),
    ({"key": "a", "from": "inputs", "target": 0}, "needs a positive target"),
    ({"key": "a", "from": "inputs", "target": 1, "colour": "red"}, "unknown field.*colour"),
])
def test_bad_metrics_are_named(metric, message):
    with pytest.raises(BadScorecard, match=message) as e:
        card([{"key": "dim", "metrics": [metric]}])
    assert f"dimension 'dim', metric {metric['key']!r}" in str(e.value)


def test_shipped_cards_are_package_data_with_the_seed_weights_and_targets():
    assert set(sc.builtin_scorecards()) >= {"effect_index", "platform_selection",
                                             "sales_competency", "execution"}
    effect = sc.load_scorecard("effect_index")
    assert {d.key: d.weight for d in effect.dimensions} == pytest.approx(
        {"customer_value": 0.5, "brand_value": 0.3, "operational_efficiency": 0.2})
    metrics = {m.key: m for _, m in effect.metrics}
    assert (metrics["cltv"].target.kind, metrics["cltv"].target.value) == ("growth",
                                                                           pytest.approx(0.35))
    assert metrics["premium_penetration"].target.value == pytest.approx(0.28)
    assert (metrics["nps"].target.comparator, metrics["nps"].target.value) == (">", 50)
    assert metrics["response_time_hours"].direction == "lower"
    plat = sc.load_scorecard("platform_selection")
    assert [d.weight for d in plat.dimensions] == pytest.approx([0.4, 0.3, 0.2, 0.1])
    sales = sc.load_scorecard("sales_competency")
    assert [d.weight for d in sales.dimensions] == pytest.approx([0.35, 0.3, 0.25, 0.1])
    assert not plat.needs_warehouse and not sales.needs_warehouse
    ex = sc.load_scorecard("execution")
    assert {m.source for _, m in ex.metrics} >= {"task_completion_rate", "resource_utilisation",
                                                  "budget_execution_rate", "csat"}


def test_own_card_file_and_missing_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"dimensions": {"only": {"metrics": {
        "nps": {"target": "> 40"}}}}}))
    c = sc.load_scorecard(path)
    assert c.name == "mine" and c.metrics[0][1].source == "nps"
    with pytest.raises(BadScorecard, match="no such scorecard file.*effect_index"):
        sc.load_scorecard(tmp_path / "nope.yaml")
    path.write_text("dimensions: [unclosed")
    with pytest.raises(BadScorecard, match="mine.yaml: not valid YAML"):
        sc.load_scorecard(path)


# -- scoring rules --------------------------------------------------------------------------
def test_attainment_rules_by_direction_and_method():
    assert attainment(5, 10) == 0.5 and attainment(15, 10) == 1.0
    assert attainment(15, 10, cap=1.2) == pytest.approx(1.2)
    assert attainment(-20, 50) == 0.0  # a negative NPS earns nothing, not negative points
    # lower is better: target ÷ actual; at or below the target is full marks
    assert attainment(8, 4, "lower") == 0.5 and attainment(3, 4, "lower") == 1.0
    # closest: 90 % and 111.1 % of budget both score 0.9
    assert attainment(0.9, 1.0, "closest") == pytest.approx(0.9)
    assert attainment(1 / 0.9, 1.0, "closest") == pytest.approx(0.9)
    # linear: 0 at the floor, 1 at the target, straight between (either direction)
    assert attainment(3, 5, method="linear", floor=1) == pytest.approx(0.5)
    assert attainment(2, 0, "lower", method="linear", floor=5) == pytest.approx(0.6)
    assert attainment(0.5, 5, method="linear", floor=1) == 0.0
    assert math.isnan(attainment(1, 0))  # attainment needs a positive target


@given(actual=st.floats(-1e6, 1e6), target=st.floats(1e-3, 1e6),
       cap=st.floats(0.5, 2.0), direction=st.sampled_from(sc.DIRECTIONS))
def test_attainment_lies_in_zero_cap(actual, target, cap, direction):
    a = attainment(actual, target, direction, cap=cap)
    assert 0.0 <= a <= cap


@given(x=st.floats(-100, 100), dx=st.floats(1e-3, 50), target=st.floats(0.1, 100),
       floor=st.floats(-100, 100), method=st.sampled_from(sc.METHODS))
def test_attainment_is_monotone_in_its_direction(x, dx, target, floor, method):
    assume(abs(target - floor) > 1e-3)
    hi_floor, lo_floor = min(floor, target - 1e-3), max(floor, target + 1e-3)
    up = attainment(x + dx, target, "higher", method, hi_floor)
    assert up >= attainment(x, target, "higher", method, hi_floor) - 1e-12
    down = attainment(x + dx, target, "lower", method, lo_floor)
    assert down <= attainment(x, target, "lower", method, lo_floor) + 1e-12


def test_dimension_and_index_are_weighted_sums_of_attainments():
    c = card(THREE)
    e = score_card(c, vals(a=5, b=10, c=2.5, d=8, e=0.8), subject="s")
    m = e.metrics.set_index("metric")
    assert m.attainment.to_dict() == pytest.approx(
        {"a": 0.5, "b": 1.0, "c": 0.25, "d": 0.5, "e": 0.8})
    value = 100 * (0.5 * 0.5 + 0.3 * 1.0 + 0.2 * 0.25)
    expected = 0.5 * value + 0.3 * 50 + 0.2 * 80
    assert e.dimensions.set_index("dimension").score.to_dict() == pytest.approx(
        {"value": value, "brand": 50, "ops": 80})
    assert e.index == pytest.approx(expected)
    assert m.points.sum() == pytest.approx(e.index)
    assert e.coverage == pytest.approx(1.0) and e.notes == []
    assert bool(m.loc["b", "met"]) and not bool(m.loc["a", "met"])


def test_missing_metric_weight_is_renormalised_within_its_dimension_and_said():
    c = card(THREE)
    e = score_card(c, vals(a=5, c=2.5, d=8, e=0.8), subject="s")  # b has no data
    m = e.metrics.set_index("metric")
    assert m.loc["b", "status"] == "no_data" and m.loc["b", "points"] == 0
    assert m.loc["b", "note"] == "not_supplied"
    # a and c share b's weight in proportion to theirs: 0.5/0.7 and 0.2/0.7
    assert m.loc[["a", "c"], "effective_weight"].tolist() == pytest.approx([5 / 7, 2 / 7])
    value = 100 * (0.5 * 0.5 + 0.2 * 0.25) / 0.7
    assert e.dimensions.set_index("dimension").loc["value", "score"] == pytest.approx(value)
    assert e.index == pytest.approx(0.5 * value + 0.3 * 50 + 0.2 * 80)
    assert ("renormalised", {"metric": "b", "dimension": "value", "status": "no_data"}) \
        in e.notes
    assert e.coverage == pytest.approx(1 - 0.5 * 0.3)


def test_dimension_without_data_hands_its_weight_to_the_others():
    c = card(THREE)
    e = score_card(c, vals(a=10, b=10, c=10, e=0.5), subject="s")  # d (all of brand) missing
    dims = e.dimensions.set_index("dimension")
    assert math.isnan(dims.loc["brand", "score"])
    assert dims.effective_weight.to_dict() == pytest.approx(
        {"value": 0.5 / 0.7, "brand": 0.0, "ops": 0.2 / 0.7})
    assert e.index == pytest.approx((0.5 * 100 + 0.2 * 50) / 0.7)
    assert ("dimension_missing", {"dimension": "brand"}) in e.notes
    assert e.coverage == pytest.approx(0.7)
    assert score_card(c, {}, subject="s").index is None


def test_inputs_card_ignores_warehouse_values_for_supplied_metrics():
    c = card([{"key": "x", "metrics": [{"key": "nps", "from": "inputs", "target": 50}]}])
    e = score_card(c, {"nps": Measurement(40.0)}, subject="s")  # no origin: the warehouse's
    assert e.metrics.status.iloc[0] == "no_data" and e.index is None


def test_growth_targets_use_the_baseline_and_score_growth_achieved_over_targeted():
    c = card([{"key": "v", "metrics": [{"key": "x", "from": "inputs", "target": "+25%"},
                                       {"key": "y", "from": "inputs", "target": "+5pt",
                                        "unit": "share"}]}])
    m = c.metrics[0][1]
    assert m.method == "linear" and m.floor.text == "+0%"
    e = score_card(c, vals(x=110, y=0.42), vals(x=100, y=0.40), subject="now", baseline="then")
    rows = e.metrics.set_index("metric")
    assert rows.loc["x", "target"] == pytest.approx(125)
    assert rows.loc["x", "attainment"] == pytest.approx(10 / 25)
    assert rows.loc["y", "target"] == pytest.approx(0.45)
    assert rows.loc["y", "attainment"] == pytest.approx(0.02 / 0.05)
    # without a baseline a growth target cannot be resolved: "no target", not zero points
    e = score_card(c, vals(x=110, y=0.42), subject="now")
    assert set(e.metrics.status) == {"no_target"} and e.index is None
    assert e.metrics.note.iloc[0] == "no_baseline"


def test_parse_target_forms():
    t = sc.parse_target
    assert (t("> 50", "w").comparator, t("> 50", "w").value) == (">", 50)
    assert t("≥ 80%", "w").value == pytest.approx(0.8) and t("≥ 80%", "w").comparator == ">="
    assert t("+35 %", "w").kind == "growth" and t("+35 %", "w").value == pytest.approx(0.35)
    assert t("−10%", "w").value == pytest.approx(-0.10)
    assert t("+5pt", "w").kind == "points" and t("+5pt", "w").value == pytest.approx(0.05)
    assert t(4.5, "w").kind == "absolute"
    assert t("+35%", "w").resolve(200) == pytest.approx(270)
    assert t("+35%", "w").resolve(0) is None and t("+35%", "w").resolve(None) is None


# -- property tests over the effect index ---------------------------------------------------
EFFECT = sc.load_scorecard("effect_index")
SOURCES = [m.source for _, m in EFFECT.metrics]
value = st.one_of(st.none(), st.floats(0.001, 200.0))


def measured(values):
    return {k: Measurement(v) for k, v in zip(SOURCES, values) if v is not None}


@settings(max_examples=150, deadline=None)
@given(current=st.lists(value, min_size=len(SOURCES), max_size=len(SOURCES)),
       base=st.lists(value, min_size=len(SOURCES), max_size=len(SOURCES)))
def test_index_lies_in_0_100_and_is_the_sum_of_points(current, base):
    e = score_card(EFFECT, measured(current), measured(base), subject="a", baseline="b")
    if e.index is None:
        assert e.metrics.status.ne("ok").all()
        return
    assert 0.0 <= e.index <= 100.0 + 1e-9
    assert e.metrics.points.sum() == pytest.approx(e.index)
    scores = e.dimensions.score.dropna()
    assert ((scores >= -1e-9) & (scores <= 100 + 1e-9)).all()
    assert 0 < e.coverage <= 1 + 1e-9


# small values (shares, hours) and large ones (CLTV, NPS), so every metric is seen both below
# and above its target
level = st.one_of(st.floats(0.001, 2.0), st.floats(2.0, 200.0))


@settings(max_examples=40, deadline=None)
@given(current=st.lists(level, min_size=len(SOURCES), max_size=len(SOURCES)),
       base=st.lists(level, min_size=len(SOURCES), max_size=len(SOURCES)),
       bump=st.floats(0.01, 100.0))
def test_index_is_monotone_in_each_metric_in_its_direction(current, base, bump):
    before = score_card(EFFECT, measured(current), measured(base), subject="a", baseline="b")
    for which, (_, metric) in enumerate(EFFECT.metrics):
        moved = list(current)
        moved[which] += bump
        after = score_card(EFFECT, measured(moved), measured(base), subject="a", baseline="b")
        if metric.direction == "higher":
            assert after.index >= before.index - 1e-9, metric.key
        else:
            assert metric.direction == "lower"
            assert after.index <= before.index + 1e-9, metric.key


# -- periods ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, label", [
    ("2025-07", "2025-07"), ("2025/7", "2025-07"), ("202507", "2025-07"), ("2025年7月", "2025-07"),
    ("2025-Q3", "2025-Q3"), ("2025Q3", "2025-Q3"), ("2025 q3", "2025-Q3"), ("Q3 2025", "2025-Q3"),
    ("2025年第3季度", "2025-Q3"), ("2025年第三季度", "2025-Q3"), ("2025", "2025"), (2025, "2025"),
])
def test_period_forms(text, label):
    assert parse_period(text).label == label


@pytest.mark.parametrize("text", ["2025-13", "2025-00", "2025-Q5", "Q0 2025", "1800", "abc", "",
                                  "2025-07-01", "25-Q3"])
def test_bad_periods_say_how_to_write_one(text):
    with pytest.raises(BadPeriod, match="write a month as 2025-07, a quarter as 2025-Q3"):
        parse_period(text)


def test_period_bounds_and_previous():
    q = parse_period("2025-Q1")
    assert (q.start, q.end) == (datetime(2025, 1, 1), datetime(2025, 4, 1))
    assert q.previous().label == "2024-Q4" and q.previous().end == q.start
    m = parse_period("2025-01")
    assert m.previous().label == "2024-12" and m.days == 31
    assert parse_period("2024-02").days == 29
    y = parse_period("2025")
    assert (y.start, y.end, y.previous().label) == (datetime(2025, 1, 1), datetime(2026, 1, 1),
                                                     "2024")


@given(ts=st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)),
       kind=st.sampled_from(sc.PERIOD_KINDS))
def test_last_complete_period_is_the_latest_one_ended_by_as_of(ts, kind):
    p = sc.last_complete(ts, kind)
    assert p.kind == kind and p.end <= ts
    nxt = p._shift(1)
    assert nxt.end > ts  # the next one has not ended yet


# -- inputs ---------------------------------------------------------------------------------
def test_read_inputs_yaml_csv_and_errors(tmp_path):
    y = tmp_path / "p.yaml"
    y.write_text("Vendor A: {maturity: 8, scalability: '70%'}\n2025Q3: {maturity: 6}\n")
    got = sc.read_inputs(y)
    assert got.values == {"Vendor A": {"maturity": 8.0, "scalability": 0.7},
                          "2025-Q3": {"maturity": 6.0}}
    flat = tmp_path / "flat.yml"
    flat.write_text("marketing_automation_rate: 62%\n")
    f = sc.read_inputs(flat).for_subject("2025-Q3")
    assert f.values == {"2025-Q3": {"marketing_automation_rate": pytest.approx(0.62)}}
    c = tmp_path / "t.csv"
    c.write_text("subject,metric,value\nLi,product_expertise,4.5\nLi,relationships,5\n")
    assert sc.read_inputs(c).values == {"Li": {"product_expertise": 4.5, "relationships": 5.0}}
    c.write_text("subject,metric,value\nLi,product_expertise,good\n")
    with pytest.raises(BadInputs, match=r"t.csv: 'product_expertise' of 'Li': value 'good'"):
        sc.read_inputs(c)
    c.write_text("name,score\nx,1\n")
    with pytest.raises(BadInputs, match="lacks column.*metric, value"):
        sc.read_inputs(c)
    with pytest.raises(BadInputs, match="no such file"):
        sc.read_inputs(tmp_path / "none.yaml")


def test_a_share_given_as_a_percentage_number_is_refused(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("marketing_automation_rate: 62\n")
    c = card([{"key": "ops", "metrics": [{"key": "marketing_automation_rate",
                                          "from": "inputs", "target": ">= 80%"}]}])
    provider = sc.read_inputs(f).for_subject("2025-Q3")
    with pytest.raises(BadInputs, match=r"v.yaml: marketing_automation_rate is a share.*0.62"):
        sc.evaluate(c, provider, parse_period("2025-Q3"))


# -- comparisons ----------------------------------------------------------------------------
def test_compare_scores_both_periods_against_their_predecessors_with_deltas():
    c = card([{"key": "v", "weight": 0.6, "metrics": [
                  {"key": "x", "from": "inputs", "target": "+25%"}]},
              {"key": "w", "weight": 0.4, "metrics": [
                  {"key": "y", "from": "inputs", "target": 10}]}])
    provider = InputMetrics({"2025-Q3": {"x": 120, "y": 8}, "2025-Q2": {"x": 100, "y": 5},
                             "2025-Q1": {"x": 100}}, "in.yaml")
    cmp = sc.compare(c, provider, parse_period("2025-Q3"), parse_period("2025-Q2"))
    # Q3: x grew 20 % of the 25 % asked (0.8), y 8/10; Q2: x flat on Q1 (0), y 5/10
    assert cmp.current.index == pytest.approx(0.6 * 80 + 0.4 * 80)
    assert cmp.previous.index == pytest.approx(0.6 * 0 + 0.4 * 50)
    assert cmp.previous.baseline == "2025-Q1"
    assert cmp.delta == pytest.approx(cmp.current.index - cmp.previous.index)
    ch = cmp.metrics.set_index("metric")
    assert ch.loc["x", "change"] == 20 and ch.loc["x", "relative_change"] == pytest.approx(0.2)
    assert ch.loc["y", "points_delta"] == pytest.approx(0.4 * 30)
    dims = cmp.dimensions.set_index("dimension")
    assert dims.loc["v", "delta"] == pytest.approx(80)
    out = sc.comparison_json(cmp)
    assert out["delta"] == pytest.approx(cmp.delta) and out["compare"] == "2025-Q2"


# -- warehouse metrics against hand computations ---------------------------------------------
Q3 = parse_period("2025-Q3")

ORDERS = pd.DataFrame([
    # order, customer, ts, sku, amount, status
    ("o1", "a", "2024-06-10", "P1", 50.0, "paid"),
    ("o2", "e", "2024-06-12", "P1", 40.0, "paid"),
    ("o3", "a", "2025-04-10", "P1", 60.0, "paid"),
    ("o4", "b", "2025-05-10", "P1", 30.0, "paid"),
    ("o5", "c", "2025-06-10", "P2", 200.0, "paid"),
    ("o6", "a", "2025-07-05", "P1", 70.0, "paid"),
    ("o7", "a", "2025-08-05", "P1", 90.0, "paid"),
    ("o8", "b", "2025-08-20", "P2", 250.0, "paid"),
    ("o9", "d", "2025-09-15", "P1", 40.0, "paid"),
    ("o10", "d", "2025-09-20", "P1", -40.0, "returned"),
    ("o11", "c", "2025-10-02", "P1", 45.0, "paid"),
], columns=["order_id", "customer_id", "ts", "sku", "amount", "status"])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest

    wh = connect(f"duckdb://{tmp_path_factory.mktemp('scorecard')}/tiny.duckdb")

    o = ORDERS.assign(ts=pd.to_datetime(ORDERS.ts) + timedelta(hours=12), line_no=0,
                      quantity=1.0, unit_price=ORDERS.amount.abs())
    o.loc[o.status == "returned", "original_order_id"] = "o9"
    ingest("orders", o, warehouse=wh)
    ingest("products", pd.DataFrame({"sku": ["P1", "P2"], "category": "tea",
                                     "price": [50.0, 220.0],
                                     "price_tier": ["basic", "premium"]}), warehouse=wh)
    ingest("feedback", pd.DataFrame({
        "id": ["f1", "f2", "f3", "f4", "f5", "f6", "f7"],
        "customer_id": ["a", "a", "b", "c", "d", "e", "b"],
        "ts": pd.to_datetime(["2025-07-01", "2025-09-01", "2025-08-01", "2025-08-02",
                              "2025-09-03", "2025-06-30", "2025-09-10"]),
        "nps_score": pd.array([10, 6, 9, 7, 3, 10, None], dtype="Int64"),
        "csat": [None, None, 5.0, 4.0, 2.0, 5.0, None]}), warehouse=wh)
    ingest("service_tickets", pd.DataFrame({
        "ticket_id": ["t1", "t2", "t3", "t4", "t5"], "customer_id": ["a", "b", "c", "d", "e"],
        "opened": pd.to_datetime(["2025-07-01 10:00", "2025-08-01 10:00", "2025-09-01 10:00",
                                  "2025-09-02 10:00", "2025-06-01 10:00"]),
        "first_response": pd.to_datetime(["2025-07-01 11:00", "2025-08-01 13:00",
                                          "2025-09-01 20:00", None, "2025-06-01 10:30"])}),
        warehouse=wh)
    ingest("events", pd.DataFrame({
        "message_id": ["m1", "m2", "m3", "m4", "m5"], "type": "track",
        "customer_id": ["a", "a", "b", "b", "a"],
        "ts": pd.to_datetime(["2025-07-20", "2025-08-01", "2025-08-10", "2025-08-25",
                              "2025-09-01"]),
        # b's second channel comes after b's last purchase: b counts as single-channel
        "channel": ["search", "email", "search", "wechat", "social"]}), warehouse=wh)
    ingest("campaigns", pd.DataFrame({
        "campaign_id": ["C1", "C2"], "name": ["summer", "spring"],
        "start": pd.to_datetime(["2025-08-01", "2025-03-01"]),
        "end": pd.to_datetime(["2025-10-31", "2025-05-01"]), "budget": [9100.0, 500.0]}),
        warehouse=wh)
    ingest("marketing_spend", pd.DataFrame({
        "date": pd.to_datetime(["2025-08-03", "2025-09-10", "2025-10-05", "2025-08-03"]).date,
        "channel": "search", "campaign": ["summer", "C1", "summer", "always_on"],
        "cost_type": "media", "cost": [3000.0, 2000.0, 999.0, 777.0]}), warehouse=wh)
    ingest("brand_survey", pd.DataFrame({
        "period": ["2025Q3", "2025-Q2", "2025Q3", "2024Q4"],
        "metric": ["awareness", "awareness", "loyalty", "awareness"],
        "value": [0.40, 0.30, 0.2, 0.1]}), warehouse=wh)
    yield wh
    wh.close()


def measure(wh, key, subject=Q3, **kw):
    return sc.WarehouseMetrics(wh, **kw).measure([key], [subject])[sc.subject_label(subject)][key]


def test_nps_csat_response_time_from_the_period(tiny):
    # latest answer per customer in Q3: a 6 (detractor), b 9, c 7, d 3 → (1 − 2) / 4
    assert measure(tiny, "nps").value == pytest.approx(-25.0)
    # CSAT answers in Q3: 5, 4, 2 → two of three are 4 or 5
    assert measure(tiny, "csat").value == pytest.approx(2 / 3)
    # answered tickets opened in Q3: 1 h, 3 h, 10 h → median 3 h (t4 unanswered, t5 in Q2)
    assert measure(tiny, "response_time_hours").value == pytest.approx(3.0)


def test_premium_penetration_and_channel_collaboration(tiny):
    # Q3 buyers a, b, d (c's order falls in Q4); only b bought the premium P2
    pen = measure(tiny, "premium_penetration")
    assert pen.value == pytest.approx(1 / 3) and dict(pen.args) == {"premium": 1, "buyers": 3}
    # a was touched by search and email before the last Q3 purchase; b by search only before
    # theirs; d never → 1 of 3
    assert measure(tiny, "channel_collaboration").value == pytest.approx(1 / 3)


def test_budget_execution_rate_prorates_the_campaign(tiny):
    # summer runs 2025-08-01 … 2025-10-31: 61 of its 91 days fall in Q3; spend booked to it
    # (by name or id) in Q3 is 3000 + 2000; always-on spend and October's are not
    planned = 9100.0 * 61 / 91
    assert measure(tiny, "budget_execution_rate").value == pytest.approx(5000.0 / planned)


def test_brand_survey_for_quarter_month_and_year(tiny):
    assert measure(tiny, "awareness").value == pytest.approx(0.40)
    # a month takes the quarterly wave that contains it
    assert measure(tiny, "awareness", parse_period("2025-08")).value == pytest.approx(0.40)
    # a year averages the waves inside it
    assert measure(tiny, "awareness", parse_period("2025")).value == pytest.approx(0.35)
    bav = measure(tiny, "bav")
    assert bav.value is None and bav.note == "no_survey"  # association was never surveyed
    missing = measure(tiny, "loyalty", parse_period("2024"))
    assert missing.value is None and missing.note == "no_survey"


def test_cltv_textbook_formula_by_hand(tiny):
    o = ORDERS.assign(ts=pd.to_datetime(ORDERS.ts))
    period = o[(o.ts >= "2025-07-01") & (o.ts < "2025-10-01")]
    paid = period[period.status == "paid"]
    aov = period.amount.sum() / paid.order_id.nunique()
    year = o[(o.ts >= "2024-10-01") & (o.ts < "2025-10-01") & (o.status == "paid")]
    before = o[(o.ts >= "2023-10-01") & (o.ts < "2024-10-01") & (o.status == "paid")]
    r = before.customer_id.drop_duplicates().isin(year.customer_id).mean()  # a of {a, e}
    freq = year.order_id.nunique() / year.customer_id.nunique()
    expected = aov * freq * (1 / (1 - r)) * r
    got = measure(tiny, "cltv")
    assert got.method == "seed" and got.value == pytest.approx(expected)
    assert dict(got.args)["r"] == pytest.approx(0.5)
    none = measure(tiny, "cltv", parse_period("2024-Q2"))  # nobody bought in the year before
    assert none.value is None and none.note == "no_prev_buyers"


def test_cltv_uses_the_model_only_when_every_period_compared_has_it(tiny):
    results = pd.DataFrame({"customer_id": ["a", "b"], "clv": [10.0, 30.0]})
    alone = measure(tiny, "cltv", results=results, results_as_of=Q3.end)
    assert alone.method == "model" and alone.value == pytest.approx(20.0)
    both = sc.WarehouseMetrics(tiny, results=results, results_as_of=Q3.end).measure(
        ["cltv"], [Q3, Q3.previous()])
    assert {m.method for m in (both["2025-Q3"]["cltv"], both["2025-Q2"]["cltv"])} == {"seed"}
    assert both["2025-Q3"]["cltv"].note == "cltv_textbook_like_for_like"


def test_unavailable_metrics_say_so(tiny):
    for key in ("marketing_automation_rate", "task_completion_rate", "resource_utilisation"):
        m = measure(tiny, key)
        assert m.value is None and m.note == f"na_{key}"
    assert measure(tiny, "nps", "Vendor A").note == "not_a_period"
    assert measure(tiny, "nps", parse_period("2023-Q1")).note == "no_nps"


def test_supplied_values_fill_what_the_warehouse_lacks(tiny, tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("marketing_automation_rate: 60%\n")
    provider = sc.CombinedMetrics(sc.read_inputs(f).for_subject("2025-Q3"),
                                  sc.WarehouseMetrics(tiny))
    e = sc.evaluate(sc.load_scorecard("effect_index"), provider, Q3, Q3.previous())
    rows = e.metrics.set_index("metric")
    assert rows.loc["marketing_automation_rate", "attainment"] == pytest.approx(0.6 / 0.8)
    assert rows.loc["marketing_automation_rate", "note"] == "input"
    assert rows.loc["nps", "actual"] == pytest.approx(-25.0)


def test_scorecard_tables_for_the_pipeline(tiny):
    tables, summary = sc.scorecard_tables(tiny, datetime(2025, 10, 3))
    s = summary["effect_index"]
    assert (s["period"], s["compare"]) == ("2025-Q3", "2025-Q2")
    m = tables["scorecard_metrics"]
    assert set(m.subject) == {"2025-Q3", "2025-Q2"}
    cur = m[m.subject == "2025-Q3"]
    assert cur.points.sum() == pytest.approx(s["index"], abs=0.01)
    assert "marketing_automation_rate" in s["no_data"]
    dims = tables["scorecard_dimensions"]
    assert set(dims.dimension) == {"customer_value", "brand_value", "operational_efficiency"}
    assert np.isclose(sum(dims[dims.subject == "2025-Q3"].points), s["index"], atol=0.01)


def test_channel_collaboration_counts_touches_known_only_by_their_device(tmp_path):
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest

    wh = connect(f"duckdb://{tmp_path}/anon.duckdb")
    o = ORDERS.assign(ts=pd.to_datetime(ORDERS.ts) + timedelta(hours=12), line_no=0,
                      quantity=1.0, unit_price=ORDERS.amount.abs())
    o.loc[o.status == "returned", "original_order_id"] = "o9"
    ingest("orders", o, warehouse=wh)
    # every Q3 touch carries only a device id; a's device is linked to a by a login in June
    # (no channel: not a touch), so a's two touches count and a is multi-channel
    ingest("events", pd.DataFrame({
        "message_id": ["m0", "m1", "m2"], "type": "track",
        "customer_id": ["a", None, None], "anonymous_id": ["dev-a", "dev-a", "dev-a"],
        "ts": pd.to_datetime(["2025-06-01", "2025-07-20", "2025-08-01"]),
        "channel": [None, "search", "email"]}), warehouse=wh)
    got = measure(wh, "channel_collaboration")
    assert got.value == pytest.approx(1 / 3) and got.note == "collaboration"
    # a quarter with no touch at all says so
    assert measure(wh, "channel_collaboration", subject=Q3.previous().previous()).note \
        == "no_touches"
    wh.close()
