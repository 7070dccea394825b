"""Membership where users work, on one small demo world run once (as of 10 December, so the
points of the year before last lapse within the month): `GET /v1/members/{id}` against the
run's tables in English and Chinese, keys and audit; `POST /v1/points/adjust` idempotent by
request id, audited, refused with the field named, and read by the next ledger; the rules'
tasks on upgrades and expiring points; the next best action's level nudge and the points
offer priced by the programme; the dashboard's membership page and the customer-360 section."""

from __future__ import annotations

import math
import re
from datetime import datetime
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from upmarket import pipeline
from upmarket.currency import money
from upmarket.membership.outputs import evaluate_programme
from upmarket.membership.programme import Programme
from upmarket.opstore import store as ops
from upmarket.opstore.points import adjustments
from upmarket.opstore.schema import tasks
from upmarket.service.app import create_app
from upmarket.strategy import nba
from upmarket.warehouse import connect
from upmarket.warehouse.runs import current_run, output

AS_OF = datetime(2025, 12, 10)
PROGRAMME = Programme()
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from upmarket.demo.load import load_world
    from upmarket.demo.world import WorldConfig

    d = tmp_path_factory.mktemp("memsurf")
    url, store_url = f"duckdb://{d}/w.duckdb", f"sqlite:///{d}/ops.sqlite"
    wh = connect(url)
    load_world(wh, WorldConfig(customers=150, seed=5))
    pipeline.run(wh, AS_OF, store_url=store_url)
    run = current_run(wh)
    found = {n: output(wh, n, run["run_id"]).to_pandas().drop(columns="run_id")
             for n in ("member_levels", "points_ledger", "results", "actions")}
    wh.close()
    app = create_app(store_url, url)
    store = app.state.store
    keys = {s: ops.create_key(store, f"{s}-key", [s])[1]
            for s in ("read", "admin", "collect", "export")}
    with TestClient(app) as client:
        yield SimpleNamespace(url=url, store_url=store_url, store=store, client=client,
                              keys=keys, run=run, **found)


def auth(world, scope: str, lang: str | None = None) -> dict:
    h = {"Authorization": f"Bearer {world.keys[scope]}"}
    if lang:
        h["Accept-Language"] = lang
    return h


def some_members(world) -> pd.DataFrame:
    """One member of every level the run holds."""
    m = world.member_levels.sort_values("customer_id")
    return m.drop_duplicates("level")


def test_member_answer_is_the_runs_level_distance_points_and_benefits(world):
    shown = some_members(world)
    assert len(shown) >= 3
    for lang, suffix in (("en", "en"), ("zh-CN,zh;q=0.9", "zh")):
        for r in shown.itertuples():
            got = world.client.get(f"/v1/members/{r.customer_id}",
                                   headers=auth(world, "read", lang))
            assert got.status_code == 200, got.text
            body = got.json()
            level = PROGRAMME.level(r.level)
            assert body["level"] == {"code": r.level,
                                     "name": level.name_zh if suffix == "zh" else level.name}
            assert body["distance"] == getattr(r, f"distance_{suffix}")
            assert body["spend_window"] == pytest.approx(r.spend_window)
            assert body["points"]["balance"] == r.points_balance
            assert body["points"]["expiring"] == r.points_expiring
            assert body["points"]["value"] == pytest.approx(r.points_balance * 0.01)
            assert [b["code"] for b in body["benefits"]] == list(level.benefits)
            if r.level == "black_gold":
                assert body["next_level"] is None
            else:
                nxt = PROGRAMME.levels[PROGRAMME.codes.index(r.level) + 1]
                assert body["next_level"]["code"] == nxt.code
                # the words say what the numbers say: the spend still needed, rounded up
                need = math.ceil(nxt.min_spend - r.spend_window - 1e-9)
                if need > 0:
                    assert money(need, "zh-CN" if suffix == "zh" else "en") in body["distance"]
                assert (nxt.name_zh if suffix == "zh" else nxt.name) in body["distance"]
    gold = world.client.get(f"/v1/members/{shown[shown.level == 'gold'].customer_id.iloc[0]}",
                            headers=auth(world, "read", "zh")).json()
    assert [b["name"] for b in gold["benefits"]] == ["会员价", "生日礼", "包邮", "优先客服"]


