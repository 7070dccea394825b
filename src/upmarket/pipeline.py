"""The one place that walks a run through the layers (DESIGN §2):
as_of → features → models → strategy → (activation) → publish.

Each stage is a function of the run context; `STAGES` lists them in order, and the whole run is
published atomically at the end (see `warehouse.runs`). Per-customer data are materialised
once, from one Ibis expression (`features.customer.customer_features`), at this boundary.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from upmarket.errors import UpmarketError
from upmarket.features import acquisition, engagement
from upmarket.features import premium
from upmarket.features.orders import purchases_until
from upmarket.features.behaviour import prospects, purchase_rhythm
from upmarket.features.customer import customer_features, trailing_margin
from upmarket.features.snapshots import FeatureSnapshots
from upmarket.lookups import among
from upmarket.membership.outputs import evaluate_programme, member_fields
from upmarket.membership.programme import Programme
from upmarket.models import evaluation
from upmarket.models.churn import (INPUTS as CHURN_INPUTS, ChurnClassifier, RfmBaseline,
                                   risk_band, risk_signals, signal_words)
from upmarket.models.clusters import BehaviourClusters
from upmarket.models import propensity, training_sample, value_choice
from upmarket.models.basket import association_rules, best_bundles
from upmarket.models.purchase_codes import PurchaseCodes
from upmarket.models.recommend import NoPurchases, TunedHybrid
from upmarket.models.upgrade_paths import upgrade_paths_in_engine
from upmarket.models.value import INPUTS as VALUE_INPUTS, LifetimeValue, ValueSettings
from upmarket.activation import holdout
from upmarket.activation.privacy import pseudonym_key
from upmarket.activation.rules import run_automation
from upmarket.opstore.store import discard_run_profiles, serve_run_profiles, stage_run_profiles
from upmarket.freed_memory import release_freed_memory
from upmarket.stage_costs import StageMeter
from upmarket.strategy import action_feedback, action_impact
from upmarket.strategy import (budget, economics, kpis, lifecycle, measurement, nba, risk,
                               roi, scorecard, tiers)
from upmarket.strategy.segments import segment_codes
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.engine_memory import BudgetedConnection
from upmarket.warehouse.run_outputs import RunOutputs
from upmarket.warehouse.runs import (Run, drop_orphans, output, output_table, previous_run,
                                     sync_views)
from upmarket.warehouse.validate import check_stored

FEATURE_TABLES = ("orders", "products", "service_tickets", "feedback", "customers", "events",
                  "marketing_spend")


class EmptyWarehouse(UpmarketError):
    pass


@dataclass(frozen=True)
class Settings:
    value: ValueSettings = ValueSettings()
    tiers: tiers.TierPolicy = tiers.TierPolicy()
    lifecycle: lifecycle.LifecycleRules = lifecycle.LifecycleRules()
    churn_horizon_days: int = 90
    premium_horizon_days: int = 180
    rfm_bins: int = 5
    clusters: int = 6
    #: products published per customer (the dashboard shows 5, `upmarket recommend` 10), and
    #: how deep (at least) each customer's list is searched for the upsell and cross-sell
    #: candidates
    recommendations_per_customer: int = 10
    recommendation_candidates: int = 20
    nba: nba.NbaSettings = nba.NbaSettings()
    budget: budget.BudgetSettings = budget.BudgetSettings()
    risk: risk.RiskSettings = risk.RiskSettings()
    measurement: measurement.MeasurementSettings = measurement.MeasurementSettings()
    holdout: holdout.HoldoutSettings = holdout.HoldoutSettings()
    impact: action_impact.ImpactSettings = action_impact.ImpactSettings()
    feedback: action_feedback.FeedbackSettings = action_feedback.FeedbackSettings()
    membership: Programme = Programme()
    #: training rows above which the churn and premium classifiers train on a stratified
    #: sample of this many (`models.training_sample`); None: always on every row
    classifier_sample_rows: int | None = training_sample.SAMPLE_ROWS


@dataclass
class Context:
    wh: Warehouse
    as_of: datetime
    run: Run
    settings: Settings = field(default_factory=Settings)
    #: Per-customer results built up stage by stage, one row per customer who has bought.
    results: pd.DataFrame | None = None
    #: Other outputs of the run (name → frame), published beside `results`.
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    #: The value model fitted at as_of (the transaction model that passed its diagnostics ×
    #: Gamma-Gamma or its fallback), for stages that score earlier dates with the same
    #: parameters.
    value_model: LifetimeValue | None = None
    #: The operational store the run reads collected events from and writes profiles, alerts
    #: and tasks to; None: the configured one (UPMARKET_DATABASE, or ./upmarket-ops.sqlite
    #: when it exists), or none at all.
    store_url: str | None = None
    #: Customer features per date, built once in the engine (scratch tables of the run in a
    #: DuckDB warehouse) and shared by the stages that need the same date (the churn windows,
    #: the premium model's windows); `run` makes it and releases it after the last stage.
    #: None: each stage builds what it needs.
    features: FeatureSnapshots | None = None
    #: The touchpoint paths by period of conversion (`strategy.budget.journey_paths`): ROI
    #: sums them over the periods, the budget's response curves read them per period; built
    #: once by `stage_roi` and let go by `stage_budget_and_risk`. None: not built (or the two
    #: read different lookbacks, and each builds its own).
    journey_paths: pd.DataFrame | None = None
    #: `strategy.kpis.base_kpis` at as_of, unrounded, from `stage_kpis`: the risk register's
    #: observed premium churn reads the same figures.
    base_kpis: dict | None = None

    def source(self, name: str):
        return self.wh.table(name)


def default_as_of(wh: Warehouse) -> datetime:
    """The day after the latest order: a run over the data as it stands, reproducibly."""
    latest = wh.table("orders").ts.max().execute()
    if latest is None or pd.isna(latest):
        raise EmptyWarehouse("err.no_orders")
    return (pd.Timestamp(latest).normalize() + timedelta(days=1)).to_pydatetime()


def snapshot(wh: Warehouse, as_of: datetime, settings: Settings, *, clv: bool = True,
             features: FeatureSnapshots | None = None, columns: tuple[str, ...] | None = None
             ) -> tuple[pd.DataFrame, LifetimeValue | None]:
    """Customer features at `as_of` plus lifetime-value predictions fitted at that date, and
    the fitted value model (None when nobody had bought yet). `features`: the run's
    materialised feature tables, to build each date once. `columns`: only these features
    (with what the value model reads, `models.value.INPUTS`) are read from the engine, for a
    caller that keeps a few columns of every customer's row."""
    read = None if columns is None else (*columns, *VALUE_INPUTS)
    if features is not None:
        frame = features.frame(as_of, unit=settings.value.unit, rfm_bins=settings.rfm_bins,
                               columns=read)
    else:
        tables = {n: wh.table(n) for n in FEATURE_TABLES}
        t = customer_features(tables, as_of, unit=settings.value.unit, rfm_bins=settings.rfm_bins)
        if read is not None:
            t = t.select(*dict.fromkeys(c for c in ("customer_id", *read) if c in t.columns))
        frame = t.order_by("customer_id").to_pandas()
    if frame.empty:
        return frame, None
    value = LifetimeValue(settings.value).fit(frame)
    # the predictions are added to the frame column by column: a concat would copy every
    # customer's whole row once more
    predicted = value.predict(frame, clv=clv).drop(columns=["margin_rate"])
    for c in predicted.columns:
        frame[c] = predicted[c]
    return frame, value


