"""Browser sessions for the dashboard: an API key is typed once into a login form, and the
browser then holds a session cookie instead of the key.

A browser cannot add `Authorization: Bearer` to a page load, and a key in the URL ends up in
history and server logs. The cookie holds `<session id>.<HMAC-SHA256 of it>`: the id is 256-bit
random (OWASP Session Management Cheat Sheet, "Session ID Entropy") and names a row of the
operational store (`opstore.dashboard_sessions`) with its key, expiry and revocation, so
signing out ends the session on the server, not only in the browser. The HMAC, under a secret
made at random when the service starts (one for all its workers, `service.workers`), turns
away made-up cookies without a database read (and a restart logs everyone out; nothing secret
is stored). Every request re-checks the key behind
the session, so revoking a key ends its sessions at once; replacing a key means revoking the
old one, which does the same.

The cookie is HttpOnly (scripts cannot read it), SameSite=Strict (other sites cannot make the
browser send it) and Secure when the browser reached the service over HTTPS (`origin.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import UTC, datetime

from upmarket.opstore import dashboard_sessions as rows
from upmarket.opstore import store as ops
from upmarket.opstore.store import ApiKey

COOKIE = "upmarket_session"
#: A working day: long enough not to interrupt, short enough that a forgotten browser expires.
LIFETIME_SECONDS = 12 * 3600


def _utc(now: float | None) -> datetime:
    """Naive UTC, as the operational store keeps time."""
    return datetime.fromtimestamp(time.time() if now is None else now, UTC).replace(tzinfo=None)


class Sessions:
    def __init__(self, store: ops.Store, *, lifetime: int = LIFETIME_SECONDS,
                 secret: bytes | None = None):
        self.store, self.lifetime = store, lifetime
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def _session_id(self, cookie: str | None) -> str | None:
        """The session id of a cookie this app signed; None for anything else."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 200:
            return None
        session_id, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(session_id)):
            return None
        return session_id

    def issue(self, key: ApiKey, now: float | None = None) -> str:
        """The cookie value of a new session for `key`, recorded in the store."""
        session_id = secrets.token_urlsafe(32)  # 256 bits; '-' and '_' but never '.'
        created = _utc(now)
        rows.create_session(self.store, session_id, key.id, created,
                            _utc((time.time() if now is None else now) + self.lifetime))
        return f"{session_id}.{self._sign(session_id)}"

    def verify(self, cookie: str | None, now: float | None = None) -> ApiKey | None:
        """The key of a live session: signed here, recorded, not signed out, not expired, and
        its key not revoked; None otherwise."""
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        return rows.session_key(self.store, session_id, _utc(now))

    def revoke(self, cookie: str | None, now: float | None = None) -> bool:
        """End the session of `cookie` (signing out); False when it was not a live one."""
        session_id = self._session_id(cookie)
        return session_id is not None and rows.revoke_session(self.store, session_id, _utc(now))
