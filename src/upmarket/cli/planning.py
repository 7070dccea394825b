"""Commands about planning and control: budget (plan vs actual, elastic reallocation) and risk
(the risk register)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.cli.files import FileFormat, OutFile, headers, write_tables, written
from upmarket.data_labels import channel_name
from upmarket.i18n import LABELS, label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

PERIOD_OPTIONS = {"month": "M", "quarter": "Q"}
#: indicators shown as percentages; the rest are plain numbers (HHI, NPS, z, counts)
SHARE_INDICATORS = {
    "top1pct_share", "top10_share", "overdue_share", "weak_credit_share", "sla_breach_rate",
    "late_delivery_rate", "detractor_share", "negative_sentiment_share",
    "premium_churn_predicted", "premium_churn_observed",
}
LEVEL_STYLE = {"high": "bold red", "medium": "yellow", "low": "green"}


def _print_json(as_of: datetime, summary: dict, tables: dict, prefix: str) -> None:
    """A planning command's --json: as-of date, summary, and each table by its short name."""
    print(json.dumps({"as_of": as_of.strftime("%Y-%m-%d"), "summary": summary,
                      **{name.removeprefix(prefix): _records(frame)
                         for name, frame in tables.items()}},
                     ensure_ascii=False, default=str))


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows for JSON: NaN becomes null (JSON has no NaN), timestamps become ISO text."""
    import pandas as pd
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for k, v in row.items():
            if v is None or (not isinstance(v, (str, list, dict, tuple)) and pd.isna(v)):
                v = None
            elif isinstance(v, float) and not math.isfinite(v):
                v = str(v)  # ±inf: a z-score against a perfectly flat history
            elif isinstance(v, pd.Timestamp):
                v = v.isoformat()
            elif hasattr(v, "item"):
                v = v.item()
            clean[k] = v
        out.append(clean)
    return out


def _open(warehouse: str):
    from upmarket.warehouse import connect

    return connect(warehouse, create=False)


@app.command()
@friendly
def budget(
    plan: Annotated[Path | None, typer.Option(
        "--plan", help="Plan file (CSV, Excel or YAML) with columns channel,period,planned "
        "(periods like 2025-03 or 2025Q1); without it, campaign budgets spread over their "
        "dates are the plan.")] = None,
    max_change: Annotated[float, typer.Option(
        "--max-change", help="How far one channel's budget may move, as a fraction (0.3 = "
        "±30 %).")] = 0.30,
    period: Annotated[str, typer.Option(
        "--period", help="Planning period: month or quarter.")] = "month",
    model: Annotated[str, typer.Option(
        "--model", "-m", help="Attribution model that credits revenue to channels for the "
        "response curves (markov, shapley, linear, …).")] = "markov",
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", help="Spend and revenue before this date (default: the day after the "
        "latest order).", formats=["%Y-%m-%d"])] = None,
    file_format: FileFormat = None,
    out: OutFile = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Budget plan vs actual per channel, response curves, and an elastic reallocation.

    Each channel's (period spend, attributed revenue) is fitted with a saturating curve
    revenue = a·(1 − e^(−spend/b)); the same total budget is then moved toward the channels
    with the best marginal return, each within ±--max-change.
    """
    from upmarket.models.attribution import MODELS, BadPaths
    from upmarket.pipeline import default_as_of
    from upmarket.strategy.budget import BadBudgetSettings, BudgetSettings, budget_tables

    if period not in PERIOD_OPTIONS:
        raise BadBudgetSettings(f"--period must be month or quarter, not {period!r}")
    if model not in MODELS:
        raise BadPaths(f"--model must be one of {', '.join(MODELS)}, not {model!r}")
    settings = BudgetSettings(freq=PERIOD_OPTIONS[period], max_increase=max_change,
                              max_decrease=max_change, attribution_model=model)
    wh = _open(warehouse)
    try:
        as_of = as_of or default_as_of(wh)
        tables, summary = budget_tables(wh, as_of, plan=plan, settings=settings)
    finally:
        wh.close()
    if file_format is not None and tables:
        _write_budget(tables, file_format, out, as_json, lang)
    if as_json:
        _print_json(as_of, summary, tables, "budget_")
        return
    if "budget_plan_vs_actual" not in tables:
        console.print(label("budget.no_spend", lang))
        return
    period_name = label(f"budget.period.{period}", lang)
    _print_plan(tables["budget_plan_vs_actual"], summary, lang)
    _print_curves(tables["budget_curves"], period_name, lang)
    _print_reallocation(tables["budget_reallocation"], summary, period_name, max_change, lang)


