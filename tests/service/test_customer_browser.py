"""The customer-360 page and search in a real browser (Debian's Chromium driven by Playwright),
over a small world served by uvicorn: a read key finds a customer by id and sees their
orders, scores, the next best action with its reason, consents and tasks, in English and
Chinese; searching by e-mail is refused to it and works for an export key. Data values made to
look like markup stay text (nothing they hold runs), the page keeps to the service's
Content-Security-Policy and fetches nothing from elsewhere. Screenshots are kept beside the
world as test artefacts. Skips, saying why, when Chromium is not installed."""

from __future__ import annotations

import shutil

import pytest

from tests.service.dashboard_server import running_dashboard
from tests.service import customer_world as cw
from upmarket.opstore import store as ops

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="the dashboard's browser tests need Debian's Chromium "
    "(`apt install chromium`); it is not installed on this machine")



@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("customer-browser")
    world = cw.build(folder)
    store = ops.open_store(world.store_url)
    keys = {s: ops.create_key(store, f"{s} key", [s])[1] for s in ("read", "export")}
    with running_dashboard(world.store_url, world.warehouse) as base:
        yield base, keys, folder
    store.close()


@pytest.fixture
def page(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        pg = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        pg.requested, pg.errors, pg.console = [], [], []
        pg.on("request", lambda req: pg.requested.append(req.url))
        pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
        pg.on("console", lambda msg: pg.console.append(msg.text))
        yield pg
        browser.close()


def sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/dashboard")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_selector("#tiers")


def search_for(page, text: str) -> None:
    page.fill("#q", text)
    page.click("form.search button")
    page.wait_for_load_state()


def test_read_key_finds_a_customer_by_id_and_reads_their_page(served, page):
    base, keys, folder = served
    sign_in(page, base, keys["read"])
    search_for(page, "C001")
    page.wait_for_selector("#timeline")
    # the address names the customer by pseudonym, never by the id typed
    assert "/dashboard/customers/p_" in page.url and "C001" not in page.url
    assert "Diamond" in page.inner_text("#tier") and "≤ 1 h" in page.inner_text("#tier")
    timeline = page.inner_text("#timeline")
    assert "order O3 (paid, lines: 1)" in timeline and "order O3C" in timeline
    assert "Champions" in page.inner_text("#scores")
    assert "fewer orders than usual" in page.inner_text("#scores")
    action = page.inner_text("#action")
    assert "upsell to premium" in action and "14% of similar customers" in action
    consents = page.inner_text("#consents")
    assert "withdrawn" in consents and "granted" in consents
    tasks = page.inner_text("#tasks")
    assert "Call about the <kettle>" in tasks and "Win-back offer sent" in tasks
    assert "hidden" in page.inner_text("#identity") and cw.EMAIL not in page.content()
    # markup in the data is shown as text and never runs
    assert cw.XSS_PRODUCT in page.inner_text("#action")
    assert page.title() != "owned"
    page.screenshot(path=str(folder / "customer-en.png"), full_page=True)
    page.click("text=中文")
    page.wait_for_selector("#timeline")
    assert "钻石客户" in page.inner_text("#tier") and "已撤回" in page.inner_text("#consents")
    assert "购买过中端水壶" in page.inner_text("#action")
    page.screenshot(path=str(folder / "customer-zh.png"), full_page=True)
    # contact details are not a search a read key may make
    search_for(page, cw.EMAIL)
    refused = page.inner_text("#search-results")
    assert "export" in refused and "C001" not in refused and cw.EMAIL not in page.url
    page.screenshot(path=str(folder / "search-refused-zh.png"), full_page=True)
    assert page.errors == []
    assert all(url.startswith(base) for url in page.requested), page.requested
    assert [m for m in page.console if "Content Security Policy" in m] == []


def test_export_key_finds_a_customer_by_email(served, page):
    base, keys, folder = served
    sign_in(page, base, keys["export"])
    search_for(page, cw.EMAIL)
    page.wait_for_selector("#identity")
    assert page.url.startswith(f"{base}/dashboard/customers/C001")
    assert cw.EMAIL not in page.url  # the query was posted, not put in an address
    identity = page.inner_text("#identity")
    assert cw.EMAIL in identity and cw.PHONE in identity and cw.XSS_NAME in identity
    assert page.title() != "owned"
    page.screenshot(path=str(folder / "customer-pii-en.png"), full_page=True)
    assert page.errors == [] and [m for m in page.console if "Content Security Policy" in m] == []
