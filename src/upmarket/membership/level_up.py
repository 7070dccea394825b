"""What moving up a level changes in what a member spends afterwards (升级效应), by a
regression discontinuity at the levels' spend bars.

A member is moved up on an evaluation date when their trailing-window spend reaches the next
level's bar. Those who just reached it and those who just missed it are alike in everything
but the level they were given, so the jump at the bar in what they spend over the `months`
after that date is the effect of the level itself. Only spend dated on or after the evaluation
date counts: the spend that earned the upgrade lies before it and is never credited to it.

Observations are (member, evaluation date) pairs with the member holding the level below the
bar before the date, below it on the previous evaluation, having bought since (whoever crosses
a bar has just bought, so those who just missed it must have too), and their spend within
`BANDWIDTH` of the bar (as a share of the bar, so all
levels' bars are pooled); where a level also admits by orders (`any`) only members whose orders
do not qualify them are kept, and where it asks for both (`all`) only those whose orders do, so
that the spend bar alone decides the upgrade. The jump is estimated by local linear regression
with a slope on each side and triangular weights (Imbens and Lemieux 2008, "Regression
discontinuity designs: a guide to practice", J. Econometrics 142(2); Lee and Lemieux 2010,
J. Economic Literature 48(2)). The 90 % interval is a bootstrap over members (one member may be
near a bar on several dates). With fewer than `MIN_SIDE` observations on either side there is
no estimate, and the reason says how many there were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from upmarket.membership.levels import LevelHistory
from upmarket.membership.programme import Programme

LEVEL = 0.90
REPLICATES = 400
#: how far from the bar a member's spend may be, as a share of the bar, to be compared
BANDWIDTH = 0.3
#: observations needed on each side of the bar
MIN_SIDE = 30


def _design(r, treated) -> np.ndarray:
    return np.column_stack([np.ones(len(r)), treated, r, r * treated])


def _jump(r, y, treated, weight, x=None):
    """Local linear regression with a slope on each side; the coefficient of `treated`.
    `x`: the design (`_design(r, treated)`) when already built."""
    x = _design(r, treated) if x is None else x
    sw = np.sqrt(weight)
    beta, *_ = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)
    return beta[1]


def _window_ends(dates, months: int) -> list[pd.Timestamp]:
    return [pd.Timestamp(d) + pd.DateOffset(months=months) for d in dates]


def period_lines(orders: ibis.Table, hist: LevelHistory, as_of: datetime, *,
                 months: int = 6) -> ibis.Table:
    """What `level_up_effect` reads of the order lines before `as_of`, summed in the engine:
    per customer, stretch between consecutive cut points (the evaluation dates and the ends
    of the `months` after them) and sign of the amount, dated at the stretch's start. Every
    window the effect sums over starts and ends on cut points, and it asks only whether a
    positive line falls in a window, so these rows give it the same sums as the lines."""
    cuts = sorted({pd.Timestamp(d) for d in hist.dates} | set(_window_ends(hist.dates, months)))
    lo = pd.Series(cuts, dtype="datetime64[us]")
    hi = pd.concat([lo.iloc[1:], pd.Series([pd.Timestamp.max.floor("D")],
                                           dtype="datetime64[us]")], ignore_index=True)
    b = ibis.memtable(pd.DataFrame({"lo": lo, "hi": hi}))
    o = orders.filter(orders.ts < ibis.literal(as_of), orders.ts >= ibis.literal(cuts[0]))
    o = o.select("customer_id", "ts", "amount")
    j = o.join(b, [o.ts >= b.lo, o.ts < b.hi])
    g = j.group_by(["customer_id", "lo", (j.amount > 0).name("positive")]).aggregate(
        amount=j.amount.sum())
    return g.select("customer_id", ts=g.lo, amount=g.amount)


def level_up_effect(hist: LevelHistory, lines: pd.DataFrame, programme: Programme,
                    as_of: datetime, *, months: int = 6, margin_rate: float | None = None,
                    rng: np.random.Generator | None = None) -> dict:
    """Extra spend (and margin at `margin_rate`) over the `months` after moving up a level,
    per member moved up, with its interval; `reason` says why there is none
    (`too_few_near_bar`)."""
    return effect(Near.of(hist, lines, programme, as_of, months=months), months=months,
                  margin_rate=margin_rate, rng=rng)


@dataclass
class Near:
    """The observations near a bar (see the module docstring): per (member, evaluation date)
    pair, the running variable `r`, spend after as a share of the bar `y`, whether moved up,
    the member (`who`, their position among all members), the bar, and the evaluation date
    and level (`j`, `k`) that place the pair in the order the effect is estimated in."""

    r: np.ndarray
    y: np.ndarray
    treated: np.ndarray
    who: np.ndarray
    bar: np.ndarray
    j: np.ndarray
    k: np.ndarray

    @classmethod
    def of(cls, hist: LevelHistory, lines: pd.DataFrame, programme: Programme,
           as_of: datetime, *, months: int = 6, offset: int = 0) -> "Near":
        """The observations of the members of `hist`, whose first member is the `offset`-th
        of all; `lines` from `period_lines`."""
        ends = _window_ends(hist.dates, months)
        row = pd.Index(hist.customers)
        cust = row.get_indexer(lines["customer_id"]) if len(lines) else np.zeros(0, int)
        ts = pd.to_datetime(lines["ts"]).to_numpy("datetime64[ns]") if len(lines) else \
            np.zeros(0, "datetime64[ns]")
        amount = lines["amount"].to_numpy(float) if len(lines) else np.zeros(0)
        known = cust >= 0
        cust, ts, amount = cust[known], ts[known], amount[known]
        bars = programme.levels
        found = []
        for j in range(1, len(hist.dates)):
            if ends[j] > pd.Timestamp(as_of):
                break
            held = hist.level[:, j - 1]
            start = np.datetime64(pd.Timestamp(hist.dates[j]).to_datetime64(), "ns")
            end = np.datetime64(ends[j].to_datetime64(), "ns")
            prev = np.datetime64(pd.Timestamp(hist.dates[j - 1]).to_datetime64(), "ns")
            # both sides bought since the previous evaluation: whoever crosses a bar has just
            # bought, and a member left below it by having bought nothing lately is no match
            recent = (ts >= prev) & (ts < start) & (amount > 0)
            bought = np.bincount(cust[recent], minlength=len(row)) > 0
            inside = (ts >= start) & (ts < end)
            after = np.bincount(cust[inside], amount[inside], minlength=len(row))
            for k in range(len(bars) - 1):
                nxt = bars[k + 1]
                if nxt.min_spend <= 0:
                    continue
                orders = hist.orders[:, j]
                if nxt.min_orders > 0:
                    by_orders = orders >= nxt.min_orders
                    decides = ~by_orders if nxt.rule == "any" else by_orders
                else:
                    decides = np.ones(len(orders), dtype=bool)
                r = hist.spend[:, j] / nxt.min_spend - 1.0
                pick = np.flatnonzero((held == k) & decides & (np.abs(r) <= BANDWIDTH)
                                      & (hist.qualified[:, j - 1] <= k) & bought
                                      & (hist.level[:, j] <= k + 1))
                if not len(pick):
                    continue
                n = len(pick)
                # spend after as a share of the bar: the bars run from hundreds to tens of
                # thousands, and the biggest would otherwise decide the pooled jump alone
                found.append((r[pick], after[pick] / nxt.min_spend,
                              (hist.level[pick, j] > k).astype(float), pick + offset,
                              np.full(n, nxt.min_spend), np.full(n, j), np.full(n, k)))
        if not found:
            return cls.joined([])
        return cls(*(np.concatenate(c) for c in zip(*found)))

    @classmethod
    def joined(cls, parts: list["Near"]) -> "Near":
        """The observations of all members from those of runs of them, in the order one run
        over all members finds them (by date, level, member)."""
        parts = [p for p in parts if len(p.r)]
        if not parts:
            empty = np.zeros(0)
            return cls(empty, empty, empty, np.zeros(0, np.int64), empty,
                       np.zeros(0, np.int64), np.zeros(0, np.int64))
        if len(parts) == 1:
            return parts[0]
        cols = [np.concatenate([getattr(p, f) for p in parts])
                for f in ("r", "y", "treated", "who", "bar", "j", "k")]
        order = np.lexsort((cols[3], cols[6], cols[5]))
        return cls(*(c[order] for c in cols))


def effect(near: Near, *, months: int = 6, margin_rate: float | None = None,
           rng: np.random.Generator | None = None) -> dict:
    """`level_up_effect` from its observations."""
    out = {"months": months, "above": 0, "below": 0, "members": 0, "spend": None,
           "low": None, "high": None, "margin": None, "margin_low": None,
           "margin_high": None, "reason": None, "bandwidth": BANDWIDTH, "min_side": MIN_SIDE}
    if not len(near.r):
        out["reason"] = "too_few_near_bar"
        return out
    r, y, treated, who = near.r, near.y, near.treated, near.who
    above, below = int(treated.sum()), int((1 - treated).sum())
    out.update(above=above, below=below, members=int(len(np.unique(who[treated > 0]))))
    if min(above, below) < MIN_SIDE:
        out["reason"] = "too_few_near_bar"
        return out
    kernel = 1.0 - np.abs(r) / BANDWIDTH
    # back to currency at the bars of those moved up
    scale = float(near.bar[treated > 0].mean())
    spend = _jump(r, y, treated, kernel) * scale
    rng = rng or np.random.default_rng(0)
    members, at = np.unique(who, return_inverse=True)
    boot = []
    x, above_bar, below_bar = _design(r, treated), treated > 0, treated == 0
    # one BLAS thread: each fit has four columns, and a second thread only spins
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(REPLICATES):
            w = kernel * rng.poisson(1.0, len(members))[at]
            # a replicate with one side emptied has no jump to measure
            if (w[above_bar] > 0).sum() < 3 or (w[below_bar] > 0).sum() < 3:
                continue
            boot.append(_jump(r, y, treated, w, x) * scale)
    if len(boot) < REPLICATES // 2:
        out["reason"] = "too_few_near_bar"
        return out
    low, high = np.quantile(boot, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    out.update(spend=round(float(spend), 2), low=round(float(low), 2),
               high=round(float(high), 2))
    if margin_rate is not None:
        out.update(margin=round(out["spend"] * margin_rate, 2),
                   margin_low=round(out["low"] * margin_rate, 2),
                   margin_high=round(out["high"] * margin_rate, 2))
    return out
