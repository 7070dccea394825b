"""The periodic report: one self-contained HTML file per evaluation cycle (the upward-marketing guide, chapter 6).

The upward-marketing guide asks for a three-level evaluation mechanism — a monthly quick review (月度快评), a
quarterly assessment (季度评估) and an annual retrospective (年度复盘) — and for each level
to fix its focus, its data sources and its report template (需明确：各周期评估重点、数据来源、
报告模板). The guide leaves the contents to the reader; here they are:

* **month** — quick review of the KPIs and the campaigns that ran: headline KPIs against the
  month before, campaign results (short- and long-term ROI, A/B verdicts), the funnel, the
  next-best-action mix and who needs a call this month (at-risk premium customers, upsell
  list).
* **quarter** — assessment against the effect index (customer value 50 % + brand value 30 % +
  operational efficiency 20 %) and its targets (CLTV +35 %, premium penetration +28 %,
  NPS > 50), against the quarter before; where the value sits (tiers, RFM, CLV, churn), what
  the channels return (ROI, attribution by model, budget plan vs actual) and the risks.
* **year** — retrospective and strategy: the year against the year before, the effect index,
  cohort retention, value structure, channel economics and budget reallocation, and findings
  phrased as the next year's priorities.

Every cycle carries the same skeleton — headline KPIs with the comparison period, the
scorecard table, figures, the customer lists, the risk register, data sources with the run id
and as-of date — so a reader finds things in the same place from one report to the next.

The report reads one published run (the current one by default) plus the warehouse tables the
period's KPIs and scorecard need; this module is the interface boundary where Ibis
expressions become pandas frames (DESIGN §2). Figures come from `reports.figures`, the same
functions the dashboard uses.

A report is a document that leaves the system, so it obeys the export rules of
`activation.privacy`: customer ids are pseudonymised unless personal data are asked for
(`with_pii`), it lists ids only (never names or contact details), and rendering it writes an
audit record before the text is returned.

The file is self-contained: plotly.js is inlined once from the installed `plotly` package
(`plotly.offline.get_plotlyjs`), figures are JSON in the page, fonts are the system's; the page
makes no request of its own (no CDN, no web font, no image), so it opens offline and can be
mailed as it is.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.utils import PlotlyJSONEncoder

from upmarket.activation import privacy
from upmarket.currency import run_symbol
from upmarket.errors import NoRun
from upmarket.data_labels import DataLabels
from upmarket.i18n import LABELS, current_lang, label, value_label
from upmarket.models.churn import signal_text
from upmarket.reports import coverage
from upmarket.reports import figures as F
from upmarket.reports import method
from upmarket.reports import membership as membership_section
from upmarket.reports import mix_model as mix_section
from upmarket.strategy import demographics, economics, saved_segments
from upmarket.strategy import scorecard as sc
from upmarket.strategy.kpis import BENCHMARKS
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import current_run, output, output_table

CYCLES = ("month", "quarter", "year")
#: How many customers each list shows.
TOP_N = 20
#: Figures per cycle, in reading order (names of `figures.FIGURES`).
CYCLE_FIGURES = {
    "month": ("revenue_trend", "campaigns", "channel_roi", "funnel", "actions",
              "churn_by_tier"),
    "quarter": ("effect_index", "revenue_trend", "tier_pyramid", "rfm_segments",
                "clv_distribution", "churn_by_tier", "actions", "channel_roi", "attribution",
                "budget", "funnel", "risk_register"),
    "year": ("revenue_trend", "effect_index", "tier_pyramid", "cohort_retention",
             "clv_distribution", "rfm_segments", "channel_roi", "attribution", "campaigns",
             "budget", "risk_register"),
}
#: Months of history in the revenue trend.
TREND_MONTHS = {"month": 13, "quarter": 15, "year": 24}
#: Headline KPIs: key, unit.
KPIS = (("net_revenue", "currency"), ("orders", "count"), ("buyers", "count"),
        ("new_customers", "count"), ("aov", "currency"), ("clv_mean", "currency"),
        ("clv_total", "currency"), ("cltv_textbook", "currency"),
        ("premium_penetration", "share"), ("nps", "nps"))
#: Warehouse tables listed under data sources (those the KPIs, scorecard and attribution read).
SOURCE_TABLES = ("orders", "products", "customers", "events", "feedback", "brand_survey",
                 "service_tickets", "marketing_spend", "campaigns", "tasks")
#: Run outputs the report reads.
RUN_OUTPUTS = ("results", "tier_summary", "actions", "channel_roi", "campaign_roi",
               "experiments", "budget_plan_vs_actual", "cohorts", "funnels", "risk_register",
               "channel_economics", "value_model_comparison", "action_impact", "nba_learned",
               *mix_section.OUTPUTS)
#: The columns read of the wide outputs: those the report shows.
OUTPUT_COLUMNS = {
    "results": ["customer_id", "tier", "clv", "churn_risk", "churn_band", "rfm_segment",
                "churn_signals", "churn_signals_zh", "lifecycle_stage", "next_best_action"],
    "actions": ["customer_id", "tier", "action", "expected_value", "probability",
                "product_name", "sku", "channel", "reason_en", "reason_zh"],
    "experiments": ["campaign_id", "arm", "verdict", "uplift", "p_value"],
}
_CREDENTIALS = re.compile(r"(//[^/@:]+):[^/@]*@")


# -- the run and the period ----------------------------------------------------------------
def published_run(wh: Warehouse, run_id: str | None = None) -> dict:
    """The run to report on: `run_id` when given (it must be published), else the current
    run. Its summary (`counts`) is parsed."""
    if run_id is None:
        return current_run(wh)
    t = wh.table("runs")
    rows = t.filter(t.run_id == run_id, t.status == "published").to_pandas()
    if rows.empty:
        raise NoRun("err.report.no_such_run", run_id=run_id)
    row = rows.iloc[0].to_dict()
    row["counts"] = json.loads(row["counts"] or "{}")
    return row


def report_period(cycle: str, period: str | sc.Period | None, as_of: datetime) -> sc.Period:
    """The period a `cycle` report covers: `period` (a month, quarter or year of the cycle's
    kind) or, by default, the scorecard's (`scorecard.default_period`, the one rule for both):
    the period the run's `as_of` closes, read to date once it holds four weeks of data, else
    the last complete one. Any other period that has not ended by `as_of` is refused: the run
    knows nothing of its end."""
    if cycle not in CYCLES:
        raise sc.BadPeriod("err.option_choice", option="--cycle", choices=", ".join(CYCLES),
                           value=cycle)
    default = sc.default_period(as_of, cycle)
    if period is None:
        return default
    p = sc.parse_period(period)
    if p.until is None and default.to_date and p == replace(default, until=None):
        return default  # asked for by name: the same period, read as far as the data go
    if p.kind != cycle:
        raise sc.BadPeriod(
            f"--period {p.label} is a {p.kind} but the report is a {cycle} review: give a "
            f"{cycle} ({_example(cycle)}) or --cycle {p.kind}")
    if p.end > as_of:
        latest = sc.last_complete(as_of, cycle)
        raise sc.BadPeriod("err.report.period_open", period=p.label, as_of=f"{as_of:%Y-%m-%d}",
                           cycle=cycle, latest=latest.label)
    return p


def period_note(p: sc.Period, compare: sc.Period, as_of: datetime, lang: str) -> str:
    """Which period the report covers and why: to date (and against which days), the last
    complete one the run's as-of closes, or the one asked for."""
    args = {"period": p.label, "compare": compare.label, "as_of": f"{as_of:%Y-%m-%d}",
            "start": f"{p.start:%Y-%m-%d}", "end": f"{p.end - timedelta(days=1):%Y-%m-%d}",
            "days": round(p.days), "min_days": sc.MIN_TO_DATE_DAYS}
    if p.to_date:
        return label("report.period.to_date", lang, **args)
    if p == sc.default_period(as_of, p.kind):
        return label("report.period.complete", lang, **args)
    return label("report.period.asked", lang, **args)


