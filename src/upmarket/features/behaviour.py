"""Behavioural features beyond RFM, as Ibis expressions: recent activity and its trend,
discount dependency (the back-to-basics marketing course), category breadth, premium share, service experience.

These feed the churn classifier, the behavioural clusters and (later) premium propensity.
Every feature is defined for any `as_of` and uses only what happened before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

from upmarket.features.orders import days_between, purchases_until


def _between(t: ibis.Table, col: str, start: datetime, end: datetime) -> ibis.Table:
    return t.filter(t[col] >= ibis.literal(start), t[col] < ibis.literal(end))


def behaviour(
    orders: ibis.Table,
    products: ibis.Table,
    tickets: ibis.Table,
    as_of: datetime,
    *,
    window_days: int = 90,
) -> ibis.Table:
    """One row per customer who bought before `as_of`.

    - `orders_recent`, `orders_previous`: orders in the last window and the one before it;
      `trend` = (recent − previous) / (recent + previous + 1), in (−1, 1).
    - `discount_share`: share of gross spend given away as discount; `promo_share`: share of
      lines bought under a promotion.
    - `categories`: distinct categories bought; `premium_share`: share of spend on premium-tier
      products (0 when the catalogue has no tiers).
    - `tenure_days`: since the first purchase; `complaints_180d`: complaint tickets opened in
      the last 180 days.
    """
    w = timedelta(days=window_days)
    lines = purchases_until(orders, as_of)
    prod = products.select("sku", "category", "price_tier")
    enriched = lines.left_join(prod, lines.sku == prod.sku)
    # the two windows are counted in the same pass over the lines (lines are all before
    # as_of already)
    recent = enriched.ts >= ibis.literal(as_of - w)
    previous = (enriched.ts >= ibis.literal(as_of - 2 * w)) & ~recent
    base = enriched.group_by("customer_id").aggregate(
        orders_recent=enriched.order_id.nunique(where=recent),
        orders_previous=enriched.order_id.nunique(where=previous),
        first_ts=enriched.ts.min(),
        gross=(enriched.amount + enriched.discount.fill_null(0.0)).sum(),
        discount_total=enriched.discount.fill_null(0.0).sum(),
        promo_lines=enriched.promotion_id.notnull().cast("int64").sum(),
        lines=enriched.count(),
        categories=enriched.category.nunique(),
        premium_spend=ibis.ifelse(enriched.price_tier == "premium", enriched.amount, 0.0).sum(),
        spend=enriched.amount.sum(),
    )

    t = _between(tickets, "opened", as_of - timedelta(days=180), as_of)
    t = t.filter(t.kind == "complaint")
    c = t.group_by("customer_id").aggregate(complaints_180d=t.count())

    j = base.left_join(c, "customer_id").drop("customer_id_right")
    rec = j.orders_recent.fill_null(0).cast("float64")
    prev = j.orders_previous.fill_null(0).cast("float64")
    return j.select(
        customer_id=j.customer_id,
        orders_recent=rec,
        orders_previous=prev,
        trend=(rec - prev) / (rec + prev + 1.0),
        discount_share=ibis.ifelse(j.gross > 0, j.discount_total / j.gross, 0.0),
        promo_share=j.promo_lines.cast("float64") / j.lines.cast("float64"),
        categories=j.categories.cast("float64"),
        premium_share=ibis.ifelse(j.spend > 0, j.premium_spend / j.spend, 0.0),
        tenure_days=days_between(ibis.literal(as_of).cast("timestamp"), j.first_ts),
        complaints_180d=j.complaints_180d.fill_null(0).cast("float64"),
    )


def latest_nps(feedback: ibis.Table, as_of: datetime) -> ibis.Table:
    """Each customer's most recent NPS answer before `as_of`."""
    f = feedback.filter(feedback.ts < ibis.literal(as_of), feedback.nps_score.notnull(),
                        feedback.customer_id.notnull())
    ranked = f.mutate(_n=ibis.row_number().over(group_by="customer_id", order_by=ibis.desc("ts")))
    return ranked.filter(ranked._n == 0).select("customer_id", latest_nps=ranked.nps_score)


