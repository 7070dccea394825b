"""The business-side measurement of a run (DESIGN §4 Measurement; the marketing-plan framework, the key-account strategy course and the back-to-basics marketing course): A/B
tests of campaign arms, monthly cohorts, the exposure → purchase funnel per channel, promotion
lift and ROI, and discount dependency — the tables a run publishes beside the per-customer
results, and a short summary of each.

Thin on purpose: the features compute, the models test, `strategy.promotions` judges; this
module only materialises the Ibis expressions (the pipeline boundary) and wires them together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import numpy as np
import pandas as pd

from upmarket.features.cohorts import cohort_table
from upmarket.features.experiments import experiment_arms, experiment_users
from upmarket.features.funnels import ALL_CHANNELS, funnel_of_users, funnel_users
from upmarket.features.promotions import daily_sales, discount_spend, promotion_usage
from upmarket.models.experiments import VERDICTS, ABTest
from upmarket.strategy.promotions import (
    PromotionSettings,
    dependency_by_segment,
    discount_dependency,
    promotion_effects,
)
from upmarket.warehouse.connection import Warehouse


@dataclass(frozen=True)
class MeasurementSettings:
    #: Days after a person's first exposure in which a purchase counts as a conversion.
    experiment_window_days: int = 30
    alpha: float = 0.05
    power: float = 0.8
    #: Minimum detectable effect: relative uplift of the control's conversion rate.
    mde: float = 0.10
    #: Bootstrap replicates for revenue per user (0 = Welch only).
    bootstrap: int = 0
    seed: int = 0
    #: Always-valid (mixture SPRT) p-values and intervals, so live tests can be read at any
    #: time; False gives the fixed-horizon tests, valid only at a single planned look.
    sequential: bool = True
    #: Control over the comparisons read together: bh (Benjamini–Hochberg, the share of false
    #: discoveries among the arms called — the usual choice for a portfolio of campaigns, and
    #: the one Johari et al. 2017 §5 pair with always-valid p-values), holm (the chance of any
    #: false call) or none.
    multiplicity: str = "bh"
    funnel_window_days: int = 90
    promotions: PromotionSettings = field(default_factory=PromotionSettings)


class Analysis(NamedTuple):
    """`tables`: name → frame to publish; `summary`: JSON-ready figures for the run record."""

    tables: dict[str, pd.DataFrame]
    summary: dict


def experiments(wh: Warehouse, as_of: datetime, settings: MeasurementSettings,
                campaign: str | None = None) -> ABTest:
    """The fitted A/B test of every campaign (or one) with arms in the events."""
    events, orders = wh.table("events"), wh.table("orders")
    # filter after stitching: identities come from all events, not only the campaign's
    arms = experiment_arms(events, orders, as_of, settings.experiment_window_days)
    camps = wh.table("campaigns").select("campaign_id", "name", "arms")
    if campaign is not None:
        arms = arms.filter(arms.campaign_id == campaign)
        camps = camps.filter(camps.campaign_id == campaign)
    users = None
    if settings.bootstrap:
        users = experiment_users(events, orders, as_of, settings.experiment_window_days)
        if campaign is not None:
            users = users.filter(users.campaign_id == campaign)
        users = users.select("campaign_id", "arm", "revenue").to_pandas()
    arms, camps = arms.to_pandas(), camps.to_pandas()
    return _abtest(settings).fit(arms, camps, users)


def _abtest(settings: MeasurementSettings, control: str | None = None) -> ABTest:
    return ABTest(alpha=settings.alpha, power=settings.power, mde=settings.mde,
                  bootstrap=settings.bootstrap, seed=settings.seed, control=control,
                  sequential=settings.sequential, multiplicity=settings.multiplicity)


def experiments_from_log(log: pd.DataFrame, control: str, settings: MeasurementSettings,
                         until: datetime | None = None, split: dict | None = None
                         ) -> tuple[ABTest, dict]:
    """(fitted test, CUPED θ per experiment) of experiments run elsewhere, from the typed
    per-user rows of :func:`upmarket.features.experiment_log.parse_log`, as they stood at
    `until`. Every experiment must have the `control` arm; `split` (arm → planned share) is
    the plan of the sample-ratio check, equal arms without it."""
    from upmarket.features.experiment_log import BadExperimentLog, arms_table
    from upmarket.models.experiments import BadExperiment

    if settings.bootstrap:
        raise BadExperiment("the bootstrap is for campaigns in the warehouse; a file's "
                            "revenue is judged by Welch's test")
    arms, thetas = arms_table(log, until)
    without = sorted(set(arms["campaign_id"]) - set(arms.loc[arms["arm"] == control,
                                                              "campaign_id"]))
    if without:
        raise BadExperimentLog("err.log.no_control", control=control,
                               experiments=", ".join(without[:10]),
                               arms=", ".join(sorted(set(arms["arm"]))))
    plans = None
    if split:
        import json

        plans = pd.DataFrame({"campaign_id": sorted(set(arms["campaign_id"])),
                              "arms": json.dumps(split)})
    return _abtest(settings, control).fit(arms, plans), thetas


def promotions(wh: Warehouse, as_of: datetime, settings: MeasurementSettings
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(promotion effects, per-customer discount dependency)."""
    orders = wh.table("orders")
    daily = daily_sales(orders, wh.table("products"), as_of).to_pandas()
    usage = promotion_usage(orders, as_of).to_pandas()
    effects = promotion_effects(wh.table("promotions").to_pandas(), daily, usage, as_of,
                                settings.promotions)
    dependency = discount_dependency(discount_spend(orders, as_of).to_pandas(),
                                     settings.promotions)
    return effects, dependency


