"""Commands about data: ingest, quarantine, status."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly, progress
from upmarket.i18n import label
from upmarket.warehouse.connection import DEFAULT_URL

KINDS = "orders, products, customers, events, spend, feedback, consents, promotions, payments, " \
        "tickets, campaigns, brand-survey"


@app.command()
@friendly
def ingest(
    kind: Annotated[str, typer.Argument(help=f"What the file holds: {KINDS}.")],
    file: Annotated[Path, typer.Argument(help="CSV/TSV/TXT (UTF-8, UTF-8-BOM, GBK, GB18030 "
                                         "detected; delimiter sniffed), .xlsx or .parquet.")],
    preset: Annotated[str | None, typer.Option(
        help="A known export: online-retail (UCI Online Retail) or cdnow (CDNOW purchases).")] = None,
    mapping: Annotated[Path | None, typer.Option(
        help="YAML mapping of your headers to canonical columns (Chinese headers welcome), "
        "with date format, timezone, currency. See README 'Your own data'.")] = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Load a file into the warehouse; nothing read is lost.

    Every row is accepted, quarantined with a reason, or skipped as a duplicate of a row
    already held; re-ingesting the same file adds nothing.

    Examples:

      upmarket ingest orders online_retail.csv --preset online-retail

      upmarket ingest orders 订单.csv --mapping 订单映射.yaml

      upmarket ingest spend spend.xlsx --json
    """
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest as run_ingest

    with progress(as_json) as bar:
        task = bar.add_task(f"ingesting {file}", total=None)
        report = run_ingest(kind, file, preset=preset, mapping=mapping, warehouse=connect(warehouse),
                            on_stage=lambda s: bar.update(task, description=f"{file}: {s}"))
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
        return
    console.print(f"[bold]{label('ingest_title', lang, table=report.table, source=report.source)}[/]")
    t = Table(show_header=False, box=None)
    for key in ("rows_read", "accepted", "quarantined", "duplicates_skipped"):
        t.add_row(label(key, lang), f"{getattr(report, key):,}")
    if report.suppressed:
        t.add_row(label("suppressed", lang), f"{report.suppressed:,}")
    if report.cancellations_linked:
        t.add_row(label("cancellations_linked", lang), f"{report.cancellations_linked:,}")
    for side, n in report.added_to.items():
        t.add_row(f"{label('added_to', lang)} {side}", f"{n:,}")
    if report.unmapped_columns:
        t.add_row(label("unmapped_columns", lang), ", ".join(report.unmapped_columns))
    console.print(t)
    if report.quarantined_by_reason:
        q = Table(title=label("quarantined", lang), title_justify="left")
        q.add_column(label("reason", lang))
        q.add_column(label("rows", lang), justify="right")
        for reason, n in report.quarantined_by_reason.items():
            q.add_row(reason, f"{n:,}")
        console.print(q)
        console.print("See the rows with [bold]upmarket quarantine[/].")


@app.command()
@friendly
def quarantine(
    batch: Annotated[str | None, typer.Option(help="Only this ingestion batch id.")] = None,
    limit: Annotated[int, typer.Option(help="How many rows to show.")] = 20,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
):
    """Rows that were read but not accepted: file, row, field, reason, raw row."""
    from upmarket.warehouse import connect

    wh = connect(warehouse, create=False)
    q = wh.table("quarantine")
    if batch:
        q = q.filter(q.batch_id == batch)
    rows = q.order_by(["ingested_at", "row_number"]).limit(limit).to_pandas()
    if as_json:
        print(rows.to_json(orient="records", date_format="iso", force_ascii=False))
        return
    t = Table("source", "row", "field", "reason", "raw")
    for r in rows.itertuples():
        t.add_row(r.source, str(r.row_number), r.field, r.reason, r.raw[:80])
    console.print(t)


@app.command()
@friendly
def status(warehouse: Warehouse = DEFAULT_URL, as_json: AsJson = False):
    """What the warehouse holds: rows per table and recent runs."""
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import runs as list_runs
    from upmarket.warehouse.schema import SYSTEM_TABLES, TABLES

    wh = connect(warehouse, create=False)
    counts = {name: wh.count(name) for name in (*TABLES, *SYSTEM_TABLES)}
    recent = list_runs(wh).head(5)
    if as_json:
        print(json.dumps({"warehouse": wh.url, "tables": counts,
                          "runs": recent.to_dict("records")}, default=str, ensure_ascii=False))
        return
    t = Table("table", "rows", title=wh.url, title_justify="left")
    for name, n in counts.items():
        t.add_row(name, f"{n:,}")
    console.print(t)
    if not recent.empty:
        r = Table("run", "as of", "status", "finished", title="runs", title_justify="left")
        for row in recent.itertuples():
            r.add_row(row.run_id, f"{row.as_of:%Y-%m-%d}", row.status, f"{row.finished:%Y-%m-%d %H:%M:%S}")
        console.print(r)

