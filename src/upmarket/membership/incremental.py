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

from dataclasses import dataclass
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
    """Net spend per customer and calendar month before `as_of`, summed in the engine, dated
    at the month's first day: what `membership_effect` reads of the order lines (it sums
    lines per calendar month itself, so these rows give the same estimate as the lines)."""
    o = orders.filter(orders.ts < ibis.literal(as_of))
    o = o.mutate(month=o.ts.truncate("M"))
    g = o.group_by(["customer_id", "month"]).aggregate(amount=o.amount.sum())
    return g.select("customer_id", ts=g.month, amount=g.amount)


def _months_since(ts: ibis.Column, first: pd.Period) -> ibis.Column:
    """Calendar months from `first` to each timestamp's month."""
    return (ts.year() - first.year) * 12 + (ts.month() - first.month)


@dataclass
class MonthlySpend:
    """What the estimate reads of the table of net spend per customer (rows, in id order) and
    calendar month (columns, from the first month with a line to the one before `as_of`'s),
    held only for the rows it can use: non-members (every one may be a match) and members
    with a full window on both sides who bought before joining. The whole table, a row per
    customer, is never built: its rows are summed in the engine and only these come back."""

    #: rows of the whole table (customers with a line before `as_of`)
    customers: int
    #: its columns
    months: int
    #: per row held (in id order): its position among all rows, first month with any spend,
    #: and its spend summed up to each month (column 0: nothing yet; column m + 1: through m)
    pos: np.ndarray
    started: np.ndarray
    cum: np.ndarray
    #: rows held of the non-members, in id order
    controls: np.ndarray
    #: rows held of the members who can be estimated, and their joining month, in the order
    #: the members came
    members: np.ndarray
    member_month: np.ndarray


def monthly_spend(lines: ibis.Table, enrolled: ibis.Table, as_of: datetime, months: int
                  ) -> MonthlySpend | None:
    """`MonthlySpend` from order `lines` (customer_id, ts, amount) and the `enrolled` members
    (customer_id, joined_at, and `order`: the order they came in; a member listed twice
    counts from their first row); None without a line before `as_of`."""
    before = lines.filter(lines.ts < ibis.literal(as_of))
    first = before.ts.min().execute()
    if first is None or pd.isna(first):
        return None
    first = pd.Timestamp(first).to_period("M")
    last = (pd.Timestamp(as_of).to_period("M") - first).n
    g = monthly_lines(lines, as_of)
    g = g.mutate(m=_months_since(g.ts, first), amount=g.amount.fill_null(0.0))
    # a month's spend only counts within the table's columns, as does the first month with any
    started = g.m.min(where=(g.amount != 0) & (g.m < last))
    per = g.group_by("customer_id").aggregate(started=started.fill_null(0))
    per = per.mutate(pos=ibis.row_number().over(order_by=per.customer_id))
    e = enrolled.filter(enrolled.joined_at.notnull())
    e = e.mutate(_first=e.order.min().over(group_by=e.customer_id))
    e = e.filter(e.order == e._first)
    e = e.select("customer_id", "order", joined=_months_since(e.joined_at, first))
    j = per.left_join(e, per.customer_id == e.customer_id)
    member = j.joined.notnull()
    # a full window on both sides, and buying before joining (no history, no baseline)
    ok = member & (j.joined >= 2 * months) & (j.joined + months <= last) \
        & (j.started < j.joined)
    kept = j.filter(~member | ok).select(j.customer_id, j.pos, j.started, j.joined, j.order)
    rows = kept.drop("customer_id").order_by("pos").to_pyarrow()
    customers = int(per.count().execute())
    pos = rows["pos"].to_numpy().astype(np.int64)
    started = rows["started"].to_numpy().astype(np.int64)
    is_member = rows["joined"].is_valid().to_numpy(zero_copy_only=False)
    came = np.flatnonzero(is_member)
    came = came[np.argsort(rows["order"].to_numpy(zero_copy_only=False)[came], kind="stable")]
    joined = rows["joined"].to_numpy(zero_copy_only=False)
    del rows
    cells = g.filter(g.m < last).join(kept.select("customer_id", "pos"), "customer_id")
    cells = cells.select("pos", "m", "amount").to_pyarrow()
    cum = np.zeros((len(pos), last + 1))
    cum[np.searchsorted(pos, cells["pos"].to_numpy()), cells["m"].to_numpy() + 1] = \
        cells["amount"].to_numpy()
    del cells
    np.cumsum(cum[:, 1:], axis=1, out=cum[:, 1:])
    return MonthlySpend(customers, last, pos, started, cum, np.flatnonzero(~is_member), came,
                        joined[came].astype(np.int64))


