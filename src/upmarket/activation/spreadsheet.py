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
import re
from dataclasses import dataclass, field
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
            # built as objects: `map` would turn a column of numbers into floats and lose
            # the format a `Formatted` number carries
            out[col] = pd.Series([neutralise(v) for v in s], index=s.index, dtype=object)
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


class Formatted(float):
    """A number with the Excel number format it is shown in (e.g. ``0.0%``), for tables whose
    columns mix units, such as a report's KPIs."""

    number_format: str

    def __new__(cls, value: float, number_format: str) -> Formatted:
        obj = super().__new__(cls, value)
        obj.number_format = number_format
        return obj


@dataclass
class Sheet:
    """One sheet of a workbook: `frame` under `name`, with `headers` shown for its columns
    (default: their labels, `header_text`) and `notes` as lines above the table."""

    name: str
    frame: pd.DataFrame
    headers: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    #: Excel number formats of columns, where `number_format` would guess wrong
    formats: dict[str, str] = field(default_factory=dict)


#: Columns holding shares between 0 and 1, shown as percentages.
PERCENT_HINTS = ("share", "rate", "risk", "probability", "p_alive", "propensity", "roi_pct")
#: Excel's limits on a sheet name: 31 characters, none of these.
_SHEET_NAME_BAD = re.compile(r"[\\/*?:\[\]]")


def header_text(column: str, lang: str | None = None) -> str:
    """What a workbook calls `column`: its field label in `lang` (see `i18n`), else the name
    with spaces, so a reader never meets snake_case."""
    from upmarket.i18n import LABELS, label

    for key in (f"field.{column}", f"col.{column}"):
        if key in LABELS:
            return label(key, lang)
    return str(column).replace("_", " ")


def number_format(column: str, series: pd.Series) -> str | None:
    """The Excel number format of a numeric column: percentages for shares, thousands
    separators always, two decimals for fractional amounts."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return None
    values = series.dropna()
    name = str(column).lower()
    if name.endswith("_pct") and values.abs().le(100).all():
        return "+0.0%;-0.0%;0.0%"  # a relative change: signed
    # shares may pass 100 % (a budget executed at 102 %), never by orders of magnitude
    if any(h in name for h in PERCENT_HINTS) and values.abs().le(10).all():
        return "0.0%"
    if pd.api.types.is_integer_dtype(series) or (values == values.round()).all():
        return "#,##0"
    return "#,##0.00"


def _width(values: list, header: str) -> int:
    """Column width in characters: the longest of the header and the first rows, a CJK
    character counting double, within 8…60 so no column swallows the sheet."""
    def cells(v) -> int:
        text = f"{v:,.2f}" if isinstance(v, float) else str(v if v is not None else "")
        return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
    longest = max([cells(header), *(cells(v) for v in values[:500])])
    return max(8, min(60, longest + 2))


def sheet_name(name: str, taken: set[str]) -> str:
    """`name` as Excel accepts it (31 characters, no ``\\ / * ? : [ ]``), unique in the book."""
    base = _SHEET_NAME_BAD.sub(" ", str(name)).strip("'") or "sheet"
    base = base[:31]
    out, n = base, 2
    while out.lower() in taken:
        suffix = f" ({n})"
        out, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(out.lower())
    return out


def write_workbook(sheets: list[Sheet], path: Path, *, lang: str | None = None) -> Path:
    """Write `sheets` as one styled Excel workbook: a bold filled header row that stays in
    view (frozen) with filters, columns as wide as their contents, numbers as numbers in a
    readable format, dates as dates; every text cell — headers, notes, values — neutralised
    (OWASP CSV injection, see the module) and stored as a string cell, never a formula.
    Atomic like `write_csv`."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    tmp = _part(path)
    wb = Workbook(write_only=True)
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1F4E79")
    note_font = Font(italic=True, color="555555")
    taken: set[str] = set()
    for spec in sheets:
        ws = wb.create_sheet(sheet_name(spec.name, taken))
        frame = spec.frame
        safe = neutralise_frame(frame)
        # values arrive neutralised (`safe`); headers and notes are neutralised here
        headers = [neutralise(h) for h in (spec.headers or
                                           [header_text(c, lang) for c in frame.columns])]
        formats = [spec.formats.get(c) or number_format(c, frame[c]) for c in frame.columns]

        def cell(value, fmt=None, font=None, fill=None, wrap=False):
            if isinstance(value, Formatted):
                fmt, value = value.number_format, float(value)
            value = _xlsx_value(value)
            if isinstance(value, str):
                # control characters are not allowed in the file format; show that something
                # was there instead of failing the whole export
                value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
            c = WriteOnlyCell(ws, value=value)
            if isinstance(value, str):
                c.data_type = "s"  # openpyxl would store text starting with "=" as a formula
            elif isinstance(value, datetime):
                c.number_format = "yyyy-mm-dd hh:mm:ss" if (value.hour or value.minute or
                                                            value.second) else "yyyy-mm-dd"
            elif isinstance(value, date):
                c.number_format = "yyyy-mm-dd"
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and fmt:
                c.number_format = fmt
            if font is not None:
                c.font = font
            if fill is not None:
                c.fill = fill
            if wrap:
                c.alignment = Alignment(wrap_text=True, vertical="top")
            return c

        rows = [list(r) for r in safe.itertuples(index=False, name=None)]
        for i, h in enumerate(headers):
            ws.column_dimensions[get_column_letter(i + 1)].width = _width(
                [r[i] for r in rows], h)
        top = len(spec.notes) + 1  # the header's row
        if headers:
            # the header row stays in view while scrolling, its filters on every column
            ws.freeze_panes = f"A{top + 1}"
            ws.auto_filter.ref = (f"A{top}:{get_column_letter(len(headers))}"
                                  f"{top + max(len(rows), 1)}")
        for note in spec.notes:
            ws.append([cell(neutralise(note), font=note_font)])
        ws.append([cell(h, font=header_font, fill=header_fill, wrap=True) for h in headers])
        for row in rows:
            ws.append([cell(v, f) for v, f in zip(row, formats, strict=True)])
    if not sheets:
        wb.create_sheet("export")
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_xlsx(frame: pd.DataFrame, path: Path, *, sheet: str = "export",
               lang: str | None = None) -> Path:
    """Write `frame` as a one-sheet styled workbook (`write_workbook`), headers in `lang`
    (default: the UPMARKET_LANG setting)."""
    return write_workbook([Sheet(sheet, frame)], path, lang=lang)


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


def write_table(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write `frame` in `fmt` (csv or xlsx) with `write_csv` / `write_xlsx`."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise ValueError(f"spreadsheet format must be one of {', '.join(WRITERS)}, "
                         f"not {fmt!r}") from None
    return writer(frame, path)
