"""Commands of the service: serve, keys create|list|revoke, collect sync."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, err, friendly
from upmarket.locations import STORE_ENV, STORE_URL
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

keys_app = typer.Typer(help="API keys of the service: create (shown once), list, revoke.",
                       no_args_is_help=True)
collect_app = typer.Typer(help="Collected events and consents: copy them into the warehouse.",
                          no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(collect_app, name="collect")

Database = Annotated[str, typer.Option(
    "--database", envvar=STORE_ENV, show_default=True,
    help="Operational database: sqlite:///path.sqlite (default) or postgresql://user@host/db.")]


@app.command("serve")
@friendly
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    database: Database = STORE_URL,
    warehouse: Warehouse = DEFAULT_URL,
    rate: Annotated[float, typer.Option(help="Requests per second per API key.", min=0.001)] = 200.0,
    burst: Annotated[int, typer.Option(help="Requests a key may send at once.", min=1)] = 400,
    max_body: Annotated[int, typer.Option(help="Largest request body in bytes (also after gzip).",
                                          min=1024)] = 512 * 1024,
    rules: Annotated[Path | None, typer.Option(
        "--rules", envvar="UPMARKET_RULES", show_default=False,
        help="Automation rules file whose on: event rules are checked as events arrive "
        "(default: the shipped rules).")] = None,
    trust_proxy: Annotated[bool, typer.Option(
        "--trust-proxy", envvar="UPMARKET_TRUST_PROXY", show_default=False,
        help="A TLS-terminating proxy stands in front: believe its X-Forwarded-Proto, "
        "X-Forwarded-Host and X-Forwarded-For (HTTPS sign-in cookies are then Secure, the "
        "dashboard's origin check uses the address users type). Only when the service is "
        "reachable through the proxy alone.")] = False,
    secure_cookies: Annotated[bool, typer.Option(
        "--secure-cookies", envvar="UPMARKET_SECURE_COOKIES", show_default=False,
        help="Always mark the dashboard's cookies Secure (browsers then send them over HTTPS "
        "only), e.g. behind a proxy that sends no X-Forwarded-Proto.")] = False,
    workers: Annotated[int, typer.Option(
        "--workers", envvar="UPMARKET_WORKERS", min=1, max=64,
        help="Worker processes answering on the one port (about one per core). They share "
        "the operational store: keys, dashboard sign-ins, consents, events and the audit log "
        "hold across them. Per worker: the rate limits (each enforces its share of --rate and "
        "--burst, so a client on one connection gets rate/N) and the in-memory caches of "
        "warehouse reads.")] = 1,
):
    """Collect events (Segment-compatible /v1/track, /v1/identify, /v1/page, /v1/batch) and
    consents (/v1/consents), answer profile look-ups (/v1/customers/ID, /v1/segments,
    /v1/kpis), and show the dashboard (/dashboard).

    Every route but /healthz needs an API key: make one with `upmarket keys create`; the
    dashboard asks for one once (scope read, or export to see ids in the clear). Rules with
    `on: event` are checked as events arrive (--rules). Behind an HTTPS proxy, add
    --trust-proxy (or --secure-cookies). The OpenAPI document is at /openapi.json, interactive docs at /docs.

    With --workers N, N processes answer on the same port over the same operational store
    (SQLite in WAL mode or PostgreSQL): sign-ins, keys and revocations hold in every worker.
    """
    import uvicorn

    from upmarket.service.app import create_app
    from upmarket.service.origin import WebSettings

    if workers > 1:
        import os

        from upmarket.activation.rules import load_rules
        from upmarket.opstore.store import open_store
        from upmarket.service.workers import WORKER_ENV, worker_settings

        # once here, not in N workers at the same moment: a bad rules file is told once, and
        # the store's tables are made before the workers open it together
        load_rules(rules)
        open_store(database).close()
        os.environ[WORKER_ENV] = worker_settings(
            database=database, warehouse=warehouse, max_body=max_body, rate=rate, burst=burst,
            rules=str(rules) if rules else None, workers=workers, trust_proxy=trust_proxy,
            secure_cookies=secure_cookies)
        err.print(f"upmarket serving on http://{host}:{port} with {workers} workers "
                  f"(store {database}, warehouse {warehouse})")
        uvicorn.run("upmarket.service.workers:worker_app", factory=True, workers=workers,
                    host=host, port=port, log_level="info", proxy_headers=trust_proxy,
                    forwarded_allow_ips="*" if trust_proxy else None)
        return
    application = create_app(database, warehouse, max_body=max_body, rate=rate, burst=burst,
                             rules=rules)
    application.state.web = WebSettings(trust_proxy=trust_proxy, secure_cookies=secure_cookies)
    err.print(f"upmarket serving on http://{host}:{port} (store {database}, warehouse {warehouse})")
    # uvicorn by default believes X-Forwarded-* from 127.0.0.1: a local client could then
    # pose as HTTPS or as another address; only --trust-proxy turns them on, from any peer
    uvicorn.run(application, host=host, port=port, log_level="info", proxy_headers=trust_proxy,
                forwarded_allow_ips="*" if trust_proxy else None)


@keys_app.command("create")
@friendly
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key, e.g. web-tracker.")],
    scope: Annotated[list[str], typer.Option(
        "--scope", help="collect (write events only), read, export, admin; repeat for several.")],
    database: Database = STORE_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Create an API key. The key is printed once and only its hash is kept: store it now."""
    from upmarket.opstore.store import create_key, open_store

    store = open_store(database)
    try:
        record, key = create_key(store, name, scope)
    finally:
        store.close()
    if as_json:
        print(json.dumps({"id": record.id, "name": record.name, "prefix": record.prefix,
                          "scopes": sorted(record.scopes), "key": key}))
        return
    from upmarket.i18n import current_lang, label, value_label

    scopes = ("、" if current_lang(lang) == "zh-CN" else ", ").join(
        value_label("scope", s, lang) for s in sorted(record.scopes))
    console.print(label("key.made", lang, id=record.id, name=record.name, scopes=scopes),
                  highlight=False)
    print(key)
    err.print(label("key.shown_once", lang))


