"""A person's rights over their data: a copy of everything held on them, erasure, and the
retention limit on raw events (PIPL art. 45 access and copy, art. 47 deletion, art. 19 "no
longer than necessary"; GDPR art. 15, 17 and 5(1)(e) say the same; the key-account strategy course's data security).

Who the person is, is found generically rather than from a list of tables, because other
parts of upmarket keep adding tables: every warehouse table (run outputs of every run
included) and every operational-store table is scanned for columns that name a person —
`customer_id`/`user_id` (the id), `anonymous_id` (their devices: those seen with the id in
events, or linked to it by an identify), `subject` (audit records about them).

Erasure keeps the figures the business reports (revenue, order counts, cohort sizes) and
removes the person: the id becomes a random token `erased_<32 hex>` drawn with `secrets`, the
same token everywhere within one erasure so per-customer aggregates still add up, and not
derived from the id, so nobody holding a key can recompute who it was (a keyed hash would be
pseudonymisation, which PIPL art. 73(4) does not count as anonymisation). Their attributes
(`PERSONAL_ATTRIBUTES`) and what they wrote or their devices sent (`FREE_TEXT`) are nulled,
their quarantined raw rows blanked, their profile snapshot and identity links deleted, and
every consent they gave set to withdrawn — nothing may be sent to an erased person.

Kept on the customer row: `created_at` and `acquisition_channel`, which are facts about the
business's acquisition (cohort sizes, CAC per channel, DESIGN §4), not attributes of the
person; without the id and the attributes they no longer single anyone out.

The erasure's own audit record has the token as its subject, never the id: it proves what was
done and links to the anonymised rows without keeping who asked.

Erased stays erased: the person's identifiers go on the suppression list
(`opstore.suppression`, keyed hashes only) that ingestion and collection consult, so the
original files re-ingested or a device still sending bring nothing back. And erased means gone
from the bytes: neither DuckDB nor SQLite nor PostgreSQL overwrites what an UPDATE replaces,
so both databases are rewritten afterwards (`compact_after`; OWASP Top 10 Privacy Risks P4,
insufficient deletion).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import pandas as pd
import sqlalchemy as sa

from upmarket.activation import privacy
from upmarket.errors import Msg, NoRun, UpmarketError
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.runs import OUTPUT_TABLE, current_run, output_table
from upmarket.warehouse.schema import QUARANTINE

#: Columns holding the person's id, their devices' ids, and the subject of an audit record.
ID_COLUMNS = ("customer_id", "user_id")
DEVICE_COLUMNS = ("anonymous_id",)
SUBJECT_COLUMNS = ("subject",)
#: JSON text that may name the person among other things (an audit record's detail): the id
#: is replaced where it appears as a whole JSON string.
DETAIL_COLUMNS = ("detail",)
#: A person's attributes (the warehouse `customers` columns, DESIGN §3), in whatever table.
PERSONAL_ATTRIBUTES = ("name", "email", "phone", "gender", "birth_year", "birth_date",
                       "occupation", "income_band", "industry", "country", "city_tier")
#: What the person wrote or their devices sent: feedback and ticket text, event payloads.
FREE_TEXT = ("text", "properties", "context", "traits", "note", "notes", "comment")
#: Columns cleared in one table only, where they hold free text about the person (a consent's
#: `source`, "signed up by Alice Example via web form"); the same name elsewhere is not
#: personal (an alert's `source` is "run" or "event", a batch's is a file name).
CLEARED_IN = {"consents": ("source",)}
#: The person's attributes that identify them in free text: removed wherever they appear in
#: a text of their rows (a task's title, a reason text), not only from their own columns.
IDENTIFYING = ("name", "email", "phone")
#: Values forced on the person's rows: a consent of an erased person is a withdrawn one.
FORCED = {"granted": False}
#: Columns whose value, though random-looking, was computed from the id (an alert's
#: `dedup_key` hashes rule, customer and run): replaced by fresh random values, or whoever
#: guesses the id could recompute the hash and learn the person triggered the rule.
RERANDOMISED = ("dedup_key",)
#: Work still pending about the person stops: an undelivered webhook fails, an open task is
#: cancelled (no one should call a person who asked to be forgotten).
STOPPED = {"status": {"pending": "failed", "open": "cancelled"}}
#: Operational-store tables whose rows about the person are deleted, not anonymised: the
#: profile snapshot (rebuilt at the next publish) and device → person links.
DELETED_TABLES = ("profiles", "identities")
RETENTION_ENV = "UPMARKET_RETENTION_DAYS"


class ErasureError(UpmarketError):
    """Erasure, export or purge cannot be done as asked."""


class UnsupportedBackend(ErasureError):
    pass


@dataclass
class ErasureReport:
    """What one erasure changed: rows per table (anonymised, or deleted for
    `DELETED_TABLES`), and the token the id was replaced by (None when nothing was held)."""

    token: str | None
    devices: int = 0
    #: identifiers newly put on the suppression list (0 when the person was listed before)
    listed: int = 0
    warehouse: dict[str, int] = field(default_factory=dict)
    quarantine: int = 0
    opstore: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    #: why a database could not be rewritten after the erasure (empty: both were)
    not_compacted: list = field(default_factory=list)  # each with its localised(lang)

    @property
    def nothing_held(self) -> bool:
        return self.token is None

    def to_dict(self) -> dict:
        return asdict(self) | {"nothing_held": self.nothing_held}


@dataclass
class PurgeReport:
    cutoff: datetime
    dry_run: bool
    warehouse_events: int
    inbox_events: int
    inbox_not_copied_kept: int

    def to_dict(self) -> dict:
        return asdict(self) | {"cutoff": self.cutoff.isoformat()}


# -- where people are ----------------------------------------------------------------------
def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def base_tables(wh: Warehouse) -> list[str]:
    """The warehouse's stored tables (not views such as `results`, which point at a run's
    output table, nor Ibis' in-memory tables)."""
    if wh.is_duckdb:
        rows = wh.backend.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_catalog = current_database() AND table_schema = current_schema()"
        ).fetchall()
        return sorted(r[0] for r in rows)
    return sorted(t for t in wh.backend.list_tables() if not t.startswith(("ibis_", "_")))


