"""Dashboard sign-ins in the operational store (table `dashboard_sessions`), so that signing
out or revoking a key ends a browser's access on the server, not merely in the browser
(OWASP Session Management Cheat Sheet: "Session Expiration", "Manual Session Expiration").

Rows are found by the SHA-256 of the session id, never by the id itself. The id is 256-bit
random, so a plain hash suffices (as for API keys, `store.create_key`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa

from upmarket.opstore.schema import api_keys, dashboard_sessions
from upmarket.opstore.store import ApiKey, Store


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create_session(store: Store, session_id: str, key_id: int, created: datetime,
                   expires: datetime) -> None:
    """Record a new session of key `key_id`, and delete the sessions expired by `created`:
    sign-ins are rare, so purging as they happen keeps the table to the live ones without a
    job of its own."""
    with store.engine.begin() as conn:
        conn.execute(dashboard_sessions.delete().where(dashboard_sessions.c.expires <= created))
        conn.execute(dashboard_sessions.insert().values(
            id_hash=id_hash(session_id), key_id=key_id, created=created, expires=expires))


def session_key(store: Store, session_id: str, at: datetime) -> ApiKey | None:
    """The key of session `session_id` if the session exists, is neither revoked nor expired
    at `at`, and its key is not revoked (one indexed read); None otherwise."""
    s, k = dashboard_sessions.c, api_keys.c
    query = (sa.select(k.id, k.name, k.prefix, k.scopes, k.created)
             .select_from(dashboard_sessions.join(api_keys, k.id == s.key_id))
             .where(s.id_hash == id_hash(session_id), s.revoked.is_(None), s.expires > at,
                    k.revoked.is_(None)))
    with store.engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return ApiKey(int(row.id), row.name, row.prefix, frozenset(row.scopes.split()), row.created)


def revoke_session(store: Store, session_id: str, at: datetime) -> bool:
    """Mark the session revoked at `at`; False when there was no live one to revoke."""
    s = dashboard_sessions.c
    with store.engine.begin() as conn:
        done = conn.execute(dashboard_sessions.update()
                            .where(s.id_hash == id_hash(session_id), s.revoked.is_(None))
                            .values(revoked=at))
    return done.rowcount > 0
