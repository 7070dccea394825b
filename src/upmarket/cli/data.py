"""Commands about data: ingest, quarantine, status, data delete."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly, progress
from upmarket.i18n import LABELS, current_lang, label, value_label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

data_app = typer.Typer(
    help="Stored data: take accepted rows back (by key or by ingestion batch).",
    no_args_is_help=True)
app.add_typer(data_app, name="data")

KINDS = "orders, products, customers, events, spend, feedback, consents, promotions, payments, " \
        "tickets, campaigns, brand-survey, members, points, account_managers"
#: Loaded into the operational store, not the warehouse (`activation.assignment`).
ROSTER_KINDS = ("account_managers", "account-managers", "managers")


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
        "with date format, timezone, currency, sane bounds (limits:). See README 'Your own "
        "data'.")] = None,
    on_conflict: Annotated[str, typer.Option(
        "--on-conflict", help="A row whose key is already held with different content: "
        "quarantine it as a conflict (quarantine), replace the stored row (update), or keep the "
        "stored row and skip it (keep).")] = "quarantine",
    replace: Annotated[bool, typer.Option(
        "--replace", help="The file's rows replace stored rows with the same keys (the same as "
        "--on-conflict update).")] = False,
    warehouse: Warehouse = DEFAULT_URL,
    database: Annotated[str, typer.Option(
        "--database", envvar="UPMARKET_DATABASE", show_default=False,
        help="account_managers only: the operational database they go to (default "
        "sqlite:///./upmarket-ops.sqlite).")] = "",
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Load a file into the warehouse; nothing read is lost.

    Every row is accepted, quarantined with a reason (a number that is not finite or beyond
    its sane bound, an id with control characters or over 256 characters, …), skipped as a
    duplicate of a row already held, or set aside as a conflict: its key is held (or earlier in
    the file) with different content. Re-ingesting the same file adds nothing; a corrected file
    replaces what it corrects with --replace. Take rows back with `upmarket data delete`.

    Examples:

      upmarket ingest orders online_retail.csv --preset online-retail

      upmarket ingest orders 订单.csv --mapping 订单映射.yaml

      upmarket ingest orders corrected.csv --replace

      upmarket ingest spend spend.xlsx --json

      upmarket ingest account_managers team.csv   (to the operational store: who gets tasks)
    """
    from upmarket.errors import UpmarketError
    from upmarket.warehouse import connect
    from upmarket.warehouse.ingest import ON_CONFLICT

    if kind.strip().lower() in ROSTER_KINDS:
        _ingest_roster(file, database or None, as_json, lang)
        return
    from upmarket.warehouse.ingest import ingest as run_ingest

    if on_conflict not in ON_CONFLICT:
        raise UpmarketError("err.option_choice", option="--on-conflict",
                            choices=", ".join(ON_CONFLICT), value=on_conflict)
    if replace and on_conflict not in ("quarantine", "update"):
        raise UpmarketError("err.replace_conflict", value=on_conflict)
    with progress(as_json) as bar:
        task = bar.add_task(label("ingest.progress", lang, file=file), total=None)
        report = run_ingest(kind, file, preset=preset, mapping=mapping, warehouse=connect(warehouse),
                            on_stage=lambda s: bar.update(
                                task, description=f"{file}: {value_label('ingest.stage', s, lang)}"),
                            on_conflict="update" if replace else on_conflict)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, default=str))
        return
    table = label(f"report.table.{report.table}", lang) \
        if f"report.table.{report.table}" in LABELS and current_lang(lang) == "zh-CN" \
        else report.table
    console.print(f"[bold]{label('ingest_title', lang, table=table, source=report.source)}[/]")
    t = Table(show_header=False, box=None)
    # the counts that add up to rows read are always shown; `updated` is part of accepted
    for key in ("rows_read", "accepted", "updated", "quarantined", "duplicates_skipped",
                "conflicts"):
        if key != "updated" or report.updated:
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
        from upmarket.warehouse import validate

        q = Table(title=label("quarantined", lang), title_justify="left")
        q.add_column(label("reason", lang))
        q.add_column(label("rows", lang), justify="right")
        for reason, n in report.quarantined_by_reason.items():
            q.add_row(validate.reason_text(reason, lang), f"{n:,}")
        console.print(q)
        console.print(label("quarantine.see_rows", lang, batch=report.batch_id), highlight=False)
    if report.conflicts:
        console.print(label("conflicts_hint", lang), highlight=False)


