"""The suppression list: who was erased, so that they stay erased.

Erasure (`activation.erasure`) removes a person from both stores, but the files they came
from still exist, and their phone may still send events: without a list, the next `upmarket
ingest customers` of last month's CRM export brings them back. Every way data comes in
consults the list — file and frame ingestion (`warehouse.ingest`, hence also the copy of the
service's inbox and consents) and event collection (`service.app`) — and refuses the rows of
a listed person, counting them as suppressed.

The list holds no identifier, only HMAC-SHA256(key, kind ":" normalised identifier) for each
identifier of the person (customer id, e-mail lower-cased and trimmed, phone digits only,
device ids), under a key derived from the key file (`opstore.keyfile`) that lives outside
both databases: whoever copies the store learns neither who was erased nor, lacking the key,
can test a guess (OWASP Top 10 Privacy Risks P4; ICO guidance on the right to erasure:
"suppression" keeps the minimum needed to honour the erasure; PIPL art. 47).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from upmarket.errors import UpmarketError
from upmarket.opstore import keyfile
from upmarket.opstore.schema import suppression
from upmarket.opstore.store import Store, now_utc

LABEL = "upmarket suppression list v1"
KINDS = ("customer_id", "email", "phone", "device")
#: Columns of an ingested frame or an inbox row holding each kind of identifier.
COLUMNS = {"customer_id": ("customer_id", "user_id"), "email": ("email",),
           "phone": ("phone",), "device": ("anonymous_id",)}
#: Fewer digits than this is not a phone number that singles anyone out (an extension, a
#: placeholder such as "0"): not listed, not matched.
MIN_PHONE_DIGITS = 6
_NOT_DIGIT = re.compile(r"\D+")


class SuppressionKeyMismatch(UpmarketError):
    """The list was made with another key than the one found now."""


def normalise(kind: str, value) -> str | None:
    """The form an identifier is compared in: ids and devices trimmed, e-mail also
    lower-cased, phone digits only; None for an empty or unusable value."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    text = str(value).strip()
    if kind == "email":
        text = text.lower()
    elif kind == "phone":
        text = _NOT_DIGIT.sub("", text)
        if len(text) < MIN_PHONE_DIGITS:
            return None
    return text or None


@dataclass
class Keyed:
    """The list's key and what it is checked by."""

    key: bytes

    @property
    def check(self) -> str:
        return hmac.new(self.key, b"key check", hashlib.sha256).hexdigest()[:16]

    def digest(self, kind: str, value) -> str | None:
        norm = normalise(kind, value)
        if norm is None:
            return None
        return hmac.new(self.key, f"{kind}:{norm}".encode(), hashlib.sha256).hexdigest()


def _keyed(store: Store, *, create: bool = True) -> Keyed | None:
    material = keyfile.master_key(store.url, create=create)
    return None if material is None else Keyed(keyfile.derive(material, LABEL))


def _nonempty(store: Store) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(suppression.c.digest).limit(1)).first() is not None


def _verified(store: Store) -> Keyed:
    """The key, checked against the list's own record of it."""
    keyed = _keyed(store, create=False)
    with store.engine.connect() as conn:
        checks = {c for c, in conn.execute(sa.select(suppression.c.key_check).distinct())}
    if keyed is None or checks - {keyed.check}:
        raise SuppressionKeyMismatch("err.suppression_key", path=keyfile.key_path(store.url),
                                     env=keyfile.KEY_ENV)
    return keyed


