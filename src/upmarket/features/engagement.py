"""How and when to reach a customer, as Ibis expressions: the consents in force, the channels
they respond on, the hour they are active and how often they were contacted lately.

These feed the next-best-action (the key-account strategy course: right person, right time, right channel) and the
consent gate of every export. Everything is defined for any `as_of` and uses only what happened
before it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

#: Channels a marketer sends messages through (the channels consents are given for). Other
#: touchpoint channels (search, social ads, offline) reach people who did not ask to be reached,
#: so they count neither as responses to a message nor as contacts made.
CONTACT_CHANNELS = ("email", "sms", "wechat", "phone", "app_push")
#: Events that mean "this person reacted": a click on a message, or a visit it led to.
RESPONSE_EVENTS = ("click",)
#: Events a message sent to the customer leaves behind.
CONTACT_EVENTS = ("ad_impression", "click", "message_sent", "email_sent", "sms_sent")


def consents_in_force(consents: ibis.Table, as_of: datetime, purpose: str = "marketing"
                      ) -> ibis.Table:
    """The latest consent per (customer, channel) for `purpose` given before `as_of`:
    customer_id, channel, granted, ts (when it was given or withdrawn). A later withdrawal
    overrides an earlier grant, so only the last row per key counts; a channel with no row at
    all has no consent."""
    c = consents.filter(consents.purpose == purpose, consents.ts < ibis.literal(as_of))
    w = ibis.window(group_by=[c.customer_id, c.channel], order_by=ibis.desc(c.ts))
    latest = c.mutate(_n=ibis.row_number().over(w))
    latest = latest.filter(latest._n == 0)
    return latest.select("customer_id", "channel", "granted", "ts")


def channel_responses(events: ibis.Table, as_of: datetime, *, days: int = 365) -> ibis.Table:
    """Responses per customer and contact channel in the `days` before `as_of`: customer_id,
    channel, responses, last_response."""
    e = events.filter(events.ts < ibis.literal(as_of),
                      events.ts >= ibis.literal(as_of - timedelta(days=days)),
                      events.customer_id.notnull(),
                      events.channel.isin(CONTACT_CHANNELS),
                      events.event.isin(RESPONSE_EVENTS))
    return e.group_by(["customer_id", "channel"]).aggregate(
        responses=e.count(), last_response=e.ts.max())


def active_hour(events: ibis.Table, as_of: datetime, *, days: int = 365) -> ibis.Table:
    """Each customer's most frequent hour of activity (0–23, in the stored time zone, UTC
    unless a mapping said otherwise) over the `days` before `as_of`, ties to the earlier hour:
    customer_id, active_hour, active_events."""
    e = events.filter(events.ts < ibis.literal(as_of),
                      events.ts >= ibis.literal(as_of - timedelta(days=days)),
                      events.customer_id.notnull())
    e = e.mutate(hour=e.ts.hour())
    per = e.group_by(["customer_id", "hour"]).aggregate(n=e.count())
    w = ibis.window(group_by=per.customer_id, order_by=[ibis.desc(per.n), per.hour])
    total = ibis.window(group_by=per.customer_id)
    ranked = per.mutate(_n=ibis.row_number().over(w), active_events=per.n.sum().over(total))
    top = ranked.filter(ranked._n == 0)
    return top.select("customer_id", active_hour=top.hour.cast("int32"),
                      active_events=top.active_events)


def recent_contacts(events: ibis.Table, as_of: datetime, *, days: int = 30) -> ibis.Table:
    """Marketing messages that reached each customer through a contact channel in the `days`
    before `as_of` (what the per-tier contact cap counts): customer_id, contacts."""
    e = events.filter(events.ts < ibis.literal(as_of),
                      events.ts >= ibis.literal(as_of - timedelta(days=days)),
                      events.customer_id.notnull(),
                      events.channel.isin(CONTACT_CHANNELS),
                      events.event.isin(CONTACT_EVENTS))
    # an impression and the click on it are one message, so count distinct (channel, day)
    e = e.mutate(day=e.ts.date())
    per = e.select("customer_id", "channel", "day").distinct()
    return per.group_by("customer_id").aggregate(contacts=per.count())
