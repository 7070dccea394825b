"""The demo programme's members and their redemptions (积分兑换).

The buyers who joined (`joining`: at sign-up or later) are the members; most of them redeem
points, each after most of the orders they place as members, half or more of the points that
order earned, in whole hundreds (a coupon of ¥1 per 100 points, the common rate). A redemption never exceeds the points
the order that set it off has just earned, so balances do not go below zero; the rest of what
members earn lapses at the end of the following year, which gives the programme its breakage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Share of members who ever redeem, and the chance they redeem after an order.
REDEEMERS = 0.6
AFTER_ORDER = 0.7


def members_and_redemptions(customers: pd.DataFrame, orders: pd.DataFrame,
                            joined_at: np.ndarray, rng: np.random.Generator
                            ) -> tuple[dict, dict]:
    """Columns of the `members` and `points` frames for one chunk of the world; `joined_at`
    is each customer's joining moment (NaT: never joins)."""
    paid = orders[(orders["status"] == "paid") & (orders["line_kind"] == "product")]
    reversed_ = set(orders["original_order_id"].dropna())
    placed = paid.groupby("order_id", sort=True).agg(
        customer_id=("customer_id", "first"), ts=("ts", "min"), amount=("amount", "sum"))
    joined = pd.Series(joined_at, index=customers["customer_id"].to_numpy())
    buyers = customers.assign(joined_at=joined_at)
    buyers = buyers[buyers["customer_id"].isin(set(placed["customer_id"]))
                    & buyers["joined_at"].notna()]
    people = np.asarray(sorted(set(placed["customer_id"])), dtype=object)
    redeems = dict(zip(people, rng.random(len(people)) < REDEEMERS))
    share = rng.uniform(0.5, 1.0, len(placed))
    hit = rng.random(len(placed)) < AFTER_ORDER
    points = (np.floor(placed["amount"].to_numpy() * share / 100) * 100).astype(np.int64)
    member_since = placed["customer_id"].map(joined).to_numpy("datetime64[ns]")
    # only a member redeems, and only points of orders placed as a member
    as_member = ~np.isnat(member_since) & (placed["ts"].to_numpy("datetime64[ns]") >= member_since)
    keep = (hit & (points >= 100) & placed["customer_id"].map(redeems).to_numpy(bool)
            & ~placed.index.isin(reversed_) & as_member)
    chosen = placed[keep]
    members = {"customer_id": buyers["customer_id"].to_numpy(),
               "joined_at": buyers["joined_at"].to_numpy("datetime64[ns]"),
               "opening_balance": np.zeros(len(buyers), dtype=np.int64)}
    redemptions = {"id": ("R" + chosen.index.astype(str)).to_numpy(),
                   "customer_id": chosen["customer_id"].to_numpy(),
                   "ts": (chosen["ts"] + pd.Timedelta(minutes=1)).to_numpy(),
                   "kind": np.full(len(chosen), "redeemed", dtype=object),
                   "points": points[keep],
                   "reference": ("R" + chosen.index.astype(str)).to_numpy()}
    return members, redemptions