def membership_effect(lines: pd.DataFrame, joined: pd.DataFrame, as_of: datetime, *,
                      months: int = 6, margin_rate: float | None = None,
                      rng: np.random.Generator | None = None) -> dict:
    """Incremental spend of members over the `months` after joining (and margin at
    `margin_rate`), per member, with its interval, from order `lines` (customer_id, ts,
    amount) and the members who `joined` (customer_id, joined_at) in frames; `reason` says
    why there is none (`no_members`, `no_non_members`, `too_few_members`)."""
    if lines.empty or joined.empty:
        return membership_effect_of(None, months=months)
    return membership_effect_in(
        ibis.memtable(lines[["customer_id", "ts", "amount"]]),
        ibis.memtable(joined[["customer_id", "joined_at"]].assign(order=np.arange(len(joined)))),
        as_of, months=months, margin_rate=margin_rate, rng=rng)


def membership_effect_in(orders: ibis.Table, enrolled: ibis.Table | None, as_of: datetime, *,
                         months: int = 6, margin_rate: float | None = None,
                         rng: np.random.Generator | None = None) -> dict:
    """`membership_effect` of the order lines and members in the engine (`enrolled`:
    customer_id, joined_at and `order`, see `monthly_spend`; None: no members)."""
    if enrolled is None or not int(enrolled.count().execute()):
        return membership_effect_of(None, months=months)
    return membership_effect_of(monthly_spend(orders, enrolled, as_of, months), months=months,
                                margin_rate=margin_rate, rng=rng)


def membership_effect_of(spend: MonthlySpend | None, *, months: int = 6,
                         margin_rate: float | None = None,
                         rng: np.random.Generator | None = None) -> dict:
    """`membership_effect` from what it reads of the monthly spend (`monthly_spend`; None:
    no members or no lines)."""
    out = {"months": months, "members": 0, "controls": 0, "spend": None, "low": None,
           "high": None, "margin": None, "margin_low": None, "margin_high": None,
           "reason": None}
    if spend is None:
        out["reason"] = "no_members"
        return out
    cum, started, controls = spend.cum, spend.started, spend.controls
    rows, when = spend.members, spend.member_month
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
    # the matches' places among every customer, whose bootstrap weights are drawn for all
    at = spend.pos[safe]
    gaps = not present.all()
    # the matches' spend over the same calendar months as their member's before and after
    w_start = cohort[:, None]
    before_c = np.where(present, cum[safe, w_start] - cum[safe, w_start - months], 0.0)
    after_c = np.where(present, cum[safe, w_start + months] - cum[safe, w_start], 0.0)
    group = np.unique(cohort, return_inverse=True)[1]
    used = np.unique(nb[present])

    def estimate(w_members, w_rows):
        # what the member would have spent: their matches' spend after, moved by how far
        # the member's own spend before stood from theirs, scaled by what the matches' spend
        # grew by over the same calendar months (a ratio: the calendar — season, the shop's
        # growth — moves a big spender's spend by more than a small one's)
        w = w_rows[at]
        if gaps:
            w[~present] = 0.0
        total = w.sum(axis=1)
        # a member whose matches all drew no weight keeps them all at one
        none = total <= 0
        if none.any():
            w[none] = present[none]
            total[none] = w[none].sum(axis=1)
        # one product at a time, in one buffer: these are members x matches each replicate
        both = np.multiply(w, after_c)
        a_c = both.sum(axis=1) / total
        b_c = np.multiply(w, before_c, out=both).sum(axis=1) / total
        sums_b = np.bincount(group, w_members * b_c)
        sums_a = np.bincount(group, w_members * a_c)
        growth = np.where(sums_b > 0, sums_a / np.maximum(sums_b, 1e-9), 1.0)[group]
        effect = after_m - (a_c + growth * (before_m - b_c))
        return (w_members * effect).sum() / max(w_members.sum(), 1e-9)

    found = estimate(np.ones(len(after_m)), np.ones(spend.customers))
    # members and non-members are both resampled: one non-member may stand beside many
    # members, and a bootstrap over members alone would take their shared match as known
    boot = np.array([estimate(rng.poisson(1.0, len(after_m)).astype(float),
                              rng.poisson(1.0, spend.customers).astype(float))
                     for _ in range(REPLICATES)])
    low, high = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    out.update(members=int(len(after_m)), controls=len(used), spend=round(float(found), 2),
               low=round(float(low), 2), high=round(float(high), 2))
    if margin_rate is not None:
        out.update(margin=round(out["spend"] * margin_rate, 2),
                   margin_low=round(out["low"] * margin_rate, 2),
                   margin_high=round(out["high"] * margin_rate, 2))
    return out
