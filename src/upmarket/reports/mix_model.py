"""The report's marketing-mix section: what the mix model (`models.mmm`) says each channel's
spend bought, how far to trust it, and what the budget (`strategy.budget.reallocate_mix`)
does with it.

Per channel: the estimated contribution (the outcome lost had the channel spent nothing over
the weeks fitted) and ROI with its bootstrap interval, the curve (adstock decay θ and its
half-life in weeks, Hill half-saturation K in weekly spend and shape S), the credibility
verdict in words (own spend variation, out-of-time R², interval width, each against its
threshold) and the budget's decision: a credible channel may move within its bounds; any other
keeps its current spend, and the sentence says why. A chart draws each channel's ROI with its
interval, credible channels apart from the rest.

It reads only what the run published (`budget_mix_model`, `budget_reallocation` and the
budget summary), so the report shows the model the run's budget used, never a refit.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from upmarket.i18n import current_lang, label
from upmarket.strategy import scorecard as sc

#: The run outputs this section reads.
OUTPUTS = ("budget_mix_model", "budget_reallocation")
NAME = "mix_model"


def _num(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return v


def half_life(decay: float) -> float:
    """Weeks until geometric adstock with weekly decay θ has lost half its effect
    (ln ½ / ln θ); 0 without carry-over."""
    decay = _num(decay)
    if not 0 < decay < 1:
        return 0.0
    return math.log(0.5) / math.log(decay)


def adstock_text(decay, lang: str) -> str:
    """The carry-over in words: θ and its half-life, or none."""
    if not _num(decay) > 0:
        return label("mmm.adstock_none", lang)
    return label("mmm.adstock", lang, decay=_num(decay), weeks=half_life(decay))


def verdict(row: dict, fit: dict, lang: str) -> str:
    """Why a channel's curve may or may not move money, with the figure and its threshold."""
    th = fit.get("thresholds") or {}
    # a missing reason is None or NaN (whichever the output's storage kept)
    reason = row.get("reason") if isinstance(row.get("reason"), str) else None
    if bool(row.get("credible")):
        return label("mmm.verdict.credible", lang, variation=_num(row["spend_variation"]),
                     r2=_num(fit.get("r2_holdout")), ratio=_num(row["interval_ratio"]))
    if reason == "spend_variation":
        return label("budget.signal.spend_variation", lang, value=_num(row["spend_variation"]),
                     threshold=_num(th.get("min_spend_variation")))
    if reason == "holdout_fit":
        return label("budget.signal.holdout_fit", lang, value=_num(fit.get("r2_holdout")),
                     threshold=_num(th.get("min_holdout_r2")))
    if reason == "interval_width":
        return label("budget.signal.interval_width", lang, value=_num(row["interval_ratio"]),
                     threshold=_num(th.get("max_interval_ratio")))
    return label("budget.signal.weak", lang)


def _decision(row: dict, move: dict | None, lang: str, symbol: str | None) -> str:
    money = lambda v: sc.format_value(v, "currency", lang, symbol)  # noqa: E731
    if move is None:
        return "—"
    if move.get("signal") == "credible":
        pct = _num(move.get("change_pct"))
        if not abs(_num(move.get("change"))) > 0.5:
            # the credible channels' total is kept: alone, or already at the best split,
            # a credible channel has nowhere to move
            return label("mmm.decision.stays", lang, current=money(move["current"]))
        return label("mmm.decision.moves", lang, current=money(move["current"]),
                     suggested=money(move["suggested"]),
                     change=f"{pct:+.0%}" if math.isfinite(pct) else "—")
    return label("mmm.decision.keeps", lang, current=money(move["current"]))