def _is_output(name: str) -> bool:
    return bool(OUTPUT_TABLE.match(name))


def _as_text(col):
    """`col` as text: an id column an engine typed otherwise (a run's empty output whose
    `customer_id` came out DOUBLE) is compared as text, not refused."""
    return col if col.type().is_string() else col.cast("string")


def _warehouse_match(t, cid: str, devices: list[str]):
    cols = set(t.columns)
    conds = [_as_text(t[c]) == cid for c in ID_COLUMNS if c in cols]
    conds += [_as_text(t[c]).isin(devices) for c in DEVICE_COLUMNS if c in cols and devices]
    if not conds:
        return None
    out = conds[0]
    for c in conds[1:]:
        out = out | c
    return out


def op_tables(store) -> list[sa.Table]:
    """Every table of the operational store: those `opstore.schema.metadata` declares, plus
    any other the database holds (reflected), so tables added later are covered too."""
    from upmarket.opstore.schema import metadata

    present = set(sa.inspect(store.engine).get_table_names())
    tables = [t for t in metadata.sorted_tables if t.name in present]
    extra = sorted(present - {t.name for t in tables})
    if extra:
        reflected = sa.MetaData()
        reflected.reflect(store.engine, only=extra)
        tables += list(reflected.sorted_tables)
    return tables


def _op_rows_of(store, cid: str, devices: list[str]):
    """(table, condition) for every store table that can hold rows about the person."""
    for t in op_tables(store):
        cond = _op_match(t, cid, devices)
        if cond is not None:
            yield t, cond


def _op_match(t: sa.Table, cid: str, devices: list[str]):
    conds = [t.c[c] == cid for c in (*ID_COLUMNS, *SUBJECT_COLUMNS) if c in t.c]
    conds += [t.c[c].in_(devices) for c in DEVICE_COLUMNS if c in t.c and devices]
    conds += [sa.cast(t.c[c], sa.Text).contains(json.dumps(cid), autoescape=True)
              for c in DETAIL_COLUMNS if c in t.c]
    return sa.or_(*conds) if conds else None


