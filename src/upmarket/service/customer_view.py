"""Customer-360: everything known about one customer, assembled once for the dashboard's
customer page and `upmarket customers show` alike.

Read from the current published run (scores, the next best action, recommendations), the
warehouse's own tables (orders, events, tickets, feedback, consents, the customer's profile)
and the operational store (consents and events collected since the last copy, tasks). The
sections: identity, tier with its service level, value (CLV with an interval, trailing
revenue), RFM, lifecycle, churn risk with its signals, premium propensity, recommendations,
the next best action with its reason, the membership level and points (with the distance to
the next level and the latest ledger entries), consents per purpose and channel, open and past
tasks, and one timeline of orders, events, tickets, feedback, consents and actions.

Personal data (data minimisation, OWASP Top 10 A01 and PIPL art. 6): name, e-mail and phone,
and the free text of tickets and feedback (people write their phone numbers into it), are
only read when the caller may see personal data (`pii`); otherwise the identity section says
it is hidden and the texts are left out. Every list is bounded: the timeline keeps the most
recent `TIMELINE_ROWS` entries and counts the rest, so a customer with ten thousand events is
one page, not ten thousand rows.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import pandas as pd
import sqlalchemy as sa

from upmarket.activation import privacy
from upmarket.data_labels import channel_name
from upmarket.errors import UnknownCustomer
from upmarket.features.engagement import consents_in_force
from upmarket.currency import run_symbol
from upmarket.i18n import current_lang, label, value_label
from upmarket.models.churn import signal_text
from upmarket.models.clv_interval import clv_interval
from upmarket.models.value import ValueSettings
from upmarket.opstore import automation as auto
from upmarket.opstore import store as ops
from upmarket.opstore.schema import event_inbox
from upmarket.service import profiles
from upmarket.strategy.tiers import TierPolicy
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import current_run, output, output_table

#: Timeline entries shown; older ones are counted, not listed.
TIMELINE_ROWS = 30
#: Recommendations shown, best first.
RECOMMENDATIONS = 5
#: Tasks listed per state (open, past); the rest are counted.
TASK_ROWS = 20
#: Points ledger entries shown, newest first; the rest are counted.
LEDGER_ROWS = 10
#: Profile attributes shown to every key: none identifies a person on its own.
PROFILE = ("country", "city_tier", "acquisition_channel", "created_at")
IDENTITY = ("name", "email", "phone")


def _v(v):
    """A value as JSON can carry it: None for missing, Python scalars, datetimes."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def _one(t: ibis.Table, customer_id: str, *columns: str) -> dict | None:
    keep = [c for c in columns if c in t.columns]
    rows = t.filter(t.customer_id == customer_id).select(*keep).limit(1).to_pandas()
    return None if rows.empty else {k: _v(v) for k, v in rows.iloc[0].items()}


def _count(t: ibis.Table) -> int:
    return int(t.count().execute())


def customer_view(wh: Warehouse, store: ops.Store | None, customer_id: str, *, lang: str,
                  pii: bool,
                  at: datetime, shown_id: str | None = None,
                  timeline_rows: int = TIMELINE_ROWS) -> dict:
    """The customer-360 of `customer_id` in the current run, labels in `lang`, consents in
    force at `at`; `shown_id` is the id the caller may show (a pseudonym for keys that may not
    see ids in the clear). Without an operational store (`store` None: a warehouse used on
    its own) there are no tasks nor collected events or consents to show.
    `UnknownCustomer` when the run has not scored them."""
    lang = current_lang(lang)  # "zh" from the command line is "zh-CN" here
    run = current_run(wh)
    run_id = run["run_id"]
    res = output(wh, "results", run_id)
    row = _one(res, customer_id, *res.columns)
    if row is None:
        raise UnknownCustomer("err.unknown_customer", customer=shown_id or customer_id,
                              run_id=run_id, as_of=f"{pd.Timestamp(run['as_of']):%Y-%m-%d}")
    view = {"customer_id": shown_id or customer_id, "run_id": run_id,
            "as_of": pd.Timestamp(run["as_of"]).to_pydatetime(), "pii": pii,
            "currency": run_symbol(run)}
    view["identity"], view["profile"] = _identity(wh, customer_id, pii)
    view["tier"] = _tier(row, lang)
    view["value"] = _value(row, run, customer_id)
    view["rfm"] = {k: row.get(k) for k in ("rfm_cell", "r_score", "f_score", "m_score",
                                            "recency_days", "orders", "net_revenue")}
    view["rfm"]["segment"] = row.get("rfm_segment")
    view["rfm"]["segment_label"] = value_label("segment", str(row.get("rfm_segment")), lang)
    view["lifecycle"] = {"stage": row.get("lifecycle_stage"),
                         "label": value_label("stage", str(row.get("lifecycle_stage")), lang),
                         "cluster": row.get("cluster"),
                         "cluster_label": value_label("cluster", str(row.get("cluster")), lang)
                         if row.get("cluster") is not None else None}
    view["churn"] = {"risk": row.get("churn_risk"), "band": row.get("churn_band"),
                     "band_label": value_label("band", str(row.get("churn_band")), lang),
                     "signals": signal_text(row.get("churn_signals"),
                                            row.get("churn_signals_zh"), lang)}
    view["propensity"] = {"premium": row.get("premium_propensity"),
                          "current_price_tier": row.get("current_tier"),
                          "peer_upgrade_rate": row.get("peer_upgrade_rate")}
    view["recommendations"] = _recommendations(wh, run_id, customer_id)
    view["action"] = _action(wh, run_id, customer_id, row, lang)
    view["membership"] = _membership(wh, store, run, customer_id, lang)
    consents, history = _consents(wh, store, customer_id, at)
    view["consents"] = consents
    open_tasks, past, n_tasks = _tasks(store, customer_id)
    view["tasks"] = {"open": open_tasks, "past": past, "total": n_tasks}
    view["timeline"] = _timeline(wh, store, customer_id, pii, lang, history,
                                 [*open_tasks, *past], n_tasks, view, timeline_rows)
    return view


