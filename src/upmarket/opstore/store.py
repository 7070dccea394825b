"""Opening the operational store and the few writes the service makes.

Durability is the contract of the collection API: a 2xx means the events are committed. On
SQLite that takes WAL mode with `synchronous=FULL` (WAL alone, at the default NORMAL, may lose
the last transactions on power loss; FULL syncs the log at every commit — see
https://www.sqlite.org/pragma.html#pragma_synchronous). Each request is one transaction, so a
batch is stored whole or not at all.

Idempotency is the database's job, not the application's: `INSERT … ON CONFLICT (message_id)
DO NOTHING` (both SQLite ≥ 3.24 and PostgreSQL) makes a retried message a no-op even when two
retries race each other in different processes.

The profiles snapshot follows the warehouse's published run. The warehouse and this store
cannot commit together, so publishing a run is ordered and every step leaves a state readers
can be served from, or one the next opener repairs:

1. the run's profile documents are written under its run id, with their `profile_snapshots`
   row, in one transaction (`write_snapshot`); the snapshot served is still the previous one;
2. the warehouse publishes the run in one transaction (`warehouse.runs.Run.publish`);
3. the store's pointer (`profile_snapshots.is_current`) is switched to the run in one
   transaction, and snapshots older than the previous one are deleted (`switch_snapshot`).

Killed before 2, the warehouse and the store both still show the previous run (the unserved
snapshot is deleted by a later switch). Killed between 2 and 3, the store serves the previous
run while the warehouse shows the new one, whose snapshot is complete here: the repair rule
(`align_snapshot`: serve the warehouse's current run if its snapshot is complete, otherwise
serve none, so readers fall back to the warehouse) is applied by the next `upmarket run` before
it starts and by `upmarket serve` when it starts. A service already running through such a
kill serves the previous run's profiles until one of those happens: the window is the instant
between two commits of one process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pydantic_core
import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine

from upmarket.errors import Msg, UpmarketError
from upmarket.locations import STORE_ENV, STORE_URL
from upmarket.opstore.migrate import add_missing_columns
from upmarket.opstore.read_connections import ThreadConnections, sqlite_file
from upmarket.opstore.schema import (SCOPES, api_keys, audit_log, event_inbox, identities, metadata,
                                     profile_snapshots, profiles)

DEFAULT_URL = STORE_URL
ENV_VAR = STORE_ENV
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
    #: per-thread connections for the per-request reads of a SQLite file (`_raw`)
    readers: ThreadConnections | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        if self.readers is not None:
            self.readers.close()
        self.engine.dispose()


def open_store(url: str | None = None, *, create: bool = True,
               existing: bool = False) -> Store:
    """Open the operational store at `url` (default: UPMARKET_DATABASE or
    `sqlite:///./upmarket-ops.sqlite`) and create its tables. With `existing`, a SQLite file
    that is not there is an error rather than a new empty store (for commands that only
    read it: a wrong path should say so, not leave an empty database behind).

    `postgresql://user@host:port/db` uses psycopg 3 (`postgresql+psycopg://` is implied).
    """
    url = url or default_url()
    if existing and url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and not os.path.exists(path):
            raise StoreError("err.no_store", path=path, env=ENV_VAR)
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
            add_missing_columns(engine, metadata)
    except UpmarketError:
        raise
    except Exception as exc:  # the driver's own message says what is wrong
        raise StoreError("err.store_unopened", url=url, reason=exc, default=DEFAULT_URL,
                         env=ENV_VAR) from exc
    path = sqlite_file(engine)
    return Store(url, engine, ThreadConnections(path, BUSY_TIMEOUT_MS) if path else None)


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


def _raw(store: Store, sql: str, params: tuple) -> list[tuple]:
    """Rows of `sql` run straight on a DB-API connection: for the per-request reads of the
    profile route, where SQLAlchemy's statement handling (~0.4 ms a query here, measured)
    would be most of the cost. A SQLite file is read on the calling thread's own connection
    (`read_connections`), anything else on a pooled one. `sql` uses `?` placeholders, turned
    into the driver's style."""
    if store.readers is not None:
        return store.readers.get().execute(sql, params).fetchall()
    if store.dialect != "sqlite":
        sql = sql.replace("?", "%s")
    conn = store.engine.raw_connection()
    try:
        cur = conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.close()
    finally:
        conn.close()  # back to the pool (which rolls back PostgreSQL's implicit transaction)


