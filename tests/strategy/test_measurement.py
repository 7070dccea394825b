"""The measurement tables a run publishes (`strategy.measurement.analysis_tables`)."""

from __future__ import annotations

import pandas as pd
import pytest

from upmarket.demo.world import WorldConfig, generate_world
from upmarket.features.experiments import experiment_arms
from upmarket.models.experiments import ABTest
from upmarket.strategy.measurement import MeasurementSettings, analysis_tables
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import Run, output
from upmarket.warehouse.schema import SYSTEM_TABLES, TABLES

CFG = WorldConfig(customers=150, seed=21)


@pytest.fixture
def world(wh):
    for name, frame in generate_world(CFG):
        if name in ("events", "orders", "campaigns", "products", "promotions"):
            ingest(name, frame, warehouse=wh)
    return wh


def test_tables_summary_and_publishing(world):
    as_of = CFG.as_of
    tiers = pd.Series({"C000001": "diamond", "C000002": "core"}, name="tier")
    tables, summary = analysis_tables(world, as_of, MeasurementSettings(), segments=tiers)
    assert set(tables) == {"experiments", "experiment_srm", "cohorts", "funnels",
                           "promotion_effects", "discount_dependency",
                           "discount_dependency_by_segment"}
    # published outputs become views under their names: none may shadow an input table
    assert not set(tables) & (set(TABLES) | set(SYSTEM_TABLES))
    # the experiments table is the model run on the feature, nothing more
    arms = experiment_arms(world.table("events"), world.table("orders"), as_of, 30).to_pandas()
    ref = ABTest().fit(arms, world.table("campaigns").to_pandas()).results_
    pd.testing.assert_frame_equal(tables["experiments"].reset_index(drop=True), ref)
    assert summary["experiments"]["comparisons"] == len(ref)
    assert sum(summary["experiments"][v] for v in ("uplift", "drop", "no_difference",
                                                    "inconclusive", "srm", "no_data")) == len(ref)
    dd = tables["discount_dependency"]
    assert summary["discount_dependency"]["promo_share_of_spend"] == pytest.approx(
        dd.promo_spend.sum() / dd.spend.sum(), abs=1e-4)
    seg = tables["discount_dependency_by_segment"]
    assert seg.customers.sum() == len(dd) and "(none)" in set(seg.segment)

    run = Run(world, as_of)
    for name, frame in tables.items():
        run.write(name, frame)
    run.publish(summary)
    assert output(world, "promotion_effects").count().execute() == len(
        tables["promotion_effects"])
    # the input table is still the input table
    assert "cost_per_use" in world.table("promotions").columns
    assert "lift" not in world.table("promotions").columns