def devices_of(wh: Warehouse, store, customer_id: str) -> list[str]:
    """The anonymous ids of the person's devices: seen beside the id in any warehouse table
    (events), in any store table (the inbox), or linked to it by an identify."""
    found: set[str] = set()
    for name in base_tables(wh):
        t = wh.table(name)
        ids = [c for c in ID_COLUMNS if c in t.columns]
        for dev in (c for c in DEVICE_COLUMNS if c in t.columns):
            for c in ids:
                rows = t.filter(_as_text(t[c]) == customer_id,
                                t[dev].notnull()).select(dev).distinct()
                found |= set(rows.to_pandas()[dev].astype(str))
    if store is not None:
        with store.engine.connect() as conn:
            for t in op_tables(store):
                ids = [c for c in ID_COLUMNS if c in t.c]
                for dev in (c for c in DEVICE_COLUMNS if c in t.c):
                    for c in ids:
                        q = sa.select(t.c[dev]).where(t.c[c] == customer_id,
                                                      t.c[dev].isnot(None)).distinct()
                        found |= {str(v) for v, in conn.execute(q)}
    return sorted(found)


def _quarantined(wh: Warehouse, names: list[str]) -> pd.DataFrame:
    """Quarantined rows whose raw record holds one of `names` as a whole value (a substring
    match alone would take C10's rows for C1's)."""
    if not names or not wh.has_table(QUARANTINE.name):
        return pd.DataFrame(columns=QUARANTINE.column_names)
    q = wh.table(QUARANTINE.name)
    cond = q.raw.contains(names[0])
    for n in names[1:]:
        cond = cond | q.raw.contains(n)
    rows = q.filter(q.raw.notnull(), cond).to_pandas()
    wanted = set(names)

    def holds(raw: str) -> bool:
        try:
            values = json.loads(raw)
        except (TypeError, ValueError):
            return False
        items = values.values() if isinstance(values, dict) else values
        return any(v is not None and str(v).strip() in wanted for v in items)

    return rows[rows["raw"].map(holds)] if len(rows) else rows


# -- export --------------------------------------------------------------------------------
def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="us",
                                    force_ascii=False, default_handler=str))


def _plain(v):
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return v


def export_person(wh: Warehouse, store, customer_id: str) -> dict:
    """Everything held on `customer_id`, as one JSON-ready document: their rows in every
    warehouse table, in the current run's outputs, in the quarantine, and in every table of
    the operational store (inbox events by id or by one of their devices, identity links,
    consents, profile, audit records about them). Audited as an export (`export_person`)."""
    cid = customer_id
    devices = devices_of(wh, store, cid)
    doc: dict = {"customer_id": cid, "exported_at": privacy.now_utc().isoformat(),
                 "devices": devices, "warehouse": {}, "run": None, "quarantine": [],
                 "opstore": {}}
    try:
        run = current_run(wh)
    except NoRun:
        run = None
    # a run's outputs are exported once, below: not again under the name of their view
    # (which engines other than DuckDB list among their tables)
    views = set(run["counts"].get("outputs", {})) if run is not None else set()
    for name in base_tables(wh):
        if _is_output(name) or name in views:
            continue
        t = wh.table(name)
        cond = _warehouse_match(t, cid, devices)
        if cond is None:
            continue
        rows = t.filter(cond).to_pandas()
        if len(rows):
            doc["warehouse"][name] = _records(rows)
    doc["quarantine"] = _records(_quarantined(wh, [cid, *devices]))
    if run is not None:
        outputs = {}
        for name in run["counts"].get("outputs", {}):
            table = output_table(name, run["run_id"])
            if not wh.has_table(table):
                continue
            t = wh.table(table)
            cond = _warehouse_match(t, cid, devices)
            if cond is not None:
                rows = t.filter(cond).to_pandas()
                if len(rows):
                    outputs[name] = _records(rows)
        doc["run"] = {"run_id": run["run_id"], "as_of": pd.Timestamp(run["as_of"]).isoformat(),
                      "outputs": outputs}
    if store is not None:
        with store.engine.connect() as conn:
            for t, cond in _op_rows_of(store, cid, devices):
                rows = [{k: _plain(v) for k, v in r._mapping.items()}
                        for r in conn.execute(sa.select(t).where(cond))]
                if rows:
                    doc["opstore"][t.name] = rows
    counts = {f"warehouse.{k}": len(v) for k, v in doc["warehouse"].items()}
    counts.update({f"run.{k}": len(v) for k, v in (doc["run"] or {}).get("outputs", {}).items()})
    counts.update({f"opstore.{k}": len(v) for k, v in doc["opstore"].items()})
    if doc["quarantine"]:
        counts["quarantine"] = len(doc["quarantine"])
    doc["rows"] = sum(counts.values())
    privacy.audit(wh, "export_person", cid, store=store, rows=doc["rows"], tables=counts)
    return doc


