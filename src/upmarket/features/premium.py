"""The premium ladder (the upward-marketing guide: move customers up to premium products), premium penetration and
the per-customer tier features behind premium propensity, as Ibis expressions.

Tiers are ranked ``basic`` (0) < ``mid`` (1) < ``premium`` (2). Every expression uses only what
happened before `as_of`; nothing here materialises (no ``.to_pandas()``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

from upmarket.features.orders import days_between, purchases_until

TIERS = ("basic", "mid", "premium")

#: One month in days, for "months since …" features.
MONTH_DAYS = 30.4375


def tier_rank(tier: ibis.Value) -> ibis.Value:
    """basic → 0, mid → 1, premium → 2, anything else → null."""
    return tier.cases(*((name, i) for i, name in enumerate(TIERS)), else_=ibis.null("int64"))


def rank_tier(rank: ibis.Value) -> ibis.Value:
    """The inverse of `tier_rank`."""
    return rank.cases(*((i, name) for i, name in enumerate(TIERS)), else_=ibis.null("string"))


def price_ladder(products: ibis.Table, orders: ibis.Table) -> ibis.Table:
    """Every product's price tier: one row per sku with `category`, `price` (the price the rule
    used), `price_tier`, `tier_rank` (0/1/2) and `tier_source` (``given`` / ``derived``).

    The rule:

    * A product's own ``price_tier`` wins when present.
    * Otherwise it is derived from its price position within its category. The price is
      ``products.price`` or, when absent, the median paid ``unit_price`` of the product's paid
      product lines in `orders`. With the products of a category ranked by price (ties share the
      lowest rank) the position is ``rank / (n − 1)``: below 1/3 is ``basic``, above 2/3 is
      ``premium``, in between ``mid`` — the bottom, middle and top thirds of the category.
    * Small categories follow the same rule, which gives: one priced product → ``mid`` (no
      ladder to climb); two → ``basic`` and ``premium`` (the cheaper and the dearer); three →
      one of each. A category whose products all cost the same is all ``mid``.
    * A product with no tier, no price and no paid sales stays unranked (null tier).
    """
    paid = orders.filter(orders.status == "paid", orders.line_kind == "product",
                         orders.unit_price.notnull(), orders.sku.notnull())
    sold = paid.group_by("sku").aggregate(median_paid=paid.unit_price.median())
    p = products.select("sku", "category", "price", given=products.price_tier)
    p = p.left_join(sold, "sku").drop("sku_right")
    p = p.mutate(eff_price=p.price.cast("float64").coalesce(p.median_paid.cast("float64")))

    priced = p.filter(p.eff_price.notnull())
    w = ibis.window(group_by="category", order_by="eff_price")
    whole = ibis.window(group_by="category")
    ranked = priced.mutate(
        _r=ibis.rank().over(w).cast("float64"),
        _n=priced.sku.count().over(whole).cast("float64"),
        _lo=priced.eff_price.min().over(whole),
        _hi=priced.eff_price.max().over(whole),
    )
    pos = ranked._r / (ranked._n - 1.0)
    derived = ibis.cases(
        ((ranked._n <= 1) | (ranked._lo == ranked._hi), "mid"),
        (pos < 1.0 / 3.0, "basic"),
        (pos > 2.0 / 3.0, "premium"),
        else_="mid",
    )
    ranked = ranked.select("sku", derived=derived)
    j = p.left_join(ranked, "sku").drop("sku_right")
    given_ok = j.given.isin(list(TIERS))
    tier = ibis.ifelse(given_ok, j.given, j.derived)
    out = j.select(
        "sku", "category", price=j.eff_price, price_tier=tier,
        tier_source=ibis.ifelse(given_ok, "given",
                                ibis.ifelse(j.derived.notnull(), "derived", ibis.null("string"))),
    )
    return out.mutate(tier_rank=tier_rank(out.price_tier))


def tiered_lines(orders: ibis.Table, ladder: ibis.Table, as_of: datetime) -> ibis.Table:
    """Paid product lines before `as_of` with a positive amount (free gifts excluded), with the
    product's `category`, `price_tier` and `tier_rank`: the input of upgrade-path mining
    (`models.upgrade_paths`)."""
    lines = purchases_until(orders, as_of)
    lines = lines.filter(lines.amount > 0)
    lad = ladder.select("sku", "category", "price_tier", "tier_rank")
    j = lines.join(lad, lines.sku == lad.sku)
    return j.filter(j.tier_rank.notnull()).select(
        "customer_id", "order_id", "ts", lines.sku, "category", "price_tier", "tier_rank",
        "amount")


def tier_reached(orders: ibis.Table, ladder: ibis.Table, as_of: datetime) -> ibis.Table:
    """The highest tier each customer reached in each category: customer_id, category,
    `highest_tier`, `highest_rank`."""
    t = tiered_lines(orders, ladder, as_of)
    g = t.group_by(["customer_id", "category"]).aggregate(highest_rank=t.tier_rank.max())
    return g.mutate(highest_tier=rank_tier(g.highest_rank))


def premium_penetration(orders: ibis.Table, ladder: ibis.Table, as_of: datetime) -> ibis.Table:
    """One row per customer with tiered purchases before `as_of`: `spend`, `premium_spend`,
    `premium_share` (share of product spend on premium products), `bought_premium`,
    `highest_tier` overall and `categories_at_premium` (how many categories reached premium).
    The highest tier per category is `tier_reached`."""
    t = tiered_lines(orders, ladder, as_of)
    g = t.group_by("customer_id").aggregate(
        spend=t.amount.sum(),
        premium_spend=ibis.ifelse(t.tier_rank == 2, t.amount, 0.0).sum(),
        highest_rank=t.tier_rank.max(),
    )
    per_cat = tier_reached(orders, ladder, as_of)
    c = per_cat.group_by("customer_id").aggregate(
        categories_at_premium=(per_cat.highest_rank == 2).cast("int64").sum())
    j = g.left_join(c, "customer_id").drop("customer_id_right")
    return j.select(
        "customer_id", "spend", "premium_spend",
        premium_share=ibis.ifelse(j.spend > 0, j.premium_spend / j.spend, 0.0),
        bought_premium=j.highest_rank == 2,
        highest_tier=rank_tier(j.highest_rank),
        categories_at_premium=j.categories_at_premium.fill_null(0),
    )


def penetration_overall(orders: ibis.Table, ladder: ibis.Table, as_of: datetime) -> ibis.Table:
    """One row: `buyers`, `premium_buyers` and `penetration` = premium buyers ÷ buyers (the seed
    KPI), and `premium_revenue_share` = premium spend ÷ product spend."""
    per = premium_penetration(orders, ladder, as_of)
    agg = per.aggregate(
        buyers=per.count(),
        premium_buyers=per.bought_premium.cast("int64").sum(),
        spend=per.spend.sum(),
        premium_spend=per.premium_spend.sum(),
    )
    return agg.select(
        "buyers", "premium_buyers",
        penetration=ibis.ifelse(agg.buyers > 0,
                                agg.premium_buyers.cast("float64") / agg.buyers.cast("float64"),
                                ibis.null("float64")),
        premium_revenue_share=ibis.ifelse(agg.spend > 0, agg.premium_spend / agg.spend,
                                          ibis.null("float64")),
    )


def premium_features(orders: ibis.Table, ladder: ibis.Table, as_of: datetime, *,
                     recent_days: int = 180) -> ibis.Table:
    """Per-customer tier features for premium propensity, one row per customer with tiered
    purchases before `as_of`:

    - `lines_basic`, `lines_mid`, `lines_premium`: product lines bought at each tier;
    - `share_basic`, `share_mid`, `share_premium`: share of product spend at each tier;
    - `months_since_mid` (null if never bought mid), `months_since_last`;
    - `bought_premium` (0/1), `highest_rank` (0–2) overall;
    - `main_category` (most spend) with `main_rank` (highest tier reached there) and
      `last_rank` (tier of the latest line there);
    - `mean_rank_recent` / `mean_rank_before`: mean tier of lines in the last `recent_days`
      and before, and `tier_trend` = recent − before (0 when either is missing);
    - `spend_recent`, `spend_previous` (the `recent_days` before that) and
      `spend_trend` = (recent − previous) / (recent + previous + 1).
    """
    now = ibis.literal(as_of).cast("timestamp")
    cut = ibis.literal(as_of - timedelta(days=recent_days))
    cut2 = ibis.literal(as_of - timedelta(days=2 * recent_days))
    # only the columns read below: the lines are read three times, and an engine that keeps
    # them between the readings keeps these alone
    t = tiered_lines(orders, ladder, as_of).select(
        "customer_id", "ts", "category", "tier_rank", "amount")
    is_r = t.ts >= cut
    is_p = (t.ts < cut) & (t.ts >= cut2)
    g = t.group_by("customer_id").aggregate(
        lines_basic=(t.tier_rank == 0).cast("float64").sum(),
        lines_mid=(t.tier_rank == 1).cast("float64").sum(),
        lines_premium=(t.tier_rank == 2).cast("float64").sum(),
        spend=t.amount.sum(),
        spend_basic=ibis.ifelse(t.tier_rank == 0, t.amount, 0.0).sum(),
        spend_mid=ibis.ifelse(t.tier_rank == 1, t.amount, 0.0).sum(),
        spend_premium=ibis.ifelse(t.tier_rank == 2, t.amount, 0.0).sum(),
        last_mid=t.ts.max(where=t.tier_rank == 1),
        last_ts=t.ts.max(),
        highest_rank=t.tier_rank.max(),
        mean_rank_recent=t.tier_rank.cast("float64").mean(where=is_r),
        mean_rank_before=t.tier_rank.cast("float64").mean(where=~is_r),
        spend_recent=ibis.ifelse(is_r, t.amount, 0.0).sum(),
        spend_previous=ibis.ifelse(is_p, t.amount, 0.0).sum(),
    )

    # main category: most spend, ties broken by name
    pc = t.group_by(["customer_id", "category"]).aggregate(
        cat_spend=t.amount.sum(), main_rank=t.tier_rank.max(), cat_last=t.ts.max())
    pc = pc.mutate(_n=ibis.row_number().over(
        group_by="customer_id", order_by=[ibis.desc("cat_spend"), "category"]))
    main = pc.filter(pc._n == 0).select("customer_id", main_category=pc.category,
                                       main_rank=pc.main_rank, cat_last=pc.cat_last)
    # the tier of the latest line there (the highest of the lines at that time): the lines
    # are matched against one row per customer rather than ranked in a window over all of
    # them, which would hold every line at once; a null main category matches nothing and
    # leaves the customer without main category, as before
    at_last = t.join(main, (t.customer_id == main.customer_id)
                     & (t.category == main.main_category) & (t.ts == main.cat_last)).select(
        t.customer_id, main.main_category, main.main_rank, t.tier_rank)
    main = at_last.group_by(["customer_id", "main_category", "main_rank"]).aggregate(
        last_rank=at_last.tier_rank.max())

    j = g.left_join(main, "customer_id").drop("customer_id_right")
    spend = j.spend
    share = lambda col: ibis.ifelse(spend > 0, col / spend, 0.0)  # noqa: E731
    return j.select(
        "customer_id", "lines_basic", "lines_mid", "lines_premium",
        share_basic=share(j.spend_basic), share_mid=share(j.spend_mid),
        share_premium=share(j.spend_premium),
        months_since_mid=days_between(now, j.last_mid) / MONTH_DAYS,
        months_since_last=days_between(now, j.last_ts) / MONTH_DAYS,
        bought_premium=(j.highest_rank == 2).cast("int64"),
        highest_rank=j.highest_rank.cast("float64"),
        main_category=j.main_category,
        main_rank=j.main_rank.cast("float64"),
        last_rank=j.last_rank.cast("float64"),
        mean_rank_recent=j.mean_rank_recent,
        mean_rank_before=j.mean_rank_before,
        tier_trend=(j.mean_rank_recent - j.mean_rank_before).fill_null(0.0),
        spend_recent=j.spend_recent,
        spend_previous=j.spend_previous,
        spend_trend=(j.spend_recent - j.spend_previous)
        / (j.spend_recent + j.spend_previous + 1.0),
    )


def first_premium_between(orders: ibis.Table, ladder: ibis.Table, start: datetime,
                          end: datetime) -> ibis.Table:
    """Customers whose first premium product line (paid, amount > 0) falls in [start, end):
    customer_id and `first_premium`. The propensity label, as `demo.world` defines upgrades."""
    t = tiered_lines(orders, ladder, end)
    t = t.filter(t.tier_rank == 2)
    g = t.group_by("customer_id").aggregate(first_premium=t.ts.min())
    return g.filter(g.first_premium >= ibis.literal(start))
