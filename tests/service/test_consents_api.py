"""`POST /v1/consents` and `GET /v1/consents/{id}` against the real app: a withdrawal counts the
moment it is answered (segment members and action exports drop the customer before any copy
to the warehouse), bodies are validated naming the field, batches are all or nothing, retries
are stored once, keys and scopes are enforced, and reads are audited."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from upmarket.activation.exports import export_actions
from upmarket.opstore import consents as oc
from upmarket.opstore import store as ops
from upmarket.warehouse import connect
from upmarket.warehouse.runs import output


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def consent(cid: str, granted: bool, channel: str = "email", **kw) -> dict:
    return {"customer_id": cid, "purpose": "marketing", "channel": channel, "granted": granted,
            **kw}


def members(client, key, name="rfm.champions", **params) -> list[str]:
    got, offset = [], 0
    while offset is not None:
        page = client.get(f"/v1/segments/{name}/members", params={"offset": offset, **params},
                          headers=bearer(key))
        assert page.status_code == 200, page.text
        got += page.json()["members"]
        offset = page.json()["next_offset"]
    return got


def warehouse_consents(world) -> int:
    wh = connect(world.warehouse, create=False)
    try:
        return wh.count("consents")
    finally:
        wh.close()


def test_a_withdrawal_leaves_segment_members_at_once(service, world):
    client, store, keys = service
    res = world.results
    champions = set(res.loc[res["rfm_segment"] == "champions", "customer_id"])
    expected = sorted(champions & world.consenting)
    assert members(client, keys.export) == expected and "C012" in expected
    held = warehouse_consents(world)

    r = client.post("/v1/consents", json=consent("C012", False), headers=bearer(keys.collect))
    assert r.status_code == 200 and r.json() == {"success": True, "received": 1, "stored": 1}
    assert members(client, keys.export) == sorted(set(expected) - {"C012"})
    # and a grant counts as soon: C009 (a champion) had no consent at all
    assert "C009" in champions and "C009" not in world.consenting
    client.post("/v1/consents", json=[consent("C009", True)], headers=bearer(keys.collect))
    assert members(client, keys.export) == sorted(set(expected) - {"C012"} | {"C009"})
    assert members(client, keys.export, channel="sms") == []
    assert warehouse_consents(world) == held  # nothing was copied: the store alone did it


def test_a_withdrawal_leaves_action_exports_at_once(service, world, tmp_path, monkeypatch):
    client, store, keys = service
    monkeypatch.setenv("UPMARKET_DATABASE", store.url)  # the store the CLI and exports use
    r = client.post("/v1/consents", json=[consent("C002", False), consent("C004", False)],
                    headers=bearer(keys.collect))
    assert r.json()["stored"] == 2
    wh = connect(world.warehouse, create=False)
    try:
        actions = output(wh, "actions").to_pandas()
        rep = export_actions(wh, actions, tmp_path / "a.csv", fmt="csv", run_id="r",
                             with_pii=True)
    finally:
        wh.close()
    got = set(pd.read_csv(tmp_path / "a.csv", dtype=str)["customer_id"])
    # everyone consenting on the action's channel (email), less the two who just withdrew
    email = world.consenting - {"C001"}
    assert got == email - {"C002", "C004"} and rep.rows == len(got)
    assert rep.dropped_no_consent == len(actions) - len(got)


def test_bodies_are_validated_naming_the_field_and_batches_are_all_or_nothing(service):
    client, store, keys = service
    h = bearer(keys.collect)
    cases = [
        (consent("C1", True, channel="e mail"), ["consent.channel"]),
        ({"customer_id": "C1", "purpose": "marketing", "channel": "email"}, ["consent.granted"]),
        (consent("C1", True, surprise=1), ["consent.surprise"]),
        ([consent("C1", True), consent("C2", "maybe")], ["consents.1.granted"]),
        ([], ["consents"]),
        (consent("C1", True, ts="2999-01-01T00:00:00Z"), ["consent.ts"]),
        ([consent("C1", True), consent("C1", False, ts=datetime(2099, 1, 1).isoformat())],
         ["consents.1.ts"]),
    ]
    for body, fields in cases:
        r = client.post("/v1/consents", json=body, headers=h)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["fields"] == fields, r.json()
        assert fields[0] in r.json()["error"]
    assert oc.history(store).empty  # not one of them stored anything
    at = datetime(2026, 5, 1, 12)
    r = client.post("/v1/consents", json=consent("C1", True, ts=at.isoformat()), headers=h)
    assert r.json()["stored"] == 1
    r = client.post("/v1/consents", json=consent("C1", True, ts=at.isoformat()), headers=h)
    assert r.status_code == 200 and r.json()["stored"] == 0  # a retry
    r = client.post("/v1/consents", json=consent("C1", False, ts=at.isoformat()), headers=h)
    assert r.status_code == 400 and r.json()["fields"] == ["consent.granted"]
    assert len(oc.history(store)) == 1


def test_routes_refuse_missing_and_wrong_scope_keys(service):
    client, store, keys = service
    body = consent("C5", False)
    assert client.post("/v1/consents", json=body).status_code == 401
    assert client.post("/v1/consents", json=body,
                       headers=bearer("um_0000_nope")).status_code == 401
    assert client.get("/v1/consents/C5").status_code == 401
    assert client.post("/v1/consents", json=body, headers=bearer(keys.read)).status_code == 403
    assert client.post("/v1/consents", json=body, headers=bearer(keys.export)).status_code == 403
    assert client.get("/v1/consents/C5", headers=bearer(keys.collect)).status_code == 403
    assert oc.history(store).empty and ops.read_audit(store).empty
    assert client.post("/v1/consents", json=body, headers=bearer(keys.admin)).status_code == 200
    assert client.get("/v1/consents/C5", headers=bearer(keys.export)).status_code == 200


def test_read_merges_warehouse_and_store_and_is_audited(service, world):
    client, store, keys = service
    r = client.post("/v1/consents", json=consent("C000", True, channel="sms"),
                    headers=bearer(keys.collect))
    assert r.status_code == 200
    got = client.get("/v1/consents/C000", headers=bearer(keys.read))
    assert got.status_code == 200
    body = got.json()
    assert set(body["sources"]) == {"opstore", "warehouse"}
    # the world: C000 granted email 30 days before the run and withdrew it the day before
    assert [(h["channel"], h["granted"], h["pending"]) for h in body["history"]] == [
        ("email", True, False), ("email", False, False), ("sms", True, True)]
    assert {(c["channel"], c["granted"]) for c in body["in_force"]} == {
        ("email", False), ("sms", True)}
    log = ops.read_audit(store)
    assert list(log["action"]) == ["read_consents"] and list(log["subject"]) == ["C000"]
    assert log["actor"].iloc[0] == f"key:{keys.ids['read']}:read-key"
    nobody = client.get("/v1/consents/C999", headers=bearer(keys.read)).json()
    assert nobody["history"] == [] and nobody["in_force"] == []
