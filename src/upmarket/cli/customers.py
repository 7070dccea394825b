"""Commands about customers and segments: customers show, segments list|create|export|delete,
whatif, holdout."""

import json
import re
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.cli.service import Database
from upmarket.errors import Codes, Msg, UnknownCustomer, UnknownSegment, UpmarketError
from upmarket.currency import money
from upmarket.data_labels import channel_name
from upmarket.i18n import LABELS, LANGS, current_lang, label, value_label
from upmarket.locations import STORE_URL
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

customers_app = typer.Typer(help="Everything known about one customer.", no_args_is_help=True)
segments_app = typer.Typer(help="Customer groups: list them, build and save your own from "
                           "conditions, export their members.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")
app.add_typer(segments_app, name="segments")

#: Grouping columns of the run's results, and how their values are labelled.
GROUPINGS = {"rfm": ("rfm_segment", "segment"), "tier": ("tier", "tier"),
             "lifecycle": ("lifecycle_stage", "stage"), "cluster": ("cluster", "cluster"),
             "churn-band": ("churn_band", "band")}
By = Annotated[str, typer.Option("--by", help="Group by: rfm, tier, lifecycle, cluster, churn-band.")]
#: `--by saved`: the segments saved with `segments create`.
SAVED = "saved"
ExportBy = Annotated[str | None, typer.Option(
    "--by", help="Group by: rfm (default), tier, lifecycle, cluster, churn-band, or saved (a "
    "segment made with segments create; the default when NAME is one).")]


def _results(warehouse: str):
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import current_run, output

    wh = connect(warehouse, create=False)
    run = current_run(wh)
    return wh, run, output(wh, "results", run["run_id"])


def _grouping(by: str) -> tuple[str, str]:
    try:
        return GROUPINGS[by]
    except KeyError:
        raise UpmarketError("err.option_choice", option="--by",
                            choices=", ".join(GROUPINGS), value=by) from None


SHOW_SECTIONS = {
    "value": ("tier", "service", "response_hours", "tier_change", "tier_value", "current_value",
              "clv", "distance_to_next_tier", "p_alive", "expected_purchases_12m",
              "expected_order_value"),
    "behaviour": ("rfm_segment", "rfm_cell", "lifecycle_stage", "cluster", "orders", "net_revenue",
                  "first_purchase", "last_purchase", "recency_days", "discount_share",
                  "premium_share", "latest_nps"),
    "upsell": ("premium_propensity", "current_tier", "peer_upgrade_rate"),
    "risk": ("churn_risk", "churn_band", "churn_signals"),
    "profile": ("country", "region", "acquisition_channel", "created_at"),
}
MONEY = ("tier_value", "current_value", "clv", "distance_to_next_tier", "expected_order_value",
         "net_revenue", "trailing_revenue_12m", "growth_potential")
CODED = {"tier": "tier", "rfm_segment": "segment", "lifecycle_stage": "stage", "cluster": "cluster",
         "churn_band": "band", "tier_change": "change", "current_tier": "price"}


def _display(field: str, value, lang: str) -> str:
    import pandas as pd
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "—"
    if field in CODED:
        return value_label(CODED[field], str(value), lang)
    if field == "churn_signals":  # the words in the chosen language, see `show`
        return str(value).strip() or "—"
    if field in ("churn_risk", "p_alive", "discount_share", "premium_share", "premium_propensity",
                 "peer_upgrade_rate"):
        return f"{float(value):.0%}"
    if field in MONEY:
        return money(value, lang)
    if field in ("recency_days", "tenure_days", "response_hours"):  # whole days and hours
        return f"{float(value):,.0f}"
    if field == "acquisition_channel":
        return channel_name(value, lang)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    return str(value)


def _region_name(wh, customer_id: str, lang: str) -> str | None:
    """The customer's region by name (`data_labels`), shown only where the data hold a region
    or name the country as one; a bare country is already on the card."""
    from upmarket.data_labels import DataLabels

    c = wh.table("customers")
    if "region" not in c.columns:
        return None
    got = c.filter(c.customer_id == customer_id).select("region", "country").to_pandas()
    if got.empty:
        return None
    region, country = got.iloc[0]["region"], got.iloc[0]["country"]
    code = region if isinstance(region, str) and region else country
    if not isinstance(code, str) or not code:
        return None
    name = DataLabels.load(wh).name("region", code, lang)
    return name if (code == region or name != code) else None


