"""Reading a user's file into a frame of text cells, with honest row numbers.

Every cell is read as text so that a value we cannot parse is kept verbatim for the quarantine;
types are decided later, in `validate.py`, against the canonical schema.

Readers are bounded (see `limits.py`): a text file's header line is read with a bounded read and
its columns counted before pandas sees it; an .xlsx workbook's zip directory is checked before
openpyxl unzips anything; Parquet's column count comes from its metadata. A file over a limit is
refused with `LimitExceeded` in seconds, whatever its size.

A text file's encoding is decided line by line (`scan_text`): every line must be valid in the one
encoding chosen, so a file mixing UTF-8 and GBK lines is refused with the first line of the
minority encoding rather than half of it being stored as mojibake.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from upmarket.errors import BadFile, MixedEncoding, Msg
from upmarket.warehouse.limits import Limits, exceeded, human

DELIMITERS = ",;\t|"
SAMPLE_BYTES = 1 << 20
#: csv.Sniffer's regular expressions take quadratic time on quoted text (64 KiB of `,"x`
#: took 20 s, 8 KiB takes 0.3 s); the first lines of a table are enough to tell its delimiter.
SNIFF_CHARS = 8 << 10
BOM = codecs.BOM_UTF8
#: How much of the lines that are not UTF-8 is kept to guess their encoding.
_GUESS_BYTES = 256 << 10


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


# -- encodings -----------------------------------------------------------------------------
def check_codec(encoding: str, where: str) -> str:
    """`encoding` if Python knows it as a text encoding whose ASCII bytes are plain ASCII (so
    lines and delimiters can be found in the raw bytes); UTF-16/32, EBCDIC and codecs such
    as rot13 or base64 are refused."""
    try:
        info = codecs.lookup(str(encoding))
    except (LookupError, TypeError, ValueError):
        raise BadFile("err.file.unknown_encoding", file=where, encoding=encoding) from None
    if not getattr(info, "_is_text_encoding", True):
        raise BadFile("err.file.not_text_encoding", file=where, encoding=encoding)
    probe = "\n\r,;\t|\" azAZ09"
    try:
        ascii_safe = probe.encode(info.name) == probe.encode("ascii")
    except (UnicodeError, LookupError):
        ascii_safe = False
    if not ascii_safe:
        raise BadFile("err.file.not_ascii_compatible", file=where, encoding=encoding)
    return str(encoding)


@lru_cache(maxsize=1)
def _common_hanzi() -> frozenset[str]:
    """The 3,755 most common Chinese characters (GB2312 level 1, rows 16–55)."""
    decode = codecs.lookup("gb2312").decode
    chars = set()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(decode(bytes((hi, lo)))[0])
            except UnicodeDecodeError:
                pass
    return frozenset(chars)


def _commonness(text: str) -> int:
    common = _common_hanzi()
    return sum(c in common for c in text)


@dataclass
class TextScan:
    """What a pass over a text file's lines found (line numbers are 1-based; the `*_lines`
    lists hold the first few, the counts all)."""

    bom: bool = False
    #: Valid UTF-8 and not GB18030, and the reverse: each proves its encoding.
    utf8_lines: list[int] = field(default_factory=list)
    utf8_count: int = 0
    gb_lines: list[int] = field(default_factory=list)
    gb_count: int = 0
    #: Valid in both. Those whose UTF-8 reading has more common Chinese characters than their
    #: GB18030 reading lean UTF-8; the sums weigh the two readings over all of them.
    both_count: int = 0
    leaning_utf8: list[int] = field(default_factory=list)
    leaning_utf8_count: int = 0
    common_as_utf8: int = 0
    common_as_gb: int = 0
    #: Valid in neither (or, with a declared encoding, not valid in it).
    bad_lines: list[int] = field(default_factory=list)
    bad_count: int = 0
    gbk_ok: bool = True
    other_sample: bytearray = field(default_factory=bytearray)


def _note(lines: list[int], line_no: int) -> None:
    if len(lines) < 5:
        lines.append(line_no)


def scan_text(fh: BinaryIO, path: str, limits: Limits, declared: str | None = None) -> TextScan:
    """Bounded passes over a seekable file: line and row sizes against the limits, and which
    encoding each line with non-ASCII bytes is valid in.

    The file is read in blocks of whole lines (a line is completed with a bounded `readline`,
    so a file without line breaks costs at most `max_record_bytes`). The first pass checks the
    limits and decodes each block at C speed; only a file that is not entirely valid (UTF-8,
    or the declared encoding) gets a second pass that classifies its lines.
    """
    scan = TextScan()
    codec = codecs.lookup(declared or "utf-8")
    valid = True
    rows = _RowSizes(path, limits)
    for first, block in _blocks(fh, limits):
        if first == 1 and block.startswith(BOM):
            scan.bom = True
            block = block[len(BOM):]
        rows.check(block, first)
        valid = valid and _decodes(codec, block)
    if valid:
        return scan
    fh.seek(0)
    for first, block in _blocks(fh, limits):
        if first == 1 and scan.bom:
            block = block[len(BOM):]
        if declared:
            if not _decodes(codec, block):
                for i, line in enumerate(block.split(b"\n")):
                    if not line.isascii() and not _decodes(codec, line):
                        scan.bad_count += 1
                        _note(scan.bad_lines, first + i)
        else:
            _classify_block(scan, block, first)
    return scan


_BLOCK = 1 << 20
_UTF8 = codecs.lookup("utf-8").decode
_GB18030 = codecs.lookup("gb18030").decode
_GBK = codecs.lookup("gbk").decode
_GB18030_INFO = codecs.lookup("gb18030")
_GBK_INFO = codecs.lookup("gbk")
#: In a block decoded as UTF-8 with surrogateescape, a line with non-ASCII characters and no
#: escaped byte is valid UTF-8.
_UTF8_LINE = re.compile("^[^\n\udc80-\udcff]*[^\x00-\x7f\udc80-\udcff][^\n\udc80-\udcff]*$",
                        re.MULTILINE)


def _decodes(codec: codecs.CodecInfo, raw: bytes) -> bool:
    try:
        codec.decode(raw)
    except UnicodeDecodeError:
        return False
    return True


def _blocks(fh: BinaryIO, limits: Limits):
    """(first line number, bytes) of blocks of about `_BLOCK` bytes that end at a line break
    (or the end of the file); a line is completed with a read bounded by `max_record_bytes`."""
    first = 1
    while True:
        block = fh.read(_BLOCK)
        if not block:
            return
        if not block.endswith(b"\n"):
            block += fh.readline(limits.max_record_bytes + 1)
        yield first, block
        first += block.count(b"\n")


class _RowSizes:
    """Refuses a line, or a row whose quoted field spans lines, longer than `max_record_bytes`."""

    def __init__(self, path: str, limits: Limits):
        self.path, self.limit = path, limits.max_record_bytes
        self.in_quotes = False
        self.start = self.length = 0

    def check(self, block: bytes, first: int) -> None:
        lines = block.split(b"\n")
        longest = max(map(len, lines))
        if longest > self.limit:
            n = first + next(i for i, ln in enumerate(lines) if len(ln) == longest)
            raise exceeded(self.path, "max_record_bytes", self.limit,
                           f"line {n} is longer than {human(self.limit)}", "per row")
        if not self.in_quotes and b'"' not in block:
            return
        # A quoted field may hold line breaks; an odd number of quotes opens or closes one.
        for i, line in enumerate(lines):
            if not self.in_quotes:
                self.start, self.length = first + i, 0
            self.length += len(line) + 1
            if line.count(b'"') % 2:
                self.in_quotes = not self.in_quotes
            if self.length > self.limit:
                raise exceeded(self.path, "max_record_bytes", self.limit,
                               f"the row starting at line {self.start} (a quoted field spanning "
                               f"lines) is longer than {human(self.limit)}", "per row")


def _classify_block(scan: TextScan, block: bytes, first: int) -> None:
    """Classify a block's lines. When the whole block is valid GB18030 (a GBK file) only its
    lines that are also valid UTF-8 get a closer look: a GBK file costs a few passes at C
    speed, not one exception per line."""
    lines = block.split(b"\n")
    if not _decodes(_GB18030_INFO, block):
        for i, line in enumerate(lines):
            if not line.isascii():
                _classify(scan, line, first + i)
        return
    if scan.gbk_ok and not _decodes(_GBK_INFO, block):
        scan.gbk_ok = False
    text = block.decode("utf-8", "surrogateescape")
    valid_utf8 = {}
    line_no = pos = 0
    for m in _UTF8_LINE.finditer(text):
        line_no += text.count("\n", pos, m.start())
        pos = m.start()
        valid_utf8[line_no] = m.group()
    non_ascii = len(lines) - sum(map(bytes.isascii, lines))
    scan.gb_count += non_ascii - len(valid_utf8)
    if len(scan.gb_lines) < 5 and non_ascii > len(valid_utf8):
        for i, line in enumerate(lines):
            if len(scan.gb_lines) >= 5:
                break
            if i not in valid_utf8 and not line.isascii():
                scan.gb_lines.append(first + i)
    for i, line in valid_utf8.items():
        _classify(scan, line.encode("utf-8"), first + i)


def _classify(scan: TextScan, line: bytes, n: int) -> None:
    try:
        as_utf8 = _UTF8(line)[0]
    except UnicodeDecodeError:
        as_utf8 = None
    try:
        as_gb = _GB18030(line)[0]
    except UnicodeDecodeError:
        as_gb = None
    if as_utf8 is not None and as_gb is not None:
        scan.both_count += 1
        u, g = _commonness(as_utf8), _commonness(as_gb)
        scan.common_as_utf8 += u
        scan.common_as_gb += g
        if u > g:
            scan.leaning_utf8_count += 1
            _note(scan.leaning_utf8, n)
    elif as_utf8 is not None:
        scan.utf8_count += 1
        _note(scan.utf8_lines, n)
        return
    elif as_gb is not None:
        scan.gb_count += 1
        _note(scan.gb_lines, n)
    else:
        scan.bad_count += 1
        _note(scan.bad_lines, n)
        if len(scan.other_sample) < _GUESS_BYTES:
            scan.other_sample += line + b"\n"
        return
    if scan.gbk_ok:
        try:
            _GBK(line)
        except UnicodeDecodeError:
            scan.gbk_ok = False


def _lines(first: list[int], count: int) -> Msg:
    shown = ", ".join(map(str, first))
    return Msg("err.file.one_line", line=shown) if count == 1 else \
        Msg("err.file.lines", n=count, first=shown + (", …" if count > len(first) else ""))


def decide_encoding(scan: TextScan, path: str, declared: str | None = None,
                    sample: bytes = b"") -> str:
    """The one encoding every line of the file is valid in, or a `MixedEncoding` error naming
    the first line that is not.

    Lines valid in only one of UTF-8 and GB18030 decide. Short Chinese UTF-8 text is often
    valid GB18030 too (the reverse is rare), so in a file whose decided lines are GBK a line
    valid in both whose UTF-8 reading holds more common Chinese characters counts as UTF-8:
    reading it as GBK would store mojibake. GB18030 is a superset of GBK; a file is reported
    as GBK when GBK alone suffices.
    """
    if declared:
        if scan.bad_count:
            raise MixedEncoding("err.file.not_declared_encoding", path=path,
                                line=scan.bad_lines[0], encoding=declared,
                                lines=_lines(scan.bad_lines, scan.bad_count))
        return declared
    gb_name = "GBK" if scan.gbk_ok else "GB18030"
    utf8_lines, utf8_count = scan.utf8_lines, scan.utf8_count
    if not utf8_count and scan.gb_count:
        utf8_lines, utf8_count = scan.leaning_utf8, scan.leaning_utf8_count
    if scan.bom and not utf8_count and (scan.gb_count or scan.bad_count):
        utf8_lines, utf8_count = [1], 1  # the byte-order mark says UTF-8
    if utf8_count and (scan.gb_count or scan.bad_count):
        others = scan.gb_count + scan.bad_count
        other_first = sorted(scan.gb_lines + scan.bad_lines)[:5]
        what = gb_name if not scan.bad_count else \
            (Msg("err.file.gb_or_other", gb=gb_name) if scan.gb_count
             else Msg("err.file.other_encoding"))
        if utf8_count >= others:
            first_bad, bad_desc = other_first[0], Msg("err.file.not_utf8", what=what)
        else:
            first_bad, bad_desc = utf8_lines[0], Msg("err.file.utf8_among", what=what)
        raise MixedEncoding("err.file.mixed", path=path, line=first_bad, desc=bad_desc,
                            utf8=_lines(utf8_lines, utf8_count), what=what,
                            others=_lines(other_first, others))
    if scan.bom:
        return "utf-8-sig"
    if scan.bad_count:
        return _guess_other(scan, path, sample)
    if scan.gb_count or (not utf8_count and scan.common_as_gb > 2 * scan.common_as_utf8):
        return "gbk" if scan.gbk_ok else "gb18030"
    return "utf-8"


def _guess_other(scan: TextScan, path: str, sample: bytes) -> str:
    """Neither UTF-8 nor GB18030 (Latin-1, Shift-JIS, Big5…): let charset_normalizer name it
    from the file's first bytes, or the lines that are not UTF-8."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample[:SAMPLE_BYTES] or bytes(scan.other_sample)).best()
    except Exception:  # pragma: no cover - charset_normalizer failing is not the user's fault
        best = None
    if best is None or best.encoding in ("utf_8", "gb18030", "gbk"):
        raise BadFile("err.file.unknown_text", path=path, line=scan.bad_lines[0])
    return best.encoding


