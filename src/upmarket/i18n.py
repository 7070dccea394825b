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
    "conflicts": {"en": "conflicts (same key, different content; quarantined)",
                  "zh-CN": "冲突（同一主键、内容不同；已隔离）"},
    "updated": {"en": "of which replaced a stored row", "zh-CN": "其中替换了已有记录"},
    "delete_preview": {"en": "would delete {rows} row(s) from {table} ({asked})",
                       "zh-CN": "将从 {table} 删除 {rows} 行（{asked}）"},
    "deleted": {"en": "deleted {rows} row(s) from {table} ({asked})",
                "zh-CN": "已从 {table} 删除 {rows} 行（{asked}）"},
    "suppressed": {"en": "suppressed (erased people)", "zh-CN": "已屏蔽（已删除的个人）"},
    # before the message of a mistake the command reports
    "error_prefix": {"en": "error: ", "zh-CN": "错误："},
    "reason": {"en": "reason", "zh-CN": "原因"},
    "rows": {"en": "rows", "zh-CN": "行数"},
    "row": {"en": "row", "zh-CN": "行号"},
    "field": {"en": "field", "zh-CN": "字段"},
    # `upmarket quarantine` and `upmarket status`
    "quarantine.source": {"en": "source", "zh-CN": "来源"},
    "quarantine.raw": {"en": "raw", "zh-CN": "原始内容"},
    "status.run": {"en": "run", "zh-CN": "运行"},
    "status.runs": {"en": "runs", "zh-CN": "运行记录"},
    "status.as_of": {"en": "as of", "zh-CN": "数据截至"},
    "status.state": {"en": "status", "zh-CN": "状态"},
    "status.finished": {"en": "finished", "zh-CN": "完成时间"},
    "run_state.published": {"en": "published", "zh-CN": "已发布"},
    "run_state.running": {"en": "running", "zh-CN": "运行中"},
    "run_state.failed": {"en": "failed", "zh-CN": "失败"},
    # `upmarket keys create|list`
    "key.made": {"en": "key {id} ({name}, scopes: {scopes}):",
                 "zh-CN": "密钥 {id}（{name}，权限：{scopes}）："},
    "key.shown_once": {"en": "this key is shown once; keep it in a secret store",
                       "zh-CN": "此密钥只显示这一次，请立即存入密钥管理系统"},
    "key.id": {"en": "id", "zh-CN": "编号"},
    "key.name": {"en": "name", "zh-CN": "名称"},
    "key.prefix": {"en": "prefix", "zh-CN": "前缀"},
    "key.scopes": {"en": "scopes", "zh-CN": "权限"},
    "key.created": {"en": "created", "zh-CN": "创建时间"},
    "key.revoked": {"en": "revoked", "zh-CN": "撤销时间"},
    "scope.collect": {"en": "collect", "zh-CN": "采集"},
    "scope.read": {"en": "read", "zh-CN": "读取"},
    "scope.export": {"en": "export", "zh-CN": "导出"},
    "scope.admin": {"en": "admin", "zh-CN": "管理"},
    "added_to": {"en": "also added", "zh-CN": "同时新增"},
    "cancellations_linked": {"en": "cancellations linked to their order",
                             "zh-CN": "已关联原订单的取消"},
    # columns named in quarantine reasons (warehouse.validate.column_name)
    "column.ts": {"en": "ts", "zh-CN": "时间"},
    "column.customer_id": {"en": "customer_id", "zh-CN": "客户编号"},
    "column.order_id": {"en": "order_id", "zh-CN": "订单号"},
    "column.sku": {"en": "sku", "zh-CN": "商品编码"},
    "column.quantity": {"en": "quantity", "zh-CN": "数量"},
    "column.unit_price": {"en": "unit_price", "zh-CN": "单价"},
    "column.amount": {"en": "amount", "zh-CN": "金额"},
    "column.nps_score": {"en": "nps_score", "zh-CN": "NPS 评分"},
    "column.channel": {"en": "channel", "zh-CN": "渠道"},
    "column.status": {"en": "status", "zh-CN": "状态"},
    "column.price": {"en": "price", "zh-CN": "售价"},
    "column.cost": {"en": "cost", "zh-CN": "成本"},
    "quarantine.missing": {"en": "missing {col}", "zh-CN": "缺少{col}"},
    "quarantine.not_finite": {"en": "not finite in {col}", "zh-CN": "{col}不是有限数值"},
    "quarantine.not_number": {"en": "not a number in {col}", "zh-CN": "{col}不是数字"},
    "quarantine.not_whole": {"en": "not a whole number in {col}", "zh-CN": "{col}不是整数"},
    "quarantine.negative": {"en": "negative {col}", "zh-CN": "{col}为负数"},
    "quarantine.below_minimum": {"en": "below minimum {col}", "zh-CN": "{col}低于下限"},
    "quarantine.out_of_range": {"en": "out of range {col}", "zh-CN": "{col}超出范围"},
    "quarantine.beyond_bound": {"en": "beyond the sane bound of {col} (|value| > {bound})",
                                "zh-CN": "{col}超出合理范围（绝对值 > {bound}）"},
    "quarantine.bad_date": {"en": "unparseable date in {col}", "zh-CN": "{col}日期无法解析"},
    "quarantine.not_bool": {"en": "not true/false in {col}", "zh-CN": "{col}不是是/否值"},
    "quarantine.invalid": {"en": "invalid {col}", "zh-CN": "{col}取值无效"},
    "quarantine.too_long": {"en": "{col} longer than {n} characters",
                            "zh-CN": "{col}超过 {n} 个字符"},
    "quarantine.control_character": {"en": "control character in {col}",
                                     "zh-CN": "{col}含控制字符"},
    "quarantine.points_sign": {"en": "{col} not above 0 for earned, redeemed or expired",
                               "zh-CN": "获得、兑换或过期的{col}须大于 0"},
    "quarantine.points_zero": {"en": "{col} of 0 in an adjustment",
                               "zh-CN": "调整的{col}不能为 0"},
    "quarantine.see_rows": {"en": "See the rows with: upmarket quarantine --batch {batch}",
                            "zh-CN": "查看这些行：upmarket quarantine --batch {batch}"},
    "conflicts_hint": {"en": "To let the file's rows replace the stored ones: ingest it again "
                             "with --on-conflict update (or --replace).",
                       "zh-CN": "若要用文件中的行替换已存储的行：加 --on-conflict update（或 "
                                "--replace）重新导入。"},
    "unmapped_columns": {"en": "columns not used", "zh-CN": "未使用的列"},
    "ingest_title": {"en": "Ingested {table} from {source}", "zh-CN": "已导入 {table}：{source}"},
    # runs
    "run_published": {"en": "Run {run_id} published (as of {as_of})",
                      "zh-CN": "运行 {run_id} 已发布（截至 {as_of}）"},
    "run_policy": {"en": "Policy: {source} (digest {hash})",
                   "zh-CN": "业务策略：{source}（摘要 {hash}）"},
    "run_policy_defaults": {"en": "the defaults", "zh-CN": "默认值"},
    # the business policy file (cli config)
    "config.written": {"en": "Wrote {path}: every key with its default and what it means. "
                             "Edit it, then check it with `upmarket config validate`.",
                       "zh-CN": "已写入 {path}：每个键及其默认值和含义。编辑后可用 "
                                "`upmarket config validate` 检查。"},
    "config.valid": {"en": "{path} is valid; {n} value(s) differ from the defaults:",
                     "zh-CN": "{path} 有效；{n} 个值与默认值不同："},
    "config.defaults": {"en": "{path} is valid and holds the defaults.",
                        "zh-CN": "{path} 有效，内容与默认值相同。"},
    "config.none": {"en": "No policy file ({file} in the working directory, --config or "
                          "UPMARKET_CONFIG): the defaults apply. `upmarket config init` writes "
                          "one.",
                    "zh-CN": "没有业务策略文件（工作目录中的 {file}、--config 或 UPMARKET_CONFIG）："
                             "使用默认值。`upmarket config init` 可生成一个。"},
    "customers": {"en": "customers", "zh-CN": "客户数"},
    "net_revenue": {"en": "net revenue", "zh-CN": "净收入"},
    "run_label": {"en": "run {run_id}", "zh-CN": "运行 {run_id}"},
    # the demo's own account of what it made (cli: demo)
    "demo.generating": {"en": "generating and ingesting the world", "zh-CN": "正在生成并导入模拟数据"},
    "demo.ingested_table": {"en": "ingested {n} {table}", "zh-CN": "已导入 {table} {n} 行"},
    "ingest.progress": {"en": "ingesting {file}", "zh-CN": "正在导入 {file}"},
    "ingest.stage.reading": {"en": "reading", "zh-CN": "读取"},
    "ingest.stage.mapping": {"en": "mapping", "zh-CN": "映射列名"},
    "ingest.stage.validating": {"en": "validating", "zh-CN": "校验"},
    "ingest.stage.writing": {"en": "writing", "zh-CN": "写入"},
    "demo.running": {"en": "running the pipeline", "zh-CN": "正在运行分析流程"},
    "demo.ingested": {"en": "Synthetic world ingested", "zh-CN": "模拟数据已导入"},
    "demo.where": {"en": "Where everything is (finished in {seconds} s):",
                   "zh-CN": "全部结果位置（用时 {seconds} 秒）："},
    "demo.warehouse": {"en": "warehouse  {path}", "zh-CN": "数据仓库  {path}"},
    "demo.service": {"en": "service    {path}  (profiles, alerts, tasks, audit log)",
                     "zh-CN": "服务数据库  {path}（客户画像、告警、任务、审计日志）"},
    "demo.customers": {
        "en": "customers  {path}  (one row per customer who consents to marketing: "
              "pseudonymised id, tier, CLV, segment, churn risk, …; {n} left out for lack of "
              "consent)",
        "zh-CN": "客户清单  {path}（每位同意接收营销的客户一行：假名化编号、价值等级、CLV、细分、"
                 "流失风险等；{n} 位因未同意而未列入）"},
    "demo.report": {"en": "report     {path}  (the {period} assessment; open it in a browser)",
                    "zh-CN": "报告  {path}（{period} 评估；用浏览器打开）"},
    "demo.workbook": {"en": "workbook   {path}  (the same, styled for Excel)",
                      "zh-CN": "Excel 工作簿  {path}（同上，已排版）"},
    "demo.team": {"en": "team       {path}  (the account managers tasks go to; yours with "
                        "upmarket ingest account_managers)",
                  "zh-CN": "销售团队  {path}（任务分派给的客户经理；用 upmarket ingest "
                           "account_managers 导入你自己的）"},
    "demo.next": {"en": "Next, for example:", "zh-CN": "接下来可以试试："},
    "demo.then_open": {"en": "then open http://127.0.0.1:8000/dashboard and sign in with the "
                             "crm key",
                       "zh-CN": "然后打开 http://127.0.0.1:8000/dashboard，用上面创建的密钥登录"},
    "where_results_count": {"en": "Results: {url} ({n} tables)",
                            "zh-CN": "结果位置：{url}（{n} 张结果表）"},
    "churn_model_plain": {"en": "Churn: {model}", "zh-CN": "流失模型：{model}"},
    "where_results": {"en": "Results", "zh-CN": "结果位置"},
    "table": {"en": "table", "zh-CN": "数据表"},
    # pipeline stages as a run reports its progress (pipeline.STAGES)
    "stage.collected events": {"en": "collected events", "zh-CN": "采集的事件"},
    "stage.features and lifetime value": {"en": "features and lifetime value",
                                          "zh-CN": "客户特征与终身价值"},
    "stage.churn early warning": {"en": "churn early warning", "zh-CN": "流失预警"},
    "stage.segments, tiers and lifecycle": {"en": "segments, tiers and lifecycle",
                                            "zh-CN": "细分、价值分层与生命周期"},
    "stage.membership levels and points": {"en": "membership levels and points",
                                           "zh-CN": "会员等级与积分"},
    "stage.customer-base KPIs": {"en": "customer-base KPIs", "zh-CN": "客户群指标"},
    "stage.acquisition economics": {"en": "acquisition economics", "zh-CN": "获客经济性"},
    "stage.ROI per channel and campaign": {"en": "ROI per channel and campaign",
                                           "zh-CN": "各渠道与活动的投资回报"},
    "stage.premium ladder and propensity": {"en": "premium ladder and propensity",
                                            "zh-CN": "高端产品阶梯与购买倾向"},
    "stage.recommendations and next best actions": {
        "en": "recommendations and next best actions", "zh-CN": "推荐与下一步最佳行动"},
    "stage.budget and risk register": {"en": "budget and risk register",
                                       "zh-CN": "预算与风险登记"},
    "stage.experiments, cohorts, funnels and promotions": {
        "en": "experiments, cohorts, funnels and promotions",
        "zh-CN": "实验、同期群、漏斗与促销"},
    "stage.effect-index scorecard": {"en": "effect-index scorecard", "zh-CN": "效果指数评分卡"},
    # built-in names of common channels (data_labels; a labels file may rename any of them)
    "channel.search": {"en": "search", "zh-CN": "搜索"},
    "channel.social": {"en": "social", "zh-CN": "社交媒体"},
    "channel.email": {"en": "email", "zh-CN": "邮件"},
    "channel.wechat": {"en": "WeChat", "zh-CN": "微信"},
    "channel.douyin": {"en": "Douyin", "zh-CN": "抖音"},
    "channel.xiaohongshu": {"en": "Xiaohongshu", "zh-CN": "小红书"},
    "channel.offline": {"en": "offline", "zh-CN": "线下"},
    "channel.referral": {"en": "referral", "zh-CN": "推荐"},
    "channel.app_push": {"en": "app push", "zh-CN": "App 推送"},
    "channel.app": {"en": "app", "zh-CN": "App"},
    "channel.online": {"en": "online", "zh-CN": "线上"},
    "channel.sms": {"en": "SMS", "zh-CN": "短信"},
    "channel.phone": {"en": "phone", "zh-CN": "电话"},
    "channel.online_chat": {"en": "online chat", "zh-CN": "在线客服"},
    "channel.direct": {"en": "direct", "zh-CN": "直接访问"},
    "channel.weibo": {"en": "Weibo", "zh-CN": "微博"},
    "channel.display": {"en": "display ads", "zh-CN": "展示广告"},
    "channel.affiliate": {"en": "affiliate", "zh-CN": "联盟推广"},
    "channel.(none)": {"en": "(none)", "zh-CN": "（无）"},
    # customer groups and CLV levers (cli: segments list, whatif)
    "segments.title": {"en": "{by} groups, run {run_id}", "zh-CN": "按{by}分组（运行 {run_id}）"},
    "segments.by.rfm": {"en": "RFM segment", "zh-CN": "RFM 细分"},
    "segments.by.tier": {"en": "value tier", "zh-CN": "价值等级"},
    "segments.by.lifecycle": {"en": "lifecycle stage", "zh-CN": "生命周期阶段"},
    "segments.by.churn-band": {"en": "churn band", "zh-CN": "流失风险等级"},
    "segments.by.cluster": {"en": "behaviour cluster", "zh-CN": "行为聚类"},
    "segments.col.code": {"en": "code", "zh-CN": "代码"},
    "segments.col.name": {"en": "name", "zh-CN": "名称"},
    "segments.col.customers": {"en": "customers", "zh-CN": "客户数"},
    "segments.col.revenue_share": {"en": "revenue share", "zh-CN": "收入占比"},
    "segments.col.mean_clv": {"en": "mean CLV", "zh-CN": "平均 CLV"},
    "segments.col.mean_churn_risk": {"en": "mean churn risk", "zh-CN": "平均流失风险"},
    "whatif.title": {"en": "What if (run {run_id}, horizon {months} months)",
                     "zh-CN": "情景模拟（运行 {run_id}，预测期 {months} 个月）"},
    "whatif.col.tier": {"en": "tier", "zh-CN": "价值等级"},
    "whatif.col.base": {"en": "net CLV now", "zh-CN": "当前净 CLV"},
    "whatif.col.scenario": {"en": "net CLV with levers", "zh-CN": "调整后净 CLV"},
    "whatif.col.change": {"en": "change", "zh-CN": "变化"},
    "whatif.col.change_pct": {"en": "change %", "zh-CN": "变化 %"},
    "whatif.total": {"en": "total", "zh-CN": "合计"},
    # run summary (cli run / demo)
    "col.clv_share": {"en": "share of CLV", "zh-CN": "预测价值占比"},
    "col.revenue_share": {"en": "share of past revenue", "zh-CN": "历史收入占比"},
    "col.response": {"en": "response", "zh-CN": "响应时限"},
    "col.kpi": {"en": "KPI", "zh-CN": "指标"},
    "col.this_base": {"en": "this base", "zh-CN": "本客户群"},
    "col.benchmark": {"en": "industry benchmark", "zh-CN": "行业基准"},
    "kpi.premium_retention": {"en": "premium-customer retention", "zh-CN": "高端客户留存率"},
    "kpi.existing_customer_revenue_share": {"en": "revenue from existing customers",
                                            "zh-CN": "老客户收入占比"},
    "kpi.diamond_revenue_share": {"en": "Diamond share of revenue", "zh-CN": "钻石客户收入占比"},
    "churn_evaluation": {
        "en": "Churn on the {horizon_days}-day holdout: model AUC {auc:.3f} vs "
              "{auc_rfm_baseline:.3f} for the RFM baseline (recency alone "
              "{auc_recency_baseline:.3f}); top-decile lift {lift_top_decile:.2f} vs "
              "{lift_top_decile_rfm_baseline:.2f}; calibration error {calibration_error:.3f} vs "
              "{calibration_error_rfm_baseline:.3f}. {published}",
        "zh-CN": "流失（{horizon_days}天留出期）：模型 AUC {auc:.3f}，RFM 基线 "
                 "{auc_rfm_baseline:.3f}（仅近度 {auc_recency_baseline:.3f}）；前10%提升度 "
                 "{lift_top_decile:.2f}，基线 {lift_top_decile_rfm_baseline:.2f}；校准误差 "
                 "{calibration_error:.3f}，基线 {calibration_error_rfm_baseline:.3f}。{published}"},
    "churn_published.model": {"en": "Scores published: the model's.",
                              "zh-CN": "发布的评分：模型。"},
    "churn_published.rfm_baseline": {
        "en": "Scores published: the RFM baseline's, as the model did not beat it.",
        "zh-CN": "发布的评分：RFM 基线（模型未胜过基线）。"},
    "clv.mean": {"en": "CLV: predicted 12-month margin per customer (mean)",
                 "zh-CN": "CLV：每位客户未来12个月预测利润（均值）"},
    "clv.total": {"en": "CLV: predicted 12-month margin of all customers (total)",
                  "zh-CN": "CLV：全部客户未来12个月预测利润（合计）"},
    "textbook_cltv": {
        "en": "Textbook formula, for comparison: CLTV = order value × purchases a year × "
              "lifespan × retention = {average_order_value:,.0f} × {purchases_per_year:.2f} × "
              "{lifespan_years:.1f} years × {retention_coefficient:.0%} = {cltv_revenue:,.0f} of "
              "revenue per average customer over a whole lifetime. It is not the CLV above, "
              "which is the value model's forecast of each customer's margin over 12 months.",
        "zh-CN": "教科书公式（仅供对比）：CLTV = 客单价 × 年购买次数 × 生命周期 × 留存率 = "
                 "{average_order_value:,.0f} × {purchases_per_year:.2f} × {lifespan_years:.1f} 年 × "
                 "{retention_coefficient:.0%} = 平均每位客户整个生命周期的收入 {cltv_revenue:,.0f}。"
                 "它不是上面的 CLV：CLV 是价值模型对每位客户未来12个月利润的预测。"},
    "premium_evaluation": {
        "en": "Premium propensity ({horizon_days}-day out-of-time test): AUC {auc:.3f} vs "
              "{auc_baseline:.3f} for the baseline; top-decile lift {lift:.2f} (baseline "
              "{lift_baseline:.2f}). Premium penetration {penetration:.0%}.",
        "zh-CN": "高端购买倾向（{horizon_days}天跨期检验）：AUC {auc:.3f}，基线 {auc_baseline:.3f}；"
                 "前10%提升度 {lift:.2f}（基线 {lift_baseline:.2f}）。高端渗透率 {penetration:.0%}。"},
    "clv_to_cac": {"en": "CLV/CAC by acquisition channel (healthy above 3): ",
                   "zh-CN": "各获客渠道 CLV/CAC（高于 3 为健康）："},
    # value model fit diagnostics (models.btyd.diagnostics; cli run, customers show)
    "value_model.bgnbd": {"en": "BG/NBD", "zh-CN": "BG/NBD 模型"},
    "value_model.pnbd": {"en": "Pareto/NBD", "zh-CN": "Pareto/NBD 模型"},
    "value_model.mbgnbd": {"en": "MBG/NBD", "zh-CN": "MBG/NBD 模型"},
    "value_model.empirical": {"en": "empirical purchase rates (each customer's rate shrunk "
                                    "towards the average)",
                              "zh-CN": "经验购买率（每位客户的购买率向总体均值收缩）"},
    "value_model.gamma_gamma": {"en": "Gamma-Gamma", "zh-CN": "Gamma-Gamma 模型"},
    "value_model.empirical_spend": {"en": "empirical order value (each customer's mean shrunk "
                                          "towards the average)",
                                    "zh-CN": "经验客单价（每位客户的均值向总体均值收缩）"},
    "run_value_model": {"en": "Value model: purchases from {transactions}; order value from "
                              "{spend}.",
                        "zh-CN": "价值模型：购买次数来自{transactions}；客单价来自{spend}。"},
    "run_value_choice": {
        "en": "Chosen on the last {weeks:.0f} weeks of history (fitted before {start}): "
              "{chosen}, per-customer error {mae:.3f}, total purchases {error:+.1%} "
              "({others}).",
        "zh-CN": "依据最近 {weeks:.0f} 周历史选定（用 {start} 之前的数据拟合）：{chosen}，"
                 "每位客户误差 {mae:.3f}，总购买次数偏差 {error:+.1%}（{others}）。"},
    "run_value_choice_none": {
        "en": "No value model chosen on a holdout: {why}.",
        "zh-CN": "未能依据留出期选定价值模型：{why}。"},
    "value_choice.short_history": {"en": "the history is too short for a holdout of four weeks",
                                   "zh-CN": "历史太短，不足四周的留出期"},
    "value_choice.all_degenerate": {
        "en": "no candidate's fit on the holdout could be used (a parameter at its bound or no "
              "dropout left)",
        "zh-CN": "各候选模型在留出期的拟合都不可用（参数取到边界或不再有流失）"},
    "value_choice.no_holdout_purchases": {
        "en": "nobody from the calibration period bought in the holdout",
        "zh-CN": "校准期的客户在留出期内没有购买"},
    "value_choice.unusable": {"en": "unusable", "zh-CN": "不可用"},
    "run_value_p_alive_missing": {
        "en": "Probability still active: {reason}.",
        "zh-CN": "仍活跃概率：{reason}。"},
    "value_warning.boundary_estimate": {
        "en": "{model}: parameter {parameter} = {value:.3g} {why}; the fit is not trusted.",
        "zh-CN": "{model}：参数 {parameter} = {value:.3g}，{why}；该拟合不可信。"},
    "value_warning.reason.bound": {"en": "ended at the optimiser's bound",
                                   "zh-CN": "停在了优化器的边界上"},
    "value_warning.reason.extreme": {"en": "is at an extreme the data cannot pin down",
                                     "zh-CN": "取了数据无法确定的极端值"},
    "value_warning.reason.standard_error": {"en": "has no finite standard error",
                                            "zh-CN": "没有有限的标准误"},
    "value_warning.not_converged": {
        "en": "{model}: the optimiser did not converge (largest gradient {gradient:.2g}).",
        "zh-CN": "{model}：优化器未收敛（最大梯度 {gradient:.2g}）。"},
    "value_warning.infinite_mean_spend": {
        "en": "{model}: q = {q:.3g} ≤ 1, so the expected order value is infinite under this "
              "fit.",
        "zh-CN": "{model}：q = {q:.3g} ≤ 1，该拟合下的预期客单价为无穷大。"},
    "value_warning.few_repeat_buyers": {
        "en": "{model}: only {repeat_buyers:,} customers bought more than once (at least "
              "{minimum:,} needed), so it was not fitted.",
        "zh-CN": "{model}：只有 {repeat_buyers:,} 位客户重复购买（至少需要 {minimum:,} 位），"
                 "因此未拟合。"},
    "value_warning.p_alive_uninformative": {
        "en": "{model}: probability still active is {value:.0%} for {share:.0%} of customers, "
              "so it says nothing about who is still active.",
        "zh-CN": "{model}：{share:.0%} 的客户仍活跃概率都是 {value:.0%}，无法区分谁仍活跃。"},
    "value_warning.fit_failed": {"en": "{model}: the fit failed ({error}).",
                                 "zh-CN": "{model}：拟合失败（{error}）。"},
    "value_warning.not_used": {"en": "{model} not used", "zh-CN": "未采用{model}"},
    "p_alive_missing.no_dropout": {
        "en": "not estimated: the dropout models did not fit this data, and the empirical "
              "purchase rates used instead do not model dropout",
        "zh-CN": "未估计：含客户流失过程的购买模型（BG/NBD 等）不适合这批数据，"
                 "改用的经验购买率不刻画流失"},
    "p_alive_missing.unknown": {"en": "not estimated in this run",
                                "zh-CN": "本次运行未估计"},
    # why a candidate value model could not be used (models.value_choice reason codes)
    "value_choice.reason.bound": {"en": "not usable: a parameter at the optimiser's bound",
                                  "zh-CN": "不可用：有参数停在优化器边界上"},
    "value_choice.reason.no_dropout": {
        "en": "not usable: no dropout left in the fit (a plain NBD)",
        "zh-CN": "不可用：拟合中已无流失过程（退化为普通 NBD）"},
    "value_choice.reason.no_convergence": {"en": "not usable: the optimiser did not converge",
                                           "zh-CN": "不可用：优化器未收敛"},
    "value_choice.reason.no_fit": {"en": "not usable: it could not be fitted",
                                   "zh-CN": "不可用：无法拟合"},
    # the value model and the churn model in the report's method section and on the dashboard
    # (reports.method)
    "report.value.title": {"en": "Value model", "zh-CN": "价值模型"},
    "report.value.choice": {
        "en": "How the purchase model was chosen: each candidate was fitted on the orders before "
              "{start} and forecast the {weeks:.0f} weeks that followed, the latest part of this "
              "data's own history, whose purchases are known; {chosen} forecast them best.",
        "zh-CN": "购买模型的选择方法：每个候选模型都用 {start} 之前的订单拟合，再预测其后的 "
                 "{weeks:.0f} 周——这批数据自身最近、购买情况已知的一段历史；{chosen}预测得最好。"},
    "report.value.criterion": {
        "en": "Criterion: the lowest per-customer error of holdout purchases (to three "
              "decimals), then the smallest error in total purchases; a fit with a parameter at "
              "the optimiser's bound, no dropout left or no convergence is not chosen.",
        "zh-CN": "选择标准：留出期购买次数的每位客户误差最小（精确到小数点后三位），其次总购买次数"
                 "偏差最小；有参数停在优化器边界、已无流失过程或未收敛的拟合不予选择。"},
    "report.value.criterion_other": {"en": "Criterion of this run: {criterion}",
                                     "zh-CN": "本次运行的选择标准：{criterion}"},
    "report.value.fallback": {
        "en": "{chosen} forecast best but did not pass its checks when fitted on all the data "
              "(see the warnings below), so purchases come from {used}.",
        "zh-CN": "{chosen}预测得最好，但用全部数据拟合时未通过检查（见下方警告），因此购买次数"
                 "改用{used}。"},
    "report.value.col.model": {"en": "model", "zh-CN": "模型"},
    "report.value.col.predicted": {"en": "predicted purchases", "zh-CN": "预测购买次数"},
    "report.value.col.actual": {"en": "actual purchases", "zh-CN": "实际购买次数"},
    "report.value.col.error": {"en": "error in total", "zh-CN": "总量偏差"},
    "report.value.col.mae": {"en": "error per customer", "zh-CN": "每位客户误差"},
    "report.value.col.verdict": {"en": "verdict", "zh-CN": "结论"},
    "report.value.verdict.chosen": {"en": "chosen", "zh-CN": "选定"},
    "report.value.verdict.rank": {"en": "ranked {rank}", "zh-CN": "排名第 {rank}"},
    "report.value.checks": {"en": "Checks of the fits on all the data",
                            "zh-CN": "全部数据拟合的检查"},
    "report.value.clean": {"en": "Every fit passed its checks.",
                           "zh-CN": "所有拟合均通过检查。"},
    "report.value.churn": {"en": "Churn model", "zh-CN": "流失模型"},
    "report.value.none": {"en": "This run recorded no account of its value model.",
                          "zh-CN": "本次运行未记录价值模型的说明。"},
    "report.churn.fallback": {
        "en": "Churn: no time-split model could be evaluated on this data; churn risk is "
              "1 − probability still active, or, where the value model gives none, the chance "
              "of no purchase at the customer's expected rate.",
        "zh-CN": "流失：这批数据无法评估时间切分模型；流失风险取 1 − 仍活跃概率，价值模型未给出"
                 "该概率时，取按客户预期购买率计算的不购买概率。"},
    "report.fig.value_choice": {"en": "Holdout purchases: each candidate's forecast against "
                                      "what happened",
                                "zh-CN": "留出期购买次数：各候选模型的预测与实际"},
    "report.axis.holdout_purchases": {"en": "purchases in the holdout",
                                      "zh-CN": "留出期购买次数"},
    "report.legend.value_chosen": {"en": "chosen", "zh-CN": "选定模型"},
    "report.legend.value_other": {"en": "other candidates", "zh-CN": "其他候选模型"},
    "report.legend.value_unusable": {"en": "not usable", "zh-CN": "不可用"},
    "report.legend.value_actual": {"en": "actual: {actual:,.0f}", "zh-CN": "实际：{actual:,.0f}"},
    "report.value.no_fit": {"en": "no fit", "zh-CN": "未拟合"},
    "report.caption.value_choice": {
        "en": "Bars: holdout purchases each candidate forecast from the orders before {start}; "
              "dashed line: the purchases made. Ordered best first by the criterion above.",
        "zh-CN": "柱：各候选模型用 {start} 之前的订单预测的留出期购买次数；虚线：实际购买次数。"
                 "按上述标准从优到劣排列。"},
    "dashboard.value_hint": {
        "en": "Lifetime values and churn risks of this run rest on it; the report's Value model "
              "section has the details.",
        "zh-CN": "本次运行的客户价值与流失风险都基于此；详见报告的“价值模型”一节。"},
    "premium_model.skipped": {"en": "Premium propensity not computed: {why}.",
                              "zh-CN": "未计算高端购买倾向：{why}。"},
    "premium_model.not_evaluated": {"en": "Premium propensity scored but not back-tested: {why}.",
                                    "zh-CN": "已计算高端购买倾向，但未做跨期检验：{why}。"},
    "premium_model.no_customers": {
        "en": "the history is too short for a training window (nobody to learn from)",
        "zh-CN": "历史数据太短，没有可用的训练窗口（无可学习的客户）"},
    "premium_model.single_class": {
        "en": "in the training window everyone, or no one, made a first premium purchase",
        "zh-CN": "训练窗口内所有客户（或没有任何客户）首次购买了高端产品"},
    "premium_model.too_few_upgraders": {
        "en": "too few first premium purchases in the training window (at least 2 needed)",
        "zh-CN": "训练窗口内首次购买高端产品的客户太少（至少需要 2 位）"},
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
    "attribution.model": {"en": "model", "zh-CN": "归因模型"},
    "attribution.sheet": {"en": "Attribution", "zh-CN": "归因"},
    # charts of a fitted value model for notebooks (upmarket.plotting)
    "plot.recency": {"en": "recency (time from first to last purchase)",
                     "zh-CN": "近度（首次到最近一次购买的时长）"},
    "plot.frequency": {"en": "frequency (repeat purchases)", "zh-CN": "频次（重复购买次数）"},
    "plot.p_alive_matrix": {"en": "Probability a customer is still active, by frequency and recency",
                            "zh-CN": "按频次和近度的客户仍活跃概率"},
    "plot.frequency_recency_matrix": {
        "en": "Expected purchases in the next {t} periods, by frequency and recency",
        "zh-CN": "按频次和近度的未来 {t} 个周期预期购买次数"},
    "plot.expected": {"en": "expected purchases", "zh-CN": "预期购买次数"},
    "plot.actual": {"en": "actual", "zh-CN": "实际"},
    "plot.model": {"en": "model", "zh-CN": "模型"},
    "plot.period_transactions": {"en": "Customers by number of repeat purchases: data and model",
                                 "zh-CN": "按重复购买次数的客户数：数据与模型"},
    "plot.repeat_purchases": {"en": "repeat purchases in the period", "zh-CN": "期内重复购买次数"},
    "plot.customers": {"en": "customers", "zh-CN": "客户数"},
    "plot.calibration_vs_holdout": {
        "en": "Holdout purchases by calibration frequency: data and model",
        "zh-CN": "按校准期频次的留出期购买：数据与模型"},
    "plot.calibration_purchases": {"en": "repeat purchases in calibration",
                                   "zh-CN": "校准期重复购买次数"},
    "plot.holdout_purchases": {"en": "mean purchases in the holdout", "zh-CN": "留出期平均购买次数"},
    "plot.cumulative": {"en": "Cumulative repeat purchases of the cohort: data and model",
                        "zh-CN": "客户群累计重复购买：数据与模型"},
    "plot.date": {"en": "date", "zh-CN": "日期"},
    "plot.cumulative_axis": {"en": "cumulative repeat purchases", "zh-CN": "累计重复购买次数"},
    # holdout check of the value models (models.value_choice, cli: holdout)
    "holdout.title": {
        "en": "Holdout check: {customers:,} customers who bought before {calibration_end}; holdout "
              "{weeks:.1f} weeks to {holdout_end}",
        "zh-CN": "留出期检验：{calibration_end} 之前购买过的 {customers:,} 位客户；留出期 {weeks:.1f} 周，"
                 "至 {holdout_end}"},
    "holdout.working": {"en": "Fitting each model on the calibration period and scoring the holdout…",
                        "zh-CN": "正在用校准期数据拟合各模型并在留出期评分…"},
    "holdout.model": {"en": "model", "zh-CN": "模型"},
    "holdout.name.bgnbd": {"en": "BG/NBD", "zh-CN": "BG/NBD"},
    "holdout.name.pnbd": {"en": "Pareto/NBD", "zh-CN": "Pareto/NBD"},
    "holdout.name.mbgnbd": {"en": "MBG/NBD", "zh-CN": "MBG/NBD"},
    "holdout.name.ml": {"en": "ML", "zh-CN": "机器学习"},
    "holdout.predicted": {"en": "predicted", "zh-CN": "预测"},
    "holdout.actual": {"en": "actual", "zh-CN": "实际"},
    "holdout.error": {"en": "error", "zh-CN": "误差"},
    "holdout.mae": {"en": "MAE/cust.", "zh-CN": "人均误差"},
    "holdout.spend_error": {"en": "spend err.", "zh-CN": "消费误差"},
    "holdout.top20": {"en": "top 20%", "zh-CN": "前20%"},
    "holdout.all": {"en": "all", "zh-CN": "全部"},
    "holdout.purchases_title": {
        "en": "Holdout purchases: {actual:,.0f} made (top 20%: precision among the top holdout spenders)",
        "zh-CN": "留出期购买：实际 {actual:,.0f} 次（前20%：对留出期消费最高客户的精确率）"},
    "holdout.frequency_title": {"en": "Mean holdout purchases by repeat purchases in calibration",
                                "zh-CN": "按校准期复购次数分组的留出期平均购买次数"},
    "holdout.frequency": {"en": "repeats", "zh-CN": "复购次数"},
    "holdout.customers": {"en": "customers", "zh-CN": "客户数"},
    "holdout.curve_title": {"en": "Cumulative holdout purchases", "zh-CN": "留出期累计购买次数"},
    "holdout.week": {"en": "week", "zh-CN": "周"},
    "holdout.baseline.past_spend": {"en": "past spend", "zh-CN": "历史消费额"},
    "holdout.baseline.recency_weighted_spend": {"en": "spend/(1+wks)", "zh-CN": "消费额/(1+间隔周)"},
    "holdout.under": {
        "en": "{model} under-forecasts holdout purchases by {pct:.0f}%: {predicted:,.0f} expected, "
              "{actual:,.0f} made.",
        "zh-CN": "{model} 低估留出期购买 {pct:.0f}%：预测 {predicted:,.0f} 次，实际 {actual:,.0f} 次。"},
    "holdout.over": {
        "en": "{model} over-forecasts holdout purchases by {pct:.0f}%: {predicted:,.0f} expected, "
              "{actual:,.0f} made.",
        "zh-CN": "{model} 高估留出期购买 {pct:.0f}%：预测 {predicted:,.0f} 次，实际 {actual:,.0f} 次。"},
    "holdout.close": {
        "en": "{model} forecasts holdout purchases within {pct:.1f}%: {predicted:,.0f} expected, "
              "{actual:,.0f} made.",
        "zh-CN": "{model} 对留出期购买的预测误差在 {pct:.1f}% 以内：预测 {predicted:,.0f} 次，实际 "
                 "{actual:,.0f} 次。"},
    "holdout.degenerate": {"en": "{model} is not usable on this data: {note}.",
                           "zh-CN": "{model} 不适用于这份数据：{note}。"},
    "holdout.chosen": {
        "en": "Chosen: {model}, the lowest per-customer error ({mae:.3f} purchases) among the "
              "usable models.",
        "zh-CN": "选定：{model}，在可用模型中人均误差最低（{mae:.3f} 次购买）。"},
    "holdout.trust_ok": {"en": "Its aggregate forecast is within 5% of what happened: fit to plan with.",
                         "zh-CN": "其总量预测与实际相差不到 5%：可用于规划。"},
    "holdout.trust_low": {
        "en": "Its aggregate forecast misses by more than 5%: read values as a ranking, and "
              "budget totals with that margin.",
        "zh-CN": "其总量预测偏差超过 5%：请把预测值当作排序使用，预算总量需留出相应余量。"},
    "holdout.reason.bound": {"en": "a parameter ran to the optimiser's bound",
                             "zh-CN": "有参数达到了优化器的边界"},
    "holdout.reason.no_dropout": {"en": "its fit has no customer drop-out left (a plain NBD)",
                                  "zh-CN": "拟合结果中已没有客户流失过程（退化为普通 NBD）"},
    "holdout.reason.no_convergence": {"en": "the optimiser did not converge", "zh-CN": "优化器未收敛"},
    "holdout.reason.no_fit": {"en": "it could not be fitted", "zh-CN": "无法拟合"},
    "holdout.fit.colon": {"en": ": ", "zh-CN": "："},
    "holdout.fit.few_buyers": {
        "en": "only {n} customers bought before the training cut-off {cutoff}; the "
              "machine-learning value model needs more history (or use a BTYD model)",
        "zh-CN": "训练截止日 {cutoff} 之前只有 {n} 位客户购买过；机器学习价值模型需要更长的历史"
                 "（或改用 BTYD 模型）"},
    "holdout.fit.no_history": {"en": "no purchases before {day} to learn from",
                               "zh-CN": "{day} 之前没有可供学习的购买记录"},
    "holdout.none": {"en": "No model is usable on this data: check the dates, or ingest a longer history.",
                     "zh-CN": "没有模型适用于这份数据：请检查日期，或导入更长的历史数据。"},
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
    # membership levels and points (membership.levels, cli.members): public, unlike tiers
    "members.more_spend": {"en": "{amount} more spend", "zh-CN": "再消费{amount}"},
    "members.more_orders": {"en": "{n} more orders", "zh-CN": "再下{n}单"},
    "members.one_more_order": {"en": "1 more order", "zh-CN": "再下1单"},
    "members.or": {"en": " or ", "zh-CN": "或"},
    "members.and": {"en": " and ", "zh-CN": "且"},
    "members.to_level": {"en": "{what} to {level}", "zh-CN": "{what}可升至{level}"},
    "members.top_level": {"en": "top level", "zh-CN": "已是最高等级"},
    "members.activity": {"en": "{months}-month spend {spend}, {orders}",
                         "zh-CN": "近{months}个月消费{spend}、{orders}"},
    "members.orders": {"en": "{n} orders", "zh-CN": "{n}单"},
    "members.one_order": {"en": "1 order", "zh-CN": "1单"},
    "members.reason.new": {"en": "joined at {level}: {activity}",
                           "zh-CN": "入会等级{level}：{activity}"},
    "members.reason.upgrade": {"en": "upgraded to {level}: {activity}",
                               "zh-CN": "升级为{level}：{activity}"},
    "members.reason.downgrade": {
        "en": "moved down from {previous} to {level}: {activity}, below {previous}'s bars for "
              "{days} days or more",
        "zh-CN": "由{previous}降为{level}：{activity}，低于{previous}门槛已满{days}天"},
    "members.reason.grace": {
        "en": "keeps {level} in the grace period: {activity}, below its bars since {since}; "
              "moves down on {until} unless it qualifies again",
        "zh-CN": "保级期内保留{level}：{activity}，自{since}起低于门槛；若届时仍未达标，"
                 "将于{until}降级"},
    "members.reason.same": {"en": "stays {level}: {activity}", "zh-CN": "保持{level}：{activity}"},
    "members.change.new": {"en": "new", "zh-CN": "新会员"},
    "members.change.upgrade": {"en": "upgrade", "zh-CN": "升级"},
    "members.change.downgrade": {"en": "downgrade", "zh-CN": "降级"},
    "members.change.same": {"en": "unchanged", "zh-CN": "不变"},
    "members.col.level": {"en": "level", "zh-CN": "会员等级"},
    "members.col.members": {"en": "members", "zh-CN": "会员数"},
    "members.col.share": {"en": "share", "zh-CN": "占比"},
    "members.col.rule": {"en": "qualifies with", "zh-CN": "晋级条件"},
    "members.col.multiplier": {"en": "points ×", "zh-CN": "积分倍数"},
    "members.col.balance": {"en": "points", "zh-CN": "积分"},
    "members.rule.spend": {"en": "{amount} spend", "zh-CN": "消费{amount}"},
    "members.rule.orders": {"en": "{n} orders", "zh-CN": "{n}单"},
    "members.rule.none": {"en": "every member", "zh-CN": "所有会员"},
    "members.summary.title": {"en": "Membership levels on {as_of} (run {run_id})",
                              "zh-CN": "会员等级分布（{as_of}，运行 {run_id}）"},
    "members.summary.by_tier": {"en": "Members per level and value tier",
                                "zh-CN": "各会员等级的价值等级分布"},
    "members.summary.changes": {
        "en": "Since the last evaluation: {upgrade:,} upgraded, {downgrade:,} moved down, "
              "{new:,} new; {in_grace:,} in the grace period",
        "zh-CN": "与上次评估相比：升级 {upgrade:,} 人，降级 {downgrade:,} 人，新会员 {new:,} "
                 "人；保级期内 {in_grace:,} 人"},
    "members.summary.points": {
        "en": "Points since {start}: opening {opening:,} + earned {earned:,} (after "
              "{reversed:,} reversed) − redeemed {redeemed:,} − expired {expired:,} "
              "{adjusted:+,} adjusted = closing {closing:,}; {expiring:,} expire next, "
              "after {expires}",
        "zh-CN": "自{start}起积分：期初 {opening:,} + 获得 {earned:,}（已扣回 {reversed:,}）"
                 " − 兑换 {redeemed:,} − 过期 {expired:,} 调整 {adjusted:+,} = 期末 "
                 "{closing:,}；下一批将过期 {expiring:,}（{expires} 之后失效）"},
    "members.summary.unknown_levels": {
        "en": "{n:,} ingested member(s) hold a level the programme does not have: {levels}; "
              "they start from their orders (levels: {known}; correct the members file and "
              "ingest it again with --replace)",
        "zh-CN": "{n:,} 名导入会员的等级不在本会员体系中：{levels}；按其订单重新评定（现有等级："
                 "{known}；请更正会员文件后用 --replace 重新导入）"},
    "members.run": {"en": "Membership levels: ", "zh-CN": "会员等级："},
    "members.run_changes": {"en": "; {upgrade:,} up, {downgrade:,} down, {in_grace:,} in grace",
                            "zh-CN": "；升级 {upgrade:,}，降级 {downgrade:,}，保级期 {in_grace:,}"},
    "members.run_economics": {
        "en": "Points liability {value} ({points:,} points), {expected} expected to be "
              "redeemed after breakage; redemption rate {redemption}, active members {active}",
        "zh-CN": "积分负债 {value}（{points:,} 分），扣除预计失效后预计兑付 {expected}；"
                 "兑换率 {redemption}，活跃会员 {active}"},
    "members.econ.title": {"en": "Programme economics", "zh-CN": "会员体系经济性"},
    "members.econ.liability": {
        "en": "Points held: {points:,}, worth {value} at {each} a point",
        "zh-CN": "积分负债：会员持有 {points:,} 分，按每分 {each} 计值 {value}"},
    "members.econ.expected": {
        "en": "Expected to be redeemed after breakage: {expected} (90% interval {low} – "
              "{high})",
        "zh-CN": "扣除预计失效后预计兑付：{expected}（90% 区间 {low} – {high}）"},
    "members.econ.breakage": {
        "en": "Breakage (share of the points earned in {years} that lapsed): {rate} (90% "
              "interval {low} – {high})",
        "zh-CN": "积分失效率（{years}年获得的积分中过期的比例）：{rate}（90% 区间 {low} – "
                 "{high}）"},
    "members.econ.no_breakage": {
        "en": "Breakage: no earning year has reached its expiry yet, so the liability is shown "
              "before breakage",
        "zh-CN": "积分失效率：尚无已到期的积分年份，负债按未扣除失效列示"},
    "members.econ.rates": {
        "en": "Since {start}: {redemption} of the points earned were redeemed, {redeemers} of "
              "members redeemed; {active} of members are active (an order in the last {months} "
              "months)",
        "zh-CN": "自{start}起：兑换积分占获得积分 {redemption}，有兑换的会员占 {redeemers}；"
                 "活跃会员（近{months}个月有订单）占 {active}"},
    "members.econ.cost_title": {"en": "Benefit cost per level (last {months} months)",
                                "zh-CN": "各等级权益成本（近{months}个月）"},
    "members.econ.migration_title": {"en": "Level migration: from (rows) to now (columns)",
                                     "zh-CN": "等级迁移：上次（行）到本次（列）"},
    "members.econ.incremental": {
        "en": "Incremental spend of joining, per member over the {months} months after: "
              "{spend} (90% interval {low} – {high}), margin {margin}; {n:,} members against "
              "{controls:,} matched non-members",
        "zh-CN": "入会带来的增量消费（每位会员入会后{months}个月）：{spend}（90% 区间 {low} – "
                 "{high}），毛利 {margin}；{n:,} 名会员对比 {controls:,} 名匹配的非会员"},
    "members.econ.incremental.no_members": {
        "en": "Incremental margin of membership: not estimated (no members of an existing "
              "programme with joining dates were ingested, so every customer with an order "
              "counts as a member and none is left to compare with)",
        "zh-CN": "会员增量毛利：未估计（未导入带入会日期的会员，所有下单客户均视为会员，"
                 "没有可比的非会员）"},
    "members.econ.incremental.no_non_members": {
        "en": "Incremental margin of membership: not estimated (every customer with an order "
              "is a member, so there are no comparable non-members)",
        "zh-CN": "会员增量毛利：未估计（所有下单客户均为会员，没有可比的非会员）"},
    "members.econ.incremental.too_few_members": {
        "en": "Incremental margin of membership: not estimated (fewer than {n} members bought "
              "before joining and have {months} months of data on both sides of it)",
        "zh-CN": "会员增量毛利：未估计（入会前有购买、且入会前后各有{months}个月数据的会员"
                 "不足 {n} 名）"},
    "members.econ.level_up": {
        "en": "Moving up a level, per member over the {months} months after: spend changes "
              "by {spend} (90% interval {low} – {high}), margin {margin}; members just above a "
              "level's spend bar against those just below it ({above:,} moves up, {below:,} "
              "near misses); the spend that earned the level is not counted",
        "zh-CN": "升级效应（每位会员升级后{months}个月）：消费变化 {spend}（90% 区间 {low} – "
                 "{high}），毛利 {margin}；比较刚达到等级消费门槛与差一点达到的会员（升级 "
                 "{above:,} 次，未达 {below:,} 次）；促成升级的消费不计入"},
    "members.econ.level_up.too_few_near_bar": {
        "en": "Moving up a level: not estimated (too few members near a level's spend bar: "
              "{above:,} just above it and {below:,} just below it, within {band:.0%} of the "
              "bar, with {months} months of data after; at least {n} are needed on each side)",
        "zh-CN": "升级效应：未估计（接近等级消费门槛的会员太少：门槛上下 {band:.0%} 以内、"
                 "其后有{months}个月数据的，刚达到 {above:,} 次、差一点 {below:,} 次；每侧"
                 "至少需要 {n} 次）"},
    "members.col.cost": {"en": "benefit cost", "zh-CN": "权益成本"},
    "members.col.per_member": {"en": "per member", "zh-CN": "人均"},
    "members.col.from": {"en": "from", "zh-CN": "上次等级"},
    "members.show.title": {"en": "Member {customer_id}", "zh-CN": "会员 {customer_id}"},
    "members.show.level": {"en": "level", "zh-CN": "会员等级"},
    "members.show.change": {"en": "change", "zh-CN": "等级变动"},
    "members.show.reason": {"en": "why", "zh-CN": "原因"},
    "members.show.next": {"en": "next level", "zh-CN": "距下一等级"},
    "members.show.tier": {"en": "value tier (internal)", "zh-CN": "价值等级（内部）"},
    "members.show.points": {"en": "points balance", "zh-CN": "积分余额"},
    "members.show.expiring": {"en": "expiring after {date}", "zh-CN": "{date}后过期"},
    "members.show.ledger": {"en": "Points ledger (newest first, {shown} of {total})",
                            "zh-CN": "积分流水（最新在前，{shown}/{total} 条）"},
    "members.col.when": {"en": "when", "zh-CN": "时间"},
    "members.col.kind": {"en": "entry", "zh-CN": "类型"},
    "members.col.order": {"en": "order", "zh-CN": "订单"},
    "points.earn": {"en": "earned", "zh-CN": "获得"},
    "points.reverse": {"en": "reversed", "zh-CN": "退单扣回"},
    "points.redeem": {"en": "redeemed", "zh-CN": "兑换"},
    "points.expire": {"en": "expired", "zh-CN": "过期"},
    "points.adjust": {"en": "adjusted", "zh-CN": "调整"},
    # the benefits a level grants (membership.programme.BENEFITS)
    "members.benefit.member_price": {"en": "member prices", "zh-CN": "会员价"},
    "members.benefit.free_shipping": {"en": "free shipping", "zh-CN": "包邮"},
    "members.benefit.birthday_gift": {"en": "birthday gift", "zh-CN": "生日礼"},
    "members.benefit.priority_service": {"en": "priority service", "zh-CN": "优先客服"},
    "members.benefit.exclusive_events": {"en": "exclusive events", "zh-CN": "专属活动"},
    "members.benefit.dedicated_manager": {"en": "dedicated manager", "zh-CN": "专属顾问"},
    # the member API (service.members_api)
    "members.api.not_member": {
        "en": "{customer_id!s} is not a member in the current run (members are customers with "
              "a paid order before the run's date)",
        "zh-CN": "{customer_id!s} 在当前运行中不是会员（会员为运行日期前有已支付订单的客户）"},
    "members.api.below_zero": {
        "en": "points: {points} would take the balance below 0 (it holds {balance})",
        "zh-CN": "points：调整 {points} 会使积分余额低于 0（当前余额 {balance}）"},
    # the membership section of the customer-360 (service.customer_view)
    "customer.membership": {"en": "Membership", "zh-CN": "会员"},
    "customer.membership.none": {"en": "Not a member in this run.",
                                 "zh-CN": "在本次运行中不是会员。"},
    "customer.membership.off": {"en": "The membership programme is off in this run's policy.",
                                "zh-CN": "本次运行的策略未启用会员体系。"},
    "customer.membership.level": {"en": "Level", "zh-CN": "会员等级"},
    "customer.membership.balance": {"en": "Points balance", "zh-CN": "积分余额"},
    "customer.membership.expiring": {"en": "{points} points lapse on {date}",
                                     "zh-CN": "{points} 积分将于 {date} 过期"},
    "customer.membership.next": {"en": "To the next level", "zh-CN": "距下一等级"},
    "customer.membership.benefits": {"en": "Benefits", "zh-CN": "会员权益"},
    "customer.membership.ledger": {"en": "Latest points entries ({shown} of {total})",
                                   "zh-CN": "最近积分流水（{shown}/{total} 条）"},
    "customer.membership.points": {"en": "points", "zh-CN": "积分"},
    # the dashboard's membership page (service.members_page)
    "members_page.title": {"en": "Membership", "zh-CN": "会员体系"},
    "members_page.intro": {
        "en": "Levels members can be told, earned by the programme's rules; run {run_id} as of "
              "{as_of}.",
        "zh-CN": "会员可见的等级，按会员体系规则获得；运行 {run_id}，截至 {as_of}。"},
    "members_page.off": {"en": "The membership programme is off in this run's policy.",
                         "zh-CN": "本次运行的策略未启用会员体系。"},
    "members_page.levels": {"en": "Level distribution", "zh-CN": "等级分布"},
    "members_page.changes": {"en": "Upgrades and downgrades in this run",
                             "zh-CN": "本次运行的升降级"},
    "members_page.no_changes": {"en": "No member changed level in this run.",
                                "zh-CN": "本次运行无会员等级变动。"},
    "members_page.from": {"en": "from", "zh-CN": "原等级"},
    "members_page.to": {"en": "to", "zh-CN": "新等级"},
    "members_page.expiring": {"en": "Points expiring in the next {days} days",
                              "zh-CN": "未来 {days} 天内将过期的积分"},
    "members_page.expiring_total": {
        "en": "{points} points of {members} members lapse on {date} (worth {value}).",
        "zh-CN": "{members} 位会员的 {points} 积分将于 {date} 过期（价值 {value}）。"},
    "members_page.none_expiring": {"en": "No points lapse in the next {days} days.",
                                   "zh-CN": "未来 {days} 天内没有积分过期。"},
    "members_page.customer": {"en": "customer", "zh-CN": "客户"},
    "members_page.more": {"en": "{n} more not listed.", "zh-CN": "另有 {n} 位未列出。"},
    "members_page.link": {"en": "Membership", "zh-CN": "会员体系"},
    # a profile the service answers before any run has scored the person (service.profiles)
    "profile.not_yet_scored": {
        "en": "Not yet scored: seen by the service only (traits, events and consents as "
              "collected); tier, value and next best action come with the next run.",
        "zh-CN": "尚未评分：仅由服务收集到（属性、事件与授权为实时数据）；价值等级、预测价值与"
                 "下一步最佳行动将在下次运行后提供。"},
    # fields of a customer's results (cli: customers show)
    "field.customer_id": {"en": "customer", "zh-CN": "客户编号"},
    # headers of exported workbooks for the columns the labels above do not name
    "field.customer_ref": {"en": "customer (pseudonym)", "zh-CN": "客户代号（已假名化）"},
    "field.action": {"en": "action", "zh-CN": "行动"},
    "field.offer_type": {"en": "offer", "zh-CN": "优惠类型"},
    "field.offer_value": {"en": "offer value", "zh-CN": "优惠金额"},
    "field.sku": {"en": "SKU", "zh-CN": "商品编码"},
    "field.product_name": {"en": "product", "zh-CN": "产品"},
    "field.send_hour": {"en": "send at (hour)", "zh-CN": "发送时间（时）"},
    "field.due_hours": {"en": "due within (hours)", "zh-CN": "处理时限（小时）"},
    "field.probability": {"en": "probability", "zh-CN": "概率"},
    "field.reason_en": {"en": "why (English)", "zh-CN": "理由（英文）"},
    "field.reason_zh": {"en": "why (Chinese)", "zh-CN": "理由（中文）"},
    "field.tier": {"en": "value tier", "zh-CN": "价值等级"},
    "field.service": {"en": "service level", "zh-CN": "服务标准"},
    "field.response_hours": {"en": "response within (hours)", "zh-CN": "响应时限（小时）"},
    "field.tier_change": {"en": "tier change since last run", "zh-CN": "较上次运行的等级变化"},
    "field.member_level": {"en": "membership level", "zh-CN": "会员等级"},
    "field.member_level_change": {"en": "membership level change", "zh-CN": "会员等级变动"},
    "field.marketing_consent": {"en": "marketing consent", "zh-CN": "营销同意"},
    "field.points_balance": {"en": "points balance", "zh-CN": "积分余额"},
    "field.points_expiring": {"en": "points lapsing next", "zh-CN": "即将过期积分"},
    "field.points_expiring_days": {"en": "days until points lapse", "zh-CN": "距积分过期天数"},
    "field.distance_to_next_tier": {"en": "more tier value to reach the next tier",
                                    "zh-CN": "距下一等级还差的等级价值"},
    "field.current_value": {"en": "current value (margin of the last 12 months)",
                            "zh-CN": "当前价值（近12个月利润）"},
    "field.tier_value": {"en": "tier value (current value and predicted 12-month margin, "
                               "weighted)",
                         "zh-CN": "等级价值（当前价值与未来12个月预测利润加权）"},
    "field.trailing_revenue_12m": {"en": "net revenue of the last 12 months",
                                   "zh-CN": "近12个月净收入"},
    "field.clv": {"en": "CLV: predicted margin of the next 12 months",
                  "zh-CN": "CLV：未来12个月预测利润"},
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
    # behavioural events as a timeline names them (customer-360)
    "event.ad_impression": {"en": "ad impression", "zh-CN": "广告曝光"},
    "event.click": {"en": "click", "zh-CN": "点击"},
    "event.page_view": {"en": "page view", "zh-CN": "浏览页面"},
    "event.register": {"en": "registration", "zh-CN": "注册"},
    "event.add_to_cart": {"en": "added to cart", "zh-CN": "加入购物车"},
    "event.purchase": {"en": "purchase", "zh-CN": "购买"},
    "event.identify": {"en": "identified", "zh-CN": "身份识别"},
    "event.page": {"en": "page view", "zh-CN": "浏览页面"},
    "event.track": {"en": "event", "zh-CN": "行为事件"},
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
    # churn signals (models.churn.risk_signals), with the customer's own values
    "signal.overdue": {"en": "no purchase for {days} days, usual gap {gap} days",
                       "zh-CN": "已 {days} 天未购买，平时间隔 {gap} 天"},
    "signal.overdue_once": {"en": "one purchase only, {days} days ago",
                            "zh-CN": "仅购买过一次，距今 {days} 天"},
    "signal.few_purchases": {"en": "few orders: {orders} in {months} months",
                             "zh-CN": "{months} 个月仅下单 {orders} 次"},
    "signal.slowing": {"en": "buying less: purchases in the last 180 days {recent}, in the 180 "
                             "before {before}",
                       "zh-CN": "购买减少：最近 180 天 {recent} 次，之前 180 天 {before} 次"},
    "signal.spend_down": {"en": "spending less: {recent} in the last 180 days, {before} in "
                                "the 180 before",
                          "zh-CN": "消费下降：最近 180 天 {recent}，之前 180 天 {before}"},
    "signal.small_orders": {"en": "small orders: {value} per order",
                            "zh-CN": "客单价低：每单 {value}"},
    "signal.irregular": {"en": "irregular buying: gaps vary by {std} days around {gap}",
                         "zh-CN": "购买不规律：间隔 {gap} 天上下波动 {std} 天"},
    "signal.new_customer": {"en": "new customer: first purchase {days} days ago",
                            "zh-CN": "新客户：首次购买距今 {days} 天"},
    "signal.discounts": {"en": "buys on discount: {share} of spend discounted",
                         "zh-CN": "依赖折扣：{share} 的消费享受折扣"},
    "signal.returns": {"en": "returns: {share} of spend cancelled or returned",
                       "zh-CN": "退货较多：{share} 的消费被取消或退回"},
    "signal.complaints": {"en": "{n} complaints in the last 180 days",
                          "zh-CN": "近 180 天投诉 {n} 次"},
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
    # saved segments: their condition language (strategy.segment_conditions) and builder
    "condition.empty": {
        "en": "the condition is empty; write e.g. tier in ['diamond','core'] and city_tier = 1 "
              "(fields: {fields})",
        "zh-CN": "条件为空；请写成例如 tier in ['diamond','core'] and city_tier = 1（可用字段：{fields}）"},
    "condition.too_long": {"en": "the condition is {length} characters long; at most {limit} are "
                                 "read",
                           "zh-CN": "条件长 {length} 个字符；最多读取 {limit} 个"},
    "condition.too_long_tokens": {
        "en": "at position {position}: the condition has more than {limit} words and symbols",
        "zh-CN": "第 {position} 个字符处：条件的词和符号超过 {limit} 个"},
    "condition.too_deep": {"en": "at position {position}: brackets and `not` nest more than "
                                 "{limit} deep",
                           "zh-CN": "第 {position} 个字符处：括号和 not 的嵌套超过 {limit} 层"},
    "condition.too_many_values": {"en": "at position {position}: a list holds at most {limit} "
                                        "values",
                                  "zh-CN": "第 {position} 个字符处：列表最多 {limit} 个值"},
    "condition.bad_character": {
        "en": "at position {position}: the character '{char}' has no meaning here; put text "
              "values in quotes ('...')",
        "zh-CN": "第 {position} 个字符处：字符“{char}”在此无意义；文本值请加引号（'...'）"},
    "condition.expected": {"en": "at position {position}: expected {expected}, found '{found}'",
                           "zh-CN": "第 {position} 个字符处：应为 {expected}，实为“{found}”"},
    "condition.expected_field": {
        "en": "at position {position}: expected a field, found '{found}'; fields: {fields}",
        "zh-CN": "第 {position} 个字符处：应为字段名，实为“{found}”；可用字段：{fields}"},
    "condition.unknown_field": {
        "en": "at position {position}: unknown field '{field}'; fields: {fields}",
        "zh-CN": "第 {position} 个字符处：未知字段“{field}”；可用字段：{fields}"},
    "condition.expected_operator": {
        "en": "at position {position}: after {field} expected an operator, found '{found}'; "
              "operators: {operators}",
        "zh-CN": "第 {position} 个字符处：{field} 之后应为运算符，实为“{found}”；可用运算符：{operators}"},
    "condition.expected_value": {
        "en": "at position {position}: expected a value (a number, 'text' or a word), found "
              "'{found}'",
        "zh-CN": "第 {position} 个字符处：应为一个值（数字、'文本' 或单词），实为“{found}”"},
    "condition.expected_list": {
        "en": "at position {position}: expected a list such as ['diamond','core'], found "
              "'{found}'",
        "zh-CN": "第 {position} 个字符处：应为列表，例如 ['diamond','core']，实为“{found}”"},
    "condition.trailing": {
        "en": "at position {position}: '{found}' follows a complete condition; join conditions "
              "with and / or",
        "zh-CN": "第 {position} 个字符处：完整条件之后还有“{found}”；请用 and / or 连接条件"},
    "condition.unknown_value": {
        "en": "at position {position}: {field} has no value '{value}'; values: {values}",
        "zh-CN": "第 {position} 个字符处：{field} 没有取值“{value}”；可用取值：{values}"},
    "condition.not_a_number": {"en": "at position {position}: {field} is a number, not '{value}'",
                               "zh-CN": "第 {position} 个字符处：{field} 是数值，不能是“{value}”"},
    "condition.unordered": {
        "en": "at position {position}: {field} has no order, so {op} does not apply; use = != "
              "in; fields with an order: {ordered}",
        "zh-CN": "第 {position} 个字符处：{field} 没有顺序，不能用 {op}；请用 = != in；有顺序的字段：{ordered}"},
    "condition.not_in_data": {"en": "at position {position}: the data hold no {field}",
                              "zh-CN": "第 {position} 个字符处：数据中没有 {field}"},
    "segbuild.title": {"en": "Segment builder", "zh-CN": "分群构建器"},
    "segbuild.intro": {
        "en": "Describe customers by conditions on their results and attributes, see how many "
              "they are and their share of revenue, and save the segment by name for exports, "
              "rules and the report.",
        "zh-CN": "用客户的分析结果和属性条件描述一群客户，查看人数和收入占比，并按名称保存，供导出、规则和报告使用。"},
    "segbuild.condition": {"en": "Condition", "zh-CN": "条件"},
    "segbuild.name": {"en": "Name (to save it)", "zh-CN": "名称（保存时填写）"},
    "segbuild.preview": {"en": "Count", "zh-CN": "计算人数"},
    "segbuild.save": {"en": "Save segment", "zh-CN": "保存分群"},
    "segbuild.fields": {"en": "Fields", "zh-CN": "可用字段"},
    "segbuild.operators": {"en": "Operators", "zh-CN": "运算符"},
    "segbuild.result": {
        "en": "{customers} customers ({share} of {total}), {revenue_share} of revenue",
        "zh-CN": "{customers} 位客户（占 {total} 位中的 {share}），收入占比 {revenue_share}"},
    "segbuild.saved_ok": {"en": "Saved segment {name}.", "zh-CN": "已保存分群 {name}。"},
    "segbuild.saved": {"en": "Saved segments", "zh-CN": "已保存的分群"},
    "segbuild.none": {"en": "No saved segments yet.", "zh-CN": "还没有保存的分群。"},
    "segbuild.name_col": {"en": "name", "zh-CN": "名称"},
    "segbuild.revenue_share": {"en": "revenue share", "zh-CN": "收入占比"},
    "segbuild.needs_export": {
        "en": "Saving a segment changes what rules and exports act on: sign in with a key that "
              "may export (or an admin key). Counting needs only a read key.",
        "zh-CN": "保存分群会改变规则和导出的对象：请用具有导出权限（或管理员）的密钥登录。仅计算人数只需读取权限。"},
    "segbuild.needs_name": {"en": "Give the segment a name to save it.",
                            "zh-CN": "请填写分群名称后再保存。"},
    "segbuild.open": {"en": "Segment builder and profiles", "zh-CN": "分群构建与客户画像"},
    "segbuild.back": {"en": "Back to the dashboard", "zh-CN": "返回仪表板"},
    "profile.title": {"en": "Profiles by demographic and region",
                      "zh-CN": "按人口属性和地区的客户画像"},
    "profile.by.city_tier": {"en": "By city tier", "zh-CN": "按城市等级"},
    "profile.by.age_band": {"en": "By age band", "zh-CN": "按年龄段"},
    "profile.by.region": {"en": "By region", "zh-CN": "按地区"},
    "profile.by.gender": {"en": "By gender", "zh-CN": "按性别"},
    "profile.by.income_band": {"en": "By income band", "zh-CN": "按收入段"},
    "profile.value": {"en": "value", "zh-CN": "取值"},
    "profile.share": {"en": "share of customers", "zh-CN": "客户占比"},
    "profile.tier_mix": {"en": "tier mix", "zh-CN": "等级构成"},
    "profile.mean_clv": {"en": "mean CLV", "zh-CN": "平均 CLV"},
    "profile.mean_churn": {"en": "mean churn risk", "zh-CN": "平均流失风险"},
    "profile.revenue_share": {"en": "revenue share", "zh-CN": "收入占比"},
    # experiments, cohorts, funnels, promotions
    "exp.title": {
        "en": "A/B tests, each arm against its control (conversion = purchase within {window} "
              "days of first exposure; data before {as_of})",
        "zh-CN": "A/B 测试：各实验组对比对照组（转化 = 首次曝光后 {window} 天内购买；数据截至 {as_of}）"},
    "exp.campaign": {"en": "campaign", "zh-CN": "活动"},
    "exp.arm": {"en": "arm", "zh-CN": "实验组"},
    "exp.users": {"en": "users", "zh-CN": "用户数"},
    "exp.conversion": {"en": "conv.", "zh-CN": "转化率"},
    "exp.uplift": {"en": "relative uplift [CI]", "zh-CN": "相对提升 [区间]"},
    "exp.vs": {"en": "{arm} vs {control}", "zh-CN": "{arm} 对比 {control}"},
    "exp.difference": {"en": "Δ pts (rel.) [CI]", "zh-CN": "差值（相对）[区间]"},
    "exp.legend": {
        "en": "Users and conversion (conv.): arm above, control below. Δ pts: difference in percentage "
              "points, the relative uplift in brackets, and the interval of the difference; p adj.: "
              "adjusted p-value.",
        "zh-CN": "用户数与转化率：上为实验组，下为对照组。差值：以百分点计的差，括号内为相对提升，"
                 "下为差值的区间；调整后 p：经多重比较校正的 p 值。"},
    "exp.p_value": {"en": "p adj.", "zh-CN": "调整后 p"},
    "exp.title_log": {
        "en": "A/B tests from {source}, each arm against {control} (users who entered by {until})",
        "zh-CN": "A/B 测试（{source}）：各实验组对比 {control}（截至 {until} 已进入的用户）"},
    "exp.method.sequential": {
        "en": "p-values and intervals are always valid: they may be read at any time, as often "
              "as you like. Adjusted for the {n} comparison(s) read together ({multiplicity}).",
        "zh-CN": "p 值与区间随时有效：可在任意时间、任意次数查看。已按同时查看的 {n} 项比较进行"
                 "校正（{multiplicity}）。"},
    "exp.method.fixed": {
        "en": "Fixed-horizon tests: valid at one planned look only; reading them repeatedly "
              "inflates false positives. Adjusted for the {n} comparison(s) read together "
              "({multiplicity}).",
        "zh-CN": "固定样本检验：仅在预定的一次查看时有效，反复查看会抬高假阳性。已按同时查看的"
                 " {n} 项比较进行校正（{multiplicity}）。"},
    "exp.multiplicity.holm": {"en": "Holm, family-wise error", "zh-CN": "Holm 法，控制族错误率"},
    "exp.multiplicity.bh": {"en": "Benjamini–Hochberg, false discovery rate",
                            "zh-CN": "Benjamini–Hochberg 法，控制错误发现率"},
    "exp.multiplicity.none": {"en": "no adjustment", "zh-CN": "未校正"},
    "exp.cuped": {"en": "{experiment}: revenue adjusted for pre-period spend (CUPED, θ = {theta}).",
                  "zh-CN": "{experiment}：收入已按实验前消费校正（CUPED，θ = {theta}）。"},
    "exp.revenue_diff": {"en": "Δ rev/user", "zh-CN": "人均收入差"},
    "exp.power": {"en": "power", "zh-CN": "检验功效"},
    "exp.needed": {"en": "needed/arm", "zh-CN": "每组所需"},
    "exp.verdict": {"en": "verdict", "zh-CN": "结论"},
    "exp.srm_warning": {
        "en": "{campaign}: sample ratio mismatch (χ² p = {p}): observed {observed}, planned "
              "{planned}. Check how users are assigned and logged before trusting this test.",
        "zh-CN": "{campaign}：样本比例失衡（卡方检验 p = {p}）：实际 {observed}，计划 {planned}。"
                 "请先检查用户分组与埋点，再采信该测试结果。"},
    "verdict.uplift": {"en": "uplift", "zh-CN": "显著提升"},
    "verdict.uplift_revenue_down": {"en": "uplift, revenue down", "zh-CN": "转化提升但收入下降"},
    "report.relative_uplift": {"en": "(conversion {uplift} relative)",
                               "zh-CN": "（转化率相对 {uplift}）"},
    "verdict.drop": {"en": "worse", "zh-CN": "显著下降"},
    "verdict.no_difference": {"en": "no difference", "zh-CN": "无显著差异"},
    "verdict.inconclusive": {"en": "inconclusive", "zh-CN": "尚无定论"},
    "verdict.srm": {"en": "SRM: do not trust", "zh-CN": "样本比例失衡"},
    "verdict.no_data": {"en": "no data", "zh-CN": "无数据"},
    "verdict_line.uplift": {
        "en": "{arm} beats {control}: conversion {difference} points, {uplift} relative (CI {low} "
              "to {high}), p = {p}.",
        "zh-CN": "{arm} 优于 {control}：转化率 {difference} 个百分点，相对 {uplift}（区间 {low} 至 "
                 "{high}），p = {p}。"},
    "verdict_line.uplift_revenue_down": {
        "en": "{arm} converts more than {control} ({difference} points, {uplift} relative) but "
              "its revenue per user is significantly lower ({revenue}): not a win.",
        "zh-CN": "{arm} 的转化率高于 {control}（{difference} 个百分点，相对 {uplift}），但人均收入"
                 "显著更低（{revenue}）：不算成功。"},
    "verdict_line.drop": {
        "en": "{arm} converts worse than {control}: {uplift} (CI {low} to {high}), p = {p}; "
              "keep {control}.",
        "zh-CN": "{arm} 的转化率低于 {control}：{uplift}（置信区间 {low} 至 {high}），p = {p}；"
                 "保留 {control}。"},
    "verdict_line.no_difference": {
        "en": "no real difference between {arm} and {control} (p = {p}); with {power} power "
              "for a {mde} uplift, an effect that large would probably have shown.",
        "zh-CN": "{arm} 与 {control} 无实质差异（p = {p}）；检验对 {mde} 的提升有 {power} 的功效，"
                 "若有这么大的效果大概率已被发现。"},
    "verdict_line.inconclusive": {
        "en": "inconclusive (p = {p}): only {power} power for a {mde} uplift; about {needed} "
              "users per arm are needed.",
        "zh-CN": "尚无定论（p = {p}）：对 {mde} 的提升仅有 {power} 的功效；每组约需 {needed} 名用户。"},
    "verdict_line.inconclusive_no_power": {
        "en": "inconclusive (p = {p}); a {mde} uplift on this control rate would exceed 100%, "
              "so no power is computed (try a smaller --mde).",
        "zh-CN": "尚无定论（p = {p}）；在该对照组转化率上提升 {mde} 会超过 100%，无法计算功效"
                 "（可调小 --mde）。"},
    "verdict_line.srm": {
        "en": "do not trust this result: the arms' sizes do not match the planned split "
              "(sample ratio mismatch, p = {srm_p}).",
        "zh-CN": "请勿采信该结果：各组人数与计划分配比例不符（样本比例失衡，p = {srm_p}）。"},
    "verdict_line.no_data": {"en": "{arm} or {control} has no users yet.",
                             "zh-CN": "{arm} 或 {control} 尚无用户。"},
    "cohort.title": {"en": "Monthly cohorts by first purchase: {metric} by months since "
                           "acquisition (data before {as_of})",
                     "zh-CN": "按首购月份的月度同期群：获客后各月的{metric}（数据截至 {as_of}）"},
    "cohort.cohort": {"en": "cohort", "zh-CN": "同期群"},
    "cohort.size": {"en": "customers", "zh-CN": "客户数"},
    "cohort.retention": {"en": "retention rate", "zh-CN": "留存率"},
    "cohort.active": {"en": "active customers", "zh-CN": "活跃客户数"},
    "cohort.revenue": {"en": "revenue", "zh-CN": "收入"},
    "cohort.cumulative": {"en": "cumulative revenue per customer", "zh-CN": "人均累计收入"},
    "funnel.title": {"en": "Funnel exposure → click → register → purchase, {start} to {end}",
                     "zh-CN": "转化漏斗 曝光 → 点击 → 注册 → 购买（{start} 至 {end}）"},
    "funnel.channel": {"en": "channel", "zh-CN": "渠道"},
    "funnel.exposed": {"en": "exposed", "zh-CN": "曝光"},
    "funnel.clicked": {"en": "clicked", "zh-CN": "点击"},
    "funnel.registered": {"en": "registered", "zh-CN": "注册"},
    "funnel.purchased": {"en": "purchased", "zh-CN": "购买"},
    "funnel.click_rate": {"en": "click rate", "zh-CN": "点击率"},
    "funnel.register_rate": {"en": "register rate", "zh-CN": "注册率"},
    "funnel.purchase_rate": {"en": "purchase rate", "zh-CN": "购买率"},
    "funnel.overall_rate": {"en": "overall", "zh-CN": "整体转化率"},
    "funnel.all": {"en": "all channels", "zh-CN": "全部渠道"},
    "promo.title": {"en": "Promotions: lift against comparable non-promotion days (up to {days} "
                          "days before each)",
                    "zh-CN": "促销效果：对比活动前 {days} 天内可比的非促销日"},
    "promo.promotion": {"en": "promotion", "zh-CN": "促销"},
    "promo.days": {"en": "days", "zh-CN": "天数"},
    "promo.lift_rate": {"en": "lift", "zh-CN": "销售提升"},
    "promo.cannibalisation": {"en": "full-price Δ", "zh-CN": "原价销售变化"},
    "promo.cost": {"en": "cost", "zh-CN": "成本"},
    "promo.roi": {"en": "ROI (×)", "zh-CN": "投资回报率（倍）"},
    "promo.status": {"en": "status", "zh-CN": "状态"},
    "promo.status.measured": {"en": "measured", "zh-CN": "已评估"},
    "promo.status.no_baseline": {"en": "no comparable days before it",
                                 "zh-CN": "活动前无可比日"},
    "promo.status.not_started": {"en": "not started", "zh-CN": "尚未开始"},
    "promo.status.outside_data": {"en": "outside the data", "zh-CN": "超出数据范围"},
    "promo.dependency": {
        "en": "Discount dependency: {share} of spend was bought on promotion or discount; "
              "{dependent} of customers buy mostly that way (at least {threshold} of their spend).",
        "zh-CN": "折扣依赖：{share} 的消费发生在促销或折扣下；{dependent} 的客户主要靠促销购买"
                 "（至少 {threshold} 的消费）。"},
    "promo.by_segment": {"en": "Discount dependency by segment (latest run)",
                         "zh-CN": "各细分群体的折扣依赖（最近一次运行）"},
    "promo.segmentation": {"en": "by", "zh-CN": "维度"},
    "promo.segment": {"en": "segment", "zh-CN": "细分"},
    "promo.customers": {"en": "customers", "zh-CN": "客户数"},
    "promo.dependency_col": {"en": "spend on promotion", "zh-CN": "促销消费占比"},
    "promo.dependent_share": {"en": "promotion-dependent customers",
                              "zh-CN": "促销依赖型客户占比"},
    "promo.segmentation.tier": {"en": "tier", "zh-CN": "价值层级"},
    "promo.segmentation.rfm_segment": {"en": "RFM segment", "zh-CN": "RFM 细分"},
    # scorecards
    "scorecard.title": {"en": "{card}: {period}", "zh-CN": "{card}：{period}"},
    "scorecard.title_vs": {"en": "{card}: {period} vs {compare}",
                           "zh-CN": "{card}：{period} 对比 {compare}"},
    "scorecard.base_period": {
        "en": "Growth targets are measured against {base}, the card's base period, whatever "
              "the comparison; {compare} is shown beside for reference.",
        "zh-CN": "增长目标以评分卡的基期 {base} 为基准，与对比期无关；{compare} 仅作对照列出。"},
    "scorecard.col.dimension": {"en": "dimension", "zh-CN": "维度"},
    "scorecard.col.metric": {"en": "metric", "zh-CN": "指标"},
    "scorecard.col.weight": {"en": "weight", "zh-CN": "权重"},
    "scorecard.col.actual": {"en": "actual", "zh-CN": "实际值"},
    "scorecard.col.target": {"en": "target", "zh-CN": "目标"},
    "scorecard.col.attainment": {"en": "attainment", "zh-CN": "达成率"},
    "scorecard.col.points": {"en": "points", "zh-CN": "得分"},
    "scorecard.col.score": {"en": "score", "zh-CN": "维度得分"},
    "scorecard.col.change": {"en": "change", "zh-CN": "变化"},
    "scorecard.col.delta": {"en": "Δ points", "zh-CN": "得分变化"},
    "scorecard.col.subject": {"en": "candidate", "zh-CN": "评估对象"},
    "scorecard.col.index": {"en": "index", "zh-CN": "综合指数"},
    "scorecard.col.source": {"en": "source / note", "zh-CN": "来源 / 说明"},
    "scorecard.overall": {"en": "Overall index", "zh-CN": "综合指数"},
    "scorecard.index_line": {"en": "{card} {period}: {index}", "zh-CN": "{card} {period}：{index}"},
    "scorecard.index_vs": {"en": "{card} {period}: {index} ({compare}: {compare_index}, Δ {delta})",
                           "zh-CN": "{card} {period}：{index}（{compare}：{compare_index}，变化 {delta}）"},
    "scorecard.coverage": {"en": "The index covers {coverage:.0%} of the card's weight.",
                           "zh-CN": "该指数覆盖评分卡 {coverage:.0%} 的权重。"},
    "scorecard.coverage_differs": {
        "en": "The two indexes cover different shares of the card's weight ({period} {coverage:.0%}, "
              "{compare} {compare_coverage:.0%}): compare them with care.",
        "zh-CN": "两期指数覆盖的权重不同（{period} {coverage:.0%}，{compare} "
                 "{compare_coverage:.0%}）：对比时请谨慎。"},
    "scorecard.no_index": {"en": "no metric of the card has data: no index",
                           "zh-CN": "评分卡的指标均无数据：无法计算指数"},
    "scorecard.status.no_data": {"en": "no data", "zh-CN": "无数据"},
    "scorecard.status.no_target": {"en": "no target", "zh-CN": "无目标"},
    "scorecard.notes": {"en": "Notes", "zh-CN": "说明"},
    "scorecard.unused_inputs": {"en": "values in {file} this card does not use: {keys}",
                                "zh-CN": "{file} 中本评分卡未使用的值：{keys}"},
    "scorecard.ranking": {"en": "{card}: {n} candidates ranked", "zh-CN": "{card}：{n} 个对象排名"},
    "scorecard.card.effect_index": {"en": "Upward-marketing effect index",
                                    "zh-CN": "向上营销效果指数"},
    "scorecard.card.platform_selection": {"en": "Marketing-technology platform selection",
                                          "zh-CN": "营销技术平台选型评分"},
    "scorecard.card.sales_competency": {"en": "Premium sales competency",
                                        "zh-CN": "高端销售能力模型"},
    "scorecard.card.execution": {"en": "Strategy execution KPIs", "zh-CN": "策略执行关键指标"},
    "scorecard.dim.customer_value": {"en": "Customer value", "zh-CN": "客户价值"},
    "scorecard.dim.brand_value": {"en": "Brand value", "zh-CN": "品牌价值"},
    "scorecard.dim.operational_efficiency": {"en": "Operational efficiency", "zh-CN": "运营效率"},
    "scorecard.dim.maturity": {"en": "Technical maturity", "zh-CN": "技术成熟度"},
    "scorecard.dim.data_integration": {"en": "Data integration", "zh-CN": "数据整合能力"},
    "scorecard.dim.scalability": {"en": "Scalability", "zh-CN": "扩展性"},
    "scorecard.dim.vendor_support": {"en": "Vendor support", "zh-CN": "服务商支持"},
    "scorecard.dim.product_expertise": {"en": "Product expertise", "zh-CN": "产品专家力"},
    "scorecard.dim.customer_insight": {"en": "Customer insight", "zh-CN": "客户洞察力"},
    "scorecard.dim.value_presentation": {"en": "Value presentation", "zh-CN": "价值呈现力"},
    "scorecard.dim.relationships": {"en": "Relationship building", "zh-CN": "关系构建力"},
    "scorecard.dim.delivery": {"en": "Delivery", "zh-CN": "任务执行"},
    "scorecard.dim.control": {"en": "Risk and budget control", "zh-CN": "风险与预算控制"},
    "scorecard.dim.customer": {"en": "Customer satisfaction", "zh-CN": "客户满意"},
    "scorecard.metric.cltv": {"en": "customer lifetime value (CLV)",
                              "zh-CN": "客户终身价值（CLV）"},
    "scorecard.metric.premium_penetration": {"en": "premium-product penetration",
                                             "zh-CN": "高客单价产品渗透率"},
    "scorecard.metric.nps": {"en": "net promoter score (NPS)", "zh-CN": "客户推荐值（NPS）"},
    "scorecard.metric.awareness": {"en": "brand awareness", "zh-CN": "品牌知名度"},
    "scorecard.metric.association": {"en": "brand association", "zh-CN": "品牌联想度"},
    "scorecard.metric.loyalty": {"en": "brand loyalty", "zh-CN": "品牌忠诚度"},
    "scorecard.metric.premium_coefficient": {"en": "premium coefficient", "zh-CN": "溢价系数"},
    "scorecard.metric.bav": {"en": "brand asset value (BAV)", "zh-CN": "品牌资产价值（BAV）"},
    "scorecard.metric.marketing_automation_rate": {"en": "marketing automation rate",
                                                   "zh-CN": "营销自动化率"},
    "scorecard.metric.tasks_within_sla": {"en": "tasks done within SLA",
                                          "zh-CN": "任务按时完成率（SLA 内）"},
    "scorecard.metric.premium_conversion": {"en": "premium conversion of customers worked",
                                            "zh-CN": "跟进客户的高端转化率"},
    "scorecard.metric.response_time_hours": {"en": "response time (median hours)",
                                             "zh-CN": "客户响应时间（中位数，小时）"},
    "scorecard.metric.task_response_hours": {"en": "task response time (median hours)",
                                             "zh-CN": "任务响应时间（中位数，小时）"},
    "scorecard.metric.channel_collaboration": {"en": "channel collaboration",
                                               "zh-CN": "渠道协同率"},
    "scorecard.metric.csat": {"en": "customer satisfaction (CSAT)",
                              "zh-CN": "客户满意度（CSAT）"},
    "scorecard.metric.budget_execution_rate": {"en": "budget execution rate",
                                               "zh-CN": "费用预算执行率"},
    "scorecard.metric.net_revenue": {"en": "net revenue", "zh-CN": "净收入"},
    "scorecard.metric.task_completion_rate": {"en": "task completion rate", "zh-CN": "任务完成率"},
    "scorecard.metric.resource_utilisation": {"en": "resource utilisation", "zh-CN": "资源利用率"},
    "scorecard.metric.open_risks_over_threshold": {"en": "open risks past threshold",
                                                   "zh-CN": "超阈值未关闭风险数"},
    "scorecard.note.not_supplied": {"en": "not supplied: give it in an --inputs file",
                                    "zh-CN": "未提供：请在 --inputs 文件中给出"},
    "scorecard.note.not_a_period": {
        "en": "{subject} is not a period: the warehouse measures months, quarters and years",
        "zh-CN": "{subject} 不是时间段：数据仓库只能按月、季度、年计算"},
    "scorecard.note.input": {"en": "supplied in {file}", "zh-CN": "来自 {file}"},
    "scorecard.note.rep_sla": {"en": "{k:,} of {n:,} tasks done within their due time",
                               "zh-CN": "{n:,} 项任务中 {k:,} 项在时限内完成"},
    "scorecard.note.rep_conversion": {"en": "{k:,} of {n:,} customers worked converted",
                                      "zh-CN": "跟进的 {n:,} 位客户中 {k:,} 位成交"},
    "scorecard.note.cltv_model": {"en": "CLV: mean predicted 12-month margin, run {run}",
                                  "zh-CN": "CLV：运行 {run} 的未来12个月预测利润均值"},
    "scorecard.note.cltv_seed": {
        "en": "no run at this period's end, so the textbook formula stands in for growth: "
              "order value {aov:,.0f} × {freq:.2f}/year × {lifespan:.1f} years × retention "
              "{r:.0%} (lifetime revenue, not the model's CLV)",
        "zh-CN": "本期末没有运行结果，增长改用教科书公式：客单价 {aov:,.0f} × 每年 {freq:.2f} 次 × "
                 "{lifespan:.1f} 年 × 留存 {r:.0%}（整个生命周期的收入，不是模型的 CLV）"},
    "scorecard.note.cltv_seed_like_for_like": {
        "en": "textbook formula in every period compared, for a like-for-like growth (order "
              "value {aov:,.0f} × {freq:.2f}/year × {lifespan:.1f} years × retention {r:.0%}; "
              "lifetime revenue, not the model's CLV): a model CLV exists only for {have}",
        "zh-CN": "为同口径比较增长，各对比期均用教科书公式（客单价 {aov:,.0f} × 每年 {freq:.2f} 次 × "
                 "{lifespan:.1f} 年 × 留存 {r:.0%}；整个生命周期的收入，不是模型的 CLV）："
                 "仅 {have} 有模型CLV"},
    "scorecard.note.no_orders": {"en": "no orders in {period}", "zh-CN": "{period} 无订单"},
    "scorecard.note.no_prev_buyers": {
        "en": "no buyers in {previous}: the yearly retention the textbook formula needs is "
              "unknown",
        "zh-CN": "{previous} 无购买客户：无法得到教科书公式所需的年留存率"},
    "scorecard.note.no_categories": {"en": "no product categories ingested: premium unknown",
                                     "zh-CN": "未导入商品品类：无法识别高端产品"},
    "scorecard.note.penetration": {"en": "{premium:,} of {buyers:,} buyers bought premium",
                                   "zh-CN": "{buyers:,} 位购买客户中 {premium:,} 位购买了高端产品"},
    "scorecard.note.no_nps": {"en": "no NPS answers in {period}", "zh-CN": "{period} 无NPS答卷"},
    "scorecard.note.nps": {"en": "{n:,} answers: {promoters:.0%} promoters, {detractors:.0%} "
                                 "detractors",
                           "zh-CN": "{n:,} 份答卷：推荐者 {promoters:.0%}，贬损者 {detractors:.0%}"},
    "scorecard.note.no_survey": {"en": "brand_survey holds no {metric} for {period}",
                                 "zh-CN": "brand_survey 中没有 {period} 的 {metric}"},
    "scorecard.note.survey": {"en": "survey {waves}", "zh-CN": "调研期 {waves}"},
    "scorecard.note.bav": {"en": "awareness × association × loyalty × premium coefficient "
                                 "{coefficient:.2f}",
                           "zh-CN": "知名度 × 联想度 × 忠诚度 × 溢价系数 {coefficient:.2f}"},
    "scorecard.note.bav_no_coefficient": {
        "en": "awareness × association × loyalty; no premium coefficient surveyed, taken as 1",
        "zh-CN": "知名度 × 联想度 × 忠诚度；未调研溢价系数，按 1 计"},
    "scorecard.note.na_marketing_automation_rate": {
        "en": "not available: the warehouse holds no automation tasks (automated done ÷ all); "
              "they come from the rules a run checks with an operational store "
              "(upmarket alerts check), or supply it with --inputs",
        "zh-CN": "不可用：数据仓库尚无自动化任务（自动化完成量 ÷ 总任务量）；配置运营数据库后每次运行"
                 "会检查规则生成任务（「upmarket alerts check」），或用 --inputs 提供"},
    "scorecard.note.na_task_completion_rate": {
        "en": "not available: the warehouse holds no tasks; they come from the automation rules "
              "(upmarket alerts check), or supply it with --inputs",
        "zh-CN": "不可用：数据仓库尚无任务数据；任务来自自动化规则（「upmarket alerts check」），"
                 "或用 --inputs 提供"},
    "scorecard.note.na_task_response_hours": {
        "en": "not available: the warehouse holds no tasks",
        "zh-CN": "不可用：数据仓库尚无任务数据"},
    "scorecard.note.automation": {"en": "{done:,} of {n:,} tasks automated and done",
                                  "zh-CN": "{n:,} 个任务中 {done:,} 个自动化完成"},
    "scorecard.note.no_tasks": {"en": "no automation tasks created in {period}",
                                "zh-CN": "{period} 没有创建自动化任务"},
    "scorecard.note.responses": {"en": "median of {tickets:,} ticket and {tasks:,} task responses",
                                 "zh-CN": "{tickets:,} 张工单与 {tasks:,} 个任务响应的中位数"},
    "scorecard.note.task_responses": {"en": "median of {n:,} tasks",
                                      "zh-CN": "{n:,} 个任务的中位数"},
    "scorecard.note.no_task_responses": {"en": "no task created in {period} was done",
                                         "zh-CN": "{period} 创建的任务均未完成"},
    "scorecard.note.task_completion": {"en": "{on_time:,} of {n:,} tasks due done on time",
                                       "zh-CN": "{n:,} 个到期任务中 {on_time:,} 个按时完成"},
    "scorecard.note.no_tasks_due": {"en": "no tasks due in {period}",
                                    "zh-CN": "{period} 没有到期任务"},
    "scorecard.note.na_resource_utilisation": {
        "en": "not available: the warehouse holds no resource plans; supply it with --inputs",
        "zh-CN": "不可用：数据仓库尚无资源计划数据；请用 --inputs 提供"},
    "scorecard.note.na_open_risks_over_threshold": {
        "en": "not available: the warehouse holds no risk register; supply it with --inputs",
        "zh-CN": "不可用：数据仓库尚无风险登记数据；请用 --inputs 提供"},
    "scorecard.note.no_tickets": {"en": "no answered service tickets opened in {period}",
                                  "zh-CN": "{period} 无已响应的服务工单"},
    "scorecard.note.tickets": {"en": "median of {n:,} tickets", "zh-CN": "{n:,} 张工单的中位数"},
    "scorecard.note.no_touches": {"en": "no marketing touchpoints with a channel in or just "
                                        "before {period}",
                                  "zh-CN": "{period} 及之前不久没有带渠道的营销触点"},
    "scorecard.note.collaboration": {"en": "{multi:,} of {n:,} converting customers",
                                     "zh-CN": "{n:,} 位转化客户中 {multi:,} 位"},
    "scorecard.note.no_csat": {"en": "no satisfaction answers in {period}",
                               "zh-CN": "{period} 无满意度答卷"},
    "scorecard.note.csat": {"en": "{n:,} answers ({table})", "zh-CN": "{n:,} 份答卷（{table}）"},
    "scorecard.note.no_budget": {"en": "no campaign with a budget and dates runs in {period}",
                                 "zh-CN": "{period} 没有带预算和起止日期的活动"},
    "scorecard.note.budget": {"en": "spend {actual:,.0f} of budget {planned:,.0f} (campaigns: {n})",
                              "zh-CN": "花费 {actual:,.0f}，预算 {planned:,.0f}（{n} 个活动）"},
    "scorecard.note.no_baseline": {"en": "growth target with nothing to compare against: pass "
                                         "--compare",
                                   "zh-CN": "增长目标缺少对比期：请指定 --compare"},
    "scorecard.note.baseline_unusable": {
        "en": "growth target, but {baseline} has no usable value (missing or not positive)",
        "zh-CN": "增长目标，但 {baseline} 没有可用的值（缺失或非正数）"},
    "scorecard.note.unscorable_target": {
        "en": "this target cannot be scored by its method (attainment needs a positive target)",
        "zh-CN": "该目标无法按其计分方法计分（达成率需要正的目标值）"},
    "scorecard.note.renormalised": {
        "en": "{metric}: {status}; its weight is shared among the other metrics of {dimension}",
        "zh-CN": "{metric}：{status}；其权重按比例分配给 {dimension} 的其他指标"},
    "scorecard.note.dimension_missing": {
        "en": "{dimension}: no metric has data; its weight is shared among the other dimensions",
        "zh-CN": "{dimension}：所有指标均无数据；其权重按比例分配给其他维度"},
    # budget and risk
    # -- budget (strategy.budget, cli: budget)
    "budget.no_spend": {"en": "No marketing spend before the as-of date: nothing to compare or "
                              "reallocate. Ingest spend with upmarket ingest spend FILE.",
                        "zh-CN": "截至日期前没有营销花费：无法对比或再分配。请用「upmarket ingest "
                                 "spend FILE」导入花费。"},
    "budget.period.month": {"en": "month", "zh-CN": "月"},
    "budget.period.quarter": {"en": "quarter", "zh-CN": "季度"},
    "budget.source.campaigns": {"en": "plan = campaign budgets", "zh-CN": "计划 = 活动预算"},
    "budget.source.file": {"en": "plan = plan file", "zh-CN": "计划 = 预算文件"},
    "budget.source.frame": {"en": "plan = given plan", "zh-CN": "计划 = 给定预算"},
    "budget.title_plan": {"en": "Budget plan vs actual by channel ({source})",
                          "zh-CN": "各渠道预算计划与实际（{source}）"},
    "budget.channel": {"en": "channel", "zh-CN": "渠道"},
    "budget.sheet.plan_vs_actual": {"en": "Plan vs actual", "zh-CN": "计划与实际"},
    "budget.sheet.curves": {"en": "Response curves", "zh-CN": "响应曲线"},
    "budget.sheet.reallocation": {"en": "Reallocation", "zh-CN": "预算再分配"},
    "budget.sheet.points": {"en": "Spend and revenue", "zh-CN": "花费与收入"},
    "budget.period": {"en": "period", "zh-CN": "期间"},
    "budget.planned": {"en": "planned", "zh-CN": "计划预算"},
    "budget.channel_spend": {"en": "channel spend", "zh-CN": "渠道总花费"},
    "budget.variance": {"en": "variance", "zh-CN": "差额"},
    "budget.status": {"en": "status", "zh-CN": "状态"},
    "budget.points": {"en": "periods fitted", "zh-CN": "拟合期数"},
    "budget.spend": {"en": "spend", "zh-CN": "花费"},
    "budget.revenue": {"en": "attributed revenue", "zh-CN": "归因收入"},
    "budget.change_pct": {"en": "change %", "zh-CN": "变化率"},
    "budget.lower": {"en": "lowest allowed", "zh-CN": "下限"},
    "budget.upper": {"en": "highest allowed", "zh-CN": "上限"},
    "budget.expected_return_now": {"en": "expected return now", "zh-CN": "当前预期回报"},
    "budget.expected_return_suggested": {"en": "expected return then",
                                         "zh-CN": "调整后预期回报"},
    "budget.marginal_return_now": {"en": "marginal return now", "zh-CN": "当前边际回报"},
    "budget.marginal_return_suggested": {"en": "marginal return then",
                                         "zh-CN": "调整后边际回报"},
    "budget.planned_to_date": {"en": "planned to date", "zh-CN": "截至当前计划"},
    "budget.actual": {"en": "actual", "zh-CN": "实际花费"},
    "budget.execution_rate": {"en": "execution", "zh-CN": "执行率"},
    "budget.off_plan": {"en": "periods off plan", "zh-CN": "偏离计划的期数"},
    "budget.status.over": {"en": "over", "zh-CN": "超支"},
    "budget.status.under": {"en": "under", "zh-CN": "欠执行"},
    "budget.status.on_plan": {"en": "on plan", "zh-CN": "符合计划"},
    "budget.status.unplanned": {"en": "unplanned", "zh-CN": "计划外"},
    "budget.status.future": {"en": "not started", "zh-CN": "未开始"},
    "budget.execution": {
        "en": "Budget execution rate: {rate:.1%} of {planned:,.0f} planned to date; "
              "{off} channel-periods beyond ±10 % of plan; {unplanned:,.0f} spent where "
              "nothing was planned.",
        "zh-CN": "预算执行率：截至当前计划 {planned:,.0f} 的 {rate:.1%}；"
                 "{off} 个渠道期偏离计划超过 ±10%；计划外花费 {unplanned:,.0f}。"},
    "budget.title_curves": {
        "en": "Response curves per {period}: revenue = a·(1 − e^(−spend/b)), a the revenue "
              "the channel saturates at, b the spend scale",
        "zh-CN": "每{period}响应曲线：收入 = a·(1 − e^(−花费/b))，a 为饱和收入，b 为花费尺度"},
    "budget.a": {"en": "a", "zh-CN": "a"},
    "budget.b": {"en": "b", "zh-CN": "b"},
    "budget.mean_spend": {"en": "mean spend", "zh-CN": "平均花费"},
    "budget.mean_revenue": {"en": "mean revenue", "zh-CN": "平均归因收入"},
    "budget.r2": {"en": "R²", "zh-CN": "R²"},
    "budget.method": {"en": "fit", "zh-CN": "拟合方式"},
    "budget.method.least_squares": {"en": "fitted", "zh-CN": "已拟合"},
    "budget.method.mean_point": {"en": "mean-point fallback", "zh-CN": "均值点回退"},
    "budget.method.no_revenue": {"en": "no revenue", "zh-CN": "无归因收入"},
    "budget.method.no_spend": {"en": "no spend", "zh-CN": "无花费"},
    "budget.method.given": {"en": "given", "zh-CN": "给定"},
    "budget.linear": {"en": "linear so far", "zh-CN": "尚未饱和"},
    "budget.title_mix": {
        "en": "Marketing-mix model: {outcome} per week, {weeks} weeks (adstock, Hill "
              "saturation, trend, seasons, promotions); ROI = incremental {outcome} per unit "
              "of spend, {level:.0%} interval",
        "zh-CN": "营销组合模型：每周{outcome}，共 {weeks} 周（广告滞留、Hill 饱和、趋势、季节、"
                 "促销）；ROI = 每单位花费带来的增量{outcome}，{level:.0%} 区间"},
    "budget.outcome.new_customers": {"en": "new customers", "zh-CN": "新客户数"},
    "budget.outcome.revenue": {"en": "revenue", "zh-CN": "收入"},
    "budget.roi": {"en": "ROI", "zh-CN": "ROI"},
    "budget.roi_interval": {"en": "interval", "zh-CN": "区间"},
    "budget.spend_variation": {"en": "own variation", "zh-CN": "独立波动"},
    "budget.verdict": {"en": "verdict", "zh-CN": "结论"},
    "budget.signal.credible": {"en": "credible: may move", "zh-CN": "可信：可调整"},
    "budget.signal.weak": {"en": "not enough signal", "zh-CN": "信号不足"},
    "budget.signal.spend_variation": {
        "en": "not enough signal: its spend never moved apart from trend, seasons and "
              "promotions (variation {value:.2f} < {threshold:.2f})",
        "zh-CN": "信号不足：花费从未脱离趋势、季节和促销独立变化（波动 {value:.2f} < "
                 "{threshold:.2f}）"},
    "budget.signal.holdout_fit": {
        "en": "not enough signal: the model does not predict weeks it has not seen "
              "(out-of-time R² {value:.3f} < {threshold:.2f})",
        "zh-CN": "信号不足：模型无法预测未参与拟合的周（样本外 R² {value:.3f} < {threshold:.2f}）"},
    "budget.signal.interval_width": {
        "en": "not enough signal: the ROI interval is {value:.1f}× the estimate (at most "
              "{threshold:.1f}×)",
        "zh-CN": "信号不足：ROI 区间宽度为估计值的 {value:.1f} 倍（上限 {threshold:.1f} 倍）"},
    "budget.signal.no_model": {
        "en": "not enough signal: no mix model could be fitted ({note})",
        "zh-CN": "信号不足：无法拟合营销组合模型（{note}）"},
    "budget.signal.no_spend_in_model": {
        "en": "not enough signal: no spend in the weeks the model fitted",
        "zh-CN": "信号不足：模型拟合的周内没有花费"},
    "budget.mix_fit": {
        "en": "Fit: in-sample R² {r2_in:.2f}; out-of-time R² {r2:.2f} and MAPE {mape:.1%} over "
              "{folds} blocks of weeks ({extra} weeks beyond the spend seen, not scored). A "
              "channel moves only if its own spend variation ≥ {min_var:.2f}, the "
              "out-of-time R² ≥ {min_r2:.2f} and its ROI interval ≤ {max_ratio:.1f}× the "
              "estimate.",
        "zh-CN": "拟合：样本内 R² {r2_in:.2f}；按 {folds} 段周做样本外检验，R² {r2:.2f}，MAPE "
                 "{mape:.1%}（{extra} 周花费超出拟合所见范围，不计分）。渠道仅在独立花费波动 ≥ "
                 "{min_var:.2f}、样本外 R² ≥ {min_r2:.2f} 且 ROI 区间 ≤ 估计值 {max_ratio:.1f} "
                 "倍时才会调整。"},
    "mmm.none": {
        "en": "The run fitted no marketing-mix model, so the budget moved no channel.",
        "zh-CN": "本次运行未拟合营销组合模型，因此预算未调整任何渠道。"},
    "mmm.intro": {
        "en": "What each channel's spend bought, from the run's marketing-mix model of {outcome} "
              "per week ({weeks} weeks, {first} to {last}; adstock carry-over, Hill saturation, "
              "trend, seasons and promotions). Contribution: the {outcome} lost had the channel "
              "spent nothing; ROI: contribution per unit of spend, with its {level:.0%} "
              "interval from {boot} block-bootstrap refits.",
        "zh-CN": "各渠道花费带来的效果，来自本次运行每周{outcome}的营销组合模型（{weeks} 周，"
                 "{first} 至 {last}；广告滞留、Hill 饱和、趋势、季节和促销）。贡献：若该渠道"
                 "不花费将减少的{outcome}；ROI：每单位花费的贡献，{level:.0%} 区间来自 {boot} "
                 "次分块自助法重拟合。"},
    "mmm.adstock": {
        "en": "θ {decay:.1f} (half-life {weeks:.1f} wk)",
        "zh-CN": "θ {decay:.1f}（半衰期 {weeks:.1f} 周）"},
    "mmm.adstock_none": {"en": "none (θ 0)", "zh-CN": "无滞留（θ 0）"},
    "mmm.saturation": {
        "en": "K {half}/wk, S {shape:g}", "zh-CN": "K {half}/周，S {shape:g}"},
    "mmm.verdict.credible": {
        "en": "credible: own spend variation {variation:.2f}, out-of-time R² {r2:.2f}, interval "
              "{ratio:.1f}× the estimate",
        "zh-CN": "可信：独立花费波动 {variation:.2f}，样本外 R² {r2:.2f}，区间为估计值的 "
                 "{ratio:.1f} 倍"},
    "mmm.decision.moves": {
        "en": "may move: {current} → {suggested} ({change})",
        "zh-CN": "可调整：{current} → {suggested}（{change}）"},
    "mmm.decision.keeps": {
        "en": "keeps its current spend, {current}", "zh-CN": "维持当前花费 {current}"},
    "mmm.decision.stays": {
        "en": "credible; stays at {current} (the best split of the credible channels' total)",
        "zh-CN": "可信；维持 {current}（可信渠道总预算的最优分配）"},
    "mmm.kept": {
        "en": "The budget keeps the current spend of {n} of {total} channels ({channels}): "
              "their curves are not credible (see each verdict), and money never moves on a "
              "curve nobody can trust.",
        "zh-CN": "预算维持 {total} 个渠道中 {n} 个（{channels}）的当前花费：它们的曲线不可信"
                 "（见各自结论），预算不会依据无法信任的曲线调整。"},
    "mmm.title_curves": {
        "en": "Fitted curves: contribution (incremental {outcome} over the weeks fitted), "
              "carry-over θ and Hill saturation K (weekly spend at half effect), S (shape)",
        "zh-CN": "拟合曲线：贡献（拟合期内的增量{outcome}）、滞留系数 θ、Hill 饱和 K（达到一半效果的"
                 "每周花费）与形状 S"},
    "mmm.col.contribution": {"en": "contribution", "zh-CN": "贡献"},
    "mmm.col.adstock": {"en": "carry-over", "zh-CN": "滞留效应"},
    "mmm.col.saturation": {"en": "saturation", "zh-CN": "饱和曲线"},
    "mmm.col.budget": {"en": "budget", "zh-CN": "预算"},
    "mmm.col.spend": {"en": "spend fitted", "zh-CN": "拟合期花费"},
    "mmm.axis.roi": {"en": "ROI ({outcome} per unit of spend)",
                     "zh-CN": "ROI（每单位花费的{outcome}）"},
    "mmm.fig.title": {"en": "Marketing-mix ROI per channel, {level:.0%} interval",
                      "zh-CN": "各渠道营销组合 ROI（{level:.0%} 区间）"},
    "budget.uplift_mix": {
        "en": "Expected {outcome} per {period} under the mix model: {now:,.1f} now → {new:,.1f} "
              "with the suggestion ({pct:+.1%}), same total budget.",
        "zh-CN": "按营销组合模型，每{period}预期{outcome}：当前 {now:,.1f} → 建议后 {new:,.1f}"
                 "（{pct:+.1%}），总预算不变。"},
    "budget.title_realloc": {
        "en": "Suggested reallocation of {budget:,.0f} per {period} (each channel ±{max_change:.0%})",
        "zh-CN": "每{period} {budget:,.0f} 预算的建议再分配（每个渠道 ±{max_change:.0%}）"},
    "budget.current": {"en": "current", "zh-CN": "当前预算"},
    "budget.suggested": {"en": "suggested", "zh-CN": "建议预算"},
    "budget.change": {"en": "change", "zh-CN": "变化"},
    "budget.marginal_now": {"en": "marginal return now", "zh-CN": "当前边际回报"},
    "budget.marginal_suggested": {"en": "marginal return then", "zh-CN": "调整后边际回报"},
    "budget.uplift": {
        "en": "Expected attributed revenue per {period}: {now:,.0f} now → {new:,.0f} with the "
              "suggestion ({pct:+.1%}), same total budget.",
        "zh-CN": "每{period}预期归因收入：当前 {now:,.0f} → 建议后 {new:,.0f}（{pct:+.1%}），"
                 "总预算不变。"},
    "budget.fallback": {
        "en": "Too few periods for a fitted curve (mean-point fallback): {channels}",
        "zh-CN": "数据期数不足、未能拟合曲线（采用均值点回退）：{channels}"},
    # -- risk (strategy.risk, cli: risk)
    "risk.title": {"en": "Risk register as of {as_of}: {high} high, {medium} medium, {low} low",
                   "zh-CN": "风险登记表（截至 {as_of}）：高 {high} 项，中 {medium} 项，低 {low} 项"},
    "risk.col.id": {"en": "id", "zh-CN": "编号"},
    "risk.col.indicator": {"en": "indicator", "zh-CN": "指标"},
    "risk.col.value": {"en": "value", "zh-CN": "数值"},
    "risk.col.threshold": {"en": "threshold", "zh-CN": "阈值"},
    "risk.col.level": {"en": "level", "zh-CN": "等级"},
    "risk.col.impact": {"en": "impact", "zh-CN": "影响"},
    "risk.col.exposure": {"en": "at stake", "zh-CN": "涉及金额"},
    "risk.col.owner": {"en": "owner", "zh-CN": "负责人"},
    "risk.col.action": {"en": "suggested action", "zh-CN": "建议措施"},
    "risk.cat.concentration": {"en": "concentration", "zh-CN": "集中度风险"},
    "risk.cat.credit": {"en": "credit", "zh-CN": "信用风险"},
    "risk.cat.operational": {"en": "operational", "zh-CN": "操作风险"},
    "risk.cat.reputation": {"en": "reputation", "zh-CN": "声誉风险"},
    "risk.cat.churn": {"en": "premium churn", "zh-CN": "高端客户流失"},
    "risk.cat.anomaly": {"en": "KPI anomaly", "zh-CN": "指标异常"},
    "risk.ind.top1pct_share": {"en": "revenue share of the top 1 % of customers",
                               "zh-CN": "前 1% 客户收入占比"},
    "risk.ind.top10_share": {"en": "revenue share of the top 10 customers",
                             "zh-CN": "前 10 名客户收入占比"},
    "risk.ind.customer_hhi": {"en": "customer concentration (HHI)", "zh-CN": "客户集中度（HHI）"},
    "risk.ind.industry_hhi": {"en": "industry concentration (HHI)", "zh-CN": "行业集中度（HHI）"},
    "risk.ind.overdue_share": {"en": "receivables past due", "zh-CN": "逾期应收账款占比"},
    "risk.ind.weak_credit_share": {"en": "invoiced customers in credit grade D/E",
                                   "zh-CN": "信用等级 D/E 客户占比"},
    "risk.ind.sla_breach_rate": {"en": "tickets answered later than the tier's SLA",
                                 "zh-CN": "超出等级响应时限的工单占比"},
    "risk.ind.late_delivery_rate": {"en": "orders delivered late", "zh-CN": "延迟交付订单占比"},
    "risk.ind.complaints_per_100_orders": {"en": "complaints per 100 orders",
                                           "zh-CN": "每百单投诉数"},
    "risk.ind.detractor_share": {"en": "detractors (NPS 0–6)", "zh-CN": "贬损者占比（NPS 0–6）"},
    "risk.ind.nps": {"en": "NPS", "zh-CN": "净推荐值 NPS"},
    "risk.ind.negative_sentiment_share": {"en": "negative feedback texts",
                                          "zh-CN": "负面反馈文本占比"},
    "risk.ind.negative_feedback_spike": {"en": "negative feedback spike this week (robust z)",
                                         "zh-CN": "本周负面反馈激增（稳健 z 值）"},
    "risk.ind.premium_churn_predicted": {"en": "premium (Diamond/Core) churn risk, predicted",
                                         "zh-CN": "高端（钻石/核心）客户预测流失率"},
    "risk.ind.premium_churn_observed": {"en": "premium-customer churn, last year",
                                        "zh-CN": "高端客户实际流失率（近一年）"},
    "risk.ind.kpi_anomalies": {"en": "KPI anomalies in the last 14 days",
                               "zh-CN": "近 14 天指标异常次数"},
    "risk.action.top1pct_share": {
        "en": "Diversify: grow Core and Potential accounts; dedicated team for the top accounts",
        "zh-CN": "客户多元化：培育核心与潜力客户；为头部客户配备专属团队"},
    "risk.action.top10_share": {
        "en": "Reduce dependence on the top 10: multi-year agreements, widen the customer base",
        "zh-CN": "降低对前十大客户的依赖：签订长期协议，扩大客户基础"},
    "risk.action.customer_hhi": {
        "en": "Spread revenue over more customers; watch the largest accounts monthly",
        "zh-CN": "分散客户收入；每月跟踪最大客户"},
    "risk.action.industry_hhi": {
        "en": "Spread across industries: target under-represented industries",
        "zh-CN": "行业分散：开拓占比偏低的行业"},
    "risk.action.overdue_share": {
        "en": "Chase overdue invoices; move D/E accounts to prepayment; review credit limits",
        "zh-CN": "催收逾期账款；D/E 级客户改为预付款；复核信用额度"},
    "risk.action.weak_credit_share": {
        "en": "Require prepayment or a guarantee from D/E accounts before new orders",
        "zh-CN": "D/E 级客户下单前须预付款或提供担保"},
    "risk.action.sla_breach_rate": {
        "en": "Route Diamond/Core tickets first, staff to the tier SLAs, review breaches weekly",
        "zh-CN": "钻石/核心客户工单优先处理，按等级时限配置人力，每周复盘超时工单"},
    "risk.action.late_delivery_rate": {
        "en": "Review carriers and promise dates; tell delayed customers before they ask",
        "zh-CN": "复核物流商与承诺时效；主动告知延迟客户"},
    "risk.action.complaints_per_100_orders": {
        "en": "Root-cause the top complaint themes; close the loop with each complainant",
        "zh-CN": "分析主要投诉原因；逐一回访投诉客户"},
    "risk.action.detractor_share": {
        "en": "Call detractors back within their tier's SLA; fix the causes they name",
        "zh-CN": "在等级时限内回访贬损者；解决其指出的问题"},
    "risk.action.nps": {
        "en": "Aim for NPS > 50: act on detractor themes, ask promoters for referrals",
        "zh-CN": "以 NPS 超过 50 为目标：处理贬损原因，邀请推荐者转介绍"},
    "risk.action.negative_sentiment_share": {
        "en": "Monitor feedback sentiment; prepare responses to the recurring themes",
        "zh-CN": "监测反馈情感；针对反复出现的问题准备回应"},
    "risk.action.negative_feedback_spike": {
        "en": "Start the public-opinion response plan: find this week's cause, respond publicly",
        "zh-CN": "启动舆情应对预案：查明本周原因并公开回应"},
    "risk.action.premium_churn_predicted": {
        "en": "Retention programme for at-risk Diamond/Core: personal outreach, premium benefits",
        "zh-CN": "针对高风险钻石/核心客户的挽留计划：专人联系、高端权益"},
    "risk.action.premium_churn_observed": {
        "en": "Premium retention below the industry benchmark (78 %): review service and "
              "upgrade offers",
        "zh-CN": "高端客户留存低于行业标杆（78%）：复盘服务与升级方案"},
    "risk.action.kpi_anomalies": {
        "en": "Check the flagged days: data problem, promotion effect or a real shift?",
        "zh-CN": "核查异常日期：数据问题、促销影响还是真实变化？"},
    "risk.owner.key_account_manager": {"en": "key account manager", "zh-CN": "大客户经理"},
    "risk.owner.sales_director": {"en": "sales director", "zh-CN": "销售总监"},
    "risk.owner.credit_controller": {"en": "credit controller (finance)",
                                     "zh-CN": "信用管理（财务）"},
    "risk.owner.service_manager": {"en": "customer service manager", "zh-CN": "客服经理"},
    "risk.owner.logistics_manager": {"en": "logistics manager", "zh-CN": "物流经理"},
    "risk.owner.brand_manager": {"en": "brand / PR manager", "zh-CN": "品牌公关经理"},
    "risk.owner.crm_manager": {"en": "CRM manager", "zh-CN": "客户关系经理"},
    "risk.owner.marketing_analyst": {"en": "marketing analyst", "zh-CN": "营销分析师"},
    "risk.not_assessed": {"en": "not assessed", "zh-CN": "未评估"},
    "risk.actions": {"en": "Suggested actions", "zh-CN": "建议措施"},
    "risk.credit_title": {"en": "Credit grades of invoiced customers",
                          "zh-CN": "开票客户信用等级"},
    "risk.credit.grade": {"en": "grade", "zh-CN": "等级"},
    "risk.credit.customers": {"en": "customers", "zh-CN": "客户数"},
    "risk.credit.overdue_amount": {"en": "overdue", "zh-CN": "逾期金额"},
    "risk.credit.credit_limit": {"en": "credit limits", "zh-CN": "信用额度合计"},
    "risk.credit.prepayment": {"en": "prepayment", "zh-CN": "预付款比例"},
    "risk.credit.guarantee": {"en": "guarantee", "zh-CN": "担保"},
    "risk.credit_rule": {
        "en": "E: an invoice > 90 days past due · D: > 30 days, or overdue > 50 % of the year's "
              "invoicing · C: anything past due, or most invoices paid late · B: paid late "
              "once · A: on time. Limits: A 3, B 2, C 1 month(s) of average invoicing.",
        "zh-CN": "E：有发票逾期超过 90 天 · D：逾期超过 30 天，或逾期额超过年开票额的 50% · "
                 "C：有逾期，或多数发票延迟付款 · B：曾延迟付款 · A：按时付款。额度：A 3 个月、"
                 "B 2 个月、C 1 个月的平均开票额。"},
    "risk.yes": {"en": "required", "zh-CN": "需要"},
    "risk.no": {"en": "–", "zh-CN": "–"},
    "risk.sla_title": {"en": "First response against the tier SLA (last 90 days)",
                       "zh-CN": "首次响应与等级时限对比（近 90 天）"},
    "risk.sla.sla_hours": {"en": "SLA", "zh-CN": "响应时限"},
    "risk.sla.tickets": {"en": "tickets", "zh-CN": "工单数"},
    "risk.sla.breached": {"en": "late", "zh-CN": "超时数"},
    "risk.sla.breach_rate": {"en": "late share", "zh-CN": "超时占比"},
    "risk.sla.median_response": {"en": "median response", "zh-CN": "响应时间中位数"},
    "risk.anomalies_title": {
        "en": "KPI anomalies (robust z beyond {z:g} against the {window} days before)",
        "zh-CN": "指标异常（相对前 {window} 天稳健 z 值超过 {z:g}）"},
    "risk.anomaly.day": {"en": "day", "zh-CN": "日期"},
    "risk.anomaly.kpi": {"en": "KPI", "zh-CN": "指标"},
    "risk.anomaly.value": {"en": "value", "zh-CN": "数值"},
    "risk.anomaly.expected": {"en": "usual", "zh-CN": "常态值"},
    "risk.anomaly.z": {"en": "z", "zh-CN": "z 值"},
    "risk.anomaly.promotion": {"en": "promotion running", "zh-CN": "进行中的促销"},
    "risk.kpi.revenue": {"en": "revenue", "zh-CN": "收入"},
    "risk.kpi.orders": {"en": "orders", "zh-CN": "订单数"},
    "risk.kpi.new_customers": {"en": "new customers", "zh-CN": "新客户数"},
    # next best action and recommendations
    "automation.col.id": {"en": "id", "zh-CN": "编号"},
    "automation.col.fired": {"en": "fired (UTC)", "zh-CN": "触发时间 (UTC)"},
    "automation.col.rule": {"en": "rule", "zh-CN": "规则"},
    "automation.col.severity": {"en": "severity", "zh-CN": "级别"},
    "automation.col.subject": {"en": "subject", "zh-CN": "对象"},
    "automation.col.detail": {"en": "detail", "zh-CN": "详情"},
    "automation.col.due": {"en": "due (UTC)", "zh-CN": "截止 (UTC)"},
    "automation.col.status": {"en": "status", "zh-CN": "状态"},
    "automation.col.assignee": {"en": "assignee", "zh-CN": "负责人"},
    "automation.col.tier": {"en": "tier", "zh-CN": "等级"},
    "automation.col.title": {"en": "title", "zh-CN": "任务"},
    "automation.no_alerts": {"en": "no alerts", "zh-CN": "没有告警"},
    "automation.no_tasks": {"en": "no tasks", "zh-CN": "没有任务"},
    "automation.none_fired": {"en": "no rule fired (or all are cooling down)",
                              "zh-CN": "没有规则触发（或均在冷却期内）"},
    "automation.fired": {"en": "fired", "zh-CN": "已触发"},
    "automation.overdue": {"en": "overdue", "zh-CN": "已逾期"},
    "outcome.reached": {"en": "reached", "zh-CN": "已联系上"},
    "outcome.not_reached": {"en": "not reached", "zh-CN": "未联系上"},
    "outcome.converted": {"en": "converted", "zh-CN": "已成交"},
    "roster.loaded": {"en": "{source}: {managers} account managers loaded ({added} new, "
                            "{updated} updated, {deactivated} no longer listed); {assignments} "
                            "customers assigned explicitly",
                      "zh-CN": "{source}：已载入 {managers} 位客户经理（新增 {added}，更新 "
                               "{updated}，不再列出 {deactivated}）；{assignments} 位客户为指定分配"},
    "workload.none": {"en": "no account managers and no assigned tasks",
                      "zh-CN": "没有客户经理，也没有已分配的任务"},
    "workload.col.assignee": {"en": "account manager", "zh-CN": "客户经理"},
    "workload.col.open": {"en": "open", "zh-CN": "待办"},
    "workload.col.overdue": {"en": "overdue", "zh-CN": "已逾期"},
    "workload.col.done": {"en": "done", "zh-CN": "已完成"},
    "workload.col.in_sla": {"en": "done within SLA", "zh-CN": "按时完成（SLA 内）"},
    "workload.col.converted": {"en": "converted", "zh-CN": "已成交"},
    "worklist.title": {"en": "upmarket — worklist", "zh-CN": "upmarket — 任务清单"},
    "worklist.open": {"en": "open the worklist", "zh-CN": "打开任务清单"},
    "worklist.any": {"en": "any", "zh-CN": "全部"},
    "worklist.nobody": {"en": "nobody yet", "zh-CN": "尚未分配"},
    "worklist.state": {"en": "due state", "zh-CN": "到期状态"},
    "worklist.state.all_open": {"en": "open and overdue", "zh-CN": "待办与逾期"},
    "worklist.state.open": {"en": "open", "zh-CN": "待办"},
    "worklist.state.overdue": {"en": "overdue", "zh-CN": "已逾期"},
    "worklist.state.done": {"en": "done", "zh-CN": "已完成"},
    "worklist.apply": {"en": "Show", "zh-CN": "筛选"},
    "worklist.tasks": {"en": "Tasks {first}–{last} of {total}",
                       "zh-CN": "任务：第 {first}–{last} 条，共 {total} 条"},
    "worklist.what": {"en": "what to do, and why", "zh-CN": "要做什么，为什么"},
    "worklist.act": {"en": "act", "zh-CN": "处理"},
    "worklist.why": {"en": "why", "zh-CN": "原因"},
    "worklist.reason": {"en": "customer", "zh-CN": "客户情况"},
    "worklist.outcome": {"en": "outcome", "zh-CN": "结果"},
    "worklist.done": {"en": "Done", "zh-CN": "完成"},
    "worklist.reassign": {"en": "Reassign", "zh-CN": "转派"},
    "worklist.prev": {"en": "previous", "zh-CN": "上一页"},
    "worklist.next": {"en": "next", "zh-CN": "下一页"},
    "worklist.page": {"en": "page {page} of {pages}", "zh-CN": "第 {page} / {pages} 页"},
    "worklist.workload": {"en": "Workload per account manager",
                          "zh-CN": "客户经理工作量"},
    "worklist.inactive": {"en": "no longer on the roster", "zh-CN": "已不在名单中"},
    "worklist.note.done": {"en": "Task {id} is done.", "zh-CN": "任务 {id} 已完成。"},
    "worklist.note.assigned": {"en": "Task {id} has a new assignee.",
                               "zh-CN": "任务 {id} 已转派。"},
    "automation.status.open": {"en": "open", "zh-CN": "待处理"},
    "automation.status.done": {"en": "done", "zh-CN": "已完成"},
    "automation.status.failed": {"en": "failed", "zh-CN": "失败"},
    "automation.status.cancelled": {"en": "cancelled", "zh-CN": "已取消"},
    "automation.status.sent": {"en": "sent", "zh-CN": "已发送"},
    "automation.kind.task": {"en": "task", "zh-CN": "人工任务"},
    "automation.kind.webhook": {"en": "webhook", "zh-CN": "Webhook 推送"},
    "automation.kind.export": {"en": "export", "zh-CN": "导出"},
    "automation.assignee.risk": {"en": "risk", "zh-CN": "风控"},
    "automation.rule.premium_churn_risk": {"en": "premium customer at risk",
                                           "zh-CN": "高端客户流失风险"},
    "automation.rule.premium_win_back": {"en": "premium customer to win back",
                                         "zh-CN": "高端客户召回"},
    "automation.rule.channel_roi_drop": {"en": "channel ROI drop", "zh-CN": "渠道投资回报下降"},
    "automation.rule.high_risk": {"en": "high risk", "zh-CN": "高风险预警"},
    "automation.rule.member_upgraded_gold_plus": {"en": "member upgraded to Gold or above",
                                                  "zh-CN": "会员升级至金卡及以上"},
    "automation.rule.member_downgraded": {"en": "member moved down a level",
                                          "zh-CN": "会员降级挽留"},
    "automation.rule.points_expiring_soon": {"en": "points expiring soon",
                                             "zh-CN": "积分即将过期"},
    "automation.severity.high": {"en": "high", "zh-CN": "高"},
    "automation.severity.medium": {"en": "medium", "zh-CN": "中"},
    "automation.severity.low": {"en": "low", "zh-CN": "低"},
    "automation.assignee.marketing": {"en": "marketing", "zh-CN": "市场部"},
    "dashboard.title": {"en": "upmarket — customer value dashboard",
                        "zh-CN": "upmarket — 客户价值看板"},
    "dashboard.key": {"en": "API key (read scope)", "zh-CN": "API 密钥（需读取权限）"},
    "dashboard.key_help": {"en": "Make one with: upmarket keys create NAME --scope read. A key "
                                 "with the export scope shows customer ids in the clear.",
                           "zh-CN": "用「upmarket keys create 名称 --scope read」创建；具有导出权限"
                                    "的密钥可看到明文客户编号。"},
    "dashboard.sign_in": {"en": "Sign in", "zh-CN": "登录"},
    "dashboard.logout": {"en": "Sign out", "zh-CN": "退出"},
    "dashboard.bad_key": {"en": "That key is unknown, revoked or lacks the read scope.",
                          "zh-CN": "该密钥无效、已撤销或没有读取权限。"},
    "dashboard.cross_site": {
        "en": "Refused: this form was sent from another site ({origin}), not from the dashboard "
              "itself ({expected}). Open {expected}/dashboard and sign in there. Behind an HTTPS "
              "proxy, start the service with upmarket serve --trust-proxy.",
        "zh-CN": "已拒绝：该表单来自其他站点（{origin}），而不是看板本身（{expected}）。请打开 "
                 "{expected}/dashboard 并在那里登录。若服务位于 HTTPS 反向代理之后，请用 "
                 "「upmarket serve --trust-proxy」启动。"},
    "dashboard.form_expired": {
        "en": "This form has expired or lacks its security token (field csrf_token): reload "
              "the page and try again.",
        "zh-CN": "该表单已过期或缺少安全令牌（字段 csrf_token）：请刷新页面后重试。"},
    "dashboard.run": {"en": "run {run_id}, data as of {as_of}",
                      "zh-CN": "运行 {run_id}，数据截至 {as_of}"},
    "dashboard.customers": {"en": "customers", "zh-CN": "客户数"},
    "dashboard.total_clv": {"en": "CLV: predicted 12-month margin of all customers (total)",
                            "zh-CN": "CLV：全部客户未来12个月预测利润（合计）"},
    "dashboard.mean_clv": {"en": "CLV: predicted 12-month margin per customer (mean)",
                           "zh-CN": "CLV：每位客户未来12个月预测利润（均值）"},
    "dashboard.premium_at_risk": {"en": "Diamond and Core customers at risk (churn ≥ 60 %)",
                                  "zh-CN": "高流失风险的钻石与核心客户（流失风险 ≥ 60%）"},
    "dashboard.open_tasks": {"en": "open tasks", "zh-CN": "待办任务"},
    "dashboard.overdue_tasks": {"en": "tasks past their SLA", "zh-CN": "超出响应时限的任务"},
    "dashboard.pseudonymised": {"en": "Customer ids are pseudonymised: sign in with a key that "
                                      "has the export scope to see them in the clear.",
                                "zh-CN": "客户编号已假名化：使用具有导出权限的密钥登录可查看明文。"},
    "dashboard.tiers": {"en": "Value tiers and their service levels",
                        "zh-CN": "价值等级与服务标准"},
    "dashboard.tasks": {"en": "Open tasks, soonest due first", "zh-CN": "待办任务（按截止时间）"},
    "dashboard.at_risk": {"en": "Premium customers at risk, by value at stake (CLV × churn risk)",
                          "zh-CN": "高风险高价值客户（按风险价值：生命周期价值 × 流失风险）"},
    "dashboard.upsell": {"en": "Upsell list, by expected value",
                         "zh-CN": "向上销售名单（按期望价值）"},
    "dashboard.alerts": {"en": "Recent alerts", "zh-CN": "最近告警"},
    "dashboard.none": {"en": "none", "zh-CN": "无"},
    "dashboard.col.customers": {"en": "customers", "zh-CN": "客户数"},
    "dashboard.col.clv": {"en": "CLV (12-month margin)", "zh-CN": "CLV（12个月利润）"},
    "dashboard.col.at_risk": {"en": "at risk", "zh-CN": "高风险"},
    "dashboard.col.churn_risk": {"en": "churn risk", "zh-CN": "流失风险"},
    "dashboard.col.action": {"en": "next best action", "zh-CN": "下一步最佳行动"},
    "dashboard.col.product": {"en": "premium product", "zh-CN": "高端产品"},
    "dashboard.col.channel": {"en": "channel", "zh-CN": "渠道"},
    "dashboard.col.expected_value": {"en": "expected value", "zh-CN": "期望价值"},
    "customer.title": {"en": "Customer {id}", "zh-CN": "客户 {id}"},
    "customer.search": {"en": "Search", "zh-CN": "搜索"},
    "customer.search_title": {"en": "Find a customer", "zh-CN": "查找客户"},
    "customer.search_hint": {"en": "customer id", "zh-CN": "客户编号"},
    "customer.search_hint_pii": {"en": "customer id, name, phone or e-mail",
                                 "zh-CN": "客户编号、姓名、电话或邮箱"},
    "customer.search_help": {
        "en": "Type a customer id (or the pseudonym shown on the dashboard). Searching by name, "
              "phone or e-mail needs a key with the export scope.",
        "zh-CN": "输入客户编号（或看板上显示的假名编号）。按姓名、电话或邮箱搜索需要具有 export "
                 "权限的密钥。"},
    "customer.search_help_pii": {"en": "Type a customer id, a name, a phone number or an e-mail "
                                       "address.",
                                 "zh-CN": "输入客户编号、姓名、电话号码或邮箱地址。"},
    "customer.search_refused": {
        "en": "Searching by name, phone or e-mail needs a key allowed to see personal data "
              "(scope export); this key may search by customer id only. Nothing was searched.",
        "zh-CN": "按姓名、电话或邮箱搜索需要可查看个人信息的密钥（导出权限：upmarket keys create "
                 "名称 --scope export）；当前密钥只能按客户编号搜索。未执行搜索。"},
    "customer.search_none": {"en": "No customer of the current run matches “{query}”.",
                             "zh-CN": "当前运行中没有与“{query}”匹配的客户。"},
    "customer.search_matches": {"en": "{n} customers match, highest CLV first.",
                                "zh-CN": "{n} 位客户匹配，按生命周期价值从高到低排列。"},
    "customer.unknown_pseudonym": {
        "en": "No customer of the current run has the pseudonym {pseudonym}: it may come from "
              "an older run or another warehouse.",
        "zh-CN": "当前运行中没有假名编号为 {pseudonym} 的客户：它可能来自较早的运行或其他数据仓库。"},
    "customer.pii_hidden": {
        "en": "Name, phone, e-mail and the text of tickets and feedback are hidden: sign in with "
              "a key that has the export scope to see them.",
        "zh-CN": "姓名、电话、邮箱以及工单和反馈的文字已隐藏：使用具有导出权限的密钥（upmarket keys "
                 "create 名称 --scope export）登录可查看。"},
    "customer.identity": {"en": "Identity and profile", "zh-CN": "身份与画像"},
    "customer.name": {"en": "name", "zh-CN": "姓名"},
    "customer.email": {"en": "e-mail", "zh-CN": "邮箱"},
    "customer.phone": {"en": "phone", "zh-CN": "电话"},
    "customer.contact": {"en": "name, phone, e-mail", "zh-CN": "姓名、电话、邮箱"},
    "customer.hidden": {"en": "hidden (needs the export scope)",
                        "zh-CN": "已隐藏（需要导出权限）"},
    "customer.hidden_cli": {"en": "hidden: add --with-pii (recorded in the audit log)",
                            "zh-CN": "已隐藏：加 --with-pii 可查看（记入审计日志）"},
    "customer.city_tier": {"en": "city tier", "zh-CN": "城市等级"},
    "customer.tier_service": {"en": "Tier and service level", "zh-CN": "价值等级与服务标准"},
    "customer.sla": {"en": "response time (SLA)", "zh-CN": "响应时限（SLA）"},
    "customer.value": {"en": "Value", "zh-CN": "价值"},
    "customer.clv_interval": {"en": "CLV, 80 % interval", "zh-CN": "CLV 80% 区间"},
    "customer.interval": {"en": "{level} % interval {low} – {high}",
                          "zh-CN": "{level}% 区间 {low} – {high}"},
    "customer.no_interval": {"en": "no interval: the value model in use has no per-customer "
                                   "posterior",
                             "zh-CN": "无区间：当前价值模型没有客户级后验分布"},
    "customer.scores": {"en": "RFM, lifecycle, churn and propensity",
                        "zh-CN": "RFM、生命周期、流失与购买倾向"},
    "customer.reason": {"en": "why", "zh-CN": "原因"},
    "customer.recommendations": {"en": "Recommended products", "zh-CN": "推荐商品"},
    "customer.product": {"en": "product", "zh-CN": "商品"},
    "customer.price_tier": {"en": "price tier", "zh-CN": "价格档次"},
    "customer.score": {"en": "score", "zh-CN": "得分"},
    "customer.consents": {"en": "Consents in force, per purpose and channel",
                          "zh-CN": "当前有效的授权（按用途和渠道）"},
    "customer.no_consents": {"en": "no consent recorded: the customer may not be contacted",
                             "zh-CN": "没有授权记录：不得联系该客户"},
    "customer.purpose": {"en": "purpose", "zh-CN": "用途"},
    "purpose.marketing": {"en": "marketing", "zh-CN": "营销"},
    # `upmarket consents set|list`
    "consent.recorded": {"en": "{customer}: {purpose} consent on {channel} {state}",
                         "zh-CN": "{customer}：{channel}渠道的{purpose}同意已{state}"},
    "consent.already": {"en": " (already recorded)", "zh-CN": "（此前已记录）"},
    "consent.given": {"en": "given", "zh-CN": "给予"},
    "consent.withdrawn": {"en": "withdrawn", "zh-CN": "撤回"},
    "consent.title": {"en": "consents of {customer}", "zh-CN": "{customer} 的同意"},
    "consent.history": {"en": "history", "zh-CN": "历史记录"},
    "consent.col.purpose": {"en": "purpose", "zh-CN": "用途"},
    "consent.col.channel": {"en": "channel", "zh-CN": "渠道"},
    "consent.col.in_force": {"en": "in force", "zh-CN": "当前状态"},
    "consent.col.since": {"en": "since", "zh-CN": "生效时间"},
    "consent.col.ts": {"en": "ts", "zh-CN": "时间"},
    "consent.col.granted": {"en": "granted", "zh-CN": "同意"},
    "consent.col.source": {"en": "source", "zh-CN": "来源"},
    "consent.col.pending": {"en": "pending", "zh-CN": "待复制到仓库"},
    "consent.yes": {"en": "yes", "zh-CN": "是"},
    "consent.no": {"en": "no", "zh-CN": "否"},
    # `upmarket privacy export|erase`
    "privacy.wrote": {"en": "wrote the data held on {customer} to {out} ({held})",
                      "zh-CN": "已将 {customer} 的全部数据写入 {out}（{held}）"},
    "privacy.nothing_held": {"en": "nothing held", "zh-CN": "未持有任何数据"},
    "privacy.rows_held": {"en": "{rows} rows", "zh-CN": "{rows} 行"},
    "privacy.confirm": {
        "en": "erasing {customer} cannot be undone: add --yes to confirm (upmarket privacy "
              "export first if they asked for a copy)",
        "zh-CN": "删除 {customer} 无法撤销：加上 --yes 确认（如本人要求副本，请先运行 upmarket "
                 "privacy export）"},
    "privacy.listed": {
        "en": "; {n} identifier(s) added to the suppression list, so later ingestion and "
              "collection refuse them",
        "zh-CN": "；{n} 个标识已加入屏蔽名单，之后的导入与采集会拒收"},
    "privacy.nothing_to_erase": {"en": "nothing held on {customer}: nothing to erase{listed}",
                                 "zh-CN": "未持有 {customer} 的任何数据：无需删除{listed}"},
    "privacy.erased": {
        "en": "erased {customer}: {rows} rows anonymised as {token}, {deleted} deleted{listed}",
        "zh-CN": "已删除 {customer}：{rows} 行匿名化为 {token}，{deleted} 行已删除{listed}"},
    "privacy.where": {"en": "where", "zh-CN": "位置"},
    "privacy.warehouse": {"en": "warehouse", "zh-CN": "数据仓库"},
    "privacy.opstore": {"en": "opstore", "zh-CN": "运营库"},
    "privacy.opstore_deleted": {"en": "opstore (deleted)", "zh-CN": "运营库（已删除）"},
    "privacy.quarantine_blanked": {"en": "quarantine (raw blanked)",
                                   "zh-CN": "隔离区（原始内容已清空）"},
    "privacy.not_compacted": {"en": "not yet gone from the file's bytes: {problem}",
                              "zh-CN": "尚未从文件的字节中清除：{problem}"},
    # `upmarket privacy compact|purge`
    "privacy.compacted": {"en": "compacted {warehouse} and {database}",
                          "zh-CN": "已压实 {warehouse} 与 {database}"},
    "privacy.purge_needs_age": {
        "en": "how old is too old? Give --older-than-days N or set UPMARKET_RETENTION_DAYS; "
              "nothing is purged by default",
        "zh-CN": "多旧才算过期？请给出 --older-than-days N 或设置 UPMARKET_RETENTION_DAYS；"
                 "默认不清除任何数据"},
    "privacy.purge_would": {
        "en": "would delete events before {cutoff} UTC: {warehouse} from the warehouse, "
              "{inbox} from the inbox",
        "zh-CN": "将删除 {cutoff} UTC 之前的事件：数据仓库 {warehouse} 条，收件箱 {inbox} 条"},
    "privacy.purged": {
        "en": "deleted events before {cutoff} UTC: {warehouse} from the warehouse, "
              "{inbox} from the inbox",
        "zh-CN": "已删除 {cutoff} UTC 之前的事件：数据仓库 {warehouse} 条，收件箱 {inbox} 条"},
    "privacy.purge_kept": {
        "en": "{n} older inbox events are kept: not yet copied to the warehouse (run "
              "`upmarket collect sync` first)",
        "zh-CN": "保留了 {n} 条较旧的收件箱事件：尚未复制到数据仓库（请先运行 "
                 "upmarket collect sync）"},
    "customer.consent_state": {"en": "consent", "zh-CN": "授权"},
    "customer.granted": {"en": "granted", "zh-CN": "已授权"},
    "customer.withdrawn": {"en": "withdrawn", "zh-CN": "已撤回"},
    "customer.since": {"en": "since", "zh-CN": "自"},
    "customer.tasks": {"en": "Tasks ({open} open, {total} in all)",
                       "zh-CN": "任务（待办 {open} 个，共 {total} 个）"},
    "customer.timeline": {"en": "Timeline, newest first", "zh-CN": "时间线（最新在前）"},
    "customer.timeline_more": {"en": "{n:,} older entries are not listed.",
                               "zh-CN": "另有 {n:,} 条更早的记录未列出。"},
    "customer.when": {"en": "when", "zh-CN": "时间"},
    "customer.kind": {"en": "what", "zh-CN": "类型"},
    "customer.what": {"en": "details", "zh-CN": "详情"},
    "customer.resolved": {"en": "resolved", "zh-CN": "已解决"},
    "customer.unresolved": {"en": "not resolved", "zh-CN": "未解决"},
    "customer.satisfaction": {"en": "satisfaction {score:g}/5", "zh-CN": "满意度 {score:g}/5"},
    "customer.timeline.order": {"en": "order {order_id} ({status}, lines: {lines}): {amount:,.2f}",
                                "zh-CN": "订单 {order_id}（{status}，{lines} 行）：{amount:,.2f}"},
    "customer.timeline.ticket": {"en": "ticket {ticket_id}: {kind}, {state}",
                                 "zh-CN": "工单 {ticket_id}：{kind}，{state}"},
    "customer.timeline.consent_given": {"en": "consent given: {purpose} by {channel}",
                                        "zh-CN": "授权：{purpose}（{channel}）"},
    "customer.timeline.consent_withdrawn": {"en": "consent withdrawn: {purpose} by {channel}",
                                            "zh-CN": "撤回授权：{purpose}（{channel}）"},
    "customer.timeline.task": {"en": "{title} (rule {rule}, {status})",
                               "zh-CN": "{title}（规则 {rule}，{status}）"},
    "customer.timeline.next_action": {"en": "next best action of the run: {action}",
                                      "zh-CN": "本次运行的下一步最佳行动：{action}"},
    "timeline.order": {"en": "order", "zh-CN": "订单"},
    "timeline.event": {"en": "event", "zh-CN": "行为事件"},
    "timeline.ticket": {"en": "ticket", "zh-CN": "服务工单"},
    "timeline.feedback": {"en": "feedback", "zh-CN": "反馈"},
    "timeline.consent": {"en": "consent", "zh-CN": "授权"},
    "timeline.action": {"en": "action", "zh-CN": "行动"},
    "status.paid": {"en": "paid", "zh-CN": "已支付"},
    "status.cancelled": {"en": "cancelled", "zh-CN": "已取消"},
    "status.returned": {"en": "returned", "zh-CN": "已退货"},
    "ticket.complaint": {"en": "complaint", "zh-CN": "投诉"},
    "ticket.request": {"en": "request", "zh-CN": "请求"},
    "ticket.delivery_delay": {"en": "delivery delay", "zh-CN": "配送延迟"},
    "ticket.question": {"en": "question", "zh-CN": "咨询"},
    "ticket.return": {"en": "return", "zh-CN": "退货"},
    "task_status.open": {"en": "open", "zh-CN": "待办"},
    "task_status.done": {"en": "done", "zh-CN": "已完成"},
    "task_status.failed": {"en": "failed", "zh-CN": "失败"},
    "task_status.cancelled": {"en": "cancelled", "zh-CN": "已取消"},
    "run_alerts": {"en": "Automation rules: {alerts:,} alerts fired, {tasks:,} tasks in the "
                         "warehouse: ",
                   "zh-CN": "自动化规则：触发 {alerts:,} 条告警，数据仓库中 {tasks:,} 个任务："},
    "run_actions": {"en": "Next best actions ({contacts:,} contacts, expected value {ev:,.0f}): ",
                    "zh-CN": "下一步最佳行动（触达 {contacts:,} 人，期望价值 {ev:,.0f}）："},
    "no_data_for": {"en": "no data", "zh-CN": "无数据"},
    "run_effect_index": {
        "en": "Effect index {period}: {index} (vs {compare}: {compare_index}); risk register: "
              "{high} high, {medium} medium",
        "zh-CN": "效果指数 {period}：{index}（{compare}：{compare_index}）；风险登记：高 {high} 项，"
                 "中 {medium} 项"},
    "action.upsell": {"en": "upsell to premium", "zh-CN": "向上销售（升级高端）"},
    "action.cross_sell": {"en": "cross-sell", "zh-CN": "交叉销售"},
    "action.bundle": {"en": "bundle offer", "zh-CN": "组合套餐"},
    "action.retention_offer": {"en": "retention offer", "zh-CN": "挽留优惠"},
    "action.win_back": {"en": "win-back", "zh-CN": "召回"},
    "action.onboarding": {"en": "onboarding", "zh-CN": "新客引导"},
    "action.nurture": {"en": "nurture", "zh-CN": "内容培育"},
    "action.referral_ask": {"en": "referral ask", "zh-CN": "邀请推荐"},
    "action.level_nudge": {"en": "next-level nudge", "zh-CN": "会员升级提醒"},
    "action.no_contact": {"en": "no contact", "zh-CN": "暂不联系"},
    "route.account_manager": {"en": "task for the account manager", "zh-CN": "客户经理任务"},
    "route.automated": {"en": "automated message", "zh-CN": "自动化触达"},
    "route.none": {"en": "none", "zh-CN": "无"},
    "actions.export_hint": {
        "en": "Export them with: upmarket actions export --format xlsx (consent-checked, "
              "pseudonymised ids).",
        "zh-CN": "导出：upmarket actions export --format xlsx（仅含同意接收营销的客户，客户编号已假名化）。"},
    "unit.hours": {"en": "{n} h", "zh-CN": "{n} 小时"},
    "offer.time_limited": {"en": "time-limited offer", "zh-CN": "限时优惠"},
    "offer.threshold_discount": {"en": "spend-threshold discount", "zh-CN": "满减"},
    "offer.percent_discount": {"en": "percent discount", "zh-CN": "折扣"},
    "offer.bundle": {"en": "bundle price", "zh-CN": "套餐价"},
    "offer.gift": {"en": "gift with purchase", "zh-CN": "买赠"},
    "offer.coupon": {"en": "coupon", "zh-CN": "优惠券"},
    "offer.points": {"en": "bonus points", "zh-CN": "积分奖励"},
    "reason.upsell": {
        "en": "Bought {tier} {category} {when}; {rate}% of similar customers "
              "upgraded to premium within {horizon} months",
        "zh-CN": "{when}购买了{tier}「{category}」；{rate}%的相似客户在{horizon}个月内"
                 "升级到了高端款"},
    "when.this_month": {"en": "this month", "zh-CN": "本月"},
    "when.month_ago": {"en": "1 month ago", "zh-CN": "1个月前"},
    "when.months_ago": {"en": "{n} months ago", "zh-CN": "{n}个月前"},
    "reason.cross_sell": {
        "en": "Customers who buy like them buy {product}; {p}% chance of a purchase in the "
              "next 90 days",
        "zh-CN": "购买习惯相似的客户常买{product}；未来90天内购买概率{p}%"},
    "reason.bundle": {
        "en": "{conf}% of orders with {a} also include {b} ({lift}× the usual rate)",
        "zh-CN": "含{a}的订单中有{conf}%同时购买了{b}（是平常的{lift}倍）"},
    "reason.retention_offer": {
        "en": "Churn risk {risk}% ({signals}); {clv} of 12-month value at stake",
        "zh-CN": "流失风险{risk}%（{signals}）；未来12个月价值{clv}面临流失"},
    "reason.win_back": {
        "en": "No purchase for {days} days; {p}% chance they are still active",
        "zh-CN": "已{days}天未购买；仍活跃的概率为{p}%"},
    "reason.onboarding": {
        "en": "First purchase {days} days ago; a second purchase soon is what keeps a new "
              "customer",
        "zh-CN": "{days}天前首次购买；尽快促成第二次购买是留住新客的关键"},
    "reason.level_nudge": {"en": "{distance}: within one typical order; tell them what the "
                                 "next level gives",
                           "zh-CN": "{distance}：一单之内即可达到，告知升级后的权益"},
    "reason.referral_ask": {
        "en": "Promoter (NPS {nps}) with {orders} orders: ask for a referral",
        "zh-CN": "推荐者（NPS {nps}），已下单{orders}次：邀请其推荐新客"},
    "reason.referral_ask_stage": {
        "en": "Loyal advocate with {orders} orders: ask for a referral",
        "zh-CN": "忠实拥护者，已下单{orders}次：邀请其推荐新客"},
    "reason.nurture": {
        "en": "No offer pays for itself yet; keep in touch with useful content",
        "zh-CN": "暂无能覆盖成本的优惠；以有用的内容保持联系"},
    "reason.no_consent": {
        "en": "No marketing consent on any channel it could be sent through",
        "zh-CN": "未获得任何可用渠道的营销授权"},
    "reason.contact_cap": {
        "en": "Already contacted {n} times in 30 days (the {tier} cap is {cap})",
        "zh-CN": "30天内已联系{n}次（{tier}上限为{cap}次）"},
    "reason.held_out": {
        "en": "Held out as the control group of {action} ({share}% of the tier): nothing is "
              "sent, so its effect can be measured",
        "zh-CN": "留作{action}的对照组（该层级的{share}%）：不发送任何内容，以便衡量其效果"},
    "reason.not_worth": {
        "en": "No action is worth its cost (best: {action}, expected value {ev})",
        "zh-CN": "没有收益高于成本的行动（最佳：{action}，期望价值{ev}）"},
    "col.action": {"en": "next best action", "zh-CN": "下一步最佳行动"},
    # what each action changed, treated against held out (strategy.action_impact)
    "impact.title": {
        "en": "Incremental effect of each action: treated − held out, {days} days after the "
              "decision (decisions up to {as_of})",
        "zh-CN": "各行动的增量效果：执行组 − 对照组，决策后{days}天（截至{as_of}的决策）"},
    "impact.none": {
        "en": "No action decision has a complete {days}-day window by {as_of} yet: run "
              "upmarket run again once that much newer data is ingested.",
        "zh-CN": "截至{as_of}尚无完整{days}天观察期的行动决策：导入更新的数据后再运行「upmarket run」。"},
    "impact.n": {"en": "treated/held out", "zh-CN": "执行/对照"},
    "impact.conversion": {"en": "conversion [95% CI]", "zh-CN": "转化率 [95%区间]"},
    "impact.revenue": {"en": "revenue/customer [95% CI]", "zh-CN": "人均收入 [95%区间]"},
    "impact.margin": {"en": "margin/customer [95% CI]", "zh-CN": "人均毛利 [95%区间]"},
    "impact.all_tiers": {"en": "all tiers", "zh-CN": "全部层级"},
    "impact.reduction": {
        "en": "Variance removed by pre-decision behaviour (conversion, all tiers): {items}.",
        "zh-CN": "行动前行为消除的方差（转化率，全部层级）：{items}。"},
    "impact.reduction_item": {"en": "{action} {share:.0%}", "zh-CN": "{action} {share:.0%}"},
    "impact.pooled": {
        "en": "Pooled for too few held out: {items}.",
        "zh-CN": "因对照组人数过少而合并计算：{items}。"},
    "impact.col.reduction": {"en": "variance removed", "zh-CN": "消除的方差"},
    "col.tier": {"en": "tier", "zh-CN": "价值层级"},
    "loop.cycle": {"en": "simulated cycle {cycle} of {cycles}: decide, respond, measure",
                   "zh-CN": "模拟周期 {cycle}/{cycles}：决策、响应、衡量"},
    "loop.title": {"en": "Learning loop: {cycles} simulated 30-day cycles against the world's "
                         "true action effects",
                   "zh-CN": "学习闭环：{cycles}个模拟30天周期，对照模拟世界的真实行动效果"},
    "loop.truth": {"en": "true effect", "zh-CN": "真实效果"},
    "loop.next": {"en": "chosen now", "zh-CN": "当前选择人数"},
    "loop.covered": {"en": "{covered} of {measured} measured action types have the true effect "
                           "inside their 95% interval (✗: outside).",
                     "zh-CN": "{measured}个已测量行动中有{covered}个的95%区间包含真实效果（✗：不包含）。"},
    "impact.status.updated": {"en": "response × {scale} (measured)",
                              "zh-CN": "响应率 × {scale}（已测量）"},
    "impact.status.prior": {"en": "defaults kept (too few held out yet)",
                            "zh-CN": "沿用默认值（对照组人数尚少）"},
    "impact.status.switched_off": {"en": "switched off: not shown to help",
                                   "zh-CN": "已停用：未证明有效"},
    "impact.status.exploring": {"en": "exploring: too few held out to judge yet (response × "
                                      "{scale})",
                                "zh-CN": "探索中：对照组人数尚不足以判断（响应率 × {scale}）"},
    "impact.status.shown_to_help": {"en": "shown to help (always-valid test, Holm): response × "
                                          "{scale}",
                                    "zh-CN": "已证明有效（随时有效检验，Holm校正）：响应率 × {scale}"},
    "impact.status.shown_to_harm": {"en": "switched off: shown to lower conversion "
                                          "(always-valid test, Holm)",
                                    "zh-CN": "已停用：已证明降低转化（随时有效检验，Holm校正）"},
    "report.section.mix_model": {"en": "Marketing mix and budget",
                                 "zh-CN": "营销组合与预算"},
    "report.section.action_impact": {"en": "What the actions changed",
                                     "zh-CN": "各行动的实际效果"},
    "report.col.learned": {"en": "next best action now", "zh-CN": "下一步最佳行动的调整"},
    "report.action_impact.none": {
        "en": "No action has a complete 30-day window against its control group yet.",
        "zh-CN": "尚无行动拥有完整30天观察期的对照组结果。"},
    "impact.method": {
        "en": "Differences are absolute (conversion in percentage points), adjusted by each "
              "customer's behaviour before the action (CUPED, Deng et al. 2013); intervals: "
              "normal approximation with Welch's standard error. 'all tiers' weights each tier "
              "by its treated customers, tiers with fewer than 30 held out pooled.",
        "zh-CN": "差值为绝对值（转化率以百分点计），已按每位客户行动前的行为做方差缩减调整；"
                 "区间：采用Welch标准误的正态近似。“全部层级”按各层级执行组人数加权，"
                 "对照组不足30人的层级合并计算。"},
    "col.expected_value": {"en": "expected value", "zh-CN": "期望价值"},
    "col.channel": {"en": "channel", "zh-CN": "渠道"},
    "col.send_time": {"en": "send at", "zh-CN": "发送时间"},
    "col.route": {"en": "route", "zh-CN": "执行方式"},
    "col.reason": {"en": "why", "zh-CN": "理由"},
    "col.product": {"en": "product", "zh-CN": "产品"},
    "col.score": {"en": "score", "zh-CN": "得分"},
    "col.kind": {"en": "kind", "zh-CN": "类型"},
    "col.price_tier": {"en": "price tier", "zh-CN": "价格档"},
    "rec.upsell": {"en": "upsell", "zh-CN": "向上销售"},
    "rec.cross_sell": {"en": "cross-sell", "zh-CN": "交叉销售"},
    # -- the periodic report (reports/, cli: report)
    "report.title.month": {"en": "Monthly quick review: {period}", "zh-CN": "月度快评：{period}"},
    "report.title.quarter": {"en": "Quarterly assessment: {period}", "zh-CN": "季度评估：{period}"},
    "report.title.year": {"en": "Annual retrospective: {period}", "zh-CN": "年度复盘：{period}"},
    "report.focus.month": {
        "en": "Focus (monthly quick review): are the KPIs on track, what did this "
              "month's campaigns return, and which customers need a call now?",
        "zh-CN": "评估重点（月度快评）：关键指标是否正常，本月营销活动效果如何，哪些客户需要"
                 "立即跟进？"},
    "report.focus.quarter": {
        "en": "Focus (quarterly assessment): the effect index against its targets "
              "(CLTV +35 %, premium-product penetration +28 %, NPS > 50) and against the "
              "quarter before; where customer value sits, what the channels return, which "
              "risks are open.",
        "zh-CN": "评估重点（季度评估）：对照目标（CLTV 提升 35%、高客单价产品渗透率提高 28%、"
                 "NPS 突破 50）和上一季度评估效果指数；客户价值分布、渠道回报及未关闭的风险。"},
    "report.focus.year": {
        "en": "Focus (annual retrospective): the year against the year before — "
              "what worked, what did not — and the strategy and budget for the year ahead.",
        "zh-CN": "评估重点（年度复盘）：与上一年对比——哪些有效、哪些无效——以及来年的策略与"
                 "预算。"},
    "report.findings.month": {"en": "What needs attention", "zh-CN": "需要关注的事项"},
    "report.findings.quarter": {"en": "Assessment", "zh-CN": "评估结论"},
    "report.findings.year": {"en": "Strategy for the year ahead", "zh-CN": "来年策略重点"},
    "report.meta.period": {"en": "Period", "zh-CN": "评估期"},
    "report.meta.compare": {"en": "Compared with", "zh-CN": "对比期"},
    "report.meta.run": {"en": "Run", "zh-CN": "运行编号"},
    "report.meta.as_of": {"en": "Data as of", "zh-CN": "数据截至"},
    "report.meta.coverage": {"en": "Data covered", "zh-CN": "数据覆盖"},
    "report.coverage.one": {"en": "1 month of data in {period}",
                            "zh-CN": "{period} 期间有1个月的数据"},
    "report.coverage.many": {"en": "{months} months of data in {period}",
                             "zh-CN": "{period} 期间有{months}个月的数据"},
    "report.coverage.span": {"en": " ({first} to {last})", "zh-CN": "（{first} 至 {last}）"},
    "report.coverage.partial": {
        "en": "Partial period: only {months} of the {total} months of {period} hold data, so "
              "its totals, rates and the comparison with {compare} describe that part only. "
              "Choose a period the data cover in full with --period, or a shorter --cycle.",
        "zh-CN": "期间不完整：{period}的{total}个月中只有{months}个月有数据，其合计、比率以及与"
                 "{compare}的对比仅反映这部分数据。请用 --period 选择数据完整覆盖的期间，或选择更短的"
                 " --cycle。"},
    "report.meta.finished": {"en": "Run finished (UTC)", "zh-CN": "运行完成时间（UTC）"},
    "report.meta.warehouse": {"en": "Warehouse", "zh-CN": "数据仓库"},
    "report.meta.outputs": {"en": "Run outputs used (rows)", "zh-CN": "使用的运行结果（行数）"},
    "report.section.kpis": {"en": "Headline KPIs", "zh-CN": "核心指标"},
    "report.section.scorecard": {"en": "Scorecard", "zh-CN": "评分卡"},
    "report.section.campaigns": {"en": "Campaign results", "zh-CN": "营销活动效果"},
    "report.section.figures": {"en": "Charts", "zh-CN": "图表"},
    "report.section.customers": {"en": "Customers to act on", "zh-CN": "待跟进客户"},
    "report.section.segments": {"en": "Saved segments and customer profiles",
                                "zh-CN": "已保存的分群与客户画像"},
    "report.segments.intro": {
        "en": "Segments saved with the command upmarket segments create or the dashboard's "
              "segment builder, evaluated on this run.",
        "zh-CN": "通过命令 upmarket segments create 或仪表板分群构建器保存的分群，按本次运行计算。"},
    "report.section.membership": {"en": "Membership programme", "zh-CN": "会员体系"},
    "report.section.risks": {"en": "Risk register", "zh-CN": "风险登记表"},
    "report.section.sources": {"en": "Data sources and method", "zh-CN": "数据来源与方法"},
    "report.col.kpi": {"en": "Indicator", "zh-CN": "指标"},
    "report.col.change": {"en": "Change", "zh-CN": "变化"},
    "report.col.campaign": {"en": "Campaign", "zh-CN": "活动"},
    "report.col.channel": {"en": "Channel", "zh-CN": "渠道"},
    "report.col.dates": {"en": "Dates", "zh-CN": "起止日期"},
    "report.col.cost": {"en": "Cost", "zh-CN": "成本"},
    "report.col.touched": {"en": "Customers touched", "zh-CN": "触达客户数"},
    "report.col.profit": {"en": "Attributed profit", "zh-CN": "归因利润"},
    "report.col.roi": {"en": "Short-term ROI", "zh-CN": "短期投资回报率"},
    "report.col.roi_long": {"en": "Long-term ROI", "zh-CN": "长期投资回报率"},
    "report.col.verdict": {"en": "A/B test", "zh-CN": "A/B 测试结论"},
    "report.col.ref": {"en": "Customer reference", "zh-CN": "客户标识"},
    "report.col.clv": {"en": "CLV, 12 months", "zh-CN": "12个月预测价值"},
    "report.col.churn_risk": {"en": "Churn risk", "zh-CN": "流失风险"},
    "report.col.at_stake": {"en": "Value at stake", "zh-CN": "面临流失的价值"},
    "report.col.probability": {"en": "Chance of purchase", "zh-CN": "购买概率"},
    "report.col.table": {"en": "Table", "zh-CN": "数据表"},
    "report.col.rows": {"en": "Rows", "zh-CN": "行数"},
    "report.kpi.net_revenue": {"en": "Net revenue", "zh-CN": "净收入"},
    "report.kpi.orders": {"en": "Paid orders", "zh-CN": "已付款订单数"},
    "report.kpi.buyers": {"en": "Paying customers", "zh-CN": "购买客户数"},
    "report.kpi.new_customers": {"en": "New customers", "zh-CN": "新客户数"},
    "report.kpi.aov": {"en": "Average order value", "zh-CN": "客单价"},
    "report.kpi.clv_mean": {"en": "CLV: predicted 12-month margin per customer (mean)",
                            "zh-CN": "CLV：每位客户未来12个月预测利润（均值）"},
    "report.kpi.clv_total": {"en": "CLV: predicted 12-month margin of all customers (total)",
                             "zh-CN": "CLV：全部客户未来12个月预测利润（合计）"},
    "report.kpi.cltv_textbook": {
        "en": "CLTV by the textbook formula, for comparison (lifetime revenue per customer)",
        "zh-CN": "教科书公式 CLTV，仅供对比（每位客户整个生命周期的收入）"},
    "report.kpi.premium_penetration": {"en": "Premium-product penetration",
                                       "zh-CN": "高客单价产品渗透率"},
    "report.kpi.nps": {"en": "Net promoter score (NPS)", "zh-CN": "客户推荐值（NPS）"},
    "report.kpi_note": {
        "en": "Net revenue nets the cancellations and returns booked in the period; new "
              "customers made their first paid purchase in it. CLV is the value model's "
              "forecast of margin over the next 12 months, as of the period's end (from the "
              "run at that date; — where there is none): the mean is per customer, the total "
              "is over all customers, the same figures as the run summary and the dashboard. "
              "The textbook CLTV (order value × purchases a year × lifespan × retention) is "
              "lifetime revenue, shown only for comparison; here it takes the period's own "
              "order value and the purchases and retention of the year that ends with the "
              "period, so it differs from the run summary's, which averages the whole history. "
              "Premium penetration and NPS are "
              "measured as the scorecard measures them. Shares change in percentage points, "
              "NPS in points, the rest in per cent.",
        "zh-CN": "净收入已扣除本期登记的取消与退货；新客户指在本期首次付款购买的客户。CLV 是价值模型"
                 "在期末对未来12个月利润的预测（取自该日期的运行结果；没有则显示 —）：均值按每位客户，"
                 "合计为全部客户，与运行摘要和看板的数字相同。教科书公式 CLTV（客单价 × 年购买次数 × "
                 "生命周期 × 留存率）是整个生命周期的收入，仅供对比；此处用本期自身的客单价及截至期末一年的"
                 "购买次数与留存率，因此与运行摘要中按全部历史平均的数值不同。高端渗透率与 NPS 的口径与评分卡"
                 "一致。占比的变化以百分点计，NPS 以分计，其余以百分比计。"},
    "report.campaigns_note": {
        "en": "Campaigns running at some point in the period. Short-term ROI = (attributed "
              "profit − cost) ÷ cost; long-term ROI also counts the CLV change of "
              "the customers the campaign touched. A/B: the first test arm against "
              "its control.",
        "zh-CN": "本期内任一时间在进行的营销活动。短期投资回报率 =（归因利润 − 成本）÷ 成本；"
                 "长期投资回报率还计入活动触达客户的 CLV 变化。A/B：第一个实验组对比对照组。"},
    "report.no_campaigns": {"en": "No campaign ran in {period}.",
                            "zh-CN": "{period} 没有进行中的营销活动。"},
    "report.no_figures": {"en": "The run holds nothing to chart for this period.",
                          "zh-CN": "本次运行没有可供本期绘图的数据。"},
    "report.no_findings": {"en": "Nothing stands out against the benchmarks.",
                           "zh-CN": "对照基准，没有需要特别指出的事项。"},
    "report.no_risks": {"en": "The run holds no risk register.",
                        "zh-CN": "本次运行没有风险登记数据。"},
    "report.no_data": {"en": "no data", "zh-CN": "无数据"},
    "report.at_risk.title": {"en": "At-risk premium customers", "zh-CN": "高流失风险的高端客户"},
    "report.at_risk.intro": {
        "en": "The {shown} of {total:,} Diamond and Core customers in the high or critical "
              "churn band with the most 12-month value at stake (CLV × churn risk): contact "
              "them within their tier's response time.",
        "zh-CN": "在流失风险为高或极高的 {total:,} 位钻石/核心客户中，面临流失价值（CLV × 流失风险）最高的 "
                 "{shown} 位：请在其等级响应时限内联系。"},
    "report.at_risk.none": {"en": "No Diamond or Core customer is in the high or critical "
                                  "churn band.",
                            "zh-CN": "没有流失风险为高或极高的钻石/核心客户。"},
    "report.upsell.title": {"en": "Upsell list", "zh-CN": "向上销售名单"},
    "report.upsell.intro": {
        "en": "The {shown} of {total:,} customers whose next best action is an upsell to "
              "premium, highest expected value first.",
        "zh-CN": "下一步最佳行动为升级高端的 {total:,} 位客户中，期望价值最高的 {shown} 位。"},
    "report.upsell.none": {"en": "No customer has an upsell as next best action.",
                           "zh-CN": "没有以向上销售为下一步最佳行动的客户。"},
    "report.pseudonymised": {
        "en": "Customer references are pseudonyms (a keyed hash of the id): the same customer "
              "has the same pseudonym in every report and export, and only the holder of the "
              "warehouse's key can match it to a person. This report was recorded in the "
              "audit log.",
        "zh-CN": "客户标识为假名（客户编号的带密钥哈希）：同一客户在所有报告和导出中的假名相同，只有持有"
                 "数据仓库密钥者才能对应到具体个人。本报告已记入审计日志。"},
    "report.with_pii": {
        "en": "This report shows customer ids in the clear (--with-pii): it holds personal "
              "data. Share it only with people allowed to see them; its creation was recorded "
              "in the audit log.",
        "zh-CN": "本报告显示明文客户编号（--with-pii），包含个人信息。仅可提供给有权查看的人员；"
                 "其生成已记入审计日志。"},
    "report.sources.tables": {"en": "Warehouse tables (rows)", "zh-CN": "数据仓库表（行数）"},
    "report.sources.month": {
        "en": "Monthly quick review — data sources: orders (revenue, buyers, new customers), "
              "campaigns and marketing spend (campaign ROI, A/B tests), events (funnel), and "
              "the run's churn scores and next best actions.",
        "zh-CN": "月度快评——数据来源：订单（收入、购买客户、新客户）、营销活动与营销花费（活动回报、A/B "
                 "测试）、行为事件（转化漏斗），以及本次运行的流失评分与下一步最佳行动。"},
    "report.sources.quarter": {
        "en": "Quarterly assessment — data sources: orders and products (CLTV, premium "
              "penetration), feedback (NPS), brand survey (awareness, association, loyalty), "
              "tasks and service tickets (automation rate, response time), events "
              "(attribution, channel collaboration), marketing spend and campaigns (ROI, "
              "budget), and the run's tiers, segments, CLV, churn and risk register.",
        "zh-CN": "季度评估——数据来源：订单与商品（CLTV、高端渗透率）、客户反馈（NPS）、品牌调研（知名度、"
                 "联想度、忠诚度）、任务与服务工单（自动化率、响应时间）、行为事件（归因、渠道协同）、"
                 "营销花费与活动（回报、预算），以及本次运行的价值分层、分群、CLV、流失与风险登记。"},
    "report.sources.year": {
        "en": "Annual retrospective — data sources: a year of orders against the year before, "
              "acquisition cohorts, feedback and brand survey (effect index), events "
              "(attribution), marketing spend, campaigns and budget plans, and the run's value "
              "structure and risk register.",
        "zh-CN": "年度复盘——数据来源：全年订单与上一年对比、获客同期群、客户反馈与品牌调研（效果指数）、"
                 "行为事件（归因）、营销花费、活动与预算计划，以及本次运行的价值结构与风险登记。"},
    "report.sources.method": {
        "en": "KPIs, the scorecard and attribution are computed from the warehouse for the "
              "period and the one before when the report is made; the charts of tiers, "
              "segments, CLV, churn, actions, channel ROI, cohorts, funnel and risks are the "
              "run's outputs at its as-of date. Targets and benchmarks: CLTV +35 %, premium "
              "penetration +28 %, NPS > 50, premium retention 78 %, Diamond ≥ 30 % of revenue, "
              "CLV/CAC > 3, existing customers 65 % of revenue.",
        "zh-CN": "核心指标、评分卡与归因在生成报告时根据数据仓库按本期和上期计算；价值分层、分群、CLV、"
                 "流失、行动、渠道回报、同期群、漏斗与风险图表取自本次运行截至日期的结果。目标与基准："
                 "CLTV 提升 35%、高端渗透率提高 28%、NPS 突破 50、高端客户留存 78%，"
                 "钻石客户收入占比 ≥ 30%、CLV/CAC > 3，老客户收入占比 65%。"},
    "report.footer": {"en": "Made by upmarket from run {run_id} (data as of {as_of}).",
                      "zh-CN": "由 upmarket 根据运行 {run_id} 生成（数据截至 {as_of}）。"},
    "report.scope.to_date": {"en": "as of {as_of}", "zh-CN": "截至 {as_of}"},
    "report.scope.period": {"en": "in {period}", "zh-CN": "{period} 期间"},
    "report.caption.tier_pyramid": {
        "en": "Value tiers ({scope}): customers, share of past revenue and of predicted CLV; "
              "the dashed line is the rule of thumb that Diamond brings at least 30 % of revenue.",
        "zh-CN": "价值分层（{scope}）：客户数、历史收入占比与预测价值占比；虚线为经验法则：钻石客户"
                 "贡献至少 30% 收入。"},
    "report.caption.rfm_segments": {
        "en": "RFM segments ({scope}): recency, frequency and monetary value scored 1–5 by "
              "quintile.",
        "zh-CN": "RFM 分群（{scope}）：近度、频度、金额按五分位打 1–5 分。"},
    "report.caption.clv_distribution": {
        "en": "Predicted 12-month CLV (margin) per customer on logarithmic bins, stacked by "
              "value tier ({scope}).",
        "zh-CN": "每位客户未来 12 个月的预测价值（利润），按对数分箱、按价值等级堆叠（{scope}）。"},
    "report.caption.churn_by_tier": {
        "en": "Churn-risk bands per value tier ({scope}); the premium customers in the high "
              "and critical bands are listed under “Customers to act on”.",
        "zh-CN": "各价值等级的流失风险分布（{scope}）；风险为高或极高的高端客户列于“待跟进客户”。"},
    "report.caption.actions": {
        "en": "Next best action per customer and the expected value put on it, propensity × "
              "margin − cost ({scope}).",
        "zh-CN": "每位客户的下一步最佳行动及其期望价值：倾向 × 利润 − 成本（{scope}）。"},
    "report.caption.channel_roi": {
        "en": "Short-term ROI per channel: Markov-attributed profit against fully-loaded "
              "spend ({scope}).",
        "zh-CN": "各渠道短期投资回报率：马尔可夫归因利润对比全口径花费（{scope}）。"},
    "report.caption.campaigns": {
        "en": "Short- and long-term ROI per campaign (campaigns running {scope}).",
        "zh-CN": "各营销活动的短期与长期投资回报率（{scope}进行的活动）。"},
    "report.caption.attribution": {
        "en": "Conversions {scope} credited to channels by each attribution model (touches up "
              "to 30 days before each order).",
        "zh-CN": "{scope}的转化在各归因模型下分配给各渠道的数量（计入每笔订单前 30 天内的触点）。"},
    "report.caption.budget": {
        "en": "Budget planned to date against actual spend per channel ({scope}).",
        "zh-CN": "各渠道截至当前的预算计划与实际花费（{scope}）。"},
    "report.caption.cohort_retention": {
        "en": "Share of each monthly cohort buying again N months after its first purchase "
              "({scope}).",
        "zh-CN": "各月度同期群在首购 N 个月后仍购买的比例（{scope}）。"},
    "report.caption.funnel": {
        "en": "Exposure → click → register → purchase, with each step's share of the exposed "
              "({scope}).",
        "zh-CN": "曝光 → 点击 → 注册 → 购买，以及各环节占曝光人数的比例（{scope}）。"},
    "report.caption.revenue_trend": {
        "en": "Net revenue (bars) and paying customers (line) per month; the shaded months are "
              "{period}.",
        "zh-CN": "月度净收入（柱）与购买客户数（线）；阴影部分为 {period}。"},
    "report.caption.effect_index": {
        "en": "The effect index by dimension (customer value 50 %, brand value 30 %, "
              "operational efficiency 20 %), scores 0–100, {scope} against the period before.",
        "zh-CN": "效果指数各维度得分（客户价值 50%、品牌价值 30%、运营效率 20%），0–100 分，"
                 "{scope}对比上一期。"},
    "report.caption.risk_register": {
        "en": "Money at stake per risk in the register, coloured by level ({scope}).",
        "zh-CN": "风险登记表中各风险涉及的金额，按风险等级着色（{scope}）。"},
    "report.fig.tier_pyramid": {"en": "Value tiers: customers and their share of revenue and CLV",
                                "zh-CN": "价值分层：客户数及收入、预测价值占比"},
    "report.fig.rfm_segments": {"en": "Customers per RFM segment", "zh-CN": "各 RFM 分群客户数"},
    "report.fig.clv_distribution": {"en": "Distribution of predicted CLV",
                                    "zh-CN": "预测客户价值分布"},
    "report.fig.churn_by_tier": {"en": "Churn risk by tier: {n:,} at-risk premium customers",
                                 "zh-CN": "各等级流失风险：高风险高端客户 {n:,} 位"},
    "report.fig.actions": {"en": "Next-best-action mix and expected value",
                           "zh-CN": "下一步最佳行动构成与期望价值"},
    "report.fig.channel_roi": {"en": "Short-term ROI per channel", "zh-CN": "各渠道短期投资回报率"},
    "report.fig.campaigns": {"en": "Campaign ROI, short and long term",
                             "zh-CN": "营销活动短期与长期投资回报率"},
    "report.fig.attribution": {"en": "Attributed conversions per channel, by model",
                               "zh-CN": "各归因模型下的渠道转化数"},
    "report.fig.budget": {"en": "Budget plan vs actual spend per channel",
                          "zh-CN": "各渠道预算计划与实际花费"},
    "report.fig.cohort_retention": {"en": "Cohort retention", "zh-CN": "同期群留存率"},
    "report.fig.funnel": {"en": "Conversion funnel", "zh-CN": "转化漏斗"},
    "report.fig.revenue_trend": {"en": "Net revenue and paying customers per month",
                                 "zh-CN": "月度净收入与购买客户数"},
    "report.fig.effect_index": {"en": "Effect index {period}: {index} ({compare}: {compare_index})",
                                "zh-CN": "效果指数 {period}：{index}（{compare}：{compare_index}）"},
    "report.fig.risk_register": {"en": "Risk register: money at stake per risk",
                                 "zh-CN": "风险登记表：各风险涉及金额"},
    "report.axis.customers": {"en": "Customers", "zh-CN": "客户数"},
    "report.axis.share": {"en": "Share", "zh-CN": "占比"},
    "report.axis.clv": {"en": "Predicted 12-month CLV", "zh-CN": "预测12个月价值"},
    "report.axis.expected_value": {"en": "Expected value", "zh-CN": "期望价值"},
    "report.axis.roi": {"en": "ROI (×)", "zh-CN": "投资回报率（倍）"},
    "report.axis.profit": {"en": "Profit", "zh-CN": "利润"},
    "report.axis.cost": {"en": "Cost", "zh-CN": "成本"},
    "report.axis.conversions": {"en": "Conversions", "zh-CN": "转化数"},
    "report.axis.spend": {"en": "Spend", "zh-CN": "花费"},
    "report.axis.months_since": {"en": "Months since first purchase", "zh-CN": "首购后月数"},
    "report.axis.cohort": {"en": "Cohort (month of first purchase)", "zh-CN": "同期群（首购月份）"},
    "report.axis.score": {"en": "Score (0–100)", "zh-CN": "得分（0–100）"},
    "report.axis.exposure": {"en": "Money at stake", "zh-CN": "涉及金额"},
    "report.legend.revenue_share": {"en": "Share of past revenue", "zh-CN": "历史收入占比"},
    "report.legend.clv_share": {"en": "Share of predicted CLV", "zh-CN": "预测价值占比"},
    "report.legend.diamond_benchmark": {"en": "benchmark: Diamond ≥ {share:.0%} of revenue",
                                        "zh-CN": "基准：钻石客户收入占比 ≥ {share:.0%}"},
    "report.legend.roi_short": {"en": "Short-term ROI", "zh-CN": "短期投资回报率"},
    "report.legend.roi_long": {"en": "Long-term ROI", "zh-CN": "长期投资回报率"},
    "report.legend.planned": {"en": "Planned to date", "zh-CN": "截至当前计划"},
    "report.legend.actual": {"en": "Actual spend", "zh-CN": "实际花费"},
    "report.model.first": {"en": "First touch", "zh-CN": "首次触点"},
    "report.model.last": {"en": "Last touch", "zh-CN": "末次触点"},
    "report.model.linear": {"en": "Linear", "zh-CN": "线性"},
    "report.model.time-decay": {"en": "Time decay", "zh-CN": "时间衰减"},
    "report.model.position": {"en": "Position-based", "zh-CN": "位置加权"},
    "report.model.markov": {"en": "Markov (removal effect)", "zh-CN": "马尔可夫（移除效应）"},
    "report.model.shapley": {"en": "Shapley value", "zh-CN": "沙普利值"},
    "report.finding.diamond_holds": {
        "en": "Diamond customers bring {share:.0%} of past revenue: the rule of thumb of "
              "at least {benchmark:.0%} holds here.",
        "zh-CN": "钻石客户贡献 {share:.0%} 的历史收入：经验法则所称至少 {benchmark:.0%} 在此成立。"},
    "report.finding.diamond_short": {
        "en": "Diamond customers bring {share:.0%} of past revenue, short of the rule of "
              "thumb's {benchmark:.0%}: value is spread wider, so Core and Potential customers deserve "
              "a larger part of the premium effort.",
        "zh-CN": "钻石客户仅贡献 {share:.0%} 的历史收入，低于经验法则的 {benchmark:.0%}：价值分布更"
                 "分散，核心与潜力客户应获得更多高端营销投入。"},
    "report.finding.premium_retention": {
        "en": "Premium-customer retention is {value:.0%} (industry benchmark {benchmark:.0%}, "
              "laggards {laggards:.0%}).",
        "zh-CN": "高端客户留存率为 {value:.0%}（行业标杆 {benchmark:.0%}，落后企业 "
                 "{laggards:.0%}）。"},
    "report.finding.existing_share": {
        "en": "Existing customers bring {value:.0%} of the last year's revenue "
              "(industry benchmark {benchmark:.0%}).",
        "zh-CN": "老客户贡献近一年收入的 {value:.0%}（行业基准 {benchmark:.0%}）。"},
    "report.finding.at_risk": {
        "en": "{n:,} Diamond and Core customers are at high or critical churn risk: retention "
              "offers and personal calls first (list below).",
        "zh-CN": "{n:,} 位钻石/核心客户流失风险为高或极高：优先安排挽留优惠与专人联系（名单见下文）。"},
    "report.finding.effect_index": {
        "en": "Effect index {period}: {index:.1f} ({compare}: {compare_index}); weakest "
              "dimension: {weakest} ({score:.1f}).",
        "zh-CN": "效果指数 {period}：{index:.1f}（{compare}：{compare_index}）；最弱维度：{weakest}"
                 "（{score:.1f}）。"},
    "report.finding.clv_cac": {
        "en": "CLV/CAC at or below 3 (the health rule) in: {channels}; review their "
              "acquisition spend.",
        "zh-CN": "以下获客渠道 CLV/CAC 不高于 3（健康标准）：{channels}；请复核其获客投入。"},
    "report.finding.clv_cac_ok": {
        "en": "Every acquisition channel has CLV/CAC above 3 (the health rule).",
        "zh-CN": "所有获客渠道的 CLV/CAC 均高于 3（健康标准）。"},
    "report.finding.budget": {
        "en": "Moving budget between the channels whose mix-model curves are credible, toward "
              "the best marginal return, would add about {pct:.1%} to the modelled outcome per "
              "{period} at the same total budget (upmarket budget).",
        "zh-CN": "在总预算不变的情况下，在营销组合模型曲线可信的渠道之间将预算向边际回报最高的渠道"
                 "倾斜，每{period}模型预期结果可增加约 {pct:.1%}（详见「upmarket budget」）。"},
    "report.finding.high_risks": {
        "en": "{n} high risk(s) open: {risks}.",
        "zh-CN": "{n} 项高风险未关闭：{risks}。"},
    "report.finding.upsell": {
        "en": "{n:,} customers have an upsell to premium as their next best action.",
        "zh-CN": "{n:,} 位客户的下一步最佳行动为升级高端产品。"},
    "report.table.orders": {"en": "Orders", "zh-CN": "订单"},
    "report.table.products": {"en": "Products", "zh-CN": "商品"},
    "report.table.customers": {"en": "Customers", "zh-CN": "客户"},
    "report.table.events": {"en": "Events and touchpoints", "zh-CN": "行为事件与触点"},
    "report.table.feedback": {"en": "Feedback (NPS, CSAT)", "zh-CN": "客户反馈（NPS、满意度）"},
    "report.table.brand_survey": {"en": "Brand survey", "zh-CN": "品牌调研"},
    "report.table.service_tickets": {"en": "Service tickets", "zh-CN": "服务工单"},
    "report.table.marketing_spend": {"en": "Marketing spend", "zh-CN": "营销花费"},
    "report.table.campaigns": {"en": "Campaigns", "zh-CN": "营销活动"},
    "report.table.promotions": {"en": "Promotions", "zh-CN": "促销活动"},
    "report.table.payments": {"en": "Invoices and payments", "zh-CN": "发票与付款"},
    "report.table.consents": {"en": "Marketing consents", "zh-CN": "营销同意记录"},
    "report.table.truth_customers": {"en": "Simulated truth per customer",
                                     "zh-CN": "模拟真值（客户）"},
    "report.table.truth_channels": {"en": "Simulated truth per channel",
                                    "zh-CN": "模拟真值（渠道）"},
    "report.table.truth_members": {"en": "Simulated truth per member",
                                   "zh-CN": "模拟真值（会员）"},
    "report.table.tasks": {"en": "Automation tasks", "zh-CN": "自动化任务"},
    "report.table.quarantine": {"en": "Quarantined rows", "zh-CN": "隔离的行"},
    "report.table.ingest_batches": {"en": "Ingestion batches", "zh-CN": "导入批次"},
    "report.table.ingest_batch_keys": {"en": "Keys of ingested rows", "zh-CN": "已导入行的主键"},
    "report.table.runs": {"en": "Runs", "zh-CN": "运行记录"},
    "report.table.system_keys": {"en": "System keys", "zh-CN": "系统密钥"},
    "report.table.saved_segments": {"en": "Saved segments", "zh-CN": "已保存的分群"},
    "report.table.holdout_salt": {"en": "Control group salt", "zh-CN": "对照组随机盐"},
    "report.table.action_assignments": {"en": "Action assignments", "zh-CN": "行动分组记录"},
    "report.table.recommendations": {"en": "Product recommendations", "zh-CN": "商品推荐"},
    "report.table.discount_dependency": {"en": "Discount dependency", "zh-CN": "折扣依赖度"},
    # tables of the operational store, as `privacy erase` lists them
    "report.table.audit_log": {"en": "Audit log", "zh-CN": "审计日志"},
    "report.table.profiles": {"en": "Live profiles", "zh-CN": "实时客户画像"},
    "report.table.profile_snapshots": {"en": "Profile snapshots", "zh-CN": "客户画像快照"},
    "report.table.identities": {"en": "Identity links", "zh-CN": "身份关联"},
    "report.table.event_inbox": {"en": "Event inbox", "zh-CN": "事件收件箱"},
    "report.table.alerts": {"en": "Alerts", "zh-CN": "告警"},
    "report.table.alert_cooldowns": {"en": "Alert cool-downs", "zh-CN": "告警冷却期"},
    "report.table.webhook_outbox": {"en": "Webhook outbox", "zh-CN": "Webhook 发件箱"},
    "report.table.suppression": {"en": "Suppression list", "zh-CN": "屏蔽名单"},
    "report.table.account_assignments": {"en": "Account assignments", "zh-CN": "客户经理分配"},
    "report.table.account_managers": {"en": "Account managers", "zh-CN": "客户经理"},
    "report.table.api_keys": {"en": "API keys", "zh-CN": "API 密钥"},
    "report.table.dashboard_sessions": {"en": "Dashboard sessions", "zh-CN": "看板会话"},
    "report.table.results": {"en": "Per-customer results", "zh-CN": "客户级结果"},
    "report.table.tier_summary": {"en": "Tier summary", "zh-CN": "价值分层汇总"},
    "report.table.member_levels": {"en": "Membership levels", "zh-CN": "会员等级"},
    "report.table.points_ledger": {"en": "Points ledger", "zh-CN": "积分流水"},
    "report.table.points_balances": {"en": "Points balances", "zh-CN": "积分余额"},
    "report.table.members": {"en": "Members of an existing programme",
                             "zh-CN": "已有会员体系的会员"},
    "report.table.points": {"en": "Points rows of an existing programme",
                            "zh-CN": "已有会员体系的积分记录"},
    "report.table.actions": {"en": "Next best actions", "zh-CN": "下一步最佳行动"},
    "report.table.channel_roi": {"en": "ROI per channel", "zh-CN": "各渠道投资回报"},
    "report.table.campaign_roi": {"en": "ROI per campaign", "zh-CN": "各活动投资回报"},
    "report.table.experiments": {"en": "A/B tests", "zh-CN": "A/B 测试"},
    "report.table.budget_plan_vs_actual": {"en": "Budget plan vs actual",
                                           "zh-CN": "预算计划与实际"},
    "report.table.cohorts": {"en": "Acquisition cohorts", "zh-CN": "获客同期群"},
    "report.table.funnels": {"en": "Funnels", "zh-CN": "转化漏斗"},
    "report.table.risk_register": {"en": "Risk register", "zh-CN": "风险登记表"},
    "report.table.action_impact": {"en": "Actions against their control groups",
                                   "zh-CN": "各行动与对照组的比较"},
    "report.table.nba_learned": {"en": "What the next best action learned",
                                 "zh-CN": "下一步最佳行动的学习结果"},
    "report.table.channel_economics": {"en": "Acquisition economics per channel",
                                       "zh-CN": "各渠道获客经济性"},
    "report.table.value_model_comparison": {
        "en": "Value models compared on the holdout", "zh-CN": "价值模型留出期比较"},
    "files.written": {"en": "wrote {paths}", "zh-CN": "已写入 {paths}"},
    "report.cli.written": {"en": "{title} written to {path} ({size:.1f} MB, {seconds:.1f} s, "
                                 "run {run_id})",
                           "zh-CN": "{title} 已写入 {path}（{size:.1f} MB，{seconds:.1f} 秒，运行 "
                                    "{run_id}）"},
    "report.cli.pseudonymised": {"en": "Customer ids are pseudonymised; the report is recorded "
                                       "in the audit log.",
                                 "zh-CN": "客户编号已假名化；本报告已记入审计日志。"},
    "report.cli.pii": {"en": "The report shows customer ids in the clear: it holds personal "
                             "data. Recorded in the audit log.",
                       "zh-CN": "报告显示明文客户编号，包含个人信息。已记入审计日志。"},
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


def subject_label(subject: str, lang: str | None = None) -> str:
    """An alert's subject as a reader names it: a risk indicator (`risk_register:overdue_share`)
    or a channel (`channel_roi:wechat`) by its name; a customer id as it is."""
    from upmarket.data_labels import channel_name

    table, _, code = str(subject).partition(":")
    if table == "risk_register" and f"risk.ind.{code}" in LABELS:
        return label(f"risk.ind.{code}", lang)
    if table == "channel_roi" and code:
        return channel_name(code, lang)
    return str(subject)