@customers_app.command("show")
@friendly
def show(
    customer_id: Annotated[str, typer.Argument(help="The customer's id as in your data.")],
    with_pii: Annotated[bool, typer.Option(
        "--with-pii", help="Also show name, e-mail, phone and the text of tickets and "
        "feedback. Only for people allowed to see personal data; recorded in the audit log.")
    ] = False,
    timeline: Annotated[int, typer.Option(
        "--timeline", min=0, max=500, help="Timeline entries to list, newest first (older "
        "ones are counted).")] = 20,
    warehouse: Warehouse = DEFAULT_URL,
    database: Database = STORE_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Everything known about one customer (customer-360), from the current run.

    Tier and service level, lifetime value with its 80 % interval, RFM segment, lifecycle
    stage, churn risk and the signals behind it, premium propensity, recommended products, the
    next best action and why, consents per purpose and channel, open and past tasks, and one
    timeline of orders, events, tickets, feedback, consents and actions. Tasks and events or
    consents not yet copied come from the operational store (--database) when there is one.
    Labels in English or Chinese (--lang zh).
    """
    import pandas as pd
    from upmarket.service.customer_view import customer_view
    from upmarket.strategy.tiers import TierPolicy

    wh, run, res = _results(warehouse)
    rows = res.filter(res.customer_id == customer_id).to_pandas()
    if rows.empty:
        raise UnknownCustomer("err.unknown_customer", customer=customer_id, run_id=run["run_id"],
                              as_of=f"{run['as_of']:%Y-%m-%d}")
    row = rows.iloc[0].to_dict()
    c = wh.table("customers")
    profile = c.filter(c.customer_id == customer_id).select(
        "country", "acquisition_channel", "created_at").to_pandas()
    if not profile.empty:
        row.update(profile.iloc[0].to_dict())
    region = _region_name(wh, customer_id, lang)
    if region is not None:
        row["region"] = region
    level = TierPolicy().level(row["tier"])
    row["service"] = f"{label(level.service, lang)} · {label(level.resource, lang)}"
    # a missing P(alive) is the value model's verdict on the whole run, not a gap in this
    # customer's data: say why instead of showing a blank
    fitted = run["counts"].get("value_model", {})
    p_alive_note = None
    if "p_alive" in row and pd.isna(row["p_alive"]):
        p_alive_note = fitted.get("p_alive_reason", "unknown")
        if f"p_alive_missing.{p_alive_note}" not in LABELS:
            p_alive_note = "unknown"
    store = _store(database)
    try:
        view = customer_view(wh, store, customer_id, lang=lang, pii=with_pii,
                             at=_now(), timeline_rows=timeline)
        if with_pii:
            from upmarket.activation import privacy

            privacy.audit(wh, "export_customer", customer_id, store=store, source="cli")
    finally:
        if store is not None:
            store.close()
    if as_json:
        if p_alive_note:
            row["p_alive_missing"] = p_alive_note
        flat = {k: (None if pd.isna(v) else v) if not isinstance(v, (list, dict)) else v
                for k, v in row.items()}
        print(json.dumps({"run_id": run["run_id"], **flat, **_sections_json(view)},
                         default=str, ensure_ascii=False))
        return
    title = f"{label('field.customer_id', lang)} {customer_id}"
    t = Table(title=title, title_justify="left", show_header=False)
    # fold, not ellipsis: a reason such as why P(alive) is missing must be read whole at 80
    # columns, and Chinese has no spaces to wrap at
    t.add_column(style="bold", overflow="fold")
    t.add_column(overflow="fold")
    if "churn_signals" in row:
        from upmarket.models.churn import signal_text

        row["churn_signals"] = signal_text(row["churn_signals"], row.get("churn_signals_zh"), lang)
    interval = _interval_text(view["value"], lang)
    for fields in SHOW_SECTIONS.values():
        for f in fields:
            if f == "p_alive" and p_alive_note:
                t.add_row(label("field.p_alive", lang), label(f"p_alive_missing.{p_alive_note}", lang))
            elif f in row:
                t.add_row(label(f"field.{f}", lang), _display(f, row[f], lang))
            if f == "clv":
                t.add_row(label("customer.clv_interval", lang), interval)
            if f == "distance_to_next_tier" and "trailing_revenue_12m" in row:
                t.add_row(label("field.trailing_revenue_12m", lang),
                          _display("trailing_revenue_12m", row["trailing_revenue_12m"], lang))
        t.add_section()
    _identity_rows(t, view, lang)
    console.print(t)
    _print_sections(view, lang)


def _store(database: str):
    """The operational store when there is one; None rather than an empty new file."""
    from upmarket.opstore.store import StoreError, open_store

    try:
        return open_store(database, existing=True)
    except StoreError:
        return None


def _now() -> datetime:
    from upmarket.opstore.store import now_utc

    return now_utc()


def _interval_text(value: dict, lang: str) -> str:
    if value["clv_low"] is None:
        return label("customer.no_interval", lang) if value["clv_interval_missing"] else "—"
    return f"{value['clv_low']:,.0f} – {value['clv_high']:,.0f}"


def _sections_json(view: dict) -> dict:
    """The customer-360 sections `--json` adds beside the run's own columns (under names no
    results column uses)."""
    return {"identity": view["identity"], "pii": view["pii"],
            "clv_low": view["value"]["clv_low"], "clv_high": view["value"]["clv_high"],
            "clv_interval_level": view["value"]["clv_level"],
            "clv_interval_missing": view["value"]["clv_interval_missing"],
            "recommendations": view["recommendations"], "action": view["action"],
            "membership": view["membership"], "consents": view["consents"], "tasks": view["tasks"], "timeline": view["timeline"]}


def _identity_rows(t: Table, view: dict, lang: str) -> None:
    if view["identity"] is None:
        t.add_row(label("customer.contact", lang), label("customer.hidden_cli", lang))
        return
    for f in ("name", "email", "phone"):
        t.add_row(label(f"customer.{f}", lang), Text(view["identity"].get(f) or "—"))


def _when(ts, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return ts.strftime(fmt) if ts else "—"


def _print_membership(m: dict, lang: str) -> None:
    """Level, distance to the next level, points and the latest ledger entries."""
    if m["status"] != "member":
        key = "customer.membership.none" if m["status"] == "none" else "customer.membership.off"
        console.print(Text.assemble((label("customer.membership", lang), "bold"), ": ",
                                    label(key, lang)))
        return
    level = m["level_label"] + (f" ({m['change_label']})" if m.get("change_label") else "")
    console.print(Text.assemble((label("customer.membership", lang), "bold"), ": ", level))
    lines = [m.get("reason"), f"{label('customer.membership.next', lang)}: {m.get('distance')}",
             f"{label('customer.membership.balance', lang)}: {m['balance']:,}"]
    if m["expiring"]:
        lines.append(label("customer.membership.expiring", lang, points=f"{m['expiring']:,}",
                           date=_when(m["expiring_at"], "%Y-%m-%d")))
    if m["benefits"]:
        lines.append(f"{label('customer.membership.benefits', lang)}: "
                     + " · ".join(m["benefits"]))
    for line in lines:
        if line:
            console.print(f"  {line}", highlight=False, markup=False)
    if m["ledger"]:
        t = Table(label("members.col.when", lang), label("members.col.kind", lang),
                  label("customer.membership.points", lang), label("members.col.order", lang),
                  title=label("customer.membership.ledger", lang, shown=len(m["ledger"]),
                              total=m["ledger_total"]), title_justify="left")
        for e in m["ledger"]:
            t.add_row(_when(e["ts"], "%Y-%m-%d"), e["label"], f"{e['points']:+,}",
                      Text(str(e["order_id"] or "—")))
        console.print(t)


def _print_sections(view: dict, lang: str) -> None:
    """The customer-360 sections after the scores: action, recommendations, consents, tasks,
    timeline."""
    act = view["action"]
    if act:
        what = " · ".join(str(x) for x in (act["label"], act.get("product_name"),
                                           channel_name(act.get("channel"), lang)
                                           if act.get("channel") else None) if x)
        console.print(Text.assemble((label("dashboard.col.action", lang), "bold"), ": ", what))
        console.print(f"  {label('customer.reason', lang)}: {act.get('reason') or '—'}",
                      highlight=False, markup=False)
    _print_membership(view["membership"], lang)
    if view["recommendations"]:
        t = Table("#", label("customer.product", lang), label("customer.price_tier", lang),
                  label("customer.score", lang), title=label("customer.recommendations", lang),
                  title_justify="left")
        for r in view["recommendations"]:
            t.add_row(str(r.get("rank")), Text(str(r.get("product_name") or r.get("sku"))),
                      Text(value_label("price", str(r["price_tier"]), lang)
                           if r.get("price_tier") else "—"),
                      "—" if r.get("score") is None else f"{r['score']:.2f}")
        console.print(t)
    t = Table(label("customer.purpose", lang), label("dashboard.col.channel", lang),
              label("customer.consent_state", lang), label("customer.since", lang),
              title=label("customer.consents", lang), title_justify="left")
    for c in view["consents"]:
        t.add_row(Text(value_label("purpose", c["purpose"], lang)),
                  Text(channel_name(c["channel"], lang)), label("customer.granted" if c["granted"]
                                                    else "customer.withdrawn", lang),
                  _when(c["since"], "%Y-%m-%d"))
    console.print(t if view["consents"] else label("customer.no_consents", lang),
                  highlight=False)
    tasks = view["tasks"]
    t = Table("#", label("automation.col.title", lang), label("automation.col.status", lang),
              label("automation.col.due", lang), label("automation.col.assignee", lang),
              title=label("customer.tasks", lang, open=len(tasks["open"]), total=tasks["total"]),
              title_justify="left")
    for r in tasks["open"] + tasks["past"]:
        t.add_row(str(r["id"]), Text(r["title"]), value_label("task_status", str(r["status"]), lang),
                  _when(r["due"]), Text(r["assignee"] or "—"))
    console.print(t if tasks["total"] else label("automation.no_tasks", lang), highlight=False)
    line = view["timeline"]
    t = Table(label("customer.when", lang), label("customer.kind", lang),
              label("customer.what", lang), title=label("customer.timeline", lang),
              title_justify="left")
    t.columns[2].overflow = "fold"
    for i in line["items"]:
        what = i["what"] + (f"\n{i['text']}" if i.get("text") else "")
        # data, not markup: a product or a feedback text may hold square brackets
        t.add_row(_when(i["ts"]), value_label("timeline", i["kind"], lang), Text(what))
    console.print(t)
    if line["more"]:
        console.print(label("customer.timeline_more", lang, n=line["more"]), highlight=False)


@segments_app.command("list")
@friendly
def segments_list(
    by: By = "rfm",
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Size, revenue share, mean CLV and churn risk of each group, then the saved segments.

    Groups come from the current run; export one with `upmarket segments export NAME`.
    `--by saved` lists only the segments saved with `segments create`, each evaluated on
    the current run.
    """
    import ibis

    if by == SAVED:
        _saved_list(warehouse, as_json)
        return
    column, kind = _grouping(by)
    wh, run, res = _results(warehouse)
    g = res.group_by(column).aggregate(
        customers=res.count(), revenue=res.net_revenue.sum(), mean_clv=res.clv.mean(),
        mean_churn_risk=res.churn_risk.mean()).order_by(ibis.desc("customers"))
    df = g.to_pandas()
    df["revenue_share"] = df["revenue"] / (df["revenue"].sum() or 1.0)
    df["name"] = [value_label(kind, str(v), lang) for v in df[column]]
    if as_json:
        print(df.rename(columns={column: "code"}).to_json(orient="records", force_ascii=False))
        return
    # a Chinese reader exports a group by its Chinese name (`segments export` accepts both),
    # so the code column, English identifiers, is shown in English only
    zh = current_lang(lang) == "zh-CN"
    heads = [k for k in ("code", "name", "customers", "revenue_share", "mean_clv",
                         "mean_churn_risk") if not (zh and k == "code")]
    t = Table(*(label(f"segments.col.{k}", lang) for k in heads),
              title=label("segments.title", lang, by=label(f"segments.by.{by}", lang),
                          run_id=run["run_id"]), title_justify="left")
    for r in df.itertuples():
        cells = [str(getattr(r, column)), r.name, f"{r.customers:,}", f"{r.revenue_share:.1%}",
                 f"{r.mean_clv:,.0f}", f"{r.mean_churn_risk:.0%}"]
        t.add_row(*cells[1:] if zh else cells)
    console.print(t)
    _saved_table(wh, run)