# -- text tables ---------------------------------------------------------------------------
def sniff_delimiter(text: str, path: str) -> str:
    lines = [ln for ln in text[:SNIFF_CHARS].splitlines()[:50] if ln.strip()]
    if not lines:
        raise BadFile("err.file.empty", path=path)
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        if counts[best] == 0:
            raise BadFile("err.file.no_delimiter", path=path, first=lines[0][:80]) from None
        return best


def _header_line(fh: BinaryIO, path: str, limits: Limits) -> bytes:
    """The first line, read with a bounded read: a header longer than `max_header_bytes` is
    refused before anything parses it."""
    head = fh.readline(limits.max_header_bytes + 1)
    if len(head) > limits.max_header_bytes and not head.endswith(b"\n"):
        at_least = max(head.count(d.encode()) for d in DELIMITERS) + 1
        raise exceeded(path, "max_header_bytes", limits.max_header_bytes,
                       f"the header line is longer than {human(limits.max_header_bytes)} "
                       f"(at least {at_least:,} columns)", "for the header line")
    return head


def _count_columns(head: bytes, encoding: str, delimiter: str | None, whitespace: bool) -> int:
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    if whitespace:
        return len(text.split())
    try:
        return len(next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), []))
    except csv.Error:
        return text.count(delimiter) + 1


