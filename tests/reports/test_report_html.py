"""The HTML report over a small published run: self-contained (one plotly.js, no outside URL),
every figure of its cycle present, fully translated, customer ids pseudonymised unless asked
for, audited, data escaped, and its KPIs equal to what the orders say."""

from __future__ import annotations

import html as htmllib
import json
import re
from functools import cached_property

import pandas as pd
import pytest
import sqlalchemy as sa
from plotly.offline import get_plotlyjs

from upmarket.activation import privacy
from upmarket.errors import NoRun
from upmarket.i18n import LABELS, label
from upmarket.opstore import store as ops
from upmarket.opstore.schema import audit_log
from upmarket.reports import html as R
from upmarket.strategy.scorecard import BadPeriod, Period
from upmarket.warehouse import connect

from report_world import HOSTILE

JS = get_plotlyjs()


class Rendered:
    """The reports the tests read, each rendered on first use (about 1.5 s each) into one
    operational store whose audit log the tests can read."""

    def __init__(self, url: str, store_url: str):
        self.url, self.store = url, ops.open_store(store_url)

    def _render(self, **kw) -> str:
        wh = connect(self.url, create=False)
        try:
            return R.render_report(wh, store=self.store, **kw)
        finally:
            wh.close()

    @cached_property
    def quarter_en(self) -> str:
        return self._render(cycle="quarter", lang="en")

    @cached_property
    def quarter_zh(self) -> str:
        return self._render(cycle="quarter", lang="zh")

    @cached_property
    def month_pii(self) -> str:
        return self._render(cycle="month", lang="en", with_pii=True, subject="/tmp/month.html")

    @cached_property
    def year_zh(self) -> str:
        return self._render(cycle="year", period="2025", lang="zh")

    def audit(self) -> pd.DataFrame:
        with self.store.engine.connect() as conn:
            return pd.DataFrame(conn.execute(sa.select(audit_log)).mappings().all())


@pytest.fixture(scope="module")
def rendered(report_world, tmp_path_factory):
    r = Rendered(report_world.url, f"sqlite:///{tmp_path_factory.mktemp('ops')}/ops.sqlite")
    yield r
    r.store.close()


@pytest.fixture
def wh(report_world):
    w = connect(report_world.url, create=False)
    yield w
    w.close()


def without_js(page: str) -> str:
    return page.replace(JS, "")


def figure_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="figure-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


#: Figure attributes whose strings a reader sees (the rest are Plotly settings).
SHOWN = {"text", "name", "ticktext", "x", "y"}


def visible_text(page: str) -> str:
    """The words a reader sees: the page without scripts, styles and <code> identifiers (table
    names), entities decoded, plus the strings the figures show (titles, legends, ticks)."""
    body = re.sub(r"<(script|style|code)\b.*?</\1>", " ", page, flags=re.S)
    text = htmllib.unescape(re.sub(r"<[^>]+>", " ", body))
    strings = []

    def walk(x, shown=False):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k in SHOWN)
        elif isinstance(x, list):
            for v in x:
                walk(v, shown)
        elif isinstance(x, str) and shown:
            strings.append(x)
    walk(figure_data(page))
    return text + "\n" + "\n".join(strings)


def test_self_contained_one_plotly_and_no_outside_url(rendered):
    for page in (rendered.quarter_en, rendered.month_pii):
        assert page.count(JS) == 1  # the installed package's plotly.js, whole, once
        rest = without_js(page)
        assert "plotly.js" not in rest.lower().replace("plotly.js v", "")  # no second copy
        assert not re.search(r"https?://|//cdn|@import|url\(", rest, re.I)
        assert not re.search(r"<(link|img|iframe|object|embed)\b", rest, re.I)
        assert not re.search(r"\bsrc\s*=", rest, re.I)
        # the only links are to the report's own sections
        assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', rest))


def test_every_figure_of_the_cycle_is_present_with_the_run_data(rendered, report_world):
    page = rendered.quarter_en
    data = figure_data(page)
    divs = re.findall(r'<div class="plot" id="fig-([a-z_]+)"', page)
    # the cycle's figures, then the value models' holdout comparison in the method section
    assert divs == [*R.CYCLE_FIGURES["quarter"], "value_choice"] == list(data)
    # the pyramid in the page shows the run's tier counts
    counts = report_world.frames["results"]["tier"].value_counts()
    assert data["tier_pyramid"]["data"][0]["x"] == [
        counts[t] for t in ("diamond", "core", "potential", "basic")]
    assert data["tier_pyramid"]["layout"]["meta"]["figure"] == "tier_pyramid"
    year = figure_data(rendered.year_zh)
    assert list(year) == [*R.CYCLE_FIGURES["year"], "value_choice"]