def add(store: Store, identifiers: Mapping[str, Iterable]) -> int:
    """List a person by their identifiers (`{"customer_id": [...], "email": [...], ...}`);
    returns how many new entries were stored (an entry already listed is kept once)."""
    keyed = _verified(store) if _nonempty(store) else _keyed(store)
    now = now_utc()
    rows = {}
    for kind, values in identifiers.items():
        if kind not in KINDS:
            raise ValueError(f"unknown identifier kind {kind!r}: one of {', '.join(KINDS)}")
        for v in values:
            d = keyed.digest(kind, v)
            if d is not None:
                rows[d] = {"digest": d, "kind": kind, "key_check": keyed.check, "added": now}
    if not rows:
        return 0
    with store.engine.begin() as conn:
        held = {d for d, in conn.execute(sa.select(suppression.c.digest).where(
            suppression.c.digest.in_(list(rows))))}
        new = [r for d, r in rows.items() if d not in held]
        if new:
            conn.execute(suppression.insert(), new)
    return len(new)


def count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(suppression)).scalar())


#: Up to this many entries the whole list is read at once (a few MB at most); a longer one is
#: asked about the digests at hand, in chunks.
READ_WHOLE = 200_000


def _listed(store: Store, keyed: Keyed, digests: set[str]) -> set[str]:
    found: set[str] = set()
    pending = sorted(digests)
    with store.engine.connect() as conn:
        if len(pending) > 1000 and count(store) <= READ_WHOLE:
            return digests & {d for d, in conn.execute(sa.select(suppression.c.digest))}
        for i in range(0, len(pending), 5000):
            found |= {d for d, in conn.execute(sa.select(suppression.c.digest).where(
                suppression.c.digest.in_(pending[i:i + 5000])))}
    return found


def suppressed_rows(store: Store, frame: pd.DataFrame) -> pd.Series:
    """True for each row of `frame` naming a listed person in any identifier column it has
    (`COLUMNS`). Costs one indexed read when the list is empty."""
    hit = pd.Series(False, index=frame.index)
    if frame.empty or not _nonempty(store):
        return hit
    keyed = _verified(store)
    per_column = []
    for kind, cols in COLUMNS.items():
        for col in (c for c in cols if c in frame.columns):
            # hashed once per distinct value: an order file repeats each customer many times
            digests = {v: keyed.digest(kind, v) for v in frame[col].dropna().unique()}
            per_column.append((col, digests))
    if not per_column:
        return hit
    listed = _listed(store, keyed, {d for _, ds in per_column for d in ds.values()
                                    if d is not None})
    for col, digests in per_column:
        named = [v for v, d in digests.items() if d in listed]
        if named:
            hit |= frame[col].isin(named).to_numpy()
    return hit


def withhold(frame: pd.DataFrame, store: Store | None = None) -> tuple[pd.DataFrame, int]:
    """`frame` without the rows of listed people, and how many there were: what ingestion
    calls before validating, so nothing of them reaches the warehouse, not even the
    quarantine. `store`: the configured operational store (none configured: no list, nothing
    withheld)."""
    import os

    from upmarket.opstore.store import default_url, open_store, store_configured

    if store is None:
        url = default_url()
        path = url.removeprefix("sqlite:///")
        if not store_configured() or (url.startswith("sqlite:///") and path != ":memory:"
                                      and not os.path.exists(path)):
            return frame, 0  # no store, so nobody was erased through one: none made here
        store = open_store(url)
        try:
            return withhold(frame, store)
        finally:
            store.close()
    hit = suppressed_rows(store, frame)
    return frame[~hit.to_numpy()], int(hit.sum())


def withhold_events(store: Store, rows: list[dict]) -> tuple[list[dict], int]:
    """Inbox rows (`user_id`, `anonymous_id`, and traits in `properties`) without those of
    listed people, and how many there were."""
    if not rows or not _nonempty(store):
        return rows, 0
    frame = pd.DataFrame({
        "user_id": [r.get("user_id") for r in rows],
        "anonymous_id": [r.get("anonymous_id") for r in rows],
        "email": [_trait(r, "email") for r in rows],
        "phone": [_trait(r, "phone") for r in rows]})
    hit = suppressed_rows(store, frame).to_numpy()
    return [r for r, h in zip(rows, hit) if not h], int(hit.sum())


def _trait(row: dict, name: str):
    props = row.get("properties")
    return props.get(name) if isinstance(props, dict) else None