def _example(cycle: str) -> str:
    return {"month": "2025-07", "quarter": "2025-Q3", "year": "2025"}[cycle]


# -- reading the warehouse (the interface boundary: Ibis → pandas) --------------------------
def _output(wh: Warehouse, name: str, run_id: str, columns=None) -> pd.DataFrame | None:
    """An output of the run as a frame (only `columns` that exist), or None when the run did
    not produce it (no spend ingested, no events …)."""
    table = output_table(name, run_id)
    if not wh.has_table(table):
        return None
    t = wh.table(table)
    if columns is not None:
        t = t.select(*[c for c in columns if c in t.columns])
    return t.to_pandas()


def _count(wh: Warehouse, name: str) -> int | None:
    return wh.count(name) if wh.has_table(name) else None


def order_kpis(wh: Warehouse, p: sc.Period) -> dict[str, float | None]:
    """Orders, buyers, new customers (first paid purchase in the period) and average order
    value (paid amount ÷ paid orders) of a period."""
    o = wh.table("orders")
    paid = o.filter(o.status == "paid")
    inside = paid.filter(paid.ts >= ibis.literal(p.start), paid.ts < ibis.literal(p.end))
    agg = inside.aggregate(orders=inside.order_id.nunique(), buyers=inside.customer_id.nunique(),
                           paid=inside.amount.sum()).to_pandas().iloc[0]
    first = paid.group_by("customer_id").aggregate(first=paid.ts.min())
    new = first.filter(first["first"] >= ibis.literal(p.start),
                       first["first"] < ibis.literal(p.end)).count().execute()
    orders = int(agg["orders"] or 0)
    return {"orders": float(orders), "buyers": float(agg["buyers"] or 0), "new_customers":
            float(new or 0), "aov": float(agg["paid"]) / orders if orders else None}


def monthly_revenue(wh: Warehouse, start: datetime, end: datetime) -> pd.DataFrame:
    """Net revenue (cancellations and returns netted, as `net_revenue` of the scorecard) and
    paying customers per calendar month in [start, end)."""
    o = wh.table("orders")
    o = o.filter(o.ts >= ibis.literal(start), o.ts < ibis.literal(end))
    o = o.mutate(month=o.ts.truncate("M"))
    paid_buyer = ibis.cases((o.status == "paid", o.customer_id), else_=ibis.null("string"))
    g = o.group_by("month").aggregate(revenue=o.amount.sum(), buyers=paid_buyer.nunique())
    return g.order_by("month").to_pandas()


def attribution_by_model(wh: Warehouse, p: sc.Period, lookback_days: int = 30
                         ) -> pd.DataFrame | None:
    """Conversions in the period credited to channels by every attribution model
    (`models.attribution`): model, channel, conversions, value. The paths are the converting
    journeys of the period's orders (touches up to `lookback_days` before each); None when no
    order in the period had a touch."""
    from upmarket.features.paths import converting_journeys
    from upmarket.models.attribution import BadPaths, attribute, parse_paths

    j = converting_journeys(wh.table("events"), wh.table("orders"), p.end, lookback_days)
    j = j.filter(j.conv_ts >= ibis.literal(p.start))
    paths = j.group_by("path").aggregate(total_conversions=j.count(),
                                         total_conversion_value=j.value.sum().cast("float64"))
    paths = paths.mutate(total_null=ibis.literal(0)).order_by("path").to_pandas()
    if paths.empty:
        return None
    try:
        data = parse_paths(paths)
        frames = [attribute(data, m).assign(model=m) for m in F.ATTRIBUTION_MODELS]
    except BadPaths:
        return None
    return pd.concat(frames, ignore_index=True)


def _in_period(labels: pd.Series, p: sc.Period) -> pd.Series:
    """Which budget periods (``2025-07``, ``2025-Q3``) lie inside `p`."""
    def inside(text) -> bool:
        q = sc.try_period(text)
        return q is not None and q.start >= p.start and q.end <= p.end
    return labels.map(inside).astype(bool)


# -- the report's content ------------------------------------------------------------------
@dataclass
class ReportData:
    """Everything a report shows, computed once: the template only lays it out."""

    cycle: str
    period: sc.Period
    compare: sc.Period
    lang: str
    run: dict
    warehouse: str
    kpis: list[dict] = field(default_factory=list)
    scorecard: sc.Comparison | None = None
    figures: dict[str, go.Figure] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    campaigns: list[dict] = field(default_factory=list)
    #: each action type against its control group, and what the next best action learned
    action_impact: list[dict] = field(default_factory=list)
    #: the marketing-mix model and what the budget did with it (`reports.mix_model`)
    mix_model: dict = field(default_factory=dict)
    at_risk: list[dict] = field(default_factory=list)
    at_risk_total: int = 0
    upsell: list[dict] = field(default_factory=list)
    upsell_total: int = 0
    risks: list[dict] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    outputs_used: list[str] = field(default_factory=list)
    #: customer ids in the clear rather than pseudonymised
    with_pii: bool = False
    #: the value and churn models in words (`value_method`), for the method section
    value_method: dict = field(default_factory=dict)
    #: the holdout comparison of the value models (`figures.fig_value_choice`), if the run
    #: made one; shown in the method section rather than among the period's figures
    value_figure: go.Figure | None = None
    #: segments saved by name, evaluated on the run (`strategy.saved_segments.summary`)
    saved_segments: list[dict] = field(default_factory=list)
    #: profiles by demographic and region (`strategy.demographics.display`)
    profiles: list[dict] = field(default_factory=list)
    #: what the period's data cover ("1 month of data in 2010 (…)"), and a warning when
    #: that is only part of the period (`reports.coverage`)
    coverage: str = ""
    coverage_warning: str | None = None
    #: which period the report covers and why (`period_note`)
    period_note: str = ""
    #: why the index differs from the one the run's summary shows (`scorecard.since_run`)
    since_run: str = ""
    #: the membership programme's economics (`reports.membership`); None without one
    membership: dict | None = None

    @property
    def listed_customers(self) -> int:
        return len(self.at_risk) + len(self.upsell)


