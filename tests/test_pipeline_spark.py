"""The whole `upmarket run` gives every customer the same answers on local Spark as on DuckDB.

One small synthetic world is ingested into DuckDB and its tables copied to a two-core local
Spark warehouse (as `tests/features/test_spark_parity.py` does; ingestion on Spark is covered
there). The whole pipeline then runs on each, publishing its outputs, and the published
`results` of the two runs must agree for every customer on RFM segment, tier, CLV (1e-6
relative), churn band and next best action (with the control-group draw behind it).

Nothing is excluded. The one input that differs by construction is the holdout salt, which a
warehouse draws at random on first use (`activation.holdout.salt`): the Spark warehouse is
given the DuckDB warehouse's salt, as a user moving a warehouse would carry it over, so both
runs draw the same control groups.
"""

from __future__ import annotations

import os
import shutil
from urllib.parse import quote

import numpy as np
import pytest

pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("PySpark needs a Java runtime (java 17)", allow_module_level=True)

from upmarket import pipeline  # noqa: E402
from upmarket.activation import holdout  # noqa: E402
from upmarket.demo import WorldConfig  # noqa: E402
from upmarket.demo.load import load_world  # noqa: E402
from upmarket.warehouse import connect  # noqa: E402
from upmarket.warehouse.runs import output  # noqa: E402
from upmarket.warehouse.schema import TABLES  # noqa: E402

# PySpark 4.0 still passes pandas' deprecated `copy=` keyword when it converts results
pytestmark = pytest.mark.filterwarnings("ignore:The copy keyword is deprecated",
                                        "ignore:createDataFrame attempted Arrow optimization")

#: Small on purpose: a Spark run's cost is mostly its per-query overhead (a few hundred
#: queries), so more customers buy little coverage for a lot of CPU (the whole file took about
#: 190 CPU-seconds, JVM included, at 120 customers and 230 at 200).
WORLD = WorldConfig(customers=120, seed=11)
SPARK_SETTINGS = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # a test run is a few hundred short queries: the JVM's optimising compiler (C2) spent about
    # half the CPU compiling code that then ran for milliseconds; the quick one (C1) halves it
    # and a larger cache for compiled code: the run's few hundred distinct queries, with the
    # other Spark tests sharing this process's JVM, filled the default 240 MB in CI
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=512m",
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(DuckDB results, Spark results, DuckDB summary, Spark summary) of one run each over the
    same world, read back from what each run published."""
    with pytest.MonkeyPatch.context() as mp:
        # no operational store: the run reads and writes the warehouse only
        mp.delenv("UPMARKET_DATABASE", raising=False)
        mp.chdir(tmp_path_factory.mktemp("cwd"))
        duck = connect("duckdb://")
        load_world(duck, WORLD)
        where = tmp_path_factory.mktemp("spark-warehouse")
        query = "&".join(f"{k}={quote(v)}" for k, v in
                         {**SPARK_SETTINGS, "spark.sql.warehouse.dir": str(where)}.items())
        spark = connect(f"pyspark://local[2]?{query}")
        spark.backend._session.sparkContext.setLogLevel("ERROR")
        try:
            for name in TABLES:
                if duck.count(name):
                    spark.insert(name, duck.table(name).to_pyarrow())
            holdout.salt(duck)  # drawn here, carried over to Spark
            spark.insert(holdout.SALT_TABLE, duck.table(holdout.SALT_TABLE).to_pyarrow())
            done = {}
            for engine, wh in (("duckdb", duck), ("spark", spark)):
                ctx = pipeline.run(wh)
                res = output(wh, "results").to_pyarrow().to_pandas()
                done[engine] = (res.sort_values("customer_id").reset_index(drop=True),
                                ctx.summary)
            yield done["duckdb"][0], done["spark"][0], done["duckdb"][1], done["spark"][1]
        finally:
            spark.close()
            duck.close()


def test_every_customer_gets_the_same_answers(runs):
    duck, spark, *_ = runs
    assert len(duck) > 100
    assert list(duck["customer_id"]) == list(spark["customer_id"])
    for col in ("rfm_segment", "tier", "churn_band", "next_best_action"):
        differ = duck[col].astype(str) != spark[col].astype(str)
        assert not differ.any(), (
            f"{col} differs for {int(differ.sum())} customers, e.g. "
            f"{duck.loc[differ, ['customer_id', col]].head(3).to_dict('records')} on DuckDB "
            f"against {spark.loc[differ, col].head(3).tolist()} on Spark")
    np.testing.assert_allclose(spark["clv"].to_numpy(float), duck["clv"].to_numpy(float),
                               rtol=1e-6, atol=0)
    # the comparison means something: the world spreads customers over the labels compared
    assert duck["tier"].nunique() >= 3 and duck["rfm_segment"].nunique() >= 5
    assert duck["next_best_action"].nunique() >= 3 and duck["churn_band"].nunique() >= 2
    assert (duck["clv"] > 0).sum() > len(duck) // 2


def test_the_same_models_and_totals(runs):
    *_, a, b = runs
    assert a["customers"] == b["customers"]
    assert a["value_model"]["transactions"] == b["value_model"]["transactions"]
    assert a["churn_model"] == b["churn_model"]
    assert a["tiers"] == b["tiers"] and a["actions"] == b["actions"]
    assert a["total_clv"] == pytest.approx(b["total_clv"], rel=1e-6)
