"""Customer value tiers and their service levels (seed 003).

Customers are ranked by value (predicted CLV; historical margin or revenue when no model is
available) and cut at cumulative shares of the customer base: Diamond 2 % · Core 18 % ·
Potential 30 % · Basic 50 %. Each tier carries a service level. Tiers form a ladder: each
customer's distance to the next tier is the extra value that would move them up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from upmarket.i18n import label

TIER_ORDER = ("diamond", "core", "potential", "basic")


@dataclass(frozen=True)
class ServiceLevel:
    response_hours: float
    #: i18n keys of what the tier gets
    service: str
    resource: str
    #: most marketing contacts per 30 days (a cap the next-best-action respects)
    contacts_per_month: int
    #: cost to serve the tier, as a share of its mean yearly predicted margin per customer:
    #: scale-free, so the same policy fits a $10-a-year CD shop and a ¥50,000-a-year B2B
    #: account; richer tiers get more service, so a larger share (configurable)
    cost_share: float


@dataclass(frozen=True)
class TierPolicy:
    shares: tuple[float, float, float, float] = (0.02, 0.18, 0.30, 0.50)
    levels: tuple[ServiceLevel, ...] = (
        ServiceLevel(1, "service.diamond", "resource.diamond", 8, 0.15),
        ServiceLevel(4, "service.core", "resource.core", 6, 0.10),
        ServiceLevel(24, "service.potential", "resource.potential", 4, 0.06),
        ServiceLevel(48, "service.basic", "resource.basic", 2, 0.03),
    )
    diamond_revenue_claim: float = 0.30

    def __post_init__(self):
        if len(self.shares) != 4 or any(s <= 0 for s in self.shares) \
                or abs(sum(self.shares) - 1) > 1e-9:
            raise ValueError("tier shares must be four positive fractions summing to 1")

    def level(self, tier: str) -> ServiceLevel:
        return self.levels[TIER_ORDER.index(tier)]


def assign_tiers(value: np.ndarray, policy: TierPolicy = TierPolicy()) -> np.ndarray:
    """Tier per customer: the top `shares[0]` of customers by value are diamond, and so on.

    Ranks are by value descending, ties broken by input order (stable), so the counts per tier
    are exactly ⌈cumulative share × n⌉ boundaries and every customer gets one tier.
    """
    value = np.nan_to_num(np.asarray(value, float), nan=-np.inf)
    n = len(value)
    order = np.argsort(-value, kind="stable")
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    bounds = np.ceil(np.cumsum(policy.shares) * n - 1e-9).astype(np.int64)
    idx = np.searchsorted(bounds, position, side="right")
    return np.array(TIER_ORDER)[np.minimum(idx, 3)]


def tier_thresholds(value: np.ndarray, tiers: np.ndarray) -> dict[str, float]:
    """The lowest value held by a member of each tier: the bar to clear to enter it."""
    s = pd.Series(np.asarray(value, float)).groupby(np.asarray(tiers)).min()
    return {t: float(s.get(t, np.nan)) for t in TIER_ORDER}


def distance_to_next_tier(value: np.ndarray, tiers: np.ndarray) -> np.ndarray:
    """How much more value would lift each customer into the tier above (0 for diamond).

    On a very small base a tier can be empty; the bar is then that of the nearest occupied
    tier above."""
    value = np.asarray(value, float)
    tiers = np.asarray(tiers)
    bars = tier_thresholds(value, tiers)
    next_bar = {}
    for i, t in enumerate(TIER_ORDER[1:], start=1):
        above = [bars[u] for u in TIER_ORDER[:i] if not np.isnan(bars[u])]
        next_bar[t] = above[-1] if above else np.nan
    nxt = np.array([next_bar.get(t, np.nan) for t in tiers], dtype=float)
    return np.where(tiers == "diamond", 0.0, np.maximum(np.nan_to_num(nxt - value), 0.0))


def tier_change(current: pd.Series, previous: pd.Series) -> pd.Series:
    """promoted / demoted / same / new, comparing each customer's tier with the last run."""
    prev = previous.reindex(current.index)
    rank = {t: i for i, t in enumerate(TIER_ORDER)}
    cur_r = current.map(rank)
    prev_r = prev.map(rank)
    out = np.select([prev.isna(), cur_r < prev_r, cur_r > prev_r],
                    ["new", "promoted", "demoted"], default="same")
    return pd.Series(out, index=current.index)


def tier_report(tiers: pd.Series, revenue: pd.Series, policy: TierPolicy = TierPolicy(),
                lang: str | None = None, value: pd.Series | None = None) -> pd.DataFrame:
    """Per tier: customers, share, revenue share (history), value share (the predicted value
    the tiers are cut on) and the service level; the seed's claim that Diamond holds ≥ 30 % of
    revenue is checked in `diamond_claim_holds`."""
    total = float(revenue.sum()) or 1.0
    total_value = float(value.sum()) if value is not None else 0.0
    rows = []
    for t in TIER_ORDER:
        mask = tiers == t
        lvl = policy.level(t)
        rows.append({
            "tier": t, "tier_name": label(f"tier.{t}", lang),
            "customers": int(mask.sum()), "customer_share": float(mask.mean()) if len(tiers) else 0.0,
            "revenue": float(revenue[mask].sum()), "revenue_share": float(revenue[mask].sum()) / total,
            "value_share": float(value[mask].sum()) / total_value if total_value else np.nan,
            "response_hours": lvl.response_hours, "service": label(lvl.service, lang),
            "resource": label(lvl.resource, lang), "contacts_per_month": lvl.contacts_per_month,
            "cost_share": lvl.cost_share,
        })
    return pd.DataFrame(rows)


def diamond_claim_holds(report: pd.DataFrame, policy: TierPolicy = TierPolicy()) -> bool:
    share = report.loc[report.tier == "diamond", "revenue_share"].iloc[0]
    return bool(share >= policy.diamond_revenue_claim)
