"""The feature layer gives the same answers on PySpark as on DuckDB (DESIGN §2, engine choice).

Two order sets go into both warehouses: the CDNOW sample (ingested into each backend through
`ingest`, so ingestion itself runs on Spark) and a small synthetic world with products,
cancellations, returns, promotions, service tickets and NPS answers (ingested into DuckDB and
copied to Spark through `Warehouse.insert`). Every feature is then computed on both and the
frames compared row by row.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from urllib.parse import quote

import pandas as pd
import pyarrow.parquet as pq
import pytest
from shared_data import shared

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("PySpark needs a Java runtime (java 17)", allow_module_level=True)

from upmarket.demo import WorldConfig, generate_world  # noqa: E402
from upmarket.features.btyd import btyd_summary  # noqa: E402
from upmarket.features import engagement  # noqa: E402
from upmarket.features.customer import customer_features  # noqa: E402
from upmarket.features.premium import premium_features, price_ladder  # noqa: E402
from upmarket.features.rfm import rfm_scores  # noqa: E402
from upmarket.warehouse import connect  # noqa: E402
from upmarket.warehouse.connection import conform  # noqa: E402
from upmarket.warehouse.ingest import ingest  # noqa: E402
from upmarket.warehouse.schema import TABLES  # noqa: E402

# PySpark 4.0 still passes pandas' deprecated `copy=` keyword when it converts results
pytestmark = pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")

FEATURE_TABLES = ("orders", "products", "service_tickets", "feedback", "events", "consents")
WORLD = WorldConfig(customers=300, seed=11)
#: (as_of, holdout_end) per order set: CDNOW's classic 39-week calibration, and the world's last
#: half year held out.
CASES = {
    "cdnow": (datetime(1997, 10, 1), datetime(1998, 7, 1)),
    "world": (datetime(2025, 7, 1), datetime(2026, 1, 1)),
}
SPARK_SETTINGS = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # the JVM is shared with the whole-pipeline test when both run in one process, and whichever
    # starts it sets its options: the same as that test's (tests/test_pipeline_spark.py)
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=512m",
}


def _world_rows(wh, name: str):
    """The synthetic world's rows (its customer ids start with C; CDNOW's are numbers)."""
    t = wh.table(name)
    # products and events come only from the world (events may be anonymous: no customer id)
    return t if name in ("products", "events") else t.filter(t.customer_id.startswith("C"))


@pytest.fixture(scope="module")
def cdnow_path():
    return shared("cdnow/CDNOW_sample.txt")


@pytest.fixture(scope="module")
def duck(cdnow_path):
    wh = connect("duckdb://")
    ingest("orders", cdnow_path, preset="cdnow", warehouse=wh)
    for name, frame in generate_world(WORLD):
        if name in FEATURE_TABLES:
            ingest(name, frame, warehouse=wh, source="demo world")
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def spark(duck, cdnow_path, tmp_path_factory):
    """A local two-core Spark warehouse in a temporary directory: CDNOW ingested on Spark, the
    synthetic world copied from DuckDB."""
    where = tmp_path_factory.mktemp("spark-warehouse")
    _leave_files_of_an_earlier_session(where)
    query = "&".join(f"{k}={quote(v)}" for k, v in
                     {**SPARK_SETTINGS, "spark.sql.warehouse.dir": str(where)}.items())
    wh = connect(f"pyspark://local[2]?{query}")
    wh.backend._session.sparkContext.setLogLevel("ERROR")
    report = ingest("orders", cdnow_path, preset="cdnow", warehouse=wh)
    assert report.reconciles and report.accepted == 6_919
    for name in FEATURE_TABLES:
        wh.insert(name, _world_rows(duck, name).to_pyarrow())
    yield wh
    wh.close()


def _leave_files_of_an_earlier_session(where) -> None:
    """What a finished Spark session leaves: table directories its in-memory catalog forgot,
    and the staging directory of an interrupted ingestion."""
    survey = pd.DataFrame({"period": ["2024Q1"], "metric": ["awareness"], "value": [0.4]})
    for name in ("brand_survey", "_staging_orders_0123456789ab"):
        (where / name).mkdir()
        pq.write_table(conform(survey, TABLES["brand_survey"]), where / name / "part-0.parquet")


def _frame(expr, keys: list[str]) -> pd.DataFrame:
    """Materialise through Arrow (as the pipeline does), in a backend-independent row order."""
    return expr.to_pyarrow().to_pandas().sort_values(keys).reset_index(drop=True)


def _types(expr) -> dict[str, str]:
    """Column types, ignoring timestamp precision (DuckDB reports microseconds, Spark none)."""
    return {name: "timestamp" if t.is_timestamp() else str(t) for name, t in expr.schema().items()}


def assert_same(duck_expr, spark_expr, keys=("customer_id",)) -> pd.DataFrame:
    assert _types(duck_expr) == _types(spark_expr)
    a, b = _frame(duck_expr, list(keys)), _frame(spark_expr, list(keys))
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-9)
    return a


@pytest.mark.parametrize("name", FEATURE_TABLES)
def test_tables_arrive_identical(duck, spark, name):
    key = {"orders": ["order_id", "line_no"], "products": ["sku"], "service_tickets":
           ["ticket_id"], "feedback": ["id"], "events": ["message_id"],
           "consents": ["customer_id", "purpose", "channel", "ts"]}[name]
    assert spark.count(name) == duck.count(name) > 0
    assert_same(duck.table(name), spark.table(name), key)


def test_spark_ingest_reingests_nothing_and_leaves_no_staging(spark, cdnow_path):
    again = ingest("orders", cdnow_path, preset="cdnow", warehouse=spark)
    assert (again.accepted, again.duplicates_skipped) == (0, 6_919)
    assert not [t for t in spark.backend.list_tables() if t.startswith("_staging")]


def test_spark_warehouse_keeps_tables_of_an_earlier_session(spark):
    # the catalog of the earlier session is gone, its files are not: connect() took them back
    assert spark.table("brand_survey").to_pandas().to_dict("records") == [
        {"period": "2024Q1", "metric": "awareness", "value": 0.4}]
    spark.insert("brand_survey", pd.DataFrame({"period": ["2024Q2"], "metric": ["awareness"],
                                               "value": [0.5]}))
    assert spark.count("brand_survey") == 2


@pytest.mark.parametrize("case", CASES)
def test_btyd_summary(duck, spark, case):
    as_of, holdout_end = CASES[case]
    a = assert_same(btyd_summary(duck.table("orders"), as_of, holdout_end=holdout_end),
                    btyd_summary(spark.table("orders"), as_of, holdout_end=holdout_end))
    assert a.frequency_holdout.sum() > 0 and a.frequency.sum() > 0


@pytest.mark.parametrize("case", CASES)
def test_rfm_scores(duck, spark, case):
    as_of, _ = CASES[case]
    a = assert_same(rfm_scores(duck.table("orders"), as_of),
                    rfm_scores(spark.table("orders"), as_of))
    assert a.r_score.nunique() == 5 and a.m_score.nunique() == 5


@pytest.mark.parametrize("case", CASES)
def test_customer_features(duck, spark, case):
    as_of, _ = CASES[case]

    def features(wh):
        return customer_features({n: wh.table(n) for n in FEATURE_TABLES}, as_of)

    a = assert_same(features(duck), features(spark))
    if case == "world":  # the world exercises every join: reversals, margins, tickets, NPS
        assert (a.reversed_amount.fillna(0) < 0).any()
        assert a.margin.notna().any() and a.latest_nps.notna().any()
        assert (a.premium_share > 0).any() and (a.discount_share > 0).any()


def test_price_ladder_and_premium_features(duck, spark):
    as_of, _ = CASES["world"]
    lad = assert_same(price_ladder(duck.table("products"), duck.table("orders")),
                      price_ladder(spark.table("products"), spark.table("orders")), ["sku"])
    assert set(lad.price_tier) == {"basic", "mid", "premium"}

    def feats(wh):
        return premium_features(_world_rows(wh, "orders"),
                                price_ladder(wh.table("products"), wh.table("orders")), as_of)

    a = assert_same(feats(duck), feats(spark))
    assert a.bought_premium.sum() > 0 and a.main_category.notna().all()


def test_upgrade_paths_and_peer_rates(duck, spark):
    from upmarket.features.premium import tiered_lines
    from upmarket.models.upgrade_paths import upgrade_paths_in_engine, upgrade_rates_in_engine

    as_of, _ = CASES["world"]

    def lines(wh):
        return tiered_lines(_world_rows(wh, "orders"),
                            price_ladder(wh.table("products"), wh.table("orders")), as_of)

    key = ["category", "tier"]
    rates = [upgrade_rates_in_engine(lines(wh), as_of).sort_values(key).reset_index(drop=True)
             for wh in (duck, spark)]
    pd.testing.assert_frame_equal(*rates, check_dtype=False)
    paths = [upgrade_paths_in_engine(lines(wh), by_category=True) for wh in (duck, spark)]
    pd.testing.assert_frame_equal(*paths, check_dtype=False)
    assert paths[0]["transitions"].sum() > 0


@pytest.mark.parametrize("feature", ["consents_in_force", "channel_responses", "active_hour",
                                     "recent_contacts"])
def test_engagement_features(duck, spark, feature):
    as_of, _ = CASES["world"]
    fn = getattr(engagement, feature)
    source = "consents" if feature == "consents_in_force" else "events"
    keys = ["customer_id", "channel"] if feature in ("consents_in_force", "channel_responses") \
        else ["customer_id"]
    kw = {"days": 180} if feature == "recent_contacts" else {}  # the small world is sparse
    a = assert_same(fn(duck.table(source), as_of, **kw), fn(spark.table(source), as_of, **kw),
                    keys)
    assert len(a) > 5
