"""The charts users of buy-till-you-die models expect, for a fitted model and a summary frame
(:func:`upmarket.summary_from_transactions`): the frequency–recency and P(alive) matrices
(Fader, Hardie & Lee 2005, "Counting your customers the easy way", fig. 5–6), the fit to the
calibration period's repeat-purchase counts, calibration vs holdout by frequency, and the
cumulative repeat purchases of the cohort tracked against the model (FHL 2005 fig. 2–4).

Every function returns a Plotly figure (``fig.show()`` in a notebook; ``fig.write_html(path)``
writes a page that carries plotly.js inside, so it opens offline). Titles and axes are in
English or, with ``lang="zh"``, Chinese. Customer-level inputs are the summary's columns in the
model's time unit (weeks unless the summary was built with another ``unit``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from upmarket.i18n import label
from upmarket.reports.style import COLOURS, TEMPLATE

HEIGHT = 420


def _style(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(template=TEMPLATE, title=dict(text=title, x=0, xanchor="left"),
                      height=HEIGHT, margin=dict(l=10, r=10, t=70, b=40),
                      xaxis_title=x, yaxis_title=y)
    return fig


def _grid_limits(summary: pd.DataFrame | None, max_frequency: int | None,
                 max_recency: float | None) -> tuple[int, float]:
    if summary is not None:
        max_frequency = int(summary["frequency"].max()) if max_frequency is None else max_frequency
        max_recency = float(summary["T"].max()) if max_recency is None else max_recency
    if max_frequency is None or max_recency is None:
        raise ValueError("give the summary frame, or both max_frequency and max_recency")
    if max_recency <= 0:
        raise ValueError("max_recency must be > 0")
    return max(int(max_frequency), 1), float(max_recency)


def _matrix(model, summary, max_frequency, max_recency, value) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values over frequency 0..max_frequency × recency 0..max_recency for a customer observed
    for the whole period (T = max_recency), the convention of FHL 2005 fig. 5."""
    f_max, r_max = _grid_limits(summary, max_frequency, max_recency)
    freq = np.arange(f_max + 1, dtype=float)
    rec = np.linspace(0.0, r_max, min(int(np.ceil(r_max)) + 1, 101))
    x, tx = np.meshgrid(freq, rec, indexing="ij")
    # a customer with repeat purchases has recency > 0, so (x > 0, 0) holds nobody; without
    # repeat purchases recency is 0 by definition, so the x = 0 row is one value drawn across
    real = (x > 0) & (tx > 0)
    z = np.full(x.shape, np.nan)
    z[real] = np.asarray(value(x[real], tx[real], np.full(int(real.sum()), r_max)), float)
    z[0, :] = float(np.asarray(value(np.zeros(1), np.zeros(1), np.full(1, r_max)), float)[0])
    return freq, rec, z


def _heatmap(freq, rec, z, title, colour_title, lang) -> go.Figure:
    fig = go.Figure(go.Heatmap(x=rec, y=freq, z=z, colorscale="Viridis",
                               colorbar=dict(title=colour_title)))
    return _style(fig, title, label("plot.recency", lang), label("plot.frequency", lang))


def probability_alive_matrix(model, summary: pd.DataFrame | None = None, *,
                             max_frequency: int | None = None, max_recency: float | None = None,
                             lang: str | None = None) -> go.Figure:
    """P(alive) by frequency and recency, for a customer observed over the whole period."""
    freq, rec, z = _matrix(model, summary, max_frequency, max_recency,
                           lambda x, tx, T: model.probability_alive(x, tx, T))
    return _heatmap(freq, rec, z, label("plot.p_alive_matrix", lang), "P(alive)", lang)


def frequency_recency_matrix(model, summary: pd.DataFrame | None = None, *, t: float = 1.0,
                             max_frequency: int | None = None, max_recency: float | None = None,
                             lang: str | None = None) -> go.Figure:
    """Expected purchases in the next `t` time units by frequency and recency."""
    freq, rec, z = _matrix(model, summary, max_frequency, max_recency,
                           lambda x, tx, T: model.conditional_expected_purchases(t, x, tx, T))
    return _heatmap(freq, rec, z, label("plot.frequency_recency_matrix", lang, t=f"{t:g}"),
                    label("plot.expected", lang), lang)


