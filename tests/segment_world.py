"""A small world for the saved-segment tests: customers with some attributes missing, one
published run and marketing consents (granted, withdrawn later, none at all), plus an
independent SQL reader of the DuckDB file. A module of its own, not `conftest`, as
`shared_data.py` explains."""

from __future__ import annotations

import gc
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from upmarket.activation import privacy
from upmarket.warehouse import connect
from upmarket.warehouse.runs import Run

AS_OF = datetime(2026, 1, 1)
N = 150


def make_world(d) -> str:
    """The world's warehouse in folder `d`; returns its URL."""
    url = f"duckdb://{d}/w.duckdb"
    rng = np.random.default_rng(7)
    ids = [f"C{i:04d}" for i in range(N)]
    city = rng.choice(["1", "2", "3", "4"], N).astype(object)
    city[::11] = None
    gender = rng.choice(["F", "M"], N).astype(object)
    gender[::13] = None
    birth = rng.integers(1950, 2006, N).astype(float)
    birth[::9] = np.nan
    customers = pd.DataFrame({
        "customer_id": ids, "country": "CN", "city_tier": city, "gender": gender,
        "birth_year": pd.array(birth, dtype="Int64"),
        "income_band": rng.choice(["<5k", "5k-10k", "10k-20k", "50k+"], N),
        "acquisition_channel": rng.choice(["search", "wechat", "douyin"], N),
        "name": [f"Person {i}" for i in range(N)]})
    results = pd.DataFrame({
        "customer_id": ids,
        "tier": rng.choice(["diamond", "core", "potential", "basic"], N, p=[.1, .2, .3, .4]),
        "rfm_segment": rng.choice(["champions", "loyal", "at_risk", "lost"], N),
        "lifecycle_stage": rng.choice(["loyalty", "retention", "lapsed"], N),
        "cluster": rng.choice(["explorers", "deal_seekers"], N),
        "churn_band": rng.choice(["low", "medium", "high", "critical"], N),
        "churn_risk": rng.uniform(0, 1, N), "clv": rng.gamma(2, 400, N),
        "premium_propensity": rng.uniform(0, .5, N), "p_alive": rng.uniform(0, 1, N),
        "net_revenue": rng.gamma(2, 300, N), "orders": rng.integers(1, 20, N),
        "recency_days": rng.integers(0, 400, N).astype(float), "churn_signals": "",
        "last_purchase": AS_OF - pd.to_timedelta(rng.integers(1, 400, N), "D"),
        "response_hours": 24.0, "distance_to_next_tier": rng.uniform(0, 500, N)})
    wh = connect(url)
    wh.insert("customers", customers)
    run = Run(wh, AS_OF)
    run.write("results", results)
    run.publish({})
    old, new = AS_OF - timedelta(days=60), AS_OF - timedelta(days=5)
    rows = [(c, "email", True, old) for c in ids[::2]] + [(c, "sms", True, old) for c in ids[::3]]
    rows += [(c, "email", False, new) for c in ids[::10]]  # withdrawn since
    wh.insert("consents", pd.DataFrame(rows, columns=["customer_id", "channel", "granted", "ts"])
              .assign(purpose="marketing", source="test"))
    privacy.pseudonym_key(wh)
    wh.close()
    return url


def sql(url: str, query: str) -> pd.DataFrame:
    """An independent answer: plain SQL on the DuckDB file (read-only), no upmarket code."""
    path = url.removeprefix("duckdb://")
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(query).df()
    finally:
        con.close()




def sql(url: str, query: str) -> pd.DataFrame:
    """An independent answer: plain SQL on the DuckDB file, no upmarket code. Read-only, unless
    a command run in this process still holds the file read-write (DuckDB refuses a second
    configuration of one file in a process): then through that same configuration."""
    path = url.removeprefix("duckdb://")
    gc.collect()  # connections of finished commands close when collected
    try:
        con = duckdb.connect(path, read_only=True)
    except duckdb.ConnectionException:
        con = duckdb.connect(path)
    try:
        return con.execute(query).df()
    finally:
        con.close()
