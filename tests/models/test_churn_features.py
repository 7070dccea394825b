"""The churn inputs beyond RFM (purchase days, quarter-on-quarter counts, basket size, decayed
purchases, gap regularity, returned share) and the signal they can raise, on histories whose
right answers can be worked out by hand."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket.features.behaviour import purchase_rhythm
from upmarket.i18n import label
from upmarket.models.churn import ChurnClassifier, engineer, risk_signals, signal_words
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

AS_OF = datetime(2024, 7, 1)


@pytest.fixture(scope="module")
def rhythm() -> pd.DataFrame:
    rows = [
        # a: purchase days 200, 120, 100 (two orders that day), 40 and 10 days before AS_OF
        ("A1", "a", "2023-12-14 10:00", 2, 10.0, "product"),
        ("A2", "a", "2024-03-03 10:00", 1, 10.0, "product"),
        ("A3", "a", "2024-03-23 09:00", 3, 10.0, "product"),
        ("A4", "a", "2024-03-23 17:00", 1, 10.0, "product"),
        ("A5", "a", "2024-05-22 10:00", 4, 10.0, "product"),
        ("A6", "a", "2024-06-21 10:00", 5, 10.0, "product"),
        ("A7", "a", "2024-06-21 10:00", 1, 4.5, "postage"),  # money, not a purchase
        # b: one purchase day, 95 days before AS_OF; and one after it, never counted
        ("B1", "b", "2024-03-28 12:00", 6, 5.0, "product"),
        ("B2", "b", "2024-07-02 12:00", 9, 5.0, "product"),
    ]
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "ts", "quantity", "unit_price",
                                        "line_kind"])
    frame["sku"] = "S"
    wh = connect("duckdb://")
    report = ingest("orders", frame, warehouse=wh)
    assert report.accepted == len(frame), report.quarantined_by_reason
    return purchase_rhythm(wh.table("orders"), AS_OF).to_pandas().set_index("customer_id")


def test_purchase_days_and_quarter_counts(rhythm):
    a, b = rhythm.loc["a"], rhythm.loc["b"]
    assert a.purchase_days == 5 and b.purchase_days == 1
    # last 90 days: 40 and 10 days ago; the 90 before: 120 and 100 days ago
    assert (a.purchases_90d, a.purchases_prev_90d) == (2, 2)
    assert (b.purchases_90d, b.purchases_prev_90d) == (0, 1)


def test_basket_size_and_decayed_purchases(rhythm):
    a, b = rhythm.loc["a"], rhythm.loc["b"]
    # items per purchase day; the postage line is no item
    assert a.items_per_purchase == pytest.approx((2 + 1 + 4 + 4 + 5) / 5)
    assert b.items_per_purchase == pytest.approx(6)
    ages = np.array([200, 120, 100, 40, 10])
    assert a.decayed_purchases == pytest.approx(np.exp(-ages / 90).sum())
    assert b.decayed_purchases == pytest.approx(np.exp(-95 / 90))


def test_engineer_regularity_trend_and_returns():
    frame = pd.DataFrame({
        "recency_days": [10.0, 95.0, 30.0], "orders": [5.0, 1.0, 2.0],
        "net_revenue": [80.0, 30.0, 0.0], "gross_revenue": [100.0, 30.0, 0.0],
        "reversed_amount": [-20.0, np.nan, 0.0], "tenure_days": [200.0, 95.0, 60.0],
        "gap_mean": [47.5, np.nan, 30.0], "gap_std": [23.75, np.nan, np.nan],
        "purchases_90d": [3.0, 0.0, 1.0], "purchases_prev_90d": [1.0, 1.0, 1.0],
    })
    x = engineer(frame)
    assert x.gap_cv.iloc[0] == pytest.approx(0.5)
    assert x.gap_cv.iloc[1:].isna().all()  # no spread without three purchase days
    assert list(x.quarter_trend) == pytest.approx([2 / 5, -1 / 2, 0.0])
    assert x.returns_share.iloc[0] == pytest.approx(0.2)
    assert x.returns_share.iloc[1] == 0.0
    assert np.isnan(x.returns_share.iloc[2])  # nothing bought, nothing to return a share of


def customers(n: int = 3000, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers whose churn rises with silence and with the share of spend they return."""
    rng = np.random.default_rng(seed)
    orders = 1 + rng.poisson(3, n)
    recency = rng.uniform(0, 300, n)
    gap = np.where(orders > 1, rng.gamma(2.0, 20.0, n), np.nan)
    gross = orders * rng.gamma(2.0, 30.0, n)
    returned = np.where(rng.uniform(size=n) < 0.4, rng.uniform(0, 0.6, n), 0.0)
    frame = pd.DataFrame({
        "recency_days": recency, "orders": orders.astype(float), "gap_mean": gap,
        "tenure_days": recency + np.nan_to_num(gap) * (orders - 1),
        "gross_revenue": gross, "reversed_amount": -returned * gross,
        "net_revenue": (1 - returned) * gross,
        "decayed_purchases": orders * np.exp(-recency / 90),
    })
    logit = -1.5 + 1.0 * np.log1p(recency / 30) - 0.4 * np.log(orders) + 4.0 * returned
    return frame, rng.uniform(size=n) < 1 / (1 + np.exp(-logit))


@pytest.fixture(scope="module")
def fitted():
    frame, y = customers()
    return frame, ChurnClassifier().fit(frame, y)


def test_more_decayed_purchases_never_raise_the_risk(fitted):
    frame, model = fitted
    assert {"returns_share", "decayed_purchases"} <= set(model.features_)
    one = pd.concat([frame.iloc[[3]]] * 40, ignore_index=True)
    one["decayed_purchases"] = np.linspace(0, 6, 40)
    assert (np.diff(model.predict_proba(one)) <= 1e-12).all()


def test_returns_signal_agrees_with_the_customers_own_share_in_both_languages(fitted):
    frame, model = fitted
    sig = risk_signals(model, frame)
    returns = sig.codes.map(lambda c: "returns" in c)
    share = engineer(frame).returns_share
    assert returns.sum() > 50
    # only for customers who return more than the typical retained customer, and do return
    assert (share[returns] > model.reference_["returns_share"]).all()
    assert (share[returns] > 0).all()
    # big returners are told, non-returners never
    assert returns[share > 0.4].mean() > 0.5 and not returns[share == 0].any()
    i = returns.idxmax()
    en, zh = signal_words(sig.loc[[i]], "en")[0], signal_words(sig.loc[[i]], "zh-CN")[0]
    pct = f"{share[i]:.0%}"
    assert label("signal.returns", "en", share=pct) in en
    assert label("signal.returns", "zh-CN", share=pct) in zh and pct in zh