def _saved_table(wh, run) -> None:
    from upmarket.strategy import saved_segments

    found = saved_segments.summary(wh, run=run)
    if not found:
        return
    t = Table("name", "customers", "revenue share", "condition", title="saved segments",
              title_justify="left")
    t.columns[3].overflow = "fold"
    for r in found:
        if r["error"]:
            t.add_row(r["name"], "—", "—", f"{r['condition']} ({r['error']})")
        else:
            t.add_row(r["name"], f"{r['customers']:,}", f"{r['revenue_share']:.1%}",
                      r["condition"])
    console.print(t)


def _saved_list(warehouse: str, as_json: bool) -> None:
    wh, run, _ = _results(warehouse)
    if as_json:
        from upmarket.strategy import saved_segments

        print(json.dumps(saved_segments.summary(wh, run=run), ensure_ascii=False))
        return
    _saved_table(wh, run)


@segments_app.command("create")
@friendly
def segments_create(
    name: Annotated[str, typer.Argument(help="The segment's name: lower-case letters, digits, "
                                        "_ or -.")],
    where: Annotated[str, typer.Option(
        "--where", help="Its condition, e.g. \"tier in ['diamond','core'] and city_tier = 1\"; "
        "see README (Segments) for the fields and operators.")],
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
):
    """Save a segment defined by a condition; shows its size and share of revenue.

    Fields: the run's results (tier, rfm_segment, lifecycle, cluster, churn_band, churn_risk,
    clv, propensity, probability_active, revenue, orders, recency_days) and the customer's attributes
    (city_tier, region, country, gender, income_band, occupation, channel, age, age_band,
    consent). Operators: and, or, not, = != < <= > >=, in [..], between .. and .., is null.
    Saving again under the same name replaces the condition. The segment is evaluated afresh
    on each run: use it in `segments export NAME`, in rules (`segment: NAME`) and in the
    service's /v1/segments/NAME/members.

    Example: upmarket segments create tier1_top --where "tier in ['diamond','core'] and city_tier = 1"
    """
    from upmarket.strategy import saved_segments
    from upmarket.warehouse import connect

    wh = connect(warehouse, create=False)
    found = saved_segments.save(wh, name, where)
    if as_json:
        print(json.dumps({"name": name, "condition": where.strip(), "run_id": found.run_id,
                          "customers": found.customers, "total_customers": found.total_customers,
                          "revenue": found.revenue, "revenue_share": found.revenue_share},
                         ensure_ascii=False))
        return
    console.print(f"saved segment [bold]{name}[/]: {found.customers:,} of "
                  f"{found.total_customers:,} customers, {found.revenue_share:.1%} of revenue "
                  f"(run {found.run_id})", highlight=False)


