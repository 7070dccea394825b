"""The dashboard's session hardening: signing out ends the session on the server (the old
cookie is refused), a revoked or replaced key ends its sessions, form posts from another site
or without their CSRF token are refused without a cookie being set, every response carries the
security headers, and cookies are Secure over HTTPS — behind a proxy only when told to trust
it."""

from __future__ import annotations

import hashlib
import re
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from upmarket.opstore import store as ops
from upmarket.opstore.schema import dashboard_sessions
from upmarket.service.app import create_app
from upmarket.service.csrf import LOGIN_COOKIE
from upmarket.service.origin import WebSettings
from upmarket.service.sessions import COOKIE, Sessions

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')
EVIL = "https://evil.example"


@contextmanager
def serving(world, tmp_path, *, web: WebSettings | None = None,
            base_url: str = "http://testserver"):
    app = create_app(f"sqlite:///{tmp_path}/ops.sqlite", world.warehouse)
    if web is not None:
        app.state.web = web
    _, read = ops.create_key(app.state.store, "viewer", ["read"])
    with TestClient(app, base_url=base_url, raise_server_exceptions=False) as client:
        yield client, app, read


def login_form(client, **headers) -> tuple[str, str]:
    """The login form's token and its cookie, as a browser receives them."""
    r = client.get("/dashboard/login", headers=headers)
    assert r.status_code == 200
    return TOKEN.search(r.text).group(1), r.cookies.get(LOGIN_COOKIE) or \
        client.cookies.get(LOGIN_COOKIE)


def post_login(client, key: str, token: str | None, nonce: str | None = None, **headers):
    body = (f"csrf_token={token}&" if token else "") + f"key={key}"
    if nonce is not None:  # a Secure cookie the test client will not send over http itself
        headers["Cookie"] = f"{LOGIN_COOKIE}={nonce}"
    return client.post("/dashboard/login", content=body, headers={**FORM, **headers},
                       follow_redirects=False)


def session_cookies(response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")]


def signed_in(client, key: str) -> str:
    token, _ = login_form(client)
    r = post_login(client, key, token)
    assert r.status_code == 303, r.text
    return client.cookies[COOKIE]


def dashboard_token(client) -> str:
    page = client.get("/dashboard")
    assert page.status_code == 200
    return TOKEN.search(page.text).group(1)


def unrevoked(app) -> int:
    with app.state.store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(dashboard_sessions)
                            .where(dashboard_sessions.c.revoked.is_(None))).scalar()