def _write_budget(tables: dict, fmt: str, out, as_json: bool, lang: str) -> None:
    """The budget's tables as a file: a sheet (or CSV file) per table."""
    from upmarket.activation.spreadsheet import Sheet

    sheets = {}
    for name, frame in tables.items():
        key = name.removeprefix("budget_")
        title = f"budget.sheet.{key}"
        sheets[key] = Sheet(label(title, lang) if title in LABELS else key, frame,
                            headers(frame, "budget", lang))
    paths = write_tables(sheets, fmt, out, "budget")
    if not as_json:
        console.print(written(paths, lang), highlight=False, soft_wrap=True)


def _print_plan(pva: pd.DataFrame, summary: dict, lang: str) -> None:
    started = pva[pva["status"] != "future"]
    per = started.assign(actual=started["actual"].where(started["planned_to_date"] > 0, 0.0)) \
        .groupby("channel").agg(
        planned=("planned_to_date", "sum"), actual=("actual", "sum"),
        over=("status", lambda s: int((s == "over").sum())),
        under=("status", lambda s: int((s == "under").sum())),
        unplanned=("status", lambda s: int((s == "unplanned").sum())))
    source = label(f"budget.source.{summary.get('plan_source', 'campaigns')}", lang)
    t = Table(title=label("budget.title_plan", lang, source=source), title_justify="left")
    t.add_column(label("budget.channel", lang), no_wrap=True)
    for key in ("planned_to_date", "actual", "execution_rate", "off_plan"):
        t.add_column(label(f"budget.{key}", lang), justify="right")
    for ch, r in per.iterrows():
        rate = r.actual / r.planned if r.planned > 0 else float("nan")
        off = ", ".join(f"{n} {label(f'budget.status.{k}', lang)}"
                        for k, n in (("over", r.over), ("under", r.under),
                                     ("unplanned", r.unplanned)) if n)
        t.add_row(channel_name(ch, lang), f"{r.planned:,.0f}", f"{r.actual:,.0f}",
                  f"{rate:.1%}" if math.isfinite(rate) else "–", off or "–")
    console.print(t)
    if summary.get("execution_rate") is not None:
        console.print(label("budget.execution", lang, rate=summary["execution_rate"],
                            planned=summary["planned_to_date"], off=summary["periods_off_plan"],
                            unplanned=summary["unplanned_spend"]))
    if summary.get("plan_note"):
        console.print(f"[dim]{summary['plan_note']}[/]")


def _print_curves(curves: pd.DataFrame, period_name: str, lang: str) -> None:
    t = Table(title=label("budget.title_curves", lang, period=period_name), title_justify="left")
    t.add_column(label("budget.channel", lang), no_wrap=True)
    for key in ("a", "b", "mean_spend", "mean_revenue", "r2"):
        t.add_column(label(f"budget.{key}", lang), justify="right")
    t.add_column(label("budget.method", lang))
    for r in curves.itertuples():
        method = label(f"budget.method.{r.method}", lang)
        if r.linear:
            method += " · " + label("budget.linear", lang)
        t.add_row(channel_name(r.channel, lang), f"{r.a:,.0f}", f"{r.b:,.0f}", f"{r.mean_spend:,.0f}",
                  f"{r.mean_revenue:,.0f}", f"{r.r2:.2f}" if math.isfinite(r.r2) else "–",
                  method)
    console.print(t)


