"""Mapping files: every bad key or value is refused with a message naming both."""

from __future__ import annotations

import pytest

from upmarket.errors import BadMapping
from upmarket.warehouse.mapping import Mapping
from upmarket.warehouse.presets import PRESETS


def load(tmp_path, text):
    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    return Mapping.load(path)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("timezone: Mars/Base\n", ["timezone", "Mars/Base", "Asia/Shanghai"]),
        ("timezone: 8\n", ["timezone", "8"]),
        ("encoding: rot13\n", ["rot13", "not a text encoding"]),
        ("encoding: klingon\n", ["klingon", "unknown text encoding"]),
        ("encoding: utf-16\n", ["utf-16", "not ASCII-compatible"]),
        ("date_format: 5\n", ["date_format", "5"]),
        ("date_format: Y-m-d\n", ["date_format", "Y-m-d", "%-directive"]),
        ("date_format: '%Y %Y'\n", ["date_format", "%Y %Y", "not a usable pattern"]),
        ("date_format: '%Q'\n", ["date_format", "%Q"]),
        ("delimiter: ';;'\n", ["delimiter", "';;'", "one character"]),
        ("delimiter: '\"'\n", ["delimiter", "quote"]),
        ("dayfirst: sometimes\n", ["dayfirst", "sometimes", "true or false"]),
        ("currency: yuan\n", ["currency", "yuan", "CNY"]),
        ("table: widgets\n", ["table", "widgets", "orders"]),
        ("columns: [order_id]\n", ["columns", "a list"]),
        ("columns: {订单号: }\n", ["columns", "订单号", "None"]),
        ("values: {status: paid}\n", ["values", "status", "paid"]),
        ("values: {status: {a: [1, 2]}}\n", ["values", "status", "[1, 2]"]),
        ("defaults: {channel: {a: b}}\n", ["defaults", "channel"]),
        ("colums: {}\n", ["colums", "allowed", "columns", "timezone"]),
        ("- a\n- b\n", ["YAML dictionary", "a list"]),
        ("", ["YAML dictionary", "empty"]),
        ("columns: {a: [\n", ["not valid UTF-8 YAML"]),
    ],
)
def test_bad_mapping_names_key_and_value(tmp_path, text, needles):
    with pytest.raises(BadMapping) as info:
        load(tmp_path, text)
    msg = str(info.value)
    assert str(tmp_path / "m.yaml") in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_full_mapping_is_accepted_and_normalised(tmp_path):
    m = load(tmp_path, """\
table: spend
encoding: GBK
delimiter: "\\t"
columns: {日期: date, 渠道: channel, 2024: cost}
date_format: "%Y/%m/%d"
dayfirst: true
timezone: Asia/Shanghai
currency: cny
values: {channel: {微信: wechat, 1: one}}
defaults: {cost_type: media, campaign: 2024-01-01}
""")
    assert m.table == "marketing_spend" and m.encoding == "GBK" and m.delimiter == "\t"
    assert m.columns == {"日期": "date", "渠道": "channel", "2024": "cost"}
    assert (m.date_format, m.dayfirst, m.timezone, m.currency) == \
        ("%Y/%m/%d", True, "Asia/Shanghai", "CNY")
    assert m.values == {"channel": {"微信": "wechat", "1": "one"}}


def test_not_a_file_and_too_big(tmp_path):
    with pytest.raises(BadMapping, match="no such mapping file"):
        Mapping.load(tmp_path / "absent.yaml")
    with pytest.raises(BadMapping, match="is a directory"):
        Mapping.load(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("columns:\n" + "".join(f"  h{i}: order_id\n" for i in range(100_000)))
    with pytest.raises(BadMapping, match="over 1024 KiB"):
        Mapping.load(big)


def test_presets_mappings_pass_the_same_checks(tmp_path):
    import yaml

    for preset in PRESETS.values():
        m = preset.mapping
        doc = {k: v for k, v in vars(m).items() if k != "source" and v not in (None, {}, False)}
        again = load(tmp_path, yaml.safe_dump(doc, allow_unicode=True))
        assert again.columns == m.columns and again.currency == m.currency
