"""Customer-base KPIs (`strategy.kpis.base_kpis`) on a hand-counted order history."""

from __future__ import annotations

from datetime import datetime

import ibis
import pandas as pd
import pytest

from upmarket.strategy.kpis import base_kpis


def _orders(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "order_id", "ts", "amount", "status"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    return ibis.memtable(frame)


def test_base_kpis_by_hand():
    # two years of history: a 365-day window, the previous window 2022, the latest 2023
    orders = _orders([
        ("A", "a1", "2022-03-01", 100.0, "paid"), ("A", "a2", "2023-03-01", 50.0, "paid"),
        ("B", "b1", "2022-04-01", 10.0, "paid"), ("B", "b2", "2023-04-01", 99.0, "cancelled"),
        ("C", "c1", "2022-05-01", 20.0, "paid"), ("C", "c2", "2023-05-01", 5.0, "paid"),
        ("D", "d1", "2022-06-01", 30.0, "paid"),
        ("E", "e1", "2022-07-01", 25.0, "paid"), ("E", "e2", "2022-08-01", 15.0, "paid"),
        ("F", "f1", "2023-06-01", 70.0, "paid"),
        (None, "g1", "2023-07-01", 10.0, "paid"),
        ("A", "a3", "2024-02-01", 500.0, "paid"),  # after as_of: not counted
        ("H", "h1", "2021-12-01", 0.0, "paid"),  # the first order: before the previous window
    ])
    got = base_kpis(orders, datetime(2024, 1, 1))
    assert got["kpi_window_days"] == 365.0
    # previous window's spend: A 100, B 10, C 20, D 30, E 40; the 80th percentile is 52, so
    # A alone is premium, and A bought again
    assert got["premium_retention"] == pytest.approx(1.0)
    # A and C of the five bought again (B's only latest line was cancelled)
    assert got["yearly_retention"] == pytest.approx(0.4)
    # the latest window's 135 (A 50, C 5, F 70, an unknown buyer 10): A's and C's are existing
    assert got["existing_customer_revenue_share"] == pytest.approx(55 / 135)


def test_base_kpis_without_a_previous_window():
    orders = _orders([("A", "a1", "2023-12-10", 10.0, "paid"),
                      ("B", "b1", "2023-12-15", 20.0, "paid")])
    got = base_kpis(orders, datetime(2024, 1, 1))
    assert got["kpi_window_days"] == 30.0
    assert "premium_retention" not in got and "yearly_retention" not in got
    # both first bought in the latest window: none of its revenue is from existing customers
    assert got["existing_customer_revenue_share"] == 0.0
