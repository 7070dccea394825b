"""Upgrade paths mined from order histories (the upward-marketing guide): how customers move between price tiers
within a category, how long it takes and what it is worth; and, per customer, how often
customers at her tier in her main category moved up.

Input everywhere is a pandas frame of paid product lines (`features.premium.tiered_lines`
materialised): customer_id, ts, sku, category, price_tier (basic / mid / premium), amount.

Definitions
-----------
* A *purchase event* is one customer buying in one category at one timestamp; its tier is the
  highest tier among its lines.
* A *transition* is a change of tier between consecutive purchase events of a customer in a
  category. It is an ``upgrade`` when the new tier is above every tier the customer bought
  before in that category (a new high), a ``downgrade`` when below the previous event's tier,
  and a ``return`` when it goes back up to a tier already reached.
* ``days`` of a transition: from the customer's first purchase at the `from` tier (in the current
  stay there) to the transition — for upgrades, the time to upgrade.
* Revenue uplift: the customer's mean line value in the category from the transition on,
  divided by the mean line value before it, minus one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TIERS = ("basic", "mid", "premium")
_RANK = {t: i for i, t in enumerate(TIERS)}


def _events(lines: pd.DataFrame) -> pd.DataFrame:
    d = lines[lines["price_tier"].isin(TIERS)].copy()
    d["rank"] = d["price_tier"].map(_RANK).astype(int)
    ev = (d.groupby(["customer_id", "category", "ts"], sort=False)
          .agg(rank=("rank", "max"), amount=("amount", "sum"), n=("amount", "size"))
          .reset_index().sort_values(["customer_id", "category", "ts"], kind="stable"))
    return ev.reset_index(drop=True)


def transitions(lines: pd.DataFrame) -> pd.DataFrame:
    """Every tier transition, one row each: customer_id, category, ts, from_tier, to_tier,
    kind (upgrade / downgrade / return), days, mean_before, mean_after."""
    ev = _events(lines)
    cols = ["customer_id", "category", "ts", "from_tier", "to_tier", "kind", "days",
            "mean_before", "mean_after"]
    if ev.empty:
        return pd.DataFrame(columns=cols)
    key = ev["customer_id"].astype(str) + "\x00" + ev["category"].astype(str)
    g = ev.groupby(key.to_numpy(), sort=False)
    prev = g["rank"].shift()
    prior_max = g["rank"].cummax().groupby(key.to_numpy()).shift()
    changed = prev.notna() & (ev["rank"] != prev)
    # start of the current stay at a tier: first event of each run of equal ranks
    run = (ev["rank"] != prev).cumsum()
    stay_start = ev.groupby(run)["ts"].transform("first")
    prev_stay_start = stay_start.groupby(key.to_numpy()).shift()
    # cumulative line value and count before / from each event, within customer × category
    cum_amt = g["amount"].cumsum()
    cum_n = g["n"].cumsum()
    tot_amt = g["amount"].transform("sum")
    tot_n = g["n"].transform("sum")
    before_amt, before_n = cum_amt - ev["amount"], cum_n - ev["n"]
    out = pd.DataFrame({
        "customer_id": ev["customer_id"], "category": ev["category"], "ts": ev["ts"],
        "from_rank": prev, "to_rank": ev["rank"], "prior_max": prior_max,
        "days": (ev["ts"] - prev_stay_start).dt.total_seconds() / 86400.0,
        "mean_before": before_amt / before_n.where(before_n > 0),
        "mean_after": (tot_amt - before_amt) / (tot_n - before_n),
    })[changed.to_numpy()]
    up = out["to_rank"] > out["from_rank"]
    out["kind"] = np.where(~up, "downgrade",
                           np.where(out["to_rank"] > out["prior_max"], "upgrade", "return"))
    out["from_tier"] = out["from_rank"].astype(int).map(dict(enumerate(TIERS)))
    out["to_tier"] = out["to_rank"].astype(int).map(dict(enumerate(TIERS)))
    return out[cols].reset_index(drop=True)


def upgrade_paths(lines: pd.DataFrame, *, by_category: bool = False) -> pd.DataFrame:
    """The tidy table of tier moves: from_tier, to_tier, kind, (category,) `transitions`,
    `customers`, `median_days` and `revenue_uplift` (median over transitions of
    mean_after / mean_before − 1), most frequent first."""
    t = transitions(lines)
    keys = (["category"] if by_category else []) + ["from_tier", "to_tier", "kind"]
    if t.empty:
        return pd.DataFrame(columns=keys + ["transitions", "customers", "median_days",
                                            "revenue_uplift"])
    t["uplift"] = t["mean_after"] / t["mean_before"] - 1.0
    res = t.groupby(keys).agg(
        transitions=("customer_id", "size"), customers=("customer_id", "nunique"),
        median_days=("days", "median"), revenue_uplift=("uplift", "median")).reset_index()
    return res.sort_values("transitions", ascending=False, kind="stable").reset_index(drop=True)


def upgrade_paths_in_engine(tiered, *, by_category: bool = False) -> pd.DataFrame:
    """`upgrade_paths` computed in the warehouse engine from tiered lines left there
    (`features.premium.tiered_lines`, an Ibis table), by the same definitions (purchase
    events, transitions, stays, line values before and after): only the table of moves leaves
    the engine, not the lines."""
    import ibis

    t = tiered.filter(tiered.price_tier.isin(list(TIERS)), tiered.category.notnull())
    ev = t.group_by(["customer_id", "category", "ts"]).aggregate(
        rank=t.tier_rank.max(), amount=t.amount.sum(), n=t.count())
    key = ["customer_id", "category"]
    # events are unique per customer, category and time, so row frames over time are exact;
    # the windows below share one ordering, sorted twice rather than once per window as
    # when the stays were numbered and grouped
    upto = ibis.window(group_by=key, order_by="ts", preceding=None, following=0)
    before = ibis.window(group_by=key, order_by="ts", rows=(None, -1))
    whole = ibis.window(group_by=key)
    ev = ev.mutate(prev=ev["rank"].lag().over(group_by=key, order_by="ts"),
                   prior_max=ev["rank"].max().over(before),
                   cum_amt=ev.amount.sum().over(upto), cum_n=ev.n.sum().over(upto),
                   tot_amt=ev.amount.sum().over(whole), tot_n=ev.n.sum().over(whole))
    # a stay at a tier starts at each event whose tier differs from the one before; times
    # grow along the order, so the latest start before an event is the start of the stay
    # that event ends
    start = ibis.ifelse(ev.prev.isnull() | (ev["rank"] != ev.prev), ev.ts, ibis.null())
    ev = ev.mutate(prev_stay_start=start.max().over(before))
    moves = ev.filter(ev.prev.notnull(), ev["rank"] != ev.prev)
    before_amt, before_n = moves.cum_amt - moves.amount, moves.cum_n - moves.n
    mean_before = before_amt / ibis.ifelse(before_n > 0, before_n, ibis.null()).cast("float64")
    mean_after = (moves.tot_amt - before_amt) / (moves.tot_n - before_n).cast("float64")
    tier = lambda r: r.cases(*((i, name) for i, name in enumerate(TIERS)))  # noqa: E731
    moves = moves.select(
        "customer_id", "category", from_tier=tier(moves.prev), to_tier=tier(moves["rank"]),
        kind=ibis.ifelse(moves["rank"] < moves.prev, "downgrade",
                         ibis.ifelse(moves["rank"] > moves.prior_max, "upgrade", "return")),
        days=(moves.ts.epoch_seconds() - moves.prev_stay_start.epoch_seconds()) / 86400.0,
        uplift=mean_after / mean_before - 1.0)
    keys = (["category"] if by_category else []) + ["from_tier", "to_tier", "kind"]
    res = moves.group_by(keys).aggregate(
        transitions=moves.count(), customers=moves.customer_id.nunique(),
        median_days=moves.days.median(), revenue_uplift=moves.uplift.median())
    res = res.order_by([ibis.desc("transitions"), *keys]).to_pandas()
    res[["transitions", "customers"]] = res[["transitions", "customers"]].astype("int64")
    return res[keys + ["transitions", "customers", "median_days", "revenue_uplift"]]


def upgrade_rates(lines: pd.DataFrame, as_of, *, horizon_days: int = 180,
                  min_customers: int = 20) -> pd.DataFrame:
    """For each category and tier below premium: of the customers who reached that tier (as
    their highest in the category) at least `horizon_days` before `as_of`, the share who reached
    a higher tier there within `horizon_days` (`rate`). Categories with fewer than
    `min_customers` at a tier get the all-category rate for that tier (`pooled` = True).
    Columns: category, tier, at_tier, upgraded, rate, pooled."""
    ev = _events(lines)
    cols = ["category", "tier", "at_tier", "upgraded", "rate", "pooled"]
    if ev.empty:
        return pd.DataFrame(columns=cols)
    # first time each customer reached each tier as a new high in each category
    key = ["customer_id", "category"]
    ev["new_high"] = ev["rank"] > ev.groupby(key)["rank"].cummax().groupby(
        [ev["customer_id"], ev["category"]]).shift().fillna(-1)
    highs = ev[ev["new_high"]][key + ["rank", "ts"]]
    nxt = highs.groupby(key)["ts"].shift(-1)
    horizon = pd.Timedelta(days=horizon_days)
    eligible = (highs["ts"] <= pd.Timestamp(as_of) - horizon) & (highs["rank"] < 2)
    h = highs[eligible].assign(up=(nxt[eligible] - highs["ts"][eligible]) <= horizon)
    per = h.groupby(["category", "rank"]).agg(at_tier=("up", "size"), upgraded=("up", "sum"))
    pooled = h.groupby("rank")["up"].mean()
    return _rates(per, pooled, ev["category"].dropna().unique(), min_customers)


def upgrade_rates_in_engine(tiered, as_of, *, horizon_days: int = 180,
                            min_customers: int = 20) -> pd.DataFrame:
    """`upgrade_rates` counted in the warehouse engine from tiered lines left there
    (`features.premium.tiered_lines`, an Ibis table): only the counts per category and tier
    leave it, not the lines."""
    import ibis

    t = tiered.filter(tiered.price_tier.isin(list(TIERS)), tiered.category.notnull())
    ev = t.group_by(["customer_id", "category", "ts"]).aggregate(rank=t.tier_rank.max())
    key = ["customer_id", "category"]
    before = ibis.window(group_by=key, order_by="ts", rows=(None, -1))
    # the highest tier before each event, in the same pass that orders the events
    ev = ev.mutate(prior=ev["rank"].max().over(before))
    highs = ev.filter(ev["rank"] > ev.prior.fill_null(-1))
    highs = highs.mutate(nxt=highs.ts.lead().over(group_by=key, order_by="ts"))
    cut = pd.Timestamp(as_of) - pd.Timedelta(days=horizon_days)
    h = highs.filter(highs.ts <= ibis.literal(cut.to_pydatetime()), highs["rank"] < 2)
    up = h.nxt.notnull() & (h.nxt <= h.ts + ibis.interval(days=horizon_days))
    per = h.group_by(["category", "rank"]).aggregate(
        at_tier=h.count(), upgraded=up.cast("int64").sum()).to_pandas()
    per["rank"] = per["rank"].astype(int)
    per = per.set_index(["category", "rank"])
    by_rank = per.groupby(level="rank")[["at_tier", "upgraded"]].sum()
    pooled = by_rank["upgraded"] / by_rank["at_tier"]
    cats = t.select("category").distinct().to_pandas()["category"]
    return _rates(per, pooled, np.sort(cats.to_numpy(object)), min_customers)


def _rates(per: pd.DataFrame, pooled: pd.Series, cats, min_customers: int) -> pd.DataFrame:
    """The rate table from the counts per (category, rank) and the pooled rate per rank."""
    cols = ["category", "tier", "at_tier", "upgraded", "rate", "pooled"]
    if not len(cats):
        return pd.DataFrame(columns=cols)
    grid = pd.MultiIndex.from_product([cats, [0, 1]], names=["category", "rank"])
    per = per.reindex(grid).fillna(0).reset_index()
    few = per["at_tier"] < min_customers
    rate = per["upgraded"] / per["at_tier"].where(per["at_tier"] > 0)
    per["rate"] = np.where(few, per["rank"].map(pooled).to_numpy(), rate)
    per["pooled"] = few
    per["tier"] = per["rank"].map(dict(enumerate(TIERS)))
    per[["at_tier", "upgraded"]] = per[["at_tier", "upgraded"]].astype(int)
    return per[cols]


def customer_upgrade_rate(lines: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """Per customer: `main_category` (most spend), `current_tier` there (highest reached) and
    `peer_upgrade_rate`, the `upgrade_rates` rate of customers at that tier in that category
    (0 for customers already at premium: nowhere higher to go there)."""
    d = lines[lines["price_tier"].isin(TIERS)].copy()
    if d.empty:
        return pd.DataFrame(columns=["customer_id", "main_category", "current_tier",
                                     "peer_upgrade_rate"])
    d["rank"] = d["price_tier"].map(_RANK).astype(int)
    pc = d.groupby(["customer_id", "category"]).agg(spend=("amount", "sum"),
                                                     rank=("rank", "max")).reset_index()
    pc = pc.sort_values(["customer_id", "spend", "category"], ascending=[True, False, True],
                        kind="stable").drop_duplicates("customer_id")
    r = rates.assign(rank=rates["tier"].map(_RANK))[["category", "rank", "rate"]]
    m = pc.merge(r, on=["category", "rank"], how="left")
    return pd.DataFrame({
        "customer_id": m["customer_id"].to_numpy(),
        "main_category": m["category"].to_numpy(),
        "current_tier": m["rank"].map(dict(enumerate(TIERS))).to_numpy(),
        "peer_upgrade_rate": np.where(m["rank"] >= 2, 0.0, m["rate"].astype(float)),
    })
