"""The churn model, its baseline and its signals on customers whose churn process is known."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket import pipeline
from upmarket.i18n import label
from upmarket.models import evaluation
from upmarket.models.churn import (OVERDUE_MIN_DAYS, SIGNALS, ChurnClassifier, RfmBaseline,
                                   engineer, p_alive_informative, risk_signals, signal_text,
                                   signal_words)


def customers(n: int = 4000, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers with their own buying rhythm; those silent for long against it, and those with
    few orders, churn more often."""
    rng = np.random.default_rng(seed)
    orders = 1 + rng.poisson(3, n)
    gap = np.where(orders > 1, rng.gamma(2.0, 20.0, n), np.nan)
    recency = rng.uniform(0, 300, n)
    tenure = recency + np.nan_to_num(gap) * (orders - 1)
    value = rng.gamma(2.0, 30.0, n)
    recent = np.where(recency < 90, 1 + rng.poisson(90 / np.nan_to_num(gap, nan=90) / 2), 0)
    frame = pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(n)], "recency_days": recency,
        "orders": orders.astype(float), "frequency": orders - 1.0,
        "net_revenue": orders * value, "tenure_days": tenure, "gap_mean": gap,
        "gap_std": np.where(orders > 2, gap * rng.uniform(0.1, 1.0, n), np.nan),
        "orders_recent": recent.astype(float), "purchases_30d": (recency < 30).astype(float),
        "purchases_180d": np.where(recency < 180, np.minimum(orders, recent + 1), 0).astype(float),
        "purchases_365d": np.minimum(orders, 2 + recent).astype(float),
        "spend_180d": value * (recency < 180), "spend_prev_180d": value,
        "p_alive": np.ones(n),
    })
    silence = recency / np.where(np.isnan(gap), 60.0, gap)
    logit = -1.0 + 1.2 * np.log1p(silence) - 0.6 * np.log(orders)
    churned = rng.uniform(size=n) < 1 / (1 + np.exp(-logit))
    return frame, churned


def test_p_alive_counts_only_when_it_says_something():
    assert not p_alive_informative(np.ones(100))
    assert not p_alive_informative(np.r_[np.full(90, np.nan), np.linspace(0, 1, 10)])
    assert not p_alive_informative(np.r_[np.ones(90), np.full(10, 0.5)])
    assert p_alive_informative(np.linspace(0, 1, 100))


def test_uninformative_or_missing_p_alive_is_left_out():
    frame, y = customers()
    assert "p_alive" not in ChurnClassifier().fit(frame, y).features_  # all 1
    assert "p_alive" not in ChurnClassifier().fit(frame.assign(p_alive=np.nan), y).features_
    spread = frame.assign(p_alive=np.linspace(0.01, 0.99, len(frame)))
    assert "p_alive" in ChurnClassifier().fit(spread, y).features_


def test_model_and_baseline_rank_held_out_customers():
    frame, y = customers(seed=3)
    test, y_test = customers(seed=4)
    for est in (ChurnClassifier(), RfmBaseline()):
        p = est.fit(frame, y).predict_proba(test)
        assert ((p > 0) & (p < 1)).all()
        assert evaluation.auc(y_test, p) > evaluation.auc(y_test, test.recency_days) + 0.01
        assert evaluation.calibration(y_test, p)["calibration_error"] < 0.05


def test_recency_raises_the_risk_and_never_lowers_it():
    frame, y = customers()
    model = ChurnClassifier().fit(frame, y)
    one = pd.concat([frame.iloc[[7]]] * 50, ignore_index=True)
    one["recency_days"] = np.linspace(0, 400, 50)
    assert (np.diff(model.predict_proba(one)) >= -1e-12).all()


@pytest.mark.parametrize("estimator", [ChurnClassifier, RfmBaseline])
def test_signals_point_the_way_of_the_customers_own_values(estimator):
    frame, y = customers()
    model = estimator().fit(frame, y)
    sig = risk_signals(model, frame)
    x = engineer(frame)
    overdue = sig.codes.map(lambda c: "overdue" in c)
    assert overdue.any() and sig.codes.map(len).max() <= 3
    assert not (overdue & (frame.recency_days < OVERDUE_MIN_DAYS)).any()
    assert not (overdue & (frame.recency_days <= x.gap_mean)).any()
    few = sig.codes.map(lambda c: "few_purchases" in c)
    assert not (few & (frame.orders >= model.reference_["orders"])).any()
    # strongest first, and each really raises the risk
    assert all(r == sorted(r, reverse=True) and min(r, default=1) > 0 for r in sig.rise)
    # each kept rise is the customer's risk minus their risk with the signal's features at
    # the reference, as if every customer's counterfactual had been predicted
    base = model._proba(x)
    alts, kept = [], []
    for i, (codes, rises) in enumerate(zip(sig.codes, sig.rise)):
        for code, rise in zip(codes, rises):
            alt = x.iloc[[i]].copy()
            for c in SIGNALS[code]:
                if c in alt and c in model.reference_.index:
                    alt[c] = model.reference_[c]
            if code == "overdue":
                alt["overdue"] = alt["recency_days"] / alt["gap_mean"].clip(lower=1.0)
            alts.append(alt)
            kept.append((i, rise))
        if len(kept) >= 60:
            break
    assert len(kept) >= 60
    again = model._proba(pd.concat(alts))
    for (i, rise), p in zip(kept, again):
        assert rise == pytest.approx(base[i] - p, abs=1e-12)
    # a customer who behaves like the reference has nothing to be told
    typical = frame.iloc[[0]].copy()
    for c in ("recency_days", "orders", "gap_mean", "tenure_days"):
        typical[c] = model.reference_[c]
    typical["net_revenue"] = model.reference_["order_value"] * typical["orders"]
    assert "overdue" not in risk_signals(model, typical).codes.iloc[0]


