"""Customer-360: the view (`service.customer_view`), the search (`service.customer_search`),
their pages and `upmarket customers show`, on one small world shared by the module."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.service import customer_world as cw
from upmarket.activation import privacy
from upmarket.cli import app as cli
from upmarket.models.btyd import BetaGeo
from upmarket.models.clv_interval import clv_interval, purchase_draws
from upmarket.opstore import store as ops
from upmarket.service import profiles
from upmarket.service.app import create_app
from upmarket.service.customer_search import search
from upmarket.service.customer_view import customer_view


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return cw.build(tmp_path_factory.mktemp("c360"))


@pytest.fixture(scope="module")
def view_of(world):
    store = ops.open_store(world.store_url)

    def view(cid="C001", *, pii=True, lang="en", rows=10):
        with profiles.reading(world.warehouse) as wh:
            return customer_view(wh, store, cid, lang=lang, pii=pii, at=ops.now_utc(),
                                 timeline_rows=rows)

    yield view
    store.close()


def pseudonym(world, cid: str) -> str:
    import pandas as pd

    key = privacy.pseudonym_key(store_url=world.store_url, create=False)
    return str(privacy.pseudonymise(pd.Series([cid]), key).iloc[0])


def test_every_section_of_one_customer(view_of):
    v = view_of()
    assert v["identity"] == {"name": cw.XSS_NAME, "email": cw.EMAIL, "phone": cw.PHONE}
    assert v["tier"]["tier"] == "diamond" and v["tier"]["response_hours"] == 1
    assert v["tier"]["service"] and v["tier"]["resource"]
    value = v["value"]
    assert value["clv"] == 2000.0 and value["trailing_revenue_12m"] == 1200.0
    assert 0 <= value["clv_low"] < value["clv"] < value["clv_high"]
    assert v["rfm"]["segment"] == "champions" and v["rfm"]["rfm_cell"] == "543"
    assert v["lifecycle"]["stage"] == "loyalty" and v["churn"]["signals"] == "fewer orders than usual"
    assert v["propensity"]["premium"] == 0.42
    assert [r["product_name"] for r in v["recommendations"]] == [cw.XSS_PRODUCT, "Basic Mug"]
    assert v["action"]["label"] == "upsell to premium" and "14%" in v["action"]["reason"]
    # the latest row per channel is in force: e-mail withdrawn 30 days before, sms granted
    assert {(c["channel"], c["granted"]) for c in v["consents"]} == {("email", False),
                                                                       ("sms", True)}
    # C001's two tasks, not C002's
    assert [t["status"] for t in v["tasks"]["open"]] == ["open"]
    assert [t["status"] for t in v["tasks"]["past"]] == ["done"]
    assert v["tasks"]["total"] == 2


def test_the_timeline_is_bounded_and_counts_the_rest(view_of):
    line = view_of(rows=10)["timeline"]
    # 4 orders (one a cancellation), 70 events, a ticket, feedback, 3 consent rows, 2 tasks
    # and the run's action
    assert line["total"] == 4 + cw.EVENTS + 1 + 1 + 3 + 2 + 1
    assert len(line["items"]) == 10 and line["more"] == line["total"] - 10
    times = [i["ts"] for i in line["items"]]
    assert times == sorted(times, reverse=True)
    everything = view_of(rows=200)["timeline"]
    assert everything["more"] == 0 and len(everything["items"]) == everything["total"]
    kinds = {i["kind"] for i in everything["items"]}
    assert kinds == {"order", "event", "ticket", "feedback", "consent", "action"}
    assert sum(i["kind"] == "order" and "cancelled" in i["what"]
               for i in everything["items"]) == 1


def test_personal_data_only_for_keys_that_may_see_it(view_of):
    v = view_of(pii=False, rows=200)
    assert v["identity"] is None
    text = json.dumps(v, default=str)
    for secret in (cw.EMAIL, cw.PHONE, "Li Lei", "great</b>"):
        assert secret not in text
    # the ticket and feedback are still on the timeline, without their text
    assert {"ticket", "feedback"} <= {i["kind"] for i in v["timeline"]["items"]}


def test_labels_in_chinese(view_of):
    v = view_of(lang="zh-CN")
    assert v["tier"]["label"] == "钻石客户" and "升级" in v["action"]["reason"]
    assert v["churn"]["signals"] == "订单少于往常"


def test_clv_interval_follows_the_model_posterior():
    prm = cw.VALUE_MODEL["params"]["transactions"]
    horizon = 52.0
    model = BetaGeo()
    model.params_ = dict(prm)
    for x, tx, T in ((0, 0.0, 10.0), (3, 20.0, 30.0), (8, 15.0, 40.0)):
        p_alive = float(np.ravel(model.probability_alive(x, tx, T))[0])
        n = purchase_draws(np.random.default_rng(7), "bgnbd", prm, frequency=x, T=T,
                           p_alive=p_alive, horizon=horizon, draws=200_000)
        # the draws' mean is the model's own conditional expectation (FHL 2005 eq. 10)
        expected = float(np.ravel(model.conditional_expected_purchases(horizon, x, tx, T))[0])
        assert n.mean() == pytest.approx(expected, rel=0.03)
    kw = dict(frequency=3, T=30.0, monetary=250.0, p_alive=0.8, order_value=260.0,
              transactions="bgnbd", transaction_params=prm, spend="gamma_gamma",
              spend_params=cw.VALUE_MODEL["params"]["spend"])
    a, b = clv_interval("C1", 1000.0, **kw), clv_interval("C1", 1000.0, **kw)
    assert a == b and a.low < 1000.0 < a.high  # reproducible, around the published figure
    assert clv_interval("C1", 2000.0, **kw).high == pytest.approx(2 * a.high)
    none = clv_interval("C1", 1000.0, **{**kw, "transactions": "empirical"})
    assert none.low is None and none.missing == "no_posterior"


def test_search_by_id_for_everyone_contact_details_only_with_pii(world):
    with profiles.reading(world.warehouse) as wh:
        assert search(wh, "C001", pii=False).ids == ["C001"]
        assert search(wh, pseudonym(world, "C007"), pii=False,
                      store_url=world.store_url).ids == ["C007"]
        refused = search(wh, cw.EMAIL, pii=False)
        assert refused.refused and refused.ids == []
        assert search(wh, "li lei", pii=False).refused  # a name is contact data too
        unknown = search(wh, "C999", pii=False)
        assert unknown.ids == [] and not unknown.refused
        assert search(wh, cw.EMAIL.upper(), pii=True).ids == ["C001"]
        assert search(wh, "138 0000 1234", pii=True).ids == ["C001"]
        assert search(wh, "Customer 1", pii=True).ids[:2] == ["C010", "C011"]  # by CLV


@pytest.fixture
def client(world, tmp_path):
    app = create_app(world.store_url, world.warehouse)
    store = app.state.store
    keys = {s: ops.create_key(store, f"{s}-key", [s])[1] for s in ("read", "export")}
    with TestClient(app) as c:
        yield c, keys, store


def signed_in(c: TestClient, key: str) -> str:
    c.cookies.clear()
    form = c.get("/dashboard/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    r = c.post("/dashboard/login", data={"key": key, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303
    page = c.get("/dashboard")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def test_pages_escape_data_and_hide_pii_from_read_keys(world, client):
    c, keys, store = client
    signed_in(c, keys["read"])
    # a real id in the address is answered with the pseudonym's address
    r = c.get("/dashboard/customers/C001", follow_redirects=False)
    alias = pseudonym(world, "C001")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/dashboard/customers/{alias}")
    page = c.get(r.headers["location"])
    assert page.status_code == 200
    for section in ("identity", "tier", "value", "scores", "action", "recommendations",
                    "consents", "tasks", "timeline"):
        assert f'id="{section}"' in page.text
    assert "C001" not in page.text and cw.EMAIL not in page.text and "Li Lei" not in page.text
    assert html.escape(cw.XSS_PRODUCT, quote=False) in page.text or "&lt;img" in page.text
    assert "<img src=x" not in page.text and "<i>clicked" not in page.text
    assert "likely" in page.text or "14%" in page.text
    # the dashboard's ids are links to the page
    board = c.get("/dashboard").text
    assert f'href="/dashboard/customers/{alias}?lang=en"' in board
    assert "<img src=x" not in board


def test_export_key_sees_identity_escaped_and_searches_by_email(world, client):
    c, keys, store = client
    token = signed_in(c, keys["export"])
    page = c.get("/dashboard/customers/C001?lang=zh")
    assert page.status_code == 200 and cw.EMAIL in page.text and "钻石客户" in page.text
    assert "<script>document.title" not in page.text and "&lt;script&gt;" in page.text
    assert "&lt;b onmouseover" in page.text  # the feedback text, escaped
    r = c.post("/dashboard/search", data={"q": cw.EMAIL, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/dashboard/customers/C001")
    # without its token the form is refused
    assert c.post("/dashboard/search", data={"q": cw.EMAIL}).status_code == 403
    # the audit log names the kind of search and whom it found, never the address typed
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT action, subject, detail FROM audit_log").fetchall()
    searches = [r for r in rows if r[0] == "search_customers"]
    assert searches and all(cw.EMAIL not in (r[1] + (r[2] or "")) for r in searches)
    assert any(r[0] == "export_customer" and r[1] == "C001" for r in rows)


def test_read_key_cannot_search_contact_details(client):
    c, keys, _ = client
    token = signed_in(c, keys["read"])
    r = c.post("/dashboard/search", data={"q": cw.EMAIL, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 200 and "scope export" in r.text and "C001" not in r.text
    by_id = c.get("/dashboard/search?q=C002", follow_redirects=False)
    assert by_id.status_code == 303 and "/dashboard/customers/p_" in by_id.headers["location"]
    missing = c.get("/dashboard/search?q=C999")
    assert "No customer" in missing.text


def test_cli_show_has_the_same_sections(world):
    runner = CliRunner()
    args = ["customers", "show", "C001", "-w", world.warehouse, "--database", world.store_url]
    plain = json.loads(runner.invoke(cli, [*args, "--json"]).stdout)
    assert plain["identity"] is None and plain["tier"] == "diamond"
    assert plain["clv_low"] < plain["clv"] < plain["clv_high"]
    assert plain["action"]["reason"] and plain["tasks"]["total"] == 2
    assert len(plain["timeline"]["items"]) == 20 and plain["timeline"]["more"] > 0
    full = json.loads(runner.invoke(cli, [*args, "--json", "--with-pii"]).stdout)
    assert full["identity"]["email"] == cw.EMAIL
    zh = runner.invoke(cli, [*args, "--lang", "zh", "--timeline", "5"])
    assert zh.exit_code == 0, zh.output
    for words in ("推荐商品", "当前有效的授权", "时间线", "已隐藏", "原因", "购买过中端水壶", "营销"):
        assert words in zh.output, words