def _print_reallocation(realloc: pd.DataFrame, summary: dict, period_name: str,
                        max_change: float, lang: str) -> None:
    t = Table(title=label("budget.title_realloc", lang, budget=summary["budget_per_period"],
                          period=period_name, max_change=max_change), title_justify="left")
    t.add_column(label("budget.channel", lang), no_wrap=True)
    for key in ("current", "suggested", "change", "marginal_now", "marginal_suggested"):
        t.add_column(label(f"budget.{key}", lang), justify="right")
    for r in realloc.sort_values("change", ascending=False).itertuples():
        style = "green" if r.change > 0.005 * max(r.current, 1) else \
            "red" if r.change < -0.005 * max(r.current, 1) else ""
        t.add_row(channel_name(r.channel, lang), f"{r.current:,.0f}", f"[{style}]{r.suggested:,.0f}[/]" if style
                  else f"{r.suggested:,.0f}", f"{r.change_pct:+.1%}",
                  f"{r.marginal_return_now:,.2f}", f"{r.marginal_return_suggested:,.2f}")
    console.print(t)
    if summary.get("expected_uplift_pct") is not None:
        console.print(label("budget.uplift", lang, period=period_name,
                            now=summary["expected_return_now"],
                            new=summary["expected_return_suggested"],
                            pct=summary["expected_uplift_pct"]))
    if summary.get("fallback_channels"):
        console.print(label("budget.fallback", lang,
                            channels=", ".join(channel_name(c, lang) for c in summary["fallback_channels"])))


@app.command()
@friendly
def risk(
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", help="Assess risk as of this date (default: the current run's as-of date, "
        "else the day after the latest order).", formats=["%Y-%m-%d"])] = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """The risk register: concentration, credit, operational, reputation, premium churn and
    KPI anomalies, each against its thresholds, with level, owner and suggested action.

    Uses the current run's tiers, CLV and churn risk when there is a run (`upmarket run`).
    """
    import pandas as pd
    from upmarket.errors import NoRun
    from upmarket.pipeline import default_as_of
    from upmarket.strategy.risk import risk_tables
    from upmarket.warehouse.runs import current_run, output

    wh = _open(warehouse)
    try:
        try:
            run = current_run(wh)
            cols = ["customer_id", "tier", "clv", "churn_risk"]
            res = output(wh, "results", run["run_id"])
            results = res.select(*[c for c in cols if c in res.columns]).to_pandas()
            run_as_of = pd.Timestamp(run["as_of"]).to_pydatetime()
        except NoRun:
            results, run_as_of = None, None
        as_of = as_of or run_as_of or default_as_of(wh)
        tables, summary = risk_tables(wh, as_of, results)
    finally:
        wh.close()
    if as_json:
        _print_json(as_of, summary, tables, "risk_")
        return
    _print_register(tables["risk_register"], as_of, summary, lang)
    if "risk_credit" in tables:
        _print_credit(tables["risk_credit"], lang)
    if "risk_sla" in tables:
        _print_sla(tables["risk_sla"], lang)
    anomalies = tables.get("risk_anomalies")
    if anomalies is not None and len(anomalies):
        _print_anomalies(anomalies, summary["anomaly_rule"], lang)
    for key in summary["not_assessed"]:
        console.print(f"[dim]{label('risk.not_assessed', lang)}: "
                      f"{summary['not_assessed'][key]}[/]")


