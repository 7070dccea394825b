"""The report's marketing-mix section, on a mix model fitted to the demo world's spend: one
row per channel with the model's own contribution, ROI, interval and curve; the verdict in
words with the figure and threshold behind it; channels that fail keep their current spend and
say why; the chart draws each ROI with its interval; English and Chinese; in the rendered
report, and a note when the run fitted no model."""

from __future__ import annotations

import html as htmllib
import json
import math
import re
import sys
from pathlib import Path

import ibis
import pytest

from upmarket.demo.world import WorldConfig
from upmarket.features import media as fmedia
from upmarket.models.mmm import MmmSettings, fit_mmm, weekly_frame
from upmarket.reports import html as R
from upmarket.reports import mix_model as M
from upmarket.strategy.budget import reallocate_mix
from upmarket.warehouse import connect

sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
from test_mmm import _frames, _weekly_registrations  # noqa: E402

#: enough new customers a week for some channels to pass the checks (generated up to the
#: customers only: well under a second), and a short bootstrap to keep the fit quick
CFG = WorldConfig(customers=100_000, chunk_customers=10**7)
WEEKS = 4.345


@pytest.fixture(scope="module")
def model():
    frames = _frames(CFG, "customers")
    spend = fmedia.weekly_spend(ibis.memtable(frames["marketing_spend"]), CFG.as_of).to_pandas()
    promos = fmedia.promotion_days(ibis.memtable(frames["promotions"]), CFG.as_of).to_pandas()
    frame = weekly_frame(spend, _weekly_registrations(frames["customers"]), promos, CFG.as_of)
    res = fit_mmm(frame, MmmSettings(bootstrap=30))
    current = {ch: float(frame[ch].tail(13).mean()) * WEEKS for ch in res.params}
    realloc = reallocate_mix(res, current, WEEKS)
    summary = {"mix_model": res.fit, "outcome": "new_customers"}
    return res, realloc, summary


def test_rows_hold_the_model_and_the_budget_decision(model):
    res, realloc, summary = model
    out = M.section(res.channels, realloc, summary, "en")
    ch = res.channels.set_index("channel")
    moves = realloc.set_index("channel")
    assert [r["channel"] for r in out["rows"]] == list(ch.index)
    # the world has both kinds: channels whose spend moved on its own and planned ones
    assert ch["credible"].any() and (~ch["credible"]).any()
    th = res.fit["thresholds"]
    for r in out["rows"]:
        c = ch.loc[r["channel"]]
        assert r["roi"] == f"{c['roi']:.3g}"
        assert r["contribution"] == f"{c['contribution']:,.1f}"
        if math.isfinite(c["roi_low"]):
            assert r["interval"] == f"{c['roi_low']:.3g} – {c['roi_high']:.3g}"
        assert r["adstock"].startswith(f"θ {c['adstock_decay']:.1f} (half-life") \
            if c["adstock_decay"] > 0 else r["adstock"] == "none (θ 0)"
        assert f"S {c['hill_shape']:g}" in r["saturation"]
        if c["credible"]:
            assert r["verdict"].startswith("credible")
            assert f"{res.fit['r2_holdout']:.2f}" in r["verdict"]
            change = moves.at[r["channel"], "change"]
            assert r["decision"].startswith("may move" if abs(change) > 0.5 else "credible; stays")
        else:
            assert r["verdict"].startswith("not enough signal")
            if c["reason"] == "spend_variation":
                assert f"{c['spend_variation']:.2f} < {th['min_spend_variation']:.2f}" \
                    in r["verdict"]
            elif c["reason"] == "interval_width":
                assert f"{c['interval_ratio']:.1f}×" in r["verdict"]
            assert r["decision"].startswith("keeps its current spend")
            # and the budget did keep it
            assert moves.at[r["channel"], "suggested"] == moves.at[r["channel"], "current"]
    weak = list(ch.index[~ch["credible"]])
    assert out["kept"].startswith(f"The budget keeps the current spend of {len(weak)} of "
                                  f"{len(ch)} channels ({', '.join(weak)})")
    assert f"out-of-time R² {res.fit['r2_holdout']:.2f}" in out["fit"]
    assert f"{res.fit['weeks']} weeks" in out["intro"]


def test_the_chart_draws_each_roi_with_its_interval(model):
    res, realloc, summary = model
    fig = M.section(res.channels, realloc, summary, "en")["figure"]
    assert fig.layout.meta["figure"] == "mix_model"
    ch = res.channels.set_index("channel")
    seen = set()
    for trace in fig.data:
        credible = trace.name == "credible: may move"
        for x, y, up, down in zip(trace.x, trace.y, trace.error_y.array,
                                  trace.error_y.arrayminus):
            c = ch.loc[x]
            seen.add(x)
            assert bool(c["credible"]) == credible
            assert y == pytest.approx(c["roi"])
            if math.isfinite(c["roi_high"]):
                assert y + up == pytest.approx(c["roi_high"])
                assert y - down == pytest.approx(c["roi_low"])
    assert seen == set(ch.index)


def test_chinese_words_and_half_life(model):
    res, realloc, summary = model
    out = M.section(res.channels, realloc, summary, "zh")
    assert "每周新客户数" in out["intro"]
    weak = [r for r in out["rows"] if not r["credible"]]
    assert weak and all(r["decision"].startswith("维持当前花费") for r in weak)
    assert all(r["verdict"].startswith("信号不足") for r in weak)
    assert all(("半衰期" in r["adstock"]) != (r["adstock"] == "无滞留（θ 0）")
               for r in out["rows"])
    assert M.half_life(0.5) == pytest.approx(1.0) and M.half_life(0.0) == 0.0


def test_the_report_shows_the_section_or_says_there_is_no_model(report_world, model):
    res, realloc, summary = model
    wh = connect(report_world.url, create=False)
    try:
        data = R.gather(wh, cycle="quarter", lang="en", with_figures=False)
    finally:
        wh.close()
    # the run of the report world published no mix model
    assert data.mix_model["rows"] == [] and "fitted no marketing-mix model" in \
        data.mix_model["note"]
    page = R.render(data)
    assert 'href="#mix-model"' in page and "fitted no marketing-mix model" in page
    data.mix_model = M.section(res.channels, realloc, summary, "en")
    page = R.render(data)
    part = page[page.index('<section id="mix-model">'):]
    part = htmllib.unescape(part[:part.index("</section>")])
    for channel in res.channels["channel"]:
        assert f"<td>{channel}</td>" in part
    assert "keeps its current spend" in part and "The budget keeps the current spend" in part
    assert 'data-figure="mix_model"' in part
    figures = json.loads(re.search(r'<script type="application/json" id="figure-data">(.*?)'
                                   r"</script>", page, re.S).group(1))
    assert "mix_model" in figures