def _identity(wh: Warehouse, customer_id: str, pii: bool) -> tuple[dict | None, dict]:
    c = wh.table("customers")
    found = _one(c, customer_id, *PROFILE, *(IDENTITY if pii else ())) or {}
    profile = {k: found.get(k) for k in PROFILE}
    return ({k: found.get(k) for k in IDENTITY} if pii else None), profile


def _tier(row: dict, lang: str) -> dict:
    tier = row.get("tier")
    level = TierPolicy().level(tier)
    return {"tier": tier, "label": value_label("tier", str(tier), lang),
            "service": label(level.service, lang), "resource": label(level.resource, lang),
            "response_hours": level.response_hours,
            "change": row.get("tier_change"),
            "change_label": value_label("change", str(row.get("tier_change")), lang)
            if row.get("tier_change") else None,
            "distance_to_next_tier": row.get("distance_to_next_tier"),
            "tier_value": row.get("tier_value")}


def _value(row: dict, run: dict, customer_id: str) -> dict:
    fitted = (run.get("counts") or {}).get("value_model") or {}
    params = fitted.get("params") or {}
    settings = ValueSettings()
    interval = clv_interval(
        customer_id, row.get("clv"), frequency=row.get("frequency") or 0.0,
        T=row.get("T") or 0.0,
        monetary=row.get("monetary") or 0.0, p_alive=row.get("p_alive"),
        order_value=row.get("expected_order_value") or 0.0,
        transactions=fitted.get("transactions") or "", transaction_params=params.get(
            "transactions") or {}, spend=fitted.get("spend") or "",
        spend_params=params.get("spend") or {}, horizon_months=settings.horizon_months,
        unit=settings.unit)
    return {"clv": row.get("clv"), "clv_low": interval.low, "clv_high": interval.high,
            "clv_level": interval.level, "clv_interval_missing": interval.missing,
            "trailing_revenue_12m": row.get("trailing_revenue_12m"),
            "current_value": row.get("current_value"), "net_revenue": row.get("net_revenue"),
            "p_alive": row.get("p_alive"),
            "expected_purchases_12m": row.get("expected_purchases_12m"),
            "expected_order_value": row.get("expected_order_value")}


def _recommendations(wh: Warehouse, run_id: str, customer_id: str) -> list[dict]:
    if not wh.has_table(output_table("recommendations", run_id)):
        return []
    r = output(wh, "recommendations", run_id)
    r = r.filter(r.customer_id == customer_id)
    cols = [c for c in ("sku", "score", "rank", "kind", "category", "price_tier") if c in r.columns]
    r = r.order_by("rank").limit(RECOMMENDATIONS).select(*cols)
    p = wh.table("products").select("sku", product_name="name")
    rows = r.left_join(p, "sku").select(*cols, "product_name").order_by("rank").to_pandas()
    return [{k: _v(v) for k, v in rec.items()} for rec in rows.to_dict("records")]


