"""What an A/B test of a campaign needs from the warehouse: per campaign and arm, the people
exposed, how many converted and what they spent (the input of `models.experiments.ABTest`).

* **Exposure** — an event before `as_of` with a `campaign_id` and an arm recorded in its
  `properties` JSON (key `arm`, or `variant`/`variation` as other trackers name it). Events are
  put on one person first (`features.funnels.stitched_events`), so a visitor exposed
  anonymously and who registers later is one user.
* **Assignment** — a person belongs to the arm of their *first* exposure to the campaign (the
  intention-to-treat convention: later exposures cannot move them, so the arm cannot depend on
  what happened after assignment). People exposed to more than one arm are counted in
  `mixed_users`: many of them mean the assignment is not sticky per person, which weakens the
  test and is worth fixing at the source.
* **Conversion** — a paid product order by the person's customer in
  [first exposure, first exposure + window_days), cut at `as_of`. The window is cut the same way
  in every arm, so the comparison stays fair while a campaign is still running; rates are lower
  than they will be once every window is complete.
* **Revenue per user** — the amount of those paid product lines (0 for people who did not buy),
  aggregated as Σ and Σ² so the model can run Welch's test without per-user rows.

The arm is read with a regular expression rather than a JSON parser: DuckDB's JSON cast fails
the whole query on one malformed row, and the pattern works the same on every backend. Arm
names are plain labels (no escaped quotes).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis

from upmarket.features.funnels import stitched_events
from upmarket.features.orders import purchases_until

ARM_KEYS = ("arm", "variant", "variation")


def _arm(properties: ibis.Value, keys: tuple[str, ...]) -> ibis.Value:
    found = None
    for key in keys:
        v = properties.re_extract(rf'"{key}"\s*:\s*"([^"\\]*)"', 1).strip().nullif("")
        found = v if found is None else found.coalesce(v)
    return found


def exposures(events: ibis.Table, as_of: datetime,
              arm_keys: tuple[str, ...] = ARM_KEYS) -> ibis.Table:
    """Every exposure event: `campaign_id`, `user_id`, `customer_id` (null for visitors never
    identified), `arm`, `ts`, `message_id`."""
    e = stitched_events(events, as_of)
    e = e.filter(e.campaign_id.notnull(), e.campaign_id.strip() != "")
    e = e.mutate(arm=_arm(e.properties, arm_keys), campaign_id=e.campaign_id.strip())
    e = e.filter(e.arm.notnull())
    return e.select("campaign_id", "user_id", customer_id=e.person_customer_id, arm=e.arm,
                    ts=e.ts, message_id=e.message_id)


def experiment_users(events: ibis.Table, orders: ibis.Table, as_of: datetime,
                     window_days: int = 30, arm_keys: tuple[str, ...] = ARM_KEYS,
                     complete_windows: bool = False) -> ibis.Table:
    """One row per campaign and person: `campaign_id`, `user_id`, `customer_id`, `arm` (of the
    first exposure; ties broken by message id), `first_exposure`, `arms_seen`, `converted`,
    `revenue`. With `complete_windows`, only people first exposed at least `window_days`
    before `as_of` (whose conversion window is over) are kept."""
    x = exposures(events, as_of, arm_keys)
    w = ibis.window(group_by=[x.campaign_id, x.user_id], order_by=[x.ts, x.message_id])
    ranked = x.mutate(rank=ibis.row_number().over(w))
    first = ranked.filter(ranked.rank == 0).select(
        "campaign_id", "user_id", "customer_id", "arm", first_exposure=ranked.ts)
    seen = x.group_by(["campaign_id", "user_id"]).aggregate(arms_seen=x.arm.nunique())
    u = first.join(seen, ["campaign_id", "user_id"])
    u = u.drop(*[c for c in u.columns if c.endswith("_right")])
    if complete_windows:
        u = u.filter(u.first_exposure < ibis.literal(as_of - timedelta(days=int(window_days))))

    paid = purchases_until(orders, as_of)
    end = ibis.least(u.first_exposure + ibis.interval(days=int(window_days)),
                     ibis.literal(as_of))
    j = u.join(paid, [u.customer_id == paid.customer_id, paid.ts >= u.first_exposure,
                      paid.ts < end])
    bought = j.group_by(["campaign_id", "user_id"]).aggregate(
        revenue=j.amount.sum().cast("float64"), orders=j.order_id.nunique())
    out = u.left_join(bought, ["campaign_id", "user_id"])
    out = out.drop(*[c for c in out.columns if c.endswith("_right")])
    return out.select("campaign_id", "user_id", "customer_id", "arm", "first_exposure",
                      "arms_seen", converted=out.orders.notnull() & (out.orders > 0),
                      revenue=out.revenue.fill_null(0.0))


def experiment_arms(events: ibis.Table, orders: ibis.Table, as_of: datetime,
                    window_days: int = 30, arm_keys: tuple[str, ...] = ARM_KEYS,
                    complete_windows: bool = False) -> ibis.Table:
    """Per campaign and arm: `users`, `converters`, `revenue` (Σ over users), `revenue_sq`
    (Σ revenue²), `mixed_users` (people also exposed to another arm), `first_exposure` and
    `last_exposure` (of the arm's users' first exposures); ordered by campaign and arm."""
    u = experiment_users(events, orders, as_of, window_days, arm_keys, complete_windows)
    return u.group_by(["campaign_id", "arm"]).aggregate(
        users=u.count(),
        converters=u.converted.cast("int64").sum(),
        revenue=u.revenue.sum(),
        revenue_sq=(u.revenue * u.revenue).sum(),
        mixed_users=(u.arms_seen > 1).cast("int64").sum(),
        first_exposure=u.first_exposure.min(),
        last_exposure=u.first_exposure.max(),
    ).order_by(["campaign_id", "arm"])

