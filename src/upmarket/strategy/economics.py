"""Acquisition economics per channel (the key-account strategy course and the back-to-basics marketing course): fully-loaded CAC, lifetime value of the
customers each channel brought, CLV/CAC and the "> 3" health flag; the model's CLV figure
(`model_clv`) and the textbook CLTV formula beside it for comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd

from upmarket.models import formulas

COST_TYPES = ("media", "sales_team", "technical_support", "overhead")


def cac_by_cohort(new: pd.DataFrame, spend: pd.DataFrame) -> pd.DataFrame:
    """channel × cohort month: cost per type, fully-loaded cost, new customers, CAC."""
    wide = spend.pivot_table(index=["channel", "cohort"], columns="cost_type", values="cost",
                             aggfunc="sum", fill_value=0.0)
    for c in COST_TYPES:
        if c not in wide:
            wide[c] = 0.0
    wide = wide[list(COST_TYPES)]
    wide["fully_loaded_cost"] = wide.sum(axis=1)
    out = wide.join(new.set_index(["channel", "cohort"]), how="outer").fillna(
        {c: 0.0 for c in (*COST_TYPES, "fully_loaded_cost", "new_customers")})
    out["cac"] = formulas.cac(out["fully_loaded_cost"], out["new_customers"])
    return out.reset_index()


def channel_economics(cohorts: pd.DataFrame, results: pd.DataFrame, channels: pd.Series,
                      yearly_retention: float, discount_rate: float = 0.10) -> pd.DataFrame:
    """Per acquisition channel, over all cohorts: CAC, mean 12-month predicted CLV of its
    customers, their lifetime value by the the back-to-basics marketing course formula (that 12-month margin as m, the
    base's yearly retention as r, counting the first year) and CLV/CAC with the health flag."""
    per = cohorts.groupby("channel")[["fully_loaded_cost", "new_customers"]].sum()
    per["cac"] = formulas.cac(per["fully_loaded_cost"], per["new_customers"])
    clv = results.assign(channel=results["customer_id"].map(channels).fillna("unknown")) \
        .groupby("channel")["clv"].mean()
    per["clv_12m"] = clv
    r = float(np.clip(yearly_retention, 0.0, 0.99))
    per["lifetime_clv"] = formulas.discounted_clv(per["clv_12m"].fillna(0.0), r, discount_rate,
                                                  count_first_year=True)
    per["clv_to_cac"] = per["lifetime_clv"] / per["cac"]
    per["healthy"] = per["clv_to_cac"] > formulas.HEALTHY_CLV_TO_CAC
    return per.reset_index()


def model_clv(results: pd.DataFrame) -> dict:
    """The CLV users see: the value model's predicted margin of the next 12 months
    (`models.value.LifetimeValue`), as a mean per customer and a total over the customers it
    could score (a customer without a forecast counts in neither)."""
    clv = results["clv"].astype(float) if "clv" in results else pd.Series(dtype=float)
    scored = clv[np.isfinite(clv)]
    return {"mean_12m_margin": float(scored.mean()) if len(scored) else float("nan"),
            "total_12m_margin": float(scored.sum()), "customers": int(len(scored))}


def textbook_cltv(results: pd.DataFrame, yearly_retention: float, years_observed: float) -> dict:
    """The textbook CLTV of the average customer, CLTV = order value × purchases a year ×
    lifespan × retention (`formulas.cltv_textbook`), from this base's own averages: a revenue
    figure over the whole expected lifetime, shown only for comparison with the model's CLV
    (`model_clv`, 12 months of margin), never in its place."""
    orders = results["orders"].astype(float)
    aov = float(results["net_revenue"].sum() / max(orders.sum(), 1.0))
    per_year = float(orders.mean() / max(years_observed, 1e-9))
    r = float(np.clip(yearly_retention, 0.0, 0.99))
    lifespan = float(formulas.expected_lifespan(r))
    return {
        "average_order_value": aov, "purchases_per_year": per_year, "lifespan_years": lifespan,
        "retention_coefficient": r,
        "cltv_revenue": float(formulas.cltv_textbook(aov, per_year, lifespan, r)),
    }
