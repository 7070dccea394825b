"""A run builds the customer features once per date, in the engine (in a DuckDB warehouse, as
scratch tables of the file), and every reader of that date gets the same frame as a fresh
build; the value model's inputs for past dates come from a lighter query with the same
values."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from upmarket.features.customer import customer_features, value_inputs
from upmarket.features.snapshots import SOURCES, FeatureSnapshots
from upmarket.models import propensity
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import SCRATCH_TABLE, scratch_table

DATES = (datetime(2024, 2, 1), datetime(2024, 3, 1))


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    w = connect(f"duckdb://{tmp_path_factory.mktemp('snap')}/w.duckdb")
    products = pd.DataFrame({"sku": ["A", "B", "C"], "name": ["a", "b", "c"],
                             "category": ["tea"] * 3, "price": [5.0, 12.0, 30.0],
                             "cost": [2.0, None, 20.0],
                             "price_tier": ["basic", "mid", "premium"]})
    assert ingest("products", products, warehouse=w).accepted == 3
    rows = []
    for c in range(12):  # customers arriving over time, buying a few times each
        for k in range(1 + c % 4):
            day = pd.Timestamp("2023-06-01") + pd.Timedelta(days=11 * c + 23 * k)
            rows.append((f"O{c}-{k}", f"c{c:02d}", day, "ABC"[(c + k) % 3], 1 + k % 2,
                         [5.0, 12.0, 30.0][(c + k) % 3]))
    rows.append(("P1", "c99", pd.Timestamp("2024-01-10"), "POST", 1, 4.5))  # postage only
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "ts", "sku", "quantity",
                                        "unit_price"])
    frame["line_kind"] = ["postage" if s == "POST" else "product" for s in frame["sku"]]
    assert ingest("orders", frame, warehouse=w).accepted == len(frame)
    yield w
    w.close()


def tables(wh) -> dict:
    return {n: wh.table(n) for n in SOURCES}


def test_each_date_is_built_once_and_reads_like_a_fresh_build(wh):
    snaps = FeatureSnapshots(tables(wh))
    fresh = {when: customer_features(tables(wh), when).order_by("customer_id").to_pandas()
             for when in DATES}
    for when in (*DATES, DATES[0]):
        pd.testing.assert_frame_equal(snaps.frame(when), fresh[when])
    assert snaps.built == 2 and snaps.requests[(pd.Timestamp(DATES[0]), "W", 5)] == 2
    # a caller adding a column does not change what the next caller reads
    mine = snaps.frame(DATES[1])
    mine["score"] = 1.0
    assert "score" not in snaps.frame(DATES[1])
    # other settings are another table
    assert snaps.frame(DATES[1], rfm_bins=3)["r_score"].max() <= 3 and snaps.built == 3
    snaps.release()
    assert snaps.built == 0


def test_value_inputs_match_the_full_features(wh):
    for when in DATES[1:]:
        full = customer_features(tables(wh), when).order_by("customer_id").to_pandas()
        light = value_inputs(tables(wh), when).order_by("customer_id").to_pandas()
        assert list(light.columns) == ["customer_id", "frequency", "recency", "T", "monetary",
                                       "margin_rate"]
        pd.testing.assert_frame_equal(light, full[light.columns])
    # the postage-only customer is there, as one purchase at their first order
    assert "c99" in set(light["customer_id"])


def test_premium_inputs_are_built_once_per_date(wh, monkeypatch):
    built = []
    real = propensity.premium_features
    monkeypatch.setattr(propensity, "premium_features",
                        lambda *a, **k: built.append(a[2]) or real(*a, **k))
    snaps = FeatureSnapshots(tables(wh))
    at = propensity.Snapshots(tables(wh), customers=snaps.table, rows=5)
    first = at.frame(DATES[1])
    first["premium_propensity"] = 0.5
    again = at.frame(DATES[1])
    assert built == [DATES[1]] and "premium_propensity" not in again
    # streamed five customers at a time, the frame is the one assembled from whole tables
    ladder = propensity.price_ladder(tables(wh)["products"], tables(wh)["orders"])
    whole = propensity.assemble(
        customer_features(tables(wh), DATES[1]).order_by("customer_id").to_pandas(),
        real(tables(wh)["orders"], ladder, DATES[1]).to_pandas(),
        propensity.upgrade_rates_in_engine(
            propensity.tiered_lines(tables(wh)["orders"], ladder, DATES[1]), DATES[1]))
    assert len(again) == len(whole) > 5
    # a column with no value at all comes over as None from a whole table, NaN from batches
    same = lambda f: f.astype(object).where(f.notna(), None)  # noqa: E731
    pd.testing.assert_frame_equal(same(again), same(whole))
    at.release()
    snaps.release()


def test_a_few_columns_are_those_of_the_whole_frame(wh):
    snaps = FeatureSnapshots(tables(wh))
    whole = snaps.frame(DATES[1])
    few = snaps.frame(DATES[1], columns=("recency", "T", "no_such_column", "T"))
    assert list(few.columns) == ["customer_id", "recency", "T"]
    pd.testing.assert_frame_equal(few, whole[["customer_id", "recency", "T"]])
    assert snaps.built == 1


def test_in_a_duckdb_warehouse_they_are_the_runs_scratch_tables_of_the_file(wh):
    run_id = "20240301000000_abcdef"
    snaps = FeatureSnapshots(tables(wh), warehouse=wh, run_id=run_id)
    for when in (*DATES, DATES[0]):
        fresh = customer_features(tables(wh), when).order_by("customer_id").to_pandas()
        pd.testing.assert_frame_equal(snaps.frame(when), fresh)
    assert snaps.built == 2
    # one table per date in the file itself (not a temporary table the engine keeps in
    # memory); the steps each was built from are gone
    held = wh.backend.con.execute(
        "SELECT table_name, temporary FROM duckdb_tables() WHERE table_name LIKE '\\_scratch%'"
        " ESCAPE '\\' ORDER BY 1").fetchall()
    assert held == [(scratch_table(f"features_{n}", run_id), False) for n in range(2)]
    snaps.release()
    assert snaps.built == 0
    assert not [t for t in wh.backend.list_tables() if SCRATCH_TABLE.match(t)]


def test_elsewhere_they_are_cached_tables(wh):
    # no run to name them for (a caller outside a run): cached as before, nothing in the file
    snaps = FeatureSnapshots(tables(wh), warehouse=wh)
    pd.testing.assert_frame_equal(
        snaps.frame(DATES[1]),
        customer_features(tables(wh), DATES[1]).order_by("customer_id").to_pandas())
    assert not [t for t in wh.backend.list_tables() if SCRATCH_TABLE.match(t)]
    snaps.release()


def test_a_frame_from_the_file_has_the_types_and_values_of_a_fresh_build(tmp_path):
    # nulls in every kind of column the features have (a customer with no NPS answer, no
    # costed line, no ticket), where ibis converts column by column and the snapshots through
    # one Arrow table
    w = connect(f"duckdb://{tmp_path}/w.duckdb")
    w.create_table("mixed", pd.DataFrame({
        "customer_id": ["b", "a", "c"], "n": pd.array([1, None, 3], "Int64"),
        "x": [1.5, None, 2.0], "s": ["p", None, "q"],
        "ts": pd.to_datetime(["2024-01-01", None, "2024-02-01"]),
        "flag": pd.array([True, None, False], "boolean"), "none": [None] * 3,
        "nan": [float("nan")] * 3, "whole": [1, 2, 3]}).astype({"none": "float64"}))
    from upmarket.features.snapshots import _fetched
    t = w.table("mixed").order_by("customer_id")
    pd.testing.assert_frame_equal(_fetched(t), t.to_pandas())
    w.close()