# -- erasure -------------------------------------------------------------------------------
def _need_sql_writes(wh: Warehouse, what: str) -> None:
    if not wh.is_duckdb:
        raise UnsupportedBackend("err.erasure.backend", what=what, backend=wh.backend.name,
                                 url=wh.url)


def new_token() -> str:
    """A fresh erasure token: 128 random bits, nothing of the id in it."""
    return privacy.ERASED_PREFIX + secrets.token_hex(16)


def _warehouse_update(name: str, cols: list[str], cid: str, devices: list[str],
                      token: str) -> tuple[str, list, str, list]:
    """The UPDATE anonymising `cid`'s rows of table `name`, and the count of those rows."""
    match, mparams = [], []
    sets, sparams = [], []
    def text(c):  # an id column typed otherwise (DOUBLE) is compared as text
        return f"CAST({_quote(c)} AS VARCHAR)"

    for c in (c for c in ID_COLUMNS if c in cols):
        match.append(f"{text(c)} = ?")
        mparams.append(cid)
        sets.append(f"{_quote(c)} = CASE WHEN {text(c)} = ? THEN ? ELSE {_quote(c)} END")
        sparams += [cid, token]
    if devices:
        marks = ", ".join("?" * len(devices))
        for c in (c for c in DEVICE_COLUMNS if c in cols):
            match.append(f"{text(c)} IN ({marks})")
            mparams += devices
            sets.append(f"{_quote(c)} = CASE WHEN {text(c)} IN ({marks}) THEN ? "
                        f"ELSE {_quote(c)} END")
            sparams += [*devices, token]
    for c in cols:
        if c in PERSONAL_ATTRIBUTES or c in FREE_TEXT or c in CLEARED_IN.get(name, ()):
            sets.append(f"{_quote(c)} = NULL")
        elif c in FORCED:
            sets.append(f"{_quote(c)} = ?")
            sparams.append(FORCED[c])
    where = " OR ".join(match)
    return (f"UPDATE {_quote(name)} SET {', '.join(sets)} WHERE {where}", sparams + mparams,
            f"SELECT count(*) FROM {_quote(name)} WHERE {where}", mparams)


def _word(names: list[str]) -> re.Pattern | None:
    """Any of `names` as a whole word of a text (C1 in "call C1 today", not in "C10")."""
    if not names:
        return None
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_\-])(?:{alternatives})(?![A-Za-z0-9_\-])")


def _scrub(value, names: set[str], word: re.Pattern | None, token: str):
    """`value` without the person: ids (whole strings or words of a text) become the token,
    and in JSON the keys that hold attributes or free text become null. JSON text is parsed,
    scrubbed and written back as JSON text."""
    if isinstance(value, dict):
        return {k: None if k in PERSONAL_ATTRIBUTES or k in FREE_TEXT
                else _scrub(v, names, word, token) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, names, word, token) for v in value]
    if not isinstance(value, str):
        return value
    if value in names:
        return token
    if value[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, (dict, list)):
            cleaned = _scrub(parsed, names, word, token)
            # rewritten only when something changed: the rest keep their own formatting
            return value if cleaned == parsed else json.dumps(cleaned, ensure_ascii=False)
    return word.sub(token, value) if word is not None else value


def _cleared(col: sa.Column):
    """What a personal attribute or free-text column is set to: NULL, or an empty value of its
    type when the column may not be null."""
    if col.nullable:
        return sa.null()
    if isinstance(col.type, sa.JSON):
        return {}
    if isinstance(col.type, sa.String):
        return ""
    return None  # leave it: no empty value of that type


