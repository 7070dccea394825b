"""Purchase lines as codes give the answers of the lines as strings: read from the engine in
batches of any size they are the same codes, in the same order, as numbered in one go, and the
basket rules, bundles and premium bestsellers computed on them are those of the frame."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from upmarket.models.basket import association_rules, best_bundles
from upmarket.models.purchase_codes import PurchaseCodes, sorted_distinct
from upmarket.strategy import nba


@pytest.fixture(scope="module")
def lines():
    """A few thousand lines in no particular order, with non-ASCII ids and missing values."""
    rng = np.random.default_rng(3)
    n = 5000
    customers = np.array([f"C{k:03d}" for k in range(300)] + ["Ünal", "Zoë", "été"])
    skus = np.array([f"S{k:02d}" for k in range(40)] + ["Ä1"])
    frame = pd.DataFrame({
        "customer_id": customers[rng.integers(len(customers), size=n)],
        "order_id": [f"O{k}" for k in rng.integers(1500, size=n)],
        "sku": skus[rng.integers(len(skus), size=n)],
        "ts": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 10**6, size=n),
                                                           unit="s")})
    frame["customer_id"] = frame["customer_id"].astype(object)
    frame.loc[[5, 77], "customer_id"] = None
    frame.loc[[9], "sku"] = None
    frame.loc[[11], "order_id"] = None
    return frame


def _table(frame):
    con = ibis.duckdb.connect()
    return con.create_table("lines", frame)


@pytest.mark.parametrize("batch_rows", [1000, 2048, 100_000])
def test_batches_number_as_one_frame(lines, batch_rows):
    got = PurchaseCodes.from_table(_table(lines), batch_rows=batch_rows)
    want = PurchaseCodes.from_frame(lines)
    assert list(got.customers) == list(want.customers) == sorted(
        lines["customer_id"].dropna().unique())
    assert list(got.skus) == list(want.skus)
    np.testing.assert_array_equal(got.customer, want.customer)
    np.testing.assert_array_equal(got.sku, want.sku)
    np.testing.assert_array_equal(got.ts, want.ts)
    # order codes are labels: the same lines share one, and only they
    np.testing.assert_array_equal(got.order < 0, lines["order_id"].isna())
    pairs = pd.DataFrame({"got": got.order, "want": want.order}).drop_duplicates()
    assert pairs["got"].is_unique and pairs["want"].is_unique
    back = got.frame()["customer_id"]
    assert [c if isinstance(c, str) else None for c in back] == list(lines["customer_id"])


def test_rules_bundles_and_bestsellers_match_the_frame(lines):
    codes = PurchaseCodes.from_table(_table(lines), batch_rows=1000)
    rules = association_rules(lines, min_orders=2, min_lift=1.0, alpha=1.0)
    assert len(rules) > 20
    pd.testing.assert_frame_equal(
        association_rules(codes, min_orders=2, min_lift=1.0, alpha=1.0), rules)
    owned = lines.dropna(subset=["customer_id"])[["customer_id", "sku"]]
    pd.testing.assert_frame_equal(best_bundles(codes, rules), best_bundles(owned, rules))
    tiered = pd.DataFrame({"sku": [f"S{k:02d}" for k in range(40)] + ["Ä1"],
                           "category": ["a", "b"] * 20 + ["a"], "tier_rank": [2, 1] * 20 + [2]})
    pd.testing.assert_frame_equal(nba.premium_bestsellers(tiered, codes),
                                  nba.premium_bestsellers(tiered, lines))


def test_compact_keeps_the_ids_sorted(lines):
    codes = PurchaseCodes.from_frame(lines)
    some = codes.take(codes.customer % 3 == 1).compact()
    assert list(some.customers) == sorted(set(codes.customers[codes.customer[
        codes.customer % 3 == 1]]))
    assert list(some.customers[some.customer]) == list(
        codes.customers[codes.customer[codes.customer % 3 == 1]])
    np.testing.assert_array_equal(sorted_distinct(np.array([3, 1, 3, 2, 1])), [1, 2, 3])


def test_lines_without_products_are_no_purchases():
    """Order histories without products (CDNOW has none) leave nothing to learn from."""
    from upmarket.models.recommend import NoPurchases, TunedHybrid

    frame = pd.DataFrame({"customer_id": ["a", "b"], "order_id": ["1", "2"],
                          "sku": pd.Series([None, None], dtype=object),
                          "ts": pd.to_datetime(["2025-01-01", "2025-02-01"])})
    con = ibis.duckdb.connect()
    con.raw_sql("CREATE TABLE lines (customer_id VARCHAR, order_id VARCHAR, sku VARCHAR, "
                "ts TIMESTAMP)")
    con.insert("lines", frame)
    codes = PurchaseCodes.from_table(con.table("lines"))
    assert len(codes) == 2 and len(codes.skus) == 0 and not codes.lines_of(["x"]).any()
    with pytest.raises(NoPurchases):
        TunedHybrid().fit(codes)
    assert association_rules(codes).empty
