"""Aggregations behind the risk indicators (the marketing-plan framework and the key-account strategy course): revenue per customer and industry
for concentration, invoice positions for credit, ticket response times and delivery delays for
operational risk, feedback for reputation and daily KPIs for anomaly detection.

Every function takes Ibis tables and an explicit `as_of` and returns an expression; windows are
[as_of − days, as_of), so a run is reproducible and nothing after `as_of` leaks in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

from upmarket.features.orders import days_between, lines_until


def _since(as_of: datetime, days: int) -> ibis.Scalar:
    return ibis.literal(as_of - timedelta(days=int(days)))


def customer_revenue(orders: ibis.Table, as_of: datetime, days: int = 365) -> ibis.Table:
    """Net revenue per customer over the window: paid lines plus the (negative) cancellation
    and return lines that reverse them."""
    lines = lines_until(orders, as_of)
    lines = lines.filter(lines.ts >= _since(as_of, days))
    return lines.group_by("customer_id").aggregate(revenue=lines.amount.sum())


def industry_revenue(orders: ibis.Table, customers: ibis.Table, as_of: datetime,
                     days: int = 365) -> ibis.Table:
    """Net revenue per customer industry over the window, for customers whose industry is
    known (B2B accounts); consumers have none and are left out."""
    rev = customer_revenue(orders, as_of, days)
    c = customers.filter(customers.industry.notnull(), customers.industry.strip() != "")
    j = rev.join(c.select("customer_id", "industry"), "customer_id")
    return j.group_by("industry").aggregate(revenue=j.revenue.sum(),
                                             customers=j.customer_id.nunique())


def invoice_positions(payments: ibis.Table, as_of: datetime, history_days: int = 365
                      ) -> ibis.Table:
    """One row per invoiced customer: what is open and overdue at `as_of`, and how the
    customer paid over the history window.

    * open: issued before `as_of` and not paid by then; overdue: open and past its due date
      (every overdue invoice counts, however old: an unpaid invoice does not age away);
    * history (issued within the window): invoices and amount invoiced, invoices settled by
      `as_of`, how many of those were paid after their due date and by how many days."""
    asof = ibis.literal(as_of)
    p = payments.filter(payments.issued < asof)
    paid = p.paid_at.notnull() & (p.paid_at < asof)
    overdue = ~paid & (p.due < asof)
    recent = p.issued >= _since(as_of, history_days)
    late = paid & (p.paid_at > p.due)
    p = p.mutate(
        is_open=~paid, is_overdue=overdue, recent=recent,
        recent_settled=recent & paid, recent_late=recent & late,
        days_overdue=ibis.ifelse(overdue, days_between(asof, p.due), ibis.null("float64")),
        days_late=ibis.ifelse(recent & late, days_between(p.paid_at, p.due),
                              ibis.null("float64")),
    )
    zero = ibis.literal(0.0)
    return p.group_by("customer_id").aggregate(
        invoices=p.recent.cast("int64").sum(),
        invoiced_amount=ibis.ifelse(p.recent, p.amount, zero).sum(),
        open_amount=ibis.ifelse(p.is_open, p.amount, zero).sum(),
        overdue_count=p.is_overdue.cast("int64").sum(),
        overdue_amount=ibis.ifelse(p.is_overdue, p.amount, zero).sum(),
        max_days_overdue=p.days_overdue.max(),
        settled=p.recent_settled.cast("int64").sum(),
        paid_late=p.recent_late.cast("int64").sum(),
        mean_days_late=p.days_late.mean(),
    )


def ticket_responses(tickets: ibis.Table, as_of: datetime, days: int = 90) -> ibis.Table:
    """Tickets opened in the window with their first-response time in hours; a ticket still
    unanswered at `as_of` is measured up to `as_of` (it has waited at least that long)."""
    asof = ibis.literal(as_of)
    t = tickets.filter(tickets.opened < asof, tickets.opened >= _since(as_of, days))
    answered = t.first_response.notnull() & (t.first_response < asof)
    waited = ibis.ifelse(answered, days_between(t.first_response, t.opened),
                         days_between(asof.cast("timestamp"), t.opened))
    return t.select("ticket_id", "customer_id", "kind", "opened", answered=answered,
                    response_hours=waited * 24.0)


def delivery_performance(orders: ibis.Table, as_of: datetime, days: int = 90) -> ibis.Table:
    """One row: orders whose promised delivery fell in the window, how many arrived late (or
    had still not arrived at `as_of`), and the mean delay in days of the late ones."""
    asof = ibis.literal(as_of)
    lines = lines_until(orders, as_of)
    lines = lines.filter(lines.status == "paid", lines.promised_delivery.notnull())
    per = lines.group_by("order_id").aggregate(promised=lines.promised_delivery.min(),
                                               delivered=lines.delivered_at.max())
    per = per.filter(per.promised < asof, per.promised >= _since(as_of, days))
    arrived = per.delivered.notnull() & (per.delivered < asof)
    late = ibis.ifelse(arrived, per.delivered > per.promised, True)
    delay = ibis.ifelse(arrived, days_between(per.delivered, per.promised),
                        days_between(asof.cast("timestamp"), per.promised))
    per = per.mutate(late=late, delay=ibis.ifelse(late, delay, ibis.null("float64")))
    return per.aggregate(due_orders=per.count(), late_orders=per.late.cast("int64").sum(),
                         mean_delay_days=per.delay.mean())


def paid_orders(orders: ibis.Table, as_of: datetime, days: int = 90) -> ibis.Scalar:
    """Distinct paid orders placed in the window (the denominator of complaint rates)."""
    lines = lines_until(orders, as_of)
    lines = lines.filter(lines.status == "paid", lines.ts >= _since(as_of, days))
    return lines.order_id.nunique()


def feedback_in(feedback: ibis.Table, as_of: datetime, days: int = 182) -> ibis.Table:
    """Feedback answers in the window: time, NPS score (null for CSAT-only answers) and text."""
    f = feedback.filter(feedback.ts < ibis.literal(as_of), feedback.ts >= _since(as_of, days))
    return f.select("id", "customer_id", "ts", "nps_score", "text")


def daily_kpis(orders: ibis.Table, as_of: datetime, days: int = 120) -> ibis.Table:
    """Per day in the window: paid revenue, paid orders and new customers (those whose first
    paid order ever falls on that day). Days without any order are absent; the caller fills
    them with zeros over the full date range."""
    since = _since(as_of, days)
    paid = lines_until(orders, as_of).filter(ibis._.status == "paid")
    recent = paid.filter(paid.ts >= since).mutate(day=ibis._.ts.truncate("D"))
    per_day = recent.group_by("day").aggregate(revenue=recent.amount.sum(),
                                               orders=recent.order_id.nunique())
    first = paid.group_by("customer_id").aggregate(first_ts=paid.ts.min())
    first = first.filter(first.first_ts >= since).mutate(day=ibis._.first_ts.truncate("D"))
    new = first.group_by("day").aggregate(new_customers=first.count())
    j = per_day.outer_join(new, per_day.day == new.day)
    return j.select(day=j.day.fill_null(j.day_right),
                    revenue=j.revenue.fill_null(0.0),
                    orders=j.orders.fill_null(0),
                    new_customers=j.new_customers.fill_null(0)).order_by("day")