def _datetime(v) -> datetime | None:
    """A timestamp as SQLite's driver returns it (ISO text) or PostgreSQL's (datetime)."""
    return datetime.fromisoformat(v) if isinstance(v, str) else v


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
    rows = _raw(store, "SELECT message_id, type, event, ts, properties FROM event_inbox "
                "WHERE user_id = ? OR anonymous_id IN "
                "(SELECT anonymous_id FROM identities WHERE user_id = ?) "
                "ORDER BY ts DESC, id DESC LIMIT ?", (user_id, user_id, limit))
    return [{"message_id": m, "type": t, "event": e, "ts": _datetime(ts),
             "properties": _as_dict(props)} for m, t, e, ts, props in rows]


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
        raise BadScope("err.key_scope", choices=", ".join(SCOPES),
                       bad=Msg("err.key_scope_bad", bad=", ".join(map(repr, bad))) if bad
                       else "")
    if not name.strip():
        raise BadScope("err.key_name")
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
    rows = _raw(store, "SELECT id, name, prefix, hash, scopes, created, revoked FROM api_keys "
                "WHERE prefix = ?", (parts[1],))
    if not rows:
        return None
    i, name, prefix, hashed, scopes, created, revoked = rows[0]
    if not hmac.compare_digest(hashed, _hash(key)) or revoked is not None:
        return None
    return ApiKey(int(i), name, prefix, frozenset(scopes.split()), _datetime(created))


def key_by_id(store: Store, key_id: int) -> ApiKey | None:
    """The record of key `key_id` while it is not revoked (a dashboard session names its key
    by id; see service.sessions); None once revoked or unknown."""
    rows = _raw(store, "SELECT id, name, prefix, scopes, created FROM api_keys "
                "WHERE id = ? AND revoked IS NULL", (key_id,))
    if not rows:
        return None
    i, name, prefix, scopes, created = rows[0]
    return ApiKey(int(i), name, prefix, frozenset(scopes.split()), _datetime(created))


def list_keys(store: Store) -> list[ApiKey]:
    with store.engine.connect() as conn:
        return [_key_from_row(r) for r in conn.execute(sa.select(api_keys).order_by(api_keys.c.id))]


def revoke_key(store: Store, key_id: int) -> ApiKey:
    """Revoke a key at once (the next request with it is refused); revoking twice is harmless."""
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        if row is None:
            raise UnknownKey("err.unknown_key", key_id=key_id)
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


# -- profiles snapshot ----------------------------------------------------------------------
#: What a profile document holds besides customer_id: the run's results fields, copied as is.
PROFILE_FIELDS = ("tier", "rfm_segment", "rfm_cell", "lifecycle_stage", "clv", "p_alive",
                  "churn_risk", "churn_band")
#: The next best action's fields; both reasons are kept so the read picks one by language.
ACTION_FIELDS = ("action", "channel", "offer_type", "offer_value", "sku", "product_name",
                 "send_hour", "expected_value", "reason_en", "reason_zh")
#: The member's level and points on the run's date (the run's `member_levels`), so
#: `GET /v1/members/{id}` is one primary-key read too.
MEMBER_FIELDS = ("level", "previous_level", "change", "reason_en", "reason_zh",
                 "spend_window", "orders_window", "next_level", "spend_to_next",
                 "orders_to_next", "distance_en", "distance_zh", "points_balance",
                 "points_expiring", "expiring_at", "below_since", "grace_until")
#: Ingested events kept per customer in a profile document: the profile read's default page
#: (`service.profiles.RECENT_EVENTS`), so a default read never opens the warehouse; a read
#: asking for more goes to the warehouse only for a customer who has more.
PROFILE_EVENTS = 10