def test_titles_and_focus_follow_seed_000_cycles(rendered):
    assert "<h1>Quarterly assessment: 2025-Q4</h1>" in rendered.quarter_en
    assert "<h1>Monthly quick review: 2025-12</h1>" in rendered.month_pii
    assert "<h1>年度复盘：2025</h1>" in rendered.year_zh
    assert label("report.focus.month", "en") in visible_text(rendered.month_pii)
    # December had no campaign: the month says so rather than showing an empty table
    assert "No campaign ran in 2025-12." in rendered.month_pii


@pytest.mark.parametrize("which", ["quarter_zh", "year_zh"])
def test_chinese_report_is_fully_translated(rendered, which):
    page = getattr(rendered, which)
    text = visible_text(page)
    for key in ("report.section.kpis", "report.section.scorecard", "report.section.customers",
                "report.section.risks", "report.section.sources", "report.at_risk.title",
                "scorecard.overall", "report.pseudonymised"):
        assert label(key, "zh") in text, key
    assert '<html lang="zh-CN">' in page
    # no English label text leaks into the Chinese report (data such as channel codes and
    # product names are not labels)
    families = ("report.", "scorecard.", "risk.", "tier.", "band.", "action.", "segment.",
                "field.", "col.", "funnel.", "verdict.", "stage.", "signal.", "value_warning.",
                "value_choice.", "p_alive_missing.", "churn_published.", "run_value")
    leaked = []
    for key, texts in LABELS.items():
        en, zh = texts["en"], texts["zh-CN"]
        if not key.startswith(families) or "{" in en or en == zh or len(en) < 4:
            continue
        if re.search(rf"(?<![A-Za-z]){re.escape(en)}(?![A-Za-z])", text):
            leaked.append((key, en))
    assert leaked == [], leaked
    # nor raw label keys
    dotted = [k for k in LABELS if "." in k and k.startswith(families)]
    assert [k for k in dotted if k in text] == []


def _expected_at_risk(frames) -> pd.DataFrame:
    r = frames["results"]
    top = r[r["tier"].isin(["diamond", "core"]) & r["churn_band"].isin(["high", "critical"])]
    top = top.assign(stake=top["clv"] * top["churn_risk"])
    return top.sort_values(["stake", "customer_id"], ascending=[False, True]).head(R.TOP_N)


def _expected_upsell(frames) -> pd.DataFrame:
    a = frames["actions"]
    a = a[a["action"] == "upsell"]
    return a.sort_values(["expected_value", "customer_id"], ascending=[False, True]).head(R.TOP_N)


def test_ids_are_pseudonymised_by_default(rendered, report_world, wh):
    ids = report_world.frames["results"]["customer_id"]
    key = privacy.pseudonym_key(wh)
    for page in (rendered.quarter_en, rendered.quarter_zh):
        rest = without_js(page)
        assert not [i for i in ids if i in rest]
        refs = re.findall(r'<td class="ref">([^<]*)</td>', rest)
        risky, ups = _expected_at_risk(report_world.frames), _expected_upsell(report_world.frames)
        expected = privacy.pseudonymise(pd.concat([risky["customer_id"], ups["customer_id"]]),
                                        key).tolist()
        assert refs == expected and len(refs) > 0


def test_with_pii_shows_the_ids(rendered, report_world):
    rest = without_js(rendered.month_pii)
    refs = re.findall(r'<td class="ref">([^<]*)</td>', rest)
    risky, ups = _expected_at_risk(report_world.frames), _expected_upsell(report_world.frames)
    assert refs == risky["customer_id"].tolist() + ups["customer_id"].tolist()
    assert "p_" not in "".join(refs)
    assert label("report.with_pii", "en").split(":")[0] in htmllib.unescape(rest)


