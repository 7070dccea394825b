"""Acquisition: new customers and fully-loaded spend per channel and monthly cohort."""

from __future__ import annotations

from datetime import datetime

import ibis

from upmarket.features.orders import purchases_until


def new_customers(customers: ibis.Table, orders: ibis.Table, as_of: datetime) -> ibis.Table:
    """New customers per acquisition channel and cohort month (month of the first purchase);
    a buyer the customer list does not know is counted under channel `unknown`."""
    first = purchases_until(orders, as_of).group_by("customer_id").aggregate(
        first_ts=ibis._.ts.min())
    chan = customers.select("customer_id", "acquisition_channel")
    j = first.left_join(chan, "customer_id")
    j = j.select(channel=j.acquisition_channel.fill_null("unknown"),
                 cohort=j.first_ts.truncate("M"))
    return j.group_by(["channel", "cohort"]).aggregate(new_customers=j.count())


def spend(marketing_spend: ibis.Table, as_of: datetime) -> ibis.Table:
    """Spend per channel, cohort month and cost type (media, sales team, technical support,
    overhead), before `as_of`."""
    s = marketing_spend.filter(marketing_spend.date < ibis.literal(as_of.date()))
    s = s.mutate(cohort=s.date.cast("timestamp").truncate("M"))
    return s.group_by(["channel", "cohort", "cost_type"]).aggregate(cost=s.cost.sum())
