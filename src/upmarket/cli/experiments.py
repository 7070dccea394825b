"""Commands about measurement beyond attribution: experiments (A/B tests of campaign arms),
cohorts, funnel, promotions."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from upmarket.cli import AsJson, Lang, Warehouse, app, console, err, friendly
from upmarket.cli.files import FileFormat, OutFile, write_tables, written
from upmarket.errors import Msg, UpmarketError
from upmarket.data_labels import channel_name
from upmarket.i18n import label, value_label
from upmarket.locations import WAREHOUSE_URL as DEFAULT_URL

if TYPE_CHECKING:  # help must start without the data libraries
    import pandas as pd

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
                difference=_points(r.difference), uplift=_pct(r.uplift, True),
                low=_pct(r.uplift_low, True), high=_pct(r.uplift_high, True),
                p=_num(r.p_value_adjusted, ".3g"), power=_pct(r.power), mde=f"{mde:.0%}",
                needed=_num(r.needed_control), srm_p=_num(r.srm_p_value, ".2g"),
                revenue=_num(r.revenue_difference, "+,.2f"))
    key = r.verdict
    if key == "inconclusive" and not (r.power is not None and math.isfinite(r.power)):
        key = "inconclusive_no_power"
    return label(f"verdict_line.{key}", lang, **args)


def _points(x) -> str:
    """A difference of two rates in percentage points, signed."""
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:+.1f}"


Multiplicity = Annotated[str, typer.Option(
    "--multiplicity", help="Control over the comparisons read together: bh (Benjamini–"
    "Hochberg: the share of false discoveries among the arms called), holm (the chance of any "
    "false call) or none.")]


@app.command()
@friendly
def experiments(
    campaign: Annotated[str | None, typer.Option(
        "--campaign", "-c", help="Only this campaign id.")] = None,
    as_of: AsOf = None,
    window_days: Annotated[int, typer.Option(
        "--window-days", help="A purchase within this many days of a person's first exposure "
        "counts as a conversion.")] = 30,
    from_csv: Annotated[Path | None, typer.Option(
        "--from-csv", help="Analyse an experiment run elsewhere: one row per user with "
        "experiment, arm, user_id, ts (entry time), converted, revenue and optionally "
        "pre_revenue (spend before the test, used to reduce variance).", dir_okay=False)] = None,
    control: Annotated[str | None, typer.Option(
        "--control", help="The control arm's name in --from-csv (required with it).")] = None,
    until: Annotated[datetime | None, typer.Option(
        "--until", help="With --from-csv: read the test as it stood on this day (users who "
        "entered by then).", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
        metavar="DATE")] = None,
    split: Annotated[str | None, typer.Option(
        "--split", help="With --from-csv: the planned share of each arm, e.g. A=0.2,B=0.8, "
        "for the sample-ratio check (default: equal arms).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    mde: Annotated[float, typer.Option(
        "--mde", help="Minimum detectable effect: relative uplift of the control's conversion "
        "rate (0.10 = +10%), for power, sample size and the scale of the sequential "
        "test.")] = 0.10,
    power: Annotated[float, typer.Option("--power", help="Power wanted for the MDE.")] = 0.8,
    multiplicity: Multiplicity = "bh",
    fixed_horizon: Annotated[bool, typer.Option(
        "--fixed-horizon", help="Classical tests valid at one planned look only, instead of "
        "always-valid ones.")] = False,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", help="Bootstrap replicates for the revenue-per-user interval (0 = Welch's "
        "t interval only).")] = 0,
    draw: Annotated[int, typer.Option(
        "--draw", help="Which random draw the bootstrap makes: the same number gives the same "
        "interval.")] = 0,
    # the option's earlier name, still accepted
    seed: Annotated[int | None, typer.Option("--seed", hidden=True)] = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """A/B tests of campaign arms against their control, readable at any time.

    People are assigned to the arm of their first exposure (an event with a campaign_id and
    an "arm" in its properties). Conversion and revenue per user get always-valid p-values and
    intervals (mixture sequential test): read them daily without inflating false positives.
    The comparisons read together are adjusted (Benjamini–Hochberg by default). Both the absolute
    difference (percentage points) and the relative uplift are shown; an arm that converts
    more but earns less per user is flagged, not called a win. Power for the --mde and the
    users needed per arm; a sample-ratio-mismatch check against the planned split.

    Examples:

      upmarket experiments --json

      upmarket experiments --from-csv test.csv --control A --until 2025-03-01
    """
    from upmarket.strategy.measurement import MeasurementSettings

    if window_days < 1:
        raise UpmarketError("err.option_min", option="--window-days", value=window_days)
    settings = MeasurementSettings(experiment_window_days=window_days, alpha=alpha, power=power,
                                   mde=mde, bootstrap=bootstrap,
                                   seed=draw if seed is None else seed,
                                   sequential=not fixed_horizon, multiplicity=multiplicity)
    if from_csv is not None:
        return _experiments_from_csv(from_csv, control, until, split, settings, as_json, lang)
    if control is not None or until is not None or split is not None:
        raise UpmarketError("err.exp.csv_options")
    from upmarket.strategy.measurement import experiments as run_experiments

    wh, as_of = _open(warehouse, as_of)
    try:
        if campaign is not None:
            known = set(wh.table("campaigns").campaign_id.to_pandas().dropna()) | set(
                wh.table("events").select("campaign_id").distinct()
                .to_pandas()["campaign_id"].dropna())
            if campaign not in known:
                raise NothingToMeasure("err.exp.unknown_campaign", campaign=campaign,
                                       known=", ".join(sorted(known)[:20]) or Msg("err.none"))
        test = run_experiments(wh, as_of, settings, campaign)
    finally:
        wh.close()
    res, srm = test.results_, test.srm_
    if srm.empty:
        raise NothingToMeasure("err.exp.no_exposures", as_of=f"{as_of:%Y-%m-%d}")

    if as_json:
        from upmarket.strategy.measurement import summarise

        print(json.dumps({
            "as_of": as_of.isoformat(), "window_days": window_days, "alpha": alpha, "mde": mde,
            "power": power, "sequential": settings.sequential, "multiplicity": multiplicity,
            "comparisons": _records(res), "srm": _records(srm),
            "summary": summarise({"experiments": res}).get("experiments", {}),
        }, ensure_ascii=False))
        return
    _print_tests(res, srm, label("exp.title", lang, window=window_days,
                                 as_of=f"{as_of:%Y-%m-%d}"), settings, lang)


def _experiments_from_csv(path: Path, control: str | None, until: datetime | None,
                          split: str | None, settings, as_json: bool, lang: str) -> None:
    import pandas as pd
    from upmarket.features.experiment_log import parse_log
    from upmarket.strategy.measurement import experiments_from_log
    from upmarket.warehouse.readers import read_file

    if not control:
        raise UpmarketError("err.exp.control")
    if not path.exists():
        raise UpmarketError("err.file.not_found", path=path)
    sheet = read_file(path)
    log = parse_log(sheet.frame, str(path), sheet.first_line)
    plan = None
    if split:
        from upmarket.models.experiments import parse_arms

        try:
            shares = {k.strip(): float(v) for k, v in
                      (part.split("=", 1) for part in split.split(","))}
        except ValueError:
            raise UpmarketError("err.exp.split", value=split) from None
        plan = parse_arms(json.dumps(shares), "--split")
    test, thetas = experiments_from_log(log, control, settings, until, plan)
    res = test.results_
    if as_json:
        rows = [{
            "experiment": r.campaign_id, "arm": r.arm, "control": r.control,
            "n": int(r.users_arm), "n_control": int(r.users_control),
            "conversion": r.rate_arm, "conversion_control": r.rate_control,
            "difference": r.difference,
            "difference_low": r.difference_low_sequential if settings.sequential
            else r.difference_low,
            "difference_high": r.difference_high_sequential if settings.sequential
            else r.difference_high,
            "relative_uplift": r.uplift,
            "p_value": r.p_value_adjusted,
            "p_value_unadjusted": r.p_value_sequential if settings.sequential else r.p_value,
            "significant": bool(r.significant),
            "revenue_per_user": r.revenue_per_user_arm,
            "revenue_per_user_control": r.revenue_per_user_control,
            "revenue_difference": r.revenue_difference,
            "revenue_p_value": r.revenue_p_value_adjusted,
            "srm": bool(r.srm), "verdict": r.verdict,
            "cuped_theta": thetas.get(r.campaign_id),
        } for r in res.itertuples()]
        print(json.dumps({
            "source": str(path), "control": control,
            "until": until.isoformat() if until else None, "alpha": settings.alpha,
            "mde": settings.mde, "sequential": settings.sequential,
            "multiplicity": settings.multiplicity,
            "experiments": _records(pd.DataFrame(rows)) if rows else [],
        }, ensure_ascii=False))
        return
    when = f"{until:%Y-%m-%d}" if until else f"{log['ts'].max():%Y-%m-%d}"
    _print_tests(res, test.srm_, label("exp.title_log", lang, source=path.name, control=control,
                                       until=when), settings, lang)
    for name, theta in sorted(thetas.items()):
        console.print(label("exp.cuped", lang, experiment=name, theta=f"{theta:.3g}"),
                      highlight=False)


def _print_tests(res: pd.DataFrame, srm: pd.DataFrame, title: str, settings, lang: str) -> None:
    # the table keeps to the numbers; power and users needed are in each verdict line
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    lo, hi = ("difference_low_sequential", "difference_high_sequential") if settings.sequential \
        else ("difference_low", "difference_high")
    # numbers never wrap (a number split over two lines reads as two numbers); the names and
    # the verdict fold, so the table fits 80 columns
    for key, justify, wrap in (("exp.campaign", "left", True), ("exp.arm", "left", False),
                               ("exp.users", "right", False), ("exp.conversion", "right", False),
                               ("exp.difference", "right", False), ("exp.p_value", "right", False),
                               ("exp.verdict", "left", True)):
        head = label(key, lang)
        table.add_column(head, justify=justify, no_wrap=not wrap, overflow="fold",
                         min_width=12 if key == "exp.verdict" else len(head) if wrap else None)
    table.caption = label("exp.legend", lang)
    for r in res.itertuples():
        style = {"uplift": "green", "drop": "red", "srm": "bold yellow",
                 "uplift_revenue_down": "yellow"}.get(r.verdict)
        table.add_row(
            r.campaign_id, label("exp.vs", lang, arm=r.arm, control=r.control),
            f"{r.users_arm:,}\n{r.users_control:,}",
            f"{_pct(r.rate_arm)}\n{_pct(r.rate_control)}",
            f"{_points(r.difference)} ({_pct(r.uplift, True)})\n"
            f"[{_points(getattr(r, lo))}, {_points(getattr(r, hi))}]",
            _num(r.p_value_adjusted, ".3f"),
            label(f"verdict.{r.verdict}", lang), style=style)
    console.print(table)
    judged = int(res["p_value_adjusted"].notna().sum())
    method = "exp.method.sequential" if settings.sequential else "exp.method.fixed"
    console.print(label(method, lang, n=judged, multiplicity=label(
        f"exp.multiplicity.{settings.multiplicity}", lang)), highlight=False)
    for r in res.itertuples():
        console.print(f"{r.campaign_id}: {_verdict_line(r, settings.mde, lang)}", highlight=False)
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
    file_format: FileFormat = None,
    out: OutFile = None,
    warehouse: Warehouse = DEFAULT_URL,
    as_json: AsJson = False,
    lang: Lang = "en",
):
    """Monthly acquisition cohorts: customers by the month of their first purchase, followed
    month by month (active customers, retention rate, revenue, cumulative revenue per
    customer)."""
    import pandas as pd
    from upmarket.features.cohorts import cohort_table

    if metric not in COHORT_METRICS:
        raise UpmarketError("err.option_choice", option="--metric",
                            choices=", ".join(COHORT_METRICS), value=metric)
    wh, as_of = _open(warehouse, as_of)
    try:
        frame = cohort_table(wh.table("orders"), as_of).to_pandas()
    finally:
        wh.close()
    if frame.empty:
        raise NothingToMeasure("err.no_cohorts", as_of=f"{as_of:%Y-%m-%d}")
    col = COHORT_METRICS[metric]
    if file_format is not None:
        _write_cohorts(frame, col, metric, file_format, out, as_json, lang)
    if as_json:
        print(json.dumps({"as_of": as_of.isoformat(), "cohorts": _records(frame)},
                         ensure_ascii=False))
        return
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


def _write_cohorts(frame, col: str, metric: str, fmt: str, out, as_json: bool,
                   lang: str) -> None:
    """The cohort matrix as a file: a row per cohort, its size, then every month since
    acquisition (all of them, not only the --months shown)."""
    import pandas as pd

    from upmarket.activation.spreadsheet import Sheet

    wide = frame.pivot(index="cohort", columns="months_since", values=col)
    table = pd.DataFrame({"cohort": [f"{c:%Y-%m}" for c in wide.index],
                          "cohort_size": frame.groupby("cohort")["cohort_size"].first()
                          .reindex(wide.index).to_numpy()})
    for k in wide.columns:
        table[f"M{k}"] = wide[k].to_numpy()
    heads = [label("cohort.cohort", lang), label("cohort.size", lang),
             *(f"M{k}" for k in wide.columns)]
    # retention is a fraction: the workbook shows it as a percentage
    formats = {f"M{k}": "0.0%" for k in wide.columns} if metric == "retention" else {}
    sheet = Sheet(label(f"cohort.{metric}", lang), table, heads, formats=formats)
    paths = write_tables({metric: sheet}, fmt, out, "cohorts")
    if not as_json:
        console.print(written(paths, lang), highlight=False, soft_wrap=True)


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
        raise UpmarketError("err.option_min", option="--window-days", value=window_days)
    wh, as_of = _open(warehouse, as_of)
    try:
        frame = funnel_table(wh.table("events"), wh.table("orders"), as_of,
                             window_days).to_pandas()
    finally:
        wh.close()
    start = as_of - timedelta(days=window_days)
    if frame.empty:
        raise NothingToMeasure("err.no_touches", start=f"{start:%Y-%m-%d}",
                               as_of=f"{as_of:%Y-%m-%d}")
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
        name = label("funnel.all", lang) if r.channel == ALL_CHANNELS else channel_name(r.channel, lang)
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
    import pandas as pd
    from upmarket.strategy.measurement import MeasurementSettings
    from upmarket.strategy.measurement import promotions as measure_promotions
    from upmarket.strategy.promotions import PromotionSettings, dependency_by_segment

    if baseline_days < 1:
        raise UpmarketError("err.option_min", option="--baseline-days", value=baseline_days)
    settings = MeasurementSettings(promotions=PromotionSettings(baseline_days=baseline_days))
    wh, as_of = _open(warehouse, as_of)
    try:
        effects, dependency = measure_promotions(wh, as_of, settings)
        segments = _segments_of_latest_run(wh)
    finally:
        wh.close()
    if effects.empty and dependency.empty:
        raise NothingToMeasure("err.no_promotions", as_of=f"{as_of:%Y-%m-%d}")
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
            # a long name wraps between its words (the console fits the table to the width)
            table.add_column(label(key, lang), justify=justify,
                             no_wrap=key == "promo.status", overflow="fold")
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
