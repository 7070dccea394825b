"""Taking accepted rows back out of the warehouse: by key, or every row one ingestion batch
put in (`upmarket data delete`), and replacing stored rows by newer versions
(`upmarket ingest … --on-conflict update`).

Which batch put a row in is kept in `ingest_batch_keys` as a keyed digest of the row's key
(under a random secret of the warehouse's own, in `system_keys`), so the record copies no
customer id and a guessed id cannot be checked against it without the secret: once a person
is erased, nothing there leads back to them. Deleting needs DELETE on the warehouse, which
upmarket does only on DuckDB, as erasure does.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import ibis
import pandas as pd

from upmarket.errors import UpmarketError, WarehouseError
from upmarket.warehouse.connection import Warehouse, conform
from upmarket.warehouse.schema import BATCH_KEYS, BATCHES, SYSTEM_KEYS, Table, resolve

#: Joins a key's parts and stands for a missing part; ids never hold either (control
#: characters are refused at ingestion), so two different keys never give one text.
_SEP, _NULL = "\x1f", "\x1e"


class NothingToDelete(UpmarketError):
    """The batch asked for does not exist or belongs to another table."""


_SECRET_NAME = "ingest_batch_keys"


def _secret(wh: Warehouse) -> str:
    """The warehouse's secret for batch-key digests, made at random on first use."""
    t = wh.table(SYSTEM_KEYS.name)
    # the oldest wins should two writers have made one at once
    found = t.filter(t.name == _SECRET_NAME).order_by(["created", "value"]).select("value").to_pandas()
    if len(found):
        return str(found["value"].iloc[0])
    value = secrets.token_hex(32)
    wh.insert(SYSTEM_KEYS.name, pd.DataFrame({"name": [_SECRET_NAME], "value": [value],
                                              "created": [datetime.now(UTC).replace(tzinfo=None)]}))
    return value


def key_digest(wh: Warehouse, t: ibis.Table, key: tuple[str, ...]) -> ibis.Value:
    """The keyed digest of each row's key, the same for a stored row and a staged one."""
    parts = [ibis.literal(_secret(wh)), *(t[c].cast("string").fill_null(_NULL) for c in key)]
    return ibis.literal(_SEP).join(parts).hexdigest("md5")


def key_spec(table: Table) -> Table:
    return Table(table.name, table.key, tuple(table.column(k) for k in table.key))


def record_batch(wh: Warehouse, table: Table, rows: ibis.Table, batch_id: str) -> None:
    """Note that `batch_id` put in the rows of `rows` (an expression with the key columns)."""
    wh.insert(BATCH_KEYS.name, rows.select(
        batch_id=ibis.literal(batch_id), table=ibis.literal(table.name),
        key_hash=key_digest(wh, rows, table.key)))


def _need_delete(wh: Warehouse) -> None:
    if not wh.is_duckdb:
        raise WarehouseError("err.delete_needs_duckdb", backend=wh.backend.name, url=wh.url)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def delete_keys(wh: Warehouse, table: Table, keys: pd.DataFrame) -> int:
    """Delete the stored rows whose full key is a row of `keys`, and their batch records;
    the caller holds the transaction. Returns how many rows went."""
    if keys.empty:
        return 0
    _need_delete(wh)
    spec = key_spec(table)
    staging = f"_delete_{table.name}_{uuid.uuid4().hex[:12]}"
    wh.create_table(staging, conform(keys.drop_duplicates(), spec), temp=True)
    try:
        match = " AND ".join(f"t.{_q(k)} IS NOT DISTINCT FROM s.{_q(k)}" for k in table.key)
        where = f"EXISTS (SELECT 1 FROM {_q(staging)} AS s WHERE {match})"
        con = wh.backend.con
        n = con.execute(f"SELECT count(*) FROM {_q(table.name)} AS t WHERE {where}").fetchone()[0]
        staged = wh.table(staging)
        digests = wh.backend.compile(staged.select(h=key_digest(wh, staged, table.key)))
        con.execute(f'DELETE FROM {_q(BATCH_KEYS.name)} WHERE "table" = ? AND key_hash IN '
                    f"(SELECT h FROM ({digests}))", [table.name])
        con.execute(f"DELETE FROM {_q(table.name)} AS t WHERE {where}")
    finally:
        wh.drop_table(staging)
    return int(n)


@dataclass
class Selection:
    """The stored rows a delete would take: their keys, and what was asked for."""

    table: str
    keys: pd.DataFrame
    asked: str

    @property
    def rows(self) -> int:
        return len(self.keys)


def select_by_key(wh: Warehouse, kind: str, values: list[str]) -> Selection:
    """Stored rows whose first key column is one of `values` (an order id takes every line
    of the order; a customer id every consent of the customer)."""
    table = resolve(kind)
    first = table.key[0]
    t = wh.table(table.name)
    keys = t.filter(t[first].cast("string").isin(list(values))).select(*table.key).to_pandas()
    return Selection(table.name, keys, f"{first} in {', '.join(values)}")


def select_by_batch(wh: Warehouse, kind: str, batch_id: str) -> Selection:
    """Stored rows that ingestion batch `batch_id` inserted or replaced (and no later batch
    replaced since)."""
    table = resolve(kind)
    b = wh.table(BATCHES.name)
    found = b.filter(b.batch_id == batch_id).select("table").to_pandas()
    if found.empty:
        raise NothingToDelete("err.unknown_batch", batch=batch_id)
    if found["table"].iloc[0] != table.name:
        raise NothingToDelete("err.batch_other_table", batch=batch_id,
                              table=found["table"].iloc[0], kind=table.name)
    k = wh.table(BATCH_KEYS.name)
    hashes = k.filter(k.batch_id == batch_id, k.table == table.name).select("key_hash")
    t = wh.table(table.name)
    t = t.mutate(__h=key_digest(wh, t, table.key))
    keys = t.semi_join(hashes, t.__h == hashes.key_hash).select(*table.key).to_pandas()
    return Selection(table.name, keys, f"batch {batch_id}")


def delete(wh: Warehouse, selection: Selection) -> int:
    """Delete the selected rows in one transaction; returns how many went."""
    with wh.transaction():
        return delete_keys(wh, resolve(selection.table), selection.keys)
