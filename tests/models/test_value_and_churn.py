"""The value engine's models on real data: lifetime value, levers, churn, clusters."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from shared_data import shared

from upmarket.features.customer import customer_features
from upmarket.models import evaluation
from upmarket.models.btyd import NotFitted
from upmarket.models.churn import SIGNALS, ChurnClassifier, risk_band, risk_signals
from upmarket.models.clusters import BehaviourClusters
from upmarket.models.value import LifetimeValue
from upmarket.strategy.levers import Levers, what_if
from upmarket.strategy.tiers import assign_tiers
from upmarket.warehouse.ingest import ingest

TABLES = ("orders", "products", "service_tickets", "feedback")


@pytest.fixture(scope="module")
def cdnow():
    from upmarket.warehouse import connect

    wh = connect("duckdb://")
    ingest("orders", shared("cdnow/CDNOW_sample.txt"), preset="cdnow", warehouse=wh)
    tables = {n: wh.table(n) for n in TABLES}
    frame = customer_features(tables, datetime(1997, 10, 1)).order_by("customer_id").to_pandas()
    later = customer_features(tables, datetime(1998, 7, 1)).order_by("customer_id").to_pandas()
    return wh, frame, later


def test_lifetime_value_reproduces_published_bgnbd(cdnow):
    _, frame, _ = cdnow
    model = LifetimeValue().fit(frame)
    p = model.transactions_.params_
    assert (round(p["r"], 3), round(p["alpha"], 2), round(p["a"], 3), round(p["b"], 2)) == \
        (0.243, 4.41, 0.793, 2.43)
    pred = model.predict(frame)
    assert np.isfinite(pred.clv).all() and (pred.clv >= 0).all()
    assert pred.p_alive.between(0, 1).all()
    assert (pred.expected_purchases_12m >= pred.expected_purchases_90d).all()


def test_rate_multiplier_is_a_faster_clock(cdnow):
    _, frame, _ = cdnow
    model = LifetimeValue().fit(frame)
    k = 1.1
    faster = model.predict(frame, rate_multiplier=k, clv=False)["expected_purchases_12m"]
    weeks = 12 * 365.25 / 12 / 7
    x, tx, T = model._rft(frame)
    direct = model.transactions_.conditional_expected_purchases(k * weeks, x, tx, T)
    np.testing.assert_allclose(faster, direct, rtol=1e-10)


def test_levers_move_value_the_right_way(cdnow):
    _, frame, _ = cdnow
    model = LifetimeValue().fit(frame)
    tiers = pd.Series(assign_tiers(model.predict(frame).clv.to_numpy()), index=frame.index)

    def total(levers):
        t = what_if(frame, model, tiers, levers).set_index("tier")
        return t.loc["total", "change"], t

    assert total(Levers())[0] == pytest.approx(0.0, abs=1e-6)
    assert total(Levers(retention_points=5))[0] > 0
    assert total(Levers(frequency_pct=10))[0] > 0
    assert total(Levers(cost_to_serve_pct=-10))[0] > 0
    assert total(Levers(retention_points=-5))[0] < 0
    # order value scales gross CLV exactly; the cost to serve is unchanged
    change, t = total(Levers(order_value_pct=5))
    gross = model.predict(frame).clv.sum()
    assert change == pytest.approx(0.05 * gross, rel=1e-9)


def test_churn_model_beats_recency_on_cdnow_holdout(cdnow):
    wh, frame, later = cdnow
    model = LifetimeValue().fit(frame)
    train = pd.concat([frame, model.predict(frame, clv=False)], axis=1)
    o = wh.table("orders")
    bought = set(o.filter(o.ts >= datetime(1997, 10, 1), o.ts < datetime(1998, 1, 1))
                 .customer_id.to_pandas())
    y = ~train.customer_id.isin(bought)
    clf = ChurnClassifier().fit(train, y)
    score = clf.predict_proba(train)
    assert evaluation.auc(y, score) > evaluation.auc(y, train.recency_days)
    assert ((score > 0) & (score < 1)).all()
    signals = risk_signals(clf, train.head(50))
    assert all(set(s) <= set(SIGNALS) and len(s) <= 3 for s in signals.codes)
    assert all(r > 0 for rises in signals.rise for r in rises)


def test_churn_needs_fit_and_two_classes():
    with pytest.raises(NotFitted):
        ChurnClassifier().predict_proba(pd.DataFrame({"recency_days": [1.0]}))
    with pytest.raises(ValueError, match="single class"):
        ChurnClassifier().fit(pd.DataFrame({"recency_days": [1.0, 2.0]}), [True, True])


def test_risk_bands():
    assert risk_band(np.array([0.0, 0.29, 0.3, 0.59, 0.6, 0.8, 1.0])).tolist() == \
        ["low", "low", "medium", "medium", "high", "critical", "critical"]


def test_clusters_are_named_and_stable(cdnow):
    _, _, later = cdnow
    a = BehaviourClusters(n_clusters=5).fit(later)
    b = BehaviourClusters(n_clusters=5).fit(later)
    assert list(a.predict(later)) == list(b.predict(later))
    names = a.names_
    assert len(names) == len(set(names)) == 5
    assert "drifting" in names  # CDNOW is mostly customers who bought once and left


def test_auc_and_lift():
    y = np.array([0, 0, 1, 1])
    assert evaluation.auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert np.isnan(evaluation.auc([1, 1], [0.1, 0.2]))
    assert evaluation.lift_at(np.r_[np.ones(10), np.zeros(90)], np.arange(100)[::-1], 0.1) == 10.0


def test_calibration_of_a_perfectly_calibrated_score():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=20000)
    y = rng.uniform(size=p.size) < p
    cal = evaluation.calibration(y, p)
    assert cal["calibration_error"] < 0.02
    assert abs(cal["mean_predicted"] - cal["observed_rate"]) < 0.02
    bad = evaluation.calibration(y, np.clip(p + 0.3, 0, 1))
    assert bad["calibration_error"] > 0.2 and bad["brier"] > cal["brier"]
