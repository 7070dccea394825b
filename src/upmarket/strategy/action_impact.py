"""What each action changed: incremental conversion, revenue and margin of the customers an
action was carried out for (treated) against those held out of it (`activation.holdout`), per
action type and tier, over a fixed window after the decision.

For every decision whose window has ended by the as-of (decided + `window_days` ≤ as_of), the
outcome is the customer's paid orders in ``[decided, decided + window)``: converted (any),
revenue (their amount) and margin (amount − quantity × the product's cost, or amount × the
default margin rate where the cost is unknown). Offers are in the amounts paid, so the margin
is net of them.

A customer decided for in several runs is one unit: their outcomes are averaged first (their
group never changes, see `activation.holdout`), so counts are customers and the standard
error is clustered by customer. Per action type and tier the effect is the difference of
means, treated − held out, with a 95 %
interval from the normal approximation to Welch's unequal-variance standard error,
``√(s₁²/n₁ + s₀²/n₀)`` (Welch 1947, *Biometrika* 34; for conversion, s² is p(1 − p)·n/(n − 1)).
The row of all tiers (tier ``all``) is the post-stratified average of the tiers' differences
weighted by their treated customers, with ``se = √Σ wₜ² seₜ²`` (the effect on the treated; a
plain pooled difference would be biased whenever the tiers' holdout shares differ). A tier
without a held-out customer (share 0) measures nothing and is left out of ``all``.

Because the groups are random, the difference estimates the action's causal effect on its
targets; it says nothing about customers the action was not decided for.

**Variance reduction (CUPED).** At a 10 % holdout a tier's control group is small and a raw
difference of means is too noisy to tell "nothing" from "a little". Each metric is therefore
adjusted by what the customer did *before* the action, CUPED (Deng, Xu, Kohavi & Walker 2013,
"Improving the sensitivity of online controlled experiments by utilizing pre-experiment data",
WSDM; its §3.3 regression form with several covariates): ``Y' = Y − (X − X̄)·θ``, where X holds
the customer's paid-order conversion and revenue in the `window_days` before, and their paid
orders in the `PRE_YEAR_DAYS` before, the first decision of this action for them (the first,
because later decisions follow earlier treatment of the same action, and a covariate the
treatment moved would bias the estimate). θ is the least-squares slope of Y on X with both
centred within the treated and within the held-out group, so the treatment itself does not leak
into θ; the difference of Y' is then the difference of Y minus θ times the groups' chance
imbalance in X, and its Welch standard error is computed on Y'. Since the groups are random,
X is balanced in expectation and the estimate stays unbiased; its variance falls by the share
of Y's variance X explains (ρ² with one covariate). Each row reports that share as
``{metric}_variance_reduction`` (1 − se²/se²_unadjusted) beside the unadjusted standard error.
A stratum with fewer than `MIN_CUPED_UNITS` customers is left unadjusted: θ would be noise.

**Small control groups are pooled.** A Welch standard error from a handful of held-out
customers is itself so noisy that 95 % intervals cover far less often than 95 %. So, for the
row of all tiers, tiers with fewer than `min_held_out` held-out customers are pooled into one
stratum (their tier is then one more covariate of the adjustment, as indicators, so a tier mix
that differs between the groups by chance is corrected as the pre-period is); if that pool
still has fewer than `min_held_out`, every tier is pooled into one. Each tier's own row is
still reported, with its own (wide) interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from scipy import stats

from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.schema import ACTION_ASSIGNMENTS, RUNS

METRICS = ("conversion", "revenue", "margin")
ALL = "all"
#: the covariates of the adjustment: the customer's behaviour before the first decision
PRE = ("pre_conversion", "pre_revenue", "pre_orders")
#: the long pre-period, in days, over which paid orders are counted (`pre_orders`)
PRE_YEAR_DAYS = 365
#: fewer customers in a stratum and its metrics are left unadjusted
MIN_CUPED_UNITS = 20
#: held-out customers a tier needs to be measured apart in the row of all tiers
MIN_HELD_OUT = 30


@dataclass(frozen=True)
class ImpactSettings:
    window_days: int = 30
    confidence: float = 0.95
    #: margin rate of lines whose product has no cost
    default_margin_rate: float = 0.30
    #: adjust by the customers' pre-decision behaviour (CUPED, see the module docstring)
    cuped: bool = True
    #: tiers with fewer held-out customers are pooled in the row of all tiers
    min_held_out: int = MIN_HELD_OUT


#: Runs whose decisions count: published ones, and the demo's simulated cycles
#: (`demo.action_loop`), which record decisions without ever becoming the current run.
COUNTED_RUNS = ("published", "simulated")


def decisions(wh: Warehouse) -> pd.DataFrame:
    """Every recorded decision of a counted run (a failed or killed run's rows never count)."""
    a, r = wh.table(ACTION_ASSIGNMENTS.name), wh.table(RUNS.name)
    ok = r.filter(r.status.isin(COUNTED_RUNS)).select("run_id").distinct()
    return a.semi_join(ok, "run_id").to_pandas()


def outcomes(decided: pd.DataFrame, orders: pd.DataFrame, products: pd.DataFrame | None,
             window_days: int, default_margin_rate: float = 0.30) -> pd.DataFrame:
    """`decided` with converted / revenue / margin over each row's window from `orders`
    (customer_id, ts, amount, quantity, sku, status), and the covariates `PRE` from before
    the row's decision: conversion and revenue over the same length of window, and paid
    orders over `PRE_YEAR_DAYS`."""
    d = decided.reset_index(drop=True).copy()
    d["row"] = np.arange(len(d))
    o = orders[orders["status"].fillna("paid") == "paid"] if "status" in orders else orders
    cost = products.drop_duplicates("sku").set_index("sku")["cost"] \
        if products is not None and "cost" in products else pd.Series(dtype=float)
    o = o.assign(margin=o["amount"] - o["quantity"] * o["sku"].map(cost))
    o["margin"] = o["margin"].fillna(o["amount"] * default_margin_rate)
    # an order of several lines is one order (without an id, each line counts as one)
    o = o.assign(order=o["order_id"] if "order_id" in o else np.arange(len(o)))
    m_all = d[["row", "customer_id", "decided"]].merge(
        o[["customer_id", "ts", "amount", "margin", "order"]], on="customer_id")
    m = m_all
    end = m["decided"] + pd.Timedelta(days=window_days)
    m = m[(m["ts"] >= m["decided"]) & (m["ts"] < end)]
    per = m.groupby("row").agg(revenue=("amount", "sum"), margin=("margin", "sum"))
    d["revenue"] = d["row"].map(per["revenue"]).fillna(0.0)
    d["margin"] = d["row"].map(per["margin"]).fillna(0.0)
    d["conversion"] = d["row"].isin(per.index).astype(float)
    before = m_all[(m_all["ts"] < m_all["decided"])
                   & (m_all["ts"] >= m_all["decided"] - pd.Timedelta(days=PRE_YEAR_DAYS))]
    recent = before[before["ts"] >= before["decided"] - pd.Timedelta(days=window_days)]
    d["pre_revenue"] = d["row"].map(recent.groupby("row")["amount"].sum()).fillna(0.0)
    d["pre_conversion"] = d["row"].isin(recent["row"]).astype(float)
    d["pre_orders"] = d["row"].map(before.groupby("row")["order"].nunique()).fillna(0.0)
    return d.drop(columns="row")


def _adjusted(v: np.ndarray, x: np.ndarray | None, held: np.ndarray) -> np.ndarray:
    """`v` less its part explained by the covariates `x` (CUPED): θ by least squares on data
    centred within each group, so the treatment effect does not leak into θ."""
    if x is None or x.shape[1] == 0 or len(v) < MIN_CUPED_UNITS:
        return v
    xc, vc = x.astype(float).copy(), v.astype(float).copy()
    for g in (held, ~held):
        if g.any():
            xc[g] -= xc[g].mean(axis=0)
            vc[g] -= vc[g].mean()
    keep = xc.std(axis=0) > 1e-12  # a constant covariate carries nothing
    if not keep.any():
        return v
    theta, *_ = np.linalg.lstsq(xc[:, keep], vc, rcond=None)
    return v - (x[:, keep] - x[:, keep].mean(axis=0)) @ theta


def _diff(t: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    if len(t) < 2 or len(h) < 2:
        return np.nan, np.nan
    return float(t.mean() - h.mean()), float(np.sqrt(t.var(ddof=1) / len(t)
                                                       + h.var(ddof=1) / len(h)))


def _stratum(g: pd.DataFrame, cuped: bool, by_tier: bool = False) -> dict:
    """Difference, standard error (adjusted when `cuped`) and unadjusted standard error of
    every metric in one stratum; with `by_tier` the tiers are covariates too."""
    held = g["held_out"].astype(bool).to_numpy()
    x = None
    if cuped:
        cols = [g[c].to_numpy(float) for c in PRE if c in g]
        if by_tier:
            tiers = g["tier"].astype(str).to_numpy()
            cols += [(tiers == t).astype(float) for t in sorted(set(tiers))[1:]]
        if "holdout_share" in g:
            # customers first decided under different shares (an action explored with a
            # larger control group, then measured at the default) are strata of their own
            shares = g["holdout_share"].astype(float).to_numpy()
            cols += [(shares == v).astype(float) for v in sorted(set(shares))[1:]]
        x = np.column_stack(cols) if cols else None
        if x is not None and not np.isfinite(x).all():
            x = None
    out = {}
    for m in METRICS:
        v = g[m].to_numpy(float)
        _, out[f"{m}_se_unadjusted"] = _diff(v[~held], v[held])
        a = _adjusted(v, x, held)
        out[f"{m}_difference"], out[f"{m}_se"] = _diff(a[~held], a[held])
    return out


def _per_customer(measured: pd.DataFrame) -> pd.DataFrame:
    # a customer decided for in several runs stays in the same group (the hash is stable):
    # their outcomes are one unit, averaged, or the standard error would count repeated looks
    # at the same people as independent evidence; their covariates are those before the first
    # decision, which no treatment of this action can have moved
    if "decided" in measured:
        measured = measured.sort_values("decided", kind="stable")
    pre = {c: (c, "first") for c in (*PRE, "holdout_share") if c in measured}
    return measured.groupby(["action", "tier", "customer_id"], as_index=False, sort=False).agg(
        held_out=("held_out", "first"), **{m: (m, "mean") for m in METRICS}, **pre)


def effects(measured: pd.DataFrame, confidence: float = 0.95, *, cuped: bool = True,
            min_held_out: int = MIN_HELD_OUT) -> pd.DataFrame:
    """Per action and tier (and per action over all tiers, tier ``all``): counts, each metric's
    mean among treated and held out, the difference (CUPED-adjusted when `cuped` and the
    covariates `PRE` are there) and its interval, the unadjusted standard error and the
    variance reduction; `pooled` names the tiers pooled in the row of all tiers."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    if "customer_id" in measured and len(measured):
        measured = _per_customer(measured)
    rows = []
    for action, by_action in measured.groupby("action", sort=True):
        tiers, frames = [], {}
        for tier, g in by_action.groupby("tier", sort=False):
            held = g["held_out"].astype(bool).to_numpy()
            row = {"action": action, "tier": tier, "n_treated": int((~held).sum()),
                   "n_held_out": int(held.sum()), "pooled": ""}
            for m in METRICS:
                v = g[m].to_numpy(float)
                row[f"{m}_treated"] = float(v[~held].mean()) if (~held).any() else np.nan
                row[f"{m}_held_out"] = float(v[held].mean()) if held.any() else np.nan
            row.update(_stratum(g, cuped))
            tiers.append(row)
            frames[tier] = g
        rows += tiers
        # a tier without a held-out (or treated) customer measures nothing and is left out;
        # tiers with too few held out are pooled, and the pool too if it is still too small
        usable = [r for r in tiers if r["n_held_out"] > 0 and r["n_treated"] > 0]
        small = [r["tier"] for r in usable if r["n_held_out"] < min_held_out]
        strata = [[r["tier"]] for r in usable if r["tier"] not in small]
        if small:
            if sum(frames[t]["held_out"].astype(bool).sum() for t in small) < min_held_out:
                strata = [[r["tier"] for r in usable]]
                small = strata[0] if len(usable) > 1 else []
            else:
                strata.append(small)
        found = []
        for group in strata:
            g = pd.concat([frames[t] for t in group])
            held = g["held_out"].astype(bool).to_numpy()
            est = _stratum(g, cuped, by_tier=len(group) > 1)
            if np.isfinite(est["conversion_se"]):
                found.append((int((~held).sum()), est))
        total = {"action": action, "tier": ALL,
                 "n_treated": sum(r["n_treated"] for r in tiers),
                 "n_held_out": sum(r["n_held_out"] for r in tiers),
                 "pooled": ",".join(str(t) for t in small)}
        w = np.array([n for n, _ in found], float)
        w = w / w.sum() if len(found) else w
        for m in METRICS:
            for side in ("treated", "held_out"):
                n = np.array([r[f"n_{side}"] for r in tiers], float)
                v = np.array([r[f"{m}_{side}"] for r in tiers], float)
                total[f"{m}_{side}"] = float(np.nansum(n * v) / n.sum()) if n.sum() else np.nan
            for key in ("difference", "se", "se_unadjusted"):
                vals = np.array([e[f"{m}_{key}"] for _, e in found], float)
                total[f"{m}_{key}"] = (float(w @ vals) if key == "difference" else
                                       float(np.sqrt(w ** 2 @ vals ** 2))) if len(found) \
                    else np.nan
        rows.append(total)
    cols = ["action", "tier", "n_treated", "n_held_out"] + [
        f"{m}_{k}" for m in METRICS
        for k in ("treated", "held_out", "difference", "se", "se_unadjusted")] + ["pooled"]
    out = pd.DataFrame(rows, columns=cols)
    for m in METRICS:
        out[f"{m}_low"] = out[f"{m}_difference"] - z * out[f"{m}_se"]
        out[f"{m}_high"] = out[f"{m}_difference"] + z * out[f"{m}_se"]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{m}_variance_reduction"] = 1 - (out[f"{m}_se"] / out[f"{m}_se_unadjusted"]) ** 2
    return out


def measure(wh: Warehouse, as_of: datetime, settings: ImpactSettings = ImpactSettings()
            ) -> pd.DataFrame:
    """The effects of every recorded decision whose window has ended by `as_of`."""
    d = decisions(wh)
    d = d[pd.to_datetime(d["decided"]) + timedelta(days=settings.window_days) <= as_of]
    if d.empty:
        return effects(pd.DataFrame(columns=["action", "tier", "held_out", *METRICS]))
    o = wh.table("orders")
    # from the long pre-period of the first decision: the covariates of the adjustment
    first = d["decided"].min().to_pydatetime() - timedelta(days=PRE_YEAR_DAYS)
    o = o.filter(o.ts >= first, o.ts < as_of).select(
        "order_id", "customer_id", "ts", "amount", "quantity", "sku", "status").to_pandas()
    o = o[o["customer_id"].isin(set(d["customer_id"]))]
    products = wh.table("products").select("sku", "cost").to_pandas()
    measured = outcomes(d, o, products, settings.window_days, settings.default_margin_rate)
    return effects(measured, settings.confidence, cuped=settings.cuped,
                   min_held_out=settings.min_held_out)
