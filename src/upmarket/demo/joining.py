"""Who joins the demo's membership programme, when, and what joining truly does to purchasing.

Some buyers join when they sign up, some join later at a moment drawn at random over their life
(never tied to a purchase, so joining says nothing about what they were about to buy), and the
rest never join: the never-joiners are the comparison an incremental estimate needs, and the
later joiners, with history on both sides of their joining date, are who it can be made for.

The true effect of joining is extra purchases: every order a member places after joining brings,
with probability `EXTRA`, one more order a few days later (the member coming back for the points
or the member price). The extra order is drawn like any other order (lines, promotions,
cancellations and returns), so what joining adds to a member's spend is known exactly: the net
amount of their extra orders' lines, which `truth_members` records per member over the six
calendar months from the month they joined (the window `membership.incremental` measures).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

#: Share of customers who join when they sign up, and who join later (the rest never join).
AT_SIGN_UP = 0.35
LATER = 0.40
#: Chance that an order placed after joining brings an extra order: the true effect.
EXTRA = 0.25
#: Days from the order that brings it to the extra order.
EXTRA_DAYS = (3.0, 30.0)
#: Calendar months from the joining month over which the true extra spend is recorded.
TRUTH_MONTHS = 6


def join_times(created: np.ndarray, T: float, rng: np.random.Generator) -> np.ndarray:
    """Joining moment (days since the world's start) of each customer; NaN: never joins."""
    n = len(created)
    u = rng.random(n)
    lo = created + 30.0
    # too late in the history to join later: they join when they sign up
    later = np.where(lo < T, rng.uniform(np.minimum(lo, T), T), created)
    return np.where(u < AT_SIGN_UP, created, np.where(u < AT_SIGN_UP + LATER, later, np.nan))


def with_member_orders(hist, joined: np.ndarray, E: float, rng: np.random.Generator):
    """The history with the extra orders joining brings (sorted again by customer and time),
    and which of its orders are extra."""
    after = np.isfinite(joined[hist.o_cust]) & (hist.o_t >= joined[hist.o_cust])
    spawn = np.flatnonzero(after & (rng.random(len(hist.o_t)) < EXTRA))
    t = hist.o_t[spawn] + rng.uniform(*EXTRA_DAYS, len(spawn))
    death = hist.death[hist.o_cust[spawn]]
    # a customer who has dropped out buys nothing more, member or not
    ok = (t <= E) & ~(np.isfinite(death) & (t > death))
    spawn, t = spawn[ok], t[ok]
    n0 = len(hist.o_t)
    extra = np.concatenate([np.zeros(n0, dtype=bool), np.ones(len(spawn), dtype=bool)])
    o_cust = np.concatenate([hist.o_cust, hist.o_cust[spawn]])
    o_t = np.concatenate([hist.o_t, t])
    # never a first purchase: the extra order follows one already placed
    o_k = np.concatenate([hist.o_k, np.maximum(hist.o_k[spawn], 1)])
    srt = np.lexsort((o_t, o_cust))

    def grow(a):
        return None if a is None else np.concatenate([a, a[spawn]])[srt]

    out = replace(hist, o_cust=o_cust[srt], o_t=o_t[srt], o_k=o_k[srt],
                  state=grow(hist.state), o_chan=grow(hist.o_chan), late=grow(hist.late))
    return out, extra[srt]


def truth_members(member_ids: np.ndarray, joined_at: np.ndarray, orders: pd.DataFrame,
                  extra_ids: set[str]) -> dict:
    """Columns of `truth_members`: per member, the extra orders joining brought before the
    world's as-of date and the net spend of their lines (reversals included, by the date of
    each line) in the `TRUTH_MONTHS` calendar months from the joining month."""
    ref = orders["original_order_id"].where(orders["original_order_id"].notna(),
                                            orders["order_id"])
    mine = orders[ref.isin(extra_ids)]
    joined = pd.Series(pd.to_datetime(joined_at), index=member_ids)
    start = joined.dt.to_period("M").dt.start_time
    at = mine["customer_id"].map(start)
    inside = (mine["ts"] >= at) & (mine["ts"] < at + pd.DateOffset(months=TRUTH_MONTHS))
    spend = mine[inside].groupby("customer_id")["amount"].sum()
    count = mine[mine["status"] == "paid"].groupby("customer_id")["order_id"].nunique()
    ids = pd.Index(member_ids)
    return {"customer_id": np.asarray(member_ids, dtype=object),
            "joined_at": joined.to_numpy("datetime64[ns]"),
            "extra_orders": count.reindex(ids, fill_value=0).to_numpy(np.int64),
            "extra_spend_6m": spend.reindex(ids, fill_value=0.0).round(2).to_numpy(float)}