def bought_between(wh: Warehouse, start: datetime, end: datetime) -> set[str]:
    o = wh.table("orders")
    o = o.filter(o.ts >= start, o.ts < end, o.status == "paid")
    return set(o.select("customer_id").distinct().to_pandas()["customer_id"])


# -- stages --------------------------------------------------------------------------------
def stage_collected_events(ctx: Context) -> None:
    """Copy events and consents the service collected (`upmarket serve`) into the warehouse. Only when an
    operational store is configured (UPMARKET_DATABASE) or exists at its default place, so a
    run never creates an empty one."""
    from upmarket.opstore.automation import copy_tasks_to_warehouse
    from upmarket.opstore.consents import copy_consents_to_warehouse
    from upmarket.opstore.store import copy_events_to_warehouse, open_store, store_configured

    if ctx.store_url is None and not store_configured():
        return
    store = open_store(ctx.store_url)  # configured but never served: tables made, empty
    try:
        reports = copy_events_to_warehouse(store, ctx.wh)
        consent_reports = copy_consents_to_warehouse(store, ctx.wh)
        # tasks done since the last run count in this run's scorecard (automation rate,
        # response time)
        ctx.summary["copied_tasks"] = copy_tasks_to_warehouse(store, ctx.wh)
    finally:
        store.close()
    ctx.summary["collected_events"] = sum(r.accepted for r in reports if r.table == "events")
    ctx.summary["collected_customers"] = sum(r.accepted for r in reports
                                             if r.table == "customers")
    ctx.summary["collected_consents"] = sum(r.accepted for r in consent_reports)


def choose_value_model(ctx: Context) -> None:
    """Order the value model's candidates by how well each forecast the last part of this
    data's own history (`models.value_choice.choose_for_run`); the value model then uses the
    first of them whose fit on all the data passes its diagnostics."""
    comparison, why = value_choice.choose_for_run(
        ctx.source("orders"), ctx.as_of, horizon_days=round(ctx.settings.value.horizon_months * 30.4375))
    if comparison is None:
        ctx.summary["value_choice"] = {"chosen": None, "reason": why}
        return
    table = comparison.table.loc[list(comparison.ranking)]
    ctx.summary["value_choice"] = {
        "chosen": comparison.chosen,
        # every candidate degenerate on the holdout: the value model's own checks will say the
        # same of the fits on all the data and fall back to the empirical rate
        **({} if comparison.chosen else {"reason": "all_degenerate"}),
        "ranking": list(comparison.ranking),
        "calibration_end": f"{ctx.as_of - timedelta(weeks=comparison.holdout_weeks):%Y-%m-%d}",
        "holdout_weeks": round(comparison.holdout_weeks, 1), "criterion": comparison.criterion,
        "models": [{"model": name, "predicted": _round(r.get("predicted", np.nan), 1),
                    "actual": _round(r.get("actual", np.nan), 1),
                    "error": _round(r.get("error", np.nan)), "mae": _round(r.get("mae", np.nan)),
                    "degenerate": bool(r.degenerate)}
                   for name, r in table.iterrows()]}
    ctx.tables["value_model_comparison"] = comparison.table.rename_axis("model").reset_index()
    ctx.settings = dataclasses.replace(ctx.settings, value=dataclasses.replace(
        ctx.settings.value, candidates=(*comparison.ranking, "empirical")))


def stage_features_and_value(ctx: Context) -> None:
    # a stored NaN or infinity would stop a model deep inside with no row named: say which
    # table, column and keys instead, before anything is fitted
    check_stored(ctx.wh, FEATURE_TABLES)
    choose_value_model(ctx)
    ctx.results, model = snapshot(ctx.wh, ctx.as_of, ctx.settings, features=ctx.features)
    ctx.value_model = model
    if model is None:
        raise EmptyWarehouse("err.nothing_before", as_of=f"{ctx.as_of:%Y-%m-%d}")
    ctx.summary["customers"] = len(ctx.results)
    ctx.summary["net_revenue"] = float(ctx.results["net_revenue"].sum())
    ctx.summary["value_model"] = model.fit_report_.summary()
    if model.transactions_name_ == "bgnbd":
        ctx.summary["bgnbd_params"] = {k: round(v, 4) for k, v in model.transactions_.params_.items()}
    if model.spend_name_ == "gamma_gamma":
        ctx.summary["gamma_gamma_params"] = {k: round(v, 4) for k, v in model.spend_.params_.items()}
    ctx.summary["total_clv"] = float(ctx.results["clv"].sum())
    # later stages score earlier dates (the churn model's training and test windows): they use
    # the model family chosen here, so P(alive) means the same thing in every window
    ctx.settings = dataclasses.replace(ctx.settings, value=dataclasses.replace(
        ctx.settings.value, candidates=(model.transactions_name_,)))


