"""A small warehouse for the report tests: a demo world's source tables (orders, events,
feedback … so the period KPIs, scorecard and attribution have real data) and one published
run written through the real `Run` path, whose outputs are synthetic frames with the
pipeline's schemas (fast to make, and with known contents to check the report against). Its
value model was flagged by the fit checks (`value_summary`), so the report's method section has
warnings to show; `value_summary(flagged=False)` is the account of a clean run.

Imported by tests/reports and tests/cli/test_report_cli.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.i18n import label
from upmarket.models.churn import risk_band
from upmarket.models.value_choice import CRITERION
from upmarket.strategy import tiers
from upmarket.strategy.nba import ACTIONS
from upmarket.strategy.segments import SEGMENTS

CUSTOMERS = 200
SEED = 11
CHANNELS = ["search", "wechat", "email", "douyin"]
#: A campaign name a report must escape, never execute.
HOSTILE = "<script>alert('x')</script> 双11"


def _signals(rng, n: int) -> dict[str, list[str]]:
    """Churn signal columns as the pipeline writes them (`models.churn.signal_words`)."""
    pick = rng.integers(0, 3, n)
    words = {lang: [label("signal.overdue", lang, days="214", gap="35"),
                    label("signal.overdue_once", lang, days="120"), ""]
             for lang in ("en", "zh-CN")}
    return {"churn_signal_codes": [["overdue", "overdue", ""][k] for k in pick],
            "churn_signals": [words["en"][k] for k in pick],
            "churn_signals_zh": [words["zh-CN"][k] for k in pick]}


def run_frames(ids: list[str], as_of: datetime, seed: int = SEED) -> dict[str, pd.DataFrame]:
    """The outputs of a run, with the pipeline's column names, for customers `ids`."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    clv = rng.lognormal(6.0, 1.2, n)
    clv[:3] = 0.0  # a few customers predicted to bring nothing
    tier = tiers.assign_tiers(clv)
    risk = rng.uniform(0, 1, n)
    revenue = clv * rng.uniform(1.5, 3.0, n)
    results = pd.DataFrame({
        "customer_id": ids, "tier": tier, "clv": clv, "churn_risk": risk,
        "churn_band": risk_band(risk), "net_revenue": revenue,
        "rfm_segment": rng.choice(SEGMENTS, n),
        **_signals(rng, n),
        "lifecycle_stage": rng.choice(["retention", "loyalty", "lapsed"], n),
        "next_best_action": rng.choice(ACTIONS, n),
    })
    tier_summary = tiers.tier_report(results["tier"], results["net_revenue"],
                                     value=results["clv"])
    action = results["next_best_action"]
    actions = pd.DataFrame({
        "customer_id": ids, "tier": tier, "action": action,
        "expected_value": np.where(action == "no_contact", 0.0, rng.uniform(0, 300, n)),
        "probability": rng.uniform(0, 0.6, n),
        "product_name": [f"咖啡机 旗舰款 · Coffee machine {i % 3}" for i in range(n)],
        "sku": [f"CM-P{i % 3}" for i in range(n)], "channel": rng.choice(CHANNELS, n),
        "reason_en": ["likely to move up to premium"] * n,
        "reason_zh": ["很可能升级到高端款"] * n,
    })
    cost = np.array([1000.0, 800.0, 500.0, 1200.0])
    profit = np.array([5000.0, 2400.0, 400.0, 1500.0])
    channel_roi = pd.DataFrame({"channel": CHANNELS, "conversions": [40.0, 30.0, 10.0, 12.0],
                                "value": profit * 2, "profit": profit, "cost": cost,
                                "roi": (profit - cost) / cost})
    q_start = datetime(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
    last_q = (pd.Timestamp(q_start) - pd.DateOffset(months=3)).to_pydatetime()
    campaign_roi = pd.DataFrame({
        "campaign_id": ["CMP01", "CMP02", "CMP03"],
        "name": ["spring_search", HOSTILE, "old_email"],
        "channel": ["search", "wechat", "email"],
        "start": [last_q + timedelta(days=10), last_q + timedelta(days=40),
                  last_q - timedelta(days=200)],
        "end": [last_q + timedelta(days=30), last_q + timedelta(days=60),
                last_q - timedelta(days=180)],
        "cost": [1000.0, 2000.0, 500.0], "touched": [50, 80, 20],
        "value": [4000.0, 3000.0, 600.0], "profit": [2000.0, 1500.0, 300.0],
        "roi": [1.0, -0.25, -0.4], "ltv_effect": [500.0, 900.0, 10.0],
        "ltv_customers": [40, 60, 10], "roi_long_term": [1.5, 0.2, -0.38],
    })
    experiments = pd.DataFrame({"campaign_id": ["CMP01", "CMP02"], "arm": ["B", "B"],
                                "verdict": ["uplift", "inconclusive"], "uplift": [0.2, 0.01],
                                "p_value": [0.01, 0.6]})
    months = pd.period_range(end=pd.Timestamp(as_of) - pd.DateOffset(months=1), periods=6,
                             freq="M")
    plan = pd.DataFrame([{"channel": ch, "period": str(m), "planned": 100.0 * (i + 1),
                          "planned_to_date": 100.0 * (i + 1), "actual": 90.0 * (i + 1) + j,
                          "status": "on_plan"}
                         for i, ch in enumerate(CHANNELS) for j, m in enumerate(months)])
    cohort_months = pd.date_range(end=pd.Timestamp(as_of) - pd.DateOffset(months=1),
                                  periods=4, freq="MS")
    cohorts = pd.DataFrame([{"cohort": c, "months_since": k, "cohort_size": 50,
                             "active_customers": 50 - 7 * k, "retention_rate": (50 - 7 * k) / 50}
                            for c in cohort_months for k in range(4)])
    funnels = pd.DataFrame({"channel": CHANNELS + ["all"],
                            "exposed": [100, 80, 60, 40, 250], "clicked": [50, 40, 30, 20, 120],
                            "registered": [30, 20, 20, 10, 70],
                            "purchased": [10, 8, 6, 4, 25]})
    register = pd.DataFrame({
        "id": ["CRD-01", "OPS-01", "REP-02", "CON-01"],
        "category": ["credit", "operational", "reputation", "concentration"],
        "indicator": ["overdue_share", "sla_breach_rate", "nps", "top1pct_share"],
        "value": [0.4, 0.3, 30.0, 0.1], "threshold": [0.25, 0.25, 50.0, 0.3],
        "direction": ["above", "above", "below", "above"],
        "level": ["high", "medium", "medium", "low"],
        "impact": ["high", "medium", "medium", "high"],
        "exposure": [20000.0, 5000.0, np.nan, 90000.0],
        "owner": ["credit_controller", "service_manager", "brand_manager",
                  "key_account_manager"],
        "action": ["risk.action.overdue_share", "risk.action.sla_breach_rate", "risk.action.nps",
                   "risk.action.top1pct_share"],
        "note": ["3 invoices", "9 of 30 tickets", "", "top 2"],
    })
    channel_economics = pd.DataFrame({"channel": CHANNELS, "clv_to_cac": [9.0, 5.0, 2.1, 4.0]})
    return {"results": results, "tier_summary": tier_summary, "actions": actions,
            "channel_roi": channel_roi, "campaign_roi": campaign_roi,
            "experiments": experiments, "budget_plan_vs_actual": plan, "cohorts": cohorts,
            "funnels": funnels, "risk_register": register,
            "channel_economics": channel_economics,
            "value_model_comparison": COMPARISON.copy()}


#: The value models' holdout comparison (`value_model_comparison`, as the pipeline writes it):
#: three candidates, the Pareto/NBD degenerate, and the analyst rankings, which forecast no
#: purchases.
COMPARISON = pd.DataFrame({
    "model": ["bgnbd", "pnbd", "mbgnbd", "past_spend", "recency_weighted_spend"],
    "precision_top2": [0.5, 0.54, 0.5, 0.33, 0.42],
    "precision_top20": [0.49, 0.5, 0.5, 0.4, 0.5],
    "predicted": [1982.0, 3738.3, 1953.1, np.nan, np.nan],
    "actual": [2318.0, 2318.0, 2318.0, np.nan, np.nan],
    "error": [1982.0 / 2318 - 1, 3738.3 / 2318 - 1, 1953.1 / 2318 - 1, np.nan, np.nan],
    "mae": [1.6284, 1.5621, 1.6496, np.nan, np.nan],
    "degenerate": [False, True, False, False, False],
    "note": ["", "no drop-out left in the fit (it is a plain NBD)", "", "", ""],
    "reason": ["", "no_dropout", "", "", ""],
})
RANKING = ["bgnbd", "mbgnbd", "pnbd"]


def value_summary(flagged: bool) -> dict:
    """The run summary's account of its value and churn models, as `pipeline` writes it. A
    flagged run's BG/NBD won the holdout but its fit on all the data put a shape parameter at
    an extreme, the MBG/NBD did not converge and the Gamma-Gamma has an infinite mean: the run
    fell back to empirical rates and published no P(alive). A clean run used what it chose."""
    from upmarket.models.btyd.diagnostics import FitReport, FitWarning

    t = COMPARISON.set_index("model").loc[RANKING]
    choice = {"chosen": "bgnbd", "ranking": RANKING, "calibration_end": "2025-05-08",
              "holdout_weeks": 34.0, "criterion": CRITERION,
              "models": [{"model": m, "predicted": round(r.predicted, 1),
                          "actual": round(r.actual, 1), "error": round(r.error, 4),
                          "mae": round(r.mae, 4), "degenerate": bool(r.degenerate)}
                         for m, r in t.iterrows()]}
    if flagged:
        fit = FitReport(transactions="empirical", spend="empirical_spend",
                        p_alive_missing="no_dropout")
        fit.add("bgnbd", "transactions", [FitWarning(
            "boundary_estimate", "bgnbd", {"parameter": "a", "value": 3e-07,
                                           "reason": "extreme"})])
        fit.add("mbgnbd", "transactions", [FitWarning("not_converged", "mbgnbd",
                                                      {"gradient": 0.0213})])
        fit.add("empirical", "transactions", [], {"shrinkage": 2.5}, used=True)
        fit.add("gamma_gamma", "spend", [FitWarning("infinite_mean_spend", "gamma_gamma",
                                                    {"q": 0.155})])
        fit.add("empirical_spend", "spend", [], {"shrinkage": 4.0}, used=True)
    else:
        fit = FitReport(transactions="bgnbd", spend="gamma_gamma")
        fit.add("bgnbd", "transactions", [], {"r": 0.83, "alpha": 4.39, "a": 1.21, "b": 5.84},
                used=True)
        fit.add("gamma_gamma", "spend", [], {"p": 1.63, "q": 2.13, "v": 736.8}, used=True)
    churn = {"horizon_days": 90, "holdout_customers": 1644, "holdout_churn_rate": 0.6679,
             "published": "rfm_baseline" if flagged else "model",
             "auc": 0.7912 if flagged else 0.8168, "auc_rfm_baseline": 0.8025,
             "auc_recency_baseline": 0.8026, "lift_top_decile": 1.488,
             "lift_top_decile_rfm_baseline": 1.47, "calibration_error": 0.0529,
             "calibration_error_rfm_baseline": 0.0455}
    return {"value_choice": choice, "value_model": fit.summary(), "churn_evaluation": churn}


def run_summary(frames: dict[str, pd.DataFrame], flagged: bool = True) -> dict:
    ts = frames["tier_summary"]
    return {
        "diamond_revenue_share": float(ts.loc[ts.tier == "diamond", "revenue_share"].iloc[0]),
        "kpis": {"premium_retention": 0.55, "existing_customer_revenue_share": 0.5},
        "budget": {"period": "month", "expected_uplift_pct": 0.05},
        **value_summary(flagged),
    }


def build(url: str, seed: int = SEED):
    """Load the demo world into the warehouse at `url` and publish a synthetic run; returns
    (run_id, as_of, frames)."""
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import Run

    config = WorldConfig(customers=CUSTOMERS, seed=seed)
    wh = connect(url)
    try:
        load_world(wh, config)
        ids = wh.table("customers").customer_id.to_pandas().sort_values().tolist()
        frames = run_frames(ids, config.as_of, seed)
        run = Run(wh, config.as_of)
        for name, frame in frames.items():
            run.write(name, frame)
        run.publish(run_summary(frames))
        return run.run_id, config.as_of, frames
    finally:
        wh.close()