def period_transactions(model, summary: pd.DataFrame, *, max_frequency: int = 7,
                        lang: str | None = None) -> go.Figure:
    """How many customers made 0, 1, 2 … repeat purchases in the period: the data against the
    model's expectation sum_i P(X(T_i) = n) (FHL 2005 fig. 2, each customer's own T)."""
    if not hasattr(model, "probability_of_n_purchases"):
        raise TypeError(f"{type(model).__name__} has no distribution of purchase counts; "
                        "use BetaGeo, ParetoNBD or BetaGeoBetaBinom")
    x = summary["frequency"].to_numpy(float)
    T = summary["T"].to_numpy(float)
    ts, counts = np.unique(T, return_counts=True)
    expected = []
    for n in range(max_frequency):
        expected.append(float(counts @ np.asarray(model.probability_of_n_purchases(ts, n), float)))
    expected.append(len(x) - sum(expected))
    actual = [int(np.sum(x == n)) for n in range(max_frequency)] + [int(np.sum(x >= max_frequency))]
    ticks = [str(n) for n in range(max_frequency)] + [f"{max_frequency}+"]
    fig = go.Figure([
        go.Bar(x=ticks, y=actual, name=label("plot.actual", lang), marker_color=COLOURS[0]),
        go.Bar(x=ticks, y=expected, name=label("plot.model", lang), marker_color=COLOURS[1]),
    ])
    fig.update_layout(barmode="group")
    return _style(fig, label("plot.period_transactions", lang), label("plot.repeat_purchases", lang),
                  label("plot.customers", lang))


def calibration_vs_holdout(model, summary: pd.DataFrame, *, max_frequency: int = 7,
                           lang: str | None = None) -> go.Figure:
    """Mean holdout purchases by calibration frequency, actual against the model's conditional
    expectation (FHL 2005 fig. 4). `summary` comes from :func:`summary_from_transactions` with
    a `calibration_period_end` (it has `frequency_holdout` and `duration_holdout`)."""
    for col in ("frequency_holdout", "duration_holdout"):
        if col not in summary.columns:
            raise ValueError("the summary has no holdout: build it with "
                             "summary_from_transactions(..., calibration_period_end=...)")
    x = summary["frequency"].to_numpy(float)
    predicted = np.asarray(model.conditional_expected_purchases(
        summary["duration_holdout"].to_numpy(float), x, summary["recency"].to_numpy(float),
        summary["T"].to_numpy(float)), float)
    bucket = np.minimum(x, max_frequency).astype(int)
    frame = pd.DataFrame({"bucket": bucket, "actual": summary["frequency_holdout"].to_numpy(float),
                          "model": predicted}).groupby("bucket").mean()
    ticks = [str(n) if n < max_frequency else f"{max_frequency}+" for n in frame.index]
    fig = go.Figure([
        go.Scatter(x=ticks, y=frame["actual"], name=label("plot.actual", lang), mode="lines+markers",
                   marker_color=COLOURS[0]),
        go.Scatter(x=ticks, y=frame["model"], name=label("plot.model", lang), mode="lines+markers",
                   line=dict(dash="dash"), marker_color=COLOURS[1]),
    ])
    return _style(fig, label("plot.calibration_vs_holdout", lang),
                  label("plot.calibration_purchases", lang), label("plot.holdout_purchases", lang))


def cumulative_transactions(model, transactions: pd.DataFrame, customer_id_col: str = "customer_id",
                            datetime_col: str = "date", *, calibration_period_end=None,
                            unit: str = "W", lang: str | None = None) -> go.Figure:
    """Cumulative repeat purchases of the whole cohort, actual against the model: customer i,
    first seen at s_i, is expected to have made E[X(t - s_i)] repeat purchases by t (the
    unconditional expectation of a new customer, FHL 2005 eq. 9; tracking plot of fig. 3).
    Purchases on the same day are one, as in the summary. A dotted line marks the end of
    calibration when given."""
    from upmarket.features.btyd import UNIT_DAYS

    days = pd.to_datetime(transactions[datetime_col]).dt.normalize()
    tx = pd.DataFrame({"c": transactions[customer_id_col].astype(str).to_numpy(),
                       "d": days.to_numpy()}).drop_duplicates()
    first = tx.groupby("c")["d"].transform("min")
    start, end = tx["d"].min(), tx["d"].max()
    step = pd.Timedelta(days=UNIT_DAYS[unit])
    grid = pd.date_range(start, end + step, freq=step)
    repeat_days = np.sort(tx.loc[tx["d"] > first, "d"].to_numpy())
    actual = np.searchsorted(repeat_days, grid.to_numpy(), side="left")
    firsts, n = np.unique(tx.groupby("c")["d"].min().to_numpy(), return_counts=True)
    expected = []
    for g in grid:
        age = (g - pd.DatetimeIndex(firsts)).days.to_numpy() / UNIT_DAYS[unit]
        alive = age > 0
        e = np.asarray(model.expected_purchases(age[alive]), float) if alive.any() else np.zeros(0)
        expected.append(float(n[alive] @ e))
    fig = go.Figure([
        go.Scatter(x=grid, y=actual, name=label("plot.actual", lang), marker_color=COLOURS[0]),
        go.Scatter(x=grid, y=expected, name=label("plot.model", lang), line=dict(dash="dash"),
                   marker_color=COLOURS[1]),
    ])
    if calibration_period_end is not None:
        fig.add_vline(x=pd.Timestamp(calibration_period_end), line_dash="dot", line_color="#777")
    return _style(fig, label("plot.cumulative", lang), label("plot.date", lang),
                  label("plot.cumulative_axis", lang))


__all__ = ["calibration_vs_holdout", "cumulative_transactions", "frequency_recency_matrix",
           "period_transactions", "probability_alive_matrix"]