def _value(indicator: str, value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if indicator in SHARE_INDICATORS:
        return f"{value:.1%}"
    if indicator == "kpi_anomalies":
        return f"{value:.0f}"
    return f"{value:,.1f}"


def _print_register(register: pd.DataFrame, as_of: datetime, summary: dict, lang: str) -> None:
    counts = summary["risks"]
    t = Table(title=label("risk.title", lang, as_of=as_of.strftime("%Y-%m-%d"),
                          high=counts["high"], medium=counts["medium"], low=counts["low"]),
              title_justify="left", box=box.SIMPLE_HEAD)
    t.add_column(label("risk.col.id", lang), no_wrap=True)
    t.add_column(label("risk.col.indicator", lang), ratio=1, min_width=16)
    for key in ("value", "threshold"):
        t.add_column(label(f"risk.col.{key}", lang), justify="right", no_wrap=True)
    t.add_column(label("risk.col.level", lang), no_wrap=True)
    t.add_column(label("risk.col.impact", lang), no_wrap=True)
    t.add_column(label("risk.col.exposure", lang), justify="right", no_wrap=True)
    for r in register.itertuples():
        sign = ">" if r.direction == "above" else "<"
        lvl = label(f"band.{r.level}", lang)
        t.add_row(r.id, label(f"risk.ind.{r.indicator}", lang), _value(r.indicator, r.value),
                  f"{sign} {_value(r.indicator, r.threshold)}",
                  f"[{LEVEL_STYLE[r.level]}]{lvl}[/]", label(f"band.{r.impact}", lang),
                  f"{r.exposure:,.0f}" if math.isfinite(r.exposure) else "–")
    console.print(t)
    # the actions read as sentences: a list under the table, not a squeezed column
    open_ = register[register["level"] != "low"]
    if len(open_):
        console.print(f"[bold]{label('risk.actions', lang)}[/]")
        for r in open_.itertuples():
            console.print(f"  [{LEVEL_STYLE[r.level]}]{r.id}[/] "
                          f"{label(f'risk.owner.{r.owner}', lang)}: {label(r.action, lang)}",
                          highlight=False)


def _print_credit(credit: pd.DataFrame, lang: str) -> None:
    per = credit.groupby("grade").agg(customers=("customer_id", "count"),
                                      overdue=("overdue_amount", "sum"),
                                      limit=("credit_limit", "sum"),
                                      prepayment=("prepayment", "first"),
                                      guarantee=("guarantee", "first"))
    t = Table(title=label("risk.credit_title", lang), title_justify="left")
    for key in ("grade", "customers", "overdue_amount", "credit_limit", "prepayment",
                "guarantee"):
        t.add_column(label(f"risk.credit.{key}", lang),
                     justify="left" if key == "grade" else "right")
    for g, r in per.iterrows():
        t.add_row(g, f"{r.customers:,}", f"{r.overdue:,.0f}", f"{r.limit:,.0f}",
                  f"{r.prepayment:.0%}", label("risk.yes" if r.guarantee else "risk.no", lang))
    console.print(t)
    console.print(f"[dim]{label('risk.credit_rule', lang)}[/]")


def _print_sla(sla: pd.DataFrame, lang: str) -> None:
    t = Table(title=label("risk.sla_title", lang), title_justify="left")
    t.add_column(label("field.tier", lang))
    for key in ("sla_hours", "tickets", "breached", "breach_rate", "median_response"):
        t.add_column(label(f"risk.sla.{key}", lang), justify="right")
    for r in sla.itertuples():
        t.add_row(label(f"tier.{r.tier}", lang),
                  f"≤ {label('unit.hours', lang, n=f'{r.sla_hours:g}')}", f"{r.tickets:,}",
                  f"{r.breached:,}", f"{r.breach_rate:.1%}",
                  label("unit.hours", lang, n=f"{r.median_response_hours:.1f}"))
    console.print(t)


def _print_anomalies(flags: pd.DataFrame, rule: dict, lang: str) -> None:
    import pandas as pd
    t = Table(title=label("risk.anomalies_title", lang, z=rule["z"], window=rule["window_days"]),
              title_justify="left")
    for key in ("day", "kpi", "value", "expected", "z", "promotion"):
        t.add_column(label(f"risk.anomaly.{key}", lang),
                     justify="right" if key in ("value", "expected", "z") else "left")
    for r in flags.sort_values("day", ascending=False).head(15).itertuples():
        t.add_row(pd.Timestamp(r.day).strftime("%Y-%m-%d"), label(f"risk.kpi.{r.kpi}", lang),
                  f"{r.value:,.0f}", f"{r.expected:,.0f}", f"{r.z:+.1f}", r.promotion or "–")
    console.print(t)