def _op_rewrite(conn, t: sa.Table, cond, cid: str, devices: list[str], token: str,
                personal: list[str] = ()) -> None:
    """Anonymise the rows of store table `t` matching `cond`, row by row (by primary key):
    id and device columns become the token wherever they name the person; attribute and
    free-text columns are cleared; other text and JSON columns are scrubbed (`_scrub`) of the
    ids and of the person's `personal` values (name, e-mail, phone), so an alert's detail, a
    task's title or a webhook's body keep no trace of them either."""
    names = {cid, *devices, *personal}
    cleared_here = CLEARED_IN.get(t.name, ())
    word = _word(sorted(names))
    key = list(t.primary_key.columns)
    if not key:  # no way to address a row: set-based, ids and attributes only
        values = {c: sa.case((t.c[c].in_(sorted(names)), token), else_=t.c[c])
                  for c in (*ID_COLUMNS, *DEVICE_COLUMNS, *SUBJECT_COLUMNS) if c in t.c}
        values.update({c.name: _cleared(c) for c in t.c
                       if (c.name in PERSONAL_ATTRIBUTES or c.name in FREE_TEXT
                           or c.name in cleared_here)
                       and _cleared(c) is not None})
        values.update({c: v for c, v in FORCED.items() if c in t.c})
        if values:
            conn.execute(t.update().where(cond).values(values))
        return
    for r in conn.execute(sa.select(t).where(cond)).mappings().all():
        new = {}
        for col in t.c:
            v = r[col.name]
            if col.name in PERSONAL_ATTRIBUTES or col.name in FREE_TEXT \
                    or col.name in cleared_here:
                cleared = _cleared(col)
                if cleared is not None and v is not None:
                    new[col.name] = cleared
            elif col.name in FORCED:
                if v != FORCED[col.name]:
                    new[col.name] = FORCED[col.name]
            elif col.name in RERANDOMISED and v is not None:
                new[col.name] = secrets.token_hex(16)
            elif v in STOPPED.get(col.name, {}):
                new[col.name] = STOPPED[col.name][v]
            else:
                scrubbed = _scrub(v, names, word, token)
                if scrubbed != v:
                    new[col.name] = scrubbed
        if new:
            conn.execute(t.update().where(*[k == r[k.name] for k in key]).values(new))


def _scrub_warehouse_text(wh: Warehouse, name: str, cid: str, devices: list[str],
                          token: str, personal: list[str] = ()) -> None:
    """On the person's rows of warehouse table `name`, the text columns that are neither ids
    nor cleared (a run's reason text, say) lose the ids and the person's name, e-mail and
    phone (`_scrub`), row by row
    through DuckDB's `rowid`. Runs before the set-based UPDATE, while the rows still match."""
    t = wh.table(name)
    skip = {*ID_COLUMNS, *DEVICE_COLUMNS, *PERSONAL_ATTRIBUTES, *FREE_TEXT}
    texts = [c for c, dtype in t.schema().items() if dtype.is_string() and c not in skip]
    cond = [f"CAST({_quote(c)} AS VARCHAR) = ?" for c in ID_COLUMNS if c in t.columns]
    params: list = [cid] * len(cond)
    if devices:
        for c in (c for c in DEVICE_COLUMNS if c in t.columns):
            cond.append(f"CAST({_quote(c)} AS VARCHAR) IN ({', '.join('?' * len(devices))})")
            params += devices
    if not texts or not cond:
        return
    con = wh.backend.con
    rows = con.execute(f"SELECT rowid, {', '.join(_quote(c) for c in texts)} FROM "
                       f"{_quote(name)} WHERE {' OR '.join(cond)}", params).fetchall()
    names = {cid, *devices, *personal}
    word = _word(sorted(names))
    for rowid, *values in rows:
        new = {c: _scrub(v, names, word, token) for c, v in zip(texts, values)}
        new = {c: v for (c, v), old in zip(new.items(), values) if v != old}
        if new:
            con.execute(f"UPDATE {_quote(name)} SET "
                        f"{', '.join(f'{_quote(c)} = ?' for c in new)} WHERE rowid = ?",
                        [*new.values(), rowid])


