"""Security headers on every response of the service — pages, JSON, errors, 404s, static files
(OWASP HTTP Headers Cheat Sheet; OWASP Content Security Policy Cheat Sheet).

A pure ASGI middleware rather than a route decorator, so nothing can be forgotten: responses
made by middleware (413, 415), by exception handlers and by the 404 of an unknown path get the
same headers as the dashboard.

- `Content-Security-Policy`: only the service's own scripts and styles, plus inline ones that
  carry this response's nonce (`csp_nonce`); the dashboard's inline chart script and style
  element carry it, so the policy needs no 'unsafe-inline' for them. `frame-ancestors 'none'`
  (and the older `X-Frame-Options: DENY`) stop another site framing the dashboard to trick a
  click (clickjacking); `form-action 'self'` keeps forms from posting elsewhere.
  plotly.js needs neither 'unsafe-eval' nor 'unsafe-inline': it styles elements through the
  CSSOM, which CSP leaves alone, and puts its stylesheet rules in style elements the
  dashboard makes with the nonce (`dashboard.plotly_style_ids`); the browser test checks the
  console reports no violation.
  FastAPI's /docs and /redoc pages load Swagger UI and ReDoc from their CDN with an inline
  script of their own, so they get a policy naming that CDN; they show the API's description
  and nothing from the store.
- `X-Content-Type-Options: nosniff`: a browser must not run a response as script or style
  because its content looks like one.
- `Referrer-Policy: strict-origin-when-cross-origin`: other sites learn at most our origin,
  never a path or query. Not `no-referrer`: under it browsers send `Origin: null` with the
  dashboard's own form posts, which the same-origin check (`csrf.py`) must refuse.
- `Cache-Control: no-store` on every response to a request that carried credentials (a
  cookie or an Authorization header) unless the route chose its own: such responses hold
  personal data, which must not stay in a shared or browser cache.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse

_NONCE = "csp_nonce"
#: Pages FastAPI builds from its CDN (see the module docstring).
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = (f"default-src 'self'; script-src 'self' 'unsafe-inline' {_CDN}; "
               f"style-src 'self' 'unsafe-inline' {_CDN} https://fonts.googleapis.com; "
               "font-src 'self' https://fonts.gstatic.com; "
               "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
               "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")


def policy(nonce: str) -> str:
    return ("default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            f"style-src 'self' 'nonce-{nonce}'; "
            "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def csp_nonce(conn: HTTPConnection) -> str:
    """This response's nonce, for the `nonce` attribute of an inline script or style element."""
    return conn.scope.get("state", {}).get(_NONCE, "")


class SecurityHeaders:
    """ASGI middleware adding the headers above; register it last (outermost)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})[_NONCE] = nonce
        csp = DOCS_POLICY if scope["path"] in DOCS_PATHS else policy(nonce)
        credentialed = any(k.lower() in (b"cookie", b"authorization")
                           for k, _ in scope["headers"])
        started = False

        async def with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = csp
                headers["X-Frame-Options"] = "DENY"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
                if credentialed and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            # the server's own 500 page is made outside every middleware: answer it here so
            # that it carries the headers too, then let the error propagate to be logged
            if not started:
                await PlainTextResponse("Internal Server Error", 500)(scope, receive,
                                                                      with_headers)
            raise