def test_every_report_is_audited(rendered, report_world):
    rendered.quarter_en, rendered.month_pii  # noqa: B018  (rendered, hence audited)
    a = rendered.audit()
    rows = {(r.action, r.subject): json.loads(r.detail) for r in a.itertuples()}
    pii = rows[("report_with_pii", "/tmp/month.html")]
    assert pii["period"] == "2025-12" and pii["pseudonymised"] is False
    plain = rows[("report", "quarter report 2025-Q4")]
    assert plain["run_id"] == pii["run_id"] == report_world.run_id
    assert plain["pseudonymised"] is True and plain["cycle"] == "quarter"
    # the record counts the customers the document lists
    listed = len(_expected_at_risk(report_world.frames)) + len(
        _expected_upsell(report_world.frames))
    assert plain["customers_listed"] == pii["customers_listed"] == listed


def test_data_are_escaped_not_executed(rendered):
    for page in (rendered.quarter_en, rendered.month_pii):
        assert HOSTILE not in page and "<script>alert" not in page
    # in the campaign table as text a reader sees …
    assert HOSTILE in htmllib.unescape(re.sub(r"<[^>]+>", " ", without_js(rendered.quarter_en)))
    # … and in the month's campaign chart as escaped JSON that still decodes to the name
    data = figure_data(rendered.month_pii)
    assert HOSTILE in data["campaigns"]["data"][0]["x"]


def test_kpis_equal_what_the_orders_say(wh):
    data = R.gather(wh, cycle="quarter", lang="en")
    kpis = {k["key"]: k for k in data.kpis}
    o = wh.table("orders").to_pandas()

    def measure(p: Period):
        inside = o[(o.ts >= p.start) & (o.ts < p.end)]
        paid = inside[inside.status == "paid"]
        first = o[o.status == "paid"].groupby("customer_id").ts.min()
        return {"net_revenue": inside.amount.sum(), "orders": paid.order_id.nunique(),
                "buyers": paid.customer_id.nunique(),
                "new_customers": int(((first >= p.start) & (first < p.end)).sum()),
                "aov": paid.amount.sum() / paid.order_id.nunique()}

    now, before = measure(Period(2025, "quarter", 4)), measure(Period(2025, "quarter", 3))
    for key, v in now.items():
        assert kpis[key]["value"] == f"{v:,.0f}", key
        assert kpis[key]["compare"] == f"{before[key]:,.0f}", key
        assert kpis[key]["change"] == f"{(v - before[key]) / before[key]:+.1%}", key
    # the scorecard's points add up to its index, as printed
    c = data.scorecard
    assert c.current.metrics["points"].sum() == pytest.approx(c.current.index)
    assert f">{c.current.index:.1f}<" in R.render(data)
    # the page says which period it covers and why (the last complete one here)
    assert data.period_note.startswith(f"{data.period.label}: the last complete period")
    note = re.search(r'<p class="period-note">(.*?)</p>', R.render(data)).group(1)
    assert htmllib.unescape(note) == data.period_note


def test_default_and_bad_periods(wh, report_world):
    as_of = report_world.as_of  # 2026-01-01: the last complete periods end there
    assert R.report_period("quarter", None, as_of) == Period(2025, "quarter", 4)
    assert R.report_period("month", None, as_of) == Period(2025, "month", 12)
    assert R.report_period("year", None, as_of) == Period(2025, "year")
    with pytest.raises(BadPeriod, match="has not ended .* 2025-Q4"):
        R.report_period("quarter", "2026-Q1", as_of)
    with pytest.raises(BadPeriod, match="2025-07 is a month .* --cycle month"):
        R.report_period("quarter", "2025-07", as_of)
    with pytest.raises(BadPeriod, match="cannot read the period"):
        R.report_period("quarter", "Q5 2025", as_of)
    with pytest.raises(BadPeriod, match="no orders in 2019-Q1"):
        R.gather(wh, cycle="quarter", period="2019-Q1")


def test_run_selection(wh, report_world, tmp_path):
    assert R.gather(wh, cycle="month", run_id=report_world.run_id).run["run_id"] == \
        report_world.run_id
    with pytest.raises(NoRun, match="no published run 'nope'"):
        R.gather(wh, cycle="month", run_id="nope")
    empty = connect(f"duckdb://{tmp_path}/empty.duckdb")
    try:
        with pytest.raises(NoRun, match="no published run yet"):
            R.render_report(empty)
    finally:
        empty.close()


def test_load_figures_are_the_reports(wh):
    figs = R.load_figures(wh, lang="zh", cycle="month")
    assert list(figs) == list(R.CYCLE_FIGURES["month"])
    assert all(f.layout.meta["figure"] == n for n, f in figs.items())