def _finite(v) -> bool:
    return v is not None and not (isinstance(v, float) and not math.isfinite(v)) and \
        not pd.isna(v)


fmt = sc.format_value


def change_text(value, before, unit: str) -> str:
    """Change against the comparison period: percentage points for shares and NPS-like
    scores, relative change for amounts and counts."""
    if not (_finite(value) and _finite(before)):
        return "—"
    value, before = float(value), float(before)
    if unit == "share":
        return f"{(value - before) * 100:+.1f} pt"
    if unit in ("nps", "score"):
        return f"{value - before:+.1f}"
    if before == 0:
        return "—"
    return f"{(value - before) / abs(before):+.1%}"


def _trend(value, before) -> str:
    if not (_finite(value) and _finite(before)) or float(value) == float(before):
        return "flat"
    return "up" if float(value) > float(before) else "down"


def _note_text(card: sc.Scorecard, key, args, lang: str) -> str:
    """A scorecard metric's source note in the report's language (`scorecard.note.*`)."""
    if not isinstance(key, str) or not key or f"scorecard.note.{key}" not in LABELS:
        return ""
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            args = {}
    args = dict(args or {})
    if "metric" in args:
        args["metric"] = _metric_title(card, args["metric"], lang)
    if "dimension" in args:
        args["dimension"] = _dim_title(card, args["dimension"], lang)
    if f"scorecard.status.{args.get('status')}" in LABELS:
        args["status"] = label(f"scorecard.status.{args['status']}", lang)
    try:
        return label(f"scorecard.note.{key}", lang, **args) if args else \
            label(f"scorecard.note.{key}", lang)
    except (KeyError, ValueError, IndexError):
        return ""


def _own_title(obj, lang: str) -> str | None:
    title = getattr(obj, "title", None)
    if title:
        return title.get(lang) or title.get("en") or next(iter(title.values()))
    return None


def _metric_title(card: sc.Scorecard, key: str, lang: str) -> str:
    m = {m.key: m for _, m in card.metrics}.get(key)
    own = _own_title(m, lang) if m is not None else None
    if own:
        return own
    return label(f"scorecard.metric.{key}", lang) if f"scorecard.metric.{key}" in LABELS \
        else key


def _dim_title(card: sc.Scorecard, key: str, lang: str) -> str:
    d = {d.key: d for d in card.dimensions}.get(key)
    own = _own_title(d, lang) if d is not None else None
    if own:
        return own
    return label(f"scorecard.dim.{key}", lang) if f"scorecard.dim.{key}" in LABELS else key


def _target_text(row, unit: str, lang: str, symbol: str | None = None) -> str:
    text = str(row.target_text)
    if _finite(row.target):
        if text.lstrip().startswith(("<", ">", "≥", "≤")):
            comparator = text.rstrip("0123456789.% ").strip()
            return f"{comparator} {fmt(row.target, unit, lang, symbol)}"
        if any(ch in text for ch in "+-−"):
            return f"{text} → {fmt(row.target, unit, lang, symbol)}"
        return fmt(row.target, unit, lang, symbol)
    return text


def scorecard_rows(c: sc.Comparison, lang: str, symbol: str | None = None) -> list[dict]:
    """The scorecard as table rows: one per metric, grouped by dimension, with this period's
    actual, target, attainment and points, the comparison period's actual and the change."""
    card = c.current.card
    prev = c.previous.metrics.set_index(["dimension", "metric"])
    dims = c.current.dimensions.set_index("dimension")
    rows = []
    for d in card.dimensions:
        mine = c.current.metrics[c.current.metrics["dimension"] == d.key]
        for i, r in enumerate(mine.itertuples()):
            before = prev.loc[(d.key, r.metric), "actual"]
            ok = r.status == "ok"
            rows.append({
                "dimension": _dim_title(card, d.key, lang) if i == 0 else "",
                "dimension_span": len(mine) if i == 0 else 0,
                "dimension_score": fmt(dims.loc[d.key, "score"], "score"),
                "weight": f"{d.weight:.0%}",
                "metric": _metric_title(card, r.metric, lang),
                "actual": fmt(r.actual, r.unit, lang, symbol),
                "target": _target_text(r, r.unit, lang, symbol),
                "attainment": (f"{r.attainment:.0%}" if ok else
                               label(f"scorecard.status.{r.status}", lang)),
                "met": bool(r.met) if ok and r.met is not None and not pd.isna(r.met) else False,
                "points": f"{r.points:.1f}" if ok else "—",
                "compare": fmt(before, r.unit, lang, symbol),
                "change": change_text(r.actual, before, r.unit),
                "note": _note_text(card, r.note, r.note_args, lang),
            })
    return rows


def model_clv_at(wh: Warehouse, end: datetime, results: pd.DataFrame | None = None,
                 as_of: datetime | None = None) -> dict | None:
    """The CLV figures (`strategy.economics.model_clv`: mean and total predicted 12-month
    margin) of the run whose as-of date is `end` — `results` when they are that run's, else
    the latest published run at that date; None when no run was made then."""
    if results is not None and "clv" in results and as_of == end:
        return economics.model_clv(results)
    runs = wh.table("runs")
    row = runs.filter(runs.status == "published", runs.as_of == ibis.literal(end)) \
        .order_by(ibis.desc("finished")).limit(1).to_pandas()
    if row.empty:
        return None
    try:
        res = output(wh, "results", str(row["run_id"].iloc[0]))
    except NoRun:
        return None
    if "clv" not in res.columns:
        return None
    return economics.model_clv(res.select("clv").to_pandas())


