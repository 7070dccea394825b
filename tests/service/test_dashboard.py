"""The dashboard: a login form turns a read key into a signed session cookie; without one the
page redirects to the form; a revoked key ends its sessions; ids are pseudonymised unless the
key may export; failed logins are rate limited; each view is audited; plotly.js comes from the
installed package, and the page links nothing outside the service."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from upmarket.opstore import store as ops
from upmarket.service.app import REFUSED_BURST, create_app
from upmarket.service.sessions import COOKIE, Sessions

FORM = {"Content-Type": "application/x-www-form-urlencoded"}

sys.path.insert(0, str(Path(__file__).parents[1] / "reports"))
from report_world import value_summary  # noqa: E402  (the report tests' run summaries)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A published run of 40 customers: tiers in turn, churn risk rising with the id, so some
    Diamond and Core customers are above 0.6 and some below; everyone's action an upsell. Its
    summary says nothing of its value model (a run from before the fit checks)."""
    return make_world(tmp_path_factory.mktemp("dash"), {})


def make_world(d, summary: dict):
    """The 40-customer run published with `summary` in the warehouse under folder `d`."""
    from datetime import datetime
    from types import SimpleNamespace

    import pandas as pd

    from upmarket.activation import privacy
    from upmarket.models.churn import risk_band
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import Run

    url = f"duckdb://{d}/w.duckdb"
    n = 40
    ids = [f"K{i:03d}" for i in range(n)]
    res = pd.DataFrame({"customer_id": ids,
                        "tier": [("diamond", "core", "potential", "basic")[i % 4] for i in range(n)],
                        "rfm_segment": "loyal", "clv": [1000.0 - 10 * i for i in range(n)],
                        "churn_risk": [(i + 0.5) / n for i in range(n)]})
    res["churn_band"] = risk_band(res["churn_risk"].to_numpy())
    acts = pd.DataFrame({"customer_id": ids, "tier": res["tier"], "action": "upsell",
                         "product_name": [f"Premium {i}" for i in range(n)], "channel": "email",
                         "expected_value": [float(i) for i in range(n)],
                         "reason_en": "likely to move up", "reason_zh": "可能升级"})
    wh = connect(url)
    run = Run(wh, datetime(2026, 6, 1))
    run.write("results", res)
    run.write("actions", acts)
    run.publish(summary)
    privacy.pseudonym_key(wh)
    wh.close()
    return SimpleNamespace(warehouse=url, results=res)


@pytest.fixture
def dash(world, tmp_path):
    app = create_app(f"sqlite:///{tmp_path}/ops.sqlite", world.warehouse)
    store = app.state.store
    keys = {s: ops.create_key(store, f"{s}-key", [s]) for s in ("read", "export", "collect")}
    with TestClient(app) as client:
        yield client, store, keys


def login(client, key: str):
    """Sign in as a browser does: load the form (its CSRF cookie and token), then post it."""
    form = client.get("/dashboard/login").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form).group(1)
    return client.post("/dashboard/login", content=f"csrf_token={token}&key={key}",
                       headers=FORM, follow_redirects=False)


def test_login_session_and_logout(dash, world):
    client, store, keys = dash
    r = client.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
    assert "<form" in client.get("/dashboard/login").text
    r = login(client, keys["read"][1])
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert keys["read"][1] not in cookie  # the key itself never goes into the cookie
    page = client.get("/dashboard")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    # the at-risk list is exactly the premium customers with churn risk > 0.6, pseudonymised
    res = world.results
    risky = res[res["tier"].isin(["diamond", "core"]) & (res["churn_risk"] > 0.6)]
    from upmarket.activation import privacy
    from upmarket.warehouse import connect

    wh = connect(world.warehouse, create=False)
    top = risky.sort_values("clv", ascending=False).head(15)  # the page lists 15
    expected = set(privacy.pseudonymise(top["customer_id"], privacy.pseudonym_key(wh)))
    wh.close()
    section = page.text.split('id="at-risk"')[1].split("</section>")[0]
    assert expected and set(re.findall(r"p_[0-9a-f]{20}", section)) == expected
    assert not any(f">{cid}<" in page.text for cid in res["customer_id"])
    log = ops.read_audit(store)
    assert list(log["action"])[-1] == "read_dashboard"
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)
    client.post("/dashboard/logout", content=f"csrf_token={token}", headers=FORM,
                follow_redirects=False)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_export_scope_sees_ids_and_revocation_ends_the_session(dash, world):
    client, store, keys = dash
    login(client, keys["export"][1])
    page = client.get("/dashboard?lang=zh")
    assert page.status_code == 200 and page.headers["Content-Language"] == "zh-CN"
    assert "价值等级与服务标准" in page.text and "Value tiers" not in page.text
    upsell = world.results["customer_id"]  # every customer's action is an upsell here
    assert any(cid in page.text for cid in upsell)
    assert list(ops.read_audit(store)["action"])[-1] == "export_dashboard"
    ops.revoke_key(store, keys["export"][0].id)
    assert client.get("/dashboard", follow_redirects=False).status_code == 303


