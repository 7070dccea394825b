"""Opening the operational store and the few writes the service makes.

Durability is the contract of the collection API: a 2xx means the events are committed. On
SQLite that takes WAL mode with `synchronous=FULL` (WAL alone, at the default NORMAL, may lose
the last transactions on power loss; FULL syncs the log at every commit — see
https://www.sqlite.org/pragma.html#pragma_synchronous). Each request is one transaction, so a
batch is stored whole or not at all.

Idempotency is the database's job, not the application's: `INSERT … ON CONFLICT (message_id)
DO NOTHING` (both SQLite ≥ 3.24 and PostgreSQL) makes a retried message a no-op even when two
retries race each other in different processes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from upmarket.errors import UpmarketError
from upmarket.opstore.schema import SCOPES, api_keys, audit_log, event_inbox, identities, metadata

DEFAULT_URL = "sqlite:///./upmarket-ops.sqlite"
ENV_VAR = "UPMARKET_DATABASE"
KEY_PREFIX = "um"
#: How long a SQLite writer waits for another writer's lock before giving up (the service then
#: answers 503 with Retry-After: the client retries, nothing is lost).
BUSY_TIMEOUT_MS = 5000


class StoreError(UpmarketError):
    """The operational store cannot be opened or holds something unexpected."""


class BadScope(UpmarketError):
    pass


class UnknownKey(UpmarketError):
    pass


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def default_url() -> str:
    return os.environ.get(ENV_VAR) or DEFAULT_URL


@dataclass
class Store:
    """An open operational store: the SQLAlchemy engine and the URL it came from."""

    url: str
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str | None = None, *, create: bool = True) -> Store:
    """Open the operational store at `url` (default: UPMARKET_DATABASE or
    `sqlite:///./upmarket-ops.sqlite`) and create its tables.

    `postgresql://user@host:port/db` uses psycopg 3 (`postgresql+psycopg://` is implied).
    """
    url = url or default_url()
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"check_same_thread": False,
                                                         "timeout": BUSY_TIMEOUT_MS / 1000})
            _sqlite_pragmas(engine)
        else:
            engine = sa.create_engine(url, pool_pre_ping=True)
        if create:
            metadata.create_all(engine)
    except UpmarketError:
        raise
    except Exception as exc:  # the driver's own message says what is wrong
        raise StoreError(
            f"cannot open the operational database {url!r}: {exc}\n"
            f"Use sqlite:///path/ops.sqlite (default {DEFAULT_URL}) or "
            f"postgresql://user:password@host:port/dbname; set it with --database or {ENV_VAR}."
        ) from exc
    return Store(url, engine)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL + synchronous=FULL on every connection, and transactions SQLAlchemy controls.

    Python's sqlite3 module opens transactions lazily and commits on its own around DDL; with
    `isolation_level=None` it stays out of the way and the `begin` hook issues BEGIN, so a
    request's inserts really are one transaction (the recipe in SQLAlchemy's SQLite docs,
    "Serializable isolation / Savepoints / Transactional DDL").
    """

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN")


def _insert(store: Store, table: sa.Table):
    if store.dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif store.dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        raise StoreError(f"the operational store supports SQLite and PostgreSQL, not {store.dialect}")
    return insert(table)


# -- events ----------------------------------------------------------------------------------
def message_id_for(event: Mapping[str, Any]) -> str:
    """A message id for an event sent without one: a hash of its content, so that a client
    retrying the same body is still stored once."""
    body = json.dumps(event, sort_keys=True, default=str, ensure_ascii=False)
    return "h_" + hashlib.sha256(body.encode()).hexdigest()[:32]


