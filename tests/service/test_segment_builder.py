"""The dashboard's segment builder: counting and saving go through a CSRF-checked POST from the
service's own origin; a read key may count but not save; a saved segment is the one
`segments export` and rules use; and in a real browser (Debian's Chromium through
Playwright, as `test_dashboard_browser.py`) the form works in English and Chinese under the
service's Content-Security-Policy, with screenshots kept as test artefacts."""

from __future__ import annotations

import re
import shutil

import pytest
from fastapi.testclient import TestClient
from segment_world import make_world, sql

from tests.service.dashboard_server import running_dashboard
from upmarket.opstore import store as ops
from upmarket.service.app import create_app
from upmarket.strategy import saved_segments as ss
from upmarket.warehouse import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CONDITION = "tier in ['diamond','core'] and city_tier = 1"
EXPECTED = ("SELECT r.customer_id FROM results r JOIN customers c USING (customer_id) "
            "WHERE r.tier IN ('diamond','core') AND c.city_tier = '1'")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("segbuilder")
    return make_world(d), d


def login(client, key: str) -> str:
    """Sign in as a browser does; returns the builder page's CSRF token."""
    form = client.get("/dashboard/login").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form).group(1)
    r = client.post("/dashboard/login", content=f"csrf_token={token}&key={key}", headers=FORM,
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/dashboard/segments")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)


def post(client, token: str | None, **fields):
    from urllib.parse import urlencode

    body = urlencode({**({"csrf_token": token} if token else {}), **fields})
    return client.post("/dashboard/segments", content=body, headers=FORM)


def test_count_and_save_are_csrf_checked_and_save_needs_an_export_key(world, tmp_path):
    url, _ = world
    app = create_app(f"sqlite:///{tmp_path}/ops.sqlite", url)
    store = app.state.store
    _, read_key = ops.create_key(store, "viewer", ["read"])
    _, export_key = ops.create_key(store, "analyst", ["export"])
    n = len(sql(url, EXPECTED))
    with TestClient(app) as client:
        assert client.get("/dashboard/segments", follow_redirects=False).status_code == 303
        token = login(client, read_key)
        counted = post(client, token, where=CONDITION, action="count")
        assert counted.status_code == 200 and f"{n:,} customers" in counted.text
        assert post(client, None, where=CONDITION, action="count").status_code == 403
        assert post(client, "0" * 64, where=CONDITION, action="count").status_code == 403
        foreign = client.post("/dashboard/segments", headers={**FORM,
                              "Origin": "https://evil.example"},
                              content=f"csrf_token={token}&where=tier%3Dcore&action=count")
        assert foreign.status_code == 403
        refused = post(client, token, where=CONDITION, name="by_reader", action="save")
        assert refused.status_code == 403 and "may export" in refused.text
        bad = post(client, token, where="tier = 'x'; DROP TABLE customers", action="count")
        assert bad.status_code == 400 and "at position 11" in bad.text
        assert "&#39;;&#39;" in bad.text or "&#x27;;&#x27;" in bad.text  # escaped, not markup
        assert post(client, token, where="x" * 20_000, action="count").status_code == 413
        client.cookies.clear()
        token = login(client, export_key)
        saved = post(client, token, where=CONDITION, name="tier1_top", action="save")
        assert saved.status_code == 200 and "Saved segment tier1_top" in saved.text
    wh = connect(url, create=False)
    try:
        assert ss.condition_of(wh, "tier1_top") == CONDITION
        assert not ss.is_saved(wh, "by_reader")
        members = set(ss.members(wh, "tier1_top").members.to_pandas()["customer_id"])
    finally:
        wh.close()
    assert members == set(sql(url, EXPECTED)["customer_id"])




@pytest.mark.skipif(CHROMIUM is None, reason="the browser test needs Debian's Chromium "
                    "(`apt install chromium`); it is not installed on this machine")
def test_the_builder_in_a_browser_in_english_and_chinese(world, tmp_path):
    from playwright.sync_api import sync_playwright

    url, folder = world
    store_url = f"sqlite:///{tmp_path}/ops.sqlite"
    store = ops.open_store(store_url)
    _, key = ops.create_key(store, "analyst", ["export"])
    try:
        with running_dashboard(store_url, url) as base:
            n = len(sql(url, EXPECTED))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                requested, console = [], []
                pg.on("request", lambda req: requested.append(req.url))
                pg.on("console", lambda msg: console.append(msg.text))
                pg.goto(f"{base}/dashboard/login?lang=en")
                pg.fill("#key", key)
                pg.click("button[type=submit]")
                pg.wait_for_selector("#tiers")
                pg.click("#segment-builder")
                pg.wait_for_selector("#builder")
                pg.fill("#where", CONDITION)
                pg.click("#count")
                pg.wait_for_selector("#result")
                assert f"{n:,} customers" in pg.inner_text("#result")
                assert pg.input_value("#where") == CONDITION  # kept for the next edit
                pg.fill("#name", "tier1_browser")
                pg.click("#save")
                pg.wait_for_selector("#result")
                assert "Saved segment tier1_browser" in pg.inner_text("#result")
                assert "tier1_browser" in pg.inner_text("#saved")
                assert "Basic" in pg.inner_text("#profile-city_tier")
                assert "25-34" in pg.inner_text("#profile-age_band")
                pg.screenshot(path=str(folder / "segment-builder-en.png"), full_page=True)
                pg.click("text=中文")
                pg.wait_for_selector("#builder")
                assert "分群构建器" in pg.inner_text("h1")
                pg.fill("#where", "tier = dimond and city_tier = 1")
                pg.click("#count")
                pg.wait_for_selector("#error")
                error = pg.inner_text("#error")
                assert "第 1 个字符处" in error and "diamond" in error
                assert "按城市等级" in pg.inner_text("#profile-city_tier")
                pg.screenshot(path=str(folder / "segment-builder-zh.png"), full_page=True)
                browser.close()
            assert all(u.startswith(base) for u in requested), requested
            assert [m for m in console if "Content Security Policy" in m] == []
    finally:
        store.close()
    wh = connect(url, create=False)
    try:
        assert ss.condition_of(wh, "tier1_browser") == CONDITION
    finally:
        wh.close()