def analysis_tables(wh: Warehouse, as_of: datetime,
                    settings: MeasurementSettings = MeasurementSettings(),
                    segments: pd.Series | pd.DataFrame | None = None) -> Analysis:
    """Every measurement table at `as_of`: `experiments` (campaign arm vs control),
    `experiment_srm` (sample-ratio check per campaign), `cohorts`, `funnels`,
    `promotion_effects`, `discount_dependency` (per customer) and, when `segments` maps
    customer ids to segments (a Series, or a frame with one column per segmentation),
    `discount_dependency_by_segment`. (`promotion_effects`, not `promotions`: a run's outputs
    are published as views under their names, and `promotions` is an input table.)"""
    ab = experiments(wh, as_of, settings)
    cohorts = cohort_table(wh.table("orders"), as_of).to_pandas()
    # the funnel counts its people per channel and over all channels: built once, not twice
    users = funnel_users(wh.table("events"), wh.table("orders"), as_of,
                         settings.funnel_window_days).cache()
    try:
        funnels = funnel_of_users(users).to_pandas()
    finally:
        users.release()
    effects, dependency = promotions(wh, as_of, settings)
    tables = {"experiments": ab.results_, "experiment_srm": ab.srm_, "cohorts": cohorts,
              "funnels": funnels, "promotion_effects": effects,
              "discount_dependency": dependency}
    if segments is not None:
        tables["discount_dependency_by_segment"] = dependency_by_segment(dependency, segments)
    return Analysis(tables, summarise(tables))


def _num(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def summarise(tables: dict[str, pd.DataFrame]) -> dict:
    """The headline of each table, for the run record and the CLI."""
    out: dict = {}
    ex = tables.get("experiments")
    if ex is not None:
        counts = ex["verdict"].value_counts()
        out["experiments"] = {
            "campaigns": int(ex["campaign_id"].nunique()), "comparisons": len(ex),
            **{v: int(counts.get(v, 0)) for v in VERDICTS}}
    co = tables.get("cohorts")
    if co is not None and len(co):
        m1 = co[co["months_since"] == 1]
        # month-1 retention over cohorts, weighted by cohort size
        out["cohorts"] = {
            "cohorts": int(co["cohort"].nunique()),
            "month1_retention": _num(np.average(m1["retention_rate"], weights=m1["cohort_size"])
                                     if len(m1) else None)}
    fu = tables.get("funnels")
    if fu is not None and len(fu):
        total = fu[fu["channel"] == ALL_CHANNELS]
        if len(total):
            t = total.iloc[0]
            out["funnel"] = {"exposed": int(t["exposed"]), "purchased": int(t["purchased"]),
                             "overall_rate": _num(t["overall_rate"])}
    pr = tables.get("promotion_effects")
    if pr is not None and len(pr):
        m = pr[pr["status"] == "measured"]
        out["promotions"] = {
            "promotions": len(pr), "measured": len(m),
            "median_lift_rate": _num(m["lift_rate"].median() if len(m) else None),
            "cost": _num(pr["cost"].sum(min_count=1)),
            "positive_roi": int((m["roi"] > 0).sum())}
    dd = tables.get("discount_dependency")
    if dd is not None and len(dd):
        spend = dd["spend"].sum()
        out["discount_dependency"] = {
            "promo_share_of_spend": _num(dd["promo_spend"].sum() / spend if spend > 0 else None),
            "dependent_customers_share": _num(dd["dependent"].mean())}
    return out
