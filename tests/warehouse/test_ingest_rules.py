"""Every quarantine reason, every whole-file error, encodings, formats and mapping files."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest

from upmarket.errors import BadFile, BadMapping, UnknownTable
from upmarket.warehouse.ingest import ingest

HEADER = "order_id,line_no,customer_id,ts,sku,quantity,unit_price,status\n"
GOOD = "A1,0,c1,2024-01-05 10:00,S1,2,9.5,paid\n"


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("row", "reason", "field"),
    [
        ("A2,0,,2024-01-05,S1,1,9.5,paid", "missing customer_id", "customer_id"),
        ("A2,0,c1,not-a-date,S1,1,9.5,paid", "unparseable date in ts", "ts"),
        ("A2,0,c1,2024-01-05,S1,lots,9.5,paid", "not a number in quantity", "quantity"),
        ("A2,0,c1,2024-01-05,S1,1,-3,paid", "negative unit_price", "unit_price"),
        ("A2,0,c1,2024-01-05,S1,1,9.5,lost", "invalid status", "status"),
        ("A2,0,c1,,S1,1,9.5,paid", "missing ts", "ts"),
        ("A1,0,c1,2024-01-05 10:00,S1,3,9.5,paid",
         "conflict: differs from an earlier row of the file in quantity, amount", "quantity, amount"),
    ],
)
def test_each_quarantine_reason_names_row_and_field(wh, tmp_path, row, reason, field):
    path = write(tmp_path, "orders.csv", HEADER + GOOD + row + "\n")
    report = ingest("orders", path, warehouse=wh)
    assert report.rows_read == 2
    conflict = reason.startswith("conflict")
    assert (report.accepted, report.quarantined, report.conflicts) == (1, 0 if conflict else 1,
                                                                        int(conflict))
    assert report.quarantined_by_reason == {reason: 1}
    q = wh.table("quarantine").to_pandas()
    assert len(q) == 1
    assert q.field[0] == field
    assert q.reason[0] == (f"{reason}: see row 2" if conflict else reason)
    assert q.row_number[0] == 3  # header is line 1, the bad row is line 3
    assert q.source[0] == str(path)
    assert json.loads(q.raw[0])["order_id"] in ("A1", "A2")


def test_other_tables_reasons(wh, tmp_path):
    path = write(tmp_path, "fb.csv", "id,customer_id,ts,nps_score,csat\n"
                 "f1,c1,2024-02-01,9,4\n"
                 "f2,c1,2024-02-01,11,4\n"
                 "f3,c1,2024-02-01,7.5,4\n"
                 "f4,c1,2024-02-01,8,9\n")
    report = ingest("feedback", path, warehouse=wh)
    assert report.quarantined_by_reason == {
        "out of range nps_score": 1, "not a whole number in nps_score": 1, "out of range csat": 1}
    path = write(tmp_path, "consents.csv", "customer_id,purpose,channel,granted,ts\n"
                 "c1,marketing,email,yes,2024-01-01\nc1,marketing,sms,perhaps,2024-01-01\n"
                 "c2,marketing,wechat,否,2024-01-01\n")
    report = ingest("consents", path, warehouse=wh)
    assert report.quarantined_by_reason == {"not true/false in granted": 1}
    granted = wh.table("consents").to_pandas().set_index("customer_id").granted
    assert granted["c1"] == True and granted["c2"] == False  # noqa: E712


def test_identical_rows_are_duplicates_not_errors(wh, tmp_path):
    path = write(tmp_path, "o.csv", "order_id,line_no,customer_id,ts,quantity\n"
                 "A,0,c,2024-01-01,1\nA,0,c,2024-01-01,1\n")
    report = ingest("orders", path, warehouse=wh)
    assert (report.accepted, report.quarantined, report.duplicates_skipped) == (1, 0, 1)


def test_derived_order_fields(wh, tmp_path):
    path = write(tmp_path, "o.csv", "order_id,customer_id,ts,sku,quantity,unit_price\n"
                 "A,c,2024-01-01,S,2,5\nA,c,2024-01-01,T,1,4\nB,c,2024-01-02,S,-2,5\n")
    ingest("orders", path, warehouse=wh)
    o = wh.table("orders").order_by(["order_id", "line_no"]).to_pandas()
    assert o.line_no.tolist() == [0, 1, 0]
    assert o.amount.tolist() == [10.0, 4.0, -10.0]
    assert o.status.tolist() == ["paid", "paid", "cancelled"]
    assert o.original_order_id.tolist()[2] == "A"


def test_gbk_chinese_headers_with_mapping_file(wh, tmp_path):
    csv = ("订单号,客户编号,下单时间,商品编码,数量,单价,金额,订单状态,备注\n"
           "D001,客户甲,2024/03/05 14:30,SKU-1,2,199.00,398.00,已支付,送礼\n"
           "D002,客户乙,2024/03/06 09:00,SKU-2,1,\"1,299.00\",\"1,299.00\",已取消,\n"
           "D003,客户丙,2024/13/45 09:00,SKU-2,1,99,99,已支付,\n")
    path = write(tmp_path, "订单.csv", csv, encoding="gbk")
    mapping = write(tmp_path, "映射.yaml", textwrap.dedent("""\
        columns:
          订单号: order_id
          客户编号: customer_id
          下单时间: ts
          商品编码: sku
          数量: quantity
          单价: unit_price
          金额: amount
          订单状态: status
        date_format: "%Y/%m/%d %H:%M"
        timezone: Asia/Shanghai
        currency: CNY
        values:
          status: {已支付: paid, 已取消: cancelled}
        """))
    report = ingest("orders", path, mapping=mapping, warehouse=wh)
    assert report.encoding == "gbk"
    assert report.unmapped_columns == ["备注"]
    assert (report.accepted, report.quarantined) == (2, 1)
    assert report.quarantined_by_reason == {"unparseable date in ts": 1}
    o = wh.table("orders").order_by("order_id").to_pandas()
    assert o.customer_id.tolist() == ["客户甲", "客户乙"]
    assert o.status.tolist() == ["paid", "cancelled"]
    assert o.unit_price.tolist() == [199.0, 1299.0]
    assert o.currency.tolist() == ["CNY", "CNY"]
    # 14:30 in Shanghai is 06:30 UTC
    assert o.ts[0] == pd.Timestamp("2024-03-05 06:30")
    q = wh.table("quarantine").to_pandas()
    assert json.loads(q.raw[0])["客户编号"] == "客户丙"


def test_chinese_headers_recognised_without_mapping(wh, tmp_path):
    csv = "订单号,客户编号,下单时间,数量,金额\nD1,甲,2024年3月5日,1,10\n"
    for enc, name in (("utf-8-sig", "bom.csv"), ("gb18030", "gb.csv")):
        wh_report = ingest("orders", write(tmp_path, name, csv.replace("D1", f"D{enc}"), enc),
                           warehouse=wh)
        assert wh_report.accepted == 1, wh_report
    ts = wh.table("orders").ts.to_pandas().unique()
    assert list(ts) == [pd.Timestamp("2024-03-05")]


def test_gb18030_only_characters(wh, tmp_path):
    # 𠀀 exists in GB18030 but not in GBK
    path = write(tmp_path, "x.csv", "customer_id,country\n𠀀客户,中国\n", "gb18030")
    report = ingest("customers", path, warehouse=wh)
    assert report.encoding == "gb18030" and report.accepted == 1


def test_semicolon_and_tab_delimiters(wh, tmp_path):
    for sep, name in ((";", "a.csv"), ("\t", "b.tsv")):
        text = sep.join(["sku", "name", "price"]) + "\n" + sep.join([name, "Mug", "4.5"]) + "\n"
        report = ingest("products", write(tmp_path, name, text), warehouse=wh)
        assert report.delimiter == sep and report.accepted == 1


def test_excel_and_parquet(wh, tmp_path):
    df = pd.DataFrame({"date": ["2024-01-01", "2024-01-02"], "channel": ["search", "wechat"],
                       "cost_type": ["media", "sales team"], "cost": [100.0, 50.5]})
    df.to_excel(tmp_path / "spend.xlsx", index=False)
    report = ingest("spend", tmp_path / "spend.xlsx", warehouse=wh)
    assert (report.accepted, report.format) == (2, "xlsx")
    df.assign(date=pd.to_datetime(df.date) + pd.Timedelta(days=7)).to_parquet(tmp_path / "s.parquet")
    report = ingest("spend", tmp_path / "s.parquet", warehouse=wh)
    assert (report.accepted, report.format) == (2, "parquet")
    assert set(wh.table("marketing_spend").cost_type.to_pandas()) == {"media", "sales_team"}


def test_dataframe_input(wh):
    df = pd.DataFrame({"customer_id": ["a", "b", None], "created_at": pd.to_datetime(
        ["2024-01-01", "2024-01-02", "2024-01-03"]), "birth_year": [1980, 1990, 2000]})
    report = ingest("customers", df, warehouse=wh)
    assert (report.accepted, report.quarantined) == (2, 1)
    assert report.source == "<dataframe>"


# -- whole-file errors: a clear message and nothing written --------------------------------
def _nothing_written(wh):
    assert wh.count("orders") == 0 and wh.count("quarantine") == 0 and wh.count("ingest_batches") == 0


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"just one line of prose without any delimiter\nand another\n", "not a table"),
    ],
)
def test_not_a_table(wh, tmp_path, content, needle):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(BadFile, match=needle) as info:
        ingest("orders", path, warehouse=wh)
    assert str(path) in str(info.value)
    _nothing_written(wh)


def test_missing_required_column_names_file_and_column(wh, tmp_path):
    path = write(tmp_path, "o.csv", "order_id,ts,quantity\nA,2024-01-01,1\n")
    with pytest.raises(BadFile) as info:
        ingest("orders", path, warehouse=wh)
    msg = str(info.value)
    assert str(path) in msg and "customer_id" in msg and "--mapping" in msg
    _nothing_written(wh)


def test_missing_file(wh, tmp_path):
    with pytest.raises(BadFile, match="no such file"):
        ingest("orders", tmp_path / "nope.csv", warehouse=wh)


def test_wrong_preset(wh, tmp_path):
    with pytest.raises(BadFile, match="preset 'cdnow' is for orders"):
        ingest("products", write(tmp_path, "p.csv", "sku\nA\n"), preset="cdnow", warehouse=wh)
    with pytest.raises(BadFile, match="CDNOW"):
        ingest("orders", write(tmp_path, "o.csv", HEADER + GOOD), preset="cdnow", warehouse=wh)
    retail_like = write(tmp_path, "r.csv", "a,b\n1,2\n")
    with pytest.raises(BadFile, match="InvoiceNo|order_id"):
        ingest("orders", retail_like, preset="online-retail", warehouse=wh)
    _nothing_written(wh)


def test_unknown_kind_and_preset_and_bad_mapping(wh, tmp_path):
    path = write(tmp_path, "o.csv", HEADER + GOOD)
    with pytest.raises(UnknownTable, match="orders"):
        ingest("invoices", path, warehouse=wh)
    with pytest.raises(BadMapping, match="known presets"):
        ingest("orders", path, preset="shopify", warehouse=wh)
    bad = write(tmp_path, "m.yaml", "columns:\n  order_id: order_number\n")
    with pytest.raises(BadMapping, match="order_number"):
        ingest("orders", path, mapping=bad, warehouse=wh)
    typo = write(tmp_path, "t.yaml", "colums: {}\n")
    with pytest.raises(BadMapping, match="colums"):
        ingest("orders", path, mapping=typo, warehouse=wh)
    _nothing_written(wh)
