"""Commands about acting on customers: recommend, actions list|export."""

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.errors import UnknownCustomer, UpmarketError
from upmarket.data_labels import channel_name
from upmarket.i18n import current_lang, label, value_label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

actions_app = typer.Typer(
    help="Next best actions: one per customer, by expected value, consent-checked.",
    no_args_is_help=True)
app.add_typer(actions_app, name="actions")


def _outputs(warehouse: str, *names: str):
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import current_run, output

    wh = connect(warehouse, create=False)
    run = current_run(wh)
    try:
        tables = [output(wh, n, run["run_id"]) for n in names]
    except UpmarketError:
        raise UpmarketError("err.run_lacks_actions", run_id=run["run_id"]) from None
    return wh, run, tables


def _reason(row: dict, lang: str) -> str:
    return row["reason_zh"] if current_lang(lang) == "zh-CN" else row["reason_en"]


def _action_text(row: dict, lang: str) -> str:
    import pandas as pd
    text = value_label("action", row["action"], lang)
    if row.get("product_name") and not pd.isna(row["product_name"]):
        text += f": {row['product_name']}"
    if row.get("offer_type") and not pd.isna(row["offer_type"]):
        v = row["offer_value"]
        amount = f"{v:.0%}" if row["offer_type"] in ("time_limited", "percent_discount",
                                                      "bundle", "points") else f"{v:,.0f}"
        text += f" ({value_label('offer', row['offer_type'], lang)} {amount})"
    return text


def _when(row: dict, lang: str) -> str:
    if row["route"] == "none":
        return "—"
    where = f"{channel_name(row['channel'], lang)} {int(row['send_hour']):02d}:00"
    if row["route"] == "account_manager":
        due = label("unit.hours", lang, n=f"{row['due_hours']:.0f}")
        return f"{label('route.account_manager', lang)} · {where} · ≤ {due}"
    return f"{label('route.automated', lang)} · {where}"


