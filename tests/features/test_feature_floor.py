"""The customer feature build (Ibis) and the hand-written DuckDB SQL it is benchmarked against
(`bench/feature_floor.py`) give every customer the same features: two independent
implementations of one definition, so a change to either that alters a value fails here."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upmarket.demo import WorldConfig
from upmarket.demo.load import load_world
from upmarket.features.customer import customer_features
from upmarket.features.snapshots import SOURCES
from upmarket.warehouse import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.feature_floor import floor_sql  # noqa: E402

WORLD = WorldConfig(customers=600, seed=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    wh = connect(f"duckdb://{tmp_path_factory.mktemp('floor')}/w.duckdb")
    load_world(wh, WORLD)
    yield wh
    wh.close()


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    a = a.sort_values("customer_id").reset_index(drop=True)
    b = b.sort_values("customer_id").reset_index(drop=True)
    assert a["customer_id"].tolist() == b["customer_id"].tolist()
    for c in a.columns:
        x, y = a[c], b[c]
        assert (x.isna() == y.isna()).all(), c
        if x.dtype.kind == "f" or y.dtype.kind == "f":
            # sums taken in another order may differ in the last bits, nothing more
            np.testing.assert_allclose(x.astype(float), y.astype(float), rtol=1e-9, atol=1e-9,
                                       err_msg=c)
        else:
            assert (x[x.notna()].astype(str) == y[y.notna()].astype(str)).all(), c


@pytest.mark.parametrize("days_before_end", [0, 200])
def test_ibis_build_equals_the_hand_written_floor(world, days_before_end):
    tables = {n: world.table(n) for n in SOURCES}
    as_of = WORLD.as_of - timedelta(days=days_before_end)
    ibis_features = customer_features(tables, as_of).to_pandas()
    floor = world.backend.con.sql(floor_sql(as_of)).df()
    assert len(ibis_features) > 300
    # the world has complaints and NPS answers: the left joins are exercised
    assert ibis_features["latest_nps"].notna().any()
    assert (ibis_features["complaints_180d"] > 0).any()
    _same(ibis_features, floor)
