"""The operational store: the service's small transactional state (API keys, event inbox,
identities, audit log) in SQLite (WAL) by default or PostgreSQL by URL, through SQLAlchemy Core
(DESIGN §2, engine choice). The warehouse is for analysis; this is for what must be committed
durably, one request at a time."""

from upmarket.opstore.store import Store, open_store

__all__ = ["Store", "open_store"]