def _plain(v):
    """A JSON-ready Python value from a pandas/numpy cell (NaN, NaT and ±inf become None)."""
    if v is None or v is pd.NaT:
        return None
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (pd.Timestamp, datetime)):
        return v.isoformat()
    return v


def profile_documents(wh, run: Mapping[str, Any], at: datetime,
                      customer_id: str | None = None) -> pd.DataFrame:
    """One profile document per customer of `run` (a `current_run` row): customer_id, run_id,
    as_of, the results fields, the next best action (both reasons) and the marketing consents
    in force at `at` (`consents_at`), and their latest events in the warehouse
    (`ingested_events`, at most `PROFILE_EVENTS`; `ingested_events_more` when they have more),
    so a profile read need not open the warehouse for them. Every customer, or only `customer_id` when given — the
    same function serves the snapshot and the service's read of a single customer, so the two
    paths cannot drift apart. Returns customer_id and `doc` (a dict)."""
    from upmarket.features.engagement import consents_in_force
    from upmarket.warehouse.runs import output, output_table

    run_id = run["run_id"]
    res = output(wh, "results", run_id)
    cols = ["customer_id", *[f for f in PROFILE_FIELDS if f in res.columns]]
    res = res.select(*cols)
    if customer_id is not None:
        res = res.filter(res.customer_id == customer_id)
    frame = res.to_pandas()
    acts = pd.DataFrame(columns=["customer_id", *ACTION_FIELDS])
    if wh.has_table(output_table("actions", run_id)):
        a = output(wh, "actions", run_id)
        a = a.select("customer_id", *[f for f in ACTION_FIELDS if f in a.columns])
        if customer_id is not None:
            a = a.filter(a.customer_id == customer_id)
        # one action per customer (the strategy emits one); the first is the one shown
        acts = a.to_pandas().drop_duplicates("customer_id")
    members: dict[str, dict] = {}
    if wh.has_table(output_table("member_levels", run_id)):
        m = output(wh, "member_levels", run_id)
        m = m.select("customer_id", *[f for f in MEMBER_FIELDS if f in m.columns])
        if customer_id is not None:
            m = m.filter(m.customer_id == customer_id)
        members = {str(r["customer_id"]): {f: _plain(r.get(f)) for f in MEMBER_FIELDS}
                   for r in m.to_pandas().to_dict("records")}
        # the adjustments the run's ledger counted: the service adds only the others
        counted: dict[str, list[str]] = {}
        if wh.has_table(output_table("points_ledger", run_id)):
            led = output(wh, "points_ledger", run_id)
            led = led.filter(led.kind == "adjust")
            if customer_id is not None:
                led = led.filter(led.customer_id == customer_id)
            for cid, entry in led.select("customer_id", "entry_id").to_pandas().itertuples(
                    index=False):
                counted.setdefault(str(cid), []).append(str(entry).removeprefix("adjust:"))
        for cid, doc in members.items():
            doc["adjustments_counted"] = sorted(counted.get(cid, []))
    c = consents_in_force(wh.table("consents"), at)
    if customer_id is not None:
        c = c.filter(c.customer_id == customer_id)
    cons: dict[str, list[dict]] = {}
    c = c.to_pandas()  # once: each execution may return the rows in another order
    for cid, ch, g, ts in sorted(zip(c["customer_id"], c["channel"], c["granted"], c["ts"])):
        cons.setdefault(str(cid), []).append({"channel": str(ch), "granted": bool(g),
                                              "since": _plain(pd.Timestamp(ts))})
    events = _latest_events(wh, res.select("customer_id"), customer_id)
    act_by_id = {r["customer_id"]: r for r in acts.to_dict("records")}
    as_of, at_text = _plain(pd.Timestamp(run["as_of"])), _plain(pd.Timestamp(at))
    docs = []
    for r in frame.to_dict("records"):
        cid = str(r["customer_id"])
        doc = {"customer_id": cid, "run_id": run_id, "as_of": as_of}
        doc.update({f: _plain(r.get(f)) for f in PROFILE_FIELDS})
        if doc["rfm_cell"] is not None:
            doc["rfm_cell"] = str(doc["rfm_cell"])
        act = act_by_id.get(r["customer_id"])
        doc["next_best_action"] = None if act is None else {
            f: _plain(act.get(f)) for f in ACTION_FIELDS}
        if act is not None and doc["next_best_action"]["send_hour"] is not None:
            doc["next_best_action"]["send_hour"] = int(doc["next_best_action"]["send_hour"])
        doc["consents"] = cons.get(cid, [])
        doc["consents_at"] = at_text
        if cid in members:
            doc["membership"] = members[cid]
        held = events.get(cid, [])
        doc["ingested_events"] = held[:PROFILE_EVENTS]
        doc["ingested_events_more"] = len(held) > PROFILE_EVENTS
        docs.append(doc)
    return pd.DataFrame({"customer_id": [d["customer_id"] for d in docs], "doc": docs})