@segments_app.command("delete")
@friendly
def segments_delete(
    name: Annotated[str, typer.Argument(help="A saved segment's name.")],
    warehouse: Warehouse = DEFAULT_URL,
):
    """Delete a saved segment (its condition; no customer data is touched)."""
    from upmarket.strategy import saved_segments
    from upmarket.warehouse import connect

    saved_segments.delete(connect(warehouse, create=False), name)
    console.print(f"deleted saved segment [bold]{name}[/]", highlight=False)


EXPORT_COLUMNS = ("customer_id", "tier", "rfm_segment", "lifecycle_stage", "cluster", "clv",
                  "p_alive", "churn_risk", "churn_band", "churn_signals", "orders", "net_revenue",
                  "last_purchase", "response_hours", "distance_to_next_tier")


@segments_app.command("export")
@friendly
def segments_export(
    name: Annotated[str, typer.Argument(help="A group code from segments list (e.g. champions, "
                                        "diamond, lapsed, high) or a saved segment's name.")],
    by: ExportBy = None,
    format: Annotated[str, typer.Option("--format", help="csv, xlsx or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="File to write (default NAME.FORMAT).")] = None,
    channel: Annotated[str | None, typer.Option(
        help="Only customers consenting to marketing on this channel (default: any "
        "channel).")] = None,
    with_pii: Annotated[bool, typer.Option(
        "--with-pii", help="Real customer ids plus name, email and phone instead of "
        "pseudonyms. Only for people allowed to see personal data; every export is audited.")
    ] = False,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
):
    """Write the members of one group (tier, value, risk) to CSV, Excel or Parquet.

    Only customers whose marketing consent is in force now (on --channel, or on any channel)
    are written; the others are counted. Customer ids are pseudonymised as in `actions export`
    unless --with-pii, no cell is a formula a spreadsheet would run, and each export is
    recorded in the audit log.

    Example: upmarket segments export at_risk --format xlsx --channel email
    """
    import ibis

    from upmarket.activation import export_policy
    from upmarket.strategy import saved_segments

    if format not in ("csv", "xlsx", "parquet"):
        raise UpmarketError("err.option_choice", option="--format",
                            choices="csv, xlsx, parquet", value=format)
    wh, run, res = _results(warehouse)
    hint = ""
    if by is None:
        by = SAVED if saved_segments.is_saved(wh, name) else "rfm"
        hint = Msg("err.not_saved_either")
    if by == SAVED:
        chosen = saved_segments.members(wh, name, run=run).members
    else:
        column, kind = _grouping(by)
        known = set(res.select(column).distinct().to_pandas()[column].dropna())
        by_name = {value_label(kind, str(c), lg): c for c in known for lg in LANGS}
        name = by_name.get(name, name)  # the group's shown name, in either language, or its code
        if name not in known:
            raise UnknownSegment("err.unknown_group", by=by, name=name, hint=hint,
                                 groups=Codes(sorted(map(str, known)),
                                              partial(value_label, kind)))
        chosen = res.filter(res[column] == name)
    df = chosen.select(*EXPORT_COLUMNS).order_by(ibis.desc("clv")).to_pandas()
    gated = export_policy.gate(wh, df, with_pii=with_pii, channel=channel)
    path = out or Path(f"{name}.{format}")
    export_policy.write_export(wh, gated.frame, path, format, what="segment",
                               with_pii=with_pii, dropped_no_consent=gated.dropped_no_consent,
                               run_id=run["run_id"], segment=f"{by}.{name}", channel=channel)
    rows = len(gated.frame)
    if as_json:
        print(json.dumps({"path": str(path), "rows": rows,
                          "dropped_no_consent": gated.dropped_no_consent,
                          "pseudonymised": gated.pseudonymised, "run_id": run["run_id"]}))
    else:
        ids = "real customer ids and contact details" if with_pii else "pseudonymised ids"
        where = f"on {channel}" if channel else "on any channel"
        group = "saved segment" if by == SAVED else f"{by} group"
        console.print(f"wrote {rows:,} customers of {group} [bold]{name}[/] to {path} ({ids}); "
                      f"{gated.dropped_no_consent:,} left out for lack of marketing consent "
                      f"{where}", highlight=False)


def _percent(text: str, unit: str) -> float:
    """'+5pt' → 5.0 with unit 'pt'; '+10%' / '-10%' / '10' → ±10.0 with unit '%'."""
    m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*(%|pt|pts|points?)?\s*", text or "")
    if not m or (m.group(2) and (m.group(2) == "%") != (unit == "%")):
        example = "+5pt" if unit == "pt" else "+10%"
        raise UpmarketError("err.percent", value=text, example=example)
    return float(m.group(1))


@app.command()
@friendly
def whatif(
    retention: Annotated[str, typer.Option(help="Per-purchase retention change, e.g. +5pt.")] = "0pt",
    frequency: Annotated[str, typer.Option(help="Purchase frequency change, e.g. +10%.")] = "0%",
    order_value: Annotated[str, typer.Option("--order-value", help="Order value change, e.g. +5%.")] = "0%",
    cost_to_serve: Annotated[str, typer.Option("--cost-to-serve", help="Cost to serve change, e.g. -10%.")] = "0%",
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """CLV levers: total net lifetime value per tier under changed retention, frequency, …

    Computed from the current run's fitted models (BG/NBD + Gamma-Gamma) under the policy that
    run recorded, not from quoted rules of thumb.

    Example: upmarket whatif --retention +5pt --frequency +10% --order-value +5% --cost-to-serve -10%
    """
    import pandas as pd
    from upmarket.pipeline import snapshot
    from upmarket.policy.file import policy_of_run
    from upmarket.strategy.levers import Levers, what_if

    levers = Levers(_percent(retention, "pt"), _percent(frequency, "%"),
                    _percent(order_value, "%"), _percent(cost_to_serve, "%"))
    wh, run, res = _results(warehouse)
    settings = policy_of_run(run).settings()  # the tiers and horizons the run used
    frame, model = snapshot(wh, pd.Timestamp(run["as_of"]).to_pydatetime(), settings, clv=False)
    tiers = res.select("customer_id", "tier").to_pandas().set_index("customer_id")["tier"]
    table = what_if(frame, model, frame["customer_id"].map(tiers).fillna("basic"), levers,
                    settings.tiers)
    if as_json:
        print(json.dumps({"run_id": run["run_id"], "levers": vars(levers),
                          "tiers": table.to_dict("records")}, default=str))
        return
    t = Table(*(label(f"whatif.col.{k}", lang) for k in ("tier", "base", "scenario", "change",
                                                          "change_pct")),
              title=label("whatif.title", lang, run_id=run["run_id"],
                          months=settings.value.horizon_months), title_justify="left")
    for r in table.itertuples():
        name = value_label("tier", r.tier, lang) if r.tier != "total" \
            else label("whatif.total", lang)
        t.add_row(name, f"{r.base:,.0f}", f"{r.scenario:,.0f}", f"{r.change:+,.0f}",
                  "—" if pd.isna(r.change_pct) else f"{r.change_pct:+.1f}%")
    console.print(t)


HOLDOUT_MODELS = ("all", "bgnbd", "pnbd", "mbgnbd", "ml")


@app.command()
@friendly
def holdout(
    calibration_end: Annotated[datetime, typer.Option(
        "--calibration-end", formats=["%Y-%m-%d"],
        help="First day after the calibration period (e.g. 1997-10-01 for CDNOW's 39 weeks).")],
    holdout_end: Annotated[datetime | None, typer.Option(
        "--holdout-end", formats=["%Y-%m-%d"],
        help="First day after the holdout (default: the day after the latest order).")] = None,
    model: Annotated[str, typer.Option(
        "--model", help="Which value model to check: all, bgnbd, pnbd, mbgnbd or ml.")] = "all",
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Check the value models on your data: forecast vs actual purchases in a holdout period.

    Each model is fitted on the purchases before --calibration-end and forecasts the holdout
    (in weeks); you see the aggregate error, the per-customer error, how well each ranks the top
    holdout spenders beside past spend, the forecast by number of repeat purchases, and which
    model the checks choose.
    """
    from upmarket.models.value_choice import CANDIDATES, compare_value_models
    from upmarket.pipeline import default_as_of
    from upmarket.warehouse import connect

    if model not in HOLDOUT_MODELS:
        raise UpmarketError("err.option_choice", option="--model",
                            choices=", ".join(HOLDOUT_MODELS), value=model)
    wh = connect(warehouse, create=False)
    end = holdout_end or default_as_of(wh)
    if end <= calibration_end:
        raise UpmarketError("err.holdout_order")
    candidates = CANDIDATES if model == "all" else (model,)
    if as_json:
        cmp = compare_value_models(wh.table("orders"), calibration_end, end, candidates=candidates, n_boot=100)
    else:
        with console.status(label("holdout.working", lang)):
            cmp = compare_value_models(wh.table("orders"), calibration_end, end, candidates=candidates,
                                       n_boot=100)
    if as_json:
        print(json.dumps(_holdout_json(cmp, candidates, lang), default=str, ensure_ascii=False))
        return
    _holdout_print(cmp, candidates, calibration_end, end, lang)


def _model_name(name: str, lang: str) -> str:
    key = f"holdout.name.{name}" if name in ("bgnbd", "pnbd", "mbgnbd", "ml") else f"holdout.baseline.{name}"
    return label(key, lang)


#: The messages of a failed fit a reader meets on ordinary data (`models.ml_value`), so they
#: can be told in the reader's language; any other keeps the model's own words.
_FIT_MESSAGES = (
    (r"only (?P<n>\d+) customers? bought before the training cut-off (?P<cutoff>[\d-]+);.*",
     "holdout.fit.few_buyers"),
    (r"no purchases before (?P<day>[\d-]+) to learn from", "holdout.fit.no_history"),
)


def _reason_text(row, lang: str) -> str:
    """Why a model is not usable, in the user's language; a failed fit keeps its own message
    unless it is one of `_FIT_MESSAGES`."""
    import re

    if row["reason"] == "no_fit":
        note = row["note"].removeprefix("no fit: ")
        for pattern, key in _FIT_MESSAGES:
            found = re.fullmatch(pattern, note)
            if found:
                note = label(key, lang, **found.groupdict())
                break
        return label("holdout.reason.no_fit", lang) + label("holdout.fit.colon", lang) + note
    return label(f"holdout.reason.{row['reason']}", lang)


def _verdicts(cmp, candidates, lang: str) -> tuple[list[str], str]:
    """One sentence per model on its aggregate holdout error, and the overall verdict."""
    import pandas as pd
    out = []
    for name in candidates:
        r = cmp.table.loc[name]
        if "predicted" not in r or pd.isna(r.get("predicted")):
            out.append(label("holdout.degenerate", lang, model=_model_name(name, lang), note=_reason_text(r, lang)))
            continue
        pct = abs(r["error"]) * 100
        key = "holdout.close" if pct <= 5 else ("holdout.under" if r["error"] < 0 else "holdout.over")
        line = label(key, lang, model=_model_name(name, lang), pct=max(pct, 0.1) if key == "holdout.close" else pct,
                     predicted=r["predicted"], actual=r["actual"])
        if r["degenerate"]:
            line += " " + label("holdout.degenerate", lang, model=_model_name(name, lang), note=_reason_text(r, lang))
        out.append(line)
    if cmp.chosen is None:
        return out, label("holdout.none", lang)
    r = cmp.table.loc[cmp.chosen]
    overall = label("holdout.chosen", lang, model=_model_name(cmp.chosen, lang), mae=r["mae"]) + " " + label(
        "holdout.trust_ok" if abs(r["error"]) <= 0.05 else "holdout.trust_low", lang)
    return out, overall


def _num(v, fmt: str) -> str:
    import pandas as pd
    return "—" if v is None or pd.isna(v) else format(v, fmt)


def _holdout_json(cmp, candidates, lang: str) -> dict:
    import pandas as pd
    verdicts, overall = _verdicts(cmp, candidates, lang)
    t = cmp.table

    def rec(name):
        r = t.loc[name]
        keep = {k: (None if pd.isna(v) else v) for k, v in r.items() if not isinstance(v, str)}
        return {"model": name, **keep, "degenerate": bool(r["degenerate"]), "reason": r["reason"], "note": r["note"]}

    models = [{**rec(n), "verdict": v, "params": cmp.params.get(n)} for n, v in zip(candidates, verdicts)]
    return {"customers": cmp.n_customers, "holdout_weeks": cmp.holdout_weeks, "models": models,
            "baselines": [rec(n) for n in ("past_spend", "recency_weighted_spend")],
            "chosen": cmp.chosen, "ranking": list(cmp.ranking), "criterion": cmp.criterion,
            "verdict": overall, "differences": cmp.differences.to_dict("records"),
            "per_frequency": cmp.per_frequency.reset_index().to_dict("records"),
            "curve": cmp.curve.to_dict("records")}


def _holdout_print(cmp, candidates, calibration_end, end, lang: str) -> None:
    from upmarket.cli.tables import FittingConsole

    out = FittingConsole(width=80) if console.width > 80 else console
    out.print(label("holdout.title", lang, customers=cmp.n_customers, calibration_end=f"{calibration_end:%Y-%m-%d}",
                    weeks=cmp.holdout_weeks, holdout_end=f"{end:%Y-%m-%d}"))
    actual = cmp.table["actual"].dropna()
    t = Table(*(label(f"holdout.{k}", lang) for k in ("model", "predicted", "error", "mae", "spend_error", "top20")),
              title=label("holdout.purchases_title", lang, actual=actual.iloc[0] if len(actual) else 0.0),
              title_justify="left")
    t.columns[0].no_wrap = True
    for name in (*candidates, "past_spend", "recency_weighted_spend"):
        r = cmp.table.loc[name]
        t.add_row(_model_name(name, lang), _num(r.get("predicted"), ",.0f"), _num(r.get("error"), "+.1%"), _num(r.get("mae"), ".3f"), _num(r.get("spend_error"), "+.1%"),
                  _num(r.get("precision_top20"), ".1%"))
    out.print(t)
    pf = cmp.per_frequency
    models = [c for c in candidates if c in pf.columns]
    t = Table(label("holdout.frequency", lang), label("holdout.customers", lang), label("holdout.actual", lang),
              *(_model_name(m, lang) for m in models), title=label("holdout.frequency_title", lang),
              title_justify="left")
    for idx, r in pf.iterrows():
        t.add_row(label("holdout.all", lang) if idx == "all" else str(idx), f"{int(r['n_customers']):,}",
                  _num(r["actual"], ".3f"), *(_num(r[m], ".3f") for m in models))
    out.print(t)
    curve = cmp.curve
    if len(curve) > 1:
        btyd = [c for c in curve.columns if c not in ("week", "actual")]
        t = Table(label("holdout.week", lang), label("holdout.actual", lang), *(_model_name(m, lang) for m in btyd),
                  title=label("holdout.curve_title", lang), title_justify="left")
        for i in sorted({len(curve) // 4, len(curve) // 2, 3 * len(curve) // 4, len(curve) - 1}):
            r = curve.iloc[i]
            t.add_row(f"{r['week']:.0f}", f"{r['actual']:,.0f}", *(f"{r[m]:,.0f}" for m in btyd))
        out.print(t)
    verdicts, overall = _verdicts(cmp, candidates, lang)
    for v in verdicts:
        out.print(v, highlight=False)
    out.print(f"[bold]{overall}[/]", highlight=False)