def _action(wh: Warehouse, run_id: str, customer_id: str, row: dict, lang: str) -> dict | None:
    reason = "reason_zh" if lang == "zh-CN" else "reason_en"
    found = None
    if wh.has_table(output_table("actions", run_id)):
        acts = output(wh, "actions", run_id)
        if "expected_value" in acts.columns:  # the best, should a run list several
            acts = acts.order_by(ibis.desc("expected_value"))
        found = _one(acts, customer_id, "action", "product_name",
                     "sku", "offer_type", "offer_value", "channel", "route", "send_hour",
                     "due_hours", "probability", "expected_value", "reason_en", "reason_zh")
    if found is None and row.get("next_best_action"):
        found = {"action": row["next_best_action"], "reason_en": row.get("action_reason")}
    if found is None:
        return None
    found["label"] = value_label("action", str(found["action"]), lang)
    found["reason"] = found.get(reason) or found.get("reason_en")
    return found


def _membership(wh: Warehouse, store: ops.Store | None, run: dict, customer_id: str,
                lang: str) -> dict:
    """Level, distance to the next level, points balance (with adjustments made since the
    run), the points that lapse next, the level's benefits and the latest ledger entries.
    `status` is `off` when the run's policy has no programme, `none` for a non-member."""
    from upmarket.opstore.points import adjustments
    from upmarket.policy.file import policy_of_run

    run_id = run["run_id"]
    if not wh.has_table(output_table("member_levels", run_id)):
        return {"status": "off"}
    found = _one(output(wh, "member_levels", run_id), customer_id, "level", "change",
                 "reason_en", "reason_zh", "distance_en", "distance_zh", "points_balance",
                 "points_expiring", "expiring_at", "spend_window", "orders_window",
                 "next_level", "grace_until")
    if found is None:
        return {"status": "none"}
    programme = policy_of_run(run).settings().membership
    suffix = "zh" if lang == "zh-CN" else "en"
    code = found["level"]
    level = programme.level(code) if code in programme.codes else None
    ledger = output(wh, "points_ledger", run_id)
    mine = ledger.filter(ledger.customer_id == customer_id)
    total = _count(mine)
    rows = mine.order_by([ibis.desc("ts"), ibis.desc("entry_id")]).limit(LEDGER_ROWS).select(
        "ts", "kind", "points", "order_id").to_pandas()
    entries = [{"ts": _v(r.ts), "kind": r.kind, "label": label(f"points.{r.kind}", lang),
                "points": int(r.points), "order_id": _v(r.order_id)}
               for r in rows.itertuples()]
    pending = 0
    if store is not None:
        held = adjustments(store, customer_id)
        counted = set(ledger.filter((ledger.customer_id == customer_id)
                                    & (ledger.kind == "adjust")).select("entry_id")
                      .to_pandas()["entry_id"].str.removeprefix("adjust:"))
        pending = int(held.loc[~held["request_id"].isin(counted), "points"].sum())
    balance = int(found.get("points_balance") or 0)
    return {"status": "member", "level": code,
            "level_label": level.display(lang) if level else code,
            "change": found.get("change"),
            "change_label": label(f"members.change.{found['change']}", lang)
            if found.get("change") else None,
            "reason": found.get(f"reason_{suffix}"),
            "distance": found.get(f"distance_{suffix}"),
            "balance": balance + pending, "pending": pending,
            "balance_value": (balance + pending) * programme.redemption_value,
            "expiring": int(found.get("points_expiring") or 0),
            "expiring_at": found.get("expiring_at"), "grace_until": found.get("grace_until"),
            "benefits": [label(f"members.benefit.{b}", lang)
                         for b in (level.benefits if level else ())],
            "ledger": entries, "ledger_total": total}


def _consents(wh: Warehouse, store: ops.Store, customer_id: str, at: datetime
              ) -> tuple[list[dict], pd.DataFrame]:
    """Consents in force per purpose and channel, and the customer's whole consent history
    (for the timeline), counting those the store holds but has not copied yet."""
    h = privacy.consent_history(wh, store)
    h = h.filter(h.customer_id == customer_id)
    history = h.order_by(ibis.desc("ts")).to_pandas()
    purposes = sorted(set(history["purpose"]))
    force = []
    for purpose in purposes:
        now = consents_in_force(h, at, purpose).order_by("channel").to_pandas()
        force += [{"purpose": purpose, "channel": r.channel, "granted": bool(r.granted),
                   "since": _v(r.ts)} for r in now.itertuples()]
    return force, history


def _tasks(store: ops.Store | None, customer_id: str) -> tuple[list[dict], list[dict], int]:
    if store is None:
        return [], [], 0
    rows, total = auto.customer_tasks(store, customer_id, limit=2 * TASK_ROWS)
    keep = ("id", "rule", "kind", "title", "status", "assignee", "created", "due", "completed",
            "automated")
    rows = [{k: t.get(k) for k in keep} for t in rows]
    open_tasks = [t for t in rows if t["status"] == "open"][:TASK_ROWS]
    past = [t for t in rows if t["status"] != "open"][:TASK_ROWS]
    return open_tasks, past, total