def _ingest_roster(file: Path, database: str | None, as_json: bool, lang: str) -> None:
    """`ingest account_managers`: the roster goes to the operational store (UPMARKET_DATABASE
    or its default), where tasks are assigned."""
    from upmarket.activation.assignment import load_roster
    from upmarket.opstore.store import now_utc, open_store

    store = open_store(database)
    try:
        report = load_roster(store, file, now_utc())
    finally:
        store.close()
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return
    console.print(label("roster.loaded", lang, **report), highlight=False)


@app.command()
@friendly
def quarantine(
    batch: Annotated[str | None, typer.Option(help="Only this ingestion batch id.")] = None,
    limit: Annotated[int, typer.Option(help="How many rows to show.")] = 20,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
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
    from upmarket.warehouse import validate

    t = Table(*(label(k, lang) for k in ("quarantine.source", "row", "field", "reason",
                                         "quarantine.raw")))
    for r in rows.itertuples():
        # the stored reason stays English (queries, --json); the reader gets their language
        t.add_row(r.source, str(r.row_number), validate.column_name(r.field, lang)
                  if r.field else "", validate.reason_text(r.reason, lang), r.raw[:80])
    console.print(t)


@app.command()
@friendly
def status(warehouse: Warehouse = DEFAULT_URL, as_json: AsJson = False, lang: Lang = "en"):
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
    import pandas as pd

    zh = current_lang(lang) == "zh-CN"
    t = Table(label("table", lang), label("rows", lang), title=wh.url, title_justify="left")
    for name, n in counts.items():
        # in Chinese the table's name in words; in English the name `ingest` and queries use
        t.add_row(label(f"report.table.{name}", lang)
                  if zh and f"report.table.{name}" in LABELS else name, f"{n:,}")
    console.print(t)
    if not recent.empty:
        r = Table(*(label(f"status.{k}", lang) for k in ("run", "as_of", "state", "finished")),
                  title=label("status.runs", lang), title_justify="left")
        for row in recent.itertuples():
            finished = "—" if pd.isna(row.finished) else f"{row.finished:%Y-%m-%d %H:%M:%S}"
            r.add_row(row.run_id, f"{row.as_of:%Y-%m-%d}",
                      value_label("run_state", row.status, lang), finished)
        console.print(r)



@data_app.command("delete")
@friendly
def data_delete(
    kind: Annotated[str, typer.Argument(help=f"The table: {KINDS}.")],
    key: Annotated[list[str] | None, typer.Option(
        "--key", help="A value of the table's first key column (orders: order_id, which takes "
        "every line of the order); repeat for more.")] = None,
    batch: Annotated[str | None, typer.Option(
        help="An ingestion batch id (in the ingest summary's --json and in upmarket "
        "quarantine): every row it inserted or replaced.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Delete; without it only count.")] = False,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Take accepted rows back: by key or by ingestion batch. Without --yes it only counts
    what would go; with --yes it deletes in one transaction and records the deletion in the
    audit log. Runs already published keep their results; the next run no longer sees the rows.
    Needs a DuckDB warehouse.

    Examples:

      upmarket data delete orders --key 536365 --key 536366

      upmarket data delete orders --batch 3f9c2a1b7d4e --yes
    """
    from upmarket.activation import privacy
    from upmarket.errors import UpmarketError
    from upmarket.warehouse import connect
    from upmarket.warehouse.retract import delete, select_by_batch, select_by_key

    if bool(key) == bool(batch):
        raise UpmarketError("err.delete_what")
    wh = connect(warehouse, create=False)
    try:
        chosen = select_by_key(wh, kind, key) if key else select_by_batch(wh, kind, batch)
        deleted = delete(wh, chosen) if yes and chosen.rows else 0
    finally:
        wh.close()
    if deleted:
        privacy.audit(None, "delete_rows", f"{chosen.table}: {chosen.asked}", table=chosen.table,
                      rows=deleted, **({"batch": batch} if batch else {"keys": len(key)}))
    if as_json:
        print(json.dumps({"table": chosen.table, "asked": chosen.asked, "rows": chosen.rows,
                          "deleted": deleted}, ensure_ascii=False))
        return
    if yes:
        console.print(label("deleted", lang, rows=f"{deleted:,}", table=chosen.table,
                            asked=chosen.asked), highlight=False)
        return
    console.print(label("delete_preview", lang, rows=f"{chosen.rows:,}", table=chosen.table,
                        asked=chosen.asked), highlight=False)
    if chosen.rows:
        console.print("Add [bold]--yes[/] to delete them.")
