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
    # run summary (cli run / demo)
    "col.clv_share": {"en": "share of CLV", "zh-CN": "预测价值占比"},
    "col.revenue_share": {"en": "share of past revenue", "zh-CN": "历史收入占比"},
    "col.response": {"en": "response", "zh-CN": "响应时限"},
    "col.kpi": {"en": "KPI", "zh-CN": "指标"},
    "col.this_base": {"en": "this base", "zh-CN": "本客户群"},
    "col.benchmark": {"en": "benchmark", "zh-CN": "基准"},
    "kpi.premium_retention": {"en": "premium-customer retention", "zh-CN": "高端客户留存率"},
    "kpi.existing_customer_revenue_share": {"en": "revenue from existing customers",
                                            "zh-CN": "老客户收入占比"},
    "kpi.diamond_revenue_share": {"en": "Diamond share of revenue", "zh-CN": "钻石客户收入占比"},
    "churn_evaluation": {
        "en": "Churn model on the {horizon_days}-day holdout: AUC {auc:.3f} vs "
              "{auc_recency_baseline:.3f} for the recency baseline; top-decile lift "
              "{lift_top_decile:.2f} (baseline {lift_top_decile_recency_baseline:.2f}); "
              "calibration error {calibration_error:.3f}.",
        "zh-CN": "流失模型（{horizon_days}天留出期）：AUC {auc:.3f}，近度基线 "
                 "{auc_recency_baseline:.3f}；前10%提升度 {lift_top_decile:.2f}（基线 "
                 "{lift_top_decile_recency_baseline:.2f}）；校准误差 {calibration_error:.3f}。"},
    "seed_cltv": {
        "en": "Seed-000 CLTV for the average customer: {cltv_seed000_revenue:,.0f} revenue "
              "(order value {average_order_value:,.0f} × {purchases_per_year:.2f}/year × "
              "{lifespan_years:.1f} years × retention {retention_coefficient:.0%}); the models' "
              "mean 12-month CLV: {model_mean_clv_12m_margin:,.0f} margin.",
        "zh-CN": "种子公式 CLTV（平均客户）：收入 {cltv_seed000_revenue:,.0f}（客单价 "
                 "{average_order_value:,.0f} × 每年 {purchases_per_year:.2f} 次 × "
                 "{lifespan_years:.1f} 年 × 留存 {retention_coefficient:.0%}）；模型预测的 12 个月"
                 "平均 CLV：利润 {model_mean_clv_12m_margin:,.0f}。"},
    "premium_evaluation": {
        "en": "Premium propensity ({horizon_days}-day out-of-time test): AUC {auc:.3f} vs "
              "{auc_baseline:.3f} for the baseline; top-decile lift {lift:.2f} (baseline "
              "{lift_baseline:.2f}). Premium penetration {penetration:.0%}.",
        "zh-CN": "高端购买倾向（{horizon_days}天跨期检验）：AUC {auc:.3f}，基线 {auc_baseline:.3f}；"
                 "前10%提升度 {lift:.2f}（基线 {lift_baseline:.2f}）。高端渗透率 {penetration:.0%}。"},
    "clv_to_cac": {"en": "CLV/CAC by acquisition channel (healthy above 3): ",
                   "zh-CN": "各获客渠道 CLV/CAC（高于 3 为健康）："},
    # attribution (cli: attribution)
    "attribution.title": {
        "en": "Attribution of {conversions:,.0f} conversions ({value:,.2f} value) over {paths:,} paths",
        "zh-CN": "{paths:,} 条路径上 {conversions:,.0f} 次转化（价值 {value:,.2f}）的归因"},
    "attribution.title_all": {
        "en": "Attributed conversions by model: {conversions:,.0f} conversions ({value:,.2f} "
              "value) over {paths:,} paths",
        "zh-CN": "各模型归因的转化数：{paths:,} 条路径上 {conversions:,.0f} 次转化（价值 {value:,.2f}）"},
    "attribution.channel": {"en": "channel", "zh-CN": "渠道"},
    "attribution.conversions": {"en": "conversions", "zh-CN": "转化数"},
    "attribution.value": {"en": "value", "zh-CN": "价值"},
    "attribution.share": {"en": "share", "zh-CN": "占比"},
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
    # fields of a customer's results (cli: customers show)
    "field.customer_id": {"en": "customer", "zh-CN": "客户编号"},
    "field.tier": {"en": "value tier", "zh-CN": "价值等级"},
    "field.service": {"en": "service level", "zh-CN": "服务标准"},
    "field.response_hours": {"en": "response within (hours)", "zh-CN": "响应时限（小时）"},
    "field.tier_change": {"en": "tier change since last run", "zh-CN": "较上次运行的等级变化"},
    "field.distance_to_next_tier": {"en": "more expected margin to reach the next tier",
                                    "zh-CN": "距下一等级还差的预期利润"},
    "field.clv": {"en": "predicted lifetime value (12 months, margin)",
                  "zh-CN": "预测客户终身价值（12个月，利润）"},
    "field.p_alive": {"en": "probability still active", "zh-CN": "仍活跃概率"},
    "field.expected_purchases_12m": {"en": "expected purchases, next 12 months",
                                     "zh-CN": "未来12个月预期购买次数"},
    "field.expected_order_value": {"en": "expected order value", "zh-CN": "预期客单价"},
    "field.rfm_segment": {"en": "RFM segment", "zh-CN": "RFM 分群"},
    "field.rfm_cell": {"en": "RFM scores (R F M)", "zh-CN": "RFM 得分（R F M）"},
    "field.lifecycle_stage": {"en": "lifecycle stage", "zh-CN": "生命周期阶段"},
    "field.cluster": {"en": "behaviour cluster", "zh-CN": "行为聚类"},
    "field.premium_propensity": {"en": "chance of a premium purchase (next 180 days)",
                                 "zh-CN": "未来180天购买高端产品的概率"},
    "field.current_tier": {"en": "highest price tier bought (main category)",
                           "zh-CN": "主品类已购最高价位"},
    "field.peer_upgrade_rate": {"en": "similar customers who upgraded within 180 days",
                                "zh-CN": "相似客户180天内升级比例"},
    "price.basic": {"en": "basic", "zh-CN": "基础款"},
    "price.mid": {"en": "mid-range", "zh-CN": "中端"},
    "price.premium": {"en": "premium", "zh-CN": "高端"},
    "field.churn_risk": {"en": "churn risk (next 90 days)", "zh-CN": "流失风险（未来90天）"},
    "field.churn_band": {"en": "risk band", "zh-CN": "风险等级"},
    "field.churn_signals": {"en": "signals behind the risk", "zh-CN": "风险信号"},
    "field.orders": {"en": "orders", "zh-CN": "订单数"},
    "field.net_revenue": {"en": "net revenue", "zh-CN": "净收入"},
    "field.first_purchase": {"en": "first purchase", "zh-CN": "首次购买"},
    "field.last_purchase": {"en": "last purchase", "zh-CN": "最近购买"},
    "field.recency_days": {"en": "days since last purchase", "zh-CN": "距最近购买天数"},
    "field.discount_share": {"en": "discount dependency", "zh-CN": "折扣依赖度"},
    "field.premium_share": {"en": "premium share of spend", "zh-CN": "高端产品消费占比"},
    "field.latest_nps": {"en": "latest NPS answer", "zh-CN": "最近一次NPS评分"},
    "field.country": {"en": "country", "zh-CN": "国家"},
    "field.acquisition_channel": {"en": "acquired through", "zh-CN": "获客渠道"},
    "field.created_at": {"en": "customer since", "zh-CN": "注册时间"},
    # churn signals: the model's features, as a CRM manager reads them
    "signal.p_alive": {"en": "low probability of being active", "zh-CN": "活跃概率低"},
    "signal.recency_days": {"en": "long since last purchase", "zh-CN": "距上次购买时间长"},
    "signal.frequency": {"en": "few repeat purchases", "zh-CN": "复购次数少"},
    "signal.monetary": {"en": "order value", "zh-CN": "客单价"},
    "signal.T": {"en": "customer age", "zh-CN": "客户年龄（首购至今）"},
    "signal.overdue": {"en": "overdue against own buying rhythm", "zh-CN": "超过自身购买周期"},
    "signal.orders_recent": {"en": "few orders lately", "zh-CN": "近期订单少"},
    "signal.orders_previous": {"en": "orders in the previous quarter", "zh-CN": "上一季度订单"},
    "signal.trend": {"en": "order trend", "zh-CN": "订单趋势"},
    "signal.discount_share": {"en": "buys mainly on discount", "zh-CN": "依赖折扣购买"},
    "signal.promo_share": {"en": "buys mainly in promotions", "zh-CN": "依赖促销购买"},
    "signal.categories": {"en": "narrow category range", "zh-CN": "购买品类少"},
    "signal.premium_share": {"en": "premium share of spend", "zh-CN": "高端消费占比"},
    "signal.tenure_days": {"en": "length of relationship", "zh-CN": "合作时长"},
    "signal.complaints_180d": {"en": "recent complaints", "zh-CN": "近期投诉"},
    # churn bands and lifecycle stages
    "band.low": {"en": "low", "zh-CN": "低"},
    "band.medium": {"en": "medium", "zh-CN": "中"},
    "band.high": {"en": "high", "zh-CN": "高"},
    "band.critical": {"en": "critical", "zh-CN": "极高"},
    "stage.awareness": {"en": "awareness", "zh-CN": "认知"},
    "stage.evaluation": {"en": "evaluation", "zh-CN": "评估"},
    "stage.first_purchase": {"en": "first purchase", "zh-CN": "首次购买"},
    "stage.retention": {"en": "retention", "zh-CN": "留存"},
    "stage.loyalty": {"en": "loyalty", "zh-CN": "忠诚"},
    "stage.advocacy": {"en": "advocacy", "zh-CN": "推荐"},
    "stage.lapsed": {"en": "lapsed", "zh-CN": "已流失"},
    "change.new": {"en": "new", "zh-CN": "新进入"},
    "change.promoted": {"en": "promoted", "zh-CN": "升级"},
    "change.demoted": {"en": "demoted", "zh-CN": "降级"},
    "change.same": {"en": "unchanged", "zh-CN": "不变"},
    # behaviour clusters (models.clusters)
    "cluster.drifting": {"en": "Drifting away", "zh-CN": "渐行渐远"},
    "cluster.high_value_regulars": {"en": "High-value regulars", "zh-CN": "高价值常客"},
    "cluster.premium_lovers": {"en": "Premium lovers", "zh-CN": "高端偏好"},
    "cluster.deal_seekers": {"en": "Deal seekers", "zh-CN": "优惠敏感"},
    "cluster.explorers": {"en": "Category explorers", "zh-CN": "多品类探索"},
    "cluster.big_baskets": {"en": "Big baskets", "zh-CN": "大额订单"},
    "cluster.frequent_buyers": {"en": "Frequent buyers", "zh-CN": "高频购买"},
    "cluster.warming_up": {"en": "Warming up", "zh-CN": "活跃度上升"},
    "cluster.newcomers": {"en": "Newcomers", "zh-CN": "新来客户"},
    "cluster.steady": {"en": "Steady", "zh-CN": "稳定客户"},
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


def value_label(kind: str, code: str, lang: str | None = None) -> str:
    """The label of a coded value (`tier`, `segment`, `stage`, `band`, `cluster`, `signal`,
    `change`); numbered repeats such as cluster `explorers_2` keep their number."""
    base, _, number = code.rpartition("_")
    if f"{kind}.{code}" in LABELS:
        return label(f"{kind}.{code}", lang)
    if number.isdigit() and f"{kind}.{base}" in LABELS:
        return f"{label(f'{kind}.{base}', lang)} {number}"
    return code
