"""Browser sessions for the dashboard: an API key is typed once into a login form, and the
browser then holds a signed, expiring session cookie instead of the key.

A browser cannot add `Authorization: Bearer` to a page load, and a key in the URL ends up in
history and server logs. The cookie holds `<key id>.<expiry>.<HMAC-SHA256 of both>` under a
secret made at random when the app starts (so a restart logs everyone out, and nothing secret
is stored); it is HttpOnly (scripts cannot read it) and SameSite=Strict (other sites cannot
make the browser send it). Every request re-checks that the key behind the session is still
valid, so revoking a key ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from upmarket.opstore import store as ops
from upmarket.opstore.store import ApiKey

COOKIE = "upmarket_session"
#: A working day: long enough not to interrupt, short enough that a forgotten browser expires.
LIFETIME_SECONDS = 12 * 3600


class Sessions:
    def __init__(self, store: ops.Store, *, lifetime: int = LIFETIME_SECONDS,
                 secret: bytes | None = None):
        self.store, self.lifetime = store, lifetime
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def issue(self, key: ApiKey, now: float | None = None) -> str:
        """The cookie value of a new session for `key`."""
        expires = int((time.time() if now is None else now) + self.lifetime)
        payload = f"{key.id}.{expires}"
        return f"{payload}.{self._sign(payload)}"

    def verify(self, cookie: str | None, now: float | None = None) -> ApiKey | None:
        """The key of a valid, unexpired session whose key is not revoked; None otherwise."""
        if not cookie or cookie.count(".") != 2:
            return None
        key_id, expires, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{key_id}.{expires}")):
            return None
        if not (key_id.isdigit() and expires.isdigit()):
            return None
        if int(expires) < (time.time() if now is None else now):
            return None
        return ops.key_by_id(self.store, int(key_id))
