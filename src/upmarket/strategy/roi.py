"""Return on marketing spend per channel and per campaign, short-term and long-term (the key-account strategy course:
ROI = (attributed profit − cost) ÷ cost).

*Short-term* ROI credits each channel with the conversions and revenue a multi-touch model
(Markov removal effects by default, `models.attribution`) attributes to it, turns revenue into
profit with the customer base's margin rate, and sets it against the channel's fully-loaded
spend (media + sales team + technical support + overhead) over the same period.

*Long-term* ROI asks what a campaign did to the future value of the customers it touched. Each
customer's 12-month CLV is predicted at the campaign's start and again at `as_of` with the
*same* fitted value model, so the change ΔCLV reflects only what the customer did in between.
Customers the campaign touched are compared with untouched customers who looked alike at the
start (same CLV decile at the start date): the campaign's effect is

    Σ_s n_touched,s × (mean ΔCLV touched,s − mean ΔCLV untouched,s)

over the deciles s (a stratified difference in differences; Imbens & Rubin 2015, ch. 12, on
subclassification), and long-term ROI = (effect − campaign cost) ÷ campaign cost. Only
customers who had bought before the start can be compared this way; first purchases a campaign
caused are in the short-term figure.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
from ibis.formats.pandas import PandasData

from upmarket.features.customer import purchase_days, value_inputs_on
from upmarket.features.paths import touchpoint_paths
from upmarket.models.attribution import BadPaths, attribute
from upmarket.models.training_sample import BATCH_ROWS
from upmarket.models.value import LifetimeValue
from upmarket.warehouse.connection import Warehouse

STRATA = 10
#: Days of touches before a conversion that belong to its journey.
LOOKBACK_DAYS = 30


def roi(profit: float, cost: float) -> float:
    """(profit − cost) ÷ cost; NaN without cost."""
    return (profit - cost) / cost if cost > 0 else float("nan")


def channel_roi(attributed: pd.DataFrame, spend: pd.Series, margin_rate: float
                ) -> pd.DataFrame:
    """Short-term ROI per channel from attributed conversions and value per channel
    (`models.attribution.attribute`) and spend per channel: channel, conversions, value,
    profit, cost, roi. Channels with spend but no attributed conversion are kept (−100 %)."""
    att = attributed[["channel", "conversions", "value"]]
    out = att.merge(spend.rename("cost").rename_axis("channel").reset_index(), on="channel",
                    how="outer")
    out[["conversions", "value", "cost"]] = out[["conversions", "value", "cost"]].fillna(0.0)
    out["profit"] = out["value"] * margin_rate
    out["roi"] = [roi(p, c) for p, c in zip(out["profit"], out["cost"])]
    return out.sort_values(["cost", "channel"], ascending=[False, True], ignore_index=True)[
        ["channel", "conversions", "value", "profit", "cost", "roi"]]


def stratified_effect(delta: pd.Series, baseline: pd.Series, touched: pd.Series,
                      strata: int = STRATA) -> tuple[float, int]:
    """Σ over baseline-value strata of n_touched × (mean Δ touched − mean Δ untouched); strata
    without both groups are left out. Returns (effect, touched customers compared)."""
    frame = pd.DataFrame({"delta": delta, "baseline": baseline, "touched": touched}).dropna()
    if frame.empty or frame["touched"].all() or not frame["touched"].any():
        return float("nan"), 0
    ranks = frame["baseline"].rank(method="first")
    frame["stratum"] = np.ceil(ranks / len(frame) * strata).astype(int)
    effect, compared = 0.0, 0
    for _, g in frame.groupby("stratum"):
        t, u = g[g["touched"]], g[~g["touched"]]
        if len(t) and len(u):
            effect += len(t) * (t["delta"].mean() - u["delta"].mean())
            compared += len(t)
    return effect, compared


def campaign_roi(wh: Warehouse, as_of: datetime, value: LifetimeValue,
                 clv_now: pd.Series, channel_value: dict[str, float], *, unit: str = "W",
                 margin_rate: float = 0.3, long_term_days: int = 365) -> pd.DataFrame:
    """Per campaign that started before `as_of`: cost, touched customers, short-term
    attributed value and profit (the campaign's share of its channel's attributed value, by
    its share of the channel's touches), ROI; and for campaigns that started within
    `long_term_days`, the long-term effect on CLV, the customers it is measured on and the
    long-term ROI (older campaigns' effects are mixed with too much else to isolate)."""
    camps = wh.table("campaigns").to_pandas()
    camps = camps[pd.to_datetime(camps["start"]) < pd.Timestamp(as_of)]
    cols = ["campaign_id", "name", "channel", "start", "end", "cost", "touched", "value",
            "profit", "roi", "ltv_effect", "ltv_customers", "roi_long_term"]
    if camps.empty:
        return pd.DataFrame(columns=cols)
    s = wh.table("marketing_spend")
    s = s.filter(s.date < as_of.date()).group_by("campaign").aggregate(cost=s.cost.sum()) \
        .to_pandas().set_index("campaign")["cost"]
    ev = wh.table("events")
    ev = ev.filter(ev.ts < as_of, ev.campaign_id.notnull(), ev.customer_id.notnull())
    touches = ev.group_by(["campaign_id", "customer_id"]).aggregate(n=ev.count()).to_pandas()
    # a campaign's short-term share of its channel: its share of all the channel's touches
    # (always-on activity included), over the same history the attribution covers
    all_ev = wh.table("events")
    all_ev = all_ev.filter(all_ev.ts < as_of, all_ev.channel.notnull(),
                           all_ev.customer_id.notnull())
    per_channel = all_ev.group_by("channel").aggregate(n=all_ev.count()).to_pandas() \
        .set_index("channel")["n"]
    tables = {n: wh.table(n) for n in ("orders", "products")}
    starts = sorted({pd.Timestamp(c).to_pydatetime() for c in camps["start"]
                     if (as_of - pd.Timestamp(c).to_pydatetime()).days <= long_term_days})
    # every recent start's value inputs from one pass over the order lines, held in the
    # engine while the campaigns are compared: one build per start read them all each time
    days = purchase_days(tables, starts).cache() if starts else None
    try:
        rows = []
        for c in camps.itertuples():
            mine = touches[touches["campaign_id"] == c.campaign_id]
            cost = float(s.get(c.name, 0.0) if c.name in s.index
                         else s.get(c.campaign_id, 0.0))
            share = mine["n"].sum() / per_channel.get(c.channel, np.nan) \
                if per_channel.get(c.channel, 0) else 0.0
            val = float(channel_value.get(c.channel, 0.0)) * float(share)
            start = pd.Timestamp(c.start).to_pydatetime()
            effect, compared = float("nan"), 0
            recent = (as_of - start).days <= long_term_days
            before = clv_on(value, value_inputs_on(days, starts, start, unit=unit)) \
                if recent else pd.Series(dtype=float)
            if len(before) >= 2 * STRATA:
                now = clv_now.reindex(before.index)
                # a hash look-up of the ids: `isin` with a set walks it in Python
                touched = pd.Series(before.index.isin(mine["customer_id"].unique()),
                                    index=before.index)
                effect, compared = stratified_effect(now - before, before, touched)
            rows.append({
                "campaign_id": c.campaign_id, "name": c.name, "channel": c.channel,
                "start": c.start, "end": c.end, "cost": cost, "touched": len(mine),
                "value": val, "profit": val * margin_rate, "roi": roi(val * margin_rate, cost),
                "ltv_effect": effect, "ltv_customers": compared,
                "roi_long_term": roi(effect, cost) if np.isfinite(effect) else float("nan"),
            })
    finally:
        if days is not None:
            days.release()
    return pd.DataFrame(rows, columns=cols)


def clv_on(value: LifetimeValue, inputs, rows: int = BATCH_ROWS) -> pd.Series:
    """Each customer's CLV by `value` from the value inputs `inputs` (an Ibis table,
    `features.customer.value_inputs_on`), indexed by customer id in customer order: a fixed
    order, so ties in the start value fall in the same strata on every run.

    Predicted `rows` customers at a time, keeping only the CLV of each batch: the model's
    discounting sum holds several arrays per customer and month while it runs, and with every
    customer at once (and the whole inputs frame beside it) that was the ROI stage's peak at
    1,000,000 customers. Each customer's CLV depends on her own inputs alone
    (`models.value.LifetimeValue.predict`), so the batches give what one frame gave."""
    t = inputs.order_by("customer_id")
    schema = t.schema()
    ids, clv = [], []
    for batch in t.to_pyarrow_batches(chunk_size=rows):
        if not batch.num_rows:
            continue
        part = PandasData.convert_table(batch.to_pandas(), schema)
        ids.append(part["customer_id"].to_numpy(object))
        clv.append(value.predict(part)["clv"].to_numpy(float))
    if not ids:
        return pd.Series(dtype=float)
    return pd.Series(np.concatenate(clv), index=pd.Index(np.concatenate(ids), name="customer_id"))


def path_table(journey_paths: pd.DataFrame) -> pd.DataFrame:
    """The touchpoint path table (`features.paths.touchpoint_paths`) from the paths by period
    of conversion (`strategy.budget.journey_paths`): summed over the periods, in path order."""
    cols = ["total_conversions", "total_conversion_value", "total_null"]
    return journey_paths.groupby("path", as_index=False, sort=True)[cols].sum()[["path", *cols]]


def roi_tables(wh: Warehouse, as_of: datetime, value: LifetimeValue, results: pd.DataFrame,
               *, unit: str = "W", model: str = "markov",
               lookback_days: int = LOOKBACK_DAYS, paths: pd.DataFrame | None = None) -> tuple[dict[str, pd.DataFrame], dict]:
    """`channel_roi` and `campaign_roi` for the pipeline, with a summary. `paths`: the path
    table at `as_of` with `lookback_days`, when the caller built it already."""
    net = float(results["net_revenue"].sum())
    margin_rate = float(results["margin"].sum()) / net if net > 0 and "margin" in results \
        else value.settings.default_margin_rate
    s = wh.table("marketing_spend")
    spend = s.filter(s.date < as_of.date()).group_by("channel").aggregate(cost=s.cost.sum()) \
        .to_pandas().set_index("channel")["cost"]
    if paths is None:
        paths = touchpoint_paths(wh.table("events"), wh.table("orders"), as_of,
                                 lookback_days).to_pandas()
    if paths.empty or paths["total_conversions"].sum() == 0:
        return {}, {"roi": "no touchpoint paths with conversions: ROI not computed"}
    try:
        attributed = attribute(paths, model)
    except BadPaths as exc:
        return {}, {"roi": f"no attribution: {exc}"}
    per_channel = channel_roi(attributed, spend, margin_rate)
    clv_now = results.set_index("customer_id")["clv"]
    per_campaign = campaign_roi(wh, as_of, value, clv_now,
                                dict(zip(attributed["channel"], attributed["value"])),
                                unit=unit, margin_rate=margin_rate)
    summary = {
        "margin_rate": round(margin_rate, 4),
        "channel_roi": {r.channel: round(float(r.roi), 3) for r in per_channel.itertuples()
                        if np.isfinite(r.roi)},
        "campaigns": len(per_campaign),
        "campaigns_positive_long_term": int((per_campaign["roi_long_term"] > 0).sum()),
    }
    return {"channel_roi": per_channel, "campaign_roi": per_campaign}, summary
