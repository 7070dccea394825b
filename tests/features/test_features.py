"""Feature definitions on tiny hand-made order sets whose right answers can be worked out by hand
(DuckDB; tests/features/test_spark_parity.py checks Spark gives the same)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from upmarket.features.btyd import btyd_summary
from upmarket.features.orders import customer_summary
from upmarket.features.rfm import rfm_scores
from upmarket.warehouse.ingest import ingest

AS_OF = datetime(2024, 3, 1)  # observation ends 2024-02-29: 59 days after 2024-01-01


def load(wh, rows: list[tuple]) -> None:
    """Rows of (order_id, customer_id, ts, quantity, unit_price[, line_kind])."""
    frame = pd.DataFrame(
        [(*r, "product")[:6] for r in rows],
        columns=["order_id", "customer_id", "ts", "quantity", "unit_price", "line_kind"])
    frame["sku"] = "S"
    report = ingest("orders", frame, warehouse=wh)
    assert report.accepted == len(frame), report.quarantined_by_reason


def by_customer(expr) -> pd.DataFrame:
    return expr.to_pandas().set_index("customer_id").sort_index()


def test_btyd_summary_same_day_purchases_are_one_transaction(wh):
    load(wh, [
        ("A1", "a", "2024-01-01 09:00", 1, 10.0),
        ("A2", "a", "2024-01-01 18:30", 2, 10.0),  # same day: one transaction worth 30
        ("A3", "a", "2024-01-08 12:00", 1, 30.0),
        ("A4", "a", "2024-01-22 08:00", 1, 50.0),
        ("A5", "a", "2024-01-22 08:00", 1, 4.5, "postage"),  # money, but not a purchase
        ("B1", "b", "2024-02-01 10:00", 1, 25.0),
    ])
    s = by_customer(btyd_summary(wh.table("orders"), AS_OF))
    a, b = s.loc["a"], s.loc["b"]
    assert a.frequency == 2  # repeat transaction days
    assert a.recency == pytest.approx(21 / 7)  # first to last day, in weeks
    assert a["T"] == pytest.approx(59 / 7)
    assert a.monetary == pytest.approx((30 + 50) / 2)  # mean of the repeat days only
    assert a.total_spend == pytest.approx(110)
    assert a.first_purchase == pd.Timestamp("2024-01-01")  # days, not times
    assert (b.frequency, b.recency, b.monetary) == (0, 0, 0)
    assert b["T"] == pytest.approx(28 / 7)


def test_btyd_summary_units_and_holdout(wh):
    load(wh, [
        ("A1", "a", "2024-01-01", 1, 10.0),
        ("A2", "a", "2024-01-15", 1, 10.0),
        ("A3", "a", "2024-03-01", 1, 10.0),  # on as_of: holdout, not calibration
        ("A4", "a", "2024-03-10", 1, 10.0),
        ("A5", "a", "2024-03-10 20:00", 1, 10.0),  # same holdout day
        ("A6", "a", "2024-04-01", 1, 10.0),  # on holdout_end: outside
        ("C1", "c", "2024-03-05", 1, 10.0),  # first seen in the holdout: not a calibration row
    ])
    days = by_customer(btyd_summary(wh.table("orders"), AS_OF, unit="D"))
    assert list(days.index) == ["a"]
    assert (days.loc["a"].recency, days.loc["a"]["T"]) == (14, 59)
    held = by_customer(btyd_summary(wh.table("orders"), AS_OF, holdout_end=datetime(2024, 4, 1)))
    assert list(held.index) == ["a"]
    assert held.loc["a"].frequency == 1
    assert held.loc["a"].frequency_holdout == 2
    assert held.loc["a"].holdout_length == pytest.approx(31 / 7)


def test_as_of_excludes_what_happened_later(wh):
    load(wh, [
        ("A1", "a", "2024-01-01", 1, 10.0),
        ("A2", "a", "2024-03-01 00:00", 1, 99.0),  # exactly at as_of: excluded
        ("L1", "late", "2024-05-01", 1, 10.0),
    ])
    orders = wh.table("orders")
    for expr in (btyd_summary(orders, AS_OF), customer_summary(orders, AS_OF),
                 rfm_scores(orders, AS_OF)):
        assert list(by_customer(expr).index) == ["a"]
    s = by_customer(customer_summary(orders, AS_OF)).loc["a"]
    assert (s.orders, s.gross_revenue) == (1, 10)
    assert s.last_purchase == pd.Timestamp("2024-01-01")


def test_cancellations_and_returns_net_out_of_revenue(wh):
    load(wh, [
        ("A1", "a", "2024-01-01 10:00", 3, 20.0),
        ("A2", "a", "2024-01-20 10:00", 1, 40.0),
        ("C1", "a", "2024-01-02 10:00", -1, 20.0),  # negative quantity: a cancellation
    ])
    s = by_customer(customer_summary(wh.table("orders"), AS_OF)).loc["a"]
    assert s.orders == 2  # only paid orders are orders
    assert s.gross_revenue == pytest.approx(100)
    assert s.reversed_amount == pytest.approx(-20)
    assert s.net_revenue == pytest.approx(80)
    assert s.days_since_last == pytest.approx((AS_OF - datetime(2024, 1, 20, 10)).days + 14 / 24)
    o = wh.table("orders").to_pandas().set_index("order_id")
    assert o.loc["C1", "status"] == "cancelled" and o.loc["C1", "original_order_id"] == "A1"
    # a cancellation is not a purchase: the BTYD summary sees two paid transaction days
    assert by_customer(btyd_summary(wh.table("orders"), AS_OF)).loc["a"].frequency == 1


def test_rfm_scores_ties_equal_and_recency_reversed(wh):
    # five customers one order each (frequency all tied); distinct recency; c and d tie on money
    load(wh, [
        ("A", "a", "2024-02-28", 1, 10.0),  # most recent
        ("B", "b", "2024-02-20", 1, 20.0),
        ("C", "c", "2024-02-10", 1, 30.0),
        ("D", "d", "2024-01-25", 1, 30.0),
        ("E", "e", "2024-01-05", 1, 50.0),  # least recent
    ])
    s = by_customer(rfm_scores(wh.table("orders"), AS_OF, bins=5))
    assert s.r_score.to_dict() == {"a": 5, "b": 4, "c": 3, "d": 2, "e": 1}
    assert set(s.f_score) == {1}  # everyone tied on frequency: all the lowest score
    assert s.m_score.loc["c"] == s.m_score.loc["d"]
    assert s.m_score.to_dict() == {"a": 1, "b": 2, "c": 3, "d": 3, "e": 5}
    assert s.rfm_cell.loc["a"] == "511" and s.rfm_cell.loc["e"] == "115"
    assert s.recency_days.loc["a"] == pytest.approx(2)
    with pytest.raises(ValueError, match="bins"):
        rfm_scores(wh.table("orders"), AS_OF, bins=1)


def test_day_differences_count_whole_seconds(wh):
    # fractions of a second are dropped, as Spark's UNIX_TIMESTAMP does, so backends agree
    load(wh, [("A1", "a", "2024-02-29 12:00:00.750", 1, 10.0)])
    assert wh.table("orders").ts.max().execute().microsecond == 750_000
    s = by_customer(customer_summary(wh.table("orders"), AS_OF)).loc["a"]
    assert s.days_since_last == 0.5
