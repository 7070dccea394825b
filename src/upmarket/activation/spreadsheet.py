"""Cells a spreadsheet will not evaluate: the one writer of every CSV and Excel file that
leaves the system.

Customer ids, names, product names and the like come from the user's data and from events
anyone can send, so a value such as ``=HYPERLINK("http://…"&B2,"open")`` or
``+cmd|' /C calc'!A0`` must reach the reader as text, never as a formula that runs when the
file is opened (CSV injection, CWE-1236). Following the OWASP guidance on CSV injection
(https://owasp.org/www-community/attacks/CSV_Injection), a text cell whose first character is
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single quote ``'``;
so are the full-width forms ``＝ ＋ － ＠``, which some spreadsheets fold to their ASCII
equivalents before deciding what a cell is. Excel files additionally store every text cell as
a string cell, so even a value that slipped past the rule could not become a formula there.

Numbers stay numbers (a number is never a formula) and parquet is not written here: it is read
by programs, which do not evaluate cells.
"""

from __future__ import annotations

import csv
import math
import os
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

#: First characters that make a spreadsheet read a cell as a formula (OWASP), with the
#: full-width forms some spreadsheets fold to them.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
QUOTE = "'"


def _needs_quote(text: str) -> bool:
    # Quotes already in front are looked through: "'=1" gets its own quote too, so that
    # removing the one added quote always gives the original back (the rule is reversible).
    return text.lstrip(QUOTE)[:1] in FORMULA_PREFIXES


def neutralise(value):
    """`value` as a cell no spreadsheet evaluates: text starting with a formula prefix gets a
    leading single quote (OWASP CSV-injection guidance); anything that is not text is
    returned unchanged."""
    if isinstance(value, str) and _needs_quote(value):
        return QUOTE + value
    return value


def unneutralise(value):
    """The value `neutralise` was given: drops the quote it added, and only that one."""
    if isinstance(value, str) and value.startswith(QUOTE) and _needs_quote(value[1:]):
        return value[1:]
    return value


def is_dangerous(value) -> bool:
    """True for text a spreadsheet would read as a formula (for checks and tests)."""
    return isinstance(value, str) and value[:1] in FORMULA_PREFIXES


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell and column name neutralised; numeric, boolean
    and date columns are left as they are."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_float_dtype(s) and np.isinf(s.to_numpy(dtype=float)).any():
            # a spreadsheet reads the text "-inf" as a formula (a name with a minus): such
            # values travel as text, and go through the rule below
            s = s.astype(object).where(~np.isinf(s.to_numpy(dtype=float)), s.map(str))
        if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s) or \
                isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write `frame` as UTF-8 CSV with a byte-order mark (so Excel reads Chinese text right),
    every text cell neutralised. Written to `PATH.part` and renamed, so a reader never sees
    half a file and a failed write leaves no file behind."""
    path = Path(path)
    tmp = _part(path)
    try:
        # QUOTE_MINIMAL still quotes cells holding a separator, quote or line break, so a
        # value cannot spill into the next cell or row (OWASP's second rule)
        neutralise_frame(frame).to_csv(tmp, index=False, encoding="utf-8-sig",
                                       quoting=csv.QUOTE_MINIMAL)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _xlsx_value(value):
    """A Python value openpyxl writes as itself: numbers, booleans, naive datetimes, text;
    None for missing values (an empty cell)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.tz_localize(None).to_pydatetime() if value.tzinfo else value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return value
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).to_pydatetime()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str = "export") -> Path:
    """Write `frame` as an Excel workbook: text cells neutralised and stored as string cells
    (never formulas), numbers as numbers, dates as dates. Atomic like `write_csv`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    path = Path(path)
    tmp = _part(path)
    safe = neutralise_frame(frame)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)

    def cell(value):
        value = _xlsx_value(value)
        if isinstance(value, str):
            # control characters are not allowed in the file format; show that something
            # was there instead of failing the whole export
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str):
            c.data_type = "s"  # openpyxl would store text starting with "=" as a formula
        elif isinstance(value, (datetime, date)):
            c.number_format = "yyyy-mm-dd hh:mm:ss" if isinstance(value, datetime) \
                else "yyyy-mm-dd"
        return c

    ws.append([cell(c) for c in safe.columns])
    for row in safe.itertuples(index=False, name=None):
        ws.append([cell(v) for v in row])
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


def write_table(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write `frame` in `fmt` (csv or xlsx) with `write_csv` / `write_xlsx`."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise ValueError(f"spreadsheet format must be one of {', '.join(WRITERS)}, "
                         f"not {fmt!r}") from None
    return writer(frame, path)