def _kpi_rows(wh: Warehouse, p: sc.Period, other: sc.Period, c: sc.Comparison | None,
              provider: sc.WarehouseMetrics, lang: str, results: pd.DataFrame | None = None,
              as_of: datetime | None = None, symbol: str | None = None) -> list[dict]:
    cur, before = order_kpis(wh, p), order_kpis(wh, other)
    measured = provider.measure(["net_revenue"], [p, other])
    for key, src in (("net_revenue", measured),):
        cur[key] = src[p.label][key].value
        before[key] = src[other.label][key].value
    # the model's CLV at each period's end: the figure the run summary and dashboard show;
    # the textbook formula only beside it
    for period, into in ((p, cur), (other, before)):
        found = model_clv_at(wh, period.end, results, as_of)
        into["clv_mean"] = found["mean_12m_margin"] if found else None
        into["clv_total"] = found["total_12m_margin"] if found else None
        into["cltv_textbook"] = sc.cltv_textbook(provider, period).value
    if c is not None:
        metrics = c.metrics.set_index("metric")
        for key in ("premium_penetration", "nps"):
            if key in metrics.index:
                cur[key] = metrics.at[key, "actual"]
                before[key] = metrics.at[key, "compare_actual"]
    rows = []
    for key, unit in KPIS:
        v, b = cur.get(key), before.get(key)
        rows.append({"key": key, "label": label(f"report.kpi.{key}", lang),
                     "value": fmt(v, unit, lang, symbol), "compare": fmt(b, unit, lang, symbol),
                     "change": change_text(v, b, unit), "trend": _trend(v, b)})
    return rows


def _campaign_rows(campaign_roi: pd.DataFrame | None, experiments: pd.DataFrame | None,
                   p: sc.Period, lang: str, symbol: str | None = None) -> list[dict]:
    """Campaigns that ran at some point in the period, with their ROI and A/B verdict."""
    if campaign_roi is None or campaign_roi.empty:
        return []
    c = campaign_roi[(pd.to_datetime(campaign_roi["start"]) < p.end)
                     & (pd.to_datetime(campaign_roi["end"]) >= p.start)]
    verdicts = {}
    if experiments is not None and not experiments.empty:
        for r in experiments.itertuples():
            verdicts.setdefault(str(r.campaign_id), r)
    rows = []
    for r in c.sort_values(["start", "campaign_id"]).itertuples():
        v = verdicts.get(str(r.campaign_id))
        verdict = "—"
        if v is not None and f"verdict.{v.verdict}" in LABELS:
            verdict = label(f"verdict.{v.verdict}", lang)
            if _finite(getattr(v, "uplift", None)) and v.verdict in ("uplift", "drop",
                                                                      "uplift_revenue_down"):
                # relative: the conversion rate's change as a share of the control's
                verdict += " " + label("report.relative_uplift", lang, uplift=f"{v.uplift:+.0%}")
        rows.append({
            "name": r.name if isinstance(r.name, str) and r.name else r.campaign_id,
            "channel": r.channel or "—",
            "dates": f"{pd.Timestamp(r.start):%Y-%m-%d} – {pd.Timestamp(r.end):%Y-%m-%d}",
            "cost": fmt(r.cost, "currency", lang, symbol), "touched": fmt(r.touched, "count"),
            "profit": fmt(r.profit, "currency", lang, symbol),
            "roi": f"{r.roi:.2f}×" if _finite(r.roi) else "—",
            "roi_long_term": f"{r.roi_long_term:.2f}×" if _finite(r.roi_long_term) else "—",
            "verdict": verdict,
        })
    return rows


def _impact_rows(impact: pd.DataFrame | None, learned: pd.DataFrame | None,
                 lang: str) -> list[dict]:
    """One row per action type measured against its control group (all tiers): counts, the
    incremental conversion and margin per customer with their intervals, and what the next
    best action made of it (`strategy.action_feedback`)."""
    if impact is None or impact.empty:
        return []
    status = learned.set_index("action") if learned is not None and len(learned) else None

    def interval(r, m: str, scale: float, unit: str) -> str:
        d, lo, hi = (r[f"{m}_{k}"] for k in ("difference", "low", "high"))
        if not _finite(d):
            return "—"
        digits = 1 if unit else 0
        return (f"{scale * d:+,.{digits}f}{unit} "
                f"[{scale * lo:+,.{digits}f}, {scale * hi:+,.{digits}f}]")

    rows = []
    for r in impact[impact["tier"] == "all"].to_dict("records"):
        s = status.loc[r["action"]] if status is not None and r["action"] in status.index \
            else None
        rows.append({
            "action": value_label("action", r["action"], lang),
            "n": f"{int(r['n_treated']):,} / {int(r['n_held_out']):,}",
            "conversion": interval(r, "conversion", 100, "pt"),
            "margin": interval(r, "margin", 1, ""),
            # what the pre-decision covariates removed (CUPED); absent before they existed
            "reduction": f"{r['conversion_variance_reduction']:.0%}"
            if _finite(r.get("conversion_variance_reduction")) else "—",
            "learned": "—" if s is None else label(
                f"impact.status.{s['status']}", lang, scale=f"{s['response_scale']:.2f}")})
    return rows


def _refs(wh: Warehouse, ids: pd.Series, with_pii: bool) -> list[str]:
    if with_pii:
        return ids.astype(str).tolist()
    return privacy.pseudonymise(ids, privacy.pseudonym_key(wh)).tolist()


def _signals(row, lang: str) -> str:
    """The churn signals in the report's language (`models.churn.signal_text`)."""
    text = signal_text(getattr(row, "churn_signals", None), getattr(row, "churn_signals_zh", None),
                       lang)
    return text or "—"


