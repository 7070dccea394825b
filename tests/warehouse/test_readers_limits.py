"""Bounded readers: hostile shapes are refused in seconds with little memory, and a text file's
encoding is checked line by line."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib

import pytest

from upmarket.errors import BadSetting, LimitExceeded, MixedEncoding
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.limits import GiB, Limits
from upmarket.warehouse.readers import read_file

# Runs a read in a fresh interpreter and reports its outcome, time and peak memory.
PROBE = textwrap.dedent("""\
    import json, resource, sys, time
    from upmarket.errors import UpmarketError
    from upmarket.warehouse.readers import read_file
    def peak_kib():
        # VmHWM is this program's own peak: ru_maxrss also keeps the peak of the process it
        # was forked from (the test run) across exec
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    try:
        read_file(sys.argv[1])
        outcome, message = "read", ""
    except UpmarketError as exc:
        outcome, message = type(exc).__name__, str(exc)
    print(json.dumps({"outcome": outcome, "message": message,
                      "seconds": time.monotonic() - start,
                      "peak_kib": peak_kib()}))
""")


def probe(path):
    """Outcome of reading `path` in a child process, with the child's peak RSS in MB, taken by
    the child itself (the parent's RUSAGE_CHILDREN is the largest of every child the test run
    ever made)."""
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True,
                          text=True, timeout=120, check=True)
    result = json.loads(done.stdout)
    return result, result["peak_kib"] / 1024  # Linux: ru_maxrss in KiB


def test_million_column_csv_refused_fast_and_small(tmp_path):
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{i}" for i in range(1_000_000))
    path.write_text(header + "\n" + ",".join("1" for _ in range(1_000_000)) + "\n")
    result, peak_mb = probe(path)
    assert result["outcome"] == "LimitExceeded", result
    assert result["seconds"] < 10
    assert peak_mb < 500
    msg = result["message"]
    assert str(path) in msg and "UPMARKET_MAX_HEADER_BYTES" in msg and "columns" in msg


def test_million_field_data_row_refused_fast_and_small(tmp_path):
    # pandas would take the extra fields of a row wider than its header as a million index
    # columns: minutes and gigabytes.
    path = tmp_path / "wide_row.csv"
    path.write_text("customer_id,name,city\nc0,a,b\n" + "c1," * 1_000_000 + "x\n")
    result, peak_mb = probe(path)
    assert result["outcome"] == "LimitExceeded", result
    assert result["seconds"] < 10 and peak_mb < 500
    assert "line 3 has 1,000,001 fields" in result["message"]


def test_too_many_columns_names_the_count_and_the_setting(tmp_path, monkeypatch):
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1500)) + "\n" + "1," * 1499 + "1\n")
    with pytest.raises(LimitExceeded) as info:
        read_file(path)
    assert "1,500 columns" in str(info.value) and "UPMARKET_MAX_COLUMNS" in str(info.value)
    monkeypatch.setenv("UPMARKET_MAX_COLUMNS", "2000")
    assert read_file(path).frame.shape == (1, 1500)


def test_oversized_cell_and_row_are_refused(tmp_path):
    path = tmp_path / "big_cell.csv"
    path.write_text("customer_id,note\nc1,short\nc2," + "x" * 5000 + "\n")
    with pytest.raises(LimitExceeded, match=r"line 3, column 'note'.*UPMARKET_MAX_FIELD_BYTES"):
        read_file(path, limits=Limits(max_field_bytes=4096))
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('customer_id,note\nc1,"' + "many lines\n" * 200 + '"\n')
    with pytest.raises(LimitExceeded, match="row starting at line 2"):
        read_file(quoted, limits=Limits(max_record_bytes=1000))
    assert read_file(quoted).frame.shape == (1, 2)


def test_limits_from_environment_and_bad_values():
    limits = Limits.from_env({"UPMARKET_MAX_COLUMNS": "50", "UPMARKET_MAX_XLSX_BYTES": "1GiB"})
    assert (limits.max_columns, limits.max_xlsx_bytes) == (50, GiB)
    assert limits.max_field_bytes == Limits().max_field_bytes
    with pytest.raises(BadSetting, match="UPMARKET_MAX_COLUMNS='lots'"):
        Limits.from_env({"UPMARKET_MAX_COLUMNS": "lots"})


def _zip_entry(name: bytes, data: bytes, crc: int, size: int, offset: int) -> tuple[bytes, bytes]:
    """A stored-by-hand deflated zip member: its local header + data, and its directory entry."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size,
                        len(name), 0) + name + data
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc,
                          len(data), size, len(name), 0, 0, 0, 0, 0, offset) + name
    return local, central


