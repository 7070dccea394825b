"""Tables of the operational store (SQLAlchemy Core), portable between SQLite and PostgreSQL.

Only what a request must commit lives here; everything analytical is copied to the warehouse
(`store.copy_events_to_warehouse`). Timestamps are naive UTC, as in the warehouse (DESIGN §3).
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Index, Integer, MetaData,
                        String, Table, Text)

metadata = MetaData()

#: SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity for
#: an inbox that may hold billions of events. The variant gives each engine what it needs.
_BigId = BigInteger().with_variant(Integer(), "sqlite")

#: API keys (`um_<prefix>_<secret>`): only the SHA-256 of the whole key is kept, so a stolen
#: database does not hand out working keys; the prefix finds the row without scanning.
api_keys = Table(
    "api_keys", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),  # space separated, sorted
    Column("created", DateTime, nullable=False),
    Column("revoked", DateTime, nullable=True),
)

#: Every accepted event exactly once: `message_id` is unique, so a retried message is a no-op.
#: `id` grows monotonically and doubles as the copy watermark; `copied` marks what the
#: warehouse already holds.
event_inbox = Table(
    "event_inbox", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("message_id", String(200), nullable=False, unique=True),
    Column("type", String(16), nullable=False),
    Column("event", String(200)),
    Column("user_id", String(200)),
    Column("anonymous_id", String(200)),
    Column("ts", DateTime, nullable=False),
    Column("properties", JSON),
    Column("context", JSON),
    Column("received", DateTime, nullable=False),
    Column("copied", Boolean, nullable=False, default=False),
    Index("ix_event_inbox_copied", "copied", "id"),
    Index("ix_event_inbox_user", "user_id", "ts"),
    # a profile's recent events include those of the devices linked to the customer
    Index("ix_event_inbox_anonymous", "anonymous_id", "ts"),
)

#: anonymousId → userId, learnt from identify calls (the latest identify wins).
identities = Table(
    "identities", metadata,
    Column("anonymous_id", String(200), primary_key=True),
    Column("user_id", String(200), nullable=False),
    Column("ts", DateTime, nullable=False),
    Index("ix_identities_user", "user_id"),
)

#: Who read or exported whose personal data, and when (PIPL art. 55; DESIGN §4 privacy).
audit_log = Table(
    "audit_log", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("ts", DateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", Text),
    Column("detail", Text),
    Index("ix_audit_log_ts", "ts"),
)

SCOPES = ("collect", "read", "export", "admin")

#: The published run's customer profiles, one JSON document per customer, so the service answers
#: `GET /v1/customers/{id}` with one primary-key read instead of opening the warehouse (whose
#: read-only open alone costs ~100 ms). Replaced whole, in one transaction, at each publish
#: (`store.publish_profiles`); `run_id` says which run a document belongs to.
profiles = Table(
    "profiles", metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("doc", Text, nullable=False),  # JSON text: served as read, no JSON-type round trip
)

#: Consent given or withdrawn through the service (`/v1/consents`) or the CLI, per purpose and
#: channel; the latest row per (customer, purpose, channel) is in force. Like the event inbox it
#: is copied to the warehouse's `consents` table (`copied` marks what the warehouse holds), and
#: until then the privacy gate reads both, so a withdrawal counts from the moment it is stored.
consents = Table(
    "consents", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("customer_id", String(200), nullable=False),
    Column("purpose", String(50), nullable=False),
    Column("channel", String(50), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("source", String(200)),
    Column("received", DateTime, nullable=False),
    Column("copied", Boolean, nullable=False, default=False),
    Index("ix_consents_customer", "customer_id", "purpose", "channel", "ts"),
    Index("ix_consents_copied", "copied", "id"),
)