def identifying_values(wh: Warehouse, store, customer_id: str,
                       devices: list[str]) -> dict[str, set[str]]:
    """The person's name, e-mail and phone as held on their rows of any warehouse or store
    table (`IDENTIFYING`): what the suppression list keys on (e-mail, phone) and what is
    scrubbed out of free text."""
    found: dict[str, set[str]] = {c: set() for c in IDENTIFYING}
    for name in base_tables(wh):
        t = wh.table(name)
        cols = [c for c in IDENTIFYING if c in t.columns and t[c].type().is_string()]
        cond = _warehouse_match(t, customer_id, devices) if cols else None
        if cond is None:
            continue
        rows = t.filter(cond).select(*cols).distinct().to_pandas()
        for c in cols:
            found[c] |= {str(v) for v in rows[c].dropna() if str(v).strip()}
    if store is not None:
        with store.engine.connect() as conn:
            for t, cond in _op_rows_of(store, customer_id, devices):
                cols = [c for c in IDENTIFYING if c in t.c]
                if cols:
                    for r in conn.execute(sa.select(*[t.c[c] for c in cols]).where(cond)):
                        for c, v in zip(cols, r):
                            if v is not None and str(v).strip():
                                found[c].add(str(v))
    return found


def erase_person(wh: Warehouse, store, customer_id: str, *,
                 compact: bool = True) -> ErasureReport:
    """Erase `customer_id` from the warehouse (every table, every run's outputs, the
    quarantine) and the operational store, keeping aggregate figures (see the module's
    docstring for what is kept, nulled and deleted), and list them on the suppression list
    (`opstore.suppression`) so that no later ingestion or collection brings them back.
    Idempotent: when nothing is held on the id any more, only the listing is (re)done and the
    report says so (`nothing_held`).

    The person is listed first (a crash half-way leaves them listed, never back); the
    warehouse is then changed in one transaction, the store in one; the audit record
    (`erase_person`, subject = the token) is written; last, with `compact`, both databases are
    rewritten so the erased values are gone from their bytes, not only from their tables
    (`compact_after`). Only a DuckDB warehouse can be changed in place (`UnsupportedBackend`
    otherwise); a store is needed to keep the list (`ErasureError` without one)."""
    from upmarket.opstore import suppression

    _need_sql_writes(wh, "erasure")
    if store is None:
        raise ErasureError("err.erasure.store")
    cid = customer_id
    devices = devices_of(wh, store, cid)
    found = identifying_values(wh, store, cid, devices)
    personal = sorted(set().union(*found.values()))
    listed = suppression.add(store, {"customer_id": [cid], "device": devices,
                                     "email": found["email"], "phone": found["phone"]})
    token = new_token()
    report = ErasureReport(token=token, devices=len(devices), listed=listed)
    con = wh.backend.con
    plans = []
    for name in base_tables(wh):
        cols = list(wh.table(name).columns)
        if not any(c in cols for c in ID_COLUMNS) and not (
                devices and any(c in cols for c in DEVICE_COLUMNS)):
            continue
        update, uparams, count, cparams = _warehouse_update(name, cols, cid, devices, token)
        n = con.execute(count, cparams).fetchone()[0]
        if n:
            plans.append((name, update, uparams, n))
    quarantined = _quarantined(wh, [cid, *devices])
    op_plans = []
    with store.engine.connect() as conn:
        for t, cond in _op_rows_of(store, cid, devices):
            n = conn.execute(sa.select(sa.func.count()).select_from(t).where(cond)).scalar()
            if n:
                op_plans.append((t, cond, int(n)))
    if not plans and quarantined.empty and not op_plans:
        return ErasureReport(token=None, listed=listed)

    with wh.transaction():
        for name, update, params, n in plans:
            _scrub_warehouse_text(wh, name, cid, devices, token, personal)
            con.execute(update, params)
            report.warehouse[name] = int(n)
        for batch_id, row_number in zip(quarantined["batch_id"], quarantined["row_number"]):
            con.execute(f"UPDATE {_quote(QUARANTINE.name)} SET raw = NULL "
                        "WHERE batch_id = ? AND row_number = ?", [batch_id, int(row_number)])
        report.quarantine = len(quarantined)
    if op_plans:
        with store.engine.begin() as conn:
            if store.dialect == "sqlite":
                # freed cells are zeroed as they are freed, not left in the file's free pages
                conn.exec_driver_sql("PRAGMA secure_delete = ON")
            for t, cond, n in op_plans:
                if t.name in DELETED_TABLES:
                    conn.execute(t.delete().where(cond))
                    report.deleted[t.name] = n
                else:
                    _op_rewrite(conn, t, cond, cid, devices, token, personal)
                    report.opstore[t.name] = n
    privacy.audit(wh, "erase_person", token, store=store, devices=report.devices,
                  warehouse=report.warehouse, quarantine=report.quarantine,
                  opstore=report.opstore, deleted=report.deleted)
    if compact:
        report.not_compacted = compact_after(wh, store, [t.name for t, _, _ in op_plans])
    return report


