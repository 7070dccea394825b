"""Everything known about each customer at `as_of`, as one Ibis expression: the pipeline's
single materialisation point for per-customer features."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

from upmarket.features.behaviour import behaviour, latest_nps
from upmarket.features.btyd import UNIT_DAYS, btyd_of_transactions, btyd_summary
from upmarket.features.orders import (customer_summary, days_between, lines_until,
                                     purchases_until)
from upmarket.features.rfm import inputs_from_summary, scores_from_inputs


def margins(orders: ibis.Table, products: ibis.Table, as_of: datetime) -> ibis.Table:
    """Historical margin per customer where product costs are known: amount − cost × quantity
    over paid product lines, and the margin rate on the lines whose cost is known."""
    lines = purchases_until(orders, as_of)
    prod = products.select("sku", "cost")
    j = lines.join(prod, lines.sku == prod.sku).filter(prod.cost.notnull())
    g = j.group_by("customer_id").aggregate(
        costed_revenue=j.amount.sum(), margin=(j.amount - j.cost * j.quantity).sum())
    return g.mutate(margin_rate=ibis.ifelse(g.costed_revenue > 0, g.margin / g.costed_revenue,
                                            ibis.null("float64")))


def customer_features(tables: dict[str, ibis.Table], as_of: datetime, *, unit: str = "W",
                      rfm_bins: int = 5) -> ibis.Table:
    """Join of the purchase summary, BTYD summary, RFM scores, behaviour, margins and the
    latest NPS answer; one row per customer who bought before `as_of`."""
    s = customer_summary(tables["orders"], as_of)
    return joined_features(s, feature_parts(tables, s, as_of, unit=unit, rfm_bins=rfm_bins),
                           as_of, unit=unit)


def feature_parts(tables: dict[str, ibis.Table], s: ibis.Table, as_of: datetime, *,
                  unit: str = "W", rfm_bins: int = 5) -> list[ibis.Table]:
    """The per-customer tables `customer_features` joins to the purchase summary `s` (that of
    `features.orders.customer_summary` at `as_of`): BTYD summary, RFM scores, behaviour,
    margins, latest NPS answer. Each can be materialised on its own before the join
    (`features.snapshots`): one query holding all their aggregations at once holds them all
    in memory together."""
    orders = tables["orders"]
    return [
        btyd_summary(orders, as_of, unit=unit).select(
            "customer_id", "frequency", "recency", "T", "monetary"),
        scores_from_inputs(inputs_from_summary(s), bins=rfm_bins).select(
            "customer_id", "r_score", "f_score", "m_score", "rfm_cell"),
        behaviour(orders, tables["products"], tables["service_tickets"], as_of),
        margins(orders, tables["products"], as_of).select("customer_id", "margin",
                                                          "margin_rate"),
        latest_nps(tables["feedback"], as_of),
    ]


def joined_features(s: ibis.Table, parts: list[ibis.Table], as_of: datetime, *,
                    unit: str = "W") -> ibis.Table:
    """`customer_features` from the purchase summary `s` and its `feature_parts`."""
    out = s.rename(recency_days="days_since_last")
    for other in parts:
        out = out.left_join(other, "customer_id").drop("customer_id_right")
    return _btyd_filled(out, s, as_of, unit)


def value_inputs(tables: dict[str, ibis.Table], as_of: datetime, *, unit: str = "W"
                 ) -> ibis.Table:
    """What the value model reads (`models.value.LifetimeValue.predict`): frequency, recency,
    T, monetary and margin_rate, for the same customers and with the same values as
    `customer_features`, without the RFM, behaviour and NPS parts it has no use for — for
    scoring a past date at a fraction of the cost. Several dates (the campaigns' starts,
    `strategy.roi`) read them from one pass: :func:`purchase_days`, :func:`value_inputs_on`."""
    orders = tables["orders"]
    s = customer_summary(orders, as_of).select("customer_id", "first_purchase")
    b = btyd_summary(orders, as_of, unit=unit).select(
        "customer_id", "frequency", "recency", "T", "monetary")
    m = margins(orders, tables["products"], as_of).select("customer_id", "margin_rate")
    out = s
    for other in (b, m):
        out = out.left_join(other, "customer_id").drop("customer_id_right")
    return _btyd_filled(out, s, as_of, unit).drop("first_purchase")


def purchase_days(tables: dict[str, ibis.Table], dates: list[datetime]) -> ibis.Table:
    """The order lines before the last of `dates`, summed per customer, day and `period` (how
    many of `dates` are at or before the line: the lines before ``sorted(dates)[k]`` are those
    with period ≤ k) to what :func:`value_inputs` reads of them: `paid` lines (of any kind),
    paid product lines (`bought`) and their `spend`, and of those whose product has a cost
    their `costed_revenue` and `margin` — for :func:`value_inputs_on` to give the value inputs
    at every one of `dates` from one pass over the order lines (materialise it first)."""
    dates = sorted(set(dates))
    lines = lines_until(tables["orders"], dates[-1])
    prod = tables["products"].select(cost_sku="sku", cost="cost")
    j = lines.left_join(prod, lines.sku == prod.cost_sku)
    paid = j.status == "paid"
    product = paid & (j.line_kind == "product")
    costed = product & j.cost.notnull()
    period = sum((j.ts >= ibis.literal(d)).cast("int16") for d in dates)
    return j.group_by([j.customer_id, j.ts.truncate("D").name("day"), period.name("period")]
                      ).aggregate(paid=j.count(where=paid), bought=j.count(where=product),
                                  spend=j.amount.sum(where=product),
                                  costed_revenue=j.amount.sum(where=costed),
                                  margin=(j.amount - j.cost * j.quantity).sum(where=costed))


def value_inputs_on(days: ibis.Table, dates: list[datetime], as_of: datetime, *,
                    unit: str = "W") -> ibis.Table:
    """:func:`value_inputs` at `as_of`, one of `dates`, from their :func:`purchase_days`: the
    same customers and values (sums added in another order: float noise apart)."""
    k = sorted(set(dates)).index(as_of)
    d = days.filter(days.period <= k)
    # the purchase summary's customers and the margins in one aggregation
    g = d.group_by("customer_id").aggregate(
        paid=d.paid.sum(), first_purchase=d.day.min(where=d.paid > 0),
        costed_revenue=d.costed_revenue.sum(), margin=d.margin.sum())
    s = g.filter(g.paid > 0).select(
        "customer_id", "first_purchase", margin_rate=ibis.ifelse(
            g.costed_revenue > 0, g.margin / g.costed_revenue, ibis.null("float64")))
    bought = d.filter(d.bought > 0)
    # a day a date cuts in two is one purchase day at the later dates
    tx = bought.group_by(["customer_id", "day"]).aggregate(spend=bought.spend.sum())
    b = btyd_of_transactions(tx, as_of, unit=unit).select(
        "customer_id", "frequency", "recency", "T", "monetary")
    out = s.left_join(b, "customer_id").drop("customer_id_right")
    out = _btyd_filled(out, s, as_of, unit)
    return out.select("customer_id", "frequency", "recency", "T", "monetary", "margin_rate")


def _btyd_filled(out: ibis.Table, s: ibis.Table, as_of: datetime, unit: str) -> ibis.Table:
    # Someone whose only paid lines are not products (postage, a manual charge) has no BTYD
    # history: a single purchase at the first order, as far as the models are concerned.
    first_age = btyd_summary_age(s.first_purchase, as_of, unit)
    return out.mutate(
        frequency=out.frequency.fill_null(0.0),
        recency=out.recency.fill_null(0.0),
        T=out["T"].fill_null(first_age),
        monetary=out.monetary.fill_null(0.0),
    )


def btyd_summary_age(first: ibis.Value, as_of: datetime, unit: str) -> ibis.Value:
    """T of a customer first seen at `first`, by the conventions of `features.btyd`."""
    end = ibis.literal(as_of - timedelta(days=1)).cast("timestamp")
    return days_between(end, first.truncate("D")) / UNIT_DAYS[unit]


def trailing_margin(orders: ibis.Table, products: ibis.Table, as_of: datetime, *,
                    days: int = 365, default_margin_rate: float = 0.30) -> ibis.Table:
    """Current value: each buyer's margin over the `days` before `as_of`.

    Net revenue of the window (every line dated in [as_of − days, as_of): paid lines, and the
    cancellations and returns registered in it, which net out what they reverse, as
    `customer_summary.net_revenue` does over all time) × the customer's margin rate — the rate
    `margins` finds on their costed lines, else `default_margin_rate`, clipped to [0, 1]: the
    rate the value model (`models.value.LifetimeValue.predict`) puts on its forecast, so this
    and the predicted 12-month margin (`clv`) are the same kind of money over the same span.
    One row per customer who bought before `as_of`: customer_id, trailing_revenue_12m,
    trailing_margin_12m (0 for those with no line in the window).
    """
    lines = lines_until(orders, as_of)
    start = ibis.literal(as_of - timedelta(days=days)).cast("timestamp")
    window = lines.filter(lines.ts >= start)
    recent = window.group_by("customer_id").aggregate(trailing_revenue_12m=window.amount.sum())
    rate = margins(orders, products, as_of).select("customer_id", "margin_rate")
    base = customer_summary(orders, as_of).select("customer_id")
    out = base.left_join(recent, "customer_id").drop("customer_id_right")
    out = out.left_join(rate, "customer_id").drop("customer_id_right")
    revenue = out.trailing_revenue_12m.fill_null(0.0).cast("float64")
    r = out.margin_rate.fill_null(default_margin_rate).clip(lower=0.0, upper=1.0)
    return out.select("customer_id", trailing_revenue_12m=revenue,
                      trailing_margin_12m=revenue * r)