def _latest_events(wh, customers, customer_id: str | None) -> dict[str, list[dict]]:
    """The latest `PROFILE_EVENTS` + 1 events of each of `customers` (a table of customer_id)
    in the warehouse `events` table, newest first, ties by message id: the order and fields of
    the service's own read (`service.profiles.ingested_events`), so a profile shows the same
    events from the snapshot as from the warehouse. One windowed query, in the engine."""
    import ibis

    if not wh.has_table("events"):
        return {}
    t = wh.table("events")
    t = t.filter(t.customer_id.notnull())
    if customer_id is not None:
        t = t.filter(t.customer_id == customer_id)
    t = t.semi_join(customers, "customer_id")
    w = ibis.window(group_by=t.customer_id, order_by=[ibis.desc(t.ts), ibis.desc(t.message_id)])
    ranked = t.select("customer_id", "message_id", "type", "event", "ts",
                      rank=ibis.row_number().over(w))
    rows = (ranked.filter(ranked["rank"] <= PROFILE_EVENTS)
            .order_by(["customer_id", "rank"]).to_pyarrow())
    # Arrow's own conversion to Python lists: iterating a pandas frame of Arrow-backed
    # columns took half of the snapshot's time (measured at 20,000 customers)
    cols = [rows.column(c).to_pylist() for c in ("customer_id", "message_id", "type", "event",
                                                  "ts")]
    found: dict[str, list[dict]] = {}
    for cid, m, ty, e, ts in zip(*cols):
        found.setdefault(str(cid), []).append({
            "message_id": str(m), "type": str(ty), "event": None if e is None else str(e),
            "ts": (ts if type(ts) is datetime else pd.Timestamp(ts).to_pydatetime()).isoformat()})
    return found


def _upgrade_profiles(conn) -> None:
    """Replace a `profiles` table of the earlier layout (one snapshot, keyed by customer
    alone) by the current one, keyed by run and customer. Its documents are dropped, not
    carried over: no snapshot row vouches for them, and the run being published rewrites them
    (until then the service reads the warehouse)."""
    pk = sa.inspect(conn).get_pk_constraint(profiles.name)["constrained_columns"]
    if pk and "run_id" not in pk:
        profiles.drop(conn)
        profiles.create(conn)