def test_member_route_keys_refusals_and_audit(world):
    cid = world.member_levels["customer_id"].iloc[0]
    assert world.client.get(f"/v1/members/{cid}").status_code == 401
    assert world.client.get(f"/v1/members/{cid}", headers=auth(world, "collect")).status_code \
        == 403
    missing = world.client.get("/v1/members/NOBODY-1", headers=auth(world, "read"))
    assert missing.status_code == 404 and "NOBODY-1" in missing.json()["error"]
    assert world.client.get(f"/v1/members/{cid}", headers=auth(world, "read")).status_code \
        == 200
    audit = ops.read_audit(world.store)
    assert ((audit["action"] == "read_member") & (audit["subject"] == cid)).any()


def test_adjustment_is_idempotent_audited_refused_by_field_and_read_by_the_next_ledger(world):
    m = world.member_levels.sort_values("customer_id")
    cid = m["customer_id"].iloc[3]
    before = int(m["points_balance"].iloc[3])
    post = lambda body, scope="admin": world.client.post(  # noqa: E731
        "/v1/points/adjust", json=body, headers=auth(world, scope))
    body = {"request_id": "goodwill-0001", "customer_id": cid, "points": 321,
            "reason": "late delivery", "ts": "2025-11-20T08:00:00Z"}
    first, again = post(body), post(body)
    assert first.status_code == again.status_code == 200, first.text
    assert first.json()["stored"] is True and again.json()["stored"] is False
    assert first.json()["balance"] == again.json()["balance"] == before + 321
    now = world.client.get(f"/v1/members/{cid}", headers=auth(world, "read")).json()["points"]
    assert (now["balance"], now["pending_adjustments"]) == (before + 321, 321)

    assert post({**body, "points": 999}).status_code == 422
    assert post({**body, "request_id": "r-2"}, scope="read").status_code == 403
    for bad, field in (({"points": 0}, "points"), ({"reason": ""}, "reason"),
                       ({"request_id": "has space"}, "request_id"),
                       ({"colour": "red"}, "colour"),
                       ({"points": -(before + 10_000)}, "points"),
                       ({"ts": "2999-01-01T00:00:00"}, "ts")):
        got = post({**body, "request_id": f"bad-{field}-{len(bad)}", **bad})
        assert got.status_code == 400, (bad, got.text)
        assert field in got.json()["fields"], got.json()
    audit = ops.read_audit(world.store)
    mine = audit[(audit["action"] == "adjust_points") & (audit["subject"] == cid)]
    assert len(mine) == 2  # the adjustment and its replay; refusals change nothing

    # the next run's ledger holds it once, dated when it took effect, and every member's
    # statement still reconciles
    held = adjustments(world.store)
    assert list(held["request_id"]) == ["goodwill-0001"]
    wh = connect(world.url, create=False)
    try:
        found = evaluate_programme(wh, AS_OF, PROGRAMME, adjustments=held)
    finally:
        wh.close()
    ledger = found.tables["points_ledger"]
    adj = ledger[ledger["kind"] == "adjust"]
    assert list(adj["customer_id"]) == [cid] and list(adj["points"]) == [321]
    assert adj["ts"].iloc[0] == pd.Timestamp("2025-11-20 08:00")
    bal = found.tables["points_balances"].set_index("customer_id")
    assert bal.at[cid, "closing"] == before + 321
    assert bal.at[cid, "adjusted"] == 321
    assert (bal["opening"] + bal["earned"] - bal["redeemed"] - bal["expired"] + bal["adjusted"]
            == bal["closing"]).all()
    assert (bal["closing"] == ledger.groupby("customer_id")["points"].sum()
            .reindex(bal.index, fill_value=0)).all()


def rule_tasks(world, rule: str) -> pd.DataFrame:
    with world.store.engine.connect() as conn:
        rows = conn.execute(sa.select(tasks.c.customer_id, tasks.c.title)
                            .where(tasks.c.rule == rule)).fetchall()
    return pd.DataFrame(rows, columns=["customer_id", "title"])


