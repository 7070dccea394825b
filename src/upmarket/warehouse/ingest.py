"""Ingestion: read → map → validate → quarantine → deduplicate → write.

Honest bookkeeping: every row read is accepted, quarantined with a reason, or skipped as a
duplicate of a row already held, and `rows_read == accepted + quarantined + duplicates_skipped`
holds for every call. A file that cannot be ingested as a whole (not a table, a required column
missing, the wrong preset) raises `BadFile` before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from upmarket.errors import BadFile
from upmarket.warehouse import presets as preset_registry
from upmarket.warehouse.connection import Warehouse, conform, connect
from upmarket.warehouse.mapping import Mapping
from upmarket.warehouse.readers import Sheet, read_file
from upmarket.warehouse.schema import BATCHES, QUARANTINE, TABLES, Table, resolve
from upmarket.warehouse.validate import check

#: Key columns ingestion can make up when a file lacks them, so that re-ingesting the same
#: file yields the same keys: a line's position in its order, or a hash of the row's content.
POSITIONAL_KEYS = {"line_no": "order_id"}
CONTENT_KEYS = {"message_id", "id"}
#: Attributes of other tables a file may carry (`customers.country` in an order export).
SIDE_KEYS = {"customers": "customer_id", "products": "sku"}


@dataclass
class IngestReport:
    table: str
    source: str
    format: str
    rows_read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates_skipped: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    unmapped_columns: list[str] = field(default_factory=list)
    added_to: dict[str, int] = field(default_factory=dict)
    cancellations_linked: int = 0
    batch_id: str = ""

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.accepted + self.quarantined + self.duplicates_skipped

    def to_dict(self) -> dict:
        return asdict(self) | {"reconciles": self.reconciles}


Stage = Callable[[str], None]


def ingest(
    kind: str,
    data: str | Path | pd.DataFrame | pa.Table,
    *,
    preset: str | None = None,
    mapping: str | Path | Mapping | None = None,
    warehouse: Warehouse | str | None = None,
    source: str | None = None,
    on_stage: Stage | None = None,
) -> IngestReport:
    """Ingest a file (CSV/TSV/TXT, XLSX, Parquet) or a DataFrame / Arrow table into `kind`.

    `kind` is a canonical table (`orders`, `products`, `customers`, `events`, `spend`,
    `feedback`, `consents`, `promotions`, `payments`, `tickets`, …). `preset` names a known
    export (`online-retail`, `cdnow`); `mapping` is a YAML mapping file (see `mapping.py`).
    """
    stage = on_stage or (lambda _: None)
    table = resolve(kind)
    wh = warehouse if isinstance(warehouse, Warehouse) else connect(warehouse)
    chosen = preset_registry.get(preset) if preset else None
    if chosen and chosen.table != table.name:
        raise BadFile(
            f"preset {chosen.name!r} is for {chosen.table}, not {table.name}: "
            f"use `upmarket ingest {chosen.table} FILE --preset {chosen.name}`"
        )
    user_map = mapping if isinstance(mapping, Mapping) else Mapping.load(mapping) if mapping else None
    rules = _merge(chosen.mapping if chosen else None, user_map)

    stage("reading")
    sheet, digest = _read(data, chosen, rules, source)
    where = sheet.path
    report = IngestReport(table.name, where, sheet.format, encoding=sheet.encoding,
                          delimiter=sheet.delimiter)
    raw = sheet.frame.reset_index(drop=True)
    report.rows_read = len(raw)

    stage("mapping")
    headers = [str(c) for c in raw.columns]
    colmap = rules.resolve_headers(headers, table)
    report.columns = colmap
    report.unmapped_columns = [h for h in headers if h not in colmap]
    missing = [c for c in table.required
               if c not in colmap.values() and c not in rules.defaults
               and c not in POSITIONAL_KEYS and c not in CONTENT_KEYS
               and not (chosen and c in _PRESET_MADE.get(chosen.name, ()))]
    if missing:
        raise BadFile(
            f"{where}: required column(s) {', '.join(missing)} for {table.name} not found. "
            f"The file's columns are: {', '.join(headers) or '(none)'}. "
            + ("Is this the right preset? " if chosen else
               "Map them in a mapping file (--mapping FILE.yaml, `columns: {your header: "
               f"{missing[0]}}}`) or use a preset (--preset online-retail|cdnow).")
        )
    frame = raw[list(colmap)].rename(columns=colmap)
    frame = frame.loc[:, ~frame.columns.duplicated()].copy()
    for col, vmap in rules.values.items():
        if col in frame.columns:
            frame[col] = frame[col].map(lambda v, m=vmap: m.get(str(v).strip(), v))
    for col, value in rules.defaults.items():
        if col not in frame.columns:
            frame[col] = value
    if rules.currency and "currency" in table.column_names and "currency" not in frame.columns:
        frame["currency"] = rules.currency
    if chosen:
        frame = chosen.finish(frame)
    _complete_keys(frame, table)
    if table.name == "orders":
        _complete_orders(frame)

    stage("validating")
    checked = check(frame, table, rules)
    accepted = checked.accepted
    rejected = checked.rejected

    # Two rows with one key: identical rows are the same fact said twice; different rows
    # under one key are a conflict the user must see.
    key = list(table.key)
    dup = accepted.duplicated(subset=key, keep="first")
    if dup.any():
        same = accepted.duplicated(keep="first") & dup
        conflicting = accepted.index[dup & ~same]
        rejected = pd.concat([rejected, pd.DataFrame(
            {"field": ",".join(key), "reason": "conflicting duplicate key"}, index=conflicting)])
        in_file_dups = int(same.sum())
        accepted = accepted[~dup]
    else:
        in_file_dups = 0

    if table.name == "orders":
        stage("linking cancellations")
        report.cancellations_linked = _link_reversals(accepted, wh)

    batch_id = uuid.uuid4().hex[:12]
    report.batch_id = batch_id
    now = datetime.now(UTC).replace(tzinfo=None)
    quarantine = _quarantine_rows(raw, rejected, sheet, table.name, batch_id, now)

    stage("writing")
    with wh.transaction():
        inserted = _insert_new(wh, table, accepted, batch_id)
        for side, side_key in SIDE_KEYS.items():
            added = _insert_side(wh, side, side_key, frame.loc[accepted.index], accepted)
            if added:
                report.added_to[side] = added
        if len(quarantine):
            wh.insert(QUARANTINE.name, quarantine)
        report.accepted = inserted
        report.quarantined = len(rejected)
        report.duplicates_skipped = in_file_dups + (len(accepted) - inserted)
        wh.insert(BATCHES.name, pd.DataFrame([{
            "batch_id": batch_id, "table": table.name, "source": where, "sha256": digest,
            "ingested_at": now, "rows_read": report.rows_read, "accepted": report.accepted,
            "quarantined": report.quarantined, "duplicates_skipped": report.duplicates_skipped,
        }]))
    report.quarantined_by_reason = dict(Counter(rejected["reason"]).most_common())
    report.examples = quarantine.head(5)[["row_number", "field", "reason", "raw"]].to_dict("records") \
        if len(quarantine) else []
    assert report.reconciles, report  # bookkeeping is the contract; never ship a mismatch
    return report


#: Columns a preset makes itself, so the file need not have them.
_PRESET_MADE = {"cdnow": ("order_id", "line_no"), "online-retail": ("line_no",)}


def _merge(base: Mapping | None, user: Mapping | None) -> Mapping:
    if base is None:
        return user or Mapping()
    if user is None:
        return base
    merged = Mapping(**{k: v for k, v in vars(base).items()})
    merged.columns = {**base.columns, **user.columns}
    merged.values = {**base.values, **user.values}
    merged.defaults = {**base.defaults, **user.defaults}
    for attr in ("encoding", "delimiter", "date_format", "timezone", "currency"):
        if getattr(user, attr):
            setattr(merged, attr, getattr(user, attr))
    merged.dayfirst = user.dayfirst or base.dayfirst
    merged.source = user.source
    return merged


def _read(data, chosen, rules: Mapping, source: str | None) -> tuple[Sheet, str]:
    if isinstance(data, pa.Table):
        data = data.to_pandas()
    if isinstance(data, pd.DataFrame):
        digest = hashlib.sha256(pd.util.hash_pandas_object(data, index=False).values.tobytes()).hexdigest()
        return Sheet(data.copy(), source or "<dataframe>", "frame", first_line=1), digest
    path = str(data)
    if not Path(path).exists():
        raise BadFile(f"{path}: no such file")
    sheet = chosen.read(path) if chosen else read_file(path, encoding=rules.encoding,
                                                        delimiter=rules.delimiter)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return sheet, h.hexdigest()


def _complete_keys(frame: pd.DataFrame, table: Table) -> None:
    for col, parent in POSITIONAL_KEYS.items():
        if col in table.key and col not in frame.columns and parent in frame.columns:
            frame[col] = frame.groupby(parent, sort=False).cumcount().astype(str)
    for col in CONTENT_KEYS & set(table.key):
        if col not in frame.columns:
            cells = frame.astype(str).fillna("nan").apply("\x1f".join, axis=1, result_type="reduce")
            frame[col] = cells.map(lambda s: hashlib.sha1(s.encode()).hexdigest()[:20])


def _complete_orders(df: pd.DataFrame) -> None:
    """Fill what an order line implies: amount from price × quantity (and back), the status of
    a negative quantity (a cancellation), the kind of line."""
    qty = pd.to_numeric(df["quantity"], errors="coerce") if "quantity" in df else None
    price = pd.to_numeric(df["unit_price"], errors="coerce") if "unit_price" in df else None
    disc = pd.to_numeric(df["discount"], errors="coerce").fillna(0) if "discount" in df else 0
    if qty is not None and price is not None:
        computed = qty * price - disc
        if "amount" in df:
            amount = pd.to_numeric(df["amount"], errors="coerce")
            df["amount"] = df["amount"].where(amount.notna() | computed.isna(), computed)
        else:
            df["amount"] = computed
    if "status" not in df:
        df["status"] = np.where(qty < 0, "cancelled", "paid") if qty is not None else "paid"
    else:
        blank = df["status"].isna() | (df["status"].astype(str).str.strip() == "")
        df.loc[blank, "status"] = np.where(qty[blank] < 0, "cancelled", "paid") \
            if qty is not None else "paid"
    if "line_kind" not in df:
        df["line_kind"] = "product"


def _link_reversals(accepted: pd.DataFrame, wh: Warehouse) -> int:
    """Link each cancellation/return to the latest earlier paid order of the same customer with
    the same product, in this batch or already in the warehouse."""
    rev = accepted["status"].isin(["cancelled", "returned"]) & accepted["original_order_id"].isna()
    if not rev.any():
        return 0
    cols = ["customer_id", "sku", "ts", "order_id"]
    paid = accepted.loc[accepted["status"] == "paid", cols]
    customers = accepted.loc[rev, "customer_id"].dropna().unique().tolist()
    if wh.count("orders"):
        o = wh.table("orders")
        held = o.filter(o.status == "paid", o.customer_id.isin(customers)).select(cols).to_pandas()
        paid = pd.concat([paid, held], ignore_index=True)
    left = accepted.loc[rev, ["customer_id", "sku", "ts"]].reset_index()
    left = left.dropna(subset=["sku"]).sort_values("ts")
    right = paid.dropna(subset=["sku"]).sort_values("ts")
    if left.empty or right.empty:
        return 0
    right = right.astype({"ts": left["ts"].dtype})
    matched = pd.merge_asof(left, right.rename(columns={"order_id": "original"}), on="ts",
                            by=["customer_id", "sku"], direction="backward")
    matched = matched.dropna(subset=["original"]).set_index("index")["original"]
    accepted.loc[matched.index, "original_order_id"] = matched
    return len(matched)


def _quarantine_rows(raw, rejected, sheet: Sheet, table: str, batch_id: str, now) -> pd.DataFrame:
    if rejected.empty:
        return pd.DataFrame(columns=QUARANTINE.column_names)
    rows = raw.loc[rejected.index]
    return pd.DataFrame({
        "batch_id": batch_id,
        "table": table,
        "source": sheet.path,
        "row_number": (rejected.index.to_numpy() + sheet.first_line).astype("int64"),
        "field": rejected["field"].to_numpy(),
        "reason": rejected["reason"].to_numpy(),
        "raw": [json.dumps({str(k): _jsonable(v) for k, v in r.items()}, ensure_ascii=False)
                for r in rows.to_dict("records")],
        "ingested_at": now,
    })


def _jsonable(v):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def _insert_new(wh: Warehouse, table: Table, rows: pd.DataFrame, batch_id: str) -> int:
    """Insert rows whose key the table does not hold yet; returns how many went in."""
    if rows.empty:
        return 0
    staging = f"_staging_{table.name}_{batch_id}"
    before = wh.count(table.name)
    wh.create_table(staging, conform(rows, table), temp=True)
    try:
        new = wh.table(staging).anti_join(wh.table(table.name), list(table.key))
        wh.insert(table.name, new)
    finally:
        wh.drop_table(staging)
    return wh.count(table.name) - before


def _insert_side(wh: Warehouse, side: str, key: str, mapped: pd.DataFrame, typed: pd.DataFrame) -> int:
    """Add rows to another table from attributes a file carries (e.g. an order export's
    product descriptions); only keys the side table lacks are added, nothing is overwritten."""
    prefix = f"{side}."
    attrs = [c for c in mapped.columns if c.startswith(prefix)]
    if not attrs or key not in typed.columns:
        return 0
    spec = TABLES[side]
    rows = pd.DataFrame({key: typed[key]})
    for c in attrs:
        rows[c.removeprefix(prefix)] = mapped[c].astype(object).where(mapped[c].astype(str).str.strip() != "")
    if side == "products" and "line_kind" in typed:
        rows = rows[typed["line_kind"] == "product"]
        if "unit_price" in typed and "price" not in rows:
            rows["price"] = typed.loc[rows.index, "unit_price"]
            rows = rows.assign(price=rows.groupby(key)["price"].transform("median"))
    rows = rows.dropna(subset=[key]).drop_duplicates(subset=[key], keep="last")
    if rows.empty:
        return 0
    return _insert_new(wh, spec, rows, uuid.uuid4().hex[:8])