def churn_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The columns of a customer frame the churn models read (`models.churn.INPUTS`), with
    the customer id: the rest of a feature frame (or of the run's results) is not copied."""
    return frame[[c for c in ("customer_id", *CHURN_INPUTS) if c in frame.columns]]


def churn_inputs(wh: Warehouse, frame: pd.DataFrame, when: datetime) -> pd.DataFrame:
    """The churn models' columns of a customer frame at `when` (`churn_columns`) with the
    purchase rhythm they read beside them."""
    frame = churn_columns(frame)
    if frame.empty:
        return frame
    rhythm = purchase_rhythm(wh.table("orders"), when).to_pandas().set_index("customer_id")
    # a left join that adds the rhythm's columns beside the frame's instead of copying the
    # frame into a merged one
    rhythm = rhythm.reindex(frame["customer_id"].to_numpy())
    return frame.assign(**{c: rhythm[c].to_numpy() for c in rhythm.columns})


def churn_scores(wh: Warehouse, model, frame: pd.DataFrame, when: datetime, *,
                 rows: int = training_sample.BATCH_ROWS) -> pd.DataFrame:
    """The fitted churn model's risk (`churn_risk`) and signals (`churn_signal_codes`,
    `churn_signals`, `churn_signals_zh`) for every customer of `frame` at `when`, index as
    `frame`'s. Made `rows` customers at a time: the churn inputs, the counterfactual
    predictions behind the signals and the signals' facts are bounded by the batch, not by the
    customer base; each customer's numbers depend on their own row only
    (`models.churn.risk_signals`), so the batches give what one pass over everyone gives."""
    rhythm = purchase_rhythm(wh.table("orders"), when).to_pandas().set_index("customer_id")
    risk, codes, en, zh = [], [], [], []
    for start in range(0, len(frame), rows):
        part = churn_columns(frame.iloc[start:start + rows])
        part = part.join(rhythm, on="customer_id")
        p = model.predict_proba(part)
        signals = risk_signals(model, part, risk=p)
        risk.append(p)
        codes += [",".join(c) for c in signals["codes"]]
        en += signal_words(signals, "en")
        zh += signal_words(signals, "zh-CN")
        del part, signals
    return pd.DataFrame({"churn_risk": np.concatenate(risk) if risk else np.empty(0),
                         "churn_signal_codes": codes, "churn_signals": en,
                         "churn_signals_zh": zh}, index=frame.index)


def _round(v: float, digits: int = 4) -> float | None:
    return round(float(v), digits) if np.isfinite(v) else None


def _holdout(y, score) -> dict:
    cal = evaluation.calibration(y, score)
    return {"auc": evaluation.auc(y, score), "lift": evaluation.lift_at(y, score, 0.1),
            "calibration_error": cal["calibration_error"], "brier": cal["brier"],
            "mean_predicted": cal["mean_predicted"]}


def stage_churn(ctx: Context) -> None:
    """Time-split churn models: the model (`ChurnClassifier`) and the RFM baseline
    (`RfmBaseline`) are both trained on labels from [as_of − 2H, as_of − H) and evaluated on
    [as_of − H, as_of); the one with the higher holdout AUC (the baseline on a tie: the model
    has to earn its complexity) is refitted on the latest window and applied at as_of. The
    summary reports both, and recency alone, so every run shows what the model adds."""
    h = timedelta(days=ctx.settings.churn_horizon_days)
    t_train, t_test = ctx.as_of - 2 * h, ctx.as_of - h
    # only the columns the models read are kept of each window's frame, as soon as it is
    # made: at 1,000,000 customers the whole frames were the stage's gigabyte
    train = churn_columns(snapshot(ctx.wh, t_train, ctx.settings, clv=False,
                                   features=ctx.features, columns=CHURN_INPUTS)[0])
    test = churn_columns(snapshot(ctx.wh, t_test, ctx.settings, clv=False,
                                  features=ctx.features, columns=CHURN_INPUTS)[0])
    res = ctx.results
    # hashed in Arrow (`lookups.among`): pandas' isin converts a set one string at a time
    y_train = pd.Series(~among(train["customer_id"], bought_between(ctx.wh, t_train, t_test)),
                        index=train.index) if len(train) else pd.Series(dtype=bool)
    y_test = pd.Series(~among(test["customer_id"], bought_between(ctx.wh, t_test, ctx.as_of)),
                       index=test.index) if len(test) else pd.Series(dtype=bool)
    res["churn_signal_codes"] = ""
    res["churn_signals"] = ""
    res["churn_signals_zh"] = ""
    if min(len(train), len(test)) < 50 or y_train.nunique() < 2 or y_test.nunique() < 2:
        _churn_fallback(ctx, "too little history for a time-split model")
        return
    try:
        rows = ctx.settings.classifier_sample_rows
        # the training window is only ever read through the classifiers' stratified sample:
        # that sample is drawn here, the same draw `fit` would make, and only its customers
        # get their inputs built (`fit` then finds no more rows than it may use and keeps them)
        sample = training_sample.stratified(np.asarray(y_train, int), rows).rows
        train = churn_inputs(ctx.wh, train.iloc[sample], t_train)
        y_train = y_train.iloc[sample]
        test = churn_inputs(ctx.wh, test, t_test)
        found = {}
        for name, make in (("model", ChurnClassifier), ("rfm_baseline", RfmBaseline)):
            found[name] = _holdout(y_test, make(sample_rows=rows).fit(train, y_train)
                                   .predict_proba(test))
        del train, y_train  # the training window has done its part
        chosen = "model" if found["model"]["auc"] > found["rfm_baseline"]["auc"] \
            else "rfm_baseline"
        final = (ChurnClassifier if chosen == "model" else RfmBaseline)(
            sample_rows=rows).fit(test, y_test)
        # of the test window only what the summary reads is kept while everyone is scored
        p_alive, recency, n_test = (test["p_alive"].astype(float), test["recency_days"],
                                    len(test))
        del test
        scores = churn_scores(ctx.wh, final, res, ctx.as_of)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as e:
        _churn_fallback(ctx, f"the churn models could not be fitted ({e})")
        return
    res["churn_risk"] = scores["churn_risk"]
    m, b = found["model"], found["rfm_baseline"]
    ctx.summary["churn_evaluation"] = {
        "horizon_days": ctx.settings.churn_horizon_days,
        "holdout_customers": n_test,
        "holdout_churn_rate": round(float(y_test.mean()), 4),
        "published": chosen,
        "auc": _round(m["auc"]),
        "auc_rfm_baseline": _round(b["auc"]),
        "auc_recency_baseline": _round(evaluation.auc(y_test, recency)),
        "auc_p_alive": _round(evaluation.auc(y_test[p_alive.notna()], 1 - p_alive.dropna()))
        if p_alive.notna().sum() >= 2 else None,
        "lift_top_decile": _round(m["lift"], 3),
        "lift_top_decile_rfm_baseline": _round(b["lift"], 3),
        "lift_top_decile_recency_baseline": _round(
            evaluation.lift_at(y_test, recency, 0.1), 3),
        "calibration_error": _round(m["calibration_error"]),
        "calibration_error_rfm_baseline": _round(b["calibration_error"]),
        "brier": _round(m["brier"]),
        "brier_rfm_baseline": _round(b["brier"]),
        "mean_predicted": _round(m["mean_predicted"]),
        "observed_rate": round(float(y_test.mean()), 4),
        # the published model's training rows: a stratified sample when there were more
        # than the settings allow (`models.training_sample`)
        "training_sample": {"rows": final.sample_.used, "of": final.sample_.of},
    }
    ctx.summary["churn_model"] = (
        "gradient-boosted trees on purchase rhythm and value-model features, time split"
        if chosen == "model" else
        "RFM logistic baseline, time split: the boosted model did not beat it on the holdout")
    for c in ("churn_signal_codes", "churn_signals", "churn_signals_zh"):
        res[c] = scores[c]
    res["churn_band"] = risk_band(res["churn_risk"])


def _churn_fallback(ctx: Context, why: str) -> None:
    """Without a supervised model: 1 − P(alive) where the value model gives one; where it gives
    none (a model without dropout), the Poisson chance of no purchase in the next 90 days at
    the customer's expected rate, exp(−E[purchases in 90 days]), which is still a probability."""
    res = ctx.results
    p_alive = res["p_alive"].astype(float) if "p_alive" in res else pd.Series(np.nan, index=res.index)
    no_purchase = np.exp(-res["expected_purchases_90d"].astype(float))
    res["churn_risk"] = (1.0 - p_alive).fillna(no_purchase).clip(0, 1).astype(float)
    ctx.summary["churn_model"] = ("P(alive) only" if p_alive.notna().all() else
                                  "P(alive), or the chance of no purchase at the expected rate "
                                  "where the value model gives no P(alive)") + f": {why}"
    res["churn_band"] = risk_band(res["churn_risk"])


def stage_segments(ctx: Context) -> None:
    res = ctx.results
    s = ctx.settings
    res["rfm_segment"] = segment_codes(res["r_score"], res["f_score"], res["m_score"], s.rfm_bins)
    # tiers weigh what each customer brings now (the last 12 months' margin) with what the
    # model expects them to bring (clv), so lapsing big spenders keep their service level
    trailing = trailing_margin(ctx.source("orders"), ctx.source("products"), ctx.as_of,
                               default_margin_rate=s.value.default_margin_rate
                               ).to_pandas().set_index("customer_id")
    res["trailing_revenue_12m"] = res["customer_id"].map(
        trailing["trailing_revenue_12m"]).fillna(0.0).to_numpy(float)
    res["current_value"] = res["customer_id"].map(
        trailing["trailing_margin_12m"]).fillna(0.0).to_numpy(float)
    value = tiers.tier_value(res["current_value"], res["clv"], s.tiers)
    res["tier_value"] = value
    res["tier"] = tiers.assign_tiers(value, s.tiers)
    res["distance_to_next_tier"] = tiers.distance_to_next_tier(value, res["tier"].to_numpy(),
                                                               s.tiers)
    # growth potential: value the customer could add by reaching the next tier's bar,
    # weighted by how likely they are to stay
    res["growth_potential"] = res["distance_to_next_tier"] * res["p_alive"]
    res["response_hours"] = res["tier"].map(lambda t: s.tiers.level(t).response_hours)
    res["lifecycle_stage"] = lifecycle.buyer_stage(res, s.lifecycle)
    clusters = BehaviourClusters(n_clusters=s.clusters).fit(res)
    res["cluster"] = clusters.predict(res)
    ctx.tables["clusters"] = clusters.centres_

    prev = previous_run(ctx.wh, ctx.run.run_id)
    prev_tier = prev_stage = None
    if prev is not None:
        old = output(ctx.wh, "results", prev["run_id"]).select(
            "customer_id", "tier", "lifecycle_stage").to_pandas().set_index("customer_id")
        prev_tier, prev_stage = old["tier"], old["lifecycle_stage"]
    idx = res.set_index("customer_id")
    res["tier_change"] = tiers.tier_change(
        idx["tier"], prev_tier if prev_tier is not None else pd.Series(dtype=object)).to_numpy()
    trans = lifecycle.transitions(idx["lifecycle_stage"], prev_stage)
    ctx.tables["lifecycle_transitions"] = trans.stack().rename("customers").reset_index()

    report = tiers.tier_report(res["tier"], res["net_revenue"], s.tiers, value=res["clv"])
    ctx.tables["tier_summary"] = report
    ctx.tables["lifecycle_kpis"] = lifecycle.stage_kpis(res)
    pros = prospects(ctx.source("customers"), ctx.source("events"), ctx.source("orders"),
                     ctx.as_of, lifecycle.ENGAGEMENT_EVENTS).to_pandas()
    ctx.summary["prospects"] = {
        "awareness": int((~pros["engaged"]).sum()), "evaluation": int(pros["engaged"].sum())}
    ctx.summary["tiers"] = {t: int(n) for t, n in zip(report.tier, report.customers)}
    ctx.summary["tier_value_current_weight"] = s.tiers.current_weight
    ctx.summary["tier_changes"] = res["tier_change"].value_counts().to_dict()
    diamond = float(report.loc[report.tier == "diamond", "revenue_share"].iloc[0])
    ctx.summary["diamond_revenue_share"] = round(diamond, 4)
    ctx.summary["diamond_claim_holds"] = tiers.diamond_claim_holds(report, s.tiers)


def stage_membership(ctx: Context) -> None:
    """Every member's level on the run's date by the programme's rules, told against the
    previous run's, and the points ledger with each member's statement since that run
    (`membership`); the summary shows how the public levels spread over the internal tiers."""
    programme = ctx.settings.membership
    if not programme.enabled:
        ctx.summary["membership"] = {"enabled": False}
        return
    prev = previous_run(ctx.wh, ctx.run.run_id)
    previous = start = None
    if prev is not None and ctx.wh.has_table(output_table("member_levels", prev["run_id"])):
        # read a run of members at a time, as they are evaluated
        previous = output(ctx.wh, "member_levels", prev["run_id"]).select(
            "customer_id", "level")
        start = prev["as_of"] if pd.Timestamp(prev["as_of"]) < pd.Timestamp(ctx.as_of) else None
    symbol = ((ctx.summary.get("policy") or {}).get("currency") or {}).get("symbol")
    found = evaluate_programme(ctx.wh, ctx.as_of, programme, previous_levels=previous,
                               period_start=start, symbol=symbol,
                               margin_rate=ctx.settings.value.default_margin_rate,
                               adjustments=_points_adjustments(ctx),
                               write=getattr(ctx.tables, "append", None))
    ctx.tables.update(found.tables)
    levels = found.fields.set_index("customer_id")["level"]
    member_fields(ctx.results, found.fields, ctx.as_of, programme)
    # the membership rules contact members (a welcome call, a reminder): only those who
    # consent to marketing on some channel at the run's date
    held = engagement.consents_in_force(ctx.source("consents"), ctx.as_of)
    # only the ids of those who consent come back, in Arrow: a row per customer and channel
    # in pandas cost more than the rest of the stage's results
    held = held.filter(held.granted).select("customer_id").distinct().to_pyarrow()
    ctx.results["marketing_consent"] = among(ctx.results["customer_id"],
                                             held["customer_id"].combine_chunks())
    tier = ctx.results.set_index("customer_id")["tier"]
    both = pd.crosstab(levels.reindex(tier.index), tier)
    found.summary["by_tier"] = {lv: {t: int(both.at[lv, t]) for t in both.columns}
                                for lv in programme.codes if lv in both.index}
    ctx.summary["membership"] = found.summary


def _points_adjustments(ctx: Context) -> pd.DataFrame | None:
    """The points adjustments made through the service (`opstore.points`), when an
    operational store is configured or exists at its default place."""
    from upmarket.opstore.points import adjustments
    from upmarket.opstore.store import open_store, store_configured

    if ctx.store_url is None and not store_configured():
        return None
    store = open_store(ctx.store_url)
    try:
        return adjustments(store)
    finally:
        store.close()


def stage_kpis(ctx: Context) -> None:
    found = kpis.base_kpis(ctx.source("orders"), ctx.as_of)
    ctx.base_kpis = dict(found)
    found["diamond_revenue_share"] = ctx.summary.get("diamond_revenue_share", np.nan)
    ctx.summary["kpis"] = {k: round(v, 4) for k, v in found.items()}
    ctx.summary["benchmarks"] = kpis.BENCHMARKS
    retention = found.get("yearly_retention", 0.0)
    years = max(float(ctx.results["tenure_days"].max()) / 365.25, 1 / 12)
    # the one CLV figure every view shows (run summary, report, dashboard) …
    ctx.summary["clv"] = {k: (round(v, 2) if isinstance(v, float) else v)
                          for k, v in economics.model_clv(ctx.results).items()}
    # … and the textbook formula, shown only beside it for comparison
    ctx.summary["textbook_cltv"] = {
        k: round(v, 4) for k, v in economics.textbook_cltv(ctx.results, retention, years).items()}


def stage_roi(ctx: Context) -> None:
    """Short-term ROI per channel (Markov-attributed profit against fully-loaded spend) and per
    campaign, with the long-term effect of recent campaigns on their customers' CLV."""
    paths = None
    b = ctx.settings.budget
    if b.lookback_days == roi.LOOKBACK_DAYS:
        # the budget's curves read the same journeys per period: one pass over the events
        ctx.journey_paths = budget.journey_paths(ctx.wh, ctx.as_of, b.freq, b.lookback_days)
        paths = roi.path_table(ctx.journey_paths)
    tables, summary = roi.roi_tables(ctx.wh, ctx.as_of, ctx.value_model, ctx.results,
                                     unit=ctx.settings.value.unit, paths=paths)
    ctx.tables.update(tables)
    ctx.summary["roi"] = summary


def stage_premium(ctx: Context) -> None:
    """Premium ladder, upgrade paths, penetration and premium-purchase propensity (the upward-marketing guide's
    upward marketing); needs a catalogue with categories to know what 'premium' is."""
    tables = {n: ctx.wh.table(n) for n in FEATURE_TABLES}
    p = tables["products"]
    if int(p.filter(p.category.notnull()).count().execute()) == 0:
        ctx.summary["premium"] = "no product categories ingested: premium ladder not computed"
        return
    h = ctx.settings.premium_horizon_days
    orders = tables["orders"]
    # every question below reads the ladder: built once in the engine, not once per query
    ladder = premium.price_ladder(p, orders).cache()
    try:
        _premium_with(ctx, tables, orders, ladder, h)
    finally:
        ladder.release()


def _premium_with(ctx: Context, tables: dict, orders, ladder, h: int) -> None:
    """`stage_premium` with the price ladder built (`ladder`, held in the engine)."""
    # the live model and its back-test share dates: each date's inputs are built once, in the
    # engine, and come over in batches or as the training sample
    snapshot = propensity.Snapshots(tables, horizon_days=h, ladder=ladder,
                                    customers=ctx.features.table if ctx.features else None)
    try:
        _premium_scores(ctx, tables, snapshot, h)
    finally:
        snapshot.release()
    overall = premium.penetration_overall(orders, ladder, ctx.as_of).to_pandas().iloc[0]
    ctx.summary["premium_penetration"] = round(float(overall["penetration"]), 4)
    ctx.tables["price_ladder"] = ladder.to_pandas()
    ctx.tables["upgrade_paths"] = upgrade_paths_in_engine(
        premium.tiered_lines(orders, ladder, ctx.as_of), by_category=True)


def _premium_scores(ctx: Context, tables: dict, snapshot, h: int) -> None:
    """The propensity scores at as_of and the model's back-test, from the inputs per date in
    `snapshot` (`models.propensity.Snapshots`)."""
    rows = ctx.settings.classifier_sample_rows
    try:
        _, now, trained = propensity.fit_at(tables, ctx.as_of, horizon_days=h, snapshot=snapshot,
                                            sample_rows=rows)
    except propensity.NoTrainingWindow as exc:
        # short or odd histories have no window to learn from: no scores, and the run says so
        ctx.summary["premium_model"] = {"status": "skipped", "reason": exc.code, "message": str(exc)}
    else:
        # the model answers "will they buy premium for the first time"; for those who already
        # do, that question has no meaning, so they get no score rather than a misleading one
        if "bought_premium" in now:
            now.loc[now["bought_premium"] == 1, "premium_propensity"] = np.nan
        cols = ["customer_id", "premium_propensity", "peer_upgrade_rate", "current_tier",
                "main_category", "months_since_last"]
        scored = now[[c for c in cols if c in now]].set_index("customer_id")
        for col in scored.columns:
            ctx.results[col] = ctx.results["customer_id"].map(scored[col])
        try:
            ctx.summary["premium_evaluation"] = {
                k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in propensity.backtest(tables, ctx.as_of, horizon_days=h,
                                                snapshot=snapshot,
                                                sample_rows=rows).items()}
            ctx.summary["premium_model"] = {"status": "evaluated"}
        except propensity.NoTrainingWindow as exc:
            ctx.summary["premium_model"] = {"status": "not_evaluated", "reason": exc.code,
                                            "message": str(exc)}
        # the published scores come from the model fitted on the latest window: say what it
        # trained on when that was a sample of the customers
        ctx.summary["premium_model"]["training_sample"] = {
            "rows": trained["train_sample"], "of": trained["train_customers"]}


def stage_acquisition(ctx: Context) -> None:
    """Fully-loaded CAC per channel and cohort, CLV/CAC per channel (the key-account strategy course's > 3 rule)."""
    new = acquisition.new_customers(ctx.source("customers"), ctx.source("orders"), ctx.as_of)
    spend = acquisition.spend(ctx.source("marketing_spend"), ctx.as_of).to_pandas()
    if spend.empty:
        ctx.summary["acquisition"] = "no marketing spend ingested: CAC and CLV/CAC not computed"
        return
    cohorts = economics.cac_by_cohort(new.to_pandas(), spend)
    c = ctx.source("customers").select("customer_id", "acquisition_channel").to_pandas()
    per = economics.channel_economics(
        cohorts, ctx.results, c.set_index("customer_id")["acquisition_channel"],
        ctx.summary["kpis"].get("yearly_retention", 0.0))
    ctx.tables["cac_by_cohort"] = cohorts
    ctx.tables["channel_economics"] = per
    ctx.summary["clv_to_cac"] = {r.channel: round(float(r.clv_to_cac), 2)
                                 for r in per.itertuples() if np.isfinite(r.clv_to_cac)}


def _give_back_memory(ctx: Context) -> None:
    """Let go of the file blocks the engine cached while a query read them, and of the
    buffers freed since: between stages, and within a stage after what it reads once (the
    order history, the engagement inputs), which would otherwise stay resident under the
    models fitted and the frames made after it."""
    engine = getattr(ctx.wh.backend, "con", None)
    if isinstance(engine, BudgetedConnection):
        engine.drop_cached_pages()
    release_freed_memory()


def stage_actions(ctx: Context) -> None:
    """Recommendations (hybrid recommender), bundles (association rules) and one next best
    action per customer, consent-checked, with channel, send hour and reason."""
    orders, products = ctx.source("orders"), ctx.source("products")
    # as integer codes, read a batch at a time: as strings the lines were the largest part of
    # this stage's memory at a million customers (models.purchase_codes)
    lines = PurchaseCodes.from_table(purchases_until(orders, ctx.as_of).select(
        "customer_id", "order_id", "sku", "ts"))
    _give_back_memory(ctx)
    catalogue = products.to_pandas()
    ladder_expr = premium.price_ladder(products, orders)
    ladder = ladder_expr.to_pandas()
    tiered = catalogue.drop(columns=["price_tier", "category", "price"], errors="ignore").merge(
        ladder[["sku", "category", "price_tier", "price", "tier_rank"]], on="sku", how="right")
    res = ctx.results
    try:
        model = TunedHybrid().fit(lines, tiered)
    except NoPurchases:
        ctx.summary["actions"] = "no product purchases: no recommendations or actions"
        return
    # everything that reads the purchase lines comes first, so they can go before the
    # customers' lists are made: at a million customers they are millions of rows
    bestsellers = nba.premium_bestsellers(tiered, lines)
    rules = association_rules(lines)
    bundles = best_bundles(lines, rules)
    del lines
    reached = premium.tier_reached(orders, ladder_expr, ctx.as_of).to_pandas()
    _give_back_memory(ctx)
    # the lists published (ten per customer) are written batch by batch as they are made,
    # never held whole: at a million customers they are ten million rows
    picker = nba.CandidatePicker(ladder, reached, nba.main_categories(res), bestsellers,
                                 keep=ctx.settings.recommendations_per_customer)
    kept = map(picker.take, model.recommend_batches(res["customer_id"], n=max(
        ctx.settings.recommendation_candidates, ctx.settings.recommendations_per_customer)))
    kept = (k for k in kept if k is not None)
    if isinstance(ctx.tables, RunOutputs):
        ctx.tables.write_parts("recommendations", kept, nba.RECOMMENDATIONS_COLUMNS)
    else:  # a context of plain frames (stages run one by one) holds them whole
        kept = list(kept)
        ctx.tables["recommendations"] = pd.concat(kept, ignore_index=True) if kept else \
            pd.DataFrame(columns=nba.RECOMMENDATIONS_COLUMNS)
    upsell, cross = picker.candidates()
    weights = {**{k: float(v) for k, v in model.weights.items()},
               "validation_hit_rate": round(float(model.tuning_["hit_rate"].iloc[0]), 4),
               "als_iterations": model.als_iterations_ if model.als else 0} \
        if len(model.tuning_) else None
    # the fitted matrices are not needed for the actions
    del model, reached, picker

    # what earlier runs' control groups measured, and what the next best action learns from it
    impact = action_impact.measure(ctx.wh, ctx.as_of, ctx.settings.impact)
    past = action_impact.decisions(ctx.wh)
    learned, used = action_feedback.learn(impact, past, ctx.settings.nba, ctx.settings.feedback)
    ctx.tables["action_impact"] = impact
    ctx.tables["nba_learned"] = used
    ctx.summary["nba_learned"] = {
        r["action"]: {"response_scale": round(r["response_scale"], 4),
                      "value_scale": round(r["value_scale"], 4), "status": r["status"]}
        for r in used.to_dict("records")}
    events, as_of = ctx.source("events"), ctx.as_of
    # only what the next best action reads: the granted consents (a withdrawn one counts as
    # none) and no timestamps, so the engine hands over a few columns of the rows that matter
    consents = engagement.consents_in_force(ctx.source("consents"), as_of)
    inputs = dict(
        consents=consents.filter(consents.granted).select(
            "customer_id", "channel", "granted").to_pandas(),
        responses=engagement.channel_responses(events, as_of).select(
            "customer_id", "channel", "responses").to_pandas(),
        hours=engagement.active_hour(events, as_of).select(
            "customer_id", "active_hour").to_pandas(),
        contacts=engagement.recent_contacts(events, as_of).to_pandas())
    # the events and consents read are on disk: their cached pages, and what the reads left
    # freed, go back before the actions are made, as between stages
    _give_back_memory(ctx)
    actions = nba.next_best_actions(
        res, products=tiered, upsell=upsell, cross_sell=cross, bundles=bundles, **inputs,
        policy=ctx.settings.tiers, settings=dataclasses.replace(
            learned, point_value=ctx.settings.membership.redemption_value
            if ctx.settings.membership.enabled else None),
        premium_horizon_days=ctx.settings.premium_horizon_days)
    del inputs
    # what the batches of actions freed goes back before the control groups are drawn
    _give_back_memory(ctx)
    # an action still exploring, or measuring short of its target, holds out more of its new
    # customers, as the simulated cycles do; everyone already decided keeps the group of
    # their first decision
    actions, decided = holdout.hold_out_exploring(
        actions, holdout.salt(ctx.wh), ctx.settings.holdout, used, past,
        min_held_out=ctx.settings.feedback.min_held_out,
        explore_share=ctx.settings.feedback.explore_share, copy=False)
    _give_back_memory(ctx)
    holdout.record(ctx.wh, decided, run_id=ctx.run.run_id, decided=ctx.as_of)
    ctx.summary["action_holdout"] = {
        a: {"treated": int((~g["held_out"]).sum()), "held_out": int(g["held_out"].sum())}
        for a, g in decided.groupby("action")}
    # the columns' own arrays: as Python objects they would be a string per customer
    res["next_best_action"] = actions["action"].array
    res["action_reason"] = actions["reason_en"].array
    if weights is not None:
        ctx.summary["recommender_weights"] = weights
    ctx.tables["basket_rules"] = rules
    ctx.tables["actions"] = actions
    counts = actions["action"].value_counts()
    ctx.summary["actions"] = {a: int(counts.get(a, 0)) for a in nba.ACTIONS}
    ctx.summary["actions_expected_value"] = round(float(actions["expected_value"].sum()), 2)
    ctx.summary["basket_rules"] = len(rules)


def stage_budget_and_risk(ctx: Context) -> None:
    """Budget plan vs actual and elastic reallocation (the marketing-plan framework); the risk register (the upward-marketing guide,
    001, 003): concentration, credit, operations, reputation, premium churn, KPI anomalies."""
    paths, ctx.journey_paths = ctx.journey_paths, None
    tables, summary = budget.budget_tables(ctx.wh, ctx.as_of, settings=ctx.settings.budget,
                                           paths=paths)
    ctx.tables.update(tables)
    ctx.summary["budget"] = summary
    settings = dataclasses.replace(ctx.settings.risk, tiers=ctx.settings.tiers)
    tables, summary = risk.risk_tables(ctx.wh, ctx.as_of, ctx.results, settings,
                                       base_kpis=ctx.base_kpis)
    ctx.tables.update(tables)
    ctx.summary["risk"] = summary


def stage_measurement(ctx: Context) -> None:
    """A/B tests per campaign arm, acquisition cohorts, the exposure → purchase funnel,
    promotion lift and cannibalisation, discount dependency per customer and segment."""
    res = ctx.results.set_index("customer_id")
    segments = res[[c for c in ("tier", "rfm_segment") if c in res]]
    found = measurement.analysis_tables(ctx.wh, ctx.as_of, ctx.settings.measurement,
                                        segments=segments)
    ctx.tables.update(found.tables)
    ctx.summary["measurement"] = found.summary


def stage_scorecard(ctx: Context) -> None:
    """The upward-marketing guide's effect index for the default quarter of the data's as-of
    (`scorecard.default_period`) against the quarter before.

    It reads the tasks of earlier runs and checks (copied from the store by
    `stage_collected_events`); the tasks this run raises after publishing are placed at its
    as-of, the exclusive end of the period scored, so they belong to the next period
    (`scorecard._data_moment`) and a later reading of this one gives the same figures."""
    tables, summary = scorecard.scorecard_tables(ctx.wh, ctx.as_of, ctx.results)
    ctx.tables.update(tables)
    ctx.summary.update(summary)


STAGES: list[tuple[str, Callable[[Context], None]]] = [
    ("collected events", stage_collected_events),
    ("features and lifetime value", stage_features_and_value),
    ("churn early warning", stage_churn),
    ("segments, tiers and lifecycle", stage_segments),
    ("membership levels and points", stage_membership),
    ("customer-base KPIs", stage_kpis),
    ("acquisition economics", stage_acquisition),
    ("ROI per channel and campaign", stage_roi),
    ("premium ladder and propensity", stage_premium),
    ("recommendations and next best actions", stage_actions),
    ("budget and risk register", stage_budget_and_risk),
    ("experiments, cohorts, funnels and promotions", stage_measurement),
    ("effect-index scorecard", stage_scorecard),
]


def run(
    wh: Warehouse,
    as_of: datetime | None = None,
    *,
    settings: Settings | None = None,
    on_stage: Callable[[str, int, int], None] | None = None,
    store_url: str | None = None,
    policy=None,
    rules=None,
) -> Context:
    """Run every stage for `as_of` (default: the day after the latest order) and publish;
    then snapshot the profiles and check the automation rules in the operational store at
    `store_url` (default: the configured one, if any).

    `policy` is the business policy in force (`upmarket.policy.LoadedPolicy`, as `upmarket
    run` loads it); the run takes its settings from it unless `settings` are given, and
    records it (content and digest) in its `runs` row. Without either, the defaults.
    `rules` are the automation rules checked after it (default: `activation.rules.load_rules`)."""
    as_of = as_of or default_as_of(wh)
    if policy is None and settings is None:
        from upmarket.policy import LoadedPolicy, Policy  # the policy's schema imports Settings

        policy = LoadedPolicy(Policy(), None)
    if settings is None:
        settings = policy.policy.settings()
    config = policy.record() if policy is not None else {"settings": repr(settings)}
    this_run = Run(wh, as_of, config)
    ctx = Context(wh, as_of, this_run, settings, store_url=store_url,
                  features=FeatureSnapshots({n: wh.table(n) for n in FEATURE_TABLES},
                                            warehouse=wh, run_id=this_run.run_id))
    # each stage's outputs are written when it ends, not held to the run's end (run_outputs)
    ctx.tables = RunOutputs(ctx.run)
    if policy is not None:
        ctx.summary["policy"] = {
            "source": str(policy.source) if policy.source else None,
            "config_hash": ctx.run.config_hash,
            "currency": policy.policy.currency.model_dump(), "language": policy.policy.language}
    # an earlier run killed mid-way may have left output tables, Spark views of another
    # session, or the store's snapshot pointer one run behind the warehouse: repair first
    orphans = drop_orphans(wh, keep=ctx.run.run_id)
    if not wh.is_duckdb:
        sync_views(wh)
    serve_run_profiles(wh, url=store_url)
    staged = None
    meter = StageMeter()
    engine = getattr(ctx.wh.backend, "con", None)
    engine = engine if isinstance(engine, BudgetedConnection) else None
    try:
        for i, (name, stage) in enumerate(STAGES):
            if on_stage:
                on_stage(name, i, len(STAGES))
            with meter.stage(name):
                stage(ctx)
                ctx.tables.write_held()
                # frames a stage dropped can sit in reference cycles (tracebacks, closures)
                # until a full collection: let them go before the next stage allocates, and
                # give the freed pages back (and the engine its cached file pages), so the
                # next stage does not start from the size of everything read so far
                gc.collect()
                _give_back_memory(ctx)
        ctx.summary["feature_snapshots"] = {"built": ctx.features.built,
                                            "requested": sum(ctx.features.requests.values())}
        # the last reader is done: the feature tables go before anything is published, so
        # a run killed from here on leaves none of them behind a published run
        ctx.features.release()
        with meter.stage("writing outputs"):
            ctx.run.write("results", ctx.results)
            ctx.tables.write_held()
        # recorded with the run (runs.counts), so its cost can be compared with later runs'
        ctx.summary["stages"] = meter.as_list()
        if engine is not None:
            # what the engine was held to, and how many statements had to go past it
            ctx.summary["engine_memory"] = {"limit": engine.budget,
                                            "statements_over": engine.lifted}
        # the service reads the warehouse read-only and pseudonymises ids for keys that may
        # not export: the key must exist once anything has been published
        pseudonym_key(ctx.wh, store_url=ctx.store_url)
        # the store's snapshot of this run is complete before the warehouse publishes it, so
        # the switch after the commit is a pointer update that cannot find it missing
        staged = stage_run_profiles(ctx.wh, {"run_id": ctx.run.run_id, "as_of": as_of},
                                    url=store_url)
        ctx.run.publish(ctx.summary)
    except BaseException as exc:
        ctx.run.fail(f"{type(exc).__name__}: {exc}")
        if staged is not None:
            # the run's own error is the one to report; a leftover snapshot is pruned later
            with contextlib.suppress(Exception):
                discard_run_profiles(ctx.run.run_id, url=store_url)
        raise
    finally:
        ctx.features.release()
    # outside the try: the run is already published, a failure here must not unpublish it
    # (a store left behind is realigned by whoever opens it next, see opstore.store)
    serve_run_profiles(wh, url=store_url)
    # this run's publication makes any older unpublished run's tables orphans
    orphans += drop_orphans(wh, keep=ctx.run.run_id)
    ctx.summary["orphans_dropped"] = len(orphans)
    automation = run_automation(ctx.wh, ctx.run.run_id, url=store_url, rules=rules,
                                holdout_settings=ctx.settings.holdout)
    if automation is not None:
        ctx.summary["automation"] = automation.summary()
    return ctx
