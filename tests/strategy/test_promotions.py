"""Promotion lift, cannibalisation, ROI and discount dependency (with the Ibis aggregates of
`features.promotions` they read)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.features.promotions import daily_sales, discount_spend, promotion_usage
from upmarket.strategy.promotions import (
    BadPromotions,
    PromotionSettings,
    dependency_by_segment,
    discount_dependency,
    promotion_effects,
    promotion_scope,
)
from upmarket.warehouse.ingest import ingest

START = pd.Timestamp("2025-01-01")  # a Wednesday


def _daily(days: int, level, categories=("tea",), promo_share=0.0) -> pd.DataFrame:
    """A daily frame like `features.promotions.daily_sales`: `level(day)` sales per category,
    a share of it bought on promotion, margin 40 % of sales."""
    rows = []
    for i in range(days):
        day = START + pd.Timedelta(days=i)
        for c in categories:
            s = float(level(day, c))
            rows.append({"day": day, "category": c, "sales": s,
                         "full_price_sales": s * (1 - promo_share(day) if callable(promo_share)
                                                  else 1 - promo_share),
                         "promo_sales": 0.0, "discount": 0.0, "margin": 0.4 * s,
                         "costed_sales": s, "orders": 1})
    return pd.DataFrame(rows)


def _promo(pid, start, end, **kw) -> dict:
    return {"promotion_id": pid, "name": pid, "type": kw.pop("type", "percent_discount"),
            "start": pd.Timestamp(start), "end": pd.Timestamp(end), **kw}


NO_USE = pd.DataFrame(columns=["promotion_id", "uses", "customers", "sales", "discount"])


def test_weekday_baseline_lift_and_cannibalisation_by_hand():
    in_promo = lambda d: pd.Timestamp("2025-03-01") <= d <= pd.Timestamp("2025-03-07")  # noqa: E731
    weekend = lambda d: d.day_of_week >= 5  # noqa: E731
    def level(d, c):
        return (200.0 if weekend(d) else 100.0) * (1.5 if in_promo(d) else 1.0)

    # while the promotion runs, 60 % of sales are on promotion: full price falls to 0.4·1.5
    daily = _daily(80, level, promo_share=lambda d: 0.6 if in_promo(d) else 0.0)
    promos = pd.DataFrame([_promo("P1", "2025-03-01", "2025-03-07 23:59:59",
                                  cost_per_use=10.0)])
    usage = pd.DataFrame({"promotion_id": ["P1"], "uses": [5], "customers": [4],
                          "sales": [300.0], "discount": [30.0]})
    as_of = datetime(2025, 3, 22)
    row = promotion_effects(promos, daily, usage, as_of).iloc[0]
    # 7 days, 2 of them weekend: expected = 5·100 + 2·200 = 900, actual 1.5 × 900
    assert row.status == "measured" and row.days == 7 and row.baseline_days == 56
    assert row.expected_sales == pytest.approx(900.0)
    assert row.sales == pytest.approx(1350.0)
    assert row.lift == pytest.approx(450.0) and row.lift_rate == pytest.approx(0.5)
    assert row.full_price_sales == pytest.approx(0.4 * 1350.0)
    assert row.cannibalisation_rate == pytest.approx(1 - 0.6)
    assert row.cannibalised_sales == pytest.approx(900.0 - 540.0)
    assert row.cost == 50.0 and row.cost_basis == "cost_per_use"
    assert row.margin_rate == pytest.approx(0.4)
    assert row.roi == pytest.approx((0.4 * 450.0 - 50.0) / 50.0)
    assert row.uses == 5 and row.discount == 30.0


def test_scope_overlaps_and_statuses():
    # tea doubles during a tea flash sale; coffee does not move
    in_sale = lambda d: pd.Timestamp("2025-02-20") <= d <= pd.Timestamp("2025-02-22")  # noqa: E731
    level = lambda d, c: 50.0 * (2.0 if c == "tea" and in_sale(d) else 1.0)  # noqa: E731
    daily = _daily(70, level, categories=("tea", "coffee"))
    promos = pd.DataFrame([
        _promo("TEA", "2025-02-20", "2025-02-22 23:59", type="time_limited",
               rules='{"category": "tea", "percent_off": 20}'),
        _promo("ALL", "2025-02-20", "2025-02-21 23:59"),
        # every earlier day is inside this long promotion: no comparable days before it
        _promo("EARLY", "2025-01-03", "2025-01-30"),
        _promo("LATER", "2025-04-01", "2025-04-03"),
    ])
    got = promotion_effects(promos, daily, NO_USE, datetime(2025, 3, 11)).set_index(
        "promotion_id")
    assert got.loc["TEA", "scope"] == "tea" and got.loc["TEA", "lift_rate"] == pytest.approx(1.0)
    assert got.loc["TEA", "overlaps"] == "ALL" and got.loc["ALL", "overlaps"] == "TEA"
    # store-wide: tea (100/day) + coffee (50/day) against 100/day
    assert got.loc["ALL", "lift_rate"] == pytest.approx(0.5)
    # baseline days: the 56 before TEA that hold data (Jan 1 – Feb 19: 50) less EARLY's 28
    # promotion days
    assert got.loc["TEA", "baseline_days"] == 50 - 28
    assert got.loc["EARLY", "status"] == "no_baseline" and pd.isna(got.loc["EARLY", "lift"])
    assert got.loc["LATER", "status"] == "not_started"
    # no cost model and no discount: cost unknown, ROI not claimed
    assert pd.isna(got.loc["TEA", "cost"]) and pd.isna(got.loc["TEA", "roi"])


@given(rate=st.floats(-0.8, 3.0), offset=st.integers(0, 20), length=st.integers(1, 12),
       pattern=st.lists(st.floats(10, 500), min_size=7, max_size=7))
@settings(max_examples=60, deadline=None)
def test_lift_rate_recovers_a_multiplicative_effect(rate, offset, length, pattern):
    """Whatever the weekly pattern, start day and length: sales × (1 + r) in the window give a
    lift rate of r."""
    s = START + pd.Timedelta(days=60 + offset)
    e = s + pd.Timedelta(days=length - 1)
    level = lambda d, c: pattern[d.day_of_week] * ((1 + rate) if s <= d <= e else 1.0)  # noqa: E731
    daily = _daily(100, level)
    promos = pd.DataFrame([_promo("P", s, e + pd.Timedelta(hours=23))])
    row = promotion_effects(promos, daily, NO_USE, datetime(2025, 5, 1)).iloc[0]
    assert row.lift_rate == pytest.approx(rate, rel=1e-9, abs=1e-9)
    assert row.cannibalisation_rate == pytest.approx(-rate, rel=1e-9, abs=1e-9)


def test_rules_scope_and_bad_input():
    assert promotion_scope('{"category": "tea", "percent_off": 20}') == ("tea",)
    assert promotion_scope('{"categories": ["a", "b"], "min_items": 2}') == ("a", "b")
    assert promotion_scope('{"percent_off": 10}') is None
    assert promotion_scope("not json") is None and promotion_scope(None) is None
    with pytest.raises(BadPromotions, match="end is before start"):
        promotion_effects(pd.DataFrame([_promo("X", "2025-02-02", "2025-02-01")]),
                          _daily(5, lambda d, c: 1.0), NO_USE, datetime(2025, 3, 1))
    with pytest.raises(BadPromotions, match="need columns"):
        promotion_effects(pd.DataFrame({"promotion_id": ["X"]}), _daily(5, lambda d, c: 1.0),
                          NO_USE, datetime(2025, 3, 1))


@pytest.fixture
def shop(wh):
    products = pd.DataFrame({"sku": ["T1", "K1"], "category": ["tea", "coffee"],
                             "cost": [4.0, None]})
    orders = pd.DataFrame([  # order, line, customer, ts, sku, qty, amount, discount, promo, status
        ("o1", 0, "c1", "2025-01-02 10:00", "T1", 2, 18.0, 2.0, "P1", "paid"),
        ("o1", 1, "c1", "2025-01-02 10:00", "K1", 1, 30.0, 0.0, None, "paid"),
        ("o2", 0, "c1", "2025-01-02 18:00", "T1", 1, 10.0, 0.0, None, "paid"),
        ("o3", 0, "c2", "2025-01-03 09:00", "K1", 1, 27.0, 3.0, None, "paid"),  # discount only
        ("o4", 0, "c2", "2025-01-04 09:00", "T1", 1, 10.0, 0.0, "", "paid"),  # blank promo id
        ("o5", 0, "c3", "2025-01-04 12:00", "T1", 1, -10.0, 0.0, None, "cancelled"),
        ("o6", 0, "c3", "2025-01-09 12:00", "T1", 1, 10.0, 0.0, "P1", "paid"),  # after as_of
    ], columns=["order_id", "line_no", "customer_id", "ts", "sku", "quantity", "amount",
                "discount", "promotion_id", "status"])
    orders["ts"] = pd.to_datetime(orders["ts"])
    ingest("products", products, warehouse=wh)
    ingest("orders", orders, warehouse=wh)
    return wh


def test_ibis_aggregates_by_hand(shop):
    as_of = datetime(2025, 1, 8)
    o = shop.table("orders")
    d = daily_sales(o, shop.table("products"), as_of).to_pandas()
    d = d.set_index([d.day.dt.strftime("%m-%d"), "category"])
    tea = d.loc[("01-02", "tea")]
    assert (tea.sales, tea.full_price_sales, tea.promo_sales, tea.discount) == (28.0, 10.0,
                                                                             18.0, 2.0)
    assert tea.margin == pytest.approx(18.0 - 2 * 4.0 + 10.0 - 4.0) and tea.orders == 2
    coffee = d.loc[("01-03", "coffee")]
    # a discount without a promotion id is still a promoted line; coffee has no cost
    assert coffee.promo_sales == 27.0 and coffee.margin == 0.0 and coffee.costed_sales == 0.0
    assert d.loc[("01-04", "tea")].full_price_sales == 10.0  # cancellations are not sales
    u = promotion_usage(o, as_of).to_pandas().set_index("promotion_id")
    assert list(u.index) == ["P1"]
    assert u.loc["P1"][["uses", "customers", "sales", "discount"]].tolist() == [1, 1, 18.0, 2.0]
    s = discount_spend(o, as_of).to_pandas().set_index("customer_id").sort_index()
    assert s.loc["c1"][["spend", "promo_spend", "discount", "list_value", "orders",
                        "promo_orders"]].tolist() == [58.0, 18.0, 2.0, 60.0, 2, 1]
    assert s.loc["c2"][["spend", "promo_spend", "promo_orders"]].tolist() == [37.0, 27.0, 1]
    assert "c3" not in s.index


def test_discount_dependency_per_customer_and_segment():
    spend = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "spend": [100.0, 100.0, 50.0, 0.0],
        "promo_spend": [80.0, 10.0, 25.0, 0.0], "discount": [20.0, 0.0, 5.0, 0.0],
        "list_value": [120.0, 100.0, 55.0, 0.0], "orders": [4, 2, 1, 1],
        "promo_orders": [3, 1, 1, 0]})
    dep = discount_dependency(spend).set_index("customer_id")
    assert dep.dependency.tolist()[:3] == [0.8, 0.1, 0.5] and np.isnan(dep.loc["d", "dependency"])
    assert dep.dependent.tolist() == [True, False, True, False]
    assert dep.loc["a", "discount_rate"] == pytest.approx(20 / 120)
    assert dep.loc["a", "promo_order_share"] == 0.75
    strict = discount_dependency(spend, PromotionSettings(dependent_share=0.6))
    assert strict.dependent.tolist() == [True, False, False, False]

    segs = pd.DataFrame({"tier": ["core", "core", "basic"]}, index=["a", "b", "c"])
    by = dependency_by_segment(discount_dependency(spend), segs).set_index("segment")
    assert set(by.index) == {"core", "basic", "(none)"} and (by.segmentation == "tier").all()
    core = by.loc["core"]
    assert core.customers == 2 and core.dependency == pytest.approx(90 / 200)
    assert core.mean_dependency == pytest.approx(0.45) and core.dependent_share == 0.5
    assert core.discount_rate == pytest.approx(20 / 220)
    one = dependency_by_segment(discount_dependency(spend), segs["tier"])
    assert one.equals(by.reset_index()[one.columns])


def test_synthetic_world_end_to_end(wh):
    from upmarket.demo.world import WorldConfig, generate_world

    cfg = WorldConfig(customers=400, seed=8)
    for name, frame in generate_world(cfg):
        if name in ("orders", "products", "promotions"):
            ingest(name, frame, warehouse=wh)
    as_of = cfg.as_of - timedelta(days=90)
    o = wh.table("orders")
    daily = daily_sales(o, wh.table("products"), as_of).to_pandas()
    lines = o.to_pandas()
    paid = lines[(lines.status == "paid") & (lines.line_kind == "product") & (lines.ts < as_of)]
    assert daily.sales.sum() == pytest.approx(paid.amount.sum())
    assert (daily.full_price_sales + daily.promo_sales).sum() == pytest.approx(paid.amount.sum())
    usage = promotion_usage(o, as_of).to_pandas()
    effects = promotion_effects(wh.table("promotions").to_pandas(), daily, usage, as_of)
    assert len(effects) == wh.count("promotions")
    measured = effects[effects.status == "measured"]
    assert len(measured) > 5 and measured.expected_sales.gt(0).all()
    assert (effects.status[pd.to_datetime(effects.start) >= as_of] == "not_started").all()
    used = measured[measured.uses > 0]
    np.testing.assert_allclose(used.cost, used.uses * wh.table("promotions").to_pandas()
                               .set_index("promotion_id").cost_per_use[used.promotion_id]
                               .to_numpy())
