"""What joining the programme changes in what a customer spends: members against comparable
non-members, by matched difference-in-differences.

Members of an existing programme (`upmarket ingest members`) joined on a known date; customers
who bought but never joined are the comparison. For every member who bought before joining and
has `months` months of data after joining and twice that before, the spend of the `months`
after joining is set against what it would have been without joining: the spend of their
matched non-members over the same calendar months, moved by how far the member's own spend of
the `months` before (the baseline) stood from theirs, that gap scaled by what the matched
non-members' spend grew by (a ratio, because the calendar — season, the shop's growth — moves
a big spender's spend by more than a small one's). Each member gets `NEIGHBOURS` non-members
(nearest, with replacement), matched on how long they have been buying and on the spend that
came before the baseline, never on the baseline itself: a non-member picked for a high
baseline owes part of it to chance and falls back after it, which would pass for an effect of
joining. Many neighbours rather than one: customers who bought nothing before the baseline are
alike on every matching variable, and one of them standing for all would decide the estimate.
What the design cannot remove is a reason to join that also raises spend later (a member who
joins because a big purchase is coming); where joining is chosen that way the estimate is an
upper bound. The 90 % interval is a bootstrap that resamples members and non-members both,
since one non-member may stand beside many members.

Background: comparing members with matched non-members before and after joining is the usual
design for loyalty programme effects (Leenheer, van Heerde, Bijmolt and Smidts 2007, "Do
loyalty programs really enhance behavioral loyalty?", IJRM 24(1); Taylor and Neslin 2005,
J. Retailing 81(4)).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

LEVEL = 0.90
REPLICATES = 400
#: fewer members than this with a full window on both sides: no estimate
MIN_MEMBERS = 30
#: non-members matched to each member
NEIGHBOURS = 20


def monthly_lines(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """What `membership_effect` reads of the order lines before `as_of`, summed in the engine:
    net spend per customer and calendar month, dated at the month's first day (it sums lines
    per calendar month itself, so these rows give the same table as the lines)."""
    o = orders.filter(orders.ts < ibis.literal(as_of))
    o = o.mutate(month=o.ts.truncate("M"))
    g = o.group_by(["customer_id", "month"]).aggregate(amount=o.amount.sum())
    return g.select("customer_id", ts=g.month, amount=g.amount)


def _months_since(ts: pd.Series, first: pd.Period) -> np.ndarray:
    """Calendar months from `first` to each timestamp's month."""
    return ((ts.dt.year - first.year) * 12 + (ts.dt.month - first.month)).to_numpy(int)


def _monthly(lines: pd.DataFrame, as_of: datetime) -> tuple[pd.DataFrame, pd.Period]:
    """Net spend per customer and calendar month before `as_of` (rows: customers, columns:
    month numbers from the first month), and the first month."""
    ts = pd.to_datetime(lines["ts"])
    keep = ts < pd.Timestamp(as_of)
    first = ts[keep].min().to_period("M")
    index = pd.Series(_months_since(ts[keep], first))
    spend = pd.DataFrame({"customer_id": lines.loc[keep, "customer_id"].to_numpy(),
                          "m": index.to_numpy(), "amount": lines.loc[keep, "amount"].to_numpy()})
    table = spend.pivot_table(index="customer_id", columns="m", values="amount", aggfunc="sum",
                              fill_value=0.0)
    last = (pd.Timestamp(as_of).to_period("M") - first).n
    return table.reindex(columns=range(last), fill_value=0.0), first


