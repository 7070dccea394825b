"""The aggregates promotion analysis reads (the back-to-basics marketing course warns against "过度依赖促销和折扣" —
over-reliance on promotions and discounts; DESIGN §4: promotion lift, cannibalisation and
discount dependency are measured). `strategy.promotions` turns them into lift, ROI and
dependency; the heavy lifting over order lines stays here, in Ibis.

A *promoted* line is a paid product line that names a promotion or carries a discount; a
*full-price* line is every other paid product line. Amounts are what the customer paid (net of
the line's discount); `list_value` adds the discount back. Gift lines (price shown, fully
discounted) are promoted lines with amount 0.
"""

from __future__ import annotations

from datetime import datetime

import ibis

from upmarket.features.orders import purchases_until

#: Category of lines whose product has none (or is not in the catalogue).
NO_CATEGORY = "(none)"


def _promoted(lines: ibis.Table) -> ibis.Value:
    has_promo = lines.promotion_id.notnull() & (lines.promotion_id.strip() != "")
    return has_promo | (lines.discount.fill_null(0.0) > 0)


def daily_sales(orders: ibis.Table, products: ibis.Table, as_of: datetime) -> ibis.Table:
    """Per calendar day and product category, paid product lines before `as_of`: `sales`,
    `full_price_sales`, `promo_sales`, `discount`, `margin` (amount − quantity × product cost,
    over lines whose product has a cost), `costed_sales` (the sales that margin covers) and
    `orders`. Days without sales have no row."""
    lines = purchases_until(orders, as_of)
    cat = products.select("sku", "category", "cost")
    j = lines.left_join(cat, lines.sku == cat.sku)
    promoted = _promoted(j)
    costed = j.cost.notnull()
    j = j.mutate(
        day=j.ts.truncate("D"),
        category=j.category.fill_null(NO_CATEGORY),
        full=ibis.cases((promoted, 0.0), else_=j.amount),
        promo=ibis.cases((promoted, j.amount), else_=0.0),
        margin_part=ibis.cases((costed, j.amount - j.quantity * j.cost), else_=0.0),
        costed_part=ibis.cases((costed, j.amount), else_=0.0),
    )
    return j.group_by(["day", "category"]).aggregate(
        sales=j.amount.sum().cast("float64"),
        full_price_sales=j.full.sum().cast("float64"),
        promo_sales=j.promo.sum().cast("float64"),
        discount=j.discount.fill_null(0.0).sum().cast("float64"),
        margin=j.margin_part.sum().cast("float64"),
        costed_sales=j.costed_part.sum().cast("float64"),
        orders=j.order_id.nunique(),
    ).order_by(["day", "category"])


def promotion_usage(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """Per promotion named on paid product lines before `as_of`: `uses` (orders),
    `customers`, `sales` (amount paid on its lines), `discount` given, `first_use`,
    `last_use`."""
    lines = purchases_until(orders, as_of)
    p = lines.filter(lines.promotion_id.notnull(), lines.promotion_id.strip() != "")
    p = p.mutate(promotion_id=p.promotion_id.strip())
    return p.group_by("promotion_id").aggregate(
        uses=p.order_id.nunique(),
        customers=p.customer_id.nunique(),
        sales=p.amount.sum().cast("float64"),
        discount=p.discount.fill_null(0.0).sum().cast("float64"),
        first_use=p.ts.min(),
        last_use=p.ts.max(),
    ).order_by("promotion_id")


def discount_spend(orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """Per customer, paid product lines before `as_of`: `spend`, `promo_spend` (on promoted
    lines), `discount` received, `list_value` (spend + discount), `orders`, `promo_orders`
    (orders with at least one promoted line)."""
    lines = purchases_until(orders, as_of)
    promoted = _promoted(lines)
    lines = lines.mutate(promo_amount=ibis.cases((promoted, lines.amount), else_=0.0),
                         promo_order=ibis.cases((promoted, lines.order_id),
                                                else_=ibis.null("string")))
    return lines.group_by("customer_id").aggregate(
        spend=lines.amount.sum().cast("float64"),
        promo_spend=lines.promo_amount.sum().cast("float64"),
        discount=lines.discount.fill_null(0.0).sum().cast("float64"),
        list_value=(lines.amount + lines.discount.fill_null(0.0)).sum().cast("float64"),
        orders=lines.order_id.nunique(),
        promo_orders=lines.promo_order.nunique(),
    )
