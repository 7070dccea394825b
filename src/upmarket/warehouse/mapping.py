"""From a user's headers to canonical columns: mapping files, header synonyms and presets.

A mapping file (YAML) says how one export maps onto a canonical table::

    table: orders                 # optional: the kind given on the command line wins
    encoding: gbk                 # optional: detected when absent
    delimiter: ","                # optional: sniffed when absent
    columns:                      # source header -> canonical column
      订单号: order_id
      客户编号: customer_id
      下单时间: ts
      地区: customers.country     # an attribute of another table, filled for new keys
    date_format: "%Y/%m/%d %H:%M" # optional: several formats are recognised without it
    dayfirst: false               # how to read 03/04/2024 when no format is given
    timezone: Asia/Shanghai       # local times are converted to UTC
    currency: CNY                 # default for rows without a currency
    values:                       # source values -> canonical values, per column
      status: {已支付: paid, 已取消: cancelled, 已退货: returned}
    defaults:                     # a constant for a column the file lacks
      channel: offline
    limits:                       # optional: sane bounds (defaults in validate.LIMITS)
      money: 1.0e9                #   |amount|, prices, costs; or name one column: amount: 5.0e8
      quantity: 1.0e6             #   |quantity| of one line
      id_length: 64               #   longest id, in characters
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import yaml

from upmarket.errors import BadMapping, UpmarketError
from upmarket.warehouse.schema import TABLES, Table, resolve

#: Headers recognised without a mapping file: common English spellings and the Chinese
#: headers of typical Chinese e-commerce and CRM exports.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "order_id": ("order", "orderno", "ordernumber", "invoice", "invoiceno", "订单号", "订单编号", "单号"),
    "line_no": ("line", "lineno", "linenumber", "行号"),
    "customer_id": ("customer", "customerid", "custid", "clientid", "userid", "memberid",
                    "客户编号", "客户id", "客户号", "会员编号", "会员id", "用户id"),
    "ts": ("timestamp", "time", "datetime", "date", "orderdate", "invoicedate", "eventtime",
           "下单时间", "订单时间", "时间", "日期", "交易时间"),
    "sku": ("stockcode", "productid", "productcode", "itemid", "商品编码", "商品编号", "商品id", "货号"),
    "quantity": ("qty", "units", "数量", "购买数量"),
    "unit_price": ("price", "unitprice", "单价", "价格"),
    "amount": ("total", "revenue", "value", "sales", "金额", "总金额", "实付金额", "订单金额"),
    "discount": ("优惠", "优惠金额", "折扣金额"),
    "channel": ("渠道", "来源渠道"),
    "status": ("orderstatus", "状态", "订单状态"),
    "currency": ("币种", "货币"),
    "name": ("productname", "description", "名称", "商品名称", "姓名"),
    "category": ("类目", "品类", "分类"),
    "price": ("售价",),
    "country": ("国家",),
    "nps_score": ("nps", "推荐意愿", "nps得分"),
    "text": ("comment", "comments", "feedback", "评价", "反馈", "内容"),
    "cost_type": ("成本类型", "费用类型"),
    "cost": ("spend", "费用", "花费", "成本"),
    # an existing membership programme's members and points
    "joined_at": ("joined", "joindate", "joineddate", "membersince", "入会日期",
                  "入会时间"),
    "level": ("memberlevel", "tier", "会员等级", "等级"),
    "opening_balance": ("balance", "openingpoints", "期初积分", "积分余额"),
    "points": ("积分", "积分数"),
    "kind": ("积分类型", "变动类型"),
    "reference": ("ref", "redemptionid", "流水号", "单据号"),
}


#: A mapping file is a few dozen lines; anything far larger is not one.
MAX_MAPPING_BYTES = 1 << 20
TIMEZONE_EXAMPLES = "Asia/Shanghai, Asia/Hong_Kong, Europe/London, America/New_York, UTC"


def normalise(header: str) -> str:
    return re.sub(r"[\s_\-./()（）:]+", "", str(header)).lower()


@dataclass
class Mapping:
    columns: dict[str, str] = field(default_factory=dict)
    table: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    date_format: str | None = None
    dayfirst: bool = False
    timezone: str | None = None
    currency: str | None = None
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    defaults: dict[str, object] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    source: str = "(built in)"

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        """Read and check a mapping file; every problem names the key and the bad value."""
        path = str(path)
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_MAPPING_BYTES + 1)
        except FileNotFoundError:
            raise BadMapping("err.map.not_found", path=path) from None
        except IsADirectoryError:
            raise BadMapping("err.map.directory", path=path) from None
        except OSError as exc:
            raise BadMapping("err.map.unreadable", path=path, reason=exc.strerror) from None
        if len(raw) > MAX_MAPPING_BYTES:
            raise BadMapping("err.map.large", path=path, kib=MAX_MAPPING_BYTES // 1024)
        try:
            doc = yaml.safe_load(raw.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BadMapping("err.map.yaml", path=path, reason=exc) from None
        except RecursionError:
            raise BadMapping("err.map.deep", path=path) from None
        if not isinstance(doc, dict):
            raise BadMapping("err.map.not_dict", path=path, kind=_kind(doc))
        known = [f for f in cls.__dataclass_fields__ if f != "source"]
        unknown = [k for k in doc if k not in known]
        if unknown:
            raise BadMapping("err.map.unknown_keys", path=path,
                             keys=", ".join(sorted(map(repr, map(str, unknown)))),
                             allowed=", ".join(sorted(known)))
        limits = doc.get("limits") or {}
        if not isinstance(limits, dict):
            raise BadMapping(f"{path}: 'limits' must map money, quantity, id_length or a "
                             "column name to a positive number")
        for name, bound in limits.items():
            try:
                ok = float(bound) > 0 and np.isfinite(float(bound))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise BadMapping(f"{path}: limits.{name} must be a positive number, got {bound!r}")
        return cls(
            columns=_str_dict(path, "columns", doc.get("columns"),
                              "map source headers to canonical columns"),
            table=_table(path, doc.get("table")),
            encoding=_encoding(path, doc.get("encoding")),
            delimiter=_delimiter(path, doc.get("delimiter")),
            date_format=_date_format(path, doc.get("date_format")),
            dayfirst=_bool(path, "dayfirst", doc.get("dayfirst", False)),
            timezone=_timezone(path, doc.get("timezone")),
            currency=_currency(path, doc.get("currency")),
            values=_values(path, doc.get("values")),
            defaults=_defaults(path, doc.get("defaults")),
            limits={str(k): float(v) for k, v in limits.items()},
            source=path,
        )

    def check_targets(self, table: Table) -> None:
        """Every mapped target names a column of `table` or `other_table.column`."""
        for src, target in self.columns.items():
            if "." in target:
                other, col = target.split(".", 1)
                if other not in TABLES or col not in TABLES[other].column_names:
                    raise BadMapping("err.map.unknown_target", path=self.source, src=src,
                                     target=target)
            elif target not in table.column_names:
                raise BadMapping("err.map.not_a_column", path=self.source, src=src, target=target,
                                 kind=table.name, columns=", ".join(table.column_names))

    def resolve_headers(self, headers: list[str], table: Table) -> dict[str, str]:
        """source header → canonical column: explicit entries first, then exact canonical
        names, then synonyms. Unmatched headers are ignored (reported by the caller)."""
        self.check_targets(table)
        out: dict[str, str] = {}
        taken: set[str] = set()
        by_norm = {normalise(h): h for h in headers}
        for src, target in self.columns.items():
            if src in headers:
                out[src] = target
            elif normalise(src) in by_norm:
                out[by_norm[normalise(src)]] = target
            taken.add(target)
        for h in headers:
            if h in out:
                continue
            n = normalise(h)
            for col in table.column_names:
                if col in taken:
                    continue
                if n == normalise(col) or n in {normalise(s) for s in SYNONYMS.get(col, ())}:
                    out[h] = col
                    taken.add(col)
                    break
        return out


# -- checks of Mapping.load: each names the key and the bad value ----------------------------
def _kind(value: object) -> str:
    if value is None:
        return "an empty document"
    return {list: "a list", str: "a single text", int: "a number", float: "a number",
            bool: "true/false"}.get(type(value), f"a {type(value).__name__}")


def _text(path: str, key: str, value: object, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadMapping(f"{path}: {key}: {value!r} — {key} must be {what}")
    return value.strip()


def _str_dict(path: str, key: str, value: object, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMapping(f"{path}: {key} must {what}, not {_kind(value)}")
    out = {}
    for k, v in value.items():
        if k is None or isinstance(k, (dict, list)) or not str(k).strip():
            raise BadMapping(f"{path}: {key} has an empty or invalid header {k!r}")
        if not isinstance(v, str) or not v.strip():
            raise BadMapping(f"{path}: {key}: {{{k}: {v!r}}} — give the canonical column "
                             "name as text (e.g. order_id)")
        out[str(k)] = v.strip()
    return out


def _table(path: str, value: object) -> str | None:
    value = _text(path, "table", value, "a table name such as orders")
    if value is None:
        return None
    try:
        return resolve(value).name
    except UpmarketError as exc:
        raise BadMapping(f"{path}: table: {value!r} — {exc}") from None


def _encoding(path: str, value: object) -> str | None:
    value = _text(path, "encoding", value, "a text encoding such as utf-8, gbk or gb18030")
    if value is None:
        return None
    from upmarket.warehouse.readers import check_codec

    try:
        return check_codec(value, f"{path}: encoding")
    except UpmarketError as exc:
        raise BadMapping(str(exc)) from None


def _delimiter(path: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 1 or value in "\r\n\"":
        raise BadMapping(f"{path}: delimiter: {value!r} — the delimiter is one character "
                         "(\",\", \";\", \"|\" or \"\\t\" for tab), not a quote or a line break")
    return value


def _date_format(path: str, value: object) -> str | None:
    value = _text(path, "date_format", value, 'a strftime pattern such as "%Y/%m/%d %H:%M"')
    if value is None:
        return None
    if not re.search(r"%[A-Za-z]", value):
        raise BadMapping("err.map.date_format", path=path, value=value)
    import pandas as pd

    try:
        pd.to_datetime(pd.Series(["2024-01-02"]), format=value, errors="coerce")
    except Exception as exc:  # pandas refuses the pattern itself (bad or repeated directive)
        raise BadMapping(f"{path}: date_format: {value!r} is not a usable pattern: {exc}") \
            from None
    return value


def _bool(path: str, key: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise BadMapping("err.map.flag", path=path, key=key, value=value)
    return value


def _timezone(path: str, value: object) -> str | None:
    value = _text(path, "timezone", value, f"a time zone name such as {TIMEZONE_EXAMPLES}")
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise BadMapping("err.map.timezone", path=path, value=value,
                         examples=TIMEZONE_EXAMPLES) from None
    return value


def _currency(path: str, value: object) -> str | None:
    value = _text(path, "currency", value, "a three-letter ISO 4217 code such as CNY")
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z]{3}", value):
        raise BadMapping("err.map.currency", path=path, value=value)
    return value.upper()


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, date))


def _values(path: str, value: object) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMapping(f"{path}: 'values' must map a column to a dictionary of value → value, "
                         f"not {_kind(value)}")
    out = {}
    for col, table in value.items():
        if not isinstance(table, dict):
            raise BadMapping(f"{path}: values: {{{col}: {table!r}}} — give a dictionary of "
                             "source value → canonical value, e.g. {已支付: paid}")
        bad = [(a, b) for a, b in table.items() if not (_scalar(a) and _scalar(b))]
        if bad:
            raise BadMapping(f"{path}: values: {{{col}: ...}} maps {bad[0][0]!r} to "
                             f"{bad[0][1]!r}; both sides must be single values")
        out[str(col)] = {str(a): str(b) for a, b in table.items()}
    return out


def _defaults(path: str, value: object) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadMapping(f"{path}: 'defaults' must map a column to a constant, not {_kind(value)}")
    for col, v in value.items():
        if not _scalar(v):
            raise BadMapping(f"{path}: defaults: {{{col}: {v!r}}} — a default is a single "
                             "value (text, number, date or true/false)")
    return {str(k): v for k, v in value.items()}
