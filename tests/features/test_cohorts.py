"""Monthly acquisition cohorts as an Ibis feature."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from upmarket.features.cohorts import cohort_table
from upmarket.features.orders import customer_summary
from upmarket.warehouse.ingest import ingest


@pytest.fixture
def tiny(wh):
    orders = pd.DataFrame([  # order, line, customer, ts, amount, status, kind
        ("o1", 0, "c1", "2025-01-15", 100.0, "paid", "product"),
        ("o2", 0, "c2", "2025-01-31 23:00", 40.0, "paid", "product"),
        ("o3", 0, "c1", "2025-02-03", 50.0, "paid", "product"),
        ("o3r", 0, "c1", "2025-02-10", -30.0, "returned", "product"),
        ("o4", 0, "c3", "2025-02-10", 70.0, "paid", "product"),
        ("o5", 0, "c1", "2025-03-20", 5.0, "paid", "postage"),  # money, not a purchase
        ("o6", 0, "c3", "2025-03-05", 10.0, "paid", "product"),
        ("o7", 0, "c1", "2025-04-01", 20.0, "paid", "product"),
        ("o8", 0, "c2", "2025-04-20", 99.0, "paid", "product"),  # after as_of
    ], columns=["order_id", "line_no", "customer_id", "ts", "amount", "status", "line_kind"])
    orders["ts"] = pd.to_datetime(orders["ts"], format="ISO8601")
    orders["quantity"] = 1.0
    ingest("orders", orders, warehouse=wh)
    return wh


def test_cohorts_by_hand(tiny):
    got = cohort_table(tiny.table("orders"), datetime(2025, 4, 15)).to_pandas()
    jan = got[got.cohort == pd.Timestamp("2025-01-01")].set_index("months_since")
    assert jan.index.tolist() == [0, 1, 2, 3] and (jan.cohort_size == 2).all()
    assert jan.active_customers.tolist() == [2, 1, 0, 1]
    assert jan.retention_rate.tolist() == [1.0, 0.5, 0.0, 0.5]
    # the return is subtracted in its month; postage is revenue without being a purchase
    assert jan.revenue.tolist() == [140.0, 20.0, 5.0, 20.0]
    assert jan.cumulative_revenue_per_customer.tolist() == [70.0, 80.0, 82.5, 92.5]
    feb = got[got.cohort == pd.Timestamp("2025-02-01")].set_index("months_since")
    assert feb.active_customers.tolist() == [1, 1, 0] and feb.revenue.tolist() == [70.0, 10.0, 0.0]
    assert got[["cohort", "months_since"]].equals(
        got[["cohort", "months_since"]].sort_values(["cohort", "months_since"]))
    # nobody had bought yet: no cohorts at all
    assert cohort_table(tiny.table("orders"), datetime(2025, 1, 1)).to_pandas().empty


def test_synthetic_world_adds_up(wh):
    from upmarket.demo.world import WorldConfig, generate_world

    cfg = WorldConfig(customers=300, seed=4)
    for name, frame in generate_world(cfg):
        if name == "orders":
            ingest(name, frame, warehouse=wh)
    as_of = cfg.as_of
    got = cohort_table(wh.table("orders"), as_of).to_pandas()
    summary = customer_summary(wh.table("orders"), as_of).to_pandas()
    sizes = got.groupby("cohort").cohort_size.first()
    assert sizes.sum() == len(summary)
    assert (got[got.months_since == 0].retention_rate == 1.0).all()
    assert got.retention_rate.between(0, 1).all()
    # each cohort's last cumulative revenue is the net revenue of its customers
    last = got.sort_values("months_since").groupby("cohort").last()
    first_month = summary.first_purchase.dt.to_period("M").dt.to_timestamp()
    net = summary.groupby(first_month).net_revenue.sum()
    np.testing.assert_allclose(last.cumulative_revenue.to_numpy(),
                               net.reindex(last.index).to_numpy(), rtol=1e-9)
    # every month from the cohort to the last one before as_of has a row
    end = as_of - timedelta(seconds=1)
    months = (end.year * 12 + end.month) - (last.index.year * 12 + last.index.month)
    assert (last.months_since.to_numpy() == np.asarray(months)).all()
