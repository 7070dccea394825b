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

#: Dashboard sign-ins (`service.sessions`). The cookie carries a random 256-bit id; only its
#: SHA-256 is kept, so a copy of the database cannot be replayed as cookies. A row ends at
#: `expires` or when `revoked` is set (sign-out); the key behind it is checked on every
#: request as well, so revoking the key ends all its rows at once. Expired rows are deleted
#: as new ones are made.
dashboard_sessions = Table(
    "dashboard_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("key_id", BigInteger, nullable=False),
    Column("created", DateTime, nullable=False),
    Column("expires", DateTime, nullable=False),
    Column("revoked", DateTime, nullable=True),
    Index("ix_dashboard_sessions_key", "key_id"),
    Index("ix_dashboard_sessions_expires", "expires"),
)

#: Customer profiles of published runs (and of the run being published), one JSON document per
#: customer and run, so the service answers `GET /v1/customers/{id}` with one primary-key read
#: instead of opening the warehouse (whose read-only open alone costs ~100 ms). A run's
#: documents are written before the warehouse publishes it and become the ones served when
#: `profile_snapshots` marks that run current (`store` module docstring: the protocol).
profiles = Table(
    "profiles", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("customer_id", String(200), primary_key=True),
    Column("doc", Text, nullable=False),  # JSON text: served as read, no JSON-type round trip
    # erasure deletes a person's documents of every run by customer_id
    Index("ix_profiles_customer", "customer_id"),
)

#: One row per complete profiles snapshot (written in the transaction that writes its
#: documents, so a row means every document is there); `is_current` marks the one served, at most
#: one row at a time: the store's current-run pointer.
profile_snapshots = Table(
    "profile_snapshots", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("customers", Integer, nullable=False),
    Column("written", DateTime, nullable=False),
    Column("is_current", Boolean, nullable=False, default=False),
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
    # the warehouse's key: unique here too, so two racing retries store one row (the insert
    # is ON CONFLICT DO NOTHING) and contradicting ones cannot both land
    Index("ix_consents_customer", "customer_id", "purpose", "channel", "ts", unique=True),
    Index("ix_consents_copied", "copied", "id"),
)

#: Points adjustments made by hand (`POST /v1/points/adjust`): a goodwill credit, a correction.
#: Append-only; `request_id` is the client's idempotency key, unique, so a retried request
#: (even two racing retries) stores one row. `ts` is when the adjustment takes effect, which a
#: run's points ledger counts when it is before the run's date (`membership.ledger`);
#: `received` is when the service stored it.
points_adjustments = Table(
    "points_adjustments", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(100), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("actor", String(300), nullable=False),
    Column("received", DateTime, nullable=False),
    Index("ix_points_adjustments_request", "request_id", unique=True),
    Index("ix_points_adjustments_customer", "customer_id", "ts"),
)

# -- automation: rules fire alerts, alerts make tasks, webhooks and exports (DESIGN §4, dynamic
#    tuning triggers, the marketing-plan framework's 动态调优触发机制). Every table names the person `customer_id`,
#    so erasing a person finds their rows by that one name.