def write_xlsx_bomb(path, unzipped=GiB):
    """A valid workbook whose sheet XML unzips to `unzipped` bytes from about 1 MB.

    The sheet is one highly repetitive block deflated once with a full flush (so the block's
    compressed bytes stand alone) and repeated: building a 1 GiB bomb costs a CRC pass, not
    a 1 GiB compression."""
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns='
            b'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            b'<row r="1"><c r="A1" t="inlineStr"><is><t>customer_id</t></is></c></row>')
    tail = b"</sheetData></worksheet>"
    block = b" " * (1 << 20)  # whitespace between rows: valid XML, maximally compressible
    repeats = unzipped // len(block)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = z.compress(head) + z.flush(zlib.Z_FULL_FLUSH)
    z2 = zlib.compressobj(9, zlib.DEFLATED, -15)
    middle = z2.compress(block) + z2.flush(zlib.Z_FULL_FLUSH)
    z3 = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = z3.compress(tail) + z3.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    block_crc_state = crc
    for _ in range(repeats):
        block_crc_state = zlib.crc32(block, block_crc_state)
    crc = zlib.crc32(tail, block_crc_state)
    sheet = first + middle * repeats + last
    size = len(head) + len(block) * repeats + len(tail)
    parts = {
        b"[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType='
        b'"application/vnd.openxmlformats-package.relationships+xml"/><Override PartName='
        b'"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        b'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
        b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet'
        b'+xml"/></Types>',
        b"_rels/.rels": b'<?xml version="1.0"?><Relationships xmlns="http://schemas.'
        b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
        b'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
        b'"xl/workbook.xml"/></Relationships>',
        b"xl/workbook.xml": b'<?xml version="1.0"?><workbook xmlns="http://schemas.'
        b'openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.'
        b'org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" '
        b'r:id="rId1"/></sheets></workbook>',
        b"xl/_rels/workbook.xml.rels": b'<?xml version="1.0"?><Relationships xmlns="http://'
        b'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type='
        b'"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        b'Target="worksheets/sheet1.xml"/></Relationships>',
    }
    out, directory = bytearray(), bytearray()
    for name, data in parts.items():
        local, central = _zip_entry(name, zlib.compress(data, 9)[2:-4], zlib.crc32(data),
                                    len(data), len(out))
        out += local
        directory += central
    local, central = _zip_entry(b"xl/worksheets/sheet1.xml", sheet, crc, size, len(out))
    out += local
    directory += central
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(parts) + 1, len(parts) + 1,
                      len(directory), len(out), 0)
    path.write_bytes(bytes(out + directory + end))


def test_xlsx_bomb_refused_fast_and_small(tmp_path):
    path = tmp_path / "bomb.xlsx"
    write_xlsx_bomb(path)
    assert path.stat().st_size < 1_200_000
    with zipfile.ZipFile(path) as zf:  # a well-formed archive: the directory tells the truth
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size > GiB
    result, peak_mb = probe(path)
    assert result["outcome"] == "LimitExceeded", result
    assert result["seconds"] < 10 and peak_mb < 500
    assert "1.0 GiB" in result["message"] and "UPMARKET_MAX_XLSX_BYTES" in result["message"]


def test_small_bomb_shaped_workbook_reads_when_under_the_limit(tmp_path):
    path = tmp_path / "airy.xlsx"
    write_xlsx_bomb(path, unzipped=4 << 20)
    sheet = read_file(path)
    assert list(sheet.frame.columns) == ["customer_id"] and sheet.frame.empty
    with pytest.raises(LimitExceeded, match="unzips to 4.0 MiB"):
        read_file(path, limits=Limits(max_xlsx_bytes=1 << 20))


UTF8_ROWS = "".join(f"u{i},张三{i},北京\n" for i in range(40))
GBK_ROWS = "".join(f"g{i},李四{i},上海\n" for i in range(20))


def test_mixed_utf8_and_gbk_refused_naming_first_bad_line(wh, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"customer_id,name,city\n" + UTF8_ROWS.encode() + GBK_ROWS.encode("gbk"))
    with pytest.raises(MixedEncoding) as info:
        ingest("customers", path, warehouse=wh)
    msg = str(info.value)
    assert str(path) in msg and "line 42 is not UTF-8" in msg and "GBK" in msg
    assert "20 lines" in msg and "40 lines" in msg
    assert wh.count("customers") == 0 and wh.count("quarantine") == 0  # no mojibake stored