def test_signal_words_quote_the_customer():
    frame = pd.DataFrame({"recency_days": [214.0, 120.0], "gap_mean": [35.0, np.nan],
                          "orders": [5.0, 1.0], "tenure_days": [400.0, 120.0]})
    sig = pd.DataFrame({"codes": [["overdue"], ["overdue"]]})
    from upmarket.models.churn import _facts
    sig = pd.concat([sig, _facts(engineer(frame), frame)], axis=1)
    assert signal_words(sig, "en") == ["no purchase for 214 days, usual gap 35 days",
                                       "one purchase only, 120 days ago"]
    assert signal_words(sig, "zh-CN") == ["已 214 天未购买，平时间隔 35 天", "仅购买过一次，距今 120 天"]
    assert signal_text("a", "甲", "zh") == "甲" and signal_text("a", None, "zh") == "a"
    assert signal_text(None, None, "en") == ""


def test_summary_line_names_model_baseline_and_the_published_one():
    ev = {"horizon_days": 90, "auc": 0.71, "auc_rfm_baseline": 0.72, "auc_recency_baseline": 0.66,
          "lift_top_decile": 1.4, "lift_top_decile_rfm_baseline": 1.5, "calibration_error": 0.05,
          "calibration_error_rfm_baseline": 0.03}
    for lang in ("en", "zh"):
        text = label("churn_evaluation", lang, **ev,
                     published=label("churn_published.rfm_baseline", lang))
        assert "0.710" in text and "0.720" in text and "0.660" in text
    assert "baseline" in label("churn_published.rfm_baseline", "en")


def test_fallback_without_history_never_aborts():
    class Ctx:
        results = pd.DataFrame({"recency_days": [3.0, 50.0, 200.0],
                                "p_alive": [0.9, np.nan, np.nan],
                                "expected_purchases_90d": [2.0, 1.5, 0.2]})
        summary: dict = {}

    pipeline._churn_fallback(Ctx, "too little history")
    r = Ctx.results
    assert r.churn_risk.between(0, 1).all() and r.churn_risk.iloc[0] == pytest.approx(0.1)
    # without P(alive): the Poisson chance of no purchase at the expected rate
    assert r.churn_risk.iloc[1] == pytest.approx(np.exp(-1.5))
    assert r.churn_risk.iloc[2] > r.churn_risk.iloc[1]
    assert "too little history" in Ctx.summary["churn_model"]


def test_small_warehouse_run_falls_back_in_words(tmp_path):
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest
    from upmarket.warehouse.runs import Run

    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(f"{i:05d} 199701{1 + i % 28:02d} 1 {10 + i}.00" for i in range(30)))
    wh = connect("duckdb://")
    ingest("orders", path, preset="cdnow", warehouse=wh)
    as_of = datetime(1997, 3, 1)
    ctx = pipeline.Context(wh, as_of, Run(wh, as_of))
    pipeline.stage_features_and_value(ctx)
    pipeline.stage_churn(ctx)
    assert "churn_evaluation" not in ctx.summary
    assert "too little history" in ctx.summary["churn_model"]
    assert ctx.results.churn_risk.between(0, 1).all()
    assert (ctx.results.churn_signals == "").all()


def test_signals_from_a_risk_already_predicted_are_the_same():
    frame, y = customers(1500, seed=11)
    model = ChurnClassifier().fit(frame, y)
    risk = model.predict_proba(frame)
    given = risk_signals(model, frame, risk=risk)
    own = risk_signals(model, frame)
    assert given["codes"].tolist() == own["codes"].tolist()
    assert given["rise"].tolist() == own["rise"].tolist()
    assert signal_words(given, "zh-CN") == signal_words(own, "zh-CN")
    with pytest.raises(ValueError, match="1499 values for 1500 customers"):
        risk_signals(model, frame, risk=risk[:-1])
