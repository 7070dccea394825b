"""Ingestion of the real data sets in ../shared/data."""

from __future__ import annotations

from shared_data import shared

from upmarket.warehouse.ingest import ingest


def test_online_retail_reconciles_and_reingest_adds_nothing(wh):
    path = shared("online_retail/online_retail_sample_30k.csv")
    first = ingest("orders", path, preset="online-retail", warehouse=wh)
    assert first.rows_read == 30_000
    assert first.reconciles
    assert first.rows_read == first.accepted + first.quarantined + first.duplicates_skipped
    assert first.quarantined_by_reason.get("missing customer_id", 0) > 0
    assert wh.count("orders") == first.accepted
    assert wh.count("quarantine") == first.quarantined
    second = ingest("orders", path, preset="online-retail", warehouse=wh)
    assert second.accepted == 0
    assert second.reconciles
    assert wh.count("orders") == first.accepted


def test_online_retail_rules(wh):
    ingest("orders", shared("online_retail/online_retail_sample_30k.csv"),
           preset="online-retail", warehouse=wh)
    o = wh.table("orders").to_pandas()
    cancelled = o[o.order_id.str.startswith("C")]
    assert len(cancelled) > 0 and (cancelled.status == "cancelled").all()
    assert (cancelled.quantity < 0).all()
    assert cancelled.customer_id.notna().all()
    linked = cancelled.dropna(subset=["original_order_id"])
    assert len(linked) > 0
    # a link points at an earlier paid line of the same customer and product
    paid = o[o.status == "paid"].set_index(["order_id", "sku"])
    for row in linked.head(20).itertuples():
        orig = paid.loc[(row.original_order_id, row.sku)]
        orig = orig.iloc[0] if orig.ndim == 2 else orig
        assert orig.customer_id == row.customer_id and orig.ts <= row.ts
    assert set(o.loc[o.sku == "POST", "line_kind"]) == {"postage"}
    products = wh.table("products").to_pandas()
    assert "POST" not in set(products.sku)
    assert products.name.notna().mean() > 0.99
    customers = wh.table("customers").to_pandas()
    assert customers.customer_id.str.fullmatch(r"\d+").all()  # "12923.0" → "12923"
    assert "United Kingdom" in set(customers.country)


def test_cdnow_master_accepts_everything(wh):
    report = ingest("orders", shared("cdnow/CDNOW_master.txt"), preset="cdnow", warehouse=wh)
    assert (report.rows_read, report.accepted, report.quarantined) == (69_659, 69_659, 0)
    o = wh.table("orders")
    assert o.customer_id.nunique().execute() == 23_570
    assert round(o.amount.sum().execute(), 2) == 2_500_315.63
    again = ingest("orders", shared("cdnow/CDNOW_master.txt"), preset="cdnow", warehouse=wh)
    assert (again.accepted, again.duplicates_skipped) == (0, 69_659)


def test_cdnow_sample_five_columns(wh):
    report = ingest("orders", shared("cdnow/CDNOW_sample.txt"), preset="cdnow", warehouse=wh)
    assert report.accepted == 6_919 and report.reconciles
    assert wh.table("orders").customer_id.nunique().execute() == 2_357
