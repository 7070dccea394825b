"""The value model's inputs at several past dates, read from one pass over the order lines
(`purchase_days`), are those of a build per date (`value_inputs`)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket.features.customer import purchase_days, value_inputs, value_inputs_on
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

#: Midnights, and one date in the middle of a day with purchases before and after it.
DATES = [datetime(2024, 3, 1), datetime(2023, 10, 1), datetime(2023, 12, 5, 13, 0),
         datetime(2024, 1, 15)]


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    w = connect(f"duckdb://{tmp_path_factory.mktemp('days')}/w.duckdb")
    products = pd.DataFrame({"sku": ["A", "B", "C"], "name": ["a", "b", "c"],
                             "category": ["tea"] * 3, "price": [5.0, 12.0, 30.0],
                             "cost": [2.0, None, 20.0],
                             "price_tier": ["basic", "mid", "premium"]})
    assert ingest("products", products, warehouse=w).accepted == 3
    rows = []
    for c in range(30):  # customers arriving over time, buying a few times each
        for k in range(1 + c % 5):
            ts = pd.Timestamp("2023-06-01 09:30") + pd.Timedelta(days=7 * c + 19 * k)
            rows.append((f"O{c}-{k}", f"c{c:02d}", ts, "ABC"[(c + k) % 3], 1 + k % 2,
                         [5.0, 12.0, 30.0][(c + k) % 3], "paid"))
    # a day the 13:00 date cuts in two: one purchase before it, one after
    rows.append(("M1", "c01", pd.Timestamp("2023-12-05 10:00"), "A", 1, 5.0, "paid"))
    rows.append(("M2", "c01", pd.Timestamp("2023-12-05 16:00"), "C", 2, 30.0, "paid"))
    rows.append(("M3", "c50", pd.Timestamp("2023-12-05 18:00"), "B", 1, 12.0, "paid"))
    rows.append(("P1", "c99", pd.Timestamp("2023-11-10"), "POST", 1, 4.5, "paid"))  # postage
    rows.append(("X1", "c98", pd.Timestamp("2023-09-10"), "A", 1, 5.0, "cancelled"))
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "ts", "sku", "quantity",
                                        "unit_price", "status"])
    frame["line_kind"] = ["postage" if s == "POST" else "product" for s in frame["sku"]]
    assert ingest("orders", frame, warehouse=w).accepted == len(frame)
    yield w
    w.close()


def test_value_inputs_of_many_dates_from_one_pass_are_those_of_each_date(wh):
    tables = {n: wh.table(n) for n in ("orders", "products")}
    days = purchase_days(tables, DATES).cache()
    try:
        for when in DATES:
            want = value_inputs(tables, when).order_by("customer_id").to_pandas()
            got = value_inputs_on(days, DATES, when).order_by("customer_id").to_pandas()
            assert len(want) > 5
            assert list(got.columns) == list(want.columns)
            assert list(got["customer_id"]) == list(want["customer_id"])
            for col in want.columns[1:]:
                np.testing.assert_allclose(got[col].to_numpy(float), want[col].to_numpy(float),
                                           rtol=1e-12, err_msg=f"{col} at {when}")
        # the cut day is one purchase day before 13:00 and still one after it
        at = {when: value_inputs_on(days, DATES, when).to_pandas().set_index("customer_id")
              for when in DATES[2:]}
        assert at[DATES[3]].loc["c01", "frequency"] == at[DATES[2]].loc["c01", "frequency"]
        assert "c50" not in at[DATES[2]].index and "c50" in at[DATES[3]].index
        assert "c99" in at[DATES[2]].index and "c98" not in at[DATES[3]].index
    finally:
        days.release()
