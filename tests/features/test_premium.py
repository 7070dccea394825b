"""The premium ladder and premium penetration on hand-made catalogues (DuckDB)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from upmarket.features.premium import (
    penetration_overall,
    premium_features,
    premium_penetration,
    price_ladder,
    tier_reached,
)
from upmarket.warehouse.ingest import ingest

AS_OF = datetime(2024, 7, 1)


def load(wh, products: list[tuple], orders: list[tuple]) -> None:
    """products: (sku, category, price, price_tier); orders: (order_id, customer_id, ts, sku,
    unit_price)."""
    p = pd.DataFrame(products, columns=["sku", "category", "price", "price_tier"])
    rep = ingest("products", p, warehouse=wh)
    assert rep.accepted == len(p), rep.quarantined_by_reason
    o = pd.DataFrame(orders, columns=["order_id", "customer_id", "ts", "sku", "unit_price"])
    o["quantity"] = 1.0
    rep = ingest("orders", o, warehouse=wh)
    assert rep.accepted == len(o), rep.quarantined_by_reason


def ladder(wh) -> dict[str, str]:
    t = price_ladder(wh.table("products"), wh.table("orders")).to_pandas()
    return dict(zip(t["sku"], t["price_tier"]))


def test_quantile_cut_within_category(wh):
    # six priced products in one category: ranks 0..5, positions r/5 → thirds
    prods = [(f"A{i}", "a", float(10 * (i + 1)), None) for i in range(6)]
    # and a category priced on a different scale: tiers are relative to the category
    prods += [(f"B{i}", "b", float(1000 + i), None) for i in range(3)]
    load(wh, prods, [("O1", "c1", "2024-01-01", "A0", 10.0)])
    t = ladder(wh)
    assert [t[f"A{i}"] for i in range(6)] == ["basic", "basic", "mid", "mid", "premium",
                                              "premium"]
    assert [t[f"B{i}"] for i in range(3)] == ["basic", "mid", "premium"]


def test_explicit_tiers_win_and_missing_price_uses_median_paid(wh):
    prods = [("A0", "a", 10.0, "premium"),  # cheapest but declared premium
             ("A1", "a", 20.0, None),
             ("A2", "a", None, None),  # no list price: median paid 100 → top of the category
             ("A3", "a", 5.0, None)]
    orders = [("O1", "c1", "2024-01-01", "A2", 90.0), ("O2", "c1", "2024-01-02", "A2", 100.0),
              ("O3", "c2", "2024-01-03", "A2", 150.0)]
    load(wh, prods, orders)
    full = price_ladder(wh.table("products"), wh.table("orders")).to_pandas().set_index("sku")
    assert full.loc["A0", "price_tier"] == "premium"
    assert full.loc["A0", "tier_source"] == "given"
    assert full.loc["A2", "price"] == pytest.approx(100.0)
    assert full.loc["A2", "price_tier"] == "premium"  # 5 < 10 < 20 < 100: rank 3 of 4
    assert full.loc["A3", "price_tier"] == "basic"
    assert full.loc["A1", "tier_source"] == "derived"


def test_tiny_categories(wh):
    prods = [("S1", "single", 50.0, None),
             ("P1", "pair", 10.0, None), ("P2", "pair", 30.0, None),
             ("E1", "equal", 7.0, None), ("E2", "equal", 7.0, None),
             ("N1", "none", None, None)]  # no price, never sold
    load(wh, prods, [("O1", "c1", "2024-01-01", "S1", 50.0)])
    t = ladder(wh)
    assert t["S1"] == "mid"  # nothing to climb to
    assert (t["P1"], t["P2"]) == ("basic", "premium")
    assert (t["E1"], t["E2"]) == ("mid", "mid")
    assert t["N1"] is None or pd.isna(t["N1"])


def test_penetration_and_features(wh):
    prods = [("B", "a", 10.0, "basic"), ("M", "a", 20.0, "mid"), ("P", "a", 40.0, "premium"),
             ("X", "x", 5.0, "basic")]
    orders = [("O1", "u", "2024-01-01", "B", 10.0), ("O2", "u", "2024-03-01", "M", 20.0),
              ("O3", "u", "2024-06-01", "P", 40.0),
              ("O4", "v", "2024-02-01", "X", 5.0), ("O5", "v", "2024-05-01", "M", 20.0),
              ("O6", "w", "2024-08-01", "P", 40.0)]  # after AS_OF: ignored
    load(wh, prods, orders)
    o, lad = wh.table("orders"), price_ladder(wh.table("products"), wh.table("orders"))
    pen = premium_penetration(o, lad, AS_OF).to_pandas().set_index("customer_id")
    assert set(pen.index) == {"u", "v"}
    assert pen.loc["u", "premium_share"] == pytest.approx(40 / 70)
    assert bool(pen.loc["u", "bought_premium"]) and not bool(pen.loc["v", "bought_premium"])
    assert (pen.loc["u", "highest_tier"], pen.loc["v", "highest_tier"]) == ("premium", "mid")
    overall = penetration_overall(o, lad, AS_OF).to_pandas().iloc[0]
    assert overall["penetration"] == pytest.approx(0.5)
    reached = tier_reached(o, lad, AS_OF).to_pandas().set_index(["customer_id", "category"])
    assert reached.loc[("v", "x"), "highest_tier"] == "basic"
    assert reached.loc[("v", "a"), "highest_tier"] == "mid"

    f = premium_features(o, lad, AS_OF).to_pandas().set_index("customer_id")
    v = f.loc["v"]
    assert (v.lines_basic, v.lines_mid, v.lines_premium) == (1, 1, 0)
    assert v.share_mid == pytest.approx(20 / 25)
    assert v.months_since_mid == pytest.approx(61 / 30.4375)  # 2024-05-01 → 2024-07-01
    assert v.main_category == "a" and v.main_rank == 1
    assert v.bought_premium == 0 and f.loc["u", "bought_premium"] == 1
    assert f.loc["u", "last_rank"] == 2
