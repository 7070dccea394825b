"""The look every chart shares, in reports, on the dashboard and in notebooks: system fonts
and one palette, so a chart made by hand matches the ones a run draws."""

from __future__ import annotations

import plotly.graph_objects as go

#: System fonts only (a report leaves no request behind: no web fonts), with CJK fallbacks so
#: Chinese labels render on macOS, Windows and Linux alike.
FONT_FAMILY = ('-apple-system, "Segoe UI", "Helvetica Neue", Arial, "PingFang SC", '
               '"Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", '
               '"Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif')
COLOURS = ("#1f78b4", "#e6550d", "#31a354", "#756bb1", "#636363", "#d6616b", "#3182bd",
           "#8c6d31")

# a small template of our own: the stock ones add ~6 kB of JSON to every figure
TEMPLATE = go.layout.Template(layout=go.Layout(
    font=dict(family=FONT_FAMILY, size=12, color="#222"),
    paper_bgcolor="white", plot_bgcolor="white", colorway=list(COLOURS),
    xaxis=dict(gridcolor="#e5e5e5", zerolinecolor="#bbb", automargin=True),
    yaxis=dict(gridcolor="#e5e5e5", zerolinecolor="#bbb", automargin=True),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
    hoverlabel=dict(font=dict(family=FONT_FAMILY)),
))