def test_wrong_keys_are_refused_then_throttled(dash):
    client, _, keys = dash
    assert login(client, keys["collect"][1]).status_code == 401  # write-only key
    codes = []
    while 429 not in codes and len(codes) < 10 * REFUSED_BURST:  # refills 5/s meanwhile
        codes.append(login(client, f"um_x_guess{len(codes)}").status_code)
    assert codes[-1] == 429 and set(codes[:-1]) == {401}
    assert len(codes) > REFUSED_BURST - 1  # the first attempt above spent one token


def test_sessions_expire_and_cannot_be_forged(tmp_path):
    store = ops.open_store(f"sqlite:///{tmp_path}/o.sqlite")
    record, _ = ops.create_key(store, "k", ["read"])
    s = Sessions(store, lifetime=60)
    cookie = s.issue(record, now=1000.0)
    assert s.verify(cookie, now=1059.0).id == record.id
    assert s.verify(cookie, now=1061.0) is None  # expired
    session_id, sig = cookie.split(".")
    other = s.issue(record, now=1000.0).split(".")[0]
    assert s.verify(f"{other}.{sig}", now=1000.0) is None  # another id under this signature
    assert s.verify(cookie, now=1000.0) is not None
    assert Sessions(store, lifetime=60).verify(cookie, now=1000.0) is None  # another secret
    assert s.verify("garbage", now=1000.0) is None and s.verify(None) is None
    store.close()


def test_plotly_js_is_served_from_the_package(dash):
    client, _, keys = dash
    from plotly.offline import get_plotlyjs

    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200 and r.text == get_plotlyjs()
    login(client, keys["read"][1])
    page = client.get("/dashboard").text
    outside = re.findall(r'(?:src|href)="(https?:)?//[^"]*"', page)
    assert outside == []


def test_dashboard_shows_the_runs_clv_mean_and_total(dash, world):
    client, _, keys = dash
    login(client, keys["read"][1])
    page = client.get("/dashboard").text
    clv = world.results["clv"]
    tiles = page.split('class="tiles"')[1].split("</div>\n  </div>")[0]
    assert f">{clv.mean():,.0f}<" in tiles and f">{clv.sum():,.0f}<" in tiles
    assert "predicted 12-month margin per customer (mean)" in tiles
    assert "predicted 12-month margin of all customers (total)" in tiles


def dashboard_page(world, tmp_path, lang: str) -> str:
    app = create_app(f"sqlite:///{tmp_path}/ops-{lang}.sqlite", world.warehouse)
    _, key = ops.create_key(app.state.store, "read-key", ["read"])
    with TestClient(app) as client:
        login(client, key)
        page = client.get(f"/dashboard?lang={lang}")
    assert page.status_code == 200
    return page.text


def words(html: str) -> str:
    import html as htmllib

    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", body)).split())


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_flagged_value_model_is_a_visible_notice(tmp_path_factory, tmp_path, lang):
    from upmarket.i18n import current_lang, label
    from upmarket.models.btyd.diagnostics import FitWarning

    summary = value_summary(flagged=True)
    # the run publishes no comparison table: the page needs only the run's summary
    world = make_world(tmp_path_factory.mktemp("flagged"), summary)
    page = dashboard_page(world, tmp_path, lang)
    notice = page.split('id="value-model"')[1].split("</section>")[0]
    # a notice above the lists, styled and announced as an alert
    assert '<section id="value-model" class="notice" role="alert">' in page
    assert page.index('id="value-model"') < page.index('id="tiers"')
    text, lang = words(notice), current_lang(lang)
    # the words of the CLI and the report: every warning, marked, and the missing P(alive)
    for w in summary["value_model"]["warnings"]:
        said = FitWarning(w["code"], w["model"],
                          {k: v for k, v in w.items() if k not in ("code", "model")}).text(lang)
        assert f"⚠ {said}" in text, said
    missing = label("run_value_p_alive_missing", lang,
                    reason=label("p_alive_missing.no_dropout", lang))
    assert f"⚠ {missing}" in text
    assert text.count("⚠") == 4
    # and the model the run used
    assert label("run_value_model", lang, transactions=label("value_model.empirical", lang),
                 spend=label("value_model.empirical_spend", lang)) in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_clean_value_model_is_named_without_a_warning(tmp_path_factory, tmp_path, lang):
    from upmarket.i18n import current_lang, label

    world = make_world(tmp_path_factory.mktemp("clean"), value_summary(flagged=False))
    page = dashboard_page(world, tmp_path, lang)
    lang = current_lang(lang)
    assert "⚠" not in page and 'role="alert"' not in page
    line = page.split('id="value-model"')[1].split("</p>")[0]
    assert label("run_value_model", lang, transactions=label("value_model.bgnbd", lang),
                 spend=label("value_model.gamma_gamma", lang)) in words(line)


def test_a_run_without_an_account_of_its_value_model_shows_none(dash):
    client, _, keys = dash
    login(client, keys["read"][1])
    page = client.get("/dashboard").text
    assert 'id="value-model"' not in page and "⚠" not in page
