"""Commands about measurement beyond attribution: experiments (A/B tests of campaign arms),
cohorts, funnel, promotions."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, err, friendly
from upmarket.errors import UpmarketError
from upmarket.i18n import label, value_label
from upmarket.warehouse.connection import DEFAULT_URL

AsOf = Annotated[datetime | None, typer.Option(
    "--as-of", help="Measure with the data before this date (default: the day after the latest "
    "order).", formats=["%Y-%m-%d"])]
#: How the values of each segmentation of a run's results are labelled.
SEGMENT_KINDS = {"tier": "tier", "rfm_segment": "segment"}
COHORT_METRICS = {"retention": "retention_rate", "active": "active_customers",
                  "revenue": "revenue", "cumulative": "cumulative_revenue_per_customer"}


class NothingToMeasure(UpmarketError):
    """The warehouse holds nothing the command can measure."""


def _open(warehouse: str, as_of: datetime | None):
    from upmarket.pipeline import default_as_of
    from upmarket.warehouse import connect

    wh = connect(warehouse, create=False)
    try:
        return wh, as_of or default_as_of(wh)
    except BaseException:
        wh.close()
        raise


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: timestamps as ISO text, NaN as null."""
    return json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False,
                                    double_precision=15))


def _pct(x, signed: bool = False) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{x:+.1%}" if signed else f"{x:.1%}"


def _num(x, fmt: str = ",.0f") -> str:
    return "—" if x is None or not math.isfinite(x) else format(x, fmt)


# -- experiments ---------------------------------------------------------------------------
def _verdict_line(r, mde: float, lang: str) -> str:
    args = dict(campaign=r.campaign_id, arm=r.arm, control=r.control,
                uplift=_pct(r.uplift, True), low=_pct(r.uplift_low, True),
                high=_pct(r.uplift_high, True), p=_num(r.p_value, ".3g"),
                power=_pct(r.power), mde=f"{mde:.0%}", needed=_num(r.needed_control),
                srm_p=_num(r.srm_p_value, ".2g"))
    key = r.verdict
    if key == "inconclusive" and not (r.power is not None and math.isfinite(r.power)):
        key = "inconclusive_no_power"
    return label(f"verdict_line.{key}", lang, **args)


