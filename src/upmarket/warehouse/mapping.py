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
from pathlib import Path

import numpy as np
import yaml

from upmarket.errors import BadMapping
from upmarket.warehouse.schema import TABLES, Table

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
}


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
        path = str(path)
        try:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh)
        except FileNotFoundError:
            raise BadMapping(f"{path}: no such mapping file") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise BadMapping(f"{path}: not valid UTF-8 YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise BadMapping(f"{path}: a mapping file is a YAML dictionary with a `columns:` section")
        known = {f for f in cls.__dataclass_fields__ if f != "source"}
        unknown = set(doc) - known
        if unknown:
            raise BadMapping(
                f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        columns = doc.get("columns") or {}
        if not isinstance(columns, dict):
            raise BadMapping(f"{path}: `columns` must map source headers to canonical columns")
        values = doc.get("values") or {}
        if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
            raise BadMapping(f"{path}: `values` must map a column to a dictionary of value → value")
        limits = doc.get("limits") or {}
        if not isinstance(limits, dict):
            raise BadMapping(f"{path}: `limits` must map money, quantity, id_length or a "
                             "column name to a positive number")
        for name, bound in limits.items():
            try:
                ok = float(bound) > 0 and np.isfinite(float(bound))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise BadMapping(f"{path}: limits.{name} must be a positive number, got {bound!r}")
        return cls(
            columns={str(k): str(v) for k, v in columns.items()},
            table=doc.get("table"),
            encoding=doc.get("encoding"),
            delimiter=doc.get("delimiter"),
            date_format=doc.get("date_format"),
            dayfirst=bool(doc.get("dayfirst", False)),
            timezone=doc.get("timezone"),
            currency=doc.get("currency"),
            values={k: {str(a): str(b) for a, b in v.items()} for k, v in values.items()},
            defaults=dict(doc.get("defaults") or {}),
            limits={str(k): float(v) for k, v in limits.items()},
            source=path,
        )

    def check_targets(self, table: Table) -> None:
        """Every mapped target names a column of `table` or `other_table.column`."""
        for src, target in self.columns.items():
            if "." in target:
                other, col = target.split(".", 1)
                if other not in TABLES or col not in TABLES[other].column_names:
                    raise BadMapping(f"{self.source}: {src!r} maps to unknown column {target!r}")
            elif target not in table.column_names:
                raise BadMapping(
                    f"{self.source}: {src!r} maps to {target!r}, which is not a column of "
                    f"{table.name} ({', '.join(table.column_names)})"
                )

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
