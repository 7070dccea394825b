"""The dashboard in a real browser (Debian's Chromium driven by Playwright): sign in through
the form, see the page in English and Chinese, and the browser fetches nothing from outside the
service; the page works under the service's Content-Security-Policy (the console reports no
violation), and signing out ends the session. Skips, saying why, when Chromium is not
installed."""

from __future__ import annotations

import shutil

import pytest

from tests.service.dashboard_server import running_dashboard
from upmarket.opstore import store as ops

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="the dashboard's browser tests need Debian's Chromium "
    "(`apt install chromium`); it is not installed on this machine")



@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`upmarket demo`'s world (small) served by a real uvicorn process."""
    from typer.testing import CliRunner

    from upmarket.cli import app

    d = tmp_path_factory.mktemp("browser")
    out = d / "demo"
    r = CliRunner().invoke(app, ["demo", "--customers", "400", "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    store_url, wh_url = f"sqlite:///{out / 'demo-ops.sqlite'}", f"duckdb://{out / 'demo.duckdb'}"
    store = ops.open_store(store_url)
    _, read_key = ops.create_key(store, "viewer", ["read"])
    with running_dashboard(store_url, wh_url) as base:
        yield base, read_key, d
    store.close()


@pytest.fixture
def page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.requested = []
        pg.on("request", lambda req: pg.requested.append(req.url))
        pg.errors = []
        pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
        # Chromium reports each CSP violation on the console ("Refused to …  because it
        # violates the following Content Security Policy directive")
        pg.console = []
        pg.on("console", lambda msg: pg.console.append(msg.text))
        yield pg
        browser.close()


def test_sign_in_and_read_the_dashboard(served, page):
    base, key, folder = served
    response = page.goto(f"{base}/dashboard")
    assert page.url.endswith("/dashboard/login")  # no session: the form
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.fill("#key", "um_wrong_key")
    page.click("button[type=submit]")
    assert "unknown, revoked" in page.inner_text(".error")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_selector("#tiers")
    assert page.url.startswith(f"{base}/dashboard")
    tiers = page.inner_text("#tiers")
    assert all(t in tiers for t in ("Diamond", "Core", "Potential", "Basic"))
    assert page.inner_text("#at-risk").count("p_") >= 1  # pseudonymised for a read key
    # every chart section was drawn by plotly.js, which came from the service itself
    page.wait_for_function("document.querySelectorAll('.chart .main-svg').length > 0")
    charts = page.locator(".chart").count()
    assert charts >= 3 and page.locator(".chart .main-svg").count() >= charts
    assert f"{base}/static/plotly.min.js" in page.requested
    page.screenshot(path=str(folder / "dashboard-en.png"), full_page=True)
    page.click("text=中文")
    page.wait_for_selector("#tiers")
    assert "钻石客户" in page.inner_text("#tiers")
    page.screenshot(path=str(folder / "dashboard-zh.png"), full_page=True)
    assert page.errors == []
    assert all(url.startswith(base) for url in page.requested), page.requested
    violations = [m for m in page.console if "Content Security Policy" in m]
    assert violations == []
    # signing out (a form with its CSRF token, posted by the browser) ends the session
    page.click("text=退出")
    page.wait_for_selector("#key")
    page.goto(f"{base}/dashboard")
    assert page.url.endswith("/dashboard/login")


def test_membership_page_in_both_languages(served, page):
    """The membership page, reached from the dashboard's link: level distribution, the run's
    upgrades and downgrades, points lapsing within 30 days; the same service, so no extra
    world is built for it."""
    base, key, folder = served
    page.goto(f"{base}/dashboard")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_selector("#tiers")
    page.click("#members-page")
    page.wait_for_selector("#levels")
    assert page.url.startswith(f"{base}/dashboard/members")
    levels = page.inner_text("#levels")
    assert all(n in levels for n in ("Member", "Silver", "Gold", "Black Gold"))
    assert page.locator("#levels meter").count() == 4
    assert "Points expiring in the next 30 days" in page.inner_text("#expiring")
    page.screenshot(path=str(folder / "members-en.png"), full_page=True)
    page.click("text=中文")
    page.wait_for_selector("#levels")
    zh = page.inner_text("main")
    assert all(n in zh for n in ("普通会员", "银卡", "金卡", "黑金", "等级分布"))
    page.screenshot(path=str(folder / "members-zh.png"), full_page=True)
    assert page.errors == []
    assert all(url.startswith(base) for url in page.requested), page.requested
    assert [m for m in page.console if "Content Security Policy" in m] == []