def membership_effect(lines: pd.DataFrame, joined: pd.DataFrame, as_of: datetime, *,
                      months: int = 6, margin_rate: float | None = None,
                      rng: np.random.Generator | None = None) -> dict:
    """Incremental spend of members over the `months` after joining (and margin at
    `margin_rate`), per member, with its interval; `reason` says why there is none
    (`no_members`, `no_non_members`, `too_few_members`)."""
    out = {"months": months, "members": 0, "controls": 0, "spend": None, "low": None,
           "high": None, "margin": None, "margin_low": None, "margin_high": None,
           "reason": None}
    if lines.empty or joined.empty:
        out["reason"] = "no_members"
        return out
    table, first = _monthly(lines, as_of)
    s = table.to_numpy(float)
    cum = np.concatenate([np.zeros((len(s), 1)), np.cumsum(s, axis=1)], axis=1)
    n_months = s.shape[1]
    ids = table.index
    started = np.argmax(s != 0, axis=1)  # first month with any spend
    j = joined.dropna(subset=["joined_at"]).drop_duplicates("customer_id")
    jm = pd.Series(_months_since(pd.to_datetime(j["joined_at"]), first),
                   index=j["customer_id"].to_numpy())
    at = ids.get_indexer(jm.index)
    member_rows, member_month = at[at >= 0], jm.to_numpy()[at >= 0]
    is_member = np.zeros(len(ids), dtype=bool)
    is_member[member_rows] = True
    controls = np.flatnonzero(~is_member)
    # a full window on both sides, and buying before joining (no history, no baseline)
    ok = ((member_month - 2 * months >= 0) & (member_month + months <= n_months)
          & (started[member_rows] < member_month))
    rows, when = member_rows[ok], member_month[ok]
    out["members"], out["controls"] = int(len(rows)), int(len(controls))
    if len(controls) == 0:
        out["reason"] = "no_non_members"
        return out
    if len(rows) < MIN_MEMBERS:
        out["reason"] = "too_few_members"
        return out

    def window(r, a, b):
        return cum[r, b] - cum[r, a]

    def _history(r, w):
        # matched on what came before the baseline, never on the baseline itself: a
        # non-member picked for a high baseline would owe part of it to chance and fall back
        # after it, which would pass for an effect of joining; and on how long they have
        # been buying, since a customer's spend moves with their age as a customer (a new one
        # has just made their first purchase, an old one may have stopped)
        older = np.maximum(w - 2 * months, 1)
        return np.column_stack([np.minimum(w - started[r], 4 * months),
                                window(r, w - 2 * months, w - months),
                                months * window(r, 0, older) / older])

    rng = rng or np.random.default_rng(0)
    # per member: spend before and after joining, the cohort, and their matches' rows
    before_m, after_m, cohort, nb = [], [], [], []
    for w in np.unique(when):
        mine = rows[when == w]
        pool = controls[started[controls] < w]
        if not len(pool):
            continue
        k = min(NEIGHBOURS, len(pool))
        x_m, x_c = _history(mine, w), _history(pool, w)
        scale = np.maximum(x_c.std(axis=0), 1.0)
        # many customers share a history (nothing bought before the baseline): a tiny jitter
        # spreads ties over all of them instead of handing every such member the same match
        jitter = rng.uniform(0, 1e-6, x_c.shape)
        idx = cKDTree(x_c / scale + jitter).query(x_m / scale, k=k)[1].reshape(len(mine), k)
        before_m.append(window(mine, w - months, w))
        after_m.append(window(mine, w, w + months))
        cohort.append(np.full(len(mine), w))
        nb.append(np.pad(pool[idx], ((0, 0), (0, NEIGHBOURS - k)), constant_values=-1))
    if not nb or sum(len(x) for x in nb) < MIN_MEMBERS:
        out["reason"] = "too_few_members"
        return out
    before_m, after_m = np.concatenate(before_m), np.concatenate(after_m)
    nb, cohort = np.concatenate(nb), np.concatenate(cohort)
    present = nb >= 0
    safe = np.maximum(nb, 0)
    # the matches' spend over the same calendar months as their member's before and after
    w_start = cohort[:, None]
    before_c = np.where(present, cum[safe, w_start] - cum[safe, w_start - months], 0.0)
    after_c = np.where(present, cum[safe, w_start + months] - cum[safe, w_start], 0.0)
    group = np.unique(cohort, return_inverse=True)[1]
    used = set(nb[present].tolist())

    def estimate(w_members, w_rows):
        # what the member would have spent: their matches' spend after, moved by how far
        # the member's own spend before stood from theirs, scaled by what the matches' spend
        # grew by over the same calendar months (a ratio: the calendar — season, the shop's
        # growth — moves a big spender's spend by more than a small one's)
        w = np.where(present, w_rows[safe], 0.0)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, present.astype(float))
        total = w.sum(axis=1)
        a_c, b_c = (w * after_c).sum(axis=1) / total, (w * before_c).sum(axis=1) / total
        sums_b = np.bincount(group, w_members * b_c)
        sums_a = np.bincount(group, w_members * a_c)
        growth = np.where(sums_b > 0, sums_a / np.maximum(sums_b, 1e-9), 1.0)[group]
        effect = after_m - (a_c + growth * (before_m - b_c))
        return (w_members * effect).sum() / max(w_members.sum(), 1e-9)

    spend = estimate(np.ones(len(after_m)), np.ones(len(ids)))
    # members and non-members are both resampled: one non-member may stand beside many
    # members, and a bootstrap over members alone would take their shared match as known
    boot = np.array([estimate(rng.poisson(1.0, len(after_m)).astype(float),
                              rng.poisson(1.0, len(ids)).astype(float))
                     for _ in range(REPLICATES)])
    low, high = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    out.update(members=int(len(after_m)), controls=len(used), spend=round(float(spend), 2),
               low=round(float(low), 2), high=round(float(high), 2))
    if margin_rate is not None:
        out.update(margin=round(out["spend"] * margin_rate, 2),
                   margin_low=round(out["low"] * margin_rate, 2),
                   margin_high=round(out["high"] * margin_rate, 2))
    return out
