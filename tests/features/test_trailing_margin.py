"""Current value (`features.customer.trailing_margin`) on a hand-made order set whose answer can
be worked out by hand."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from upmarket.features.customer import trailing_margin
from upmarket.warehouse.ingest import ingest

AS_OF = datetime(2024, 3, 1)  # the window is [2023-03-02, 2024-03-01)


def test_trailing_margin_by_hand(wh):
    orders = pd.DataFrame([
        # a: costed product (price 100, cost 60 → margin rate 40 %), one line before the window
        ("A0", "a", "2023-03-01 12:00", 1, 100.0, "P"),   # one day too old: outside
        ("A1", "a", "2023-03-02 00:00", 2, 100.0, "P"),   # first instant of the window: inside
        ("A2", "a", "2024-02-29 23:00", 1, 100.0, "P"),
        ("A3", "a", "2024-01-10 10:00", -1, 100.0, "P"),  # a return: nets out
        ("A4", "a", "2024-03-01 00:00", 5, 100.0, "P"),   # at as_of: not yet
        # b: uncosted product → the default margin rate
        ("B1", "b", "2024-01-05 10:00", 1, 50.0, "U"),
        # c: bought, but only before the window → current value 0, still a row
        ("C1", "c", "2022-12-24 10:00", 1, 70.0, "P"),
    ], columns=["order_id", "customer_id", "ts", "quantity", "unit_price", "sku"])
    orders["line_kind"] = "product"
    assert ingest("orders", orders, warehouse=wh).accepted == len(orders)
    products = pd.DataFrame({"sku": ["P", "U"], "price": [100.0, 50.0], "cost": [60.0, None]})
    ingest("products", products, warehouse=wh)

    t = trailing_margin(wh.table("orders"), wh.table("products"), AS_OF,
                        default_margin_rate=0.25).to_pandas().set_index("customer_id").sort_index()
    assert list(t.index) == ["a", "b", "c"]
    assert t.loc["a", "trailing_revenue_12m"] == pytest.approx(200 + 100 - 100)
    assert t.loc["a", "trailing_margin_12m"] == pytest.approx(200 * 0.40)
    assert t.loc["b", "trailing_revenue_12m"] == pytest.approx(50)
    assert t.loc["b", "trailing_margin_12m"] == pytest.approx(50 * 0.25)
    assert t.loc["c", "trailing_revenue_12m"] == 0 and t.loc["c", "trailing_margin_12m"] == 0

    # a shorter window keeps only what falls inside it
    short = trailing_margin(wh.table("orders"), wh.table("products"), AS_OF, days=30) \
        .to_pandas().set_index("customer_id")
    assert short.loc["a", "trailing_revenue_12m"] == pytest.approx(100)
    assert short.loc["b", "trailing_revenue_12m"] == 0