def test_gbk_file_with_a_few_utf8_lines_is_refused_too(wh, tmp_path):
    path = tmp_path / "mostly_gbk.csv"
    path.write_bytes(b"customer_id,name,city\n" + GBK_ROWS.encode("gbk")
                     + "x1,王五,广州\n".encode())
    with pytest.raises(MixedEncoding, match="line 22 is UTF-8 while most lines look like GBK"):
        ingest("customers", path, warehouse=wh)
    assert wh.count("customers") == 0


@pytest.mark.parametrize(("encoding", "named"), [("gbk", "gbk"), ("utf-8", "utf-8"),
                                                  ("utf-8-sig", "utf-8-sig")])
def test_single_encoding_files_accepted_with_text_intact(wh, tmp_path, encoding, named):
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(("customer_id,name,city\n" + UTF8_ROWS + GBK_ROWS).encode(encoding))
    report = ingest("customers", path, warehouse=wh)
    assert report.encoding == named and report.accepted == 60
    names = set(wh.table("customers").to_pandas().name)
    assert {"张三0", "李四19"} <= names


def test_declared_encoding_checked_on_every_line(tmp_path):
    path = tmp_path / "declared.csv"
    path.write_bytes(b"customer_id,name\n" + "a,张三\n".encode("gbk") + b"b,\xff\xff\n")
    with pytest.raises(MixedEncoding, match="line 3 is not valid gbk"):
        read_file(path, encoding="gbk")


def _common_chars():
    chars = []
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_short_chinese_text_valid_in_both_encodings_is_not_taken_for_mixed(tmp_path, encoding):
    """Two-character names in UTF-8 are often valid GBK too, and some GBK lines are valid
    UTF-8: a file in one encoding must still read as that encoding, with its text intact."""
    import random

    rng = random.Random(7)
    chars = _common_chars()
    rows = [f"c{i},{''.join(rng.choices(chars, k=rng.randint(1, 4)))},"
            f"{''.join(rng.choices(chars, k=2))}" for i in range(3000)]
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes(("customer_id,name,city\n" + "\n".join(rows) + "\n").encode(encoding))
    sheet = read_file(path)
    assert sheet.encoding == encoding
    assert sheet.frame.name.tolist() == [r.split(",")[1] for r in rows]


def test_latin_text_next_to_chinese_in_utf8_and_other_encodings(tmp_path):
    path = tmp_path / "accents.csv"
    path.write_bytes("customer_id,name\nc1,Café\nc2,张三\nc3,Müller\n".encode())
    assert read_file(path).frame.name.tolist() == ["Café", "张三", "Müller"]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("customer_id,name\nc1,Café Noël\nc2,Müller\n".encode("cp1252"))
    sheet = read_file(latin)
    assert sheet.frame.name.tolist() == ["Café Noël", "Müller"]


def test_parquet_limits_from_metadata(tmp_path):
    import pandas as pd

    path = tmp_path / "t.parquet"
    pd.DataFrame({"customer_id": [f"c{i}" for i in range(2000)],
                  "note": ["same words again"] * 2000}).to_parquet(path)
    assert read_file(path).frame.shape == (2000, 2)
    with pytest.raises(LimitExceeded, match="uncompressed.*UPMARKET_MAX_PARQUET_BYTES"):
        read_file(path, limits=Limits(max_parquet_bytes=1024))
    with pytest.raises(LimitExceeded, match="2 columns.*UPMARKET_MAX_COLUMNS"):
        read_file(path, limits=Limits(max_columns=1))


def test_cli_prints_limit_encoding_and_mapping_errors_without_traceback(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from upmarket.cli import app

    url = f"duckdb://{tmp_path}/w.duckdb"
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(30)) + "\n" + "1," * 29 + "1\n")
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(b"customer_id,name\n" + "a,张三\n".encode() + "b,李四\n".encode("gbk"))
    mapping = tmp_path / "m.yaml"
    mapping.write_text("timezone: Mars/Base\n")
    monkeypatch.setenv("UPMARKET_MAX_COLUMNS", "20")
    runner = CliRunner()
    for args, needle in (
        (["customers", str(wide)], "UPMARKET_MAX_COLUMNS"),
        (["customers", str(mixed)], "line 3"),
        (["customers", str(mixed), "--mapping", str(mapping)], "Mars/Base"),
    ):
        result = runner.invoke(app, ["ingest", *args, "-w", url])
        assert result.exit_code == 2, result.output
        assert needle in result.output and "Traceback" not in result.output


def test_quote_heavy_text_does_not_stall_delimiter_sniffing(tmp_path):
    import time

    path = tmp_path / "quotes.csv"
    path.write_text("a,b\n" + ',"x' * 30_000 + "\n")
    start = time.monotonic()
    with pytest.raises(LimitExceeded, match="line 2 has 15,001 fields"):
        read_file(path)
    assert time.monotonic() - start < 5