@keys_app.command("list")
@friendly
def keys_list(database: Database = STORE_URL, as_json: AsJson = False, lang: Lang = "en"):
    """The keys with their scopes and whether they are revoked (never the keys themselves)."""
    from upmarket.opstore.store import list_keys, open_store

    store = open_store(database, existing=True)
    try:
        found = list_keys(store)
    finally:
        store.close()
    rows = [{"id": k.id, "name": k.name, "prefix": k.prefix, "scopes": sorted(k.scopes),
             "created": k.created.isoformat(), "revoked": k.revoked.isoformat() if k.revoked
             else None} for k in found]
    if as_json:
        print(json.dumps({"keys": rows}))
        return
    from upmarket.i18n import label, value_label

    t = Table(*(label(f"key.{k}", lang) for k in ("id", "name", "prefix", "scopes", "created",
                                                  "revoked")))
    for k in found:
        t.add_row(str(k.id), k.name, f"um_{k.prefix}_…",
                  " ".join(value_label("scope", s, lang) for s in sorted(k.scopes)),
                  f"{k.created:%Y-%m-%d %H:%M}", f"{k.revoked:%Y-%m-%d %H:%M}" if k.revoked
                  else "—")
    console.print(t)


@keys_app.command("revoke")
@friendly
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see upmarket keys list).")],
    database: Database = STORE_URL,
    as_json: AsJson = False,
):
    """Revoke a key: the next request with it is refused."""
    from upmarket.opstore.store import open_store, revoke_key

    store = open_store(database, existing=True)
    try:
        record = revoke_key(store, key_id)
    finally:
        store.close()
    if as_json:
        print(json.dumps({"id": record.id, "revoked": record.revoked.isoformat()}))
        return
    console.print(f"key {record.id} ({record.name}) revoked at {record.revoked:%Y-%m-%d %H:%M:%S} UTC")


@collect_app.command("sync")
@friendly
def collect_sync(database: Database = STORE_URL, warehouse: Warehouse = DEFAULT_URL,
                 as_json: AsJson = False):
    """Copy collected events and consents not yet copied into the warehouse (validated and
    deduplicated like any ingestion; safe to repeat). Users first seen in an identify call
    become customers, with the reserved traits they sent (name, email, phone, …); customers
    the warehouse already holds are left as they are. Every `upmarket run` does this first."""
    from upmarket.opstore.consents import copy_consents_to_warehouse
    from upmarket.opstore.store import copy_events_to_warehouse, open_store
    from upmarket.warehouse import connect

    store = open_store(database)
    wh = connect(warehouse)
    try:
        reports = copy_events_to_warehouse(store, wh) + copy_consents_to_warehouse(store, wh)
    finally:
        wh.close()
        store.close()
    totals = {t: {k: sum(getattr(r, k) for r in reports if r.table == t)
                  for k in ("rows_read", "accepted", "quarantined", "duplicates_skipped",
                            "suppressed")}
              for t in ("events", "customers", "consents")}
    if as_json:
        print(json.dumps(totals))
        return
    e, c, k = totals["events"], totals["customers"], totals["consents"]
    console.print(f"events copied: {e['rows_read']} read, {e['accepted']} new, "
                  f"{e['quarantined']} quarantined, {e['duplicates_skipped']} already held"
                  + (f", {e['suppressed']} suppressed (erased people)" if e["suppressed"] else ""))
    console.print(f"customers from identify calls: {c['accepted']} new, "
                  f"{c['duplicates_skipped']} already known, {c['quarantined']} quarantined")
    console.print(f"consents copied: {k['accepted']} new, {k['duplicates_skipped']} already "
                  f"held, {k['quarantined']} quarantined")
