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
    # value tiers and service levels (strategy.tiers, seed 003)
    "tier.diamond": {"en": "Diamond", "zh-CN": "钻石客户"},
    "tier.core": {"en": "Core", "zh-CN": "核心客户"},
    "tier.potential": {"en": "Potential", "zh-CN": "潜力客户"},
    "tier.basic": {"en": "Basic", "zh-CN": "基础客户"},
    "service.diamond": {"en": "fully customised service", "zh-CN": "完全定制化服务"},
    "service.core": {"en": "premium standard, partly customised", "zh-CN": "高级标准服务＋部分定制"},
    "service.potential": {"en": "quality standard service", "zh-CN": "优质标准服务"},
    "service.basic": {"en": "basic standard service", "zh-CN": "基础标准服务"},
    "resource.diamond": {"en": "dedicated team", "zh-CN": "专属服务团队"},
    "resource.core": {"en": "dedicated account manager", "zh-CN": "专属客户经理"},
    "resource.potential": {"en": "shared account manager", "zh-CN": "共享客户经理"},
    "resource.basic": {"en": "service centre", "zh-CN": "客服中心"},
    # RFM segments (strategy.segments)
    "segment.champions": {"en": "Champions", "zh-CN": "冠军客户"},
    "segment.loyal": {"en": "Loyal", "zh-CN": "忠诚客户"},
    "segment.potential_loyalist": {"en": "Potential loyalist", "zh-CN": "潜在忠诚客户"},
    "segment.new": {"en": "New", "zh-CN": "新客户"},
    "segment.promising": {"en": "Promising", "zh-CN": "有潜力客户"},
    "segment.need_attention": {"en": "Need attention", "zh-CN": "需要关注客户"},
    "segment.about_to_sleep": {"en": "About to sleep", "zh-CN": "即将沉睡客户"},
    "segment.at_risk": {"en": "At risk", "zh-CN": "流失风险客户"},
    "segment.cant_lose": {"en": "Can't lose", "zh-CN": "不能失去的客户"},
    "segment.hibernating": {"en": "Hibernating", "zh-CN": "沉睡客户"},
    "segment.lost": {"en": "Lost", "zh-CN": "已流失客户"},
}


def current_lang(lang: str | None = None) -> str:
    lang = (lang or os.environ.get("UPMARKET_LANG") or "en").strip()
    if lang.lower() in ("zh", "zh-cn", "zh_cn", "cn"):
        return "zh-CN"
    return "en"


def label(key: str, lang: str | None = None, **fmt) -> str:
    text = LABELS[key][current_lang(lang)]
    return text.format(**fmt) if fmt else text