def _check_row_widths(path: str, encoding: str, delimiter: str | None, whitespace: bool,
                      limits: Limits) -> None:
    """Refuse a row with more than `max_columns` fields before pandas sees it: pandas takes a
    row wider than the header as index columns, and a million of them costs minutes and
    gigabytes. Only a line of at least `max_columns` bytes can hold that many fields, so short
    lines are skipped at C speed and long ones counted exactly."""
    with open(path, "rb") as fh:
        for first, block in _blocks(fh, limits):
            for i, line in enumerate(block.split(b"\n")):
                if len(line) < limits.max_columns:
                    continue
                width = _count_columns(line, encoding, delimiter, whitespace)
                if width > limits.max_columns:
                    raise exceeded(path, "max_columns", limits.max_columns,
                                   f"line {first + i} has {width:,} fields", "columns")


def read_text_table(
    path: str | Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    header: bool = True,
    whitespace: bool = False,
    limits: Limits | None = None,
) -> Sheet:
    """Read CSV/TSV (or whitespace-separated text) as strings."""
    path = str(path)
    limits = limits or Limits.from_env()
    if encoding:
        encoding = check_codec(encoding, path)
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1
                                  or delimiter in "\r\n\""):
        raise BadFile("err.file.delimiter", path=path, delimiter=delimiter)
    try:
        with open(path, "rb") as fh:
            sample = fh.read(SAMPLE_BYTES)
            if not sample.strip():
                raise BadFile("err.file.empty", path=path)
            if b"\x00" in sample[:4096]:
                raise BadFile("err.file.binary", path=path)
            fh.seek(0)
            head = _header_line(fh, path, limits)
            fh.seek(0)
            scan = scan_text(fh, path, limits, encoding)
    except FileNotFoundError:
        raise BadFile("err.file.not_found", path=path) from None
    except IsADirectoryError:
        raise BadFile("err.file.directory", path=path) from None
    except PermissionError:
        raise BadFile("err.file.forbidden", path=path) from None
    encoding = decide_encoding(scan, path, encoding, sample)
    text_sample = sample.decode(encoding, errors="replace")
    if not whitespace:
        delimiter = delimiter or sniff_delimiter(text_sample, path)
    width = _count_columns(head, encoding, delimiter, whitespace)
    if width > limits.max_columns:
        raise exceeded(path, "max_columns", limits.max_columns,
                       f"the first line has {width:,} columns", "columns")
    _check_row_widths(path, encoding, delimiter, whitespace, limits)
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
        raise BadFile("err.file.bad_text", path=path, encoding=encoding, at=exc.start) from None
    except pd.errors.ParserError as exc:
        raise BadFile("err.file.irregular", path=path, reason=exc) from None
    except pd.errors.EmptyDataError:
        raise BadFile("err.file.empty", path=path) from None
    except (ValueError, csv.Error) as exc:  # e.g. a delimiter pandas will not split on
        raise BadFile("err.file.not_table", path=path, reason=exc) from None
    if not header:
        frame.columns = [f"column_{i + 1}" for i in range(frame.shape[1])]
    frame.columns = [str(c).strip() for c in frame.columns]
    first_line = 2 if header else 1
    check_frame(frame, path, limits, first_line)
    return Sheet(frame, path, "text" if whitespace else "csv", encoding,
                 "whitespace" if whitespace else delimiter, first_line)


