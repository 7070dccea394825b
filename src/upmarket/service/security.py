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
  The API docs (/docs, /redoc) load Swagger UI and ReDoc from the service itself (shipped in
  the package, no CDN) but start them with an inline script of FastAPI's, so they get a
  policy allowing inline script and style on those pages alone; they show the API's
  description and nothing from the store.
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

from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse

_NONCE = "csp_nonce"
#: The API docs pages (see the module docstring).
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
               "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")


_FIXED = ((b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"),
          (b"referrer-policy", b"strict-origin-when-cross-origin"))
_OURS = {b"content-security-policy", *(k for k, _ in _FIXED)}


def policy(nonce: str | None) -> str:
    """The policy; with `nonce`, inline scripts and styles carrying it may run as well."""
    own = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    return ("default-src 'self'; "
            f"script-src {own}; style-src {own}; "
            "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


_STRICT = policy(None).encode()
_DOCS = DOCS_POLICY.encode()


def csp_nonce(conn: HTTPConnection) -> str:
    """This response's nonce, for the `nonce` attribute of an inline script or style element.
    Made on first use, so that only pages with inline code pay for it and name it in their
    policy; the JSON API gets the policy without one."""
    state = conn.scope.setdefault("state", {})
    if _NONCE not in state:
        state[_NONCE] = secrets.token_urlsafe(16)  # 128 bits, as CSP Level 3 recommends
    return state[_NONCE]


class SecurityHeaders:
    """ASGI middleware adding the headers above; register it last (outermost)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # made here so that the routes' copies of the scope share it (`csp_nonce`)
        state = scope.setdefault("state", {})
        credentialed = any(k.lower() in (b"cookie", b"authorization")
                           for k, _ in scope["headers"])
        started = False

        async def with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                # raw header pairs rather than MutableHeaders, which parses and copies them:
                # this runs on every API call
                kept = [(k, v) for k, v in message.get("headers", ())
                        if k.lower() not in _OURS]
                nonce = state.get(_NONCE)
                csp = _DOCS if scope["path"] in DOCS_PATHS else \
                    policy(nonce).encode() if nonce else _STRICT
                added = [(b"content-security-policy", csp), *_FIXED]
                if credentialed and not any(k.lower() == b"cache-control" for k, _ in kept):
                    added.append((b"cache-control", b"no-store"))
                message = {**message, "headers": kept + added}
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