def insert_events(store: Store, events: Iterable[Mapping[str, Any]]) -> int:
    """Store events (dicts with message_id, type, event, user_id, anonymous_id, ts, properties,
    context) in one transaction; messages already held are skipped. An identify carrying both
    ids records the anonymousId → userId link. Returns how many events were new."""
    now = now_utc()
    rows: dict[str, dict] = {}
    links: dict[str, dict] = {}
    for e in events:
        row = {"message_id": e["message_id"], "type": e["type"], "event": e.get("event"),
               "user_id": e.get("user_id"), "anonymous_id": e.get("anonymous_id"),
               "ts": e.get("ts") or now, "properties": e.get("properties") or {},
               "context": e.get("context") or {}, "received": now, "copied": False}
        rows.setdefault(row["message_id"], row)  # the first of two equal ids in one batch wins
        if row["type"] == "identify" and row["user_id"] and row["anonymous_id"]:
            links[row["anonymous_id"]] = {"anonymous_id": row["anonymous_id"],
                                          "user_id": row["user_id"], "ts": row["ts"]}
    if not rows:
        return 0
    stmt = _insert(store, event_inbox).on_conflict_do_nothing(
        index_elements=["message_id"]).returning(event_inbox.c.message_id)
    with store.engine.begin() as conn:
        inserted = conn.execute(stmt, list(rows.values())).fetchall()
        if links:
            up = _insert(store, identities)
            up = up.on_conflict_do_update(index_elements=["anonymous_id"],
                                          set_={"user_id": up.excluded.user_id,
                                                "ts": up.excluded.ts})
            conn.execute(up, list(links.values()))
    return len(inserted)


def resolve_user(store: Store, anonymous_id: str) -> str | None:
    """The user an anonymous id was identified as, if any."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(identities.c.user_id)
                            .where(identities.c.anonymous_id == anonymous_id)).scalar()


def recent_events(store: Store, user_id: str, *, limit: int = 10) -> list[dict]:
    """The user's latest events in the inbox, including those sent while anonymous and later
    stitched by an identify."""
    anon = sa.select(identities.c.anonymous_id).where(identities.c.user_id == user_id)
    e = event_inbox.c
    q = (sa.select(e.message_id, e.type, e.event, e.ts, e.properties)
         .where(sa.or_(e.user_id == user_id, e.anonymous_id.in_(anon)))
         .order_by(e.ts.desc(), e.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def count_events(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(event_inbox)).scalar())


# -- API keys --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    scopes: frozenset[str]
    created: datetime
    revoked: datetime | None = None

    def allows(self, scope: str) -> bool:
        """`admin` implies every scope and `export` implies `read` (exporting is reading in
        the clear); `collect` is write-only and implies nothing else."""
        return (scope in self.scopes or "admin" in self.scopes
                or (scope == "read" and "export" in self.scopes))


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_from_row(r) -> ApiKey:
    return ApiKey(int(r.id), r.name, r.prefix, frozenset(r.scopes.split()), r.created, r.revoked)


def create_key(store: Store, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """A new key with `scopes`; returns its record and the key itself, which is shown once and
    never stored (only its SHA-256 is). Keys are 256-bit random, so a plain SHA-256 suffices:
    slow password hashes guard guessable secrets, and these are not guessable."""
    scopes = sorted(set(scopes))
    bad = [s for s in scopes if s not in SCOPES]
    if not scopes or bad:
        raise BadScope(f"--scope must be one or more of {', '.join(SCOPES)}"
                       + (f", not {', '.join(map(repr, bad))}" if bad else ""))
    if not name.strip():
        raise BadScope("a key needs a name saying who or what uses it")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    created = now_utc().replace(microsecond=0)
    with store.engine.begin() as conn:
        new_id = conn.execute(api_keys.insert().values(
            name=name.strip(), prefix=prefix, hash=_hash(key), scopes=" ".join(scopes),
            created=created).returning(api_keys.c.id)).scalar_one()
    return ApiKey(int(new_id), name.strip(), prefix, frozenset(scopes), created), key


def verify_key(store: Store, key: str) -> ApiKey | None:
    """The key's record when `key` is a valid, unrevoked key; None otherwise. The hash is
    compared in constant time (hmac.compare_digest), so response timing does not reveal how
    much of a forged key was right."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or len(key) > 200:
        return None
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.prefix == parts[1])).first()
    if row is None or not hmac.compare_digest(row.hash, _hash(key)) or row.revoked is not None:
        return None
    return _key_from_row(row)


def list_keys(store: Store) -> list[ApiKey]:
    with store.engine.connect() as conn:
        return [_key_from_row(r) for r in conn.execute(sa.select(api_keys).order_by(api_keys.c.id))]