def compact_after(wh: Warehouse, store, touched: list[str] = ()) -> list[str]:
    """Rewrite both databases so that erased values are gone from their bytes: DuckDB does
    not overwrite the blocks an UPDATE frees (`warehouse.compact`), SQLite keeps freed pages
    and old copies in its write-ahead log (VACUUM, then a TRUNCATE checkpoint empties the
    log), PostgreSQL keeps dead tuples until VACUUM FULL rewrites the `touched` tables.
    Returns what could not be done and why (another process holding a file), empty when all
    was done; the erasure itself stands either way."""
    from upmarket.warehouse.compact import WarehouseBusy, compact

    problems = []
    try:
        compact(wh)
    except WarehouseBusy as exc:
        problems.append(exc)
    if store is None:
        return problems
    try:
        if store.dialect == "sqlite":
            raw = store.engine.raw_connection()
            try:
                cur = raw.cursor()
                cur.execute("VACUUM")
                busy, _, _ = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                cur.close()
            finally:
                raw.close()
            if busy:
                problems.append(Msg("err.compact.store_read", url=store.url))
        elif store.dialect == "postgresql" and touched:
            with store.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT") as conn:
                for name in sorted(set(touched)):
                    conn.exec_driver_sql(f"VACUUM FULL {_quote(name)}")
    except sa.exc.OperationalError as exc:
        problems.append(Msg("err.compact.store_busy", url=store.url, reason=exc.orig))
    return problems


# -- retention -----------------------------------------------------------------------------
def retention_days(value: int | None = None) -> int | None:
    """`value`, else UPMARKET_RETENTION_DAYS, else None (no default purge: how long raw events
    are needed is the business's decision, not ours)."""
    import os

    if value is not None:
        days = value
    else:
        raw = os.environ.get(RETENTION_ENV, "").strip()
        if not raw:
            return None
        try:
            days = int(raw)
        except ValueError:
            raise ErasureError("err.retention.env", env=RETENTION_ENV, raw=raw) from None
    if days < 1:
        raise ErasureError("err.retention.short", days=days, env=RETENTION_ENV)
    return days


def purge_raw_events(wh: Warehouse, store, older_than_days: int | None, *,
                     now: datetime | None = None, dry_run: bool = False) -> PurgeReport:
    """Delete raw events dated more than `older_than_days` (None: UPMARKET_RETENTION_DAYS)
    before `now`: from the warehouse `events` table, and from the store's inbox only those
    already copied (an uncopied event has not reached the warehouse yet; deleting it would
    lose it, not retire it). Returns the counts (what would be deleted, with `dry_run`);
    audited when something was deleted.

    Derived figures already published by runs are kept; later runs see fewer old events,
    which is the point of a retention limit."""
    from upmarket.opstore.schema import event_inbox

    days = retention_days(older_than_days)
    if days is None:
        raise ErasureError("err.retention.none", env=RETENTION_ENV)
    cutoff = (now or privacy.now_utc()) - timedelta(days=days)
    e = wh.table("events")
    n_wh = int(e.filter(e.ts < cutoff).count().execute())
    n_in = kept = 0
    old = event_inbox.c.ts < cutoff
    copied = event_inbox.c.copied == sa.true()
    if store is not None:
        with store.engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(event_inbox)
            n_in = int(conn.execute(count.where(old, copied)).scalar())
            kept = int(conn.execute(count.where(old, ~copied)).scalar())
    report = PurgeReport(cutoff, dry_run, n_wh, n_in, kept)
    if dry_run or not (n_wh or n_in):
        return report
    if n_wh:
        _need_sql_writes(wh, "purging events")
        with wh.transaction():
            wh.backend.con.execute('DELETE FROM "events" WHERE ts < ?', [cutoff])
    if n_in:
        with store.engine.begin() as conn:
            conn.execute(event_inbox.delete().where(old, copied))
    privacy.audit(wh, "purge_raw_events", f"events before {cutoff.isoformat()}", store=store,
                  older_than_days=days, warehouse_events=n_wh, inbox_events=n_in)
    return report
