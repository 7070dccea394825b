"""Command that writes the periodic report: `upmarket report` (the upward-marketing guide's evaluation cycles:
monthly quick review, quarterly assessment, annual retrospective)."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.errors import UpmarketError
from upmarket.i18n import current_lang, label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL


@app.command()
@friendly
def report(
    cycle: Annotated[str | None, typer.Option(
        "--cycle", "-c", help="month (quick review of KPIs and campaigns), quarter (assessment "
        "against the effect index and its targets) or year (retrospective and strategy). "
        "Default: the kind of --period, else quarter.")] = None,
    period: Annotated[str | None, typer.Option(
        "--period", "-p", help="The month 2025-07, quarter 2025-Q3 or year 2025 to report on "
        "(default: the last complete one before the run's as-of date).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="The file to write (default: upmarket-report-PERIOD.html or "
        ".xlsx, -zh before the suffix for Chinese).",
        dir_okay=False)] = None,
    format: Annotated[str, typer.Option(
        "--format", "-f", help="html (one self-contained page with charts) or xlsx (an Excel "
        "workbook, one sheet per section of the page).")] = "html",
    run_id: Annotated[str | None, typer.Option(
        "--run", help="Report on this published run (default: the latest).")] = None,
    with_pii: Annotated[bool, typer.Option(
        "--with-pii", help="Show customer ids in the clear instead of pseudonyms. Only for "
        "people allowed to see personal data; every report is audited.")] = False,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Write the periodic report: one self-contained HTML file (opens offline, prints on A4).

    Headline KPIs against the period before, the effect-index scorecard, campaign results,
    charts, the at-risk premium customers and the upsell list, the risk register, and the data
    sources and method (which value model was used and why, every fit warning, the churn model
    against its baseline), with the run id and as-of date. Customer ids are pseudonymised
    unless --with-pii; the report is recorded in the audit log like an export.

    Example: upmarket report --cycle quarter --period 2025-Q4 --lang zh
    """
    from upmarket.reports import coverage
    from upmarket.reports.html import CYCLES
    from upmarket.strategy import scorecard as sc
    from upmarket.warehouse import connect

    if format not in ("html", "xlsx"):
        raise UpmarketError("err.option_either", option="--format", first="html",
                            second="xlsx", value=format)
    if cycle is not None and cycle not in CYCLES:
        raise sc.BadPeriod("err.option_choice", option="--cycle",
                           choices=", ".join(CYCLES), value=cycle)
    if cycle is None:
        cycle = sc.parse_period(period).kind if period else "quarter"
    lang = current_lang(lang)
    wh = connect(warehouse, create=False)
    try:
        if format == "xlsx":
            from upmarket.reports.workbook import write_report_workbook as write_report
        else:
            from upmarket.reports.html import write_report
        done = write_report(wh, out, cycle=cycle, period=period, lang=lang, run_id=run_id,
                            with_pii=with_pii)
        import pandas as pd

        from upmarket.reports.html import published_run, report_period

        # the file says it too; here so a partial period is noticed before the file is opened.
        # The period as the report read it (to date, when the default is)
        p = report_period(cycle, done.period, pd.Timestamp(
            published_run(wh, done.run_id)["as_of"]).to_pydatetime())
        covered = coverage.period_coverage(wh, p)
        partial = coverage.coverage_warning(covered, p.previous().label, lang)
    finally:
        wh.close()
    if as_json:
        print(json.dumps({"path": str(done.path), "bytes": done.bytes,
                          "seconds": round(done.seconds, 2), "cycle": cycle, "format": format,
                          "period": done.period, "run_id": done.run_id, "lang": lang,
                          "months_with_data": covered.months_with_data,
                          "months_in_period": covered.months_in_period,
                          "pseudonymised": not with_pii}, ensure_ascii=False))
        return
    if partial:
        console.print(f"[bold yellow]{escape(partial)}[/]", highlight=False)
    console.print(label("report.cli.written", lang,
                        title=label(f"report.title.{cycle}", lang, period=done.period),
                        path=done.path, size=done.bytes / 1e6, seconds=done.seconds,
                        run_id=done.run_id), highlight=False, soft_wrap=True)
    console.print(label("report.cli.pii" if with_pii else "report.cli.pseudonymised", lang),
                  highlight=False)