def _customer_lists(wh: Warehouse, results: pd.DataFrame | None,
                    actions: pd.DataFrame | None, lang: str, with_pii: bool, data: ReportData
                    ) -> None:
    symbol = run_symbol(data.run)
    risky = F.at_risk_premium(results) if results is not None else pd.DataFrame()
    data.at_risk_total = len(risky)
    top = risky.head(TOP_N)
    if len(top):
        refs = _refs(wh, top["customer_id"], with_pii)
        for ref, r in zip(refs, top.itertuples()):
            action = getattr(r, "next_best_action", None)
            data.at_risk.append({
                "ref": ref, "tier": value_label("tier", str(r.tier), lang),
                "clv": fmt(r.clv, "currency", lang, symbol),
                "churn_risk": fmt(r.churn_risk, "share"),
                "at_stake": fmt(r.at_stake, "currency", lang, symbol),
                "stage": value_label("stage", str(getattr(r, "lifecycle_stage", "")), lang),
                "signals": _signals(r, lang),
                "action": value_label("action", str(action), lang)
                if isinstance(action, str) else "—",
            })
    if actions is None or actions.empty:
        return
    ups = actions[actions["action"].astype(str) == "upsell"].sort_values(
        ["expected_value", "customer_id"], ascending=[False, True])
    data.upsell_total = len(ups)
    top = ups.head(TOP_N)
    if len(top):
        refs = _refs(wh, top["customer_id"], with_pii)
        reason = "reason_zh" if lang == "zh-CN" else "reason_en"
        for ref, r in zip(refs, top.itertuples()):
            data.upsell.append({
                "ref": ref, "tier": value_label("tier", str(r.tier), lang),
                "product": r.product_name if isinstance(r.product_name, str) else (r.sku or "—"),
                "probability": fmt(r.probability, "share"),
                "expected_value": fmt(r.expected_value, "currency", lang, symbol),
                "channel": r.channel if isinstance(r.channel, str) else "—",
                "reason": getattr(r, reason, None) or "—",
            })


def _risk_value(indicator: str, value) -> str:
    # shares and rates read as percentages; HHI, NPS, counts and z-scores as plain numbers
    if not _finite(value):
        return "—"
    if indicator.endswith(("_share", "_rate")) or indicator.startswith("premium_churn"):
        return f"{float(value):.1%}"
    return f"{float(value):,.1f}"


def _risk_rows(register: pd.DataFrame | None, lang: str, symbol: str | None = None
               ) -> list[dict]:
    if register is None or register.empty:
        return []
    rank = {"high": 0, "medium": 1, "low": 2}
    r = register.assign(_rank=register["level"].map(rank).fillna(3)).sort_values(
        ["_rank", "id"])
    rows = []
    for x in r.itertuples():
        sign = ">" if x.direction == "above" else "<"
        rows.append({
            "id": x.id, "level_code": str(x.level),
            "category": label(f"risk.cat.{x.category}", lang)
            if f"risk.cat.{x.category}" in LABELS else x.category,
            "indicator": label(f"risk.ind.{x.indicator}", lang)
            if f"risk.ind.{x.indicator}" in LABELS else x.indicator,
            "value": _risk_value(x.indicator, x.value),
            "threshold": f"{sign} {_risk_value(x.indicator, x.threshold)}",
            "level": value_label("band", str(x.level), lang),
            "impact": value_label("band", str(x.impact), lang),
            "exposure": fmt(x.exposure, "currency", lang, symbol),
            "owner": label(f"risk.owner.{x.owner}", lang)
            if f"risk.owner.{x.owner}" in LABELS else x.owner,
            "action": label(x.action, lang) if x.action in LABELS else "—",
        })
    return rows


def _findings(data: ReportData, summary: dict, tier_summary, channel_econ, register,
              lang: str) -> list[str]:
    """What the numbers say, as sentences: each against the industry benchmark or target it is
    judged by, so the reader sees the verdict and the evidence together."""
    out = []
    share = summary.get("diamond_revenue_share")
    bench = BENCHMARKS["diamond_revenue_share"]
    if _finite(share):
        key = "report.finding.diamond_holds" if share >= bench else "report.finding.diamond_short"
        out.append(label(key, lang, share=float(share), benchmark=bench))
    kpis = summary.get("kpis") or {}
    pr = kpis.get("premium_retention")
    if _finite(pr):
        out.append(label("report.finding.premium_retention", lang, value=float(pr),
                         benchmark=BENCHMARKS["premium_retention"],
                         laggards=BENCHMARKS["premium_retention_laggards"]))
    ex = kpis.get("existing_customer_revenue_share")
    if _finite(ex):
        out.append(label("report.finding.existing_share", lang, value=float(ex),
                         benchmark=BENCHMARKS["existing_customer_revenue_share"]))
    if data.at_risk_total:
        out.append(label("report.finding.at_risk", lang, n=data.at_risk_total))
    c = data.scorecard
    if c is not None and c.current.index is not None:
        dims = c.current.dimensions.dropna(subset=["score"])
        if len(dims):
            weakest = dims.sort_values("score").iloc[0]
            out.append(label("report.finding.effect_index", lang, period=c.current.subject,
                             index=c.current.index, compare=c.previous.subject,
                             compare_index=fmt(c.previous.index, "score"),
                             weakest=_dim_title(c.current.card, weakest["dimension"], lang),
                             score=float(weakest["score"])))
    if channel_econ is not None and len(channel_econ) and "clv_to_cac" in channel_econ:
        weak = channel_econ[np.isfinite(channel_econ["clv_to_cac"].astype(float))
                            & (channel_econ["clv_to_cac"].astype(float) <= 3)]
        if len(weak):
            out.append(label("report.finding.clv_cac", lang, channels=_join(
                (f"{r.channel} {r.clv_to_cac:.1f}" for r in weak.itertuples()), lang)))
        else:
            out.append(label("report.finding.clv_cac_ok", lang))
    budget = summary.get("budget")
    if isinstance(budget, dict) and _finite(budget.get("expected_uplift_pct")) \
            and budget["expected_uplift_pct"] > 0:
        out.append(label("report.finding.budget", lang, pct=float(budget["expected_uplift_pct"]),
                         period=label(f"budget.period.{budget.get('period', 'month')}", lang)
                         if f"budget.period.{budget.get('period')}" in LABELS
                         else budget.get("period", "")))
    if register is not None and len(register):
        high = register[register["level"] == "high"]
        if len(high):
            out.append(label("report.finding.high_risks", lang, n=len(high), risks=_join(
                (f"{r.id} {label(f'risk.ind.{r.indicator}', lang)}"
                 if f"risk.ind.{r.indicator}" in LABELS else r.id for r in high.itertuples()),
                lang)))
    if data.upsell_total:
        out.append(label("report.finding.upsell", lang, n=data.upsell_total))
    return out


def _name_channels(frames: dict, names: DataLabels, lang: str) -> None:
    """Channels shown by name in every table and chart; all frames map alike, so a channel
    still matches itself across them."""
    for frame in frames.values():
        if frame is not None and "channel" in frame:
            frame["channel"] = [names.channel(c, lang) if isinstance(c, str) else c
                                for c in frame["channel"]]


def _name_given(frame: pd.DataFrame | None, kind: str, key: str, column: str,
                names: DataLabels) -> None:
    """`column` replaced by the Chinese name given for the row's `key` (`name_zh`, the labels
    file), where one is given."""
    if frame is None or key not in frame or column not in frame:
        return
    given = [names.names.get((kind, str(k))) for k in frame[key]]
    frame[column] = [g if g else v for g, v in zip(given, frame[column])]