def check_frame(frame: pd.DataFrame, path: str, limits: Limits, first_line: int = 2,
                what: str = "line") -> None:
    """Columns and cell sizes of a frame read from `path` against the limits."""
    if frame.shape[1] > limits.max_columns:
        raise exceeded(path, "max_columns", limits.max_columns,
                       f"the table has {frame.shape[1]:,} columns", "columns")
    # A character takes at most 4 bytes in UTF-8: only cells longer than a quarter of the limit
    # in characters need their bytes counted.
    quarter = limits.max_field_bytes // 4
    for pos in range(frame.shape[1]):
        col = frame.iloc[:, pos]
        if not (col.dtype == object or pd.api.types.is_string_dtype(col)):
            continue
        try:
            lengths = col.str.len()
        except (AttributeError, TypeError):  # mixed object column: not all text
            lengths = col.map(lambda v: len(v) if isinstance(v, (str, bytes)) else 0)
        for idx in lengths.index[lengths.fillna(0).to_numpy() > quarter]:
            value = col.loc[idx]
            size = len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) \
                else len(value)
            if size > limits.max_field_bytes:
                row = frame.index.get_loc(idx) + first_line
                raise exceeded(path, "max_field_bytes", limits.max_field_bytes,
                               f"the cell in {what} {row}, column {frame.columns[pos]!r} holds "
                               f"{human(size)}", "per cell")


