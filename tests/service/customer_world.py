"""A small world for the customer-360 tests, written through the real publishing path (`Run`)
and the real operational store: 30 scored customers, one of them (C001) with a full history —
orders (one cancelled), more events than a timeline shows, a ticket, feedback, a consent given
and withdrawn, recommendations, a next best action and tasks — and data values made to look
like markup, so that pages can be checked for escaping."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from upmarket.activation import privacy
from upmarket.opstore import store as ops
from upmarket.opstore.schema import tasks
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run

AS_OF = datetime(2026, 6, 1)
N = 30
TIERS = ["diamond", "core", "potential", "basic"]
#: Values a browser would run if a page did not escape them.
XSS_NAME = '<script>document.title="owned"</script>Li Lei'
XSS_PRODUCT = '<img src=x onerror="document.title=\'owned\'">Premium Kettle'
XSS_FEEDBACK = '<b onmouseover="alert(1)">great</b> service'
EMAIL = "li.lei@example.com"
PHONE = "+86 138 0000 1234"
EVENTS = 70
#: value model parameters as a run records them (BG/NBD and Gamma-Gamma)
VALUE_MODEL = {"transactions": "bgnbd", "spend": "gamma_gamma", "p_alive": "published",
               "params": {"transactions": {"r": 0.8, "alpha": 4.0, "a": 0.6, "b": 3.0},
                          "spend": {"p": 2.0, "q": 3.0, "v": 300.0}}}


@dataclass
class CustomerWorld:
    warehouse: str
    store_url: str
    folder: object


def results() -> pd.DataFrame:
    ids = [f"C{i:03d}" for i in range(1, N + 1)]
    return pd.DataFrame({
        "customer_id": ids, "tier": [TIERS[i % 4] for i in range(N)],
        "orders": [3 + i % 4 for i in range(N)], "net_revenue": [900.0 + 50 * i for i in range(N)],
        "frequency": [2.0 + i % 4 for i in range(N)], "recency": [20.0] * N, "T": [30.0] * N,
        "monetary": [250.0] * N, "r_score": [5] * N, "f_score": [4] * N, "m_score": [3] * N,
        "rfm_cell": ["543"] * N, "recency_days": [12.0] * N,
        "rfm_segment": ["champions", "at_risk", "loyal"] * 10,
        "lifecycle_stage": ["loyalty"] * N, "cluster": ["premium_lovers"] * N,
        "clv": [2000.0 - 40 * i for i in range(N)], "p_alive": [0.9 - i / 100 for i in range(N)],
        "expected_purchases_12m": [4.0] * N, "expected_order_value": [260.0] * N,
        "trailing_revenue_12m": [1200.0 + i for i in range(N)],
        "current_value": [400.0] * N, "tier_value": [900.0] * N,
        "distance_to_next_tier": [150.0] * N, "tier_change": ["same"] * N,
        "churn_risk": [0.7 - i / 50 for i in range(N)],
        "churn_band": ["high"] * N, "churn_signals": ["fewer orders than usual"] * N,
        "churn_signals_zh": ["订单少于往常"] * N,
        "premium_propensity": [0.42] * N, "current_tier": ["mid"] * N,
        "peer_upgrade_rate": [0.14] * N, "next_best_action": ["upsell"] * N,
        "action_reason": ["likely to move up"] * N,
    })


def actions(res: pd.DataFrame) -> pd.DataFrame:
    n = len(res)
    return pd.DataFrame({
        "customer_id": res["customer_id"], "tier": res["tier"], "action": ["upsell"] * n,
        "offer_type": ["coupon"] * n, "offer_value": [5.0] * n, "sku": ["P1"] * n,
        "product_name": [XSS_PRODUCT] * n, "probability": [0.3] * n,
        "conversion_margin": [40.0] * n, "offer_cost": [5.0] * n, "contact_cost": [0.5] * n,
        "expected_value": [6.5] * n, "route": ["account_manager"] * n, "channel": ["sms"] * n,
        "send_hour": [10] * n, "due_hours": [4.0] * n,
        "reason_en": ["bought mid-range kettles; 14% of similar customers moved up"] * n,
        "reason_zh": ["购买过中端水壶；14%的相似客户升级到了高端款"] * n,
    })


def build(folder) -> CustomerWorld:
    url = f"duckdb://{folder}/w.duckdb"
    store_url = f"sqlite:///{folder}/ops.sqlite"
    wh = connect(url)
    res = results()
    wh.insert("customers", pd.DataFrame({
        "customer_id": res["customer_id"], "country": "CN", "city_tier": "1",
        "acquisition_channel": "search", "created_at": AS_OF - timedelta(days=400),
        "name": [XSS_NAME] + [f"Customer {i}" for i in range(2, N + 1)],
        "email": [EMAIL] + [f"c{i}@example.com" for i in range(2, N + 1)],
        "phone": [PHONE] + [f"+86 139 0000 {i:04d}" for i in range(2, N + 1)]}))
    wh.insert("products", pd.DataFrame({"sku": ["P1", "P2"], "name": [XSS_PRODUCT, "Basic Mug"],
                                        "category": ["kitchen", "kitchen"],
                                        "price": [300.0, 20.0], "price_tier": ["premium", "basic"]}))
    day = timedelta(days=1)
    wh.insert("orders", pd.DataFrame({
        "order_id": ["O1", "O2", "O3", "O3C", "O9"], "line_no": [0, 0, 0, 0, 0],
        "customer_id": ["C001", "C001", "C001", "C001", "C002"],
        "ts": [AS_OF - 90 * day, AS_OF - 40 * day, AS_OF - 10 * day, AS_OF - 9 * day,
               AS_OF - 5 * day],
        "sku": ["P2", "P2", "P1", "P1", "P2"], "quantity": [1.0, 2.0, 1.0, -1.0, 1.0],
        "unit_price": [20.0, 20.0, 300.0, 300.0, 20.0],
        "amount": [20.0, 40.0, 300.0, -300.0, 20.0],
        "status": ["paid", "paid", "paid", "cancelled", "paid"], "channel": "web"}))
    wh.insert("events", pd.DataFrame({
        "message_id": [f"m{i}" for i in range(EVENTS)], "type": "track",
        "event": ["page_view"] * (EVENTS - 1) + ["<i>clicked</i>"], "customer_id": "C001",
        "ts": [AS_OF - timedelta(days=40, hours=3 * i) for i in range(EVENTS)]}))
    wh.insert("service_tickets", pd.DataFrame({
        "ticket_id": ["T1"], "customer_id": ["C001"], "opened": [AS_OF - 20 * day],
        "resolved": [AS_OF - 19 * day], "kind": ["complaint"], "satisfaction": [4.0],
        "text": [f"please call me on {PHONE}"]}))
    wh.insert("feedback", pd.DataFrame({
        "id": ["F1"], "customer_id": ["C001"], "ts": [AS_OF - 15 * day], "nps_score": [9],
        "text": [XSS_FEEDBACK]}))
    wh.insert("consents", pd.DataFrame({
        "customer_id": ["C001", "C001", "C001", "C002"], "purpose": "marketing",
        "channel": ["email", "email", "sms", "email"], "granted": [True, False, True, True],
        "ts": [AS_OF - 300 * day, AS_OF - 30 * day, AS_OF - 300 * day, AS_OF - 100 * day],
        "source": "test"}))
    run = Run(wh, AS_OF)
    run.write("results", res)
    run.write("actions", actions(res))
    run.write("recommendations", pd.DataFrame({
        "customer_id": ["C001", "C001"], "sku": ["P1", "P2"], "score": [0.9, 0.4],
        "rank": [1, 2], "source": "item", "kind": ["upsell", "repeat"],
        "category": "kitchen", "price_tier": ["premium", "basic"]}))
    run.publish({"value_model": VALUE_MODEL, "kpis": {"repeat_rate": 0.3}})
    store = ops.open_store(store_url)
    privacy.pseudonym_key(wh, store_url=store_url)  # made once, as the first export would
    wh.close()
    now = ops.now_utc()
    with store.engine.begin() as conn:
        conn.execute(tasks.insert(), [
            {"alert_id": 1, "rule": "premium_churn_risk", "kind": "task", "automated": False,
             "customer_id": "C001", "tier": "diamond", "assignee": "wang.fang",
             "title": "Call about the <kettle>", "created": now - timedelta(hours=2),
             "due": now + timedelta(hours=2), "status": "open", "detail": "{}"},
            {"alert_id": 2, "rule": "premium_win_back", "kind": "task", "automated": False,
             "customer_id": "C001", "tier": "diamond", "assignee": None,
             "title": "Win-back offer sent", "created": now - timedelta(days=3),
             "due": now - timedelta(days=2), "completed": now - timedelta(days=2, hours=5),
             "status": "done", "detail": "{}"},
            {"alert_id": 3, "rule": "premium_churn_risk", "kind": "task", "automated": False,
             "customer_id": "C002", "tier": "core", "assignee": None, "title": "Someone else",
             "created": now, "due": now + timedelta(hours=4), "status": "open", "detail": "{}"},
        ])
    store.close()
    return CustomerWorld(url, store_url, folder)
