"""Commands about planning and control: budget (plan vs actual, elastic reallocation) and risk
(the risk register)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.cli.files import FileFormat, OutFile, headers, write_tables, written
from upmarket.data_labels import channel_name
from upmarket.i18n import LABELS, label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

if TYPE_CHECKING:  # help must start without the data libraries
    import pandas as pd

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
    outcome: Annotated[str, typer.Option(
        "--outcome", help="What the marketing-mix model explains: new_customers or "
        "revenue.")] = "new_customers",
    lift: Annotated[list[str] | None, typer.Option(
        "--lift", help="A lift test's result to calibrate a channel, CHANNEL=ROI:SE (ROI in "
        "outcome per unit of spend, SE its standard error); repeatable.")] = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Budget plan vs actual per channel, a marketing-mix model, and an elastic reallocation.

    The mix model explains the weekly outcome by each channel's spend (carry-over and
    saturation), trend, seasons and promotions, with bootstrap intervals. Only channels whose
    curve is credible (own spend variation, out-of-time fit, narrow ROI interval) move, each
    within ±--max-change; the others keep their budget and say why.
    """
    from upmarket.models.attribution import MODELS, BadPaths
    from upmarket.pipeline import default_as_of
    from upmarket.models.mmm import MmmSettings
    from upmarket.strategy.budget import BadBudgetSettings, BudgetSettings, budget_tables

    if period not in PERIOD_OPTIONS:
        raise BadBudgetSettings("err.option_either", option="--period", first="month",
                                second="quarter", value=period)
    if model not in MODELS:
        raise BadPaths("err.option_choice", option="--model",
                       choices=", ".join(MODELS), value=model)
    settings = BudgetSettings(freq=PERIOD_OPTIONS[period], max_increase=max_change,
                              max_decrease=max_change, attribution_model=model, outcome=outcome,
                              mix_model=MmmSettings(lift_tests=_parse_lifts(lift or [])))
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
    _print_mix_model(tables.get("budget_mix_model"), summary, lang)
    mix = tables.get("budget_mix_model")
    _print_reallocation(tables["budget_reallocation"], summary, period_name, max_change, lang,
                        mix.set_index("channel") if mix is not None else None)


def _parse_lifts(items: list[str]) -> dict[str, tuple[float, float]]:
    from upmarket.strategy.budget import BadBudgetSettings

    out = {}
    for item in items:
        ch, _, rest = item.partition("=")
        roi, _, se = rest.partition(":")
        try:
            value, err = float(roi), float(se)
        except ValueError:
            value, err = float("nan"), float("nan")
        if not ch.strip() or not (math.isfinite(value) and math.isfinite(err)) or err <= 0:
            raise BadBudgetSettings("err.lift", value=item)
        out[ch.strip()] = (value, err)
    return out


def _nan(v) -> float:
    return float("nan") if v is None else float(v)


def _signal(reason: str, row, summary: dict, lang: str) -> str:
    fit = summary.get("mix_model") or {}
    th = fit.get("thresholds", {})
    if reason == "spend_variation":
        return label("budget.signal.spend_variation", lang, value=row["spend_variation"],
                     threshold=th.get("min_spend_variation", float("nan")))
    if reason == "holdout_fit":
        return label("budget.signal.holdout_fit", lang, value=_nan(fit.get("r2_holdout")),
                     threshold=th.get("min_holdout_r2", float("nan")))
    if reason == "interval_width":
        return label("budget.signal.interval_width", lang, value=row["interval_ratio"],
                     threshold=th.get("max_interval_ratio", float("nan")))
    if reason == "no_model":
        return label("budget.signal.no_model", lang, note=summary.get("mix_model_note", ""))
    return label(f"budget.signal.{reason}", lang)


def _print_mix_model(mix: pd.DataFrame | None, summary: dict, lang: str) -> None:
    if mix is None:
        console.print(label("budget.signal.no_model", lang,
                            note=summary.get("mix_model_note", "")))
        return
    fit = summary["mix_model"]
    outcome = label(f"budget.outcome.{summary.get('outcome', 'new_customers')}", lang)
    t = Table(title=label("budget.title_mix", lang, outcome=outcome, weeks=fit["weeks"],
                          level=fit["level"]), title_justify="left")
    t.add_column(label("budget.channel", lang), no_wrap=True)
    for key in ("actual", "roi", "roi_interval", "spend_variation"):
        t.add_column(label(f"budget.{key}", lang), justify="right")
    t.add_column(label("budget.verdict", lang))
    for _, r in mix.iterrows():
        lo, hi = r["roi_low"], r["roi_high"]
        interval = f"{lo:.2g}–{hi:.2g}" if math.isfinite(lo) and math.isfinite(hi) else "–"
        # the reasons are spelt out under the reallocation: a table cell would wrap them
        verdict = label("budget.signal.credible", lang) if r["credible"] else \
            f"[yellow]{label('budget.signal.weak', lang)}[/]"
        t.add_row(channel_name(r["channel"], lang), f"{r['spend']:,.0f}", f"{r['roi']:.3g}",
                  interval,
                  f"{r['spend_variation']:.2f}", verdict)
    console.print(t)
    # the curves in a table of their own: beside the verdicts they would not fit 80 columns
    from upmarket.reports.mix_model import adstock_text

    c = Table(title=label("mmm.title_curves", lang, outcome=outcome), title_justify="left")
    c.add_column(label("budget.channel", lang), no_wrap=True)
    c.add_column(label("mmm.col.contribution", lang), justify="right")
    c.add_column(label("mmm.col.adstock", lang))
    c.add_column(label("mmm.col.saturation", lang))
    for _, r in mix.iterrows():
        c.add_row(channel_name(r["channel"], lang), f"{r['contribution']:,.1f}",
                  adstock_text(r["adstock_decay"], lang),
                  label("mmm.saturation", lang, half=f"{r['half_saturation']:,.0f}",
                        shape=r["hill_shape"]))
    console.print(c)
    th = fit["thresholds"]
    console.print(label("budget.mix_fit", lang, r2_in=_nan(fit["r2_in_sample"]),
                        r2=_nan(fit["r2_holdout"]), mape=_nan(fit["mape_holdout"]),
                        folds=fit["holdout_folds"],
                        extra=fit["holdout_weeks_extrapolated"],
                        min_var=th["min_spend_variation"], min_r2=th["min_holdout_r2"],
                        max_ratio=th["max_interval_ratio"]))


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


def _print_reallocation(realloc: pd.DataFrame, summary: dict, period_name: str,
                        max_change: float, lang: str,
                        mix_rows: pd.DataFrame | None = None) -> None:
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
                  f"{r.marginal_return_now:.3g}", f"{r.marginal_return_suggested:.3g}")
    console.print(t)
    if summary.get("expected_uplift_pct") is not None:
        outcome = label(f"budget.outcome.{summary.get('outcome', 'new_customers')}", lang)
        console.print(label("budget.uplift_mix", lang, period=period_name, outcome=outcome,
                            now=summary["expected_return_now"],
                            new=summary["expected_return_suggested"],
                            pct=summary["expected_uplift_pct"]))
    for r in realloc.itertuples():
        if r.signal != "credible":
            row = {"spend_variation": float("nan"), "interval_ratio": float("nan")}
            if mix_rows is not None and r.channel in mix_rows.index:
                row = mix_rows.loc[r.channel]
            console.print(f"[yellow]{channel_name(r.channel, lang)}[/]: "
                          f"{_signal(r.signal, row, summary, lang)}")


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
