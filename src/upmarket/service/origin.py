"""The origin a browser used to reach the service — scheme and host — and what follows from it:
whether cookies must be `Secure`, and which origin a form post must come from (`csrf.py`).

Behind a TLS-terminating proxy the service itself sees plain HTTP from the proxy; the proxy
says what the browser used in `X-Forwarded-Proto` (and `X-Forwarded-Host`). Anyone can send
those headers, so they count only when the operator says a proxy stands in front
(`upmarket serve --trust-proxy`, or UPMARKET_TRUST_PROXY=1): trusted blindly, a client on
plain HTTP could claim HTTPS. `--secure-cookies` (UPMARKET_SECURE_COOKIES=1) marks cookies
Secure whatever the request says, for a proxy that sends no such header (OWASP Session
Management Cheat Sheet, "Secure Attribute").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from starlette.requests import HTTPConnection

TRUST_PROXY_ENV = "UPMARKET_TRUST_PROXY"
SECURE_COOKIES_ENV = "UPMARKET_SECURE_COOKIES"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WebSettings:
    """How the service learns the browser's origin. Set on `app.state.web` (by `upmarket
    serve`); an app without it reads the environment."""

    trust_proxy: bool = False
    secure_cookies: bool = False

    @classmethod
    def from_env(cls) -> WebSettings:
        return cls(trust_proxy=_flag(os.environ.get(TRUST_PROXY_ENV)),
                   secure_cookies=_flag(os.environ.get(SECURE_COOKIES_ENV)))


def settings_of(conn: HTTPConnection) -> WebSettings:
    found = getattr(conn.app.state, "web", None)
    return found if isinstance(found, WebSettings) else WebSettings.from_env()


def _forwarded(conn: HTTPConnection, name: str) -> str | None:
    """The first (client-side) value of a proxy header: a chain of proxies appends to it."""
    first = (conn.headers.get(name) or "").split(",")[0].strip().lower()
    return first or None


def scheme(conn: HTTPConnection, settings: WebSettings) -> str:
    if settings.trust_proxy:
        proto = _forwarded(conn, "x-forwarded-proto")
        if proto in ("http", "https"):
            return proto
    return conn.url.scheme


def own_origin(conn: HTTPConnection, settings: WebSettings) -> str:
    """`scheme://host[:port]` as the browser typed it: what its `Origin` header says for a
    form of this service."""
    host = (_forwarded(conn, "x-forwarded-host") if settings.trust_proxy else None) \
        or (conn.headers.get("host") or "").strip().lower()
    s = scheme(conn, settings)
    # browsers leave the default port out of Origin; some clients put it in Host
    default = {"http": ":80", "https": ":443"}[s] if s in ("http", "https") else None
    if default and host.endswith(default):
        host = host.removesuffix(default)
    return f"{s}://{host}"


def cookie_secure(conn: HTTPConnection, settings: WebSettings) -> bool:
    return settings.secure_cookies or scheme(conn, settings) == "https"
