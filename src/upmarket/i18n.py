"""Every user-visible label, in English and Simplified Chinese, in one table.

`label(key, lang)` looks a label up; a key missing from a language is a bug the tests catch
(`tests/test_i18n.py` checks both languages are complete).
"""

from __future__ import annotations

import os

LANGS = ("en", "zh-CN")

LABELS: dict[str, dict[str, str]] = {
    # ingestion
    "rows_read": {"en": "rows read", "zh-CN": "读取行数"},
    "accepted": {"en": "accepted", "zh-CN": "已接收"},
    "quarantined": {"en": "quarantined", "zh-CN": "已隔离"},
    "duplicates_skipped": {"en": "duplicates skipped", "zh-CN": "重复跳过"},
    "reason": {"en": "reason", "zh-CN": "原因"},
    "rows": {"en": "rows", "zh-CN": "行数"},
    "row": {"en": "row", "zh-CN": "行号"},
    "field": {"en": "field", "zh-CN": "字段"},
    "added_to": {"en": "also added", "zh-CN": "同时新增"},
    "cancellations_linked": {"en": "cancellations linked to their order",
                             "zh-CN": "已关联原订单的取消"},
    "unmapped_columns": {"en": "columns not used", "zh-CN": "未使用的列"},
    "ingest_title": {"en": "Ingested {table} from {source}", "zh-CN": "已导入 {table}：{source}"},
    # runs
    "run_published": {"en": "Run {run_id} published (as of {as_of})",
                      "zh-CN": "运行 {run_id} 已发布（截至 {as_of}）"},
    "customers": {"en": "customers", "zh-CN": "客户数"},
    "net_revenue": {"en": "net revenue", "zh-CN": "净收入"},
    "where_results": {"en": "Results", "zh-CN": "结果位置"},
    "table": {"en": "table", "zh-CN": "数据表"},
}


def current_lang(lang: str | None = None) -> str:
    lang = (lang or os.environ.get("UPMARKET_LANG") or "en").strip()
    if lang.lower() in ("zh", "zh-cn", "zh_cn", "cn"):
        return "zh-CN"
    return "en"


def label(key: str, lang: str | None = None, **fmt) -> str:
    text = LABELS[key][current_lang(lang)]
    return text.format(**fmt) if fmt else text
