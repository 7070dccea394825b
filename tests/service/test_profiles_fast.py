"""Profiles served from the operational store's snapshot: written at publish, read by primary
key, replaced whole by the next publish, zh/en reason, and the warehouse path when the store has
no snapshot yet. The expected values come from the module's warehouse (conftest `world`), not
from the code under test."""

from __future__ import annotations

from datetime import datetime, timedelta
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.opstore import store as ops
from upmarket.opstore.schema import profiles as profiles_table
from upmarket.service.app import create_app
from upmarket.warehouse import connect


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def fast(world, tmp_path):
    """A fresh store holding the snapshot of the world's current run, and a client over it."""
    url = f"sqlite:///{tmp_path}/ops.sqlite"
    wh = connect(world.warehouse)
    try:
        n = ops.publish_run_profiles(wh, url=url)
    finally:
        wh.close()
    app = create_app(url, world.warehouse, rate=1000, burst=1000)
    store = app.state.store
    _, key = ops.create_key(store, "reader", ["read"])
    with TestClient(app) as client:
        yield client, store, key, n


def _rows(store) -> pd.DataFrame:
    """The documents of the snapshot served (the previous run's are kept beside it)."""
    with store.engine.connect() as c:
        return pd.read_sql(sa.select(profiles_table).where(
            profiles_table.c.run_id == ops.profiles_run(store)), c)


def test_snapshot_holds_every_customer_of_the_run(fast, world):
    _, store, _, n = fast
    rows = _rows(store)
    assert n == len(rows) == len(world.results)
    assert set(rows["customer_id"]) == set(world.results["customer_id"])
    assert rows["run_id"].nunique() == 1
    docs = {r.customer_id: json.loads(r.doc) for r in rows.itertuples()}
    for r in world.results.itertuples():
        d = docs[r.customer_id]
        assert (d["tier"], d["rfm_segment"], d["churn_band"]) == (r.tier, r.rfm_segment,
                                                                  r.churn_band)
        assert d["clv"] == pytest.approx(r.clv) and d["churn_risk"] == pytest.approx(r.churn_risk)
        # consents in force, derived independently in conftest
        granted = {c["channel"] for c in d["consents"] if c["granted"]}
        assert (r.customer_id in world.consenting) == bool(granted)


def test_read_by_key_in_both_languages_without_the_warehouse(fast, world, monkeypatch):
    client, store, key, _ = fast
    from upmarket.service import profiles

    def no_warehouse(*_a, **_k):
        raise AssertionError("the fast path must not read the profile from the warehouse")

    monkeypatch.setattr(profiles, "profile", no_warehouse)
    en = client.get("/v1/customers/C004", headers=bearer(key))
    zh = client.get("/v1/customers/C004", headers={**bearer(key), "Accept-Language": "zh-CN"})
    assert en.status_code == zh.status_code == 200, en.text
    a, b = en.json(), zh.json()
    row = world.results.set_index("customer_id").loc["C004"]
    assert a["tier"] == row["tier"] and a["clv"] == pytest.approx(row["clv"])
    assert a["next_best_action"]["reason"] == "likely to move up to Premium 4"
    assert b["next_best_action"]["reason"] == "可能升级到 Premium 4"
    assert "reason_en" not in a["next_best_action"] and "consents_at" not in a
    assert a["service_level"]["service"] != b["service_level"]["service"]
    assert a["consents"] == [{"channel": "email", "granted": True, "since": "2026-05-02T00:00:00"}]
    assert "X-Consents-As-Of" in en.headers and zh.headers["Content-Language"] == "zh-CN"
    # C004's ingested events came with the snapshot: the warehouse was not opened at all
    assert client.app.state.reads.opened == 0 and a["events_from"] == ["collected", "ingested"]
    assert client.get("/v1/customers/NOPE", headers=bearer(key)).status_code == 404
    reads = ops.read_audit(store)
    assert list(reads.loc[reads["action"] == "read_profile", "subject"]) == ["C004", "C004"]


def test_fast_and_warehouse_paths_agree(fast, world, tmp_path):
    client, _, key, _ = fast
    slow_app = create_app(f"sqlite:///{tmp_path}/empty.sqlite", world.warehouse)
    _, slow_key = ops.create_key(slow_app.state.store, "r", ["read"])
    with TestClient(slow_app) as slow:
        for cid in ("C000", "C001", "C013"):
            for lang in ("en", "zh"):
                h = {"Accept-Language": lang}
                a = client.get(f"/v1/customers/{cid}", headers={**bearer(key), **h})
                b = slow.get(f"/v1/customers/{cid}", headers={**bearer(slow_key), **h})
                assert a.status_code == b.status_code == 200
                assert a.json() == b.json()
                assert "X-Consents-As-Of" not in b.headers  # the slow path reads consents now