def _join(items, lang: str) -> str:
    return ("、" if lang == "zh-CN" else ", ").join(items)


def _table_name(table: str, lang: str) -> str:
    """What a warehouse table or run output holds, in words; the identifier is shown beside
    it (the name to use in commands and queries)."""
    return label(f"report.table.{table}", lang) if f"report.table.{table}" in LABELS else ""


def _caption(name: str, data: ReportData, scope: str, lang: str) -> str:
    return label(f"report.caption.{name}", lang, period=data.period.label, scope=scope,
                 as_of=pd.Timestamp(data.run["as_of"]).strftime("%Y-%m-%d"))


def gather(wh: Warehouse, *, cycle: str = "quarter", period=None, lang: str = "en",
           run_id: str | None = None, with_pii: bool = False,
           with_figures: bool = True) -> ReportData:
    """Read what a `cycle` report on `period` needs from the run and the warehouse, and build
    its figures (unless not `with_figures`: a workbook has none), tables and findings. No
    audit record: see `render_report`."""
    lang = current_lang(lang)
    run = published_run(wh, run_id)
    run_id = run["run_id"]
    as_of = pd.Timestamp(run["as_of"]).to_pydatetime()
    p = report_period(cycle, period, as_of)
    other = p.previous()
    summary = run.get("counts") or {}
    data = ReportData(cycle, p, other, lang, run, _CREDENTIALS.sub(r"\1:***@", wh.url),
                      with_pii=with_pii)
    o = wh.table("orders")
    if int(o.filter(o.ts >= ibis.literal(p.start), o.ts < ibis.literal(p.end))
           .count().execute()) == 0:
        raise sc.BadPeriod("err.report.no_orders", period=p.label)

    covered = coverage.period_coverage(wh, p)
    data.coverage = coverage.coverage_text(covered, lang)
    data.coverage_warning = coverage.coverage_warning(covered, other.label, lang)
    data.period_note = period_note(p, other, as_of, lang)

    # None where the run has no such output (no spend ingested, no events …)
    frames = {name: _output(wh, name, run_id, OUTPUT_COLUMNS.get(name))
              for name in RUN_OUTPUTS}
    if lang == "zh-CN":
        names = DataLabels.load(wh)
        _name_channels(frames, names, lang)
        _name_given(frames.get("campaign_roi"), "campaign", "campaign_id", "name", names)
        _name_given(frames.get("actions"), "product", "sku", "product_name", names)
    results, actions = frames["results"], frames["actions"]

    # the scorecard of the period against the one before (the upward-marketing guide's effect index); the run's
    # own CLV serves a period that ends at its as-of date, as in the pipeline
    clv = results[["customer_id", "clv"]] if results is not None and "clv" in results else None
    provider = sc.WarehouseMetrics(wh, results=clv, results_as_of=as_of)
    data.scorecard = sc.compare(sc.load_scorecard("effect_index"), provider, p, other)
    since = sc.since_run(run, data.scorecard)
    data.since_run = label("scorecard.since_run", lang, **since) if since else ""
    # amounts in the currency of the run's policy (`currency.run_symbol`), as its summary
    symbol = run_symbol(run)
    data.kpis = _kpi_rows(wh, p, other, data.scorecard, provider, lang, clv, as_of, symbol)
    data.campaigns = _campaign_rows(frames["campaign_roi"], frames["experiments"], p, lang,
                                    symbol)
    data.action_impact = _impact_rows(frames["action_impact"], frames["nba_learned"], lang)
    data.mix_model = mix_section.section(frames["budget_mix_model"],
                                         frames["budget_reallocation"], summary.get("budget"),
                                         lang, symbol)
    if not with_figures:
        data.mix_model["figure"] = None
    _customer_lists(wh, results, actions, lang, with_pii, data)
    data.risks = _risk_rows(frames["risk_register"], lang, symbol)
    data.saved_segments = saved_segments.summary(wh, run=run)
    data.profiles = demographics.display(demographics.profiles(wh, run=run), lang,
                                         DataLabels.load(wh))
    data.membership = membership_section.section(run, lang, symbol)
    if with_figures:
        figs, scopes = _figures(wh, data, frames)
        data.figures = figs
        data.captions = {name: _caption(name, data, scopes[name], lang) for name in figs}
        data.value_figure = _value_figure(summary, frames["value_model_comparison"], lang)
    data.value_method = value_method(summary, frames["value_model_comparison"], lang)
    data.findings = _findings(data, summary, frames["tier_summary"],
                              frames["channel_economics"], frames["risk_register"], lang)
    outputs = summary.get("outputs", {})
    data.outputs_used = [{"table": n, "name": _table_name(n, lang),
                          "rows": fmt(outputs.get(n), "count")}
                         for n, f in frames.items() if f is not None]
    data.sources = [{"table": t, "name": _table_name(t, lang), "rows": fmt(n, "count")}
                    for t in SOURCE_TABLES if (n := _count(wh, t))]
    return data


def value_method(summary: dict, comparison: pd.DataFrame | None, lang: str) -> dict:
    """The method section's account of the run's models (`reports.method`, the words the CLI
    and the dashboard use too): the value models used, how they were chosen (sentences and the
    holdout table), every fit warning, a missing P(alive), and the churn model against its
    baseline. Empty when the run recorded none of it (a run from before these checks)."""
    if not any(k in summary for k in ("value_model", "value_choice", "churn_evaluation",
                                      "churn_model")):
        return {}
    found = summary.get("value_model")
    return {"used": method.value_model_used(found, lang),
            "choice": method.value_choice_text(summary, lang),
            "rows": method.value_choice_rows(summary, comparison, lang),
            "warnings": method.value_warnings(found, lang),
            "p_alive_missing": method.p_alive_missing(found, lang),
            "checked": found is not None,
            "churn": method.churn_text(summary, lang)}


def _value_figure(summary: dict, comparison: pd.DataFrame | None, lang: str
                  ) -> go.Figure | None:
    found = summary.get("value_choice") or {}
    if comparison is None or comparison.empty or not found.get("chosen"):
        return None
    return F.fig_value_choice(comparison, lang, chosen=found["chosen"],
                              ranking=found.get("ranking"))


