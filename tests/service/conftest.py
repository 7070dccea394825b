"""A small warehouse with a published run (written through the real `Run` publishing path), an
operational store, and keys of each scope, for the service tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from upmarket.activation import privacy
from upmarket.opstore import store as ops
from upmarket.service.app import create_app
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run

AS_OF = datetime(2026, 6, 1)
N = 24
SEGMENTS = ["champions", "loyal", "at_risk"]
TIERS = ["diamond", "core", "potential", "basic"]


def results_frame() -> pd.DataFrame:
    ids = [f"C{i:03d}" for i in range(N)]
    return pd.DataFrame({
        "customer_id": ids,
        "tier": [TIERS[i % 4] for i in range(N)],
        "rfm_segment": [SEGMENTS[i % 3] for i in range(N)],
        "rfm_cell": [f"{5 - i % 5}{4 - i % 4}{3}" for i in range(N)],
        "lifecycle_stage": ["active"] * N,
        "clv": [100.0 + 10 * i for i in range(N)],
        "p_alive": [0.5 + i / 100 for i in range(N)],
        "churn_risk": [0.5 - i / 100 for i in range(N)],
        "churn_band": ["medium"] * N,
    })


def actions_frame(results: pd.DataFrame) -> pd.DataFrame:
    n = len(results)
    return pd.DataFrame({
        "customer_id": results["customer_id"], "tier": results["tier"],
        "action": ["upsell"] * n, "offer_type": ["coupon"] * n, "offer_value": [5.0] * n,
        "sku": [f"S{i}" for i in range(n)], "product_name": [f"Premium {i}" for i in range(n)],
        "probability": [0.1] * n, "conversion_margin": [10.0] * n, "offer_cost": [1.0] * n,
        "contact_cost": [0.1] * n, "expected_value": [0.9] * n, "route": ["campaign"] * n,
        "channel": ["email"] * n, "send_hour": [9] * n, "due_hours": [48.0] * n,
        "reason_en": [f"likely to move up to Premium {i}" for i in range(n)],
        "reason_zh": [f"可能升级到 Premium {i}" for i in range(n)],
    })


@dataclass
class World:
    warehouse: str
    store_url: str
    results: pd.DataFrame
    consenting: set[str]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    d = tmp_path_factory.mktemp("service")
    url = f"duckdb://{d}/w.duckdb"
    wh = connect(url)
    res = results_frame()
    run = Run(wh, AS_OF)
    run.write("results", res)
    run.write("actions", actions_frame(res))
    run.publish({"kpis": {"repeat_rate": 0.25, "yearly_retention": 0.6}})
    # consent: even customers granted email; C000 and C006 withdrew later; C001 granted sms
    old, new = AS_OF - timedelta(days=30), AS_OF - timedelta(days=1)
    rows = [(c, "email", True, old) for c in res["customer_id"][::2]]
    rows += [("C000", "email", False, new), ("C006", "email", False, new),
             ("C001", "sms", True, old), ("C003", "email", False, old)]
    wh.insert("consents", pd.DataFrame(rows, columns=["customer_id", "channel", "granted", "ts"])
              .assign(purpose="marketing", source="test"))
    privacy.pseudonym_key(wh)  # made once, as the first export would
    wh.close()
    consenting = {c for c in res["customer_id"][::2]} - {"C000", "C006"} | {"C001"}
    return World(url, f"sqlite:///{d}/ops.sqlite", res, consenting)


@dataclass
class Keys:
    collect: str
    read: str
    export: str
    admin: str
    ids: dict


@pytest.fixture
def service(world, tmp_path):
    """A client of a fresh app (own operational store) over the module's warehouse."""
    store_url = f"sqlite:///{tmp_path}/ops.sqlite"
    app = create_app(store_url, world.warehouse, max_body=64 * 1024, rate=1000, burst=1000)
    store = app.state.store
    made = {s: ops.create_key(store, f"{s}-key", [s]) for s in ("collect", "read", "export", "admin")}
    keys = Keys(**{s: k for s, (_, k) in made.items()}, ids={s: r.id for s, (r, _) in made.items()})
    with TestClient(app) as client:
        yield client, store, keys


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}