def test_next_publish_replaces_the_previous_rows(tmp_path):
    store = ops.open_store(f"sqlite:///{tmp_path}/o.sqlite")
    first = pd.DataFrame({"customer_id": ["A", "B", "C"],
                          "doc": [{"customer_id": c, "tier": "core"} for c in "ABC"]})
    second = pd.DataFrame({"customer_id": ["B", "D"],
                           "doc": [{"customer_id": c, "tier": "diamond"} for c in "BD"]})
    assert ops.publish_profiles(store, first, "r1") == 3
    assert ops.profiles_run(store) == "r1"
    assert ops.publish_profiles(store, second, "r2") == 2
    rows = _rows(store)
    assert sorted(rows["customer_id"]) == ["B", "D"] and set(rows["run_id"]) == {"r2"}
    assert ops.read_profile(store, "A") is None
    assert ops.read_profile(store, "B")["tier"] == "diamond"
    # a failed publish (duplicate ids) leaves the previous snapshot whole
    with pytest.raises(ops.StoreError, match="twice"):
        ops.publish_profiles(store, pd.concat([second, second]), "r3")
    with pytest.raises(ops.StoreError, match="lacks"):
        ops.publish_profiles(store, second[["customer_id"]], "r3")
    assert ops.profiles_run(store) == "r2" and len(_rows(store)) == 2
    store.close()


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=30))
def test_documents_round_trip_by_key(tmp_path_factory, docs):
    store = ops.open_store(f"sqlite:///{tmp_path_factory.mktemp('rt')}/o.sqlite")
    frame = pd.DataFrame({"customer_id": list(docs),
                          "doc": [{"customer_id": k, "note": v} for k, v in docs.items()]})
    assert ops.publish_profiles(store, frame, "r") == len(docs)
    for k, v in docs.items():
        assert ops.read_profile(store, k) == {"customer_id": k, "note": v}
    store.close()


def test_falls_back_to_the_warehouse_when_no_snapshot(service, world):
    client, store, keys = service  # conftest's store: no profiles published
    assert ops.profiles_run(store) is None
    r = client.get("/v1/customers/C002", headers=bearer(keys.read))
    assert r.status_code == 200 and r.json()["tier"] == world.results.set_index(
        "customer_id").loc["C002", "tier"]


def test_pipeline_hook_is_a_no_op_without_a_configured_store(world, monkeypatch, tmp_path):
    monkeypatch.delenv(ops.ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # no ./upmarket-ops.sqlite here
    wh = connect(world.warehouse)
    try:
        assert ops.publish_run_profiles(wh) is None
        assert not (tmp_path / "upmarket-ops.sqlite").exists()
        with pytest.raises(ops.StoreError, match="no published run"):
            ops.publish_run_profiles(wh, "nope", url=f"sqlite:///{tmp_path}/x.sqlite")
    finally:
        wh.close()


def test_consents_recorded_through_the_service_show_at_once(fast, world):
    client, store, key, _ = fast
    who = sorted(world.consenting - {"C001"})[0]  # granted email in the warehouse
    before = client.get(f"/v1/customers/{who}", headers=bearer(key)).json()["consents"]
    assert [(c["channel"], c["granted"]) for c in before] == [("email", True)]
    _, writer = ops.create_key(store, "web", ["collect"])
    r = client.post("/v1/consents", headers=bearer(writer), json=[
        {"customer_id": who, "purpose": "marketing", "channel": "email", "granted": False},
        {"customer_id": who, "purpose": "marketing", "channel": "sms", "granted": True},
        {"customer_id": who, "purpose": "research", "channel": "phone", "granted": True}])
    assert r.status_code == 200, r.text
    after = client.get(f"/v1/customers/{who}", headers=bearer(key))
    got = {c["channel"]: c["granted"] for c in after.json()["consents"]}
    assert got == {"email": False, "sms": True}  # marketing only, newest per channel
    assert "X-Consents-As-Of" in after.headers
    # a store row older than the warehouse's consent does not override it
    old = datetime.fromisoformat(before[0]["since"]) - timedelta(days=5)
    other = sorted(world.consenting - {"C001", who})[0]
    client.post("/v1/consents", headers=bearer(writer), json={
        "customer_id": other, "purpose": "marketing", "channel": "email", "granted": False,
        "ts": old.isoformat()})
    kept = client.get(f"/v1/customers/{other}", headers=bearer(key)).json()["consents"]
    assert [(c["channel"], c["granted"]) for c in kept] == [("email", True)]
