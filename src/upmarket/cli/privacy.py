"""Commands about personal data: consents set|list, privacy export|erase|purge (PIPL; DESIGN
§4 privacy and security)."""

import json
from contextlib import contextmanager
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, err, friendly
from upmarket.i18n import LABELS, current_lang, label
from upmarket.cli.service import Database
from upmarket.errors import Joined, UpmarketError
from upmarket.locations import STORE_URL
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

consents_app = typer.Typer(
    help="Consent per purpose and channel: record one given or withdrawn, list a customer's.",
    no_args_is_help=True)
privacy_app = typer.Typer(
    help="A person's data: export everything held on them, erase them, purge old raw events.",
    no_args_is_help=True)
app.add_typer(consents_app, name="consents")
app.add_typer(privacy_app, name="privacy")

CustomerId = Annotated[str, typer.Argument(help="The customer's id as in your data.")]


def _actor() -> str:
    import getpass

    try:
        return os.environ.get("UPMARKET_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@contextmanager
def _opened(database: str, warehouse: str | None = None):
    """The operational store and, when `warehouse` is given, the warehouse (else None), both
    closed on the way out."""
    from upmarket.opstore.store import open_store
    from upmarket.warehouse import connect

    store = open_store(database)
    try:
        wh = connect(warehouse, create=False) if warehouse is not None else None
        try:
            yield store, wh
        finally:
            if wh is not None:
                wh.close()
    finally:
        store.close()


@consents_app.command("set")
@friendly
def consents_set(
    customer_id: CustomerId,
    granted: Annotated[bool, typer.Option(
        "--granted/--withdrawn", help="Consent given, or withdrawn.", show_default=False)],
    channel: Annotated[str, typer.Option(
        help="email, sms, wechat, phone, app_push, … (as in your consents data).")],
    purpose: Annotated[str, typer.Option(help="What the data may be used for.")] = "marketing",
    source: Annotated[str | None, typer.Option(
        help="Where it came from (default: cli and who ran it).")] = None,
    database: Database = STORE_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Record a consent given or withdrawn, in force at once: exports and segment lists
    honour it before the next run copies it to the warehouse.

    Example: upmarket consents set C000123 --channel email --withdrawn
    """
    from upmarket.opstore.consents import record_consents

    with _opened(database) as (store, _):
        rep = record_consents(store, {"customer_id": customer_id, "purpose": purpose,
                                      "channel": channel, "granted": granted,
                                      "source": source or f"cli:{_actor()}"})
    if as_json:
        print(json.dumps({"received": rep.received, "stored": rep.stored}))
        return
    from upmarket.data_labels import channel_name

    state = label("consent.given" if granted else "consent.withdrawn", lang)
    console.print(label("consent.recorded", lang, customer=customer_id,
                        purpose=_purpose(purpose, lang),
                        channel=channel_name(channel.strip().lower(), lang), state=state)
                  + ("" if rep.stored else label("consent.already", lang)), highlight=False)


def _purpose(code: str, lang: str) -> str:
    return label(f"purpose.{code}", lang) if f"purpose.{code}" in LABELS else code


@consents_app.command("list")
@friendly
def consents_list(
    customer_id: CustomerId,
    database: Database = STORE_URL,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """A customer's consents in force now and their history (warehouse and operational store).
    Audited as a read of personal data."""
    from upmarket.opstore.store import now_utc
    from upmarket.activation.privacy import audit
    from upmarket.service.consents import customer_consents

    with _opened(database) as (store, _):
        found = customer_consents(store, warehouse, customer_id, now_utc())
        audit(None, "read_consents", customer_id, store=store, rows=len(found["history"]))
    if as_json:
        print(json.dumps({**found, "at": found["at"].isoformat(),
                          "history": [r.model_dump(mode="json") for r in found["history"]],
                          "in_force": [r.model_dump(mode="json") for r in found["in_force"]]},
                         ensure_ascii=False))
        return
    from upmarket.data_labels import channel_name

    def col(*keys):
        return [label(f"consent.col.{k}", lang) for k in keys]

    t = Table(*col("purpose", "channel", "in_force", "since"),
              title=label("consent.title", lang, customer=customer_id), title_justify="left")
    for r in found["in_force"]:
        t.add_row(_purpose(r.purpose, lang), channel_name(r.channel, lang),
                  label("consent.given" if r.granted else "consent.withdrawn", lang),
                  f"{r.since:%Y-%m-%d %H:%M}")
    console.print(t)
    h = Table(*col("ts", "purpose", "channel", "granted", "source", "pending"),
              title=label("consent.history", lang), title_justify="left")
    yes, no = label("consent.yes", lang), label("consent.no", lang)
    for r in found["history"]:
        h.add_row(f"{r.ts:%Y-%m-%d %H:%M:%S}", _purpose(r.purpose, lang),
                  channel_name(r.channel, lang), yes if r.granted else no,
                  r.source or "—", yes if r.pending else "")
    console.print(h)


@privacy_app.command("export")
@friendly
def privacy_export(
    customer_id: CustomerId,
    out: Annotated[Path | None, typer.Option(
        help="Write the JSON here (default: print it).")] = None,
    database: Database = STORE_URL,
    warehouse: Warehouse = DEFAULT_URL,
    lang: Lang = "en",
):
    """Everything held on one person, as JSON: their rows in every warehouse table, in the
    current run's outputs, in the quarantine and in the operational store (events of their
    devices, identities, consents, profile, audit records about them). Audited as an export.

    Example: upmarket privacy export C000123 --out C000123.json
    """
    from upmarket.activation.erasure import export_person

    with _opened(database, warehouse) as (store, wh):
        doc = export_person(wh, store, customer_id)
    text = json.dumps(doc, ensure_ascii=False, indent=2, default=str)
    if out is None:
        print(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    held = label("privacy.nothing_held", lang) if doc["rows"] == 0 \
        else label("privacy.rows_held", lang, rows=f"{doc['rows']:,}")
    console.print(label("privacy.wrote", lang, customer=customer_id, out=out, held=held),
                  highlight=False)


@privacy_app.command("erase")
@friendly
def privacy_erase(
    customer_id: CustomerId,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: erasure cannot be undone.")] = False,
    database: Database = STORE_URL,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Erase one person everywhere: their id becomes a random token (the same in every table,
    so revenue and order counts still add up), their attributes and free text are nulled,
    profile and identity links deleted, consents withdrawn. Irreversible; audited (the record
    names the token, never the id). Running it again says "nothing held".

    Example: upmarket privacy erase C000123 --yes
    """
    from upmarket.activation.erasure import erase_person

    if not yes:
        raise UpmarketError(label("privacy.confirm", lang, customer=customer_id))
    with _opened(database, warehouse) as (store, wh):
        rep = erase_person(wh, store, customer_id)
    if as_json:
        print(json.dumps(rep.to_dict()))
        return
    listed = label("privacy.listed", lang, n=rep.listed) if rep.listed else ""
    if rep.nothing_held:
        console.print(label("privacy.nothing_to_erase", lang, customer=customer_id,
                            listed=listed), highlight=False)
        return
    rows = sum(rep.warehouse.values()) + sum(rep.opstore.values()) + rep.quarantine
    console.print(label("privacy.erased", lang, customer=customer_id, rows=f"{rows:,}",
                        token=rep.token, deleted=sum(rep.deleted.values()), listed=listed),
                  highlight=False)
    zh = current_lang(lang) == "zh-CN"

    def table_name(name: str) -> str:
        # in Chinese a table by its name in words, a run's output ("results__<run>") by what
        # it holds; a table without such a name by its own
        base = name.split("__")[0]
        return label(f"report.table.{base}", lang) \
            if zh and f"report.table.{base}" in LABELS else name

    t = Table(label("privacy.where", lang), label("table", lang), label("rows", lang))
    for where, found in (("warehouse", rep.warehouse), ("opstore", rep.opstore),
                         ("opstore_deleted", rep.deleted)):
        for name, n in sorted(found.items()):
            t.add_row(label(f"privacy.{where}", lang), table_name(name), f"{n:,}")
    if rep.quarantine:
        t.add_row(label("privacy.warehouse", lang), label("privacy.quarantine_blanked", lang),
                  f"{rep.quarantine:,}")
    console.print(t)
    for problem in rep.not_compacted:
        err.print(label("privacy.not_compacted", lang, problem=problem.localised(lang)),
                  highlight=False)


@privacy_app.command("compact")
@friendly
def privacy_compact(
    database: Database = STORE_URL,
    warehouse: Warehouse = DEFAULT_URL,
    lang: Lang = "en",
):
    """Rewrite the warehouse file and the operational store so that erased or deleted values
    are gone from their bytes, not only from their tables. `privacy erase` does this itself;
    run it when erase said another process held a file. Nothing else may have the warehouse
    open meanwhile (stop `upmarket serve` and runs first).

    Example: upmarket privacy compact
    """
    from upmarket.activation.erasure import compact_after, op_tables

    with _opened(database, warehouse) as (store, wh):
        problems = compact_after(wh, store, [t.name for t in op_tables(store)])
    if problems:
        raise UpmarketError("err.compact.problems", problems=Joined("; ", problems))
    console.print(label("privacy.compacted", lang, warehouse=warehouse, database=database),
                  highlight=False)


@privacy_app.command("purge")
@friendly
def privacy_purge(
    older_than_days: Annotated[int | None, typer.Option(
        "--older-than-days", help="Delete raw events older than this many days (default: "
        "UPMARKET_RETENTION_DAYS; nothing is purged when neither is set).",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count.")] = False,
    database: Database = STORE_URL,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Retention: delete raw events older than N days from the warehouse `events` table and
    from the service's inbox (only events already copied to the warehouse). Audited.

    Example: upmarket privacy purge --older-than-days 395 --dry-run
    """
    from upmarket.activation.erasure import purge_raw_events, retention_days

    if retention_days(older_than_days) is None:  # checked before opening anything
        raise UpmarketError(label("privacy.purge_needs_age", lang))
    with _opened(database, warehouse) as (store, wh):
        rep = purge_raw_events(wh, store, older_than_days, dry_run=dry_run)
    if as_json:
        print(json.dumps(rep.to_dict()))
        return
    console.print(label("privacy.purge_would" if dry_run else "privacy.purged", lang,
                        cutoff=f"{rep.cutoff:%Y-%m-%d %H:%M:%S}",
                        warehouse=f"{rep.warehouse_events:,}", inbox=f"{rep.inbox_events:,}"),
                  highlight=False)
    if rep.inbox_not_copied_kept:
        err.print(label("privacy.purge_kept", lang, n=f"{rep.inbox_not_copied_kept:,}"),
                  highlight=False)
