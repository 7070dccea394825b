"""The marketing funnel exposure → click → register → purchase per channel (DESIGN §4
Measurement; the marketing-plan framework's tracking plan: "通过埋点统计营销活动曝光、点击、转化等数据" — count each
campaign's exposures, clicks and conversions — and "跟踪用户点击、浏览、注册等行为" — follow
clicks, views and registrations along the user's path).

A funnel counts *people*, not events, so events are first put on one identity: a device seen
anonymously and later identified belongs to that customer (:func:`stitched_events`). Steps are
ordered per person and channel, within the window [as_of − window_days, as_of):

1. **exposed** — any marketing touch through the channel (an event with that `channel`: an ad
   impression, or a click, which implies the ad was seen even when the impression was not
   logged); the first one starts the person's funnel;
2. **clicked** — a click event through the channel at or after the exposure;
3. **registered** — the person holds an account after the click: a registration event, or a
   first purchase (buying needs an account), at any time up to `as_of`; a customer who
   registered long before the campaign passes this step at the click (registration is a state,
   not something to repeat). `new_registrations` counts those whose registration came after
   their first exposure — the acquisition view;
4. **purchased** — a paid product order by the customer at or after the later of click and
   registration, inside the window.

Each count is therefore a subset of the step before; step conversion is count / previous
count, overall conversion is purchased / exposed. A person touched by several channels is in
each of their funnels (the multi-touch view); the `all` row counts each person once over every
channel.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

from upmarket.features.orders import purchases_until

STEPS = ("exposed", "clicked", "registered", "purchased")
CLICK_EVENTS = ("click", "clicked", "ad_click", "link_clicked")
REGISTER_EVENTS = ("register", "registered", "sign_up", "signup", "signed_up")
#: The channel name of the row counting each person once over all channels.
ALL_CHANNELS = "all"


def identity_map(events: ibis.Table) -> ibis.Table:
    """anonymous_id → customer_id from events that carry both (an identify call, or any event
    after login). A device shared by several customers goes to the smallest id, so the map is
    a function and every backend picks the same one."""
    e = events.filter(events.anonymous_id.notnull(), events.customer_id.notnull())
    return e.group_by(e.anonymous_id).aggregate(known_customer_id=e.customer_id.min())


def stitched_events(events: ibis.Table, as_of: datetime) -> ibis.Table:
    """Events strictly before `as_of` with `user_id` (the person) and `person_customer_id` (the
    customer behind it, null for visitors never identified): the event's own customer id, else
    the customer its device had been identified as before `as_of`, else "anon:" + the device
    id. Events with neither id cannot be put on a person and are dropped."""
    before = events.filter(events.ts < ibis.literal(as_of))
    e = before.filter(before.customer_id.notnull() | before.anonymous_id.notnull())
    # identities known at as_of only: a later login must not rewrite the past
    ids = identity_map(before)
    j = e.left_join(ids, e.anonymous_id == ids.anonymous_id)
    j = j.drop(*[c for c in j.columns if c.endswith("_right")])
    person = j.customer_id.coalesce(j.known_customer_id)
    return j.mutate(person_customer_id=person,
                    user_id=person.coalesce(ibis.literal("anon:") + j.anonymous_id)
                    ).drop("known_customer_id")


def _names(values: tuple[str, ...]) -> list[str]:
    return [v.lower() for v in values]


def funnel_users(events: ibis.Table, orders: ibis.Table, as_of: datetime,
                 window_days: int = 90, click_events: tuple[str, ...] = CLICK_EVENTS,
                 register_events: tuple[str, ...] = REGISTER_EVENTS) -> ibis.Table:
    """One row per person and channel exposed in the window: `user_id`, `channel`, the time
    each step was reached (`exposed_ts`, `clicked_ts`, `registered_ts`, `purchased_ts`; null
    when not reached) and `new_registration`. See the module docstring for the step rules."""
    start = ibis.literal(as_of - timedelta(days=int(window_days)))
    e = stitched_events(events, as_of)
    name = e.event.lower().strip()
    touches = e.filter(e.ts >= start, e.channel.notnull(), e.channel.strip() != "")
    touches = touches.mutate(channel=touches.channel.strip(),
                             is_click=touches.event.lower().strip().isin(_names(click_events)))
    # a click is a touch, so it is never before the person's first touch through its channel:
    # the first click at or after the exposure is the first click, found in the same pass
    exposed = touches.group_by(["user_id", "channel"]).aggregate(
        exposed_ts=touches.ts.min(), customer_id=touches.person_customer_id.max(),
        clicked_ts=touches.ts.min(where=touches.is_click))

    # registration: first register event, or first purchase (buying needs an account)
    regs = e.filter(name.isin(_names(register_events)))
    reg_event = regs.group_by("user_id").aggregate(reg_ts=regs.ts.min())
    paid = purchases_until(orders, as_of)
    first_buy = paid.group_by("customer_id").aggregate(first_buy_ts=paid.ts.min())

    f = exposed.left_join(reg_event, "user_id").drop("user_id_right")
    f = f.left_join(first_buy, "customer_id").drop("customer_id_right")
    account_ts = ibis.least(f.reg_ts, f.first_buy_ts)
    account_ts = ibis.cases((f.reg_ts.isnull(), f.first_buy_ts),
                            (f.first_buy_ts.isnull(), f.reg_ts), else_=account_ts)
    registered_ts = ibis.cases(
        (f.clicked_ts.notnull() & account_ts.notnull(),
         ibis.greatest(f.clicked_ts, account_ts)), else_=ibis.null("timestamp"))
    f = f.mutate(registered_ts=registered_ts,
                 new_registration=registered_ts.notnull() & (account_ts >= f.exposed_ts))

    buys = paid.filter(paid.ts >= start)
    p = f.join(buys, [f.customer_id == buys.customer_id, f.registered_ts.notnull(),
                      buys.ts >= f.registered_ts])
    purchased = p.group_by(["user_id", "channel"]).aggregate(purchased_ts=p.ts.min())
    out = f.left_join(purchased, ["user_id", "channel"])
    return out.select("user_id", "channel", "customer_id", "exposed_ts", "clicked_ts",
                      "registered_ts", "new_registration", "purchased_ts")


def funnel(events: ibis.Table, orders: ibis.Table, as_of: datetime, window_days: int = 90,
           click_events: tuple[str, ...] = CLICK_EVENTS,
           register_events: tuple[str, ...] = REGISTER_EVENTS) -> ibis.Table:
    """Per channel (and the `all` row): `exposed`, `clicked`, `registered`, `purchased`,
    `new_registrations`, the step conversions `click_rate` (clicked/exposed),
    `register_rate` (registered/clicked), `purchase_rate` (purchased/registered) and
    `overall_rate` (purchased/exposed); a rate whose denominator is 0 is null. Ordered by
    channel with `all` last."""
    return funnel_of_users(funnel_users(events, orders, as_of, window_days, click_events,
                                        register_events))


def funnel_of_users(u: ibis.Table) -> ibis.Table:
    """:func:`funnel` of its :func:`funnel_users` `u`, which it reads twice (per channel and
    per person): materialised, they are built once."""

    def counts(t: ibis.Table, by) -> ibis.Table:
        return t.group_by(by).aggregate(
            exposed=t.count(),
            clicked=t.clicked_ts.notnull().cast("int64").sum(),
            registered=t.registered_ts.notnull().cast("int64").sum(),
            purchased=t.purchased_ts.notnull().cast("int64").sum(),
            new_registrations=t.new_registration.fill_null(False).cast("int64").sum(),
        )

    per = counts(u, "channel")
    # one row per person over all channels: a step counts if reached through any channel
    person = u.group_by("user_id").aggregate(
        clicked_ts=u.clicked_ts.min(), registered_ts=u.registered_ts.min(),
        purchased_ts=u.purchased_ts.min(), new_registration=u.new_registration.any())
    total = counts(person.mutate(channel=ibis.literal(ALL_CHANNELS)), "channel")
    t = per.union(total.select(*per.columns))

    def rate(num, den):
        return ibis.cases((den > 0, num.cast("float64") / den.cast("float64")),
                          else_=ibis.null("float64"))

    t = t.mutate(click_rate=rate(t.clicked, t.exposed),
                 register_rate=rate(t.registered, t.clicked),
                 purchase_rate=rate(t.purchased, t.registered),
                 overall_rate=rate(t.purchased, t.exposed),
                 last=(t.channel == ALL_CHANNELS).cast("int8"))
    return t.order_by(["last", "channel"]).drop("last")
