"""Risk: thresholds, concentration, credit grades, SLA breaches, the sentiment lexicon, anomaly
and spike detection, the register, and the whole assessment on a small synthetic world."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.features.risk import invoice_positions
from upmarket.strategy.risk import (INDICATORS, BadRiskSettings, CreditPolicy, Reading,
                                    RiskThresholds, Threshold, concentration, credit_grades,
                                    detect_anomalies, fill_days, hhi, risk_register, risk_tables,
                                    robust_zscores, sentiment_label, sentiment_score,
                                    sla_breaches, weekly_feedback)
from upmarket.warehouse.ingest import ingest


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """A 300-customer synthetic store, loaded once for this module."""
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse import connect

    cfg = WorldConfig(customers=300, seed=5)
    wh = connect(f"duckdb://{tmp_path_factory.mktemp('risk')}/w.duckdb")
    load_world(wh, cfg)
    yield wh, cfg.as_of
    wh.close()


# ---------------------------------------------------------------------------------------------
# thresholds


@given(st.floats(-1e6, 1e6), st.floats(0.0, 1e6))
@settings(max_examples=100, deadline=None)
def test_threshold_fires_exactly_when_crossed(medium, gap):
    high = medium + gap
    up = Threshold(medium, high)
    assert up.level(medium) == "low"
    assert up.level(np.nextafter(medium, np.inf)) == ("medium" if high > medium else "high")
    assert up.level(high) == ("medium" if high > medium else "low")
    assert up.level(np.nextafter(high, np.inf)) == "high"
    down = Threshold(high, medium, "below")  # less is worse: medium cut at `high`
    assert down.level(high) == "low"
    assert down.level(np.nextafter(medium, -np.inf)) == "high"


def test_seed_000_premium_churn_threshold():
    t = RiskThresholds().premium_churn_predicted
    assert t.level(0.30) == "low" and t.level(0.3001) == "medium"
    # high beyond the laggards' churn: 1 − 42 % retention
    assert t.level(0.58) == "medium" and t.level(0.5801) == "high"
    nps = RiskThresholds().nps
    assert nps.level(50) == "low" and nps.level(49.9) == "medium" and nps.level(-0.1) == "high"


def test_thresholds_in_the_wrong_order_are_refused():
    with pytest.raises(BadRiskSettings):
        Threshold(0.5, 0.3)
    with pytest.raises(BadRiskSettings):
        Threshold(0.0, 50.0, "below")
    with pytest.raises(BadRiskSettings):
        Threshold(0.0, 1.0, "sideways")


# ---------------------------------------------------------------------------------------------
# concentration


def test_hhi_by_hand():
    # shares 50 %, 30 %, 20 %: 50² + 30² + 20² = 3,800
    assert hhi([50, 30, 20]) == pytest.approx(3_800)
    assert hhi([7.0]) == pytest.approx(10_000)
    # a customer with net returns holds no share
    assert hhi([50, 30, 20, -40]) == pytest.approx(3_800)
    assert np.isnan(hhi([0, 0]))


@given(st.integers(1, 500), st.floats(0.01, 1e6))
@settings(max_examples=50, deadline=None)
def test_hhi_of_n_equal_holders_is_10000_over_n(n, v):
    assert hhi(np.full(n, v)) == pytest.approx(10_000 / n)


def test_top_shares_by_hand():
    revenue = pd.Series(np.r_[[1_000.0, 500.0, 400.0], np.full(247, 10.0)])  # 250 customers
    c = concentration(revenue.sample(frac=1.0, random_state=1))  # order must not matter
    total = 1_900 + 2_470
    # top 1 % of 250 is ⌈2.5⌉ = 3 customers
    assert c["top1pct_customers"] == 3
    assert c["top1pct_share"] == pytest.approx(1_900 / total)
    assert c["top10_share"] == pytest.approx((1_900 + 70) / total)
    assert c["hhi"] == pytest.approx(hhi(revenue))


# ---------------------------------------------------------------------------------------------
# credit


def test_invoice_positions_and_credit_grades(wh):
    as_of = datetime(2025, 7, 1)
    d = pd.Timestamp
    ingest("payments", pd.DataFrame({
        "invoice_id": ["i1", "i2", "i3", "i4", "i5", "i6", "i7"],
        "customer_id": ["ontime", "late", "late", "e", "d", "c", "c"],
        "amount": [100.0, 200.0, 300.0, 400.0, 500.0, 100.0, 600.0],
        "issued": [d("2025-05-01"), d("2025-03-01"), d("2025-04-01"), d("2025-02-01"),
                   d("2025-04-20"), d("2025-05-10"), d("2025-06-20")],
        "due": [d("2025-05-31"), d("2025-03-31"), d("2025-05-01"), d("2025-03-31"),
                d("2025-05-20"), d("2025-06-09"), d("2025-07-20")],
        "paid_at": [d("2025-05-20"), d("2025-04-10"), d("2025-04-25"), pd.NaT, pd.NaT,
                    pd.NaT, d("2025-08-01")],  # paid after as_of: still open at as_of
    }), warehouse=wh)
    pos = invoice_positions(wh.table("payments"), as_of).to_pandas().set_index("customer_id")
    assert pos.at["late", "paid_late"] == 1 and pos.at["late", "settled"] == 2
    assert pos.at["late", "mean_days_late"] == pytest.approx(10.0)
    assert pos.at["e", "max_days_overdue"] == pytest.approx(92.0)
    assert pos.at["d", "max_days_overdue"] == pytest.approx(42.0)
    assert pos.at["c", "overdue_count"] == 1 and pos.at["c", "open_amount"] == 700.0
    assert pos.at["c", "overdue_amount"] == 100.0
    g = credit_grades(pos.reset_index()).set_index("customer_id")
    assert g["grade"].to_dict() == {"ontime": "A", "late": "B", "e": "E", "d": "D", "c": "C"}
    # terms follow the grade: A gets 3 months of its average monthly invoicing
    assert g.at["ontime", "credit_limit"] == pytest.approx(3 * 100 * 30.4375 / 365)
    assert g.at["c", "prepayment"] == 0.3 and g.at["e", "guarantee"]
    assert g.at["d", "credit_limit"] == 0 and not g.at["d", "guarantee"]


def test_grade_boundaries_are_strict():
    base = dict(invoices=4, invoiced_amount=1_000.0, open_amount=100.0, overdue_count=1,
                overdue_amount=100.0, settled=3, paid_late=0, mean_days_late=np.nan)
    rows = pd.DataFrame([
        {**base, "customer_id": "at90", "max_days_overdue": 90.0},
        {**base, "customer_id": "over90", "max_days_overdue": 90.5},
        {**base, "customer_id": "at30", "max_days_overdue": 30.0},
        {**base, "customer_id": "half", "max_days_overdue": 5.0, "overdue_amount": 500.0},
        {**base, "customer_id": "over_half", "max_days_overdue": 5.0, "overdue_amount": 501.0},
        {**base, "customer_id": "mostly_late", "max_days_overdue": np.nan, "overdue_count": 0,
         "overdue_amount": 0.0, "paid_late": 2},
        {**base, "customer_id": "half_late", "max_days_overdue": np.nan, "overdue_count": 0,
         "overdue_amount": 0.0, "paid_late": 1, "settled": 2},
    ])
    g = credit_grades(rows, CreditPolicy()).set_index("customer_id")["grade"].to_dict()
    assert g == {"at90": "D", "over90": "E", "at30": "C", "half": "C", "over_half": "D",
                 "mostly_late": "C", "half_late": "B"}


# ---------------------------------------------------------------------------------------------
# operational


def test_sla_breach_by_tier_response_time():
    tickets = pd.DataFrame({"ticket_id": list("abcde"),
                            "customer_id": ["dia", "dia", "core", "nobody", "nobody"],
                            "response_hours": [1.0, 1.01, 5.0, 47.9, 48.5]})
    hours = pd.Series({"dia": 1.0, "core": 4.0})
    t = sla_breaches(tickets, hours, default_hours=48.0)
    # exactly on the SLA is in time; a customer without a tier is held to the Basic 48 h
    assert t["breached"].tolist() == [False, True, True, False, True]
    assert t["sla_hours"].tolist() == [1.0, 1.0, 4.0, 48.0, 48.0]


# ---------------------------------------------------------------------------------------------
# sentiment


@pytest.mark.parametrize("text, expected", [
    ("非常满意，会推荐给朋友", "positive"),
    ("质量很好，物流也快", "positive"),
    ("快递超时好几天了还没到", "negative"),  # 快 inside 快递 and 好 inside 好几 do not count
    ("商品有划痕，包装也破了，非常失望", "negative"),
    ("我不推荐这款", "negative"),  # negation flips 推荐
    ("物流不慢，客服也很专业", "positive"),  # negation flips 慢
    ("不满意", "negative"),  # one term, not 不 + 满意
    ("还可以，价格有点贵", "neutral"),
    ("请帮我开具增值税发票", "neutral"),
    ("Love it, will recommend it to friends.", "positive"),
    ("Very disappointed, I won't buy again.", "negative"),
    ("Slow delivery and no reply from support.", "negative"),
    ("Poor quality, not as described.", "negative"),
    ("I would not recommend this shop.", "negative"),
    ("Never disappointed with their service.", "positive"),
    ("Not bad at all, delivery was quick.", "positive"),
    ("It's okay, a bit pricey.", "neutral"),
    ("Please issue a VAT invoice.", "neutral"),
    ("质量很好 but slow delivery", "neutral"),  # mixed text: both lexicons count
    ("", "neutral"),
    (None, "neutral"),
])
def test_sentiment_lexicon(text, expected):
    assert sentiment_label(text) == expected


def test_world_feedback_texts_read_as_their_mood():
    # the synthetic world writes each feedback text from a mood (NPS 9–10, 7–8, 0–6): the
    # lexicon must read every one of them as that mood
    from upmarket.demo.world import _FEEDBACK_TEXT

    for mood in ("positive", "neutral", "negative"):
        for text in _FEEDBACK_TEXT[mood]:
            assert sentiment_label(text) == mood, text
    # the weights add up: two negative terms weigh more than one
    assert sentiment_score("质量差，和描述不符") < sentiment_score("质量差") < 0


# ---------------------------------------------------------------------------------------------
# anomalies


def test_robust_z_is_the_modified_z_of_iglewicz_and_hoaglin():
    hist = np.array([10, 12, 11, 13, 9, 10, 12, 11, 10, 14], float)
    x = np.r_[hist, 30.0]
    z, med = robust_zscores(x, window=10, min_periods=10)
    m = np.median(hist)
    mad = np.median(np.abs(hist - m))
    assert med[-1] == m and z[-1] == pytest.approx(0.6745 * (30 - m) / mad)
    assert np.isnan(z[:10]).all()
    # MAD 0 (a flat history): the mean absolute deviation stands in, then infinity
    flat = np.r_[np.full(9, 5.0), 6.0, 9.0]
    z, _ = robust_zscores(flat, window=10, min_periods=10)
    assert z[-1] == pytest.approx((9 - 5) / (1.253314 * 0.1))
    z, _ = robust_zscores(np.r_[np.full(10, 5.0), 6.0], window=10, min_periods=10)
    assert z[-1] == np.inf


def test_anomaly_detection_finds_an_injected_spike_and_not_noise():
    rng = np.random.default_rng(11)
    days = pd.date_range("2025-01-01", periods=120, freq="D")
    daily = pd.DataFrame({"day": days, "revenue": rng.normal(10_000, 800, 120),
                          "orders": rng.poisson(100, 120).astype(float)})
    assert detect_anomalies(daily, ("revenue", "orders")).empty
    spiked = daily.copy()
    spiked.loc[80, "revenue"] = 16_000  # +7.5 sd
    spiked.loc[100, "orders"] = 30  # a collapse
    flags = detect_anomalies(spiked, ("revenue", "orders"))
    assert flags[["day", "kpi", "direction"]].values.tolist() == [
        [days[80], "revenue", "up"], [days[100], "orders", "down"]]
    assert flags["deviation"].iloc[0] == pytest.approx(16_000 - flags["expected"].iloc[0])


@pytest.mark.parametrize("seed", range(5))
def test_noise_alone_rarely_fires(seed):
    rng = np.random.default_rng(seed)
    daily = pd.DataFrame({"day": pd.date_range("2025-01-01", periods=365, freq="D"),
                          "orders": rng.poisson(50, 365).astype(float)})
    flags = detect_anomalies(daily, ("orders",))
    # measured: about 0.015 % of such days cross |z| > 4.5 (see the module docstring)
    assert len(flags) <= 1


def test_fill_days_adds_the_quiet_days():
    daily = pd.DataFrame({"day": pd.to_datetime(["2025-01-02"]), "orders": [3]})
    out = fill_days(daily, datetime(2025, 1, 1), datetime(2025, 1, 4))
    assert out["day"].dt.day.tolist() == [1, 2, 3] and out["orders"].tolist() == [0, 3, 0]


def test_weekly_spike_needs_a_rising_negative_share():
    as_of = datetime(2025, 6, 1)
    rows = []
    for w in range(12):  # w = weeks before as_of
        ts = as_of - timedelta(days=7 * w + 3)
        n, neg = (40, 3 + w % 3) if w else (40, 20)  # the latest week turns sour
        rows += [{"id": f"{w}-{i}", "ts": ts, "nps_score": 3 if i < neg else 9,
                  "sentiment": "neutral"} for i in range(n)]
    f = pd.DataFrame(rows)
    weekly = weekly_feedback(f, as_of, weeks=12, window=8)
    assert weekly["spike"].tolist() == [False] * 11 + [True]
    assert weekly["negative"].iloc[-1] == 20 and weekly["week_start"].iloc[-1] == \
        pd.Timestamp(as_of - timedelta(days=7))
    # a busy week with the usual share of complaints is not a spike
    busy = pd.DataFrame([{**r, "id": f"{r['id']}x"} for r in rows if r["id"].startswith("1-")]
                        * 5)
    calm = pd.concat([f[~f["id"].str.startswith("0-")], busy.assign(
        ts=as_of - timedelta(days=2))], ignore_index=True)
    weekly = weekly_feedback(calm, as_of, weeks=12, window=8)
    assert weekly["negative"].iloc[-1] == 20 and not weekly["spike"].iloc[-1]


# ---------------------------------------------------------------------------------------------
# the register


def test_register_levels_ids_and_order():
    readings = [Reading("top10_share", 0.10), Reading("overdue_share", 0.30, 5_000.0),
                Reading("nps", 40.0), Reading("kpi_anomalies", 1.0), Reading("top1pct_share", 0.6)]
    reg = risk_register(readings)
    th = RiskThresholds()
    for r in reg.itertuples():
        assert r.level == getattr(th, r.indicator).level(r.value)
        assert (r.category, r.impact, r.owner) == INDICATORS[r.indicator]
        assert r.action == f"risk.action.{r.indicator}"
    assert reg["level"].tolist() == ["high", "high", "medium", "medium", "low"]
    assert dict(zip(reg["indicator"], reg["id"])) == {
        "top10_share": "CON-01", "top1pct_share": "CON-02", "overdue_share": "CRD-01",
        "nps": "REP-01", "kpi_anomalies": "ANO-01"}
    # the threshold shown is the one crossed (or the next one when low)
    assert reg.set_index("indicator").at["overdue_share", "threshold"] == 0.25
    assert reg.set_index("indicator").at["top10_share", "threshold"] == 0.20


def test_risk_tables_on_a_small_world(small_world):
    wh, as_of = small_world
    cust = wh.table("orders").select("customer_id").distinct().to_pandas()["customer_id"]
    rng = np.random.default_rng(0)
    tiers = np.array(["diamond", "core", "potential", "basic"])[
        np.minimum(np.arange(len(cust)) * 4 // len(cust), 3)]
    results = pd.DataFrame({"customer_id": cust, "tier": tiers,
                            "clv": rng.gamma(2, 100, len(cust)),
                            "churn_risk": rng.uniform(0, 1, len(cust))})
    tables, summary = risk_tables(wh, as_of, results)
    reg = tables["risk_register"].set_index("indicator")
    assert set(reg["category"]) == {"concentration", "credit", "operational", "reputation",
                                    "churn", "anomaly"}
    assert summary["open_risks"] == int((reg["level"] != "low").sum())
    prem = results[results["tier"].isin(["diamond", "core"])]
    assert reg.at["premium_churn_predicted", "value"] == pytest.approx(prem["churn_risk"].mean())
    # every E is an invoice more than 90 days past due
    credit = tables["risk_credit"]
    assert ((credit["grade"] == "E") == (credit["max_days_overdue"].fillna(0) > 90)).all()
    overdue = credit["overdue_amount"].sum() / credit["open_amount"].sum()
    assert reg.at["overdue_share", "value"] == pytest.approx(overdue)
    sla = tables["risk_sla"].set_index("tier")
    assert reg.at["sla_breach_rate", "value"] == pytest.approx(
        sla["breached"].sum() / sla["tickets"].sum())
    assert (sla.loc["diamond", "sla_hours"], sla.loc["basic", "sla_hours"]) == (1, 48)
    # without results, premium churn is not assessed and says why
    _, bare = risk_tables(wh, as_of, None)
    assert "premium_churn_predicted" in bare["not_assessed"]
    # observed premium churn from the KPIs a run already computed: the same register
    from upmarket.strategy.kpis import base_kpis

    given, _ = risk_tables(wh, as_of, results, base_kpis=base_kpis(wh.table("orders"), as_of))
    pd.testing.assert_frame_equal(given["risk_register"], tables["risk_register"])
    assert "premium_churn_observed" in set(given["risk_register"]["indicator"])
    # and figures handed in are the ones it reads
    other, _ = risk_tables(wh, as_of, results,
                           base_kpis={"premium_retention": 0.25, "kpi_window_days": 365.0})
    reg = other["risk_register"].set_index("indicator")
    assert reg.at["premium_churn_observed", "value"] == pytest.approx(0.75)
