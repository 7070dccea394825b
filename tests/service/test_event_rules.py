"""`on: event` rules through the running app: a tracked event of a Core customer at risk fires
the rule's alert and task once (a retried message does not fire again), events of others do
not, and collection answers before any rule work is done."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from fastapi.testclient import TestClient

from upmarket.opstore import store as ops
from upmarket.opstore.schema import alerts, tasks
from upmarket.service.app import create_app

def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


RULES = """
rules:
  - name: at_risk_cancelling
    on: event
    when:
      customer:
        - tier in [diamond, core]
        - churn_risk > 0.3
        - event.event == cancel_started
    actions:
      - task: {title: "Save {customer_id}"}
    cooldown: 1d
"""


def test_an_event_rule_fires_from_collection(world, tmp_path, monkeypatch):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    monkeypatch.delenv("UPMARKET_RULES", raising=False)
    store_url = f"sqlite:///{tmp_path}/ops.sqlite"
    setup = ops.open_store(store_url)
    from upmarket.warehouse import connect

    wh = connect(world.warehouse, create=False)
    ops.publish_run_profiles(wh, url=store_url)  # event rules read customer state from here
    wh.close()
    _, key = ops.create_key(setup, "tracker", ["collect"])
    res = world.results
    expected = sorted(res.loc[res["tier"].isin(["diamond", "core"]) & (res["churn_risk"] > 0.3),
                          "customer_id"])
    assert expected and len(expected) < len(res)
    app = create_app(store_url, world.warehouse, rules=rules)
    with TestClient(app) as client:
        for cid in res["customer_id"]:
            for attempt in range(2):  # every message sent twice: a client's retry
                r = client.post("/v1/track", headers=bearer(key), json={
                    "userId": cid, "event": "cancel_started", "messageId": f"m-{cid}"})
                assert r.status_code == 200
        client.post("/v1/track", headers=bearer(key), json={
            "userId": expected[0], "event": "page_view", "messageId": "other"})
        app.state.rule_worker.join()  # the worker evaluates after collection answered
    with setup.engine.connect() as c:
        fired = pd.read_sql(sa.select(alerts.c.rule, alerts.c.customer_id, alerts.c.source), c)
        made = pd.read_sql(sa.select(tasks.c.customer_id, tasks.c.tier, tasks.c.due,
                                     tasks.c.created), c)
    assert sorted(fired["customer_id"]) == expected
    assert set(fired["source"]) == {"event"} and set(fired["rule"]) == {"at_risk_cancelling"}
    assert sorted(made["customer_id"]) == expected
    # due within the tier's response time: Diamond 1 h, Core 4 h
    hours = (made["due"] - made["created"]).dt.total_seconds() / 3600
    assert dict(zip(made["tier"], hours)) == {"diamond": 1.0, "core": 4.0}
    setup.close()