def test_write_report_default_name(wh, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = ops.open_store(f"sqlite:///{tmp_path}/ops.sqlite")
    try:
        done = R.write_report(wh, cycle="month", store=store)
    finally:
        store.close()
    assert done.path == R.default_path("month", "2025-12")
    assert (tmp_path / "upmarket-report-2025-12.html").stat().st_size == done.bytes
    assert done.period == "2025-12"
    assert R.default_path("month", "2025-12", "zh") != done.path  # languages side by side


def test_run_figures_for_the_dashboard(wh, report_world):
    figs = R.run_figures(wh, lang="zh")
    assert list(figs) == list(R.DASHBOARD_FIGURES)
    counts = report_world.frames["results"]["tier"].value_counts()
    assert list(figs["tier_pyramid"].data[0].x) == [
        counts[t] for t in ("diamond", "core", "potential", "basic")]
    # one figure as JSON to inline in a page: escaped, and decoding to the same data
    fig = R.run_figures(wh, names=("campaigns",))["campaigns"]
    text = R.figure_json(fig)
    assert "<" not in text and ">" not in text
    assert HOSTILE in json.loads(text)["data"][0]["x"]
    with pytest.raises(ValueError, match="not a run figure: effect_index"):
        R.run_figures(wh, names=("effect_index",))


def test_clv_kpis_are_the_models_figures_and_the_textbook_only_beside_them(wh, report_world):
    data = R.gather(wh, cycle="quarter", lang="en")
    kpis = {k["key"]: k for k in data.kpis}
    clv = report_world.frames["results"]["clv"]
    # the period ends at the run's as-of date: its CLV is the run's, mean and total
    assert kpis["clv_mean"]["value"] == f"{clv.mean():,.0f}"
    assert kpis["clv_total"]["value"] == f"{clv.sum():,.0f}"
    # no run was made at the end of the quarter before: no model figure is made up for it
    assert kpis["clv_mean"]["compare"] == "—" and kpis["clv_total"]["compare"] == "—"
    # the textbook formula is there, labelled as a comparison, and is not the CLV
    text = kpis["cltv_textbook"]
    assert "textbook" in text["label"] and "comparison" in text["label"]
    assert text["value"] not in (kpis["clv_mean"]["value"], "—")
    assert "cltv" not in kpis
    assert not any("seed" in k["label"].lower() for k in data.kpis)


# -- the method section: the value model and the churn model ---------------------------------
def value_section(page: str) -> str:
    """The words a reader sees in the report's Value model block."""
    block = re.search(r'<div id="value-model">(.*?)</section>', without_js(page), re.S)
    assert block, "no Value model block"
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", block.group(1))).split())


def warning_words(summary: dict, lang: str) -> list[str]:
    """Each warning of a run summary as the CLI words it (`FitWarning.text`)."""
    from upmarket.models.btyd.diagnostics import FitWarning

    return [FitWarning(w["code"], w["model"], {k: v for k, v in w.items()
                                               if k not in ("code", "model")}).text(lang)
            for w in summary["value_model"]["warnings"]]


@pytest.mark.parametrize("which, lang", [("quarter_en", "en"), ("quarter_zh", "zh-CN")])
def test_a_flagged_value_model_is_told_in_words(rendered, which, lang):
    from report_world import value_summary

    summary = value_summary(flagged=True)
    text = value_section(getattr(rendered, which))
    # every fit warning, marked, in the words the CLI prints; then the missing P(alive)
    expected = warning_words(summary, lang)
    assert len(expected) == 3
    for words in expected:
        assert f"⚠ {' '.join(words.split())}" in text, words
    missing = label("run_value_p_alive_missing", lang,
                    reason=label("p_alive_missing.no_dropout", lang))
    assert f"⚠ {missing}" in text
    assert text.count("⚠") == 4
    assert label("report.value.clean", lang) not in text
    # what was used, and that the holdout's winner was not: it failed its checks
    assert label("run_value_model", lang, transactions=label("value_model.empirical", lang),
                 spend=label("value_model.empirical_spend", lang)) in text
    assert label("report.value.fallback", lang, chosen=label("value_model.bgnbd", lang),
                 used=label("value_model.empirical", lang)) in text
    assert label("report.value.criterion", lang) in text
    # the churn model against its baseline, whose scores were published
    assert label("churn_published.rfm_baseline", lang) in text
    assert "0.791" in text and "0.802" in text


def test_the_holdout_table_is_the_runs_comparison(rendered):
    from report_world import COMPARISON, RANKING

    page = without_js(rendered.quarter_en)
    table = re.search(r'<table class="value-choice">(.*?)</table>', page, re.S).group(1)
    rows = [[htmllib.unescape(re.sub(r"<[^>]+>", "", c)).strip()
             for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1], re.S)]
    t = COMPARISON.set_index("model")
    expected = [[label(f"value_model.{m}", "en"), f"{t.at[m, 'predicted']:,.0f}",
                 f"{t.at[m, 'actual']:,.0f}", f"{round(t.at[m, 'error'], 4):+.1%}",
                 f"{round(t.at[m, 'mae'], 4):.3f}"] for m in RANKING]
    assert [r[:5] for r in rows] == expected
    # the verdicts: chosen, ranked second, and why the degenerate Pareto/NBD was not usable
    assert [r[5] for r in rows] == ["chosen ✓", "ranked 2",
                                    label("value_choice.reason.no_dropout", "en")]
    # the figure beside it plots the same comparison
    fig = figure_data(rendered.quarter_en)["value_choice"]
    assert sorted(x for tr in fig["data"] if tr["type"] == "bar" for x in tr["x"]) == \
        sorted(r[0] for r in rows)