def revoke_key(store: Store, key_id: int) -> ApiKey:
    """Revoke a key at once (the next request with it is refused); revoking twice is harmless."""
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise UnknownKey(f"no API key with id {key_id}: see `upmarket keys list`")
        if row.revoked is None:
            conn.execute(api_keys.update().where(api_keys.c.id == key_id)
                         .values(revoked=now_utc().replace(microsecond=0)))
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
    return _key_from_row(row)


# -- audit -----------------------------------------------------------------------------------
def write_audit(store: Store, actor: str, action: str, subject: str, **detail) -> None:
    """Record who did what to whose data, when (committed before the data is returned)."""
    with store.engine.begin() as conn:
        conn.execute(audit_log.insert().values(
            ts=now_utc(), actor=actor, action=action, subject=subject,
            detail=json.dumps(detail, ensure_ascii=False, default=str)))


def read_audit(store: Store) -> pd.DataFrame:
    with store.engine.connect() as conn:
        return pd.read_sql(sa.select(audit_log).order_by(audit_log.c.id), conn)


# -- inbox → warehouse -----------------------------------------------------------------------
def copy_events_to_warehouse(store: Store, wh, *, chunk: int = 20_000):
    """Copy inbox events not yet copied into the warehouse `events` table, through ingestion
    (so they are validated, deduplicated by message_id and book-kept like any other source),
    then mark them copied. Returns the ingest reports, one per chunk.

    Idempotent and crash-safe: if the process dies between the ingest and the marking, the
    next copy offers the same events again and ingestion skips the message ids it holds.
    Anonymous events are attributed to the user their anonymousId was later identified as.
    """
    from upmarket.warehouse.ingest import ingest

    reports = []
    e = event_inbox.c
    while True:
        q = (sa.select(event_inbox, identities.c.user_id.label("stitched"))
             .select_from(event_inbox.outerjoin(
                 identities, identities.c.anonymous_id == e.anonymous_id))
             .where(e.copied == sa.false()).order_by(e.id).limit(chunk))
        with store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        if not rows:
            return reports
        reports.append(ingest("events", events_frame(rows), warehouse=wh, source="collector"))
        # mark exactly the ids read, not "everything up to the last id": PostgreSQL hands out
        # sequence numbers before commit, so a lower id may commit after a higher one was read
        ids = [r["id"] for r in rows]
        with store.engine.begin() as conn:
            for i in range(0, len(ids), 5000):
                conn.execute(event_inbox.update().where(e.id.in_(ids[i:i + 5000]))
                             .values(copied=True))


def events_frame(rows: list[dict]) -> pd.DataFrame:
    """Inbox rows in the warehouse `events` schema: customer_id is the userId, or the user the
    anonymousId was stitched to; utm_* come from Segment's `context.campaign`; the channel is
    `properties.channel`, else the campaign medium (utm_medium=email → channel email)."""
    out = []
    for r in rows:
        props = _as_dict(r.get("properties"))
        ctx = _as_dict(r.get("context"))
        camp = _as_dict(ctx.get("campaign"))
        out.append({
            "message_id": r["message_id"], "type": r["type"], "event": r.get("event"),
            "customer_id": r.get("user_id") or r.get("stitched"),
            "anonymous_id": r.get("anonymous_id"), "ts": r["ts"],
            "properties": json.dumps(props, ensure_ascii=False, default=str),
            "utm_source": _str(camp.get("source")), "utm_medium": _str(camp.get("medium")),
            "utm_campaign": _str(camp.get("name")),
            "channel": _str(props.get("channel")) or _str(camp.get("medium")),
            "campaign_id": _str(props.get("campaign_id")),
        })
    return pd.DataFrame(out, columns=["message_id", "type", "event", "customer_id",
                                      "anonymous_id", "ts", "properties", "utm_source",
                                      "utm_medium", "utm_campaign", "channel", "campaign_id"])


def _as_dict(v) -> dict:
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return {}
    return v if isinstance(v, dict) else {}


def _str(v) -> str | None:
    return None if v is None or v == "" else str(v)