# -- workbooks and Parquet -------------------------------------------------------------------
def check_xlsx_archive(path: str, limits: Limits) -> None:
    """Refuse a workbook whose parts would unzip to more than `max_xlsx_bytes`, reading only
    the zip's central directory (OWASP: check decompressed size before decompressing). The
    declared sizes can be trusted as an upper bound: Python's zipfile, which openpyxl reads
    through, stops decompressing a part at its declared size."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except FileNotFoundError:
        raise BadFile("err.file.not_found", path=path) from None
    except IsADirectoryError:
        raise BadFile("err.file.directory", path=path) from None
    except Exception as exc:  # zipfile raises many kinds (BadZipFile, NotImplementedError…)
        raise BadFile("err.file.not_xlsx", path=path, reason=exc) from None
    total = sum(i.file_size for i in infos)
    if total > limits.max_xlsx_bytes:
        packed = sum(i.compress_size for i in infos)
        biggest = max(infos, key=lambda i: i.file_size)
        raise exceeded(path, "max_xlsx_bytes", limits.max_xlsx_bytes,
                       f"the workbook unzips to {human(total)} from {human(packed)} "
                       f"({biggest.filename} alone: {human(biggest.file_size)})",
                       "unzipped")


def read_excel(path: str, limits: Limits | None = None) -> Sheet:
    limits = limits or Limits.from_env()
    check_xlsx_archive(path, limits)
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:
        raise BadFile("err.file.bad_xlsx", path=path, reason=exc) from None
    try:
        if not book.worksheets:
            raise BadFile("err.file.no_sheet", path=path)
        sheet = book.worksheets[0]
        # A stored dimension can claim any size; pandas resets it too.
        sheet.reset_dimensions()
        first = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
        width = len(first)
        while width and first[width - 1] is None:
            width -= 1
        if width > limits.max_columns:
            raise exceeded(path, "max_columns", limits.max_columns,
                           f"the first row has {width:,} columns", "columns")
        frame = pd.read_excel(book, dtype=str, keep_default_na=False, engine="openpyxl")
    except BadFile:
        raise
    except Exception as exc:
        raise BadFile("err.file.bad_xlsx", path=path, reason=exc) from None
    finally:
        book.close()
    frame.columns = [str(c).strip() for c in frame.columns]
    check_frame(frame, path, limits, 2, "row")
    return Sheet(frame, path, "xlsx")


def read_parquet(path: str, limits: Limits | None = None) -> Sheet:
    limits = limits or Limits.from_env()
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        width = meta.num_columns
        # Dictionary and run-length encodings let a small file hold a huge table: the row
        # groups' uncompressed sizes bound what reading it costs.
        unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except FileNotFoundError:
        raise BadFile("err.file.not_found", path=path) from None
    except Exception as exc:
        raise BadFile("err.file.bad_parquet", path=path, reason=exc) from None
    if width > limits.max_columns:
        raise exceeded(path, "max_columns", limits.max_columns,
                       f"the table has {width:,} columns", "columns")
    if unpacked > limits.max_parquet_bytes:
        raise exceeded(path, "max_parquet_bytes", limits.max_parquet_bytes,
                       f"the data is {human(unpacked)} uncompressed", "uncompressed")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise BadFile("err.file.bad_parquet", path=path, reason=exc) from None
    check_frame(frame, path, limits, 1, "row")
    return Sheet(frame, path, "parquet")


def read_file(path: str | Path, *, encoding: str | None = None, delimiter: str | None = None,
              limits: Limits | None = None) -> Sheet:
    """Read any supported file by its extension (CSV/TSV/TXT, XLSX, Parquet). `limits` default
    to `Limits.from_env()`."""
    path = str(path)
    suffix = Path(path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_excel(path, limits)
    if suffix == ".xls":
        raise BadFile("err.file.xls", path=path)
    if suffix in (".parquet", ".pq"):
        return read_parquet(path, limits)
    return read_text_table(path, encoding=encoding, delimiter=delimiter, limits=limits)


def sheet_from_frame(frame: pd.DataFrame, source: str) -> Sheet:
    """A DataFrame given in place of a file, as the text a file of it would hold, so it goes
    through the same mapping, presets and checks: `pd.read_csv` gives floats, ints and
    datetimes where a file reader gives strings, and missing cells become empty strings."""
    text = {}
    for col in frame.columns:
        values = frame[col]
        text[str(col)] = values.astype(str).where(values.notna(), "")
    return Sheet(pd.DataFrame(text, index=pd.RangeIndex(len(frame))), source, "frame", first_line=1)
