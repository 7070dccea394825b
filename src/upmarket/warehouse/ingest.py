"""Ingestion: read → map → validate → quarantine → deduplicate → write.

Honest bookkeeping: every row read is accepted, quarantined with a reason, skipped as a
duplicate of a row already held, set aside as a conflict (its key is held, or repeated in
the file, with different content), or suppressed (a person who was erased,
`opstore.suppression`), and
`rows_read == accepted + quarantined + duplicates_skipped + conflicts + suppressed` holds for
every call. Conflicting rows go to the quarantine with the differing fields named, unless the
caller asks for `on_conflict="update"`: then the file's row replaces the stored one (counted
in `accepted` and in `updated`). A file that cannot be ingested as a whole (not a table, a
required column missing, the wrong preset) raises `BadFile` before anything is written.
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

from upmarket.errors import BadFile, Codes, Msg
from upmarket.opstore.suppression import withhold
from upmarket.warehouse import presets as preset_registry
from upmarket.warehouse.connection import Warehouse, conform, connect
from upmarket.warehouse.mapping import Mapping
from upmarket.warehouse.readers import Sheet, read_file, sheet_from_frame
from upmarket.warehouse.retract import delete_keys, record_batch
from upmarket.warehouse.schema import BATCHES, QUARANTINE, TABLES, Table, resolve
from upmarket.warehouse.validate import check, column_name

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
    #: Rows whose key is already held (or earlier in the file) with different content,
    #: quarantined as conflicts; with on_conflict="update" stored rows are replaced instead.
    conflicts: int = 0
    #: Accepted rows that replaced a stored row (on_conflict="update"); part of `accepted`.
    updated: int = 0
    #: rows of people who were erased, refused before validation (`opstore.suppression`)
    suppressed: int = 0
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
        return self.rows_read == (self.accepted + self.quarantined + self.duplicates_skipped
                                  + self.conflicts + self.suppressed)

    def to_dict(self) -> dict:
        return asdict(self) | {"reconciles": self.reconciles}


Stage = Callable[[str], None]

#: What to do with a row whose key is already held with different content: quarantine it as
#: a conflict (default), replace the stored row with it, or keep the stored row and count the
#: new one as a duplicate (the service's copy of identify calls: the CRM's record wins).
ON_CONFLICT = ("quarantine", "update", "keep")
#: Longest text of one field kept in a quarantined row's raw copy; longer fields keep a
#: preview and their length (a 50 MB id must not be copied whole into the quarantine).
RAW_FIELD_CAP = 1_000
_PREVIEW = 200


def ingest(
    kind: str,
    data: str | Path | pd.DataFrame | pa.Table,
    *,
    preset: str | None = None,
    mapping: str | Path | Mapping | None = None,
    warehouse: Warehouse | str | None = None,
    source: str | None = None,
    on_stage: Stage | None = None,
    on_conflict: str = "quarantine",
) -> IngestReport:
    """Ingest a file (CSV/TSV/TXT, XLSX, Parquet) or a DataFrame / Arrow table into `kind`.

    `kind` is a canonical table (`orders`, `products`, `customers`, `events`, `spend`,
    `feedback`, `consents`, `promotions`, `payments`, `tickets`, …). `preset` names a known
    export (`online-retail`, `cdnow`); `mapping` is a YAML mapping file (see `mapping.py`).
    `on_conflict` (see `ON_CONFLICT`) says what a row does whose key is held with different
    content.
    """
    if on_conflict not in ON_CONFLICT:
        raise BadFile("err.on_conflict", choices=", ".join(ON_CONFLICT), value=on_conflict)
    stage = on_stage or (lambda _: None)
    table = resolve(kind)
    wh = warehouse if isinstance(warehouse, Warehouse) else connect(warehouse)
    chosen = preset_registry.get(preset) if preset else None
    if chosen and chosen.table != table.name:
        raise BadFile("err.file.preset_table", preset=chosen.name, table=chosen.table,
                      kind=table.name)
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
        raise BadFile("err.file.missing_columns", file=where, missing=Codes(missing, column_name),
                      kind=table.name,
                      headers=", ".join(headers) or Msg("err.file.no_columns"),
                      hint=Msg("err.file.right_preset") if chosen else
                      Msg("err.file.map_columns", column=missing[0]))
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
    # erased people stay erased: their rows go nowhere, not even to the quarantine
    frame, report.suppressed = withhold(frame)

    stage("validating")
    checked = check(frame, table, rules)
    accepted = checked.accepted
    rejected = checked.rejected

    # Two rows with one key: identical rows are the same fact said twice; different rows
    # under one key are a conflict the user must see. Within one file the first row stands
    # whatever the policy: a file that contradicts itself says nothing about which is right.
    key = list(table.key)
    compared = [c for c in table.column_names if c in frame.columns]
    dup = accepted.duplicated(subset=key, keep="first")
    in_file_dups = 0
    conflicts = _EMPTY_REJECTED
    if dup.any():
        firsts = accepted.loc[~dup, compared]
        later = accepted.loc[dup, compared].reset_index(names="__row").merge(
            firsts.reset_index(names="__first"), on=key, suffixes=("", "__f"))
        fields = _differing(later, [c for c in compared if c not in key],
                            lambda c: later[f"{c}__f"])
        differ = fields != ""
        first_line = later["__first"] + sheet.first_line
        # the earlier row's number goes with the value, so that conflicts group by fields
        conflicts = pd.DataFrame({
            "field": fields[differ].to_numpy(),
            "reason": ("conflict: differs from an earlier row of the file in "
                       + fields[differ]).to_numpy(),
            "value": ("see row " + first_line[differ].astype(str)).to_numpy()},
            index=later["__row"][differ].to_numpy())
        in_file_dups = int((~differ).sum())
        accepted = accepted[~dup]

    if table.name == "orders":
        stage("linking cancellations")
        report.cancellations_linked = _link_reversals(accepted, wh)

    batch_id = uuid.uuid4().hex[:12]
    report.batch_id = batch_id
    now = datetime.now(UTC).replace(tzinfo=None)

    stage("writing")
    with wh.transaction():
        held = _compare_with_stored(wh, table, accepted, compared, batch_id)
        differ = held["fields"] != ""
        if on_conflict == "quarantine":
            conflicts = pd.concat([conflicts, pd.DataFrame({
                "field": held.loc[differ, "fields"].to_numpy(),
                "reason": ("conflict: differs from the stored row in "
                           + held.loc[differ, "fields"]).to_numpy(),
                "value": None}, index=held.index[differ])])
            skipped = held.index
        elif on_conflict == "update":
            report.updated = delete_keys(wh, table, accepted.loc[held.index[differ], key])
            skipped = held.index[~differ]
        else:
            skipped = held.index
        fresh = accepted.drop(index=skipped)
        inserted = _insert_new(wh, table, fresh, batch_id, record=True)
        for side, side_key in SIDE_KEYS.items():
            added = _insert_side(wh, side, side_key, frame.loc[accepted.index], accepted)
            if added:
                report.added_to[side] = added
        set_aside = pd.concat([rejected, conflicts]) if len(conflicts) else rejected
        quarantine = _quarantine_rows(raw, set_aside, sheet, table.name, batch_id, now)
        if len(quarantine):
            wh.insert(QUARANTINE.name, quarantine)
        report.accepted = inserted
        report.quarantined = len(rejected)
        report.conflicts = len(conflicts)
        same_as_stored = len(skipped) - (int(differ.sum()) if on_conflict == "quarantine" else 0)
        # rows of `fresh` another writer stored meanwhile were skipped by the insert
        report.duplicates_skipped = in_file_dups + same_as_stored + (len(fresh) - inserted)
        wh.insert(BATCHES.name, pd.DataFrame([{
            "batch_id": batch_id, "table": table.name, "source": where, "sha256": digest,
            "ingested_at": now, "rows_read": report.rows_read, "accepted": report.accepted,
            "quarantined": report.quarantined, "duplicates_skipped": report.duplicates_skipped,
            "conflicts": report.conflicts, "updated": report.updated,
            "suppressed": report.suppressed,
        }]))
    report.quarantined_by_reason = dict(Counter(set_aside["reason"]).most_common())
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
    merged.limits = {**base.limits, **user.limits}
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
        return sheet_from_frame(data, source or "<dataframe>"), digest
    path = str(data)
    if not Path(path).exists():
        raise BadFile("err.file.not_found", path=path)
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
            # only an empty amount is computed: text that is not a number (`nan`, `abc`) is
            # left for validation to quarantine, not silently replaced
            blank = df["amount"].isna() | (df["amount"].astype(str).str.strip() == "")
            df["amount"] = df["amount"].where(~blank | computed.isna(), computed)
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


_EMPTY_REJECTED = pd.DataFrame({"field": [], "reason": [], "value": []}, dtype=object)


def _differing(rows: pd.DataFrame, columns: list[str], other) -> pd.Series:
    """Per row, the comma-separated columns where `rows[c]` and `other(c)` differ (two
    missing values are equal); "" where none does."""
    if rows.empty or not columns:
        return pd.Series("", index=rows.index, dtype=object)
    flags = {}
    for c in columns:
        a, b = rows[c], other(c)
        same = (a == b).fillna(False).astype(bool) | (a.isna() & b.isna())
        flags[c] = ~same.to_numpy()
    diff = pd.DataFrame(flags, index=rows.index)
    names = np.array(columns, dtype=object)
    return pd.Series([", ".join(names[r]) for r in diff.to_numpy()], index=rows.index,
                     dtype=object)


def _compare_with_stored(wh: Warehouse, table: Table, rows: pd.DataFrame, compared: list[str],
                         batch_id: str) -> pd.DataFrame:
    """The rows whose key the table holds already (index as in `rows`), with `fields`: the
    compared columns where the stored row differs, "" for the same content. Compared on the
    table's types (both sides cast to the declared schema), in the warehouse, so only held
    keys cross back."""
    empty = pd.DataFrame({"fields": pd.Series(dtype=object)})
    if rows.empty or not wh.count(table.name):
        return empty
    key = list(table.key)
    others = [c for c in compared if c not in key]
    staged = conform(rows, table).append_column("__row", pa.array(rows.index.to_numpy(), pa.int64()))
    staging = f"_compare_{table.name}_{batch_id}"
    wh.create_table(staging, staged, temp=True)
    try:
        s = wh.table(staging)
        t = wh.table(table.name)
        t = t.select(*key, **{f"__s_{c}": t[c] for c in others})
        j = s.join(t, key)
        held = j.select("__row", **{f"__d_{i}": ~j[c].identical_to(j[f"__s_{c}"])
                                    for i, c in enumerate(others)}).to_pandas()
    finally:
        wh.drop_table(staging)
    held = held.set_index("__row")
    names = np.array(others, dtype=object)
    flags = held.to_numpy(dtype=bool) if others else np.zeros((len(held), 0), dtype=bool)
    return pd.DataFrame({"fields": [", ".join(names[r]) for r in flags]},
                        index=held.index.rename(None), dtype=object)


def _quarantine_rows(raw, rejected, sheet: Sheet, table: str, batch_id: str, now) -> pd.DataFrame:
    if rejected.empty:
        return pd.DataFrame(columns=QUARANTINE.column_names)
    rows = raw.loc[rejected.index]
    value = rejected["value"] if "value" in rejected else pd.Series(None, index=rejected.index)
    reason = [r if v is None or (isinstance(v, float) and np.isnan(v)) else f"{r}: {v}"
              for r, v in zip(rejected["reason"], value)]
    return pd.DataFrame({
        "batch_id": batch_id,
        "table": table,
        "source": sheet.path,
        "row_number": (rejected.index.to_numpy() + sheet.first_line).astype("int64"),
        "field": rejected["field"].to_numpy(),
        "reason": reason,
        "raw": [json.dumps({str(k): _jsonable(v) for k, v in r.items()}, ensure_ascii=False)
                for r in rows.to_dict("records")],
        "ingested_at": now,
    })


def _jsonable(v):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)  # JSON has no infinity; keep the text the file had
    if isinstance(v, (str, int, float, bool)):
        if isinstance(v, str) and len(v) > RAW_FIELD_CAP:
            return {"preview": v[:_PREVIEW], "length": len(v), "truncated": True}
        return v
    return str(v)[:RAW_FIELD_CAP]


def _insert_new(wh: Warehouse, table: Table, rows: pd.DataFrame, batch_id: str, *,
                record: bool = False) -> int:
    """Insert rows whose key the table does not hold yet; returns how many went in. With
    `record`, note that `batch_id` put them in (for `upmarket data delete --batch`)."""
    if rows.empty:
        return 0
    staging = f"_staging_{table.name}_{batch_id}"
    before = wh.count(table.name)
    wh.create_table(staging, conform(rows, table), temp=True)
    try:
        new = wh.table(staging).anti_join(wh.table(table.name), list(table.key))
        if record and wh.is_duckdb:  # only DuckDB can take rows back (`retract`)
            record_batch(wh, table, new, batch_id)
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
