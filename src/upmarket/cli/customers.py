"""Commands about customers and segments: customers show, segments list|export, whatif,
holdout."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, friendly
from upmarket.errors import UnknownCustomer, UnknownSegment, UpmarketError
from upmarket.i18n import LABELS, label, value_label
from upmarket.warehouse.connection import DEFAULT_URL

customers_app = typer.Typer(help="Everything known about one customer.", no_args_is_help=True)
segments_app = typer.Typer(help="Customer groups: list them, export their members.",
                           no_args_is_help=True)
app.add_typer(customers_app, name="customers")
app.add_typer(segments_app, name="segments")

#: Grouping columns of the run's results, and how their values are labelled.
GROUPINGS = {"rfm": ("rfm_segment", "segment"), "tier": ("tier", "tier"),
             "lifecycle": ("lifecycle_stage", "stage"), "cluster": ("cluster", "cluster"),
             "churn-band": ("churn_band", "band")}
By = Annotated[str, typer.Option("--by", help="Group by: rfm, tier, lifecycle, cluster, churn-band.")]


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
        raise UpmarketError(f"--by must be one of {', '.join(GROUPINGS)}, not {by!r}") from None


SHOW_SECTIONS = {
    "value": ("tier", "service", "response_hours", "tier_change", "tier_value", "current_value",
              "clv", "distance_to_next_tier", "p_alive", "expected_purchases_12m",
              "expected_order_value"),
    "behaviour": ("rfm_segment", "rfm_cell", "lifecycle_stage", "cluster", "orders", "net_revenue",
                  "first_purchase", "last_purchase", "recency_days", "discount_share",
                  "premium_share", "latest_nps"),
    "upsell": ("premium_propensity", "current_tier", "peer_upgrade_rate"),
    "risk": ("churn_risk", "churn_band", "churn_signals"),
    "profile": ("country", "acquisition_channel", "created_at"),
}
CODED = {"tier": "tier", "rfm_segment": "segment", "lifecycle_stage": "stage", "cluster": "cluster",
         "churn_band": "band", "tier_change": "change", "current_tier": "price"}


def _display(field: str, value, lang: str) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return "—"
    if field in CODED:
        return value_label(CODED[field], str(value), lang)
    if field == "churn_signals":  # the words in the chosen language, see `show`
        return str(value).strip() or "—"
    if field in ("churn_risk", "p_alive", "discount_share", "premium_share", "premium_propensity",
                 "peer_upgrade_rate"):
        return f"{float(value):.0%}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    return str(value)


@customers_app.command("show")
@friendly
def show(
    customer_id: Annotated[str, typer.Argument(help="The customer's id as in your data.")],
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Everything known about one customer, from the current run.

    Tier and service level, lifetime value, RFM segment, lifecycle stage, churn risk and the
    signals behind it, profile. Labels in English or Chinese (--lang zh).
    """
    from upmarket.strategy.tiers import TierPolicy

    wh, run, res = _results(warehouse)
    rows = res.filter(res.customer_id == customer_id).to_pandas()
    if rows.empty:
        raise UnknownCustomer(
            f"customer {customer_id!r} is not in run {run['run_id']} (as of {run['as_of']:%Y-%m-%d}); "
            "only customers who bought before the run's as-of date have results")
    row = rows.iloc[0].to_dict()
    c = wh.table("customers")
    profile = c.filter(c.customer_id == customer_id).select(
        "country", "acquisition_channel", "created_at").to_pandas()
    if not profile.empty:
        row.update(profile.iloc[0].to_dict())
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
    if as_json:
        if p_alive_note:
            row["p_alive_missing"] = p_alive_note
        print(json.dumps({"run_id": run["run_id"], **{k: (None if pd.isna(v) else v)
                          if not isinstance(v, (list, dict)) else v for k, v in row.items()}},
                         default=str, ensure_ascii=False))
        return
    title = f"{label('field.customer_id', lang)} {customer_id}"
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    if "churn_signals" in row:
        from upmarket.models.churn import signal_text

        row["churn_signals"] = signal_text(row["churn_signals"], row.get("churn_signals_zh"), lang)
    for fields in SHOW_SECTIONS.values():
        for f in fields:
            if f == "p_alive" and p_alive_note:
                t.add_row(label("field.p_alive", lang), label(f"p_alive_missing.{p_alive_note}", lang))
            elif f in row:
                t.add_row(label(f"field.{f}", lang), _display(f, row[f], lang))
        t.add_section()
    console.print(t)