@pytest.fixture(scope="module")
def clean_run(report_world, tmp_path_factory):
    """A copy of the report world whose latest run's value model passed every check."""
    import shutil

    from report_world import run_summary
    from upmarket.warehouse.runs import Run

    src = report_world.url.removeprefix("duckdb://")
    dst = tmp_path_factory.mktemp("clean") / "w.duckdb"
    shutil.copy(src, dst)
    wh = connect(f"duckdb://{dst}")
    store = ops.open_store(f"sqlite:///{dst.parent}/ops.sqlite")
    try:
        run = Run(wh, report_world.as_of)
        for name, frame in report_world.frames.items():
            run.write(name, frame)
        run.publish(run_summary(report_world.frames, flagged=False))
        yield {lang: R.render_report(wh, cycle="quarter", lang=lang, store=store)
               for lang in ("en", "zh-CN")}
    finally:
        store.close()
        wh.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_clean_value_model_shows_no_warning(clean_run, lang):
    page = clean_run[lang]
    text = value_section(page)
    assert "⚠" not in without_js(page)
    assert label("report.value.clean", lang) in text
    assert label("run_value_model", lang, transactions=label("value_model.bgnbd", lang),
                 spend=label("value_model.gamma_gamma", lang)) in text
    # the holdout's winner was used: no fallback sentence
    assert label("report.value.fallback", lang, chosen=label("value_model.bgnbd", lang),
                 used=label("value_model.bgnbd", lang)) not in text
    assert label("churn_published.model", lang) in text


def test_a_run_without_an_account_of_its_models_has_no_block(wh, report_world):
    data = R.gather(wh, cycle="quarter", lang="en")
    assert data.value_method["warnings"]  # the world's run was flagged …
    # … and a summary from before these checks makes no block and no figure
    assert R.value_method({"kpis": {}}, None, "en") == {}
    assert R._value_figure({}, report_world.frames["value_model_comparison"], "en") is None


def test_method_words_for_runs_the_section_must_still_explain():
    from upmarket.reports import method

    # no time-split churn model: the line says what churn risk is instead
    assert method.churn_text({"churn_model": "P(alive) only: too little history"}, "zh") == \
        label("report.churn.fallback", "zh")
    # a run made under another criterion shows that run's own statement, not our translation
    summary = {"value_choice": {"chosen": "pnbd", "holdout_weeks": 8.0,
                                "calibration_end": "2025-11-06", "criterion": "lowest RMSE",
                                "models": []},
               "value_model": {"transactions": "pnbd", "spend": "gamma_gamma"}}
    lines = method.value_choice_text(summary, "en")
    assert lines[-1] == "Criterion of this run: lowest RMSE"
    # too short a history for a holdout: the reason, as the CLI gives it
    short = {"value_choice": {"chosen": None, "reason": "short_history"}}
    assert method.value_choice_text(short, "en") == [method.value_choice_line(
        short["value_choice"], "en")]
    assert method.value_choice_rows(short, None, "en") == []
