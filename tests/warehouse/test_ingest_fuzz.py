"""Fuzzing every reader, the mapping loader and ingestion: whatever the bytes, only errors the
user can fix (`UpmarketError`) escape, each example finishes in bounded time, and every
ingestion that returns reconciles (rows read = accepted + quarantined + skipped)."""

from __future__ import annotations

import io
import tempfile
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from upmarket.errors import UpmarketError
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.mapping import Mapping
from upmarket.warehouse.readers import read_file
from upmarket.warehouse.schema import resolve

FUZZ = settings(max_examples=60, deadline=timedelta(seconds=5), derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KINDS = ("orders", "customers", "feedback", "spend", "events")
HEADERS = ("order_id", "customer_id", "ts", "sku", "quantity", "unit_price", "amount",
           "status", "订单号", "客户编号", "下单时间", "金额", "date", "channel", "cost",
           "nps_score", "id", "type", "event", "", " ")
CELLS = st.one_of(
    st.sampled_from(["A1", "c1", "2024-01-05", "2024/13/45", "2024年3月5日", "-3", "1,299.00",
                     "paid", "已支付", "", "NaN", "null", "1e309", "9" * 30, '"', "a\nb"]),
    st.text(max_size=12),
)


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        wh = connect(f"duckdb://{d}/fuzz.duckdb")
        yield Path(d), wh
        wh.close()


def reconciles(report) -> bool:
    check = report.reconciles
    return check() if callable(check) else check


def through_everything(path: Path, wh, kind: str, mapping=None) -> None:
    """Read `path` and ingest it; anything but an UpmarketError fails the test."""
    try:
        read_file(path)
    except UpmarketError:
        pass
    try:
        report = ingest(kind, path, warehouse=wh, mapping=mapping)
    except UpmarketError as exc:
        event(f"refused: {type(exc).__name__}")
        return
    event("ingested" + (" with quarantine" if report.quarantined else ""))
    assert reconciles(report), report


@st.composite
def headers(draw, kind: str, unique: bool = False) -> list[str]:
    """Random headers; most often the kind's required columns among them, so that rows get as
    far as validation and the warehouse."""
    extra = draw(st.lists(st.sampled_from(HEADERS), max_size=5))
    base = [c for c in resolve(kind).required if c not in ("line_no", "id", "message_id")]
    names = (base if draw(st.integers(0, 3)) else []) + extra
    names = list(dict.fromkeys(names)) if unique else names
    return draw(st.permutations(names)) if names else ["x"]


@st.composite
def csv_like(draw, kind: str) -> bytes:
    delim = draw(st.sampled_from([",", ";", "\t", "|", " "]))
    header = draw(headers(kind))
    rows = draw(st.lists(st.lists(CELLS, max_size=len(header) + 2), max_size=8))
    quote = draw(st.booleans())

    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if quote else v

    text = "\n".join(delim.join(map(cell, r)) for r in [header, *rows]) + "\n"
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030", "mixed"]))
    if encoding == "mixed":
        lines = text.splitlines(keepends=True)
        return b"".join(ln.encode("gbk" if i % 2 else "utf-8", "replace")
                        for i, ln in enumerate(lines))
    return text.encode(encoding, "replace")


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".csv", ".tsv", ".txt"]),
       kind=st.sampled_from(KINDS))
def test_text_files(workdir, data, suffix, kind):
    d, wh = workdir
    data = data.draw(st.one_of(st.binary(max_size=400), csv_like(kind)))
    path = d / f"fuzz{suffix}"
    path.write_bytes(data)
    through_everything(path, wh, kind)


def frames(kind: str):
    return st.builds(
        lambda header, rows: pd.DataFrame([r[:len(header)] + [""] * (len(header) - len(r))
                                           for r in rows], columns=header),
        headers(kind, unique=True),
        st.lists(st.lists(CELLS, max_size=8), max_size=6),
    )


def _mangle(raw: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(raw)
    for pos, value in flips:
        if out:
            out[pos % len(out)] = value
    return bytes(out)


FLIPS = st.one_of(st.just([]), st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)),
                                        min_size=1, max_size=4))


@FUZZ
@given(data=st.data(), flips=FLIPS, kind=st.sampled_from(KINDS))
def test_xlsx_files(workdir, data, flips, kind):
    d, wh = workdir
    frame = data.draw(frames(kind))
    buf = io.BytesIO()
    frame.to_excel(buf, index=False)
    path = d / "fuzz.xlsx"
    path.write_bytes(_mangle(buf.getvalue(), flips))
    through_everything(path, wh, kind)


@FUZZ
@given(data=st.data(), numeric=st.booleans(), flips=FLIPS, kind=st.sampled_from(KINDS))
def test_parquet_files(workdir, data, numeric, flips, kind):
    d, wh = workdir
    frame = data.draw(frames(kind))
    if numeric:  # typed columns, as real Parquet exports have
        frame = frame.apply(lambda c: pd.to_numeric(c, errors="coerce"))
    buf = io.BytesIO()
    frame.to_parquet(buf)
    path = d / "fuzz.parquet"
    path.write_bytes(_mangle(buf.getvalue(), flips))
    through_everything(path, wh, kind)


YAML_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=10),
                        st.sampled_from(["Asia/Shanghai", "Mars/Base", "gbk", "rot13", "%Y/%m/%d",
                                         "%Q", ",", ";;", "CNY", "orders", "spend"]),
                        st.lists(st.text(max_size=3), max_size=2),
                        st.dictionaries(st.sampled_from(HEADERS), st.sampled_from(HEADERS),
                                        max_size=3))
MAPPINGS = st.one_of(
    st.dictionaries(st.sampled_from(["table", "encoding", "delimiter", "columns", "date_format",
                                     "dayfirst", "timezone", "currency", "values", "defaults",
                                     "colour"]), YAML_VALUES, max_size=5)
    .map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=60),
)


@FUZZ
@given(text=MAPPINGS, kind=st.sampled_from(KINDS))
def test_mapping_files(workdir, text, kind):
    d, wh = workdir
    path = d / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        Mapping.load(path)
    except UpmarketError:
        pass
    data = d / "ok.csv"
    data.write_text("order_id,customer_id,ts,quantity,amount,date,channel,cost\n"
                    "A1,c1,2024-01-05,1,9.5,2024-01-05,web,3\n")
    through_everything(data, wh, kind, mapping=path)