@app.command()
@friendly
def recommend(
    customer_id: Annotated[str, typer.Argument(help="The customer's id as in your data.")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many products to list.")] = 10,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Products to offer one customer (upsell to premium first, then cross-sell) and their next
    best action with its reason.

    From the current run: the hybrid recommender (implicit ALS + item-to-item + content +
    popularity) never lists what the customer owns (unless consumable), cancelled or
    non-product lines.

    Example: upmarket recommend C000123 --n 5 --lang zh
    """
    import pandas as pd
    wh, run, (recs, actions) = _outputs(warehouse, "recommendations", "actions")
    mine = recs.filter(recs.customer_id == customer_id).order_by("rank").to_pandas()
    act = actions.filter(actions.customer_id == customer_id).to_pandas()
    if act.empty:
        raise UnknownCustomer("err.customer_without_recommendations", customer=customer_id,
                              run_id=run["run_id"], as_of=f"{run['as_of']:%Y-%m-%d}")
    kept = int(recs["rank"].max().execute() or 0)
    if n > kept:
        raise UpmarketError("err.too_many_recommendations", kept=kept)
    mine = mine.head(n)
    names = wh.table("products").select("sku", "name").to_pandas().set_index("sku")["name"]
    mine["name"] = mine["sku"].map(names)
    row = act.iloc[0].to_dict()
    if as_json:
        clean = lambda v: None if isinstance(v, float) and pd.isna(v) else v  # noqa: E731
        print(json.dumps({
            "run_id": run["run_id"], "customer_id": customer_id,
            "next_best_action": {k: clean(v) for k, v in row.items()},
            "recommendations": [{k: clean(v) for k, v in r.items()}
                                for r in mine.drop(columns=["run_id"], errors="ignore")
                                .to_dict("records")],
        }, ensure_ascii=False, default=str))
        return
    console.print(f"[bold]{label('col.action', lang)}:[/] {_action_text(row, lang)}")
    console.print(f"  {_reason(row, lang)}", highlight=False)
    console.print(f"  {_when(row, lang)}", highlight=False)
    t = Table(title=f"{label('field.customer_id', lang)} {customer_id}", title_justify="left")
    for key in ("rank", "col.product", "col.kind", "col.price_tier", "col.score"):
        t.add_column(label(key, lang) if "." in key else "#",
                     justify="right" if key in ("rank", "col.score") else "left")
    for r in mine.itertuples():
        tier = value_label("price", r.price_tier, lang) if isinstance(r.price_tier, str) else "—"
        t.add_row(str(r.rank), f"{r.name if isinstance(r.name, str) else r.sku} ({r.sku})",
                  label(f"rec.{r.kind}", lang), tier, f"{r.score:.2f}")
    console.print(t)


Tiers = Annotated[list[str] | None, typer.Option(
    "--tier", help="Only this tier (repeatable): diamond, core, potential, basic.")]
Kinds = Annotated[list[str] | None, typer.Option(
    "--action", help="Only this action (repeatable): upsell, cross_sell, bundle, "
    "retention_offer, win_back, onboarding, referral_ask, nurture.")]


def _check_filters(tiers, kinds):
    from upmarket.strategy.nba import ACTIONS
    from upmarket.strategy.tiers import TIER_ORDER

    bad = [t for t in tiers or () if t not in TIER_ORDER]
    if bad:
        raise UpmarketError("err.unknown_tier", value=bad[0], choices=", ".join(TIER_ORDER))
    bad = [a for a in kinds or () if a not in ACTIONS[:-1]]
    if bad:
        raise UpmarketError("err.unknown_action", value=bad[0], choices=", ".join(ACTIONS[:-1]))


@actions_app.command("list")
@friendly
def actions_list(
    tier: Tiers = None,
    action: Kinds = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """How many customers get each action, its total expected value and how it is delivered."""
    _check_filters(tier, action)
    _, run, (actions,) = _outputs(warehouse, "actions")
    a = actions.to_pandas()
    if tier:
        a = a[a["tier"].isin(tier)]
    if action:
        a = a[a["action"].isin(action)]
    g = a.groupby(["action", "route"], dropna=False).agg(
        customers=("customer_id", "size"), expected_value=("expected_value", "sum"),
        probability=("probability", "mean")).reset_index().sort_values(
        "expected_value", ascending=False)
    if as_json:
        print(json.dumps({"run_id": run["run_id"], "actions": json.loads(
            g.to_json(orient="records"))}, ensure_ascii=False))
        return
    t = Table(title=f"{label('col.action', lang)} · {label('run_label', lang, run_id=run['run_id'])}",
              title_justify="left")
    for key, right in (("col.action", False), ("col.route", False), ("customers", True),
                       ("col.expected_value", True)):
        t.add_column(label(key, lang) if key != "customers" else "#", justify="right" if right
                     else "left")
    for r in g.itertuples():
        t.add_row(value_label("action", r.action, lang), label(f"route.{r.route}", lang),
                  f"{r.customers:,}", f"{r.expected_value:,.0f}")
    console.print(t)
    console.print(label("actions.export_hint", lang), highlight=False)


@actions_app.command("export")
@friendly
def actions_export(
    format: Annotated[str, typer.Option("--format", help="csv or xlsx.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="File to write (default actions.FORMAT).")] = None,
    tier: Tiers = None,
    action: Kinds = None,
    with_pii: Annotated[bool, typer.Option(
        "--with-pii", help="Real customer ids plus name, email and phone instead of "
        "pseudonyms. Only for people allowed to see personal data; every export is audited.")
    ] = False,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
):
    """Write the next best actions to CSV or Excel for a campaign tool or account managers.

    Only actions to customers whose consent for the action's channel is in force now are
    written (a consent withdrawn after the run is respected); the others are counted. Customer
    ids are pseudonymised (HMAC-SHA256 with the warehouse's key or UPMARKET_PSEUDONYM_KEY)
    unless --with-pii. No cell is a formula a spreadsheet would run (text starting with = + -
    @ gets a leading quote). Each export is recorded in the audit log.

    Example: upmarket actions export --tier diamond --tier core --action upsell --format xlsx
    """
    from upmarket.activation.exports import FORMATS, export_actions, select_actions

    if format not in FORMATS:
        raise UpmarketError("err.option_choice", option="--format",
                            choices=", ".join(FORMATS), value=format)
    _check_filters(tier, action)
    wh, run, (actions,) = _outputs(warehouse, "actions")
    chosen = select_actions(actions.to_pandas(), tiers=tier or (), kinds=action or ())
    rep = export_actions(wh, chosen, out or Path(f"actions.{format}"), fmt=format,
                         run_id=run["run_id"], with_pii=with_pii)
    if as_json:
        print(json.dumps({"path": str(rep.path), "rows": rep.rows,
                          "dropped_no_consent": rep.dropped_no_consent,
                          "pseudonymised": rep.pseudonymised, "run_id": rep.run_id}))
        return
    ids = "real customer ids and contact details" if with_pii else "pseudonymised ids"
    console.print(f"wrote {rep.rows:,} actions to {rep.path} ({ids}); "
                  f"{rep.dropped_no_consent:,} left out for lack of consent on their channel",
                  highlight=False)


@actions_app.command("impact")
@friendly
def actions_impact(
    as_of: Annotated[datetime | None, typer.Option(
        "--as-of", formats=["%Y-%m-%d"],
        help="Measure the decisions whose window ended by this date (default: the day after "
             "the latest order).")] = None,
    window_days: Annotated[int, typer.Option(
        "--window-days", min=1, help="Days after each decision its outcome is counted over.")] = 30,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """What each action changed: treated against its held-out control group, per action type
    and tier, with 95 % intervals (difference of means adjusted by pre-decision behaviour,
    CUPED; Welch's standard error)."""
    from upmarket.pipeline import default_as_of
    from upmarket.strategy import action_impact
    from upmarket.warehouse import connect

    wh = connect(warehouse, create=False)
    when = as_of or default_as_of(wh)
    found = action_impact.measure(wh, when, action_impact.ImpactSettings(window_days=window_days))
    if as_json:
        print(json.dumps({"as_of": f"{when:%Y-%m-%d}", "window_days": window_days,
                          "method": "difference of means, treated − held out, CUPED-adjusted "
                                    "by pre-decision conversion, revenue and orders (Deng et "
                                    "al. 2013); 95% normal interval with Welch's standard "
                                    "error; tiers with few held out pooled in 'all'",
                          "effects": json.loads(found.to_json(orient="records"))},
                         ensure_ascii=False))
        return
    if found.empty:
        console.print(label("impact.none", lang, days=window_days, as_of=f"{when:%Y-%m-%d}"),
                      highlight=False)
        return
    t = Table(title=label("impact.title", lang, days=window_days, as_of=f"{when:%Y-%m-%d}"),
              title_justify="left")
    for key in ("col.action", "col.tier", "impact.n", "impact.conversion", "impact.revenue",
                "impact.margin"):
        t.add_column(label(key, lang), justify="left" if key in ("col.action", "col.tier")
                     else "right")
    for r in found.to_dict("records"):
        t.add_row(value_label("action", r["action"], lang),
                  label("impact.all_tiers", lang) if r["tier"] == "all"
                  else value_label("tier", r["tier"], lang),
                  f"{r['n_treated']:,}/{r['n_held_out']:,}",
                  _interval(r, "conversion", 100, "pt"), _interval(r, "revenue", 1, ""),
                  _interval(r, "margin", 1, ""))
    console.print(t)
    for line in _adjustment_lines(found, lang):
        console.print(line, highlight=False)
    console.print(label("impact.method", lang), highlight=False)


def _adjustment_lines(found, lang: str) -> list[str]:
    """How much of each action's conversion variance its pre-decision covariates removed, and
    which tiers were pooled for having too few held out."""
    import math

    sep = "、" if lang == "zh-CN" else ", "
    rows = found[found["tier"] == "all"].to_dict("records")
    shares = [label("impact.reduction_item", lang, action=value_label("action", r["action"], lang),
                    share=r["conversion_variance_reduction"]) for r in rows
              if math.isfinite(r.get("conversion_variance_reduction", float("nan")))]
    left, right = ("（", "）") if lang == "zh-CN" else (" (", ")")
    pooled = [value_label("action", r["action"], lang) + left
              + sep.join(value_label("tier", t, lang) for t in r["pooled"].split(",")) + right
              for r in rows if r.get("pooled")]
    out = [label("impact.reduction", lang, items=sep.join(shares))] if shares else []
    if pooled:
        out.append(label("impact.pooled", lang, items=sep.join(pooled)))
    return out


def _interval(r: dict, metric: str, scale: float, unit: str) -> str:
    import math

    d, lo, hi = (r[f"{metric}_{k}"] for k in ("difference", "low", "high"))
    if d is None or not math.isfinite(d):
        return "—"
    digits = 1 if unit else 0
    return f"{scale * d:+,.{digits}f}{unit} [{scale * lo:+,.{digits}f}, {scale * hi:+,.{digits}f}]"
