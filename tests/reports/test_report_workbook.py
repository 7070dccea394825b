"""`report --format xlsx` and the tables' `--format csv|xlsx`: styled workbooks (a sheet per
section, labelled headers, numbers as numbers, frozen header, filters) that LibreOffice opens;
reports say what their period covers; chart axes write numbers as the tables do."""

from __future__ import annotations

import csv
import shutil
import subprocess
from datetime import datetime

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from report_world import HOSTILE
from upmarket.activation.spreadsheet import is_dangerous
from upmarket.cli import app
from upmarket.i18n import label
from upmarket.reports import figures as F
from upmarket.reports.coverage import coverage_text, coverage_warning, period_coverage
from upmarket.reports.workbook import as_number
from upmarket.strategy.scorecard import Period
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

runner = CliRunner()


def invoke(args, tmp_path):
    result = runner.invoke(app, args, env={
        "UPMARKET_DATABASE": f"sqlite:///{tmp_path}/ops.sqlite", "COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result


def cells(ws):
    return [list(row) for row in ws.iter_rows()]


@pytest.fixture(scope="module")
def zh_workbook(report_world, tmp_path_factory):
    path = tmp_path_factory.mktemp("book") / "report.xlsx"
    invoke(["report", "--format", "xlsx", "--lang", "zh", "--out", str(path),
            "-w", report_world.url], path.parent)
    return path


def test_report_workbook_has_one_sheet_per_section(zh_workbook):
    wb = openpyxl.load_workbook(zh_workbook)
    expected = [label(k, "zh") for k in (
        "report.findings.quarter", "report.section.kpis", "report.section.scorecard",
        "report.section.campaigns", "report.at_risk.title", "report.upsell.title",
        "report.section.risks", "report.section.sources")]
    assert wb.sheetnames == expected
    for ws in wb.worksheets:
        assert ws.freeze_panes is not None and ws.auto_filter.ref, ws.title
        header = int(ws.freeze_panes[1:]) - 1  # the row above the frozen pane
        heads = [c.value for c in ws[header] if c.value]
        assert heads and all(c.font.b for c in ws[header] if c.value), ws.title
        assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[header])
        for row in cells(ws):
            for c in row:
                assert c.data_type != "f", f"{ws.title}!{c.coordinate} is a formula"
                assert not is_dangerous(c.value), f"{ws.title}!{c.coordinate}: {c.value!r}"
    kpis = wb[expected[1]]
    assert [c.value for c in kpis[1]][0] == label("report.col.kpi", "zh")
    values = [r[1] for r in cells(kpis)[1:]]
    # the page's "1,234" and "12.5%" are numbers in the workbook, shown the same way
    assert any(isinstance(c.value, (int, float)) and c.number_format == "#,##0" for c in values)
    campaigns = [c.value for row in cells(wb[expected[3]]) for c in row]
    assert any(isinstance(v, str) and HOSTILE in v for v in campaigns)  # as text, never run
    overview = [c.value for row in cells(wb[expected[0]]) for c in row]
    assert any(isinstance(v, str) and "个月的数据" in v for v in overview)


def test_libreoffice_opens_the_report_workbook(zh_workbook, tmp_path):
    """Headless conversion when LibreOffice is installed; the workbook read back by openpyxl
    (a second, independent reader) in any case."""
    wb = openpyxl.load_workbook(zh_workbook, read_only=True)
    assert len(wb.sheetnames) == 8
    wb.close()
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return
    done = subprocess.run(
        [soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(zh_workbook)],
        capture_output=True, text=True, timeout=180)
    pdf = tmp_path / "report.pdf"
    assert done.returncode == 0 and pdf.exists() and pdf.stat().st_size > 1000, done.stderr


def test_tables_as_files(report_world, tmp_path):
    url = report_world.url
    book = tmp_path / "cohorts.xlsx"
    out = invoke(["cohorts", "--format", "xlsx", "--out", str(book), "-w", url], tmp_path)
    assert str(book) in out.output.replace("\n", "")
    ws = openpyxl.load_workbook(book).active
    assert ws.title == label("cohort.retention", "en") and ws.freeze_panes == "A2"
    first = [c for c in ws[2]]
    assert first[2].value == 1 and first[2].number_format == "0.0%"  # M0 retention is 100 %

    invoke(["budget", "--format", "csv", "--out", str(tmp_path / "budget.csv"), "--json",
            "-w", url], tmp_path)
    files = sorted(p.name for p in tmp_path.glob("budget-*.csv"))
    assert "budget-plan_vs_actual.csv" in files and "budget-reallocation.csv" in files
    with open(tmp_path / "budget-reallocation.csv", encoding="utf-8-sig") as f:
        assert next(csv.reader(f))[:2] == ["channel", "current"]  # CSV keeps column names

    book = tmp_path / "attribution.xlsx"
    invoke(["attribution", "--model", "all", "--format", "xlsx", "--out", str(book),
            "--lang", "zh", "-w", url], tmp_path)
    ws = openpyxl.load_workbook(book).active
    assert [c.value for c in ws[1]] == [label(f"attribution.{k}", "zh") for k in
                                        ("model", "channel", "conversions", "value", "share")]
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert {r[0] for r in rows} >= {"markov", "first", "last"}
    assert ws["E2"].number_format == "0.0%"


def test_bad_format_is_refused(report_world, tmp_path):
    result = runner.invoke(app, ["cohorts", "--format", "pdf", "-w", report_world.url])
    assert result.exit_code == 2 and "--format must be csv or xlsx" in result.output


def test_numbers_as_the_page_prints_them():
    assert (as_number("1,234"), as_number("1,234").number_format) == (1234, "#,##0")
    pct = as_number("12.5%")
    assert abs(pct - 0.125) < 1e-12 and pct.number_format == "0.0%"
    assert as_number("-3.25").number_format.startswith("+#,##0.00;-")
    assert as_number("—") is None and as_number("no data") == "no data"


def test_coverage_of_a_period_with_one_month_of_data(tmp_path):
    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    ts = [datetime(2010, 12, 1), datetime(2010, 12, 9)] + \
        [datetime(2011, m, 5) for m in range(1, 13)]
    ingest("orders", pd.DataFrame({
        "order_id": [f"o{i}" for i in range(len(ts))], "customer_id": "c1", "ts": ts,
        "quantity": 1.0, "amount": 10.0, "sku": "S1"}), warehouse=wh)
    partial = period_coverage(wh, Period(2010, "year"))
    full = period_coverage(wh, Period(2011, "year"))
    wh.close()
    assert (partial.months_with_data, partial.months_in_period) == (1, 12) and partial.partial
    assert coverage_text(partial, "en") == "1 month of data in 2010 (2010-12-01 to 2010-12-09)"
    warning = coverage_warning(partial, "2009", "en")
    assert "only 1 of the 12 months of 2010" in warning
    assert coverage_text(full, "en").startswith("12 months of data in 2011")
    assert coverage_warning(full, "2010", "en") is None
    assert "1个月" in coverage_warning(partial, "2009", "zh")


def test_one_month_trend_has_round_axes_and_table_number_format():
    m = pd.DataFrame({"month": [datetime(2010, 12, 1)], "revenue": [40391.07],
                      "buyers": [582]})
    fig = F.fig_revenue_trend(m, "en")
    axes = [fig.layout.yaxis, fig.layout.yaxis2]
    # from zero: one value does not stretch an axis over 581 … 582 with decimal ticks
    assert all(a.rangemode == "tozero" for a in axes)
    assert all(a.tickformat == F.NUMBER_FORMAT and a.hoverformat == F.NUMBER_FORMAT
               for a in axes)
    shares = F.fig_tier_pyramid(pd.DataFrame({
        "tier": ["diamond", "basic"], "customers": [5, 95], "customer_share": [0.05, 0.95],
        "revenue_share": [0.4, 0.6], "clv_share": [0.5, 0.5]}), "en")
    assert ".0%" in {shares.layout[a].tickformat for a in ("xaxis", "xaxis2") if shares.layout[a]}
