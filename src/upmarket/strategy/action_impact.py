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


@dataclass(frozen=True)
class ImpactSettings:
    window_days: int = 30
    confidence: float = 0.95
    #: margin rate of lines whose product has no cost
    default_margin_rate: float = 0.30


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
    (customer_id, ts, amount, quantity, sku, status)."""
    d = decided.reset_index(drop=True).copy()
    d["row"] = np.arange(len(d))
    o = orders[orders["status"].fillna("paid") == "paid"] if "status" in orders else orders
    cost = products.drop_duplicates("sku").set_index("sku")["cost"] \
        if products is not None and "cost" in products else pd.Series(dtype=float)
    o = o.assign(margin=o["amount"] - o["quantity"] * o["sku"].map(cost))
    o["margin"] = o["margin"].fillna(o["amount"] * default_margin_rate)
    m = d[["row", "customer_id", "decided"]].merge(
        o[["customer_id", "ts", "amount", "margin"]], on="customer_id")
    end = m["decided"] + pd.Timedelta(days=window_days)
    m = m[(m["ts"] >= m["decided"]) & (m["ts"] < end)]
    per = m.groupby("row").agg(revenue=("amount", "sum"), margin=("margin", "sum"))
    d["revenue"] = d["row"].map(per["revenue"]).fillna(0.0)
    d["margin"] = d["row"].map(per["margin"]).fillna(0.0)
    d["conversion"] = d["row"].isin(per.index).astype(float)
    return d.drop(columns="row")


def _diff(t: np.ndarray, h: np.ndarray) -> tuple[float, float]:
    if len(t) < 2 or len(h) < 2:
        return np.nan, np.nan
    return float(t.mean() - h.mean()), float(np.sqrt(t.var(ddof=1) / len(t)
                                                       + h.var(ddof=1) / len(h)))


def effects(measured: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per action and tier (and per action over all tiers, tier ``all``): counts, each metric's
    mean among treated and held out, the difference and its interval."""
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    if "customer_id" in measured and len(measured):
        # a customer decided for in several runs stays in the same group (the hash is stable):
        # their outcomes are one unit, averaged, or the standard error would count repeated
        # looks at the same people as independent evidence
        measured = measured.groupby(["action", "tier", "customer_id"], as_index=False).agg(
            held_out=("held_out", "first"), **{m: (m, "mean") for m in METRICS})
    rows = []
    for action, by_action in measured.groupby("action", sort=True):
        tiers = []
        for tier, g in by_action.groupby("tier", sort=False):
            held = g["held_out"].astype(bool).to_numpy()
            row = {"action": action, "tier": tier, "n_treated": int((~held).sum()),
                   "n_held_out": int(held.sum())}
            for m in METRICS:
                v = g[m].to_numpy(float)
                row[f"{m}_treated"] = float(v[~held].mean()) if (~held).any() else np.nan
                row[f"{m}_held_out"] = float(v[held].mean()) if held.any() else np.nan
                row[f"{m}_difference"], row[f"{m}_se"] = _diff(v[~held], v[held])
            tiers.append(row)
        rows += tiers
        ok = [r for r in tiers if np.isfinite(r["conversion_se"])]
        total = {"action": action, "tier": ALL,
                 "n_treated": sum(r["n_treated"] for r in tiers),
                 "n_held_out": sum(r["n_held_out"] for r in tiers)}
        w = np.array([r["n_treated"] for r in ok], float)
        w = w / w.sum() if len(ok) else w
        for m in METRICS:
            for side in ("treated", "held_out"):
                n = np.array([r[f"n_{side}"] for r in tiers], float)
                v = np.array([r[f"{m}_{side}"] for r in tiers], float)
                total[f"{m}_{side}"] = float(np.nansum(n * v) / n.sum()) if n.sum() else np.nan
            total[f"{m}_difference"] = float(w @ [r[f"{m}_difference"] for r in ok]) \
                if len(ok) else np.nan
            total[f"{m}_se"] = float(np.sqrt(w ** 2 @ np.square([r[f"{m}_se"] for r in ok]))) \
                if len(ok) else np.nan
        rows.append(total)
    cols = ["action", "tier", "n_treated", "n_held_out"] + [
        f"{m}_{k}" for m in METRICS for k in ("treated", "held_out", "difference", "se")]
    out = pd.DataFrame(rows, columns=cols)
    for m in METRICS:
        out[f"{m}_low"] = out[f"{m}_difference"] - z * out[f"{m}_se"]
        out[f"{m}_high"] = out[f"{m}_difference"] + z * out[f"{m}_se"]
    return out


def measure(wh: Warehouse, as_of: datetime, settings: ImpactSettings = ImpactSettings()
            ) -> pd.DataFrame:
    """The effects of every recorded decision whose window has ended by `as_of`."""
    d = decisions(wh)
    d = d[pd.to_datetime(d["decided"]) + timedelta(days=settings.window_days) <= as_of]
    if d.empty:
        return effects(pd.DataFrame(columns=["action", "tier", "held_out", *METRICS]))
    o = wh.table("orders")
    o = o.filter(o.ts >= d["decided"].min().to_pydatetime(), o.ts < as_of).select(
        "customer_id", "ts", "amount", "quantity", "sku", "status").to_pandas()
    o = o[o["customer_id"].isin(set(d["customer_id"]))]
    products = wh.table("products").select("sku", "cost").to_pandas()
    measured = outcomes(d, o, products, settings.window_days, settings.default_margin_rate)
    return effects(measured, settings.confidence)