def prospects(customers: ibis.Table, events: ibis.Table, orders: ibis.Table, as_of: datetime,
              engagement: tuple[str, ...]) -> ibis.Table:
    """People known before `as_of` (customer list or events) who have not bought, with whether
    they engaged (`engaged`: any of the `engagement` events)."""
    e = events.filter(events.ts < ibis.literal(as_of), events.customer_id.notnull())
    seen = e.group_by("customer_id").aggregate(
        engaged=e.event.isin(list(engagement)).cast("int64").max())
    listed = customers.filter(customers.created_at.isnull()
                              | (customers.created_at < ibis.literal(as_of)))
    listed = listed.select("customer_id", engaged=ibis.literal(0, "int64"))
    known = ibis.union(seen, listed).group_by("customer_id").aggregate(engaged=ibis._.engaged.max())
    buyers = purchases_until(orders, as_of).select("customer_id").distinct()
    return known.anti_join(buyers, "customer_id").mutate(engaged=ibis._.engaged > 0)


def purchase_rhythm(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """Each buyer's purchase rhythm before `as_of`, from the days on which they bought (several
    orders on one day are one purchase occasion, as in the BTYD summary):

    - `purchases_30d`, `purchases_180d`, `purchases_365d`: purchase days in the last 30, 180
      and 365 days (`orders_recent` of `behaviour` covers 90);
    - `spend_180d`, `spend_prev_180d`: paid product spend in the last 180 days and the 180
      before them;
    - `gap_mean`, `gap_std`, `gap_last`: mean, standard deviation and the latest of the days
      between consecutive purchase days (null for a single purchase day; `gap_std` also for
      two);
    - `first_days`: days since the first purchase day;
    - `purchase_days`: distinct days with a purchase, all time;
    - `purchases_90d`, `purchases_prev_90d`: purchase days in the last 90 days and the 90
      before them (the quarter-on-quarter trend);
    - `items_per_purchase`: mean quantity bought per purchase day (basket size);
    - `decayed_purchases`: purchase days weighted by exp(−age / 90 days), a frequency that
      forgets old buying smoothly instead of at a window's edge.
    """
    lines = purchases_until(orders, as_of)
    end = ibis.literal(as_of).cast("timestamp")
    days = lines.group_by(["customer_id", lines.ts.truncate("D").name("day")]).aggregate(
        spend=lines.amount.sum(), items=lines.quantity.sum())
    w = ibis.window(group_by="customer_id", order_by="day")
    days = days.mutate(gap=days_between(days.day, days.day.lag().over(w)),
                       age=days_between(end, days.day),
                       _n=ibis.row_number().over(ibis.window(group_by="customer_id",
                                                             order_by=ibis.desc("day"))))

    def within(d: int) -> ibis.Value:
        return (days.age < d).cast("float64")

    g = days.group_by("customer_id").aggregate(
        purchases_30d=within(30).sum(),
        purchases_180d=within(180).sum(),
        purchases_365d=within(365).sum(),
        spend_180d=ibis.ifelse(days.age < 180, days.spend, 0.0).sum(),
        spend_prev_180d=ibis.ifelse((days.age >= 180) & (days.age < 360), days.spend, 0.0).sum(),
        gap_mean=days.gap.mean(),
        gap_std=days.gap.std(),
        gap_last=ibis.ifelse(days._n == 0, days.gap, ibis.null("float64")).max(),
        first_days=days.age.max(),
        purchase_days=days.count().cast("float64"),
        purchases_90d=within(90).sum(),
        purchases_prev_90d=((days.age >= 90) & (days.age < 180)).cast("float64").sum(),
        items_per_purchase=days["items"].mean(),
        decayed_purchases=(-days.age.cast("float64") / 90.0).exp().sum(),
    )
    return g