def _figures(wh: Warehouse, data: ReportData, frames: dict[str, pd.DataFrame | None]
             ) -> tuple[dict[str, go.Figure], dict[str, str]]:
    """The cycle's figures, in its reading order, and what each covers: the period (KPIs,
    attribution, campaigns and budget of the period) or the run's as-of date (its tiers,
    segments, scores and register). A figure whose data the run lacks is left out."""
    lang, p, cycle = data.lang, data.period, data.cycle
    as_of = pd.Timestamp(data.run["as_of"]).strftime("%Y-%m-%d")
    to_date = label("report.scope.to_date", lang, as_of=as_of)
    this = label("report.scope.period", lang, period=p.label)
    wanted = CYCLE_FIGURES[cycle]
    figs: dict[str, go.Figure] = {}
    scopes: dict[str, str] = {}

    def have(name):
        return frames.get(name) is not None and not frames[name].empty

    for name in wanted:
        if name in FROM_RUN and have(FROM_RUN[name][0]):
            figs[name] = FROM_RUN[name][1](frames[FROM_RUN[name][0]], lang)
            scopes[name] = to_date
    if "revenue_trend" in wanted:
        start = (pd.Timestamp(p.end) - pd.DateOffset(months=TREND_MONTHS[cycle])).to_pydatetime()
        figs["revenue_trend"] = F.fig_revenue_trend(monthly_revenue(wh, start, p.end), lang,
                                                    highlight=(p.start, p.end))
        scopes["revenue_trend"] = this
    if "effect_index" in wanted and data.scorecard is not None:
        c = data.scorecard
        figs["effect_index"] = F.fig_effect_index(
            c.dimensions, lang, period=c.current.subject, compare=c.previous.subject,
            index=c.current.index, compare_index=c.previous.index)
        scopes["effect_index"] = this
    if "campaigns" in wanted and have("campaign_roi"):
        c = frames["campaign_roi"]
        inside = c[(pd.to_datetime(c["start"]) < p.end) & (pd.to_datetime(c["end"]) >= p.start)]
        # a period without campaigns still shows the campaigns to date
        figs["campaigns"] = F.fig_campaigns(inside if len(inside) else c, lang)
        scopes["campaigns"] = this if len(inside) else to_date
    if "attribution" in wanted and wh.count("events") > 0:
        att = attribution_by_model(wh, p)
        if att is not None:
            if lang == "zh-CN":
                _name_channels({"attribution": att}, DataLabels.load(wh), lang)
            figs["attribution"] = F.fig_attribution(att, lang)
            scopes["attribution"] = this
    if "budget" in wanted and have("budget_plan_vs_actual"):
        plan = frames["budget_plan_vs_actual"]
        inside = plan[_in_period(plan["period"], p)]
        figs["budget"] = F.fig_budget(inside if len(inside) else plan, lang)
        scopes["budget"] = this if len(inside) else to_date
    return {name: figs[name] for name in wanted if name in figs}, scopes


#: Figures drawn from one run output as it stands (name: output, builder).
FROM_RUN = {
    "tier_pyramid": ("tier_summary", lambda f, lang: F.fig_tier_pyramid(
        f, lang, benchmark=BENCHMARKS["diamond_revenue_share"])),
    "rfm_segments": ("results", F.fig_rfm_segments),
    "clv_distribution": ("results", F.fig_clv_distribution),
    "churn_by_tier": ("results", F.fig_churn_by_tier),
    "actions": ("actions", F.fig_actions),
    "channel_roi": ("channel_roi", F.fig_channel_roi),
    "campaigns": ("campaign_roi", F.fig_campaigns),
    "budget": ("budget_plan_vs_actual", F.fig_budget),
    "cohort_retention": ("cohorts", F.fig_cohort_retention),
    "funnel": ("funnels", F.fig_funnel),
    "risk_register": ("risk_register", F.fig_risk_register),
}
#: What the dashboard shows by default: where value sits and where it is at risk.
DASHBOARD_FIGURES = ("tier_pyramid", "churn_by_tier", "actions", "channel_roi",
                     "clv_distribution", "risk_register")


def run_figures(wh: Warehouse, run_id: str | None = None, lang: str = "en",
                names=DASHBOARD_FIGURES) -> dict[str, go.Figure]:
    """Figures drawn from a run's outputs alone (`FROM_RUN`: no period, no query over the
    source tables), in the order of `names`: quick enough for every page view of the
    dashboard. Figures whose output the run lacks are left out."""
    lang = current_lang(lang)
    run_id = published_run(wh, run_id)["run_id"]
    unknown = [n for n in names if n not in FROM_RUN]
    if unknown:
        raise ValueError(f"not a run figure: {', '.join(unknown)}; choose from "
                         f"{', '.join(FROM_RUN)}")
    outputs = {FROM_RUN[n][0] for n in names}
    frames = {o: _output(wh, o, run_id, OUTPUT_COLUMNS.get(o)) for o in outputs}
    return {n: FROM_RUN[n][1](frames[FROM_RUN[n][0]], lang) for n in names
            if frames[FROM_RUN[n][0]] is not None and not frames[FROM_RUN[n][0]].empty}


def load_figures(wh: Warehouse, run_id: str | None = None, lang: str = "en", *,
                 cycle: str = "quarter", period=None) -> dict[str, go.Figure]:
    """The figures a `cycle` report on `period` shows, by name (`figures.FIGURES`), from run
    `run_id` (default: the current run) — for the dashboard or a notebook."""
    return gather(wh, cycle=cycle, period=period, lang=lang, run_id=run_id).figures


# -- rendering -----------------------------------------------------------------------------
def _script_safe(text: str) -> str:
    # JSON inside a <script> element: with <, > and & escaped no data (a campaign called
    # "</script>") can end the element early, and the JSON still decodes to the same strings
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def figures_json(figs: dict[str, go.Figure]) -> str:
    """The figures as one JSON object (name: figure) to put inside a ``<script>`` element."""
    return _script_safe(json.dumps({n: f.to_plotly_json() for n, f in figs.items()},
                                   cls=PlotlyJSONEncoder, separators=(",", ":")))


def figure_json(fig: go.Figure) -> str:
    """One figure as JSON (``{"data": …, "layout": …}``) to put inside a ``<script>`` element,
    as the dashboard does."""
    return _script_safe(json.dumps(fig.to_plotly_json(), cls=PlotlyJSONEncoder,
                                   separators=(",", ":")))


