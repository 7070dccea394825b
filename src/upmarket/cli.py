"""`upmarket` on the command line (Typer + Rich).

Every command takes `--warehouse URL` (or the UPMARKET_WAREHOUSE variable); errors the user can
fix print a message and exit with status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from upmarket.errors import UpmarketError
from upmarket.i18n import label
from upmarket.warehouse.connection import DEFAULT_URL, ENV_VAR

app = typer.Typer(
    name="upmarket",
    help="Customer value and upsell (向上营销) engine: ingest your orders, products, events and "
    "spend; get value tiers, RFM segments, lifetime value, churn risk and next best actions.\n\n"
    "Start with `upmarket demo`, or `upmarket ingest orders FILE` then `upmarket run`.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)

Warehouse = Annotated[str, typer.Option(
    "--warehouse", "-w", envvar=ENV_VAR, show_default=True,
    help="Where data lives: duckdb:///path.duckdb (default), pyspark://local[*], or any Ibis URL.",
)]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
Lang = Annotated[str, typer.Option("--lang", envvar="UPMARKET_LANG", help="Labels: en or zh.")]


def friendly(fn):
    """Show an UpmarketError as its message and exit 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UpmarketError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def _progress(json_mode: bool) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TimeElapsedColumn(), console=err, transient=True, disable=json_mode)


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
    """Load a file into the warehouse: every row accepted, quarantined with a reason, or
    skipped as a duplicate. Re-ingesting the same file adds nothing.

    Examples:

      upmarket ingest orders online_retail.csv --preset online-retail

      upmarket ingest orders 订单.csv --mapping 订单映射.yaml

      upmarket ingest spend spend.xlsx --json
    """
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ingest as run_ingest

    with _progress(as_json) as bar:
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
    """Show rows that were read but not accepted: file, row, field, reason and the raw row."""
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
def run(
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", help="Score the world as it stood on this date (default: the day after the "
        "latest order).", formats=["%Y-%m-%d"])] = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Run the pipeline (features → models → strategy → actions) and publish its results
    atomically: a failed run leaves the previous results in place."""
    from upmarket import pipeline
    from upmarket.warehouse import connect

    wh = connect(warehouse, create=False)
    with _progress(as_json) as bar:
        task = bar.add_task("run", total=len(pipeline.STAGES))
        ctx = pipeline.run(wh, as_of, on_stage=lambda name, i, n: bar.update(
            task, completed=i, description=name))
    _print_run(ctx, as_json, lang)


@app.command()
@friendly
def demo(
    customers: Annotated[int, typer.Option(help="How many customers the synthetic store has.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same world.")] = 0,
    out: Annotated[Path, typer.Option(help="Folder for the demo warehouse and its outputs.")] = Path("upmarket-output"),
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Generate a believable store (two years of orders, promotions, touchpoints, spend,
    tickets, feedback, consents), ingest it, run the whole pipeline and say where everything is.

    The demo warehouse is created afresh in --out each time; your own warehouse is not touched.
    """
    import time

    from upmarket import pipeline
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig
    from upmarket.warehouse import connect

    out.mkdir(parents=True, exist_ok=True)
    db = out / "demo.duckdb"
    for stale in (db, db.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    config = WorldConfig(customers=customers, seed=seed)
    wh = connect(f"duckdb://{db.resolve()}")
    with _progress(as_json) as bar:
        task = bar.add_task("generating and ingesting the world", total=None)
        loaded = load_world(wh, config, on_table=lambda t, n: bar.update(
            task, description=f"ingested {n:,} {t}"))
        bar.update(task, description="running the pipeline", total=len(pipeline.STAGES), completed=0)
        ctx = pipeline.run(wh, config.as_of, on_stage=lambda name, i, n: bar.update(
            task, completed=i, description=name))
    exported = export_results(ctx, out)
    seconds = time.perf_counter() - started
    if as_json:
        print(json.dumps({"seconds": round(seconds, 1), "loaded": loaded, "warehouse": wh.url,
                          "outputs": {k: str(v) for k, v in exported.items()},
                          "run_id": ctx.run.run_id, **ctx.summary}, ensure_ascii=False, default=str))
        return
    t = Table("table", "rows read", "accepted", "quarantined", title="Synthetic world ingested",
              title_justify="left")
    for name, c in loaded.items():
        t.add_row(name, f"{c['rows_read']:,}", f"{c['accepted']:,}", f"{c['quarantined']:,}")
    console.print(t)
    _print_run(ctx, False, lang)
    console.print(f"\n[bold]Where everything is[/] (finished in {seconds:.0f} s):")
    console.print(f"  warehouse  {db}   (open with: upmarket status -w duckdb://{db.resolve()})")
    for name, path in exported.items():
        console.print(f"  {name:<10} {path}")


def export_results(ctx, out: Path) -> dict[str, Path]:
    """Write the run's per-customer results where a newcomer will look for them."""
    from upmarket.warehouse.runs import output

    path = out / "customers.csv"
    output(ctx.wh, "results", ctx.run.run_id).to_pandas().to_csv(path, index=False)
    return {"customers": path}


def _print_run(ctx, as_json: bool, lang: str) -> None:
    info = {"run_id": ctx.run.run_id, "as_of": ctx.as_of.strftime("%Y-%m-%d"),
            "warehouse": ctx.wh.url, "outputs": ctx.run.outputs, **ctx.summary}
    if as_json:
        print(json.dumps(info, ensure_ascii=False, default=str))
        return
    console.print(f"[bold green]{label('run_published', lang, run_id=info['run_id'], as_of=info['as_of'])}[/]")
    t = Table(show_header=False, box=None)
    for key, value in ctx.summary.items():
        name = label(key, lang) if key in ("customers", "net_revenue") else key.replace("_", " ")
        t.add_row(name, f"{value:,.2f}" if isinstance(value, float) else str(value))
    console.print(t)
    console.print(f"{label('where_results', lang)}: {ctx.wh.url} → "
                  + ", ".join(f"{label('table', lang)} [bold]{n}[/]" for n in ctx.run.outputs))


@app.command()
@friendly
def status(warehouse: Warehouse = DEFAULT_URL, as_json: AsJson = False):
    """What the warehouse holds: rows per table, ingestion batches, the current run."""
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


def main() -> None:  # pragma: no cover - the console script entry point is `app`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
