"""Commands that run the pipeline: run, demo."""

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
    """Run the pipeline and publish its results.

    Features → lifetime value → churn → segments, tiers and lifecycle → KPIs. Publishing is
    atomic: a failed or interrupted run leaves the previous results current.
    """
    from upmarket import pipeline
    from upmarket.warehouse import connect

    wh = connect(warehouse, create=False)
    with progress(as_json) as bar:
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
    """Build a synthetic store, ingest it, run everything, say where the results are.

    Two years of orders, promotions, touchpoints, spend, tickets, feedback and consents,
    with ground truth about who later upgrades or churns.

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
    with progress(as_json) as bar:
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