def _labels(lang: str) -> dict[str, str]:
    """The i18n table in `lang`, for the template (``t['report.section.kpis']``)."""
    return {k: v[lang] for k, v in LABELS.items()}


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("upmarket.reports", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def render(data: ReportData) -> str:
    """The HTML of a report whose content is gathered (`gather`); pure."""
    from plotly.offline import get_plotlyjs

    lang = data.lang
    c = data.scorecard
    card = c.current.card if c is not None else None
    notes = []
    if c is not None:
        notes = [_note_text(card, k, a, lang) for k, a in c.current.notes]
        if c.current.index is not None and c.current.coverage < 1 - 1e-9:
            notes.append(label("scorecard.coverage", lang, coverage=c.current.coverage))
        if c.current.index is not None and c.previous.index is not None and \
                abs(c.current.coverage - c.previous.coverage) > 1e-9:
            notes.append(label("scorecard.coverage_differs", lang, period=c.current.subject,
                               coverage=c.current.coverage, compare=c.previous.subject,
                               compare_coverage=c.previous.coverage))
    as_of = pd.Timestamp(data.run["as_of"])
    finished = data.run.get("finished")
    template = _environment().get_template("report.html.j2")
    return template.render(
        t=_labels(lang), lang=lang, html_lang="zh-CN" if lang == "zh-CN" else "en",
        cycle=data.cycle, period=data.period.label, compare=data.compare.label,
        title=label(f"report.title.{data.cycle}", lang, period=data.period.label),
        focus=label(f"report.focus.{data.cycle}", lang),
        findings_title=label(f"report.findings.{data.cycle}", lang),
        run_id=data.run["run_id"], as_of=as_of.strftime("%Y-%m-%d"),
        coverage=data.coverage, coverage_warning=data.coverage_warning,
        period_note=data.period_note,
        since_run=data.since_run,
        finished=pd.Timestamp(finished).strftime("%Y-%m-%d %H:%M") if _finite(finished) else "—",
        warehouse=data.warehouse,
        kpis=data.kpis, findings=data.findings,
        scorecard_title=(label("scorecard.title_vs", lang,
                               card=label("scorecard.card.effect_index", lang),
                               period=c.current.subject, compare=c.previous.subject)
                         if c is not None else ""),
        scorecard_rows=scorecard_rows(c, lang, run_symbol(data.run)) if c is not None else [],
        scorecard_index=fmt(c.current.index, "score") if c is not None else "—",
        scorecard_compare_index=fmt(c.previous.index, "score") if c is not None else "—",
        scorecard_delta=(f"{c.delta:+.1f}" if c is not None and c.delta is not None else "—"),
        scorecard_notes=[n for n in notes if n],
        campaigns=data.campaigns, action_impact=data.action_impact,
        mix_model={k: v for k, v in data.mix_model.items() if k != "figure"},
        mix_figure=data.mix_model.get("figure") is not None,
        figures=[{"name": n, "caption": data.captions.get(n, "")} for n in data.figures],
        # the value-model figure lives in the method section, drawn by the same script
        figures_json=figures_json({**data.figures, **(
            {"value_choice": data.value_figure} if data.value_figure is not None else {}), **(
            {mix_section.NAME: data.mix_model["figure"]}
            if data.mix_model.get("figure") is not None else {})}),
        value=data.value_method, warn=method.WARN,
        value_figure=data.value_figure is not None,
        value_caption=label("report.caption.value_choice", lang, start=(
            data.run.get("counts") or {}).get("value_choice", {}).get("calibration_end", "")),
        at_risk=data.at_risk, at_risk_total=data.at_risk_total,
        upsell=data.upsell, upsell_total=data.upsell_total, top_n=TOP_N,
        no_campaigns=label("report.no_campaigns", lang, period=data.period.label),
        privacy_note=label("report.with_pii" if data.with_pii else "report.pseudonymised",
                           lang),
        at_risk_intro=label("report.at_risk.intro", lang, shown=len(data.at_risk),
                            total=data.at_risk_total),
        upsell_intro=label("report.upsell.intro", lang, shown=len(data.upsell),
                           total=data.upsell_total),
        sources_focus=label(f"report.sources.{data.cycle}", lang),
        footer=label("report.footer", lang, run_id=data.run["run_id"],
                     as_of=as_of.strftime("%Y-%m-%d")),
        risks=data.risks, sources=data.sources, outputs_used=data.outputs_used,
        saved_segments=data.saved_segments, profiles=data.profiles,
        membership=data.membership,
        plotly_js=get_plotlyjs(),
    )


def render_report(wh: Warehouse, *, cycle: str = "quarter", period=None, lang: str = "en",
                  run_id: str | None = None, with_pii: bool = False, store=None,
                  subject: str | None = None) -> str:
    """One self-contained HTML report for the `cycle` ("month", "quarter" or "year") on
    `period` (default: the last complete one before the run's as-of date) from run `run_id`
    (default: the current run), in `lang`.

    Customer ids are pseudonymised unless `with_pii`. The report is audited like an export
    (`activation.privacy.audit`, action ``report`` or ``report_with_pii``, subject `subject`
    — the file it goes to — or the period) in the operational store `store` (default: the
    configured one) before its text is returned.
    """
    data = gather(wh, cycle=cycle, period=period, lang=lang, run_id=run_id, with_pii=with_pii)
    html = render(data)
    privacy.audit(wh, "report_with_pii" if with_pii else "report",
                  subject or f"{cycle} report {data.period.label}", store=store,
                  run_id=data.run["run_id"], cycle=cycle, period=data.period.label,
                  lang=data.lang, customers_listed=data.listed_customers,
                  pseudonymised=not with_pii)
    return html


@dataclass
class ReportFile:
    path: Path
    bytes: int
    seconds: float
    period: str
    run_id: str


def default_path(cycle: str, period: sc.Period | str, lang: str = "en") -> Path:
    """`upmarket-report-<period>.html`, with `-zh` for the Chinese one, so the two languages
    of one period do not overwrite each other."""
    label_ = period.label if isinstance(period, sc.Period) else str(period)
    suffix = "-zh" if current_lang(lang) == "zh-CN" else ""
    return Path(f"upmarket-report-{label_}{suffix}.html")


def write_report(wh: Warehouse, path: Path | None = None, *, cycle: str = "quarter",
                 period=None, lang: str = "en", run_id: str | None = None,
                 with_pii: bool = False, store=None) -> ReportFile:
    """Render a report (`render_report`) and write it to `path` (default
    ``upmarket-report-<period>.html`` in the working directory), audited under that path."""
    started = time.perf_counter()
    run = published_run(wh, run_id)
    p = report_period(cycle, period, pd.Timestamp(run["as_of"]).to_pydatetime())
    path = Path(path) if path is not None else default_path(cycle, p, lang)
    html = render_report(wh, cycle=cycle, period=p, lang=lang, run_id=run["run_id"],
                         with_pii=with_pii, store=store, subject=str(path.resolve()))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return ReportFile(path, path.stat().st_size, time.perf_counter() - started, p.label,
                      run["run_id"])
