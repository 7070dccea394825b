"""Reading a user's file into a frame of text cells, with honest row numbers.

Every cell is read as text so that a value we cannot parse is kept verbatim for the quarantine;
types are decided later, in `validate.py`, against the canonical schema.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from upmarket.errors import BadFile

#: Tried in order; GB18030 is a superset of GBK, so a GBK file decodes as either and is
#: reported as GBK when GBK alone suffices.
ENCODINGS = ("utf-8-sig", "utf-8", "gbk", "gb18030")
DELIMITERS = ",;\t|"
SAMPLE_BYTES = 1 << 20


@dataclass
class Sheet:
    """A file read as text: `frame` has one string column per header, `first_line` is the file
    line (1-based) of the frame's first row, so row i is line `first_line + i`."""

    frame: pd.DataFrame
    path: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    first_line: int = 2


def detect_encoding(raw: bytes, path: str) -> str:
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for enc in ENCODINGS[1:]:
        try:
            raw.decode(enc)
            return enc
        except UnicodeDecodeError as exc:
            # A sample may cut a multi-byte character at its end; that is not a decoding error.
            if exc.start >= len(raw) - 4 and len(raw) >= SAMPLE_BYTES:
                return enc
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[:SAMPLE_BYTES]).best()
    except Exception:  # pragma: no cover - charset_normalizer failing is not the user's fault
        best = None
    if best is None:
        raise BadFile(
            f"{path}: cannot tell the text encoding (tried UTF-8, GBK, GB18030); "
            "give it in a mapping file with `encoding: ...`"
        )
    return best.encoding


def sniff_delimiter(text: str, path: str) -> str:
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        raise BadFile(f"{path}: the file is empty")
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        if counts[best] == 0:
            raise BadFile(
                f"{path}: not a table: no delimiter among , ; tab | in the first line "
                f"({lines[0][:80]!r}). Is this the right file? For whitespace-separated CDNOW "
                "files use --preset cdnow."
            ) from None
        return best


def read_text_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    header: bool = True,
    whitespace: bool = False,
) -> Sheet:
    """Read CSV/TSV (or whitespace-separated text) as strings."""
    path = str(path)
    try:
        with open(path, "rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
    except FileNotFoundError:
        raise BadFile(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadFile(f"{path}: is a directory, not a file") from None
    if not sample.strip():
        raise BadFile(f"{path}: the file is empty")
    if b"\x00" in sample[:4096]:
        raise BadFile(f"{path}: binary content, not a text table (Excel needs .xlsx, Parquet .parquet)")
    encoding = encoding or detect_encoding(sample, path)
    text_sample = sample.decode(encoding, errors="replace")
    if not whitespace:
        delimiter = delimiter or sniff_delimiter(text_sample, path)
    try:
        frame = pd.read_csv(
            path,
            sep=r"\s+" if whitespace else delimiter,
            encoding=encoding,
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            na_values=[],
            skip_blank_lines=True,
        )
    except UnicodeDecodeError as exc:
        raise BadFile(
            f"{path}: not valid {encoding} text near byte {exc.start}; give the encoding in a "
            "mapping file (`encoding: gb18030`)"
        ) from None
    except pd.errors.ParserError as exc:
        raise BadFile(f"{path}: not a regular table: {exc}") from None
    except pd.errors.EmptyDataError:
        raise BadFile(f"{path}: the file is empty") from None
    if not header:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
    frame.columns = [str(c).strip() for c in frame.columns]
    return Sheet(frame, path, "text" if whitespace else "csv", encoding,
                 "whitespace" if whitespace else delimiter, 2 if header else 1)


def read_excel(path: str) -> Sheet:
    try:
        frame = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
    except FileNotFoundError:
        raise BadFile(f"{path}: no such file") from None
    except Exception as exc:
        raise BadFile(f"{path}: cannot read as an Excel workbook: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Sheet(frame, path, "xlsx")


def read_parquet(path: str) -> Sheet:
    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise BadFile(f"{path}: no such file") from None
    except Exception as exc:
        raise BadFile(f"{path}: cannot read as Parquet: {exc}") from None
    return Sheet(frame, path, "parquet")


def read_file(path: str | Path, *, encoding: str | None = None, delimiter: str | None = None) -> Sheet:
    """Read any supported file by its extension (CSV/TSV/TXT, XLSX, Parquet)."""
    path = str(path)
    suffix = Path(path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_excel(path)
    if suffix == ".xls":
        raise BadFile(f"{path}: old .xls workbooks are not supported; save it as .xlsx or CSV")
    if suffix in (".parquet", ".pq"):
        return read_parquet(path)
    return read_text_table(path, encoding=encoding, delimiter=delimiter)


def sheet_from_frame(frame: pd.DataFrame, source: str) -> Sheet:
    """A DataFrame given in place of a file, as the text a file of it would hold, so it goes
    through the same mapping, presets and checks: `pd.read_csv` gives floats, ints and
    datetimes where a file reader gives strings, and missing cells become empty strings."""
    text = {}
    for col in frame.columns:
        values = frame[col]
        text[str(col)] = values.astype(str).where(values.notna(), "")
    return Sheet(pd.DataFrame(text, index=pd.RangeIndex(len(frame))), source, "frame", first_line=1)