def test_a_signed_out_cookie_is_refused(world, tmp_path):
    with serving(world, tmp_path) as (client, app, read):
        cookie = signed_in(client, read)
        token = dashboard_token(client)
        r = client.post("/dashboard/logout", content=f"csrf_token={token}", headers=FORM,
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
        cleared = session_cookies(r)
        assert len(cleared) == 1 and "Max-Age=0" in cleared[0]
        # the browser forgot it; someone who copied it before sign-out is refused all the same
        client.cookies.clear()
        r = client.get("/dashboard", headers={"Cookie": f"{COOKIE}={cookie}"},
                       follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/dashboard/login"
        with app.state.store.engine.connect() as conn:
            row = conn.execute(sa.select(dashboard_sessions)).one()
        assert row.revoked is not None
        # only the id's hash is stored: a copy of the table cannot be replayed as cookies
        assert row.id_hash == hashlib.sha256(cookie.split(".")[0].encode()).hexdigest()


def test_signing_out_needs_the_pages_token_and_origin(world, tmp_path):
    with serving(world, tmp_path) as (client, app, read):
        signed_in(client, read)
        token = dashboard_token(client)
        for body, headers in (("", {}), ("csrf_token=" + "0" * 64, {}),
                              (f"csrf_token={token}", {"Origin": EVIL})):
            r = client.post("/dashboard/logout", content=body, headers={**FORM, **headers},
                            follow_redirects=False)
            assert r.status_code == 403 and session_cookies(r) == []
            assert unrevoked(app) == 1
        r = client.post("/dashboard/logout", content=f"csrf_token={token}", headers=FORM,
                        follow_redirects=False)
        assert r.status_code == 303 and unrevoked(app) == 0


def test_a_revoked_or_replaced_keys_sessions_are_refused(world, tmp_path):
    with serving(world, tmp_path) as (client, app, read):
        store = app.state.store
        signed_in(client, read)
        assert client.get("/dashboard", follow_redirects=False).status_code == 200
        old = ops.verify_key(store, read)
        _, new = ops.create_key(store, "viewer-2", ["read"])  # the replacement…
        ops.revoke_key(store, old.id)  # …then the old key goes
        assert client.get("/dashboard", follow_redirects=False).status_code == 303
        signed_in(client, new)
        assert client.get("/dashboard", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("lang, words", [("en", "another site"), ("zh", "其他站点")])
def test_a_cross_site_login_is_refused_and_sets_no_cookie(world, tmp_path, lang, words):
    with serving(world, tmp_path) as (client, _, read):
        token, _ = login_form(client)
        for headers in ({"Origin": EVIL}, {"Referer": f"{EVIL}/win-a-prize"},
                        {"Origin": "null"}, {"Origin": "https://testserver"}):
            r = client.post(f"/dashboard/login?lang={lang}", content=f"csrf_token={token}"
                            f"&key={read}", headers={**FORM, **headers}, follow_redirects=False)
            assert r.status_code == 403, headers
            assert r.headers.get_list("set-cookie") == []
            assert words in r.text and "http://testserver" in r.text
        assert EVIL in post_login(client, read, token, Origin=EVIL).text
        assert COOKIE not in client.cookies
        # the same form from the dashboard's own origin signs in
        r = post_login(client, read, token, Origin="http://testserver")
        assert r.status_code == 303 and len(session_cookies(r)) == 1


def test_a_login_without_its_csrf_token_is_refused(world, tmp_path):
    with serving(world, tmp_path) as (client, _, read):
        token, _ = login_form(client)
        r = post_login(client, read, None)
        assert r.status_code == 403 and session_cookies(r) == []
        assert "csrf_token" in r.text and TOKEN.search(r.text)  # the form, to try again
        # a token made for another browser's cookie is worth nothing here
        other = TestClient(client.app)
        other_token, _ = login_form(other)
        assert post_login(client, read, other_token).status_code == 403
        # nor is the token without its cookie (what a forged cross-site post would carry)
        client.cookies.delete(LOGIN_COOKIE)
        assert post_login(client, read, token).status_code == 403
        assert COOKIE not in client.cookies
        token, _ = login_form(client)
        assert post_login(client, read, token).status_code == 303


def assert_security_headers(r, *, no_store: bool) -> None:
    csp = r.headers["content-security-policy"]
    directives = dict((d.split(" ", 1) + [""])[:2] for d in csp.split("; "))
    assert directives["default-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    if no_store:
        assert r.headers["cache-control"] == "no-store"


def test_security_headers_on_every_response(world, tmp_path):
    with serving(world, tmp_path) as (client, app, read):
        def boom():
            raise RuntimeError("an unexpected failure")

        app.add_api_route("/boom", boom)
        anonymous = TestClient(app, raise_server_exceptions=False)
        for path, status in (("/dashboard/login", 200), ("/healthz", 200), ("/nowhere", 404),
                             ("/v1/kpis", 401), ("/boom", 500)):
            r = anonymous.get(path)
            assert r.status_code == status, path
            assert_security_headers(r, no_store=False)
        r = anonymous.post("/v1/track", content=b"x" * 600_000)  # refused by the body limit
        assert r.status_code == 413
        assert_security_headers(r, no_store=False)
        # the API docs load Swagger UI and ReDoc from the service itself, never a CDN, and are
        # not framable either
        for page in ("/docs", "/redoc"):
            docs = anonymous.get(page)
            assert docs.status_code == 200
            policy = docs.headers["content-security-policy"]
            assert "script-src 'self' 'unsafe-inline';" in policy and "http" not in policy
            assert "frame-ancestors 'none'" in policy
            scripts = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', docs.text)
            assert scripts and all(s.startswith("/") for s in scripts), scripts
            for asset in scripts:
                assert anonymous.get(asset).status_code == 200, asset
        assert docs.headers["x-frame-options"] == "DENY"
        kpis = anonymous.get("/v1/kpis", headers={"Authorization": f"Bearer {read}"})
        assert kpis.status_code == 200 and kpis.headers["content-type"] == "application/json"
        assert_security_headers(kpis, no_store=True)  # personal data: kept out of caches
        signed_in(client, read)
        page = client.get("/dashboard")
        assert_security_headers(page, no_store=True)
        # the inline chart script carries this response's nonce, and only this response's
        nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"]).group(1)
        assert f'<script nonce="{nonce}">' in page.text
        assert f'<style nonce="{nonce}">' in page.text
        again = client.get("/dashboard/login").headers["content-security-policy"]
        assert "'nonce-" in again and f"'nonce-{nonce}'" not in again
        js = client.get("/static/plotly.min.js")
        assert js.status_code == 200 and js.headers["cache-control"].startswith("public")
        assert_security_headers(js, no_store=False)


def set_cookie_of(response, name: str) -> str:
    [found] = [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{name}=")]
    return found


@pytest.mark.parametrize("base_url, web, headers, secure", [
    ("https://testserver", None, {}, True),
    ("http://testserver", None, {}, False),
    # a client may say it used HTTPS; only a trusted proxy is believed
    ("http://testserver", None, {"X-Forwarded-Proto": "https"}, False),
    ("http://testserver", WebSettings(trust_proxy=True), {"X-Forwarded-Proto": "https"}, True),
    ("http://testserver", WebSettings(trust_proxy=True), {}, False),
    ("http://testserver", WebSettings(secure_cookies=True), {}, True),
])
def test_cookies_are_secure_over_https_only(world, tmp_path, base_url, web, headers, secure):
    with serving(world, tmp_path, web=web, base_url=base_url) as (client, _, read):
        form = client.get("/dashboard/login", headers=headers)
        login_cookie = set_cookie_of(form, LOGIN_COOKIE)
        nonce = login_cookie.split(";")[0].split("=", 1)[1]
        r = post_login(client, read, TOKEN.search(form.text).group(1), nonce, **headers)
        assert r.status_code == 303, r.text
        for cookie in (login_cookie, set_cookie_of(r, COOKIE)):
            flags = [f.strip().lower() for f in cookie.split(";")[1:]]
            assert ("secure" in flags) is secure, cookie
            assert "httponly" in flags and "samesite=strict" in flags


def test_behind_a_trusted_proxy_the_origin_is_the_one_users_type(world, tmp_path, monkeypatch):
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "crm.example.com"}
    origin = {"Origin": "https://crm.example.com"}
    with serving(world, tmp_path) as (client, _, read):
        token, nonce = login_form(client, **proxied)
        r = post_login(client, read, token, nonce, **proxied, **origin)  # proxy not trusted
        assert r.status_code == 403 and "--trust-proxy" in r.text
    monkeypatch.setenv("UPMARKET_TRUST_PROXY", "1")  # the setting by environment
    (tmp_path / "trusted").mkdir()
    with serving(world, tmp_path / "trusted") as (client, _, read):
        token, nonce = login_form(client, **proxied)
        r = post_login(client, read, token, nonce, **proxied, **origin)
        assert r.status_code == 303 and "secure" in set_cookie_of(r, COOKIE).lower()


def test_session_rows_are_random_hashed_and_purged_when_expired(tmp_path):
    store = ops.open_store(f"sqlite:///{tmp_path}/o.sqlite")
    record, _ = ops.create_key(store, "k", ["read"])
    s = Sessions(store, lifetime=60)
    first = s.issue(record, now=1000.0)
    session_id = first.split(".")[0]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", session_id)  # 32 random bytes
    assert s.issue(record, now=1000.0).split(".")[0] != session_id
    assert s.revoke(first, now=1001.0) and not s.revoke(first, now=1002.0)
    assert s.verify(first, now=1003.0) is None
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(dashboard_sessions)).scalar() == 2
    later = s.issue(record, now=2000.0)  # both earlier ones expired at 1060
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(dashboard_sessions)).scalar() == 1
    assert s.verify(later, now=2001.0).id == record.id
    store.close()


def test_serve_passes_the_proxy_settings(monkeypatch, tmp_path):
    import uvicorn
    from typer.testing import CliRunner

    from upmarket.cli import app

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: seen.update(
        web=application.state.web, **kw))
    monkeypatch.delenv("UPMARKET_TRUST_PROXY", raising=False)
    monkeypatch.delenv("UPMARKET_SECURE_COOKIES", raising=False)
    args = ["serve", "--database", f"sqlite:///{tmp_path}/o.sqlite",
            "--warehouse", f"duckdb://{tmp_path}/w.duckdb"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert seen["web"] == WebSettings() and seen["proxy_headers"] is False
    r = CliRunner().invoke(app, [*args, "--trust-proxy", "--secure-cookies"])
    assert r.exit_code == 0, r.output
    assert seen["web"] == WebSettings(trust_proxy=True, secure_cookies=True)
    assert seen["proxy_headers"] is True and seen["forwarded_allow_ips"] == "*"
