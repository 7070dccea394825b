"""Ingestion refuses numbers a run cannot use and ids that are not plain text, reports
conflicting re-sends as conflicts (or replaces stored rows when asked), and accepted rows can
be taken back by key or by batch. Reconciliation holds in every case."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from upmarket.errors import BadMapping
from upmarket.warehouse.ingest import RAW_FIELD_CAP, ingest
from upmarket.warehouse.mapping import Mapping
from upmarket.warehouse.retract import delete, select_by_batch, select_by_key
from upmarket.warehouse.validate import BadStoredValues, check_stored

HEADER = "order_id,line_no,customer_id,ts,sku,quantity,unit_price,amount\n"


def write(tmp_path, text: str, name: str = "orders.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def quarantine(wh) -> pd.DataFrame:
    return wh.table("quarantine").order_by("row_number").to_pandas()


def balanced(report) -> bool:
    """The bookkeeping, recomputed here rather than trusted from `reconciles`."""
    return report.rows_read == (report.accepted + report.quarantined
                                + report.duplicates_skipped + report.conflicts)


def test_non_finite_and_absurd_numbers_are_quarantined_with_field_and_value(wh, tmp_path):
    path = write(tmp_path, HEADER +
                 "A1,0,c1,2024-01-05,S1,2,9.5,19\n"
                 "A2,0,c1,2024-01-06,S1,1,9.5,inf\n"
                 "A3,0,c2,2024-01-06,S1,1,9.5,-inf\n"
                 "A4,0,c2,2024-01-06,S1,1,9.5,1e308\n"
                 "A5,0,c2,2024-01-06,S1,1,9.5,nan\n"
                 "A6,0,c2,2024-01-06,S1,inf,9.5,\n"
                 "A7,0,c3,2024-01-06,S1,1,9.5,\n"          # empty amount: computed, accepted
                 "A8,0,c3,2024-01-06,S1,1,9.5,-999999999999\n")  # within ±1e12: accepted
    report = ingest("orders", path, warehouse=wh)
    assert (report.rows_read, report.accepted, report.quarantined) == (8, 3, 5)
    assert balanced(report) and report.reconciles
    assert report.quarantined_by_reason == {
        "not finite in amount": 3, "beyond the sane bound of amount (|value| > 1e+12)": 1,
        "not finite in quantity": 1}
    q = quarantine(wh)
    assert list(q.reason) == ["not finite in amount: inf", "not finite in amount: -inf",
                              "beyond the sane bound of amount (|value| > 1e+12): 1e308",
                              "not finite in amount: nan", "not finite in quantity: inf"]
    assert list(q.field) == ["amount"] * 4 + ["quantity"]
    assert json.loads(q.raw[1])["amount"] == "-inf"  # the raw text is kept
    held = wh.table("orders").order_by("order_id").to_pandas()
    assert list(held.order_id) == ["A1", "A7", "A8"]
    assert np.isfinite(held[["quantity", "unit_price", "amount"]].to_numpy()).all()
    assert held.amount.tolist() == [19.0, 9.5, -999999999999.0]
    check_stored(wh, ("orders",))  # nothing stored that a run would stop on


def test_non_finite_floats_in_a_frame_and_other_tables(wh):
    frame = pd.DataFrame({"date": ["2024-01-01"] * 3, "channel": ["web", "tv", "sms"],
                          "cost_type": ["media"] * 3, "cost": [100.0, np.inf, 2e12]})
    report = ingest("spend", frame, warehouse=wh)
    assert (report.accepted, report.quarantined) == (1, 2) and balanced(report)
    assert set(quarantine(wh).reason) == {
        "not finite in cost: inf", "beyond the sane bound of cost (|value| > 1e+12): 2000000000000.0"}
    # a number with no declared unit still has a bound: 2**53, where float64 stops holding
    # every whole number
    survey = pd.DataFrame({"period": ["2024Q1", "2024Q2"], "metric": ["awareness"] * 2,
                           "value": [0.4, 1e300]})
    report = ingest("brand-survey", survey, warehouse=wh)
    assert (report.accepted, report.quarantined) == (1, 1)
    assert report.quarantined_by_reason == {
        f"beyond the sane bound of value (|value| > {2.0**53:g})": 1}


def test_bounds_are_configurable_in_the_mapping_file(wh, tmp_path):
    rows = HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,19\nA2,0,c1,2024-01-05,S1,2000,1,2000\n"
    mapping = write(tmp_path, "limits:\n  money: 1000\n  quantity: 5000\n", "m.yaml")
    report = ingest("orders", write(tmp_path, rows), mapping=mapping, warehouse=wh)
    assert report.quarantined_by_reason == {
        "beyond the sane bound of amount (|value| > 1000)": 1}
    # a column's own bound wins over its unit's
    report = ingest("orders", write(tmp_path, rows.replace("A", "B")), warehouse=wh,
                    mapping=Mapping(limits={"money": 1000, "amount": 5000, "quantity": 100}))
    assert report.quarantined_by_reason == {
        "beyond the sane bound of quantity (|value| > 100)": 1}
    with pytest.raises(BadMapping, match="unknown limit.*amonut"):
        ingest("orders", write(tmp_path, rows), warehouse=wh, mapping=Mapping(limits={"amonut": 1}))
    with pytest.raises(BadMapping, match="limits.money must be a positive number"):
        ingest("orders", write(tmp_path, rows), warehouse=wh,
               mapping=write(tmp_path, "limits:\n  money: -5\n", "bad.yaml"))


def test_control_characters_and_overlong_ids_are_refused_and_the_quarantine_copy_is_capped(
        wh, tmp_path):
    # under the reader's 1 MiB per cell (a larger cell refuses the whole file, see
    # test_readers_limits), far over the id limit and the quarantine's preview
    huge = "x" * 300_000
    # the reader takes NULs in the first 4 KB for a binary file: put the bad ids after that
    filler = "".join(f"F{i},0,c{i},2024-01-05,S1,1,2,2\n" for i in range(200))
    text = (HEADER + filler
            + "B1,0,c\x00evil,2024-01-05,S1,1,2,2\n"
            + "B2,0,c1,2024-01-05,S\x1b[31m,1,2,2\n"
            + "B3\u2028x,0,c1,2024-01-05,S1,1,2,2\n"
            + f"B4,0,{huge},2024-01-05,S1,1,2,2\n"
            + f"B5,0,{'y' * 256},2024-01-05,S1,1,2,2\n")  # exactly at the limit: accepted
    report = ingest("orders", write(tmp_path, text), warehouse=wh)
    assert (report.accepted, report.quarantined) == (201, 4) and balanced(report)
    q = quarantine(wh).set_index("row_number")
    first = len(filler.splitlines()) + 2
    assert q.loc[first, "reason"] == "control character in customer_id: U+0000 at character 2"
    assert q.loc[first + 1, "reason"] == "control character in sku: U+001B at character 2"
    assert q.loc[first + 2, "reason"] == "control character in order_id: U+2028 at character 3"
    assert q.loc[first + 3, "reason"] == "customer_id longer than 256 characters: 300,000 characters"
    assert list(q.field) == ["customer_id", "sku", "order_id", "customer_id"]
    raw = q.loc[first + 3, "raw"]
    assert len(raw) < 2 * RAW_FIELD_CAP  # not 300 kB
    kept = json.loads(raw)["customer_id"]
    assert kept == {"preview": "x" * 200, "length": 300_000, "truncated": True}
    held = wh.table("orders").to_pandas()
    assert not held.customer_id.str.contains("\x00").any()
    assert held.customer_id.str.len().max() == 256
    # the length limit is a setting too
    report = ingest("orders", pd.DataFrame({
        "order_id": ["L1", "L2"], "line_no": [0, 0], "customer_id": ["c" * 10, "c" * 11],
        "ts": ["2024-01-05"] * 2, "quantity": [1, 1], "amount": [1, 1]}),
        warehouse=wh, mapping=Mapping(limits={"id_length": 10}))
    assert report.quarantined_by_reason == {"customer_id longer than 10 characters": 1}


def test_same_key_again_is_a_duplicate_when_identical_and_a_conflict_when_not(wh, tmp_path):
    first = ingest("orders", write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,19\n"
                                   "A2,0,c1,2024-01-06,S2,1,5,5\n"), warehouse=wh)
    assert first.accepted == 2
    # same content written differently (other number format, other column order) is the same
    again = write(tmp_path, "amount,order_id,line_no,customer_id,ts,sku,quantity,unit_price\n"
                  "19.00,A1,0,c1,2024-01-05 00:00:00,S1,2.0,9.50\n"
                  "6,A2,0,c1,2024-01-06,S2,1,5\n"
                  "7,A3,0,c2,2024-01-07,S2,1,7\n", "again.csv")
    report = ingest("orders", again, warehouse=wh)
    assert (report.accepted, report.duplicates_skipped, report.conflicts, report.quarantined) \
        == (1, 1, 1, 0)
    assert balanced(report) and report.reconciles
    assert report.quarantined_by_reason == {"conflict: differs from the stored row in amount": 1}
    q = quarantine(wh)
    assert (q.row_number[0], q.field[0]) == (3, "amount")
    assert json.loads(q.raw[0])["amount"] == "6"
    assert wh.table("orders").filter(lambda t: t.order_id == "A2").amount.execute().tolist() == [5.0]
    batch = wh.table("ingest_batches").filter(lambda t: t.batch_id == report.batch_id).to_pandas()
    assert (batch.conflicts[0], batch.duplicates_skipped[0], batch.accepted[0]) == (1, 1, 1)


def test_conflict_within_one_file(wh, tmp_path):
    path = write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,19\n"
                 "A1,0,c1,2024-01-05,S1,2,9.5,19\n"        # the same again: a duplicate
                 "A1,0,c2,2024-01-05,S1,3,9.5,28.5\n")     # same key, other content
    for policy in ("quarantine", "update"):  # a file that contradicts itself: first row stands
        report = ingest("orders", path, warehouse=wh, on_conflict=policy)
        assert balanced(report)
        if policy == "quarantine":
            assert (report.accepted, report.duplicates_skipped, report.conflicts) == (1, 1, 1)
            assert report.quarantined_by_reason == {
                "conflict: differs from an earlier row of the file in customer_id, quantity, amount": 1}
        else:  # the first row is held now: the duplicate and the first row are duplicates
            assert (report.accepted, report.duplicates_skipped, report.conflicts) == (0, 2, 1)
    held = wh.table("orders").to_pandas()
    assert (len(held), held.customer_id[0], held.amount[0]) == (1, "c1", 19.0)
    q = quarantine(wh)
    assert set(q.row_number) == {4} and set(q.field) == {"customer_id, quantity, amount"}
    assert q.reason[0].endswith("in customer_id, quantity, amount: see row 2")


def test_on_conflict_update_replaces_stored_rows_in_the_ingest(wh, tmp_path):
    ingest("orders", write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,19\n"
                           "A2,0,c1,2024-01-06,S2,1,5,5\n"), warehouse=wh)
    fixed = write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,17\n"
                  "A2,0,c1,2024-01-06,S2,1,5,5\n"
                  "A3,0,c1,2024-01-07,S2,1,5,5\n", "fixed.csv")
    report = ingest("orders", fixed, warehouse=wh, on_conflict="update")
    assert (report.accepted, report.updated, report.duplicates_skipped, report.conflicts) \
        == (2, 1, 1, 0)
    assert balanced(report) and report.quarantined_by_reason == {}
    held = wh.table("orders").order_by("order_id").to_pandas()
    assert held.amount.tolist() == [17.0, 5.0, 5.0]
    # the replaced row now belongs to the new batch: taking that batch back takes it
    sel = select_by_batch(wh, "orders", report.batch_id)
    assert sorted(sel.keys.order_id) == ["A1", "A3"]
    # keep: the stored row stays, the new one is a duplicate (the service's identify copies)
    keep = ingest("orders", write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,1\n", "k.csv"),
                  warehouse=wh, on_conflict="keep")
    assert (keep.accepted, keep.duplicates_skipped, keep.conflicts) == (0, 1, 0)
    assert wh.table("orders").filter(lambda t: t.order_id == "A1").amount.execute().tolist() == [17.0]


def test_delete_by_key_and_by_batch(wh, tmp_path):
    one = ingest("orders", write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,19\n"
                                 "A1,1,c1,2024-01-05,S2,1,5,5\n"
                                 "A2,0,c2,2024-01-06,S2,1,5,5\n"), warehouse=wh)
    two = ingest("orders", write(tmp_path, HEADER + "B1,0,c3,2024-02-05,S1,2,9.5,19\n"
                                 "B2,0,c3,2024-02-06,S1,1,9.5,9.5\n"
                                 "A2,0,c2,2024-01-06,S2,1,5,5\n", "two.csv"), warehouse=wh)
    assert (two.accepted, two.duplicates_skipped) == (2, 1)
    by_key = select_by_key(wh, "orders", ["A1", "nope"])
    assert by_key.rows == 2 and wh.count("orders") == 5  # selecting deletes nothing
    assert delete(wh, by_key) == 2
    assert sorted(wh.table("orders").order_id.execute()) == ["A2", "B1", "B2"]
    # batch one put in A1 (gone) and A2; batch two only B1 and B2 (A2 was a duplicate)
    assert select_by_batch(wh, "orders", two.batch_id).rows == 2
    assert delete(wh, select_by_batch(wh, "orders", one.batch_id)) == 1
    assert sorted(wh.table("orders").order_id.execute()) == ["B1", "B2"]
    assert delete(wh, select_by_batch(wh, "orders", one.batch_id)) == 0  # nothing left of it
    # deleted rows can come in again, and their new batch owns them
    again = ingest("orders", write(tmp_path, HEADER + "A2,0,c2,2024-01-06,S2,1,5,5\n", "a.csv"),
                   warehouse=wh)
    assert again.accepted == 1 and balanced(again)
    assert select_by_batch(wh, "orders", again.batch_id).rows == 1
    from upmarket.warehouse.retract import NothingToDelete
    with pytest.raises(NothingToDelete, match="ingested into orders, not customers"):
        select_by_batch(wh, "customers", two.batch_id)
    with pytest.raises(NothingToDelete, match="no ingestion batch 'zzz'"):
        select_by_batch(wh, "orders", "zzz")


def test_batch_record_holds_no_customer_id(wh):
    report = ingest("customers", pd.DataFrame({"customer_id": ["C-secret-42"]}), warehouse=wh)
    keys = wh.table("ingest_batch_keys").to_pandas()
    assert len(keys) == 1 and keys.batch_id[0] == report.batch_id
    assert "C-secret-42" not in keys.to_string()
    # keyed: a guessed id cannot be checked against the record without the warehouse's secret
    for algo in ("md5", "sha1", "sha256"):
        assert hashlib.new(algo, b"C-secret-42").hexdigest() != keys.key_hash[0]


def test_a_stored_non_finite_number_is_named_by_table_key_and_column(wh, tmp_path):
    ingest("orders", write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,19\n"), warehouse=wh)
    # what an earlier version let in, or another tool wrote straight into the warehouse
    wh.backend.con.execute(
        "INSERT INTO orders (order_id, line_no, customer_id, ts, quantity, amount) VALUES "
        "('Z9', 0, 'c2', '2024-01-06', 1, 'inf'), ('Z8', 1, 'c2', '2024-01-06', 1, 'nan')")
    with pytest.raises(BadStoredValues) as caught:
        check_stored(wh, ("orders", "products"))
    msg = str(caught.value)
    assert msg.startswith("orders.amount holds 2 non-finite value(s)")
    assert "order_id/line_no Z8/1, Z9/0" in msg
    assert "upmarket data delete orders --key Z8 --key Z9" in msg
    delete(wh, select_by_key(wh, "orders", ["Z8", "Z9"]))
    check_stored(wh, ("orders", "products"))


def test_a_warehouse_made_before_conflicts_were_counted_gains_the_columns(tmp_path):
    from upmarket.warehouse import connect

    url = f"duckdb://{tmp_path}/old.duckdb"
    wh = connect(url)
    wh.backend.con.execute("DROP TABLE ingest_batches")
    wh.backend.con.execute(
        "CREATE TABLE ingest_batches (batch_id VARCHAR, \"table\" VARCHAR, source VARCHAR, "
        "sha256 VARCHAR, ingested_at TIMESTAMP, rows_read BIGINT, accepted BIGINT, "
        "quarantined BIGINT, duplicates_skipped BIGINT)")
    wh.backend.con.execute("INSERT INTO ingest_batches (batch_id, rows_read) VALUES ('old', 3)")
    wh.close()
    wh = connect(url)
    report = ingest("orders", write(tmp_path, HEADER + "A1,0,c1,2024-01-05,S1,2,9.5,19\n"),
                    warehouse=wh)
    batches = wh.table("ingest_batches").to_pandas()
    assert set(batches.batch_id) == {report.batch_id, "old"}
    mine = batches.set_index("batch_id")
    assert (mine.loc[report.batch_id, "conflicts"], mine.loc[report.batch_id, "updated"]) == (0, 0)
    assert pd.isna(mine.loc["old", "conflicts"])
    wh.close()