def write_snapshot(store: Store, frame: pd.DataFrame, run_id: str, *,
                   chunk: int = 10_000) -> int:
    """Store `frame` (customer_id and `doc`, a dict or JSON text) as the profiles of run
    `run_id`, in one transaction with its `profile_snapshots` row: the row exists only once
    every document is there. Readers go on being served the current snapshot; `switch_snapshot`
    makes this one current. Bulk inserted (one executemany per `chunk` rows: SQLite's
    executemany, psycopg's pipelined insertmanyvalues). Returns the number of profiles."""
    missing = {"customer_id", "doc"} - set(frame.columns)
    if missing:
        raise StoreError(f"publish_profiles: the frame lacks column(s) {', '.join(sorted(missing))}"
                         "; build it with store.profile_documents")
    if frame["customer_id"].duplicated().any():
        dup = frame.loc[frame["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise StoreError(f"publish_profiles: customer_id {dup!r} appears twice; one profile per "
                         "customer")
    rows = [{"customer_id": str(cid), "run_id": run_id,
             "doc": doc if isinstance(doc, str) else
             json.dumps(doc, ensure_ascii=False, default=str, allow_nan=False)}
            for cid, doc in zip(frame["customer_id"], frame["doc"])]
    s = profile_snapshots.c
    with store.engine.begin() as conn:
        _upgrade_profiles(conn)
        # the same run written again (a retried publish) replaces its documents
        conn.execute(profiles.delete().where(profiles.c.run_id == run_id))
        conn.execute(profile_snapshots.delete().where(s.run_id == run_id))
        for i in range(0, len(rows), chunk):
            conn.execute(profiles.insert(), rows[i:i + chunk])
        conn.execute(profile_snapshots.insert().values(
            run_id=run_id, customers=len(rows), written=now_utc(), is_current=False))
    return len(rows)


def switch_snapshot(store: Store, run_id: str | None) -> None:
    """Make the complete snapshot of `run_id` the one served (None: serve none, so the
    service reads the warehouse), in one transaction, and delete the snapshots no longer
    needed: all but the new current one, the one current until now, and any written after the
    new one (a run being published by another process). `StoreError` if `run_id` has no
    complete snapshot."""
    s = profile_snapshots.c
    with store.engine.begin() as conn:
        held = {r.run_id: r for r in conn.execute(sa.select(profile_snapshots))}
        if run_id is not None and run_id not in held:
            raise StoreError(f"the operational store holds no complete profiles snapshot of "
                             f"run {run_id!r}: publish its profiles first (write_snapshot)")
        before = next((r for r, row in held.items() if row.is_current), None)
        conn.execute(profile_snapshots.update().values(is_current=s.run_id == run_id)
                     if run_id is not None else profile_snapshots.update().values(
                         is_current=False))
        if run_id is None:
            return
        written = held[run_id].written
        old = [r for r, row in held.items()
               if r not in (run_id, before) and row.written <= written]
        if old:
            conn.execute(profiles.delete().where(profiles.c.run_id.in_(old)))
            conn.execute(profile_snapshots.delete().where(s.run_id.in_(old)))


def discard_snapshot(store: Store, run_id: str) -> None:
    """Delete the snapshot of a run that will not be published (it failed), unless current."""
    s = profile_snapshots.c
    with store.engine.begin() as conn:
        if conn.execute(sa.select(s.is_current).where(s.run_id == run_id)).scalar():
            return
        conn.execute(profile_snapshots.delete().where(s.run_id == run_id))
        conn.execute(profiles.delete().where(profiles.c.run_id == run_id))


def publish_profiles(store: Store, frame: pd.DataFrame, run_id: str, *,
                     chunk: int = 10_000) -> int:
    """Store `frame` as the profiles of run `run_id` and serve them from now on:
    `write_snapshot`, then `switch_snapshot`. A reader sees the previous run's profiles or
    this one's, never a mix, and a refused or failed publish leaves the previous ones.
    Returns the number of profiles written."""
    n = write_snapshot(store, frame, run_id, chunk=chunk)
    switch_snapshot(store, run_id)
    return n


def align_snapshot(store: Store, run_id: str | None) -> str | None:
    """The repair rule: serve the snapshot of `run_id`, the warehouse's current run (None
    when it has none), if the store holds it complete; otherwise serve none, so that readers
    go to the warehouse rather than show another run. Returns the run now served."""
    current = profiles_run(store)
    if current == run_id:
        return current
    with store.engine.connect() as conn:
        complete = run_id is not None and conn.execute(
            sa.select(profile_snapshots.c.run_id)
            .where(profile_snapshots.c.run_id == run_id)).first() is not None
    switch_snapshot(store, run_id if complete else None)
    return run_id if complete else None


def read_profile(store: Store, customer_id: str) -> dict | None:
    """The profile document of `customer_id` in the snapshot served, or None when it has
    none for them (see `profiles_run` to tell "unknown customer" from "no snapshot")."""
    rows = _raw(store, "SELECT p.doc FROM profile_snapshots s JOIN profiles p "
                "ON p.run_id = s.run_id WHERE s.is_current = ? AND p.customer_id = ?",
                (True, customer_id))
    # pydantic's JSON parser: half the time of json.loads on a profile document (measured),
    # on every profile read
    return pydantic_core.from_json(rows[0][0]) if rows else None


def profiles_run(store: Store) -> str | None:
    """The run id of the snapshot served, None when there is none."""
    with store.engine.connect() as conn:
        return conn.execute(sa.select(profile_snapshots.c.run_id)
                            .where(profile_snapshots.c.is_current == sa.true())).scalar()


def snapshots(store: Store) -> pd.DataFrame:
    """The complete snapshots held: run_id, customers, written, is_current."""
    with store.engine.connect() as conn:
        return pd.read_sql(sa.select(profile_snapshots).order_by(profile_snapshots.c.written),
                           conn)


def store_configured() -> bool:
    """True when an operational store is configured (UPMARKET_DATABASE) or exists at its
    default place: the pipeline then keeps it up to date, and never creates an empty one."""
    default_file = DEFAULT_URL.removeprefix("sqlite:///")
    return bool(os.environ.get(ENV_VAR)) or os.path.exists(default_file)


def stage_run_profiles(wh, run: Mapping[str, Any], *, url: str | None = None,
                       at: datetime | None = None) -> int | None:
    """Write the profiles of `run` (run_id and as_of of a run whose outputs are written but
    not yet published) into the operational store at `url` (default: the configured one),
    consents in force at `at` (default: now), without serving them yet: the pipeline's step
    before it publishes the run in the warehouse. None, doing nothing, when no store is
    configured and no `url` is given; else the profiles written."""
    if url is None and not store_configured():
        return None
    frame = profile_documents(wh, run, at or now_utc())
    store = open_store(url)
    try:
        return write_snapshot(store, frame, run["run_id"])
    finally:
        store.close()


def discard_run_profiles(run_id: str, *, url: str | None = None) -> None:
    """Delete the staged snapshot of a run that failed before it was published
    (`discard_snapshot`), in the store at `url` (default: the configured one)."""
    if url is None and not store_configured():
        return
    store = open_store(url)
    try:
        discard_snapshot(store, run_id)
    finally:
        store.close()


def serve_run_profiles(wh, *, url: str | None = None) -> str | None:
    """Align the configured store's snapshot with the warehouse's current run
    (`align_snapshot`): right after the warehouse publishes, and by whoever opens the store
    after a process may have been killed between the two commits. Returns the run served,
    None also when no store is configured and no `url` is given."""
    from upmarket.errors import NoRun
    from upmarket.warehouse.runs import current_run

    if url is None and not store_configured():
        return None
    try:
        run_id = current_run(wh)["run_id"]
    except NoRun:
        run_id = None
    store = open_store(url)
    try:
        return align_snapshot(store, run_id)
    finally:
        store.close()


def publish_run_profiles(wh, run_id: str | None = None, *, url: str | None = None,
                         at: datetime | None = None) -> int | None:
    """Snapshot the profiles of published run `run_id` (default: the current one) into the
    operational store at `url` (default: the configured one), with consents in force at `at`
    (default: now), and serve them. Returns None, doing nothing, when no store is configured
    and no `url` is given; else the profiles written."""
    from upmarket.warehouse.runs import current_run
    from upmarket.warehouse.schema import RUNS

    if url is None and not store_configured():
        return None
    if run_id is None:
        run = current_run(wh)
    else:
        t = wh.table(RUNS.name)
        found = t.filter(t.run_id == run_id, t.status == "published").to_pandas()
        if found.empty:
            raise StoreError(f"no published run {run_id!r} to snapshot profiles from: "
                             "pass the id of a published run, or none for the current one")
        run = found.iloc[0].to_dict()
    frame = profile_documents(wh, run, at or now_utc())
    store = open_store(url)
    try:
        return publish_profiles(store, frame, run["run_id"])
    finally:
        store.close()


# -- inbox → warehouse -----------------------------------------------------------------------
def copy_events_to_warehouse(store: Store, wh, *, chunk: int = 20_000):
    """Copy inbox events not yet copied into the warehouse `events` table, through ingestion
    (so they are validated, deduplicated by message_id and book-kept like any other source),
    then mark them copied; users first seen in an identify call become customers (see
    `customers_frame`). Returns the ingest reports, events and customers, per chunk.

    Idempotent and crash-safe (`copy_marked`). Anonymous events are attributed to the user
    their anonymousId was later identified as.
    """
    from upmarket.warehouse.ingest import ingest

    e = event_inbox.c
    pending = (sa.select(event_inbox, identities.c.user_id.label("stitched"))
               .select_from(event_inbox.outerjoin(
                   identities, identities.c.anonymous_id == e.anonymous_id))
               .where(e.copied == sa.false()).order_by(e.id).limit(chunk))

    def take(rows: list[dict]) -> list:
        reports = [ingest("events", events_frame(rows), warehouse=wh, source="collector")]
        joined = customers_frame(rows)
        if len(joined):
            # only customers the warehouse does not hold yet are added: a key it already has
            # is kept as it is, so a CRM import stays the source of truth for known customers
            reports.append(ingest("customers", joined, warehouse=wh, source="collector",
                                  on_conflict="keep"))
        return reports

    return copy_marked(store, event_inbox, pending, take)


def copy_marked(store: Store, table: sa.Table, pending: sa.Select,
                take: Callable[[list[dict]], list]) -> list:
    """The store → warehouse copy of a table with an `id` and a `copied` flag: read a chunk of
    `pending` rows (a query for uncopied rows, ordered by id, limited to a chunk), hand them to
    `take` (which ingests them and returns its ingest reports), mark them copied; until none
    are left. Returns all the reports.

    Crash-safe: if the process dies between the ingest and the marking, the next copy offers
    the same rows again and ingestion skips the keys it holds. Exactly the ids read are
    marked, not "everything up to the last id": PostgreSQL hands out sequence numbers before
    commit, so a lower id may commit after a higher one was read."""
    reports = []
    while True:
        with store.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(pending)]
        if not rows:
            return reports
        reports.extend(take(rows))
        ids = [r["id"] for r in rows]
        with store.engine.begin() as conn:
            for i in range(0, len(ids), 5000):
                conn.execute(table.update().where(table.c.id.in_(ids[i:i + 5000]))
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


#: Segment's reserved identify traits (https://segment.com/docs/connections/spec/identify/
#: #traits) → warehouse `customers` columns.
_TRAITS = {"name": "name", "email": "email", "phone": "phone", "gender": "gender",
           "industry": "industry", "title": "occupation"}


def customers_frame(rows: list[dict]) -> pd.DataFrame:
    """Customers from the identify calls among inbox `rows`: one per userId, created at its
    first identify (or the `createdAt` trait), attributes from the latest identify's reserved
    traits (name, email, phone, gender, industry, title → occupation, address.country,
    birthday → birth_year). The campaign medium of the first identify is the acquisition
    channel, as a sign-up arriving from an email link was acquired by email."""
    found: dict[str, dict] = {}
    for r in sorted((r for r in rows if r["type"] == "identify" and r.get("user_id")),
                    key=lambda r: (r["ts"], r["id"])):
        traits, ctx = _as_dict(r.get("properties")), _as_dict(r.get("context"))
        row = found.setdefault(r["user_id"], {
            "customer_id": r["user_id"],
            "created_at": _str(traits.get("createdAt")) or r["ts"],
            "acquisition_channel": _str(_as_dict(ctx.get("campaign")).get("medium"))})
        row.update({col: _str(traits[t]) for t, col in _TRAITS.items() if _str(traits.get(t))})
        country = _str(_as_dict(traits.get("address")).get("country"))
        if country:
            row["country"] = country
        birthday = _str(traits.get("birthday"))
        if birthday and birthday[:4].isdigit():
            row["birth_year"] = int(birthday[:4])
    return pd.DataFrame(list(found.values()))


def _as_dict(v) -> dict:
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return {}
    return v if isinstance(v, dict) else {}


def _str(v) -> str | None:
    return None if v is None or v == "" else str(v)