def held_out(world, rule: str) -> set[str]:
    wh = connect(world.url, create=False)
    try:
        a = wh.table("action_assignments").to_pandas()
    finally:
        wh.close()
    a = a[(a["action"] == f"rule:{rule}") & a["held_out"].astype(bool)]
    return set(a["customer_id"])


def test_rules_raise_tasks_on_upgrades_and_on_points_lapsing_within_30_days(world):
    res = world.results
    # consent as the run saw it, recomputed from the consents table: members without any
    # marketing consent in force are never contacted
    wh = connect(world.url, create=False)
    try:
        from upmarket.features.engagement import consents_in_force

        c = consents_in_force(wh.table("consents"), AS_OF).to_pandas()
    finally:
        wh.close()
    ok = set(c.loc[c["granted"].astype(bool), "customer_id"])
    assert (res["marketing_consent"].astype(bool) == res["customer_id"].isin(ok)).all()
    assert 0 < len(ok & set(res["customer_id"])) < len(res)
    # the points of 2024 lapse when 2025 ends, 22 days after the run
    lapsing = res[(res["points_expiring"] >= 100) & (res["points_expiring_days"] <= 30)
                  & res["marketing_consent"].astype(bool)]
    assert len(lapsing) >= 10
    assert np.allclose(lapsing["points_expiring_days"], 22.0)
    got = rule_tasks(world, "points_expiring_soon")
    assert set(got["customer_id"]) | held_out(world, "points_expiring_soon") \
        == set(lapsing["customer_id"])
    assert not set(got["customer_id"]) & held_out(world, "points_expiring_soon")
    one = got.iloc[0]
    pts = int(lapsing.set_index("customer_id").at[one["customer_id"], "points_expiring"])
    assert f"{pts:,} points lapse in 22 days" in one["title"]

    up = res[(res["member_level_change"] == "upgrade")
             & res["member_level"].isin(["gold", "black_gold"])
             & res["marketing_consent"].astype(bool)]
    got = rule_tasks(world, "member_upgraded_gold_plus")
    assert set(got["customer_id"]) | held_out(world, "member_upgraded_gold_plus") \
        == set(up["customer_id"])


def test_next_best_action_nudges_members_within_one_order_of_the_next_level(world):
    acts = world.actions.set_index("customer_id")
    res = world.results.set_index("customer_id")
    nudged = acts[acts["action"] == "level_nudge"].index
    assert len(nudged) >= 1
    r = res.loc[nudged]
    eov = r["expected_order_value"].fillna(r["monetary"])
    near_spend = r["spend_to_next_level"] <= eov
    near_orders = r["orders_to_next_level"] <= 1
    assert (np.where(r["next_level_rule"] == "all", near_spend & near_orders,
                     near_spend | near_orders)).all()
    for cid in nudged:
        assert res.at[cid, "level_distance_en"] in acts.at[cid, "reason_en"]
        assert res.at[cid, "level_distance_zh"] in acts.at[cid, "reason_zh"]


def test_points_offer_costs_the_programmes_redemption_value():
    customers = pd.DataFrame({
        "customer_id": ["new", "near", "far"], "tier": ["basic"] * 3, "orders": [1, 6, 6],
        "tenure_days": [10, 400, 400], "expected_order_value": [300.0] * 3,
        "margin_rate": [0.3] * 3, "clv": [100.0] * 3, "recency_days": [5.0] * 3,
        "next_member_level": [None, "silver", "silver"], "next_level_rule": [None, "any", "any"],
        "spend_to_next_level": [np.nan, 120.0, 1500.0],
        "orders_to_next_level": [np.nan, 3.0, 3.0],
        "level_distance_en": [None, "¥120 or 3 more orders to Silver", "x"],
        "level_distance_zh": [None, "再消费¥120或再下3单可升至银卡", "x"]})
    products = pd.DataFrame(columns=["sku", "name", "category", "price_tier", "price", "cost"])
    consents = pd.DataFrame({"customer_id": ["new", "near", "far"], "channel": ["app_push"] * 3,
                             "granted": [True] * 3})
    out = {}
    for value in (None, 0.01):
        s = nba.NbaSettings(point_value=value)
        out[value] = nba.next_best_actions(customers, products=products, consents=consents,
                                           settings=s).set_index("customer_id")
    assert out[None].at["new", "action"] == out[0.01].at["new", "action"] == "onboarding"
    # 60 % of 500 bonus points used, at ¥0.01 a point; without a programme 60 % of 5 % of ¥300
    assert out[0.01].at["new", "offer_cost"] == pytest.approx(0.6 * 500 * 0.01)
    assert out[0.01].at["new", "offer_value"] == 500
    assert out[None].at["new", "offer_cost"] == pytest.approx(0.6 * 0.05 * 300)
    assert out[0.01].at["near", "action"] == "level_nudge"
    assert "¥120 or 3 more orders to Silver" in out[0.01].at["near", "reason_en"]
    assert out[0.01].at["far", "action"] != "level_nudge"