@app.command()
@friendly
def experiments(
    campaign: Annotated[str | None, typer.Option(
        "--campaign", "-c", help="Only this campaign id.")] = None,
    as_of: AsOf = None,
    window_days: Annotated[int, typer.Option(
        "--window-days", help="A purchase within this many days of a person's first exposure "
        "counts as a conversion.")] = 30,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    mde: Annotated[float, typer.Option(
        "--mde", help="Minimum detectable effect: relative uplift of the control's conversion "
        "rate (0.10 = +10%), for power and sample size.")] = 0.10,
    power: Annotated[float, typer.Option("--power", help="Power wanted for the MDE.")] = 0.8,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", help="Bootstrap replicates for the revenue-per-user interval (0 = Welch's "
        "t interval only).")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """A/B tests of campaign arms against their control.

    People are assigned to the arm of their first exposure (an event with a campaign_id and
    an "arm" in its properties). Conversion: two-proportion z-test with the uplift's
    confidence interval; revenue per user: Welch's t-test; power for the --mde as run and the
    users needed per arm; a sample-ratio-mismatch check against the campaign's planned split.
    """
    from upmarket.strategy.measurement import MeasurementSettings
    from upmarket.strategy.measurement import experiments as run_experiments

    if window_days < 1:
        raise UpmarketError(f"--window-days must be at least 1 (got {window_days})")
    settings = MeasurementSettings(experiment_window_days=window_days, alpha=alpha, power=power,
                                   mde=mde, bootstrap=bootstrap, seed=seed)
    wh, as_of = _open(warehouse, as_of)
    try:
        if campaign is not None:
            known = set(wh.table("campaigns").campaign_id.to_pandas().dropna()) | set(
                wh.table("events").select("campaign_id").distinct()
                .to_pandas()["campaign_id"].dropna())
            if campaign not in known:
                raise NothingToMeasure(
                    f"no campaign {campaign!r} in the campaigns table or the events; known: "
                    f"{', '.join(sorted(known)[:20]) or 'none'}")
        test = run_experiments(wh, as_of, settings, campaign)
    finally:
        wh.close()
    res, srm = test.results_, test.srm_
    if srm.empty:
        raise NothingToMeasure(
            f"no campaign exposures with an arm before {as_of:%Y-%m-%d}: experiments need events "
            'with a campaign_id and the arm in their properties, e.g. {"arm": "B"} '
            "(`upmarket ingest events FILE`), and the campaigns' planned split in campaigns.arms")

    if as_json:
        from upmarket.strategy.measurement import summarise

        print(json.dumps({
            "as_of": as_of.isoformat(), "window_days": window_days, "alpha": alpha, "mde": mde,
            "power": power, "comparisons": _records(res), "srm": _records(srm),
            "summary": summarise({"experiments": res}).get("experiments", {}),
        }, ensure_ascii=False))
        return
    # the table keeps to the numbers; power and users needed are in each verdict line
    table = Table(title=label("exp.title", lang, window=window_days,
                              as_of=f"{as_of:%Y-%m-%d}"), box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for key, justify in (("exp.campaign", "left"), ("exp.arm", "left"), ("exp.users", "right"),
                         ("exp.conversion", "right"), ("exp.uplift", "right"),
                         ("exp.p_value", "right"), ("exp.revenue_diff", "right"),
                         ("exp.verdict", "left")):
        table.add_column(label(key, lang), justify=justify)
    for r in res.itertuples():
        style = {"uplift": "green", "drop": "red", "srm": "bold yellow"}.get(r.verdict)
        table.add_row(
            r.campaign_id, f"{r.arm} vs {r.control}",
            f"{r.users_arm:,} / {r.users_control:,}",
            f"{_pct(r.rate_control)} →\n{_pct(r.rate_arm)}",
            f"{_pct(r.uplift, True)}\n[{_pct(r.uplift_low, True)}, {_pct(r.uplift_high, True)}]",
            _num(r.p_value, ".3f"), _num(r.revenue_difference, "+,.0f"),
            label(f"verdict.{r.verdict}", lang), style=style)
    console.print(table)
    for r in res.itertuples():
        console.print(f"{r.campaign_id}: {_verdict_line(r, mde, lang)}", highlight=False)
    for s in srm[srm["srm"]].itertuples():
        err.print("[bold yellow]⚠[/] " + label(
            "exp.srm_warning", lang, campaign=s.campaign_id, p=_num(s.p_value, ".2g"),
            observed=s.observed, planned=s.planned), highlight=False, soft_wrap=True)


# -- cohorts ------------------------------------------------------------------------------
@app.command()
@friendly
def cohorts(
    metric: Annotated[str, typer.Option(
        "--metric", "-m", help="retention, active, revenue or cumulative (revenue per "
        "customer to date).")] = "retention",
    months: Annotated[int, typer.Option(
        "--months", help="Months since acquisition shown as columns (JSON has them all).")] = 12,
    as_of: AsOf = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Monthly acquisition cohorts: customers by the month of their first purchase, followed
    month by month (active customers, retention rate, revenue, cumulative revenue per
    customer)."""
    from upmarket.features.cohorts import cohort_table

    if metric not in COHORT_METRICS:
        raise UpmarketError(f"--metric must be one of {', '.join(COHORT_METRICS)}, not "
                            f"{metric!r}")
    wh, as_of = _open(warehouse, as_of)
    try:
        frame = cohort_table(wh.table("orders"), as_of).to_pandas()
    finally:
        wh.close()
    if frame.empty:
        raise NothingToMeasure(f"no paid purchases before {as_of:%Y-%m-%d}: nothing to group "
                               "into cohorts; choose a later --as-of or ingest orders")
    if as_json:
        print(json.dumps({"as_of": as_of.isoformat(), "cohorts": _records(frame)},
                         ensure_ascii=False))
        return
    col = COHORT_METRICS[metric]
    shown = frame[frame["months_since"] <= max(months, 0)]
    wide = shown.pivot(index="cohort", columns="months_since", values=col)
    sizes = frame.groupby("cohort")["cohort_size"].first()
    table = Table(title=label("cohort.title", lang, metric=label(f"cohort.{metric}", lang),
                              as_of=f"{as_of:%Y-%m-%d}"), box=box.SIMPLE_HEAD)
    table.add_column(label("cohort.cohort", lang), no_wrap=True)
    table.add_column(label("cohort.size", lang), justify="right")
    for k in wide.columns:
        table.add_column(f"M{k}", justify="right")
    fmt = _pct if metric == "retention" else _num
    for cohort, row in wide.iterrows():
        table.add_row(f"{cohort:%Y-%m}", f"{sizes[cohort]:,}",
                      *("" if pd.isna(v) else fmt(float(v)) for v in row))
    console.print(table)


# -- funnel -------------------------------------------------------------------------------
@app.command()
@friendly
def funnel(
    window_days: Annotated[int, typer.Option(
        "--window-days", help="The funnel covers this many days before --as-of.")] = 90,
    as_of: AsOf = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """The funnel exposure → click → register → purchase per channel (people, not events;
    each step a subset of the one before), with step and overall conversion."""
    from upmarket.features.funnels import ALL_CHANNELS
    from upmarket.features.funnels import funnel as funnel_table

    if window_days < 1:
        raise UpmarketError(f"--window-days must be at least 1 (got {window_days})")
    wh, as_of = _open(warehouse, as_of)
    try:
        frame = funnel_table(wh.table("events"), wh.table("orders"), as_of,
                             window_days).to_pandas()
    finally:
        wh.close()
    start = as_of - timedelta(days=window_days)
    if frame.empty:
        raise NothingToMeasure(
            f"no marketing touches (events with a channel) between {start:%Y-%m-%d} and "
            f"{as_of:%Y-%m-%d}: ingest events (`upmarket ingest events FILE`) or widen "
            "--window-days")
    if as_json:
        print(json.dumps({"as_of": as_of.isoformat(), "start": start.isoformat(),
                          "channels": _records(frame)}, ensure_ascii=False))
        return
    table = Table(title=label("funnel.title", lang, start=f"{start:%Y-%m-%d}",
                              end=f"{as_of:%Y-%m-%d}"), box=box.SIMPLE_HEAD)
    table.add_column(label("funnel.channel", lang), no_wrap=True)
    for key in ("exposed", "clicked", "registered", "purchased", "click_rate",
                "register_rate", "purchase_rate", "overall_rate"):
        table.add_column(label(f"funnel.{key}", lang), justify="right")
    for r in frame.itertuples():
        name = label("funnel.all", lang) if r.channel == ALL_CHANNELS else r.channel
        table.add_row(name, f"{r.exposed:,}", f"{r.clicked:,}", f"{r.registered:,}",
                      f"{r.purchased:,}", _pct(r.click_rate), _pct(r.register_rate),
                      _pct(r.purchase_rate), _pct(r.overall_rate),
                      style="bold" if r.channel == ALL_CHANNELS else None,
                      end_section=r.channel != ALL_CHANNELS and r.Index == len(frame) - 2)
    console.print(table)


# -- promotions ---------------------------------------------------------------------------
def _segments_of_latest_run(wh) -> pd.DataFrame | None:
    """Tier and RFM segment per customer from the latest published run, if there is one."""
    from upmarket.warehouse.runs import current_run, output

    try:
        res = output(wh, "results", current_run(wh)["run_id"])
    except UpmarketError:
        return None
    cols = [c for c in ("tier", "rfm_segment") if c in res.columns]
    if not cols:
        return None
    return res.select("customer_id", *cols).to_pandas().set_index("customer_id")


@app.command()
@friendly
def promotions(
    baseline_days: Annotated[int, typer.Option(
        "--baseline-days", help="Comparable non-promotion days are sought this many days before "
        "each promotion.")] = 56,
    as_of: AsOf = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Promotion lift against comparable non-promotion days, cannibalisation of full-price
    sales, cost and ROI; and how much of customers' spend is bought on discount (overall and,
    after `upmarket run`, per tier and RFM segment)."""
    from upmarket.strategy.measurement import MeasurementSettings
    from upmarket.strategy.measurement import promotions as measure_promotions
    from upmarket.strategy.promotions import PromotionSettings, dependency_by_segment

    if baseline_days < 1:
        raise UpmarketError(f"--baseline-days must be at least 1 (got {baseline_days})")
    settings = MeasurementSettings(promotions=PromotionSettings(baseline_days=baseline_days))
    wh, as_of = _open(warehouse, as_of)
    try:
        effects, dependency = measure_promotions(wh, as_of, settings)
        segments = _segments_of_latest_run(wh)
    finally:
        wh.close()
    if effects.empty and dependency.empty:
        raise NothingToMeasure(f"no promotions and no paid purchases before {as_of:%Y-%m-%d}: "
                               "ingest promotions and orders first")
    by_segment = (dependency_by_segment(dependency, segments)
                  if segments is not None and len(dependency) else pd.DataFrame())
    spend = float(dependency["spend"].sum()) if len(dependency) else 0.0
    share = float(dependency["promo_spend"].sum()) / spend if spend > 0 else math.nan
    dependent = float(dependency["dependent"].mean()) if len(dependency) else math.nan
    threshold = settings.promotions.dependent_share
    if as_json:
        print(json.dumps({
            "as_of": as_of.isoformat(), "baseline_days": baseline_days,
            "promotions": _records(effects),
            "discount_dependency": {"promo_share_of_spend": None if math.isnan(share) else share,
                                    "dependent_customers_share":
                                        None if math.isnan(dependent) else dependent,
                                    "dependent_threshold": threshold,
                                    "by_segment": _records(by_segment)},
        }, ensure_ascii=False))
        return
    if len(effects):
        table = Table(title=label("promo.title", lang, days=baseline_days), box=box.SIMPLE_HEAD,
                      pad_edge=False)
        for key, justify in (("promo.promotion", "left"), ("promo.days", "right"),
                             ("promo.lift_rate", "right"),
                             ("promo.cannibalisation", "right"), ("promo.cost", "right"),
                             ("promo.roi", "right"), ("promo.status", "left")):
            wide = key == "promo.promotion"
            table.add_column(label(key, lang), justify=justify,
                             no_wrap=key in ("promo.promotion", "promo.status"),
                             max_width=30 if wide else None,
                             overflow="ellipsis" if wide else "fold")
        for r in effects.itertuples():
            name = f"{r.promotion_id} {r.name}" if isinstance(r.name, str) else r.promotion_id
            table.add_row(name, str(r.days), _pct(r.lift_rate, True),
                          _pct(-r.cannibalisation_rate, True), _num(r.cost),
                          _num(r.roi, "+.1f"),
                          label(f"promo.status.{r.status}", lang))
        console.print(table)
    if len(dependency):
        console.print(label("promo.dependency", lang, share=_pct(share),
                            dependent=_pct(dependent), threshold=f"{threshold:.0%}"),
                      highlight=False)
    if len(by_segment):
        seg = Table(title=label("promo.by_segment", lang), box=box.SIMPLE_HEAD)
        for key in ("promo.segmentation", "promo.segment", "promo.customers",
                    "promo.dependency_col", "promo.dependent_share"):
            seg.add_column(label(key, lang),
                           justify="left" if key in ("promo.segmentation", "promo.segment")
                           else "right")
        for r in by_segment.itertuples():
            kind = SEGMENT_KINDS.get(r.segmentation, r.segmentation)
            seg.add_row(label(f"promo.segmentation.{r.segmentation}", lang),
                        value_label(kind, r.segment, lang), f"{r.customers:,}",
                        _pct(r.dependency), _pct(r.dependent_share))
        console.print(seg)
