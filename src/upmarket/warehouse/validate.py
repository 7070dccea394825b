"""Typing and checking rows against the canonical schema.

Each row either passes every check of its table or is rejected with the first reason found
(in column order), naming the field. Checks are vectorised: a column is parsed once for all
rows, so a million-row file costs a few column passes, not a million Python calls.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import numpy as np
import pandas as pd

from upmarket.errors import BadMapping, UpmarketError
from upmarket.warehouse.connection import Warehouse
from upmarket.warehouse.mapping import Mapping
from upmarket.warehouse.schema import TABLES, Column, Table

TRUE = {"true", "t", "1", "yes", "y", "granted", "opt-in", "optin", "是", "同意", "已同意", "真"}
FALSE = {"false", "f", "0", "no", "n", "denied", "opt-out", "optout", "否", "拒绝", "不同意", "假"}
_NUMBER_JUNK = re.compile(r"[,\s¥$£€￥]|RMB|CNY|元", re.IGNORECASE)
_ZH_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?")


#: Sane bounds on numbers, by what they measure (`Column.unit`); a mapping file's `limits:`
#: overrides them per unit or per column. Why these defaults:
#: - money 1e12: a trillion in one order line, price, invoice or day of spend is beyond a
#:   real business in the currencies upmarket targets (CNY, USD, EUR: 10^12 is more than a
#:   large retailer's yearly revenue), yet 1e308 or a pasted card number is caught, and sums
#:   of a million bounded values stay far from float overflow. In a currency of small units
#:   (10^12 VND is about 40 million USD) a large B2B seller raises it in the mapping file;
#: - quantity 1e9: a billion units on one line is beyond any real order and catches ids or
#:   barcodes pasted into the quantity column;
#: - number 2**53: any other number; above it float64 no longer holds every whole number, so
#:   an int column would silently change value, and anything bigger is a unit mistake.
LIMITS: dict[str, float] = {"money": 1e12, "quantity": 1e9, "number": float(2**53)}
#: Longest id accepted (characters). Real ids (order numbers, SKUs, UUIDs, hashed emails)
#: are far shorter; a longer one is a column mix-up or an attack on storage and memory.
ID_LENGTH = 256
#: Characters refused in ids (OWASP Input Validation Cheat Sheet: allow-list what an
#: identifier may hold): C0 and C1 control characters including NUL, DEL, and the Unicode
#: line/paragraph separators. They break CSV exports, terminals and joins, and a NUL
#: truncates the id in C-based tools while the warehouse keeps it whole.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NON_FINITE_TEXT = re.compile(r"^\s*[+-]?(nan|inf|infinity)\s*$", re.IGNORECASE)
#: How much of an offending value a reason quotes.
_QUOTE = 40


def is_id(table: Table, col: Column) -> bool:
    """Key columns and the ids that refer to other rows (`customer_id`, `sku`, …)."""
    return col.type == "string" and (
        col.name in table.key or col.name.endswith("_id") or col.name == "sku")


def limits(mapping: Mapping, table: Table) -> dict[str, float]:
    """The bounds in force: the defaults, overridden by the mapping file's `limits:` (per
    unit, `id_length`, or per column of `table`)."""
    known = {*LIMITS, "id_length", *table.column_names}
    unknown = sorted(set(mapping.limits) - known)
    if unknown:
        raise BadMapping("err.map.unknown_limits", path=mapping.source, names=", ".join(unknown),
                         known=", ".join([*LIMITS, "id_length"]), kind=table.name)
    return {**LIMITS, "id_length": ID_LENGTH, **mapping.limits}


def _quote(v) -> str:
    text = str(v)
    return text if len(text) <= _QUOTE else text[:_QUOTE] + "…"


@dataclass
class Checked:
    accepted: pd.DataFrame  # typed, canonical columns only
    #: index = row position in the input; columns field, reason and value (the offending
    #: value quoted, or None when the reason says it all)
    rejected: pd.DataFrame


def _blank(s: pd.Series) -> pd.Series:
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        return s.isna() | (s.astype(str).str.strip() == "")
    return s.isna()


def to_number(s: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    text = s.astype(str).str.replace(_NUMBER_JUNK, "", regex=True)
    return pd.to_numeric(text, errors="coerce")


def to_timestamp(s: pd.Series, mapping: Mapping) -> pd.Series:
    """Naive UTC timestamps. Tries the mapping's format, then ISO 8601, then any common form
    (dayfirst as the mapping says); `2024年3月5日` is understood too."""
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s
    else:
        text = s.astype(str).str.strip()
        text = text.str.replace(_ZH_DATE, r"\1-\2-\3", regex=True)
        if mapping.date_format:
            out = pd.to_datetime(text, format=mapping.date_format, errors="coerce")
        else:
            out = pd.to_datetime(text, format="ISO8601", errors="coerce")
            retry = out.isna() & (text != "")
            if retry.any():
                out = out.astype("datetime64[us]")
                again = pd.to_datetime(text[retry], format="mixed", dayfirst=mapping.dayfirst,
                                       errors="coerce")
                out.loc[retry] = _naive_utc(again)
    out = _naive_utc(out, mapping.timezone)
    return out.astype("datetime64[us]")


def _naive_utc(s: pd.Series, local_tz: str | None = None) -> pd.Series:
    if getattr(s.dt, "tz", None) is not None:
        return s.dt.tz_convert("UTC").dt.tz_localize(None)
    if local_tz:
        return s.dt.tz_localize(local_tz, ambiguous="NaT", nonexistent="shift_forward") \
            .dt.tz_convert("UTC").dt.tz_localize(None)
    return s


def to_bool(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    low = s.astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[low.isin(TRUE)] = True
    out[low.isin(FALSE)] = False
    return out


def check(frame: pd.DataFrame, table: Table, mapping: Mapping) -> Checked:
    """Type and check every row; numbers must be finite and within `limits(mapping)`, ids
    free of control characters and at most `id_length` characters long."""
    n = len(frame)
    bounds = limits(mapping, table)
    reason = pd.Series(np.full(n, None, dtype=object), index=frame.index)
    field = reason.copy()
    quoted = reason.copy()
    typed: dict[str, pd.Series] = {}

    def reject(mask: pd.Series, col: str, why: str, values=None) -> None:
        mask = mask & reason.isna()
        reason[mask] = why
        field[mask] = col
        if values is not None and mask.any():
            quoted[mask] = values.reindex(mask.index)[mask].map(_quote)

    for col in table.columns:
        if col.name not in frame.columns:
            typed[col.name] = pd.Series(pd.NA, index=frame.index)
            if col.required:  # callers check required columns up front; this is a guard
                reject(pd.Series(True, index=frame.index), col.name, f"missing {col.name}")
            continue
        raw = frame[col.name]
        blank = _blank(raw)
        if col.required:
            reject(blank, col.name, f"missing {col.name}")
        if col.type in ("int", "float"):
            value = to_number(raw)
            non_finite = ~blank & np.isinf(value)
            unparsed = ~blank & value.isna()
            if unparsed.any():  # `nan` parses to a missing value: tell it from other text
                non_finite |= raw[unparsed].astype(str).str.match(_NON_FINITE_TEXT) \
                    .reindex(raw.index, fill_value=False).astype(bool)
            reject(non_finite, col.name, f"not finite in {col.name}", raw)
            reject(~blank & value.isna(), col.name, f"not a number in {col.name}")
            if col.type == "int":
                reject(~blank & value.notna() & (value % 1 != 0), col.name, f"not a whole number in {col.name}")
            if col.min is not None:
                word = "negative" if col.min == 0 else "below minimum"
                reject(value < col.min, col.name, f"{word} {col.name}")
            if col.max is not None:
                reject(value > col.max, col.name, f"out of range {col.name}")
            bound = bounds.get(col.name, bounds.get(col.unit or "number", bounds["number"]))
            reject(value.abs() > bound, col.name,
                   f"beyond the sane bound of {col.name} (|value| > {bound:g})", raw)
            value = value.where(np.isfinite(value) & (value.abs() <= bound))
            typed[col.name] = value.round().astype("Int64") if col.type == "int" else value
        elif col.type in ("timestamp", "date"):
            value = to_timestamp(raw, mapping)
            reject(~blank & value.isna(), col.name, f"unparseable date in {col.name}")
            typed[col.name] = value.dt.normalize() if col.type == "date" else value
        elif col.type == "bool":
            value = to_bool(raw)
            reject(~blank & value.isna(), col.name, f"not true/false in {col.name}")
            typed[col.name] = value
        else:
            text = raw.where(~blank).astype(object)
            text = text.map(lambda v: v.strip() if isinstance(v, str) else v)
            if is_id(table, col):
                _check_id(text, ~blank, col.name, int(bounds["id_length"]), reject)
            if col.choices:
                norm = text.map(lambda v: v.lower().replace(" ", "_").replace("-", "_")
                                if isinstance(v, str) else v)
                reject(~blank & ~norm.isin(col.choices), col.name, f"invalid {col.name}")
                text = norm
            typed[col.name] = text.where(~blank, None)

    for rule in ROW_RULES.get(table.name, ()):
        rule(typed, reject)
    rejected = pd.DataFrame({"field": field, "reason": reason, "value": quoted}) \
        .dropna(subset=["reason"])
    accepted = pd.DataFrame(typed, index=frame.index).drop(index=rejected.index)
    return Checked(accepted, rejected)


def _points_sign(typed: dict[str, pd.Series], reject) -> None:
    """An ingested points row says its direction by its kind: earned, redeemed and expired
    points are counted above 0, and only an adjustment is signed (and not 0, which moves
    nothing)."""
    points, kind = typed["points"], typed["kind"]
    signed = kind == "adjusted"
    reject((~signed & (points <= 0)).fillna(False).astype(bool), "points",
           "points not above 0 for earned, redeemed or expired")
    reject((signed & (points == 0)).fillna(False).astype(bool), "points",
           "points of 0 in an adjustment")


#: Checks across the columns of one row, per table, after each column's own.
ROW_RULES = {"points": (_points_sign,)}


def _check_id(text: pd.Series, present: pd.Series, name: str, longest: int, reject) -> None:
    as_str = text.where(present, "").astype(str)
    length = as_str.str.len()
    too_long = present & (length > longest)
    if too_long.any():
        reject(too_long, name, f"{name} longer than {longest} characters",
               length[too_long].map(lambda n: f"{n:,} characters"))
    found = as_str.str.contains(_CONTROL, regex=True) & present & ~too_long
    if found.any():
        where = as_str[found].map(_first_control)
        reject(found, name, f"control character in {name}", where)


def _first_control(text: str) -> str:
    m = _CONTROL.search(text)
    return f"U+{ord(m.group()):04X} at character {m.start() + 1}"


class BadStoredValues(UpmarketError):
    """The warehouse holds numbers a run cannot use (stored before ingestion refused them)."""


def check_stored(wh: Warehouse, names: tuple[str, ...], *, examples: int = 5) -> None:
    """Raise `BadStoredValues` naming the table, column and first keys of any stored
    non-finite number (NaN, ±inf) in tables `names`; missing values (NULL) are fine.

    Ingestion refuses such numbers, so only rows stored by an earlier version, or written
    to the warehouse by other tools, can trip this; the message says how to take them back.
    """
    for name in names:
        spec = TABLES[name]
        numbers = [c.name for c in spec.columns if c.type == "float"]
        if not numbers or not wh.count(name):
            continue
        t = wh.table(name)
        # one pass per table (a query per column is a job each on Spark)
        counts = t.aggregate(**{col: (t[col].isnan() | t[col].isinf()).cast("int64").sum()
                                for col in numbers}).to_pandas().iloc[0]
        for col in numbers:
            n = 0 if pd.isna(counts[col]) else int(counts[col])
            if not n:
                continue
            bad = t.filter(t[col].isnan() | t[col].isinf())
            keys = bad.select(*spec.key).order_by(list(spec.key)).limit(examples).to_pandas()
            shown = ["/".join(str(v) for v in row) for row in keys.itertuples(index=False)]
            first = sorted(dict.fromkeys(str(v) for v in keys[spec.key[0]]))
            raise BadStoredValues("err.stored_not_finite", table=name, column=col, n=n,
                                  key="/".join(spec.key), examples=", ".join(shown),
                                  keys=" ".join(f"--key {shlex.quote(k)}" for k in first))


#: The reasons `validate` gives, as (pattern, label key); the column is the `col` group.
_REASONS = (
    (r"missing (?P<col>\w+)", "quarantine.missing"),
    (r"not finite in (?P<col>\w+)", "quarantine.not_finite"),
    (r"not a number in (?P<col>\w+)", "quarantine.not_number"),
    (r"not a whole number in (?P<col>\w+)", "quarantine.not_whole"),
    (r"negative (?P<col>\w+)", "quarantine.negative"),
    (r"below minimum (?P<col>\w+)", "quarantine.below_minimum"),
    (r"out of range (?P<col>\w+)", "quarantine.out_of_range"),
    (r"beyond the sane bound of (?P<col>\w+) \(\|value\| > (?P<bound>[^)]+)\)",
     "quarantine.beyond_bound"),
    (r"unparseable date in (?P<col>\w+)", "quarantine.bad_date"),
    (r"not true/false in (?P<col>\w+)", "quarantine.not_bool"),
    (r"invalid (?P<col>\w+)", "quarantine.invalid"),
    (r"(?P<col>\w+) longer than (?P<n>\d+) characters", "quarantine.too_long"),
    (r"control character in (?P<col>\w+)", "quarantine.control_character"),
    (r"(?P<col>points) not above 0 for earned, redeemed or expired", "quarantine.points_sign"),
    (r"(?P<col>points) of 0 in an adjustment", "quarantine.points_zero"),
)


def column_name(column: str, lang: str | None = None) -> str:
    """A column as a Chinese reader knows it: the first Chinese header that maps to it
    (`mapping.SYNONYMS`), else its own name."""
    from upmarket.i18n import LABELS, current_lang
    from upmarket.warehouse.mapping import SYNONYMS

    if current_lang(lang) == "zh-CN":
        if f"column.{column}" in LABELS:
            return LABELS[f"column.{column}"]["zh-CN"]
        for word in SYNONYMS.get(column, ()):
            if re.search(r"[\u4e00-\u9fff]", word):
                return word
    return column


def reason_text(reason: str, lang: str | None = None) -> str:
    """A quarantine reason in the reader's language; the stored reason (English, the same in
    every report and query) is what `quarantine` and `--json` keep."""
    from upmarket.i18n import current_lang, label

    if current_lang(lang) != "zh-CN":
        return reason
    for pattern, key in _REASONS:
        m = re.fullmatch(pattern, reason)
        if m:
            found = m.groupdict()
            return label(key, lang, **{**found, "col": column_name(found["col"], lang)})
    return reason