def login(client, key: str) -> None:
    form = client.get("/dashboard/login").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form).group(1)
    r = client.post("/dashboard/login", content=f"csrf_token={token}&key={key}", headers=FORM,
                    follow_redirects=False)
    assert r.status_code == 303


def test_membership_page_shows_levels_changes_and_points_lapsing_soon(world):
    m = world.member_levels
    client = world.client
    login(client, world.keys["read"])
    for lang, names in (("en", [lv.name for lv in PROGRAMME.levels]),
                        ("zh", [lv.name_zh for lv in PROGRAMME.levels])):
        page = client.get(f"/dashboard/members?lang={lang}")
        assert page.status_code == 200
        html = page.text
        for name, n in zip(names, [int((m["level"] == c).sum()) for c in PROGRAMME.codes]):
            assert re.search(rf"<td>{re.escape(name)}</td><td class=\"n\">{n:,}</td>", html), name
        ups, downs = int((m["change"] == "upgrade").sum()), int((m["change"] == "downgrade").sum())
        up_word, down_word = ("upgrade", "downgrade") if lang == "en" else ("升级", "降级")
        assert f"{up_word} {ups} · {down_word} {downs}" in html
    soon = m[(m["points_expiring"] > 0)
             & (pd.to_datetime(m["expiring_at"]) <= pd.Timestamp(AS_OF) + pd.Timedelta(days=30))]
    assert f"{int(soon['points_expiring'].sum()):,} points of {len(soon):,} members" in \
        client.get("/dashboard/members?lang=en").text
    # a read key sees pseudonyms, never the ids
    assert "p_" in html and not any(f">{c}<" in html for c in m["customer_id"])
    audit = ops.read_audit(world.store)
    assert (audit["action"] == "read_members").sum() >= 3


def test_customer_360_has_the_membership_section(world):
    from upmarket.service.customer_view import customer_view

    m = world.member_levels.sort_values("customer_id")
    row = m[m["level"] == "gold"].iloc[0]
    cid = row["customer_id"]
    r = world.client.post("/v1/points/adjust", headers=auth(world, "admin"), json={
        "request_id": "c360-1", "customer_id": cid, "points": -5, "reason": "correction"})
    assert r.status_code == 200, r.text
    wh = connect(world.url, create=False)
    try:
        v = customer_view(wh, world.store, cid, lang="zh-CN", pii=False, at=ops.now_utc())
    finally:
        wh.close()
    s = v["membership"]
    assert (s["status"], s["level_label"]) == ("member", "金卡")
    assert s["balance"] == row["points_balance"] - 5 and s["pending"] == -5
    assert s["distance"] == row["distance_zh"]
    mine = world.points_ledger[world.points_ledger["customer_id"] == cid]
    assert s["ledger_total"] == len(mine) and len(s["ledger"]) == min(len(mine), 10)
    assert [e["ts"] for e in s["ledger"]] == sorted((e["ts"] for e in s["ledger"]), reverse=True)
    # the same section in `upmarket customers show`, in Chinese
    from upmarket.cli import app

    shown = CliRunner().invoke(app, ["customers", "show", cid, "-w", world.url, "--database",
                                     world.store_url, "--lang", "zh"], env={"COLUMNS": "100"})
    assert shown.exit_code == 0, shown.output
    assert "会员: 金卡" in shown.output and row["distance_zh"] in shown.output
