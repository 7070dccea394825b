"""Cross-site request forgery defence for the dashboard's forms (OWASP Cross-Site Request
Forgery Prevention Cheat Sheet). Two independent checks, both required on every POST:

- Same origin ("Verifying Origin With Standard Headers"): the browser's `Origin` header (or,
  when a browser sends none, the origin of `Referer`) must be the service's own origin as the
  browser sees it (`origin.own_origin`). `Origin: null` — a sandboxed frame, a `data:` page —
  is foreign. A post carrying neither header goes on to the token check alone, which stops it
  all the same: some privacy tools strip both.
- A token in a hidden form field ("Synchronizer Token Pattern", its HMAC variant: nothing to
  store). Signed in, the token is an HMAC of the session cookie, so it is valid for that
  session only. Before signing in there is no session to bind to, so the login form uses the
  "Signed Double-Submit Cookie": a random value in an HttpOnly cookie of the login path and
  its HMAC in the form; another site can neither read the field nor compute it.

The JSON API (`/v1/…`) needs neither: it is authenticated by an `Authorization` header, which
a browser never attaches by itself to a request another site makes (unlike a cookie), and a
cross-origin script that sets it needs a CORS preflight this service never grants. CSRF rides
on credentials the browser sends on its own; bearer keys are not such credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from upmarket.service.origin import WebSettings, own_origin

#: The hidden field of every dashboard form.
FIELD = "csrf_token"
#: The login form's double-submit cookie (sent only to the login path).
LOGIN_COOKIE = "upmarket_login_csrf"
LOGIN_PATH = "/dashboard/login"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


class Csrf:
    """Tokens under a secret made at random when the app starts (like the session cookie's,
    see `sessions.py`: a restart invalidates open forms, which then say so)."""

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    def token(self, binding: str) -> str:
        return hmac.new(self._secret, f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()

    def valid(self, binding: str | None, token: str | None) -> bool:
        return bool(binding and token) and hmac.compare_digest(self.token(binding), token)

    @staticmethod
    def login_nonce(cookie: str | None) -> tuple[str, bool]:
        """The login form's cookie value: the browser's own if it holds a well-formed one (two
        tabs then share it), else a new one; and whether it is new (and must be set)."""
        if cookie and _NONCE.match(cookie):
            return cookie, False
        return secrets.token_urlsafe(32), True


def _normalised(origin: str) -> str:
    parts = urlsplit(origin.strip().lower())
    if not parts.scheme or not parts.netloc:
        return origin.strip().lower() or "null"
    host = parts.netloc
    default = {"http": ":80", "https": ":443"}.get(parts.scheme)
    if default and host.endswith(default):
        host = host.removesuffix(default)
    return f"{parts.scheme}://{host}"


def foreign_origin(conn: HTTPConnection, settings: WebSettings) -> str | None:
    """The origin a form post came from when it is not this service's own, else None (same
    origin, or a post that names no origin at all)."""
    sent = conn.headers.get("origin")
    if sent is None:
        referer = conn.headers.get("referer")
        if not referer:
            return None
        sent = referer
    sent = _normalised(sent)
    return None if sent == own_origin(conn, settings) else sent
