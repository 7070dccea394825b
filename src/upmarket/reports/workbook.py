"""The periodic report as an Excel workbook: one sheet per section of the HTML report.

The content is the report's own (`html.gather`), so the workbook and the HTML page never
disagree; the numbers the page shows as text ("1,234", "12.5%") become numbers with the same
format, so a reader can sort, filter and sum them. Written by `activation.spreadsheet`, the
one writer of spreadsheets, so no cell is a formula (OWASP CSV injection).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd

from upmarket.activation import privacy
from upmarket.activation.spreadsheet import Formatted, Sheet, write_workbook
from upmarket.i18n import label
from upmarket.reports.html import ReportData, ReportFile, gather, published_run, report_period
from upmarket.warehouse.connection import Warehouse

# "1,234", "-3.5", "+12.0%", "12.5 %", "¥1,234.56": a number as the report prints it
_NUMBER = re.compile(r"^(?P<sign>[-+−]?)(?P<cur>[¥$€£]?)(?P<num>\d[\d,]*(?:\.(?P<dec>\d+))?)"
                     r"\s?(?P<pct>%?)$")
_DASHES = {"—", "–", "-", ""}


def as_number(text):
    """The number a report cell shows, with its Excel format; other text unchanged, a dash
    (no value) empty."""
    if not isinstance(text, str):
        return text
    t = text.strip()
    if t in _DASHES:
        return None
    m = _NUMBER.match(t)
    if m is None:
        return text
    value = float(m["num"].replace(",", ""))
    if m["sign"] in ("-", "−"):
        value = -value
    decimals = len(m["dec"] or "")
    body = "#,##0" + ("." + "0" * decimals if decimals else "")
    if m["pct"]:
        body = "0" + ("." + "0" * decimals if decimals else "") + "%"
        value /= 100
    if m["cur"]:
        body = f'"{m["cur"]}"{body}'
    if m["sign"]:  # a change keeps its sign: +3.0 and -3.0
        body = f"+{body};-{body};{body}"
    return Formatted(value, body)


def _frame(rows: list[dict], columns: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """`rows` (the report's table rows) as a frame of the keys in `columns`, numbers parsed,
    with the headers `columns` maps them to."""
    frame = pd.DataFrame([{k: as_number(r.get(k)) for k in columns} for r in rows],
                         columns=list(columns), dtype=object)
    return frame, list(columns.values())


def report_sheets(data: ReportData) -> list[Sheet]:
    """One sheet per section of the report, in its order, headers in the report's language."""
    lang = data.lang
    t = lambda key, **kw: label(key, lang, **kw)  # noqa: E731
    title = t(f"report.title.{data.cycle}", period=data.period.label)
    overview = [
        (t("report.meta.period"), data.period.label),
        (t("report.meta.compare"), data.compare.label),
        (t("report.meta.coverage"), data.coverage),
        (t("report.meta.run"), data.run["run_id"]),
        (t("report.meta.as_of"), f"{pd.Timestamp(data.run['as_of']):%Y-%m-%d}"),
    ]
    notes = [title] + ([data.coverage_warning] if data.coverage_warning else [])
    sheets = [Sheet(t(f"report.findings.{data.cycle}"),
                    pd.DataFrame(overview + [("", f) for f in data.findings],
                                 columns=["what", "value"]),
                    headers=[t("report.col.kpi"), ""], notes=notes)]

    frame, headers = _frame(data.kpis, {"label": t("report.col.kpi"),
                                        "value": data.period.label,
                                        "compare": data.compare.label,
                                        "change": t("report.col.change")})
    sheets.append(Sheet(t("report.section.kpis"), frame, headers))

    if data.scorecard is not None:
        from upmarket.reports.html import scorecard_rows

        rows = scorecard_rows(data.scorecard, lang)
        # the page spans a dimension over its metrics; a sheet repeats it so filters work
        dimension = ""
        for r in rows:
            dimension = r["dimension"] or dimension
            r["dimension"] = dimension
        frame, headers = _frame(rows, {
            "dimension": t("scorecard.col.dimension"), "metric": t("scorecard.col.metric"),
            "actual": t("scorecard.col.actual"), "target": t("scorecard.col.target"),
            "attainment": t("scorecard.col.attainment"), "points": t("scorecard.col.points"),
            "compare": data.compare.label, "change": t("scorecard.col.change"),
            "note": t("scorecard.col.source")})
    else:
        frame, headers = _frame([], {"metric": t("scorecard.col.metric")})
    sheets.append(Sheet(t("report.section.scorecard"), frame, headers))

    frame, headers = _frame(data.campaigns, {
        "name": t("report.col.campaign"), "channel": t("report.col.channel"),
        "dates": t("report.col.dates"), "cost": t("report.col.cost"),
        "touched": t("report.col.touched"), "profit": t("report.col.profit"),
        "roi": t("report.col.roi"), "roi_long_term": t("report.col.roi_long"),
        "verdict": t("report.col.verdict")})
    sheets.append(Sheet(t("report.section.campaigns"), frame, headers))

    frame, headers = _frame(data.at_risk, {
        "ref": t("report.col.ref"), "tier": t("field.tier"), "clv": t("report.col.clv"),
        "churn_risk": t("report.col.churn_risk"), "at_stake": t("report.col.at_stake"),
        "stage": t("field.lifecycle_stage"), "signals": t("field.churn_signals"),
        "action": t("col.action")})
    sheets.append(Sheet(t("report.at_risk.title"), frame, headers,
                        notes=[t("report.section.customers")]))
    frame, headers = _frame(data.upsell, {
        "ref": t("report.col.ref"), "tier": t("field.tier"), "product": t("col.product"),
        "probability": t("report.col.probability"),
        "expected_value": t("col.expected_value"), "channel": t("col.channel"),
        "reason": t("col.reason")})
    sheets.append(Sheet(t("report.upsell.title"), frame, headers,
                        notes=[t("report.section.customers")]))

    if data.membership is not None:
        sheets.append(membership_sheet(data.membership, t))

    frame, headers = _frame(data.risks, {
        "id": t("risk.col.id"), "indicator": t("risk.col.indicator"),
        "value": t("risk.col.value"), "threshold": t("risk.col.threshold"),
        "level": t("risk.col.level"), "impact": t("risk.col.impact"),
        "exposure": t("risk.col.exposure"), "owner": t("risk.col.owner"),
        "action": t("risk.col.action")})
    sheets.append(Sheet(t("report.section.risks"), frame, headers))

    frame, headers = _frame(data.sources + data.outputs_used,
                            {"name": t("report.col.table"), "rows": t("report.col.rows")})
    method_notes = [*data.value_method.get("choice", []), *data.value_method.get("warnings", [])]
    sheets.append(Sheet(t("report.section.sources"), frame, headers,
                        notes=[str(n) for n in method_notes]))
    return sheets


def membership_sheet(found: dict, t) -> Sheet:
    """The report's membership section (`reports.membership`): level distribution with each
    level's benefit cost as the table; the points liability, breakage with its interval and
    the rates as the sentences above it, as the page has them."""
    head = found["head"]
    frame, headers = _frame(found["levels"], {k: head[k] for k in
                                              ("level", "members", "share", "cost",
                                               "per_member")})
    return Sheet(t("report.section.membership"), frame, headers,
                 notes=[*found["lines"], found["cost_title"]])


#: The sections the workbook has, as the keys of the report's section titles (for tests and
#: readers that look a sheet up by what it holds); membership only when the run evaluated a
#: programme.
SECTIONS = ("findings", "kpis", "scorecard", "campaigns", "at_risk", "upsell", "membership",
            "risks", "sources")


def write_report_workbook(wh: Warehouse, path: Path | None = None, *, cycle: str = "quarter",
                          period=None, lang: str = "en", run_id: str | None = None,
                          with_pii: bool = False, store=None) -> ReportFile:
    """Write the `cycle` report on `period` as a workbook at `path` (default
    ``upmarket-report-<period>.xlsx``), audited like the HTML report (`html.render_report`)."""
    started = time.perf_counter()
    run = published_run(wh, run_id)
    p = report_period(cycle, period, pd.Timestamp(run["as_of"]).to_pydatetime())
    if path is None:
        from upmarket.reports.html import default_path

        path = default_path(cycle, p, lang).with_suffix(".xlsx")
    path = Path(path)
    data = gather(wh, cycle=cycle, period=p, lang=lang, run_id=run["run_id"],
                  with_pii=with_pii, with_figures=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_workbook(report_sheets(data), path, lang=data.lang)
    try:
        privacy.audit(wh, "report_with_pii" if with_pii else "report", str(path.resolve()),
                      store=store, run_id=data.run["run_id"], cycle=cycle,
                      period=data.period.label, lang=data.lang,
                      customers_listed=data.listed_customers, pseudonymised=not with_pii,
                      format="xlsx")
    except BaseException:
        path.unlink(missing_ok=True)  # no report without its audit record
        raise
    return ReportFile(path, path.stat().st_size, time.perf_counter() - started, p.label,
                      run["run_id"])