@segments_app.command("list")
@friendly
def segments_list(
    by: By = "rfm",
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Size, revenue share, mean CLV and churn risk of each group.

    Groups come from the current run; export one with `upmarket segments export NAME`.
    """
    import ibis

    column, kind = _grouping(by)
    _, run, res = _results(warehouse)
    g = res.group_by(column).aggregate(
        customers=res.count(), revenue=res.net_revenue.sum(), mean_clv=res.clv.mean(),
        mean_churn_risk=res.churn_risk.mean()).order_by(ibis.desc("customers"))
    df = g.to_pandas()
    df["revenue_share"] = df["revenue"] / (df["revenue"].sum() or 1.0)
    df["name"] = [value_label(kind, str(v), lang) for v in df[column]]
    if as_json:
        print(df.rename(columns={column: "code"}).to_json(orient="records", force_ascii=False))
        return
    t = Table("code", "name", "customers", "revenue share", "mean CLV", "mean churn risk",
              title=f"{by} groups, run {run['run_id']}", title_justify="left")
    for r in df.itertuples():
        t.add_row(str(getattr(r, column)), r.name, f"{r.customers:,}", f"{r.revenue_share:.1%}",
                  f"{r.mean_clv:,.0f}", f"{r.mean_churn_risk:.0%}")
    console.print(t)


EXPORT_COLUMNS = ("customer_id", "tier", "rfm_segment", "lifecycle_stage", "cluster", "clv",
                  "p_alive", "churn_risk", "churn_band", "churn_signals", "orders", "net_revenue",
                  "last_purchase", "response_hours", "distance_to_next_tier")


@segments_app.command("export")
@friendly
def segments_export(
    name: Annotated[str, typer.Argument(help="A group code from `segments list` (e.g. champions, "
                                        "diamond, lapsed, high).")],
    by: By = "rfm",
    format: Annotated[str, typer.Option("--format", help="csv, xlsx or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="File to write (default NAME.FORMAT).")] = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
):
    """Write the members of one group (tier, value, risk) to CSV, Excel or Parquet."""
    column, _ = _grouping(by)
    if format not in ("csv", "xlsx", "parquet"):
        raise UpmarketError(f"--format must be csv, xlsx or parquet, not {format!r}")
    _, run, res = _results(warehouse)
    known = set(res.select(column).distinct().to_pandas()[column].dropna())
    if name not in known:
        raise UnknownSegment(f"no {by} group {name!r} in the current run; groups: "
                             f"{', '.join(sorted(known))}")
    df = res.filter(res[column] == name).select(*EXPORT_COLUMNS).order_by(
        res.clv.desc()).to_pandas()
    path = out or Path(f"{name}.{format}")
    if format == "csv":
        df.to_csv(path, index=False, encoding="utf-8-sig")  # Excel opens BOM-marked UTF-8 right
    elif format == "xlsx":
        df.to_excel(path, index=False)
    else:
        df.to_parquet(path, index=False)
    if as_json:
        print(json.dumps({"path": str(path), "rows": len(df), "run_id": run["run_id"]}))
    else:
        console.print(f"wrote {len(df):,} customers of {by} group [bold]{name}[/] to {path}")


def _percent(text: str, unit: str) -> float:
    """'+5pt' → 5.0 with unit 'pt'; '+10%' / '-10%' / '10' → ±10.0 with unit '%'."""
    m = re.fullmatch(r"\s*([+-]?\d+(?:\.\d+)?)\s*(%|pt|pts|points?)?\s*", text or "")
    if not m or (m.group(2) and (m.group(2) == "%") != (unit == "%")):
        example = "+5pt" if unit == "pt" else "+10%"
        raise UpmarketError(f"cannot read {text!r}: write it like {example}")
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

    Computed from the current run's fitted models (BG/NBD + Gamma-Gamma), not from quoted
    rules of thumb.

    Example: upmarket whatif --retention +5pt --frequency +10% --order-value +5% --cost-to-serve -10%
    """
    from upmarket.pipeline import Settings, snapshot
    from upmarket.strategy.levers import Levers, what_if

    levers = Levers(_percent(retention, "pt"), _percent(frequency, "%"),
                    _percent(order_value, "%"), _percent(cost_to_serve, "%"))
    wh, run, res = _results(warehouse)
    settings = Settings()
    frame, model = snapshot(wh, pd.Timestamp(run["as_of"]).to_pydatetime(), settings, clv=False)
    tiers = res.select("customer_id", "tier").to_pandas().set_index("customer_id")["tier"]
    table = what_if(frame, model, frame["customer_id"].map(tiers).fillna("basic"), levers,
                    settings.tiers)
    if as_json:
        print(json.dumps({"run_id": run["run_id"], "levers": vars(levers),
                          "tiers": table.to_dict("records")}, default=str))
        return
    t = Table("tier", "net CLV now", "net CLV with levers", "change", "change %",
              title=f"What if (run {run['run_id']}, horizon {settings.value.horizon_months} months)",
              title_justify="left")
    for r in table.itertuples():
        name = value_label("tier", r.tier, lang) if r.tier != "total" else "total"
        t.add_row(name, f"{r.base:,.0f}", f"{r.scenario:,.0f}", f"{r.change:+,.0f}",
                  "—" if pd.isna(r.change_pct) else f"{r.change_pct:+.1f}%")
    console.print(t)


@app.command()
@friendly
def holdout(
    calibration_end: Annotated[datetime, typer.Option(
        "--calibration-end", formats=["%Y-%m-%d"],
        help="First day after the calibration period (e.g. 1997-10-01 for CDNOW's 39 weeks).")],
    holdout_end: Annotated[datetime | None, typer.Option(
        "--holdout-end", formats=["%Y-%m-%d"],
        help="First day after the holdout (default: the day after the latest order).")] = None,
    unit: Annotated[str, typer.Option(help="Time unit: D, W or M.")] = "W",
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
):
    """Check the BG/NBD on your data: expected vs actual purchases in a holdout period.

    The model is fitted on the calibration period; the table compares mean holdout purchases by
    number of repeat purchases in calibration.
    """
    from upmarket.features.btyd import btyd_summary
    from upmarket.models.btyd import BetaGeo, holdout_comparison
    from upmarket.pipeline import default_as_of
    from upmarket.warehouse import connect

    wh = connect(warehouse, create=False)
    end = holdout_end or default_as_of(wh)
    if end <= calibration_end:
        raise UpmarketError("--holdout-end must come after --calibration-end")
    s = btyd_summary(wh.table("orders"), calibration_end, unit=unit, holdout_end=end).to_pandas()
    if s.empty:
        raise UpmarketError(f"nobody bought before {calibration_end:%Y-%m-%d}")
    model = BetaGeo().fit(s["frequency"], s["recency"], s["T"])
    table = holdout_comparison(model, s["frequency"], s["recency"], s["T"],
                               s["frequency_holdout"], float(s["holdout_length"].iloc[0])).reset_index()
    if as_json:
        print(json.dumps({"params": model.params_, "log_likelihood": model.log_likelihood_,
                          "table": table.to_dict("records")}, default=str))
        return
    console.print(f"BG/NBD on {len(s):,} customers: " + ", ".join(
        f"{k}={v:.4g}" for k, v in model.params_.items()))
    console.print(table.to_string(index=False))