#: One row per alert fired. `dedup_key` (a hash of rule, subject and what was evaluated: the
#: run id or the event's message id) is unique, so evaluating the same run or event again is a
#: no-op even from two processes at once. `subject` is what the alert is about: a customer id,
#: or a KPI and its group (`channel_roi:wechat`); `customer_id` is set only for a customer.
alerts = Table(
    "alerts", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("rule", String(200), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("customer_id", String(200)),
    Column("fired", DateTime, nullable=False),
    # the moment of the data the alert is about: the run's as-of, or the event's time; the
    # wall clock (`fired`) says when it was raised, which for historical data is much later
    Column("data_time", DateTime),
    Column("severity", String(20), nullable=False),
    Column("source", String(16), nullable=False),  # run | event
    Column("run_id", String(64)),
    Column("detail", Text, nullable=False),  # JSON text: the values that made the rule fire
    Column("dedup_key", String(64), nullable=False, unique=True),
    Index("ix_alerts_rule_fired", "rule", "fired"),
    Index("ix_alerts_fired", "fired"),
    Index("ix_alerts_customer", "customer_id"),
)

#: When each rule last fired for each subject: the cooldown. A separate row per (rule,
#: subject) lets firing be one conditional upsert (`ON CONFLICT … DO UPDATE … WHERE
#: last_fired <= now − cooldown`), which the database serialises, so two processes evaluating
#: the same customer at once cannot both fire within the cooldown.
alert_cooldowns = Table(
    "alert_cooldowns", metadata,
    Column("rule", String(200), primary_key=True),
    Column("subject", String(400), primary_key=True),
    Column("customer_id", String(200)),
    Column("last_fired", DateTime, nullable=False),
    Index("ix_alert_cooldowns_customer", "customer_id"),
)

#: Every action an alert set off, automated or not: a person's task (`kind` task, due within
#: the customer's tier response time), a webhook delivery, an export. The marketing-automation
#: rate (the upward-marketing guide: automated tasks done ÷ all tasks) and task response times are read from
#: here (through the warehouse copy, `opstore.automation.copy_tasks_to_warehouse`).
#: status: open → done, or failed (a webhook that gave up).
tasks = Table(
    "tasks", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("rule", String(200), nullable=False),
    Column("kind", String(16), nullable=False),  # task | webhook | export
    Column("automated", Boolean, nullable=False),
    Column("customer_id", String(200)),
    Column("tier", String(20)),
    Column("assignee", String(200)),
    Column("title", Text, nullable=False),
    Column("created", DateTime, nullable=False),
    Column("due", DateTime, nullable=False),
    Column("completed", DateTime),
    Column("data_time", DateTime),  # its alert's data time (see alerts)
    Column("status", String(16), nullable=False, default="open"),
    Column("detail", Text),  # JSON text: the action's settings and outcome
    # what the person who did it reports: reached | not_reached | converted (worklists)
    Column("outcome", String(20)),
    Index("ix_tasks_status_due", "status", "due"),
    Index("ix_tasks_assignee", "assignee", "status"),
    Index("ix_tasks_alert", "alert_id"),
    Index("ix_tasks_customer", "customer_id"),
)

#: The people customers are assigned to (DESIGN §4, account managers and the sales team),
#: loaded by `upmarket ingest account_managers` (`activation.assignment`). `tiers` and
#: `regions` are space-separated lists of what the person covers (empty: any). A manager the
#: latest file no longer lists is kept, inactive, because tasks still name them.
account_managers = Table(
    "account_managers", metadata,
    Column("email", String(320), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tiers", String(200), nullable=False, default=""),
    Column("regions", Text, nullable=False, default=""),
    Column("active", Boolean, nullable=False, default=True),
    Column("updated", DateTime, nullable=False),
)

#: Customers explicitly assigned to a manager: these win over the tier and region rules.
#: One manager per customer (the key), so an assignment is never ambiguous.
account_assignments = Table(
    "account_assignments", metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("manager", String(320), nullable=False),  # account_managers.email
    Column("updated", DateTime, nullable=False),
    Index("ix_account_assignments_manager", "manager"),
)

#: Webhook deliveries still to make, or made (the transactional outbox: the alert, its task and
#: the message to send commit together, and a deliverer sends what is due, retrying with
#: backoff). `body` is the exact JSON sent at every attempt; the signature is made per attempt
#: over a fresh timestamp. status: pending → delivered, or failed (gave up).
webhook_outbox = Table(
    "webhook_outbox", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigInteger, nullable=False),
    Column("task_id", BigInteger, nullable=False),
    Column("customer_id", String(200)),
    Column("url", Text, nullable=False),
    Column("secret_env", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    Column("next_attempt", DateTime, nullable=False),
    Column("delivered", DateTime),
    Column("status", String(16), nullable=False, default="pending"),
    Column("last_status", Integer),
    Column("last_error", Text),
    Index("ix_webhook_outbox_due", "status", "next_attempt"),
    Index("ix_webhook_outbox_customer", "customer_id"),
)

#: People who were erased, so that they stay erased: re-ingesting an old export or a device
#: still sending events must not bring them back (PIPL art. 47; GDPR art. 17 and its recital
#: 66 on keeping erasure effective). Only a keyed hash of each identifier is kept (`digest`,
#: HMAC-SHA256 under a key kept outside both databases, `opstore.suppression`), never the
#: identifier: the list cannot be read back into who was erased, only asked "is this one?".
#: `key_check` tells which key the digest was made with, so a lost or replaced key is noticed
#: instead of silently letting everyone back in.
suppression = Table(
    "suppression", metadata,
    Column("digest", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # customer_id | email | phone | device
    Column("key_check", String(16), nullable=False),
    Column("added", DateTime, nullable=False),
)