def section(channels: pd.DataFrame | None, reallocation: pd.DataFrame | None,
            budget_summary: dict | None, lang: str = "en", symbol: str | None = None) -> dict:
    """What the template shows: `intro`, `rows` (one per channel), `fit` (the model's check
    in words), `kept` (the channels whose budget stays for want of a credible curve; each
    row's verdict says why), `note` when the run has no mix model; `figure` the ROI chart
    (None without a model)."""
    lang = current_lang(lang)
    summary = budget_summary or {}
    fit = summary.get("mix_model") or {}
    if channels is None or channels.empty or not fit:
        note = summary.get("mix_model_note")
        return {"rows": [], "kept": "", "figure": None, "intro": "", "fit": "",
                "note": label("mmm.none", lang) + (f" ({note})" if note else "")}
    outcome = label(f"budget.outcome.{summary.get('outcome', 'new_customers')}", lang)
    moves = ({str(r["channel"]): r for r in reallocation.to_dict("records")}
             if reallocation is not None and not reallocation.empty else {})
    money = lambda v: sc.format_value(v, "currency", lang, symbol)  # noqa: E731
    rows, kept = [], []
    for r in channels.to_dict("records"):
        ch = str(r["channel"])
        lo, hi = _num(r["roi_low"]), _num(r["roi_high"])
        why = verdict(r, fit, lang)
        move = moves.get(ch)
        rows.append({
            "channel": ch, "credible": bool(r["credible"]),
            "spend": money(r["spend"]),
            "contribution": f"{_num(r['contribution']):,.1f}",
            "roi": f"{_num(r['roi']):.3g}",
            "interval": f"{lo:.3g} – {hi:.3g}" if math.isfinite(lo) and math.isfinite(hi)
            else "—",
            "adstock": adstock_text(r["adstock_decay"], lang),
            "saturation": label("mmm.saturation", lang, half=money(r["half_saturation"]),
                                shape=_num(r["hill_shape"])),
            "verdict": why, "decision": _decision(r, move, lang, symbol)})
        if not r["credible"] and move is not None:
            kept.append(ch)
    th = fit.get("thresholds") or {}
    return {
        "intro": label("mmm.intro", lang, outcome=outcome, weeks=fit.get("weeks", 0),
                       first=fit.get("first_week", ""), last=fit.get("last_week", ""),
                       level=_num(fit.get("level")), boot=fit.get("bootstrap", 0)),
        "fit": label("budget.mix_fit", lang, r2_in=_num(fit.get("r2_in_sample")),
                     r2=_num(fit.get("r2_holdout")), mape=_num(fit.get("mape_holdout")),
                     folds=fit.get("holdout_folds", 0),
                     extra=fit.get("holdout_weeks_extrapolated", 0),
                     min_var=_num(th.get("min_spend_variation")),
                     min_r2=_num(th.get("min_holdout_r2")),
                     max_ratio=_num(th.get("max_interval_ratio"))),
        "rows": rows, "note": "",
        "kept": label("mmm.kept", lang, n=len(kept), total=len(rows),
                      channels=("、" if lang == "zh-CN" else ", ").join(kept)) if kept else "",
        "figure": figure(channels, lang, level=_num(fit.get("level")), outcome=outcome)}


def figure(channels: pd.DataFrame, lang: str = "en", *, level: float = 0.9,
           outcome: str = "") -> go.Figure:
    """Each channel's ROI (incremental outcome per unit of spend) with its interval as error
    bars; credible channels in one colour, those with not enough signal in grey."""
    from upmarket.reports.figures import _style

    lang = current_lang(lang)
    fig = go.Figure()
    for credible, key, colour in ((True, "budget.signal.credible", "#1f78b4"),
                                  (False, "budget.signal.weak", "#a6a6a6")):
        g = channels[channels["credible"].astype(bool) == credible]
        if g.empty:
            continue
        roi = g["roi"].astype(float)
        # an interval that was not computed is drawn as none (0), never as a made-up width
        up = (g["roi_high"].astype(float) - roi).fillna(0.0).clip(lower=0)
        down = (roi - g["roi_low"].astype(float)).fillna(0.0).clip(lower=0)
        fig.add_trace(go.Scatter(
            x=g["channel"].astype(str).tolist(), y=roi.tolist(), mode="markers",
            name=label(key, lang), marker=dict(color=colour, size=10),
            error_y=dict(type="data", array=up.tolist(), arrayminus=down.tolist(),
                         color=colour, thickness=1.5, width=6),
            hovertemplate="%{x}: %{y:.3g}<extra>%{fullData.name}</extra>"))
    fig.update_yaxes(title_text=label("mmm.axis.roi", lang, outcome=outcome),
                     rangemode="tozero")
    return _style(fig, NAME, label("mmm.fig.title", lang, level=level))
