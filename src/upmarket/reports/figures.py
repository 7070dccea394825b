"""The charts of a run, as Plotly figures, built once here and used by both the HTML report
(`reports.html`) and the dashboard (DESIGN §5).

Every function is pure: it takes the pandas frames a published run holds (`results`,
`tier_summary`, `actions`, `channel_roi` …, or frames derived from the warehouse at the
interface boundary) and returns a `plotly.graph_objects.Figure`; nothing here reads the
warehouse. The data plotted are the frames' own numbers, never rescaled or smoothed, so a
chart can be checked against its table. Titles, axes, legends and category names go through
the i18n table (`upmarket.i18n`), so `lang="zh"` gives a fully Chinese chart.

Figures carry their name in ``layout.meta["figure"]`` so a page can find them again.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from upmarket.i18n import LABELS, current_lang, label, value_label
from upmarket.models.churn import BANDS
from upmarket.reports.style import COLOURS, TEMPLATE
from upmarket.strategy.nba import ACTIONS, PERSONAL_TIERS
from upmarket.strategy.segments import SEGMENTS
from upmarket.strategy.tiers import TIER_ORDER

TIER_COLOURS = {"diamond": "#5e3c99", "core": "#1f78b4", "potential": "#33a02c",
                "basic": "#a6a6a6"}
BAND_COLOURS = {"low": "#4daf4a", "medium": "#f2b701", "high": "#f07f09", "critical": "#c8102e"}
LEVEL_COLOURS = {"low": "#4daf4a", "medium": "#f2b701", "high": "#c8102e"}
#: Churn bands, lowest first (`models.churn.BANDS`).
BAND_ORDER = tuple(name for _, name in BANDS)
#: Funnel steps (`strategy.measurement` funnels: exposure → click → register → purchase).
FUNNEL_STEPS = ("exposed", "clicked", "registered", "purchased")
#: Attribution models in the order `upmarket attribution --model all` prints them.
ATTRIBUTION_MODELS = ("first", "last", "linear", "time-decay", "position", "markov", "shapley")
HEIGHT = 380



#: How a chart writes numbers on its axes and in its hover labels: as the page's tables do
#: ("16,016"), never Plotly's default SI prefixes ("16.016k"), with no trailing zeros.
NUMBER_FORMAT = ",~r"


def _numbers(axis) -> None:
    # only axes left to Plotly's own format: a percentage axis keeps its ".0%", a categorical
    # or explicitly labelled axis shows no formatted numbers at all
    if axis.tickformat is None and axis.type != "category" and axis.tickvals is None:
        axis.update(tickformat=NUMBER_FORMAT, hoverformat=NUMBER_FORMAT)


def _style(fig: go.Figure, name: str, title: str, *, height: int = HEIGHT, **layout) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0, xanchor="left",
                                                     font=dict(size=15)),
                      height=height, margin=dict(l=10, r=10, t=70, b=40),
                      meta={"figure": name}, **layout)
    fig.for_each_xaxis(_numbers)
    fig.for_each_yaxis(_numbers)
    return fig


def _empty(name: str, title: str, lang: str) -> go.Figure:
    """A figure that says there is nothing to show, rather than an empty axis."""
    fig = go.Figure()
    fig.add_annotation(text=label("report.no_data", lang), showarrow=False, x=0.5, y=0.5,
                       xref="paper", yref="paper", font=dict(size=14, color="#777"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, name, title, height=200)


def _label_or(key: str, fallback: str, lang: str) -> str:
    """The label of `key`, or `fallback` (a code the table does not know, from a user's own
    scorecard or a new model) rather than a KeyError."""
    return label(key, lang) if key in LABELS else fallback


def _tiers_in(codes) -> list[str]:
    """Tiers present, in ladder order (Diamond first); unknown codes after them."""
    present = list(dict.fromkeys(str(c) for c in codes))
    return [t for t in TIER_ORDER if t in present] + [t for t in present if t not in TIER_ORDER]


def _ordered(present, order) -> list[str]:
    present = list(dict.fromkeys(str(c) for c in present))
    return [c for c in order if c in present] + sorted(c for c in present if c not in order)


# -- customers -----------------------------------------------------------------------------
def fig_tier_pyramid(tier_summary: pd.DataFrame, lang: str = "en", *,
                     benchmark: float = 0.30) -> go.Figure:
    """Customers per value tier (the pyramid: Diamond at the top) beside each tier's share of
    past revenue and of predicted CLV, with the key-account strategy course's claim that Diamond brings ≥ 30 % of
    revenue drawn as a line (`tier_summary`: tier, customers, revenue_share, value_share)."""
    lang = current_lang(lang)
    name, title = "tier_pyramid", label("report.fig.tier_pyramid", lang)
    if tier_summary is None or tier_summary.empty:
        return _empty(name, title, lang)
    t = tier_summary.set_index("tier").loc[_tiers_in(tier_summary["tier"])]
    names = [value_label("tier", c, lang) for c in t.index]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04)
    fig.add_trace(go.Bar(
        x=t["customers"].astype(float).tolist(), y=names, orientation="h",
        marker_color=[TIER_COLOURS.get(c, "#888") for c in t.index], showlegend=False,
        name=label("report.axis.customers", lang), text=[f"{v:,.0f}" for v in t["customers"]],
        textposition="auto", hovertemplate="%{y}: %{x:,.0f}<extra></extra>"), row=1, col=1)
    for col, key, colour in (("revenue_share", "report.legend.revenue_share", "#1f78b4"),
                             ("value_share", "report.legend.clv_share", "#e6550d")):
        if col not in t:
            continue
        fig.add_trace(go.Bar(
            x=t[col].astype(float).tolist(), y=names, orientation="h", name=label(key, lang),
            marker_color=colour, hovertemplate="%{y}: %{x:.1%}<extra>%{fullData.name}</extra>"),
            row=1, col=2)
    # the benchmark as a legend entry rather than an annotation: it never overlaps the bars
    fig.add_trace(go.Scatter(
        x=[benchmark, benchmark], y=[names[0], names[-1]], mode="lines",
        line=dict(color="#c8102e", dash="dash"),
        name=label("report.legend.diamond_benchmark", lang, share=benchmark),
        hoverinfo="skip"), row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=label("report.axis.customers", lang), row=1, col=1)
    fig.update_xaxes(title_text=label("report.axis.share", lang), tickformat=".0%", row=1, col=2)
    return _style(fig, name, title, barmode="group")


def fig_rfm_segments(results: pd.DataFrame, lang: str = "en") -> go.Figure:
    """Customers per named RFM segment (the key-account strategy course), in the segments' display order."""
    lang = current_lang(lang)
    name, title = "rfm_segments", label("report.fig.rfm_segments", lang)
    if results is None or results.empty or "rfm_segment" not in results:
        return _empty(name, title, lang)
    counts = results["rfm_segment"].astype(str).value_counts()
    order = _ordered(counts.index, SEGMENTS)
    fig = go.Figure(go.Bar(
        x=[float(counts[c]) for c in order], y=[value_label("segment", c, lang) for c in order],
        orientation="h", marker_color="#1f78b4", text=[f"{counts[c]:,}" for c in order],
        textposition="auto", name=label("report.axis.customers", lang),
        hovertemplate="%{y}: %{x:,.0f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=label("report.axis.customers", lang))
    return _style(fig, name, title, height=max(HEIGHT, 28 * len(order) + 110))


def clv_bins(values, bins: int = 24) -> np.ndarray:
    """Bin edges for a CLV histogram: logarithmic between the 1st percentile of the positive
    values (at most four decades below the largest) and the largest — CLV is heavily skewed,
    and on a linear axis everyone but the top tier is one bar — with a first bin from 0 (or
    the smallest value) for the customers below that, predicted to bring next to nothing.
    Edges increase strictly and every finite value falls in a bin."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    pos = v[v > 0]
    if len(pos) == 0:
        return np.array([min(0.0, float(v.min())) if len(v) else 0.0, 1.0])
    hi = float(pos.max())
    # four decades are enough: below that a customer's CLV is nothing worth telling apart
    lo = max(float(np.quantile(pos, 0.01)), hi * 1e-4)
    floor = min(0.0, float(v.min()))
    if hi <= lo:
        return np.array([floor, lo, lo * 1.5])
    return np.concatenate([[floor], np.geomspace(lo, hi, bins + 1)])


def fig_clv_distribution(results: pd.DataFrame, lang: str = "en", *, bins: int = 24
                         ) -> go.Figure:
    """How predicted 12-month CLV is spread, stacked by value tier, on logarithmic bins
    (`clv_bins`): bar heights are customer counts per bin and tier."""
    lang = current_lang(lang)
    name, title = "clv_distribution", label("report.fig.clv_distribution", lang)
    if results is None or results.empty or "clv" not in results:
        return _empty(name, title, lang)
    frame = results[np.isfinite(results["clv"].astype(float))]
    edges = clv_bins(frame["clv"], bins)
    ticks = [f"{a:,.0f}–{b:,.0f}" for a, b in zip(edges[:-1], edges[1:])]
    fig = go.Figure()
    tiers = _tiers_in(frame["tier"]) if "tier" in frame else [None]
    for tier in tiers:
        part = frame if tier is None else frame[frame["tier"].astype(str) == tier]
        counts, _ = np.histogram(part["clv"].astype(float), bins=edges)
        fig.add_trace(go.Bar(
            x=list(range(len(ticks))), y=counts.astype(float).tolist(),
            name=label("report.axis.customers", lang) if tier is None
            else value_label("tier", tier, lang),
            marker_color=TIER_COLOURS.get(tier, "#1f78b4"), customdata=ticks,
            hovertemplate="%{customdata}: %{y:,.0f}<extra>%{fullData.name}</extra>"))
    # ticks at bin edges, between the bars: the categorical axis keeps the bars equally wide
    step = max(1, len(ticks) // 8)
    at = list(range(0, len(edges), step))
    fig.update_xaxes(tickmode="array", tickvals=[i - 0.5 for i in at],
                     ticktext=[_short(edges[i], lang) for i in at],
                     title_text=label("report.axis.clv", lang))
    fig.update_yaxes(title_text=label("report.axis.customers", lang))
    return _style(fig, name, title, barmode="stack", bargap=0.05)


def _short(v: float, lang: str = "en") -> str:
    """An axis number in few characters, as each language counts: 950, 1.2k, 35k, 1.4M in
    English; 950, 1,200, 3.5万, 140万 in Chinese, which groups by ten thousand (万, 亿) and
    does not read k or M."""
    a = abs(v)
    if lang == "zh-CN":
        if a >= 1e8:
            return f"{v / 1e8:.3g}亿"
        if a >= 1e4:
            return f"{v / 1e4:.3g}万"
        return f"{float(f'{v:.3g}'):,.0f}" if a >= 10 else f"{v:.3g}"
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}" if a < 10 else f"{v:,.0f}"


def at_risk_premium(results: pd.DataFrame) -> pd.DataFrame:
    """Premium (Diamond/Core, `nba.PERSONAL_TIERS`) customers in the high or critical churn
    band, most value at stake first (12-month CLV × churn risk)."""
    if results is None or results.empty or not {"tier", "churn_band"} <= set(results):
        return pd.DataFrame(columns=["customer_id", "tier", "churn_band", "at_stake"])
    bad = results["churn_band"].astype(str).isin(("high", "critical"))
    out = results[results["tier"].astype(str).isin(PERSONAL_TIERS) & bad].copy()
    out["at_stake"] = out.get("clv", 0.0) * out.get("churn_risk", 0.0)
    return out.sort_values(["at_stake", "customer_id"], ascending=[False, True])


def fig_churn_by_tier(results: pd.DataFrame, lang: str = "en") -> go.Figure:
    """Customers per churn-risk band within each value tier (stacked, low to critical); the
    title counts the at-risk premium customers (Diamond/Core in the high or critical band)."""
    lang = current_lang(lang)
    name = "churn_by_tier"
    if results is None or results.empty or not {"tier", "churn_band"} <= set(results):
        return _empty(name, label("report.fig.churn_by_tier", lang, n=0), lang)
    tiers = _tiers_in(results["tier"])
    table = pd.crosstab(results["tier"].astype(str), results["churn_band"].astype(str))
    fig = go.Figure()
    for band in _ordered(table.columns, BAND_ORDER):
        fig.add_trace(go.Bar(
            x=[value_label("tier", t, lang) for t in tiers],
            y=[float(table.at[t, band]) if t in table.index else 0.0 for t in tiers],
            name=value_label("band", band, lang), marker_color=BAND_COLOURS.get(band, "#888"),
            hovertemplate="%{x}: %{y:,.0f}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(title_text=label("report.axis.customers", lang))
    n = len(at_risk_premium(results))
    return _style(fig, name, label("report.fig.churn_by_tier", lang, n=n), barmode="stack")


# -- actions and channels --------------------------------------------------------------------
def fig_actions(actions: pd.DataFrame, lang: str = "en") -> go.Figure:
    """The next-best-action mix: customers per action and the expected value the run put on
    them (propensity × margin − cost, summed per action)."""
    lang = current_lang(lang)
    name, title = "actions", label("report.fig.actions", lang)
    if actions is None or actions.empty or "action" not in actions:
        return _empty(name, title, lang)
    g = actions.groupby(actions["action"].astype(str)).agg(
        customers=("action", "size"), expected_value=("expected_value", "sum"))
    order = _ordered(g.index, ACTIONS)
    names = [value_label("action", a, lang) for a in order]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=(label("report.axis.customers", lang),
                                        label("report.axis.expected_value", lang)))
    fig.add_trace(go.Bar(x=g.loc[order, "customers"].astype(float).tolist(), y=names,
                         orientation="h", marker_color="#1f78b4", showlegend=False,
                         name=label("report.axis.customers", lang),
                         hovertemplate="%{y}: %{x:,.0f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=g.loc[order, "expected_value"].astype(float).tolist(), y=names,
                         orientation="h", marker_color="#31a354", showlegend=False,
                         name=label("report.axis.expected_value", lang),
                         hovertemplate="%{y}: %{x:,.0f}<extra></extra>"), row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    return _style(fig, name, title, height=max(HEIGHT, 30 * len(order) + 110))


def fig_channel_roi(channel_roi: pd.DataFrame, lang: str = "en") -> go.Figure:
    """Short-term ROI per channel, (attributed profit − fully-loaded cost) ÷ cost (the marketing-plan framework),
    best first; 0 is break-even."""
    lang = current_lang(lang)
    name, title = "channel_roi", label("report.fig.channel_roi", lang)
    if channel_roi is None or channel_roi.empty:
        return _empty(name, title, lang)
    t = channel_roi[np.isfinite(channel_roi["roi"].astype(float))].sort_values(
        ["roi", "channel"], ascending=[False, True])
    fig = go.Figure(go.Bar(
        x=t["channel"].astype(str).tolist(), y=t["roi"].astype(float).tolist(),
        marker_color=["#31a354" if v >= 0 else "#c8102e" for v in t["roi"]],
        customdata=np.column_stack([t["profit"].astype(float), t["cost"].astype(float)]),
        text=[f"{v:.1f}×" for v in t["roi"]], textposition="outside",
        name=label("report.axis.roi", lang),
        hovertemplate=("%{x}: ROI %{y:.2f}<br>" + label("report.axis.profit", lang)
                       + " %{customdata[0]:,.0f} · " + label("report.axis.cost", lang)
                       + " %{customdata[1]:,.0f}<extra></extra>")))
    fig.update_yaxes(title_text=label("report.axis.roi", lang), zeroline=True)
    return _style(fig, name, title)


def fig_campaigns(campaign_roi: pd.DataFrame, lang: str = "en") -> go.Figure:
    """Per campaign: short-term ROI and long-term ROI (counting the CLV change of the customers
    the campaign touched, the key-account strategy course), side by side."""
    lang = current_lang(lang)
    name, title = "campaigns", label("report.fig.campaigns", lang)
    if campaign_roi is None or campaign_roi.empty:
        return _empty(name, title, lang)
    t = campaign_roi.sort_values(["start", "campaign_id"])
    names = t["name"].astype(str).where(t["name"].notna(), t["campaign_id"]).tolist()
    fig = go.Figure()
    for col, key, colour in (("roi", "report.legend.roi_short", "#1f78b4"),
                             ("roi_long_term", "report.legend.roi_long", "#e6550d")):
        if col in t:
            fig.add_trace(go.Bar(x=names, y=t[col].astype(float).tolist(), name=label(key, lang),
                                 marker_color=colour,
                                 hovertemplate="%{x}: %{y:.2f}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(title_text=label("report.axis.roi", lang), zeroline=True)
    fig.update_xaxes(tickangle=-30)
    return _style(fig, name, title, barmode="group", height=HEIGHT + 60)


def fig_attribution(attribution: pd.DataFrame, lang: str = "en") -> go.Figure:
    """Conversions credited to each channel by each attribution model side by side
    (`attribution`: model, channel, conversions — `models.attribution.attribute` per model)."""
    lang = current_lang(lang)
    name, title = "attribution", label("report.fig.attribution", lang)
    if attribution is None or attribution.empty:
        return _empty(name, title, lang)
    totals = attribution.groupby("channel")["conversions"].sum().sort_values(ascending=False)
    channels = totals.index.astype(str).tolist()
    fig = go.Figure()
    for model in _ordered(attribution["model"], ATTRIBUTION_MODELS):
        part = attribution[attribution["model"] == model].set_index("channel")["conversions"]
        fig.add_trace(go.Bar(
            x=channels, y=[float(part.get(c, 0.0)) for c in channels],
            name=_label_or(f"report.model.{model}", model, lang),
            hovertemplate="%{x}: %{y:,.1f}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(title_text=label("report.axis.conversions", lang))
    return _style(fig, name, title, barmode="group")


def fig_budget(plan: pd.DataFrame, lang: str = "en") -> go.Figure:
    """Budget planned to date against actual spend per channel (the marketing-plan framework/002's budget
    execution), summed over the periods in `plan` (`budget_plan_vs_actual`)."""
    lang = current_lang(lang)
    name, title = "budget", label("report.fig.budget", lang)
    if plan is None or plan.empty:
        return _empty(name, title, lang)
    g = plan.groupby(plan["channel"].astype(str))[["planned_to_date", "actual"]].sum()
    g = g.sort_values(["actual"], ascending=False)
    fig = go.Figure()
    for col, key, colour in (("planned_to_date", "report.legend.planned", "#a6a6a6"),
                             ("actual", "report.legend.actual", "#1f78b4")):
        fig.add_trace(go.Bar(x=g.index.tolist(), y=g[col].astype(float).tolist(),
                             name=label(key, lang), marker_color=colour,
                             hovertemplate="%{x}: %{y:,.0f}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(title_text=label("report.axis.spend", lang))
    return _style(fig, name, title, barmode="group")


# -- measurement -----------------------------------------------------------------------------
def fig_cohort_retention(cohorts: pd.DataFrame, lang: str = "en", *, months: int = 12
                         ) -> go.Figure:
    """Share of each monthly acquisition cohort still buying N months later (a heat map: one
    row per cohort, months since acquisition across), up to `months` months."""
    lang = current_lang(lang)
    name, title = "cohort_retention", label("report.fig.cohort_retention", lang)
    if cohorts is None or cohorts.empty:
        return _empty(name, title, lang)
    c = cohorts[cohorts["months_since"] <= months]
    grid = c.pivot_table(index="cohort", columns="months_since", values="retention_rate",
                         aggfunc="first").sort_index()
    rows = [pd.Timestamp(i).strftime("%Y-%m") for i in grid.index]
    z = [[None if pd.isna(v) else float(v) for v in row] for row in grid.to_numpy()]
    fig = go.Figure(go.Heatmap(
        z=z, x=[int(m) for m in grid.columns], y=rows, colorscale="Blues", zmin=0, zmax=1,
        colorbar=dict(tickformat=".0%", thickness=12),
        hovertemplate="%{y} +%{x}: %{z:.1%}<extra></extra>"))
    fig.update_xaxes(title_text=label("report.axis.months_since", lang), dtick=1)
    fig.update_yaxes(autorange="reversed", title_text=label("report.axis.cohort", lang))
    return _style(fig, name, title, height=max(HEIGHT, 16 * len(rows) + 140))


def funnel_counts(funnels: pd.DataFrame) -> pd.Series:
    """People at each funnel step: the `all` row when the table has one, else the channels'
    sum (a person reached through two channels is then counted twice)."""
    if "channel" in funnels and (funnels["channel"] == "all").any():
        row = funnels[funnels["channel"] == "all"].iloc[0]
        return pd.Series({s: float(row[s]) for s in FUNNEL_STEPS})
    return funnels[list(FUNNEL_STEPS)].sum().astype(float)


def fig_funnel(funnels: pd.DataFrame, lang: str = "en") -> go.Figure:
    """Exposure → click → register → purchase (the key-account strategy course's funnel), with each step's share of
    the exposed."""
    lang = current_lang(lang)
    name, title = "funnel", label("report.fig.funnel", lang)
    if funnels is None or funnels.empty:
        return _empty(name, title, lang)
    n = funnel_counts(funnels)
    fig = go.Figure(go.Funnel(
        y=[label(f"funnel.{s}", lang) for s in FUNNEL_STEPS], x=[n[s] for s in FUNNEL_STEPS],
        textinfo="value+percent initial", marker_color=list(COLOURS[:len(FUNNEL_STEPS)]),
        hovertemplate="%{y}: %{x:,.0f}<extra></extra>"))
    return _style(fig, name, title)


def fig_revenue_trend(monthly: pd.DataFrame, lang: str = "en", *,
                      highlight: tuple | None = None) -> go.Figure:
    """Net revenue per month (bars) and buyers per month (line, right axis); `highlight`
    (start, end) shades the months the report is about (`monthly`: month, revenue, buyers)."""
    lang = current_lang(lang)
    name, title = "revenue_trend", label("report.fig.revenue_trend", lang)
    if monthly is None or monthly.empty:
        return _empty(name, title, lang)
    m = monthly.sort_values("month")
    months = [pd.Timestamp(v).strftime("%Y-%m") for v in m["month"]]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=months, y=m["revenue"].astype(float).tolist(),
                         name=label("report.kpi.net_revenue", lang), marker_color="#1f78b4",
                         hovertemplate="%{x}: %{y:,.0f}<extra>%{fullData.name}</extra>"),
                  secondary_y=False)
    if "buyers" in m:
        fig.add_trace(go.Scatter(x=months, y=m["buyers"].astype(float).tolist(),
                                 mode="lines+markers", name=label("report.kpi.buyers", lang),
                                 line_color="#e6550d",
                                 hovertemplate="%{x}: %{y:,.0f}<extra>%{fullData.name}</extra>"),
                      secondary_y=True)
    if highlight is not None:
        inside = [mo for mo, ts in zip(months, m["month"])
                  if pd.Timestamp(highlight[0]) <= pd.Timestamp(ts) < pd.Timestamp(highlight[1])]
        if inside:
            # categorical axis: shade from half a bar before the first month to after the last
            i0, i1 = months.index(inside[0]), months.index(inside[-1])
            fig.add_vrect(x0=i0 - 0.5, x1=i1 + 0.5, fillcolor="#f2b701", opacity=0.15,
                          line_width=0)
    fig.update_xaxes(type="category")
    # from zero, so one month (or months alike) gives round ticks, not 581, 581.47, 581.94
    fig.update_yaxes(title_text=label("report.kpi.net_revenue", lang), secondary_y=False,
                     rangemode="tozero")
    fig.update_yaxes(title_text=label("report.kpi.buyers", lang), secondary_y=True,
                     showgrid=False, rangemode="tozero")
    return _style(fig, name, title)


# -- scorecard and risk ----------------------------------------------------------------------
def fig_effect_index(dimensions: pd.DataFrame, lang: str = "en", *, period: str = "",
                     compare: str = "", index: float | None = None,
                     compare_index: float | None = None) -> go.Figure:
    """The upward-marketing guide's effect index by dimension (customer value 50 % · brand value 30 % ·
    operational efficiency 20 %), this period against the comparison period, scores 0–100
    (`dimensions`: dimension, score, compare_score)."""
    lang = current_lang(lang)
    name = "effect_index"

    def fmt(v):
        return "—" if v is None or not math.isfinite(v) else f"{v:.1f}"

    title = label("report.fig.effect_index", lang, period=period, index=fmt(index),
                  compare=compare, compare_index=fmt(compare_index))
    if dimensions is None or dimensions.empty:
        return _empty(name, title, lang)
    names = [_label_or(f"scorecard.dim.{d}", d, lang) for d in dimensions["dimension"]]
    fig = go.Figure()
    for col, lab, colour in (("compare_score", compare, "#a6a6a6"),
                             ("score", period, "#1f78b4")):
        y = [None if pd.isna(v) else float(v) for v in dimensions[col]]
        fig.add_trace(go.Bar(x=names, y=y, name=lab, marker_color=colour,
                             text=[fmt(v) if v is not None else "—" for v in y],
                             textposition="outside",
                             hovertemplate="%{x}: %{y:.1f}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(range=[0, 110], title_text=label("report.axis.score", lang))
    return _style(fig, name, title, barmode="group")


def fig_risk_register(register: pd.DataFrame, lang: str = "en") -> go.Figure:
    """The risk register's money at stake per risk, coloured by level (the marketing-plan framework and the key-account strategy course): the
    risks that are both likely and costly stand out."""
    lang = current_lang(lang)
    name, title = "risk_register", label("report.fig.risk_register", lang)
    if register is None or register.empty:
        return _empty(name, title, lang)
    # a risk without an amount (NPS, complaints per 100 orders) has no bar to draw: the table
    # under the chart lists every risk
    r = register[np.isfinite(register["exposure"].astype(float))].copy()
    if r.empty:
        return _empty(name, title, lang)
    r["exposure"] = r["exposure"].astype(float)
    rank = {lvl: i for i, lvl in enumerate(("high", "medium", "low"))}
    r = r.assign(_rank=r["level"].map(rank).fillna(3)).sort_values(
        ["_rank", "exposure", "id"], ascending=[True, False, True])
    fig = go.Figure()
    for level in ("high", "medium", "low"):
        part = r[r["level"] == level]
        if part.empty:
            continue
        fig.add_trace(go.Bar(
            x=part["exposure"].tolist(),
            y=[f"{i} {label(f'risk.ind.{ind}', lang)}" for i, ind in
               zip(part["id"], part["indicator"])],
            orientation="h", name=value_label("band", level, lang),
            marker_color=LEVEL_COLOURS[level],
            hovertemplate="%{y}: %{x:,.0f}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text=label("report.axis.exposure", lang))
    return _style(fig, name, title, height=max(HEIGHT, 26 * len(r) + 120))


# -- method --------------------------------------------------------------------------------
VALUE_COLOURS = {"chosen": "#1f78b4", "other": "#a6a6a6", "unusable": "#f4a582"}


def fig_value_choice(comparison: pd.DataFrame, lang: str = "en", *,
                     chosen: str | None = None, ranking=None) -> go.Figure:
    """How the run chose its purchase model: the holdout purchases each candidate forecast
    from the calibration period (one bar per candidate, best first by `ranking`, the chosen
    one highlighted, unusable fits hatched) against the purchases actually made (a dashed
    line) — `value_model_comparison`: model, predicted, actual, error, degenerate; the
    analyst rankings that table also holds (past spend …) forecast no purchases and are left
    out."""
    from upmarket.models.value_choice import BASELINES

    lang = current_lang(lang)
    name, title = "value_choice", label("report.fig.value_choice", lang)
    if comparison is None or comparison.empty or "model" not in comparison:
        return _empty(name, title, lang)
    t = comparison[~comparison["model"].astype(str).isin(BASELINES)].copy()
    if t.empty:
        return _empty(name, title, lang)
    t["model"] = t["model"].astype(str)
    order = [m for m in (ranking or []) if m in set(t["model"])]
    rest = t[~t["model"].isin(order)].assign(
        _deg=lambda f: f.get("degenerate", False).astype(bool),
        _mae=lambda f: f.get("mae", np.nan).astype(float))
    order += rest.sort_values(["_deg", "_mae", "model"])["model"].tolist()
    t = t.set_index("model").loc[order]
    names = [_label_or(f"value_model.{m}", m, lang) for m in order]
    predicted = [float(v) if pd.notna(v) else None for v in t.get("predicted", [None] * len(t))]
    degenerate = t["degenerate"].astype(bool).tolist() if "degenerate" in t \
        else [False] * len(t)
    status = ["chosen" if m == chosen else "unusable" if d or p is None else "other"
              for m, d, p in zip(order, degenerate, predicted)]
    errors = t["error"].astype(float).tolist() if "error" in t else [np.nan] * len(t)
    fig = go.Figure()
    # one trace per status, each holding its own candidates: the legend explains the colours;
    # overlay keeps every bar centred on its category (a grouped bar would leave gaps)
    for kind in ("chosen", "other", "unusable"):
        idx = [i for i, s in enumerate(status) if s == kind]
        if not idx:
            continue
        fig.add_trace(go.Bar(
            x=[names[i] for i in idx], y=[predicted[i] for i in idx],
            name=label(f"report.legend.value_{kind}", lang),
            marker=dict(color=VALUE_COLOURS[kind],
                        pattern_shape="/" if kind == "unusable" else ""),
            text=[label("report.value.no_fit", lang) if predicted[i] is None else
                  f"{predicted[i]:,.0f} ({errors[i]:+.1%})" if np.isfinite(errors[i]) else
                  f"{predicted[i]:,.0f}" for i in idx],
            # at the foot of the bar: above it the label would cross the actual's line,
            # which runs near every bar top when the forecasts are close
            textposition=["outside" if predicted[i] is None else "inside" for i in idx],
            insidetextanchor="start", cliponaxis=False,
            hovertemplate="%{x}: %{y:,.0f}<extra>%{fullData.name}</extra>"))
    actual = t["actual"].astype(float).dropna() if "actual" in t else pd.Series(dtype=float)
    if len(actual):
        # the same number on every fitted row (the holdout's purchases); drawn once
        value = float(actual.iloc[0])
        line = dict(color="#c8102e", dash="dash", width=2)
        fig.add_hline(y=value, line=line)
        # named in the legend rather than by an annotation on the line, which would sit on a
        # bar whenever the forecasts overshoot the actual
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=line,
                                 name=label("report.legend.value_actual", lang, actual=value),
                                 hoverinfo="skip"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=names)
    top = max([v for v in predicted if v is not None] + list(actual), default=1.0)
    fig.update_yaxes(title_text=label("report.axis.holdout_purchases", lang),
                     range=[0, top * 1.2], rangemode="tozero")
    return _style(fig, name, title, barmode="overlay", bargap=0.45,
                  height=max(300, HEIGHT - 40))


#: Every figure this module builds, by name (the name is also in ``layout.meta``).
FIGURES = {
    "tier_pyramid": fig_tier_pyramid, "rfm_segments": fig_rfm_segments,
    "clv_distribution": fig_clv_distribution, "churn_by_tier": fig_churn_by_tier,
    "actions": fig_actions, "channel_roi": fig_channel_roi, "campaigns": fig_campaigns,
    "attribution": fig_attribution, "budget": fig_budget,
    "cohort_retention": fig_cohort_retention, "funnel": fig_funnel,
    "revenue_trend": fig_revenue_trend, "effect_index": fig_effect_index,
    "risk_register": fig_risk_register, "value_choice": fig_value_choice,
}
