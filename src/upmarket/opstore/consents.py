"""Consent given or withdrawn through the service (`POST /v1/consents`) or the CLI, kept in the
operational store until the pipeline copies it to the warehouse (DESIGN §4 privacy; the key-account strategy course's
data security).

PIPL asks for consent per purpose (art. 14: "specific"; art. 29/23 separate consent for
sensitive data and for sharing) and lets a person withdraw it at any time, easily (art. 15).
So a consent is a row per (customer, purpose, channel), the latest row in force, and a
withdrawal must count from the moment it is committed — not from the next copy to the
warehouse, which may be hours away. That is why the privacy gate (`activation.privacy`) reads
the warehouse's history *and* the rows still pending here, and why `record_consents` answers
only once its transaction is committed.

A consent cannot take effect before it is known: a `ts` a client sends a little ahead of our
clock (≤ `MAX_CLOCK_SKEW`) is stored as the time of receipt, one further ahead is refused —
otherwise a withdrawal dated tomorrow would leave the grant in force until then.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from upmarket.errors import Joined, Msg, UpmarketError
from upmarket.opstore.schema import consents
from upmarket.opstore.store import Store, _insert, copy_marked, now_utc
from upmarket.opstore.suppression import suppressed_rows

#: The warehouse `consents` columns (DESIGN §3); the store adds received and copied.
COLUMNS = ("customer_id", "purpose", "channel", "granted", "ts", "source")
#: Purposes and channels are short lower-case names (`marketing`, `email`, `app_push`): the
#: gate matches them exactly, so "Email " and "email" must not become two channels.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{0,49}$"
_NAME = re.compile(NAME_PATTERN)
#: How far ahead of the server's clock a client's `ts` may be (clock drift, not intent).
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Years a consent may be dated in, as for events (`service.models.YEARS`).
YEARS = (2000, 2100)
MAX_ID = 200


class BadConsent(UpmarketError):
    """A consent row that cannot be stored: `name` is the offending field, `index` the row's
    position when several were sent, `field` both together (`[2].channel`)."""

    def __init__(self, reason: str | Msg, name: str, index: int | None = None):
        self.name, self.index, self.reason = name, index, reason
        self.field = _field(index, name)
        # the field by its name in the reader's language, after its position when several
        shown = Msg(f"err.consent.field.{name}")
        super().__init__("err.field_reason", reason=reason,
                         field=shown if index is None else Joined("", [f"[{index}].", shown]))


@dataclass(frozen=True)
class RecordReport:
    received: int
    stored: int


def _field(i: int | None, name: str) -> str:
    return name if i is None else f"[{i}].{name}"


def _utc(value: Any, index: int | None) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadConsent(Msg("err.consent.time", value=value), "ts", index) from None
    elif isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise BadConsent(Msg("err.consent.not_time", kind=type(value).__name__), "ts", index)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise BadConsent(Msg("err.consent.years", first=YEARS[0], last=YEARS[1]), "ts", index)
    return value


def validate(row: Mapping[str, Any], *, now: datetime, index: int | None = None,
             default_source: str | None = None) -> dict:
    """One consent as stored: ids and names checked, purpose and channel lower-cased, `ts`
    naive UTC (default `now`, never after it). Raises `BadConsent` naming the field."""
    if not isinstance(row, Mapping):
        raise BadConsent(Msg("err.consent.object"), "body", index)
    cid = row.get("customer_id")
    if not isinstance(cid, str) or not cid.strip() or len(cid) > MAX_ID or "\x00" in cid:
        raise BadConsent(Msg("err.consent.id", most=MAX_ID), "customer_id", index)
    out = {"customer_id": cid.strip()}
    for name in ("purpose", "channel"):
        v = row.get(name)
        v = v.strip().lower() if isinstance(v, str) else v
        if not isinstance(v, str) or not _NAME.match(v):
            raise BadConsent(Msg("err.consent.name", value=v, name=name), name, index)
        out[name] = v
    granted = row.get("granted")
    if not isinstance(granted, bool):
        raise BadConsent(Msg("err.consent.granted"), "granted", index)
    out["granted"] = granted
    ts = row.get("ts")
    ts = now if ts is None else _utc(ts, index)
    if ts > now + MAX_CLOCK_SKEW:
        raise BadConsent(Msg("err.consent.future", ts=f"{ts:%Y-%m-%d %H:%M:%S}"), "ts", index)
    out["ts"] = min(ts, now)
    source = row.get("source") or default_source
    if source is not None and (not isinstance(source, str) or len(source) > MAX_ID
                               or "\x00" in source):
        raise BadConsent(Msg("err.consent.source", most=MAX_ID), "source", index)
    out["source"] = source
    return out


def _key(r: Mapping) -> tuple:
    return r["customer_id"], r["purpose"], r["channel"], r["ts"]


def record_consents(store: Store, rows: Iterable[Mapping[str, Any]] | Mapping[str, Any], *,
                    default_source: str | None = None) -> RecordReport:
    """Store consents (one mapping or several) in one transaction: all or none.

    Each row is validated (`validate`); the warehouse's key (customer, purpose, channel, ts)
    must stay a key, so a row equal to one already held is a retry and skipped, and a row with
    the same key but the other `granted` is refused (send a later ts). Returns how many were
    received and how many were new."""
    if isinstance(rows, Mapping):
        rows = [rows]
    rows = list(rows)
    if not rows:
        raise BadConsent(Msg("err.consent.none"), "body")
    now = now_utc()
    clean: dict[tuple, dict] = {}
    where: dict[tuple, int] = {}  # a key's position in the request, to name it in an error
    for i, r in enumerate(rows):
        v = validate(r, now=now, index=i if len(rows) > 1 else None,
                     default_source=default_source)
        held = clean.get(_key(v))
        if held is not None and held["granted"] != v["granted"]:
            raise BadConsent(Msg("err.consent.contradicts"), "granted",
                             i if len(rows) > 1 else None)
        clean.setdefault(_key(v), v)
        where.setdefault(_key(v), i)
    c = consents.c
    customers = sorted({k[0] for k in clean})
    new = [{**v, "received": now, "copied": False} for v in clean.values()]
    # an erased person's consent is not kept: nobody may contact them, and their id must not
    # come back into the store (opstore.suppression)
    erased = suppressed_rows(store, pd.DataFrame({"customer_id": [v["customer_id"]
                                                                  for v in new]}))
    new = [v for v, gone in zip(new, erased) if not gone]
    if not new:
        return RecordReport(len(rows), 0)
    with store.engine.begin() as conn:
        # write first, then read: the insert takes the write lock at once (a read-then-write
        # transaction can deadlock against another writer on SQLite), and the unique key
        # makes a row already held — a retry, or a racing request's — a no-op
        conn.execute(_insert(store, consents).on_conflict_do_nothing(
            index_elements=["customer_id", "purpose", "channel", "ts"]), new)
        held = {}
        for i in range(0, len(customers), 500):
            q = sa.select(c.customer_id, c.purpose, c.channel, c.ts, c.granted,
                          c.received).where(c.customer_id.in_(customers[i:i + 500]))
            held.update({(r.customer_id, r.purpose, r.channel, _naive(r.ts)):
                         (r.granted, _naive(r.received)) for r in conn.execute(q)})
        for v in new:
            k = _key(v)
            if held[k][0] != v["granted"]:  # raising rolls the whole request back
                raise BadConsent(Msg("err.consent.opposite", customer=k[0], purpose=k[1],
                                      channel=k[2], ts=f"{k[3]:%Y-%m-%d %H:%M:%S.%f}"),
                                 "granted", where[k] if len(rows) > 1 else None)
    # ours are the rows received at this request's `now` (executemany's rowcount is not
    # reliable across drivers)
    new = [v for v in new if held[_key(v)][1] == now]
    return RecordReport(len(rows), len(new))


def _naive(v) -> datetime:
    return datetime.fromisoformat(v) if isinstance(v, str) else v


def history(store: Store, customer_id: str | None = None, *,
            pending_only: bool = False) -> pd.DataFrame:
    """Consent rows held in the store (of one customer, or all; only those not yet copied to
    the warehouse with `pending_only`), oldest first: the warehouse columns plus received and
    copied."""
    c = consents.c
    q = sa.select(*[c[n] for n in COLUMNS], c.received, c.copied).order_by(c.ts, c.id)
    if customer_id is not None:
        q = q.where(c.customer_id == customer_id)
    if pending_only:
        q = q.where(c.copied == sa.false())
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    frame = pd.DataFrame(rows, columns=[*COLUMNS, "received", "copied"])
    return frame.astype({"granted": bool, "copied": bool})


def latest_by_channel(store: Store, customer_id: str, purpose: str = "marketing"
                      ) -> dict[str, tuple[bool, datetime]]:
    """channel → (granted, ts) of the customer's latest consent for `purpose` recorded in the
    store, for the profile route's read (one indexed query on the raw connection: see
    `store._raw`); on a tie in time the withdrawal wins, as in `in_force`."""
    from upmarket.opstore.store import _datetime, _raw

    rows = _raw(store, "SELECT channel, granted, ts FROM consents WHERE customer_id = ? "
                "AND purpose = ? ORDER BY ts, granted DESC, id", (customer_id, purpose))
    return {ch: (bool(g), _datetime(ts)) for ch, g, ts in rows}  # the last row per channel wins


def pending(store: Store) -> pd.DataFrame:
    """Consents the warehouse does not hold yet: what the privacy gate must add to it."""
    return history(store, pending_only=True)


def in_force(rows: pd.DataFrame, at: datetime, purpose: str | None = None) -> pd.DataFrame:
    """The latest row per (customer, purpose, channel) dated before `at` — the rule of
    `features.engagement.consents_in_force`, over a frame (one person's union of warehouse and
    store history). When two rows share a time, the withdrawal wins: doubt means no consent."""
    r = rows[pd.to_datetime(rows["ts"]) < pd.Timestamp(at)]
    if purpose is not None:
        r = r[r["purpose"] == purpose]
    r = r.sort_values(["ts", "granted"], ascending=[True, False], kind="stable")
    return r.drop_duplicates(["customer_id", "purpose", "channel"], keep="last").sort_values(
        ["customer_id", "purpose", "channel"]).reset_index(drop=True)


def copy_consents_to_warehouse(store: Store, wh, *, chunk: int = 20_000):
    """Copy consents not yet copied into the warehouse `consents` table through ingestion
    (validated, deduplicated on the table's key, book-kept), then mark them copied. Returns
    the ingest reports, one per chunk.

    Idempotent and crash-safe: see `store.copy_marked`.
    """
    from upmarket.warehouse.ingest import ingest

    if not sa.inspect(store.engine).has_table(consents.name):
        return []  # a store made before consents existed (opened without create)
    c = consents.c
    pending = (sa.select(c.id, *[c[n] for n in COLUMNS]).where(c.copied == sa.false())
               .order_by(c.id).limit(chunk))

    def take(rows: list[dict]) -> list:
        frame = pd.DataFrame(rows, columns=["id", *COLUMNS]).drop(columns="id")
        frame["ts"] = pd.to_datetime(frame["ts"])
        return [ingest("consents", frame, warehouse=wh, source="collector:consents")]

    return copy_marked(store, consents, pending, take)