def _uncopied_events(store: ops.Store | None, customer_id: str) -> int:
    if store is None:
        return 0
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(event_inbox).where(
            event_inbox.c.user_id == customer_id, event_inbox.c.copied.is_(False))).scalar())


def _timeline(wh: Warehouse, store: ops.Store, customer_id: str, pii: bool, lang: str,
              consents: pd.DataFrame, tasks: list[dict], n_tasks: int, view: dict,
              limit: int) -> dict:
    """The latest `limit` entries over every source, newest first, and how many older ones
    exist: each source gives at most `limit` rows and its count, so the work is bounded
    however long the history."""
    items: list[dict] = []
    total = 0

    o = wh.table("orders")
    o = o.filter(o.customer_id == customer_id)
    per_order = o.group_by("order_id", "status").aggregate(
        ts=o.ts.min(), amount=o.amount.sum(), lines=o.count(), channel=o.channel.max())
    total += _count(per_order)
    for r in per_order.order_by(ibis.desc("ts")).limit(limit).to_pandas().itertuples():
        items.append({"ts": _v(r.ts), "kind": "order", "what": label(
            "customer.timeline.order", lang, order_id=r.order_id, lines=int(r.lines),
            status=value_label("status", str(r.status), lang) if r.status else "—",
            amount=float(r.amount or 0.0)), "channel": _v(r.channel)})

    e = wh.table("events")
    total += _count(e.filter(e.customer_id == customer_id)) + _uncopied_events(store, customer_id)
    collected = ops.recent_events(store, customer_id, limit=limit) if store else []
    events = profiles.merge_events(collected,
                                   profiles.ingested_events(wh, customer_id, limit=limit),
                                   limit=limit)
    items += [{"ts": ev["ts"], "kind": "event",
               "what": value_label("event", str(ev.get("event") or ev["type"]), lang),
               "channel": None} for ev in events]

    t = wh.table("service_tickets")
    t = t.filter(t.customer_id == customer_id)
    total += _count(t)
    for r in t.order_by(ibis.desc("opened")).limit(limit).to_pandas().itertuples():
        what = label("customer.timeline.ticket", lang, ticket_id=r.ticket_id,
                     kind=value_label("ticket", str(r.kind), lang) if r.kind else "—",
                     state=label("customer.resolved" if pd.notna(r.resolved)
                                 else "customer.unresolved", lang))
        if pd.notna(r.satisfaction):
            what += " · " + label("customer.satisfaction", lang, score=float(r.satisfaction))
        items.append({"ts": _v(r.opened), "kind": "ticket", "what": what,
                      "text": _v(r.text) if pii else None, "channel": _v(r.channel)})

    f = wh.table("feedback")
    f = f.filter(f.customer_id == customer_id)
    total += _count(f)
    for r in f.order_by(ibis.desc("ts")).limit(limit).to_pandas().itertuples():
        parts = []
        if pd.notna(r.nps_score):
            parts.append(f"NPS {int(r.nps_score)}")
        if pd.notna(r.csat):
            parts.append(f"CSAT {float(r.csat):g}")
        items.append({"ts": _v(r.ts), "kind": "feedback", "what": " · ".join(parts) or "—",
                      "text": _v(r.text) if pii else None, "channel": _v(r.channel)})

    total += len(consents)
    for r in consents.head(limit).itertuples():
        items.append({"ts": _v(r.ts), "kind": "consent", "what": label(
            "customer.timeline.consent_given" if r.granted else "customer.timeline.consent_withdrawn",
            lang, purpose=value_label("purpose", str(r.purpose), lang),
            channel=channel_name(r.channel, lang)),
            "channel": r.channel})

    total += n_tasks
    for task in tasks:
        items.append({"ts": task["created"], "kind": "action", "what": label(
            "customer.timeline.task", lang, title=task["title"], rule=task["rule"],
            status=value_label("task_status", str(task["status"]), lang)), "channel": None})
    action = view.get("action")
    if action:
        total += 1
        items.append({"ts": view["as_of"], "kind": "action", "what": label(
            "customer.timeline.next_action", lang, action=action["label"]),
            "text": action.get("reason"), "channel": action.get("channel")})

    items.sort(key=lambda i: i["ts"] or datetime.min, reverse=True)
    shown = items[:limit]
    return {"items": shown, "total": total, "more": max(total - len(shown), 0)}
