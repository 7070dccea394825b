"""The privacy gate: consent checked at the moment data leaves, pseudonymised ids, an audit
trail (PIPL art. 13–14 consent, art. 51 pseudonymisation as a security measure, art. 55
records; the key-account strategy course's data security).

Consent is checked when the data leaves, not when the run was computed: a customer who
withdrew consent after the run must not receive the action the run proposed. Nor after the
withdrawal was stored and before it reached the warehouse: the gate reads the warehouse's
consent history together with the rows the operational store has not copied yet
(`consent_history`), so a withdrawal counts from the moment it is committed (PIPL art. 15:
withdrawal at any time). A person who was erased (`activation.erasure`) is never consented,
whatever their old rows say.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
from datetime import datetime, timezone

import ibis
import pandas as pd

from upmarket.features.engagement import consents_in_force
from upmarket.warehouse.connection import Warehouse

KEY_ENV = "UPMARKET_PSEUDONYM_KEY"
_KEY_NAME = "pseudonym_key"
#: What an erased person's id is replaced by: `erased_` and random hex (`activation.erasure`).
ERASED_PREFIX = "erased_"
_CONSENT_COLUMNS = ("customer_id", "purpose", "channel", "granted", "ts", "source")


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def pseudonym_key(wh: Warehouse | None = None, *, store_url: str | None = None,
                  create: bool = True) -> bytes:
    """The pseudonymisation key, so the same customer gets the same pseudonym in every export
    and lists can be matched up without revealing who is who. It is kept outside the
    warehouse (`opstore.keyfile`: UPMARKET_PSEUDONYM_KEY, else a 0600 key file beside the
    operational store at `store_url`, default the configured one), so a copy of the warehouse
    alone cannot turn pseudonyms back into ids.

    A key an older version kept in the warehouse's `system_keys` is moved to the key file
    (when there is none yet), so pseudonyms stay the same across the upgrade, then deleted
    from the warehouse and the file compacted so its bytes are gone; a read-only warehouse
    keeps the row until the next writable open. With `create` False a missing key raises
    `WarehouseError` instead of being made."""
    from upmarket.errors import WarehouseError
    from upmarket.opstore import keyfile

    legacy = _legacy_key(wh) if wh is not None else None
    key = keyfile.master_key(store_url, create=create, adopt=legacy)
    if key is None:
        raise WarehouseError("err.no_pseudonym_key", env=KEY_ENV,
                             path=keyfile.key_path(store_url))
    if legacy is not None:
        _forget_legacy_key(wh)
    return key


def _legacy_key(wh: Warehouse) -> str | None:
    if not wh.has_table("system_keys"):
        return None
    t = wh.table("system_keys")
    found = t.filter(t.name == _KEY_NAME).select("value").to_pandas()
    return str(found["value"].iloc[0]) if len(found) else None


def _forget_legacy_key(wh: Warehouse) -> None:
    """Delete the key row from a writable DuckDB warehouse and compact the file, so no page
    of it keeps the key's bytes. Other engines and read-only opens leave it for later."""
    import warnings

    from upmarket.warehouse.compact import WarehouseBusy, compact, is_writable

    if not wh.is_duckdb or not is_writable(wh):
        return
    with wh.transaction():
        wh.backend.con.execute("DELETE FROM system_keys WHERE name = ?", [_KEY_NAME])
    try:
        compact(wh)
    except WarehouseBusy as exc:  # the key is moved already; only its old bytes remain
        warnings.warn(f"the pseudonymisation key left the warehouse, but {exc}", stacklevel=3)


def pseudonymise(ids: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 of each id under `key`, 20 hex characters (80 bits: no collisions to worry
    about below ~10¹² customers). Without the key a pseudonym cannot be turned back into the id
    nor recomputed from a guessed id."""
    return ids.astype(str).map(
        lambda v: "p_" + hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:20])


def pending_consents(store=None) -> pd.DataFrame | None:
    """Consents the operational store holds but has not copied to the warehouse yet: from
    `store`, else from the configured store (UPMARKET_DATABASE, or ./upmarket-ops.sqlite when
    it exists); None when there is no store at all."""
    from upmarket.opstore import consents as op_consents
    from upmarket.opstore.store import open_store, store_configured

    if store is not None:
        return op_consents.pending(store)
    if not store_configured():
        return None
    own = open_store()
    try:
        return op_consents.pending(own)
    finally:
        own.close()


def consent_history(wh: Warehouse, store=None) -> ibis.Table:
    """Every consent row known: the warehouse's `consents` and the store's pending ones, as
    one Ibis table in the warehouse's schema. A row both hold (a copy interrupted before it was
    marked) appears twice, which changes nothing: the latest row per key still wins."""
    held = wh.table("consents").select(*_CONSENT_COLUMNS)
    extra = pending_consents(store)
    if extra is None or extra.empty:
        return held
    extra = extra[list(_CONSENT_COLUMNS)].astype({"granted": bool})
    extra["ts"] = pd.to_datetime(extra["ts"])
    return held.union(ibis.memtable(extra, schema=held.schema()), distinct=False)


def is_erased(ids: pd.Series) -> pd.Series:
    """True for the tokens erasure put in place of a person's id."""
    return ids.astype(str).str.startswith(ERASED_PREFIX)


def consented(wh: Warehouse, frame: pd.DataFrame, *, channel_col: str = "channel",
              purpose: str = "marketing", at: datetime | None = None,
              store=None) -> pd.Series:
    """True where the customer's consent for `purpose` on the row's channel is in force at
    `at` (default: now), counting consents still pending in the operational store (`store`,
    default the configured one). Rows with no channel, and erased people, are never
    consented."""
    c = consents_in_force(consent_history(wh, store), at or now_utc(), purpose).to_pandas()
    ok = c[c["granted"].astype(bool)]
    key = pd.MultiIndex.from_frame(ok[["customer_id", "channel"]].astype(str))
    rows = pd.MultiIndex.from_arrays([frame["customer_id"].astype(str),
                                      frame[channel_col].astype(object).where(
                                          frame[channel_col].notna(), "")])
    return pd.Series(rows.isin(key) & ~is_erased(frame["customer_id"]).to_numpy(),
                     index=frame.index)


def audit(wh: Warehouse | None, action: str, subject: str, *, store=None, **detail) -> None:
    """Record who did what to whose data, when, in the operational store's audit log (`store`,
    else the one at UPMARKET_DATABASE / ./upmarket-ops.sqlite), beside the service's own
    records of profile reads: one log of every access, whichever door it came through. `wh`
    is the warehouse the data came from; it is not written to."""
    from upmarket.opstore.store import open_store, write_audit

    try:
        actor = os.environ.get("UPMARKET_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        actor = "unknown"
    own = store is None
    store = store or open_store()
    try:
        write_audit(store, actor, action, subject, **detail)
    finally:
        if own:
            store.close()
