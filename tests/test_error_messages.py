"""Errors in the reader's language, and nothing a user reads with a backtick or the word
"seed": every catalogue entry, the help of every command, and every error message the code
can raise — read from the code itself, and raised for real where that takes no data."""

from __future__ import annotations

import ast
import pickle
import re
import string
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

import upmarket
from upmarket.catalogues import FILES, LOCALE_DIR, read_po
from upmarket.cli import app
from upmarket.errors import (BadFile, Codes, Joined, Msg, NoRun, UnknownTable, UpmarketError,
                             WarehouseError)
from upmarket.i18n import LANGS

SRC = Path(upmarket.__file__).parent
#: what no user may read: a backtick (Markdown that was never rendered) or the word seed
FORBIDDEN = re.compile(r"`|(?i:\bseeds?\b)|种子")


def _catalogues():
    return {lang: read_po(LOCALE_DIR / FILES[lang]) for lang in LANGS}


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _raise_sites():
    """(file, line, call) of every `raise SomeError(...)` whose class derives from
    UpmarketError, found by reading the package's source."""
    classes: dict[str, list[str]] = {}
    trees = {}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        trees[path] = tree
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes[node.name] = [b.attr if isinstance(b, ast.Attribute) else
                                      getattr(b, "id", "") for b in node.bases]

    known: dict[str, bool] = {"UpmarketError": True}

    def derives(name: str) -> bool:
        if name not in known:
            known[name] = False  # a cycle of names derives from nothing
            known[name] = any(derives(b) for b in classes.get(name, []))
        return known[name]

    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                f = node.exc.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if derives(name):
                    yield path.relative_to(SRC), node.lineno, node.exc


def test_no_catalogue_entry_has_a_backtick_or_the_word_seed():
    cats = _catalogues()
    assert len(cats["en"]) > 1000  # the catalogues were read
    found = {(lang, key): text for lang, cat in cats.items()
             for key, (msgid, text, _) in cat.items() if FORBIDDEN.search(text + msgid)}
    assert found == {}


def test_error_labels_format_in_both_languages_with_the_fields_the_english_has():
    """Every error label formats (a field's format spec, {n:,}, {x!r}, is valid) and a
    translation asks for no field the English one does not name: the code fills the English
    one's fields, so any other would fail when the error is shown."""
    cats = _catalogues()
    errors = [k for k in cats["en"] if k.startswith("err.")]
    assert len(errors) > 100
    for key in errors:
        en = cats["en"][key][1]
        for lang in LANGS:
            text = cats[lang][key][1]
            assert _fields(text) <= _fields(en), (lang, key)
            string.Formatter().vformat(text, (), defaultdict(lambda: 1))


def test_every_error_key_the_code_raises_is_in_the_catalogues():
    """The keys written in raise sites and in `Msg(...)` exist; every message written out
    in a raise site is free of backticks and of the word seed."""
    cats = _catalogues()
    used, literal = {}, {}
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"""["'](err\.[\w.]+)["']""", text):
            used.setdefault(m.group(1), str(path.relative_to(SRC)))
        # keys built from a code (err.log.{why}, err.roster.{key}) are checked by the tests of
        # the messages they make
    sites = list(_raise_sites())
    assert len(sites) > 300  # the scan reads the code
    for where, line, call in sites:
        for node in ast.walk(call):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and FORBIDDEN.search(node.value):
                literal[f"{where}:{line}"] = node.value
    assert len(used) > 100
    assert {k: w for k, w in used.items() if k not in cats["en"]} == {}
    assert literal == {}


def test_the_help_of_every_command_has_no_backtick_or_seed():
    """Rendered as a user sees it, at 80 columns."""
    import typer.main

    def paths(cmd, words):
        yield words
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from paths(sub, [*words, name])

    runner = CliRunner()
    pages = {}
    for words in paths(typer.main.get_command(app), []):
        res = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "80"})
        assert res.exit_code == 0, (words, res.output)
        pages[" ".join(words) or "upmarket"] = res.output
    assert len(pages) > 50 and "ingest" in pages
    assert {name: FORBIDDEN.findall(page) for name, page in pages.items()
            if FORBIDDEN.search(page)} == {}


def test_a_keyed_error_is_english_as_a_string_and_localised_on_demand():
    exc = NoRun("err.run_lacks_output", run_id="20260101", name="results")
    assert str(exc) == "run 20260101 has no output 'results'"
    assert exc.localised("zh") == "分析 20260101 没有“results”这部分结果，请重新运行：upmarket run"
    assert exc.localised("en") == str(exc) and exc.key == "err.run_lacks_output"
    # a worker hands its error back pickled: the key and fields come with it
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is NoRun and back.localised("zh") == exc.localised("zh")
    # an error made from a plain message is that message in every language
    plain = UpmarketError("something plain")
    assert str(plain) == plain.localised("zh") == "something plain" and plain.key is None
    assert pickle.loads(pickle.dumps(plain)).args == ("something plain",)


def test_fields_that_are_texts_follow_the_language():
    exc = BadFile("err.file.missing_columns", file="a.csv", missing="ts", kind="orders",
                  headers=Msg("err.file.no_columns"),
                  hint=Msg("err.file.map_columns", column="ts"))
    assert "(none)" in str(exc) and "{your header: ts}" in str(exc)
    zh = exc.localised("zh")
    assert "（无）" in zh and "列对照文件" in zh and "(none)" not in zh
    joined = Joined("; ", [Msg("err.none"), "x"])
    assert joined.localised("en") == "none; x" and joined.localised("zh") == "无; x"
    from upmarket.activation.assignment import tier_name

    codes = Codes(["diamond", "core"], tier_name)
    assert str(codes) == "diamond, core" and codes.localised("zh") == "钻石客户、核心客户"


def _raised(call) -> UpmarketError:
    with pytest.raises(UpmarketError) as info:
        call()
    return info.value


def test_errors_raised_without_data_are_translated(tmp_path, monkeypatch):
    """Errors raised for real, each in English and Chinese: the Chinese differs from the
    English, neither has a backtick, and the Chinese holds Chinese."""
    from upmarket.activation import erasure
    from upmarket.activation.assignment import read_roster
    from upmarket.features.experiment_log import parse_log
    from upmarket.opstore import points
    from upmarket.opstore.consents import validate
    from upmarket.opstore.store import open_store
    from upmarket.policy.file import parse_policy, read_policy
    from upmarket.strategy.segment_conditions import parse
    from upmarket.warehouse import connect
    from upmarket.warehouse.lock import lock_wait
    from upmarket.warehouse.schema import resolve

    import pandas as pd

    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe")
    (tmp_path / "team.csv").write_text("name,email\n,x\n", encoding="utf-8")
    monkeypatch.setenv("UPMARKET_LOCK_WAIT", "soon")
    monkeypatch.setenv(erasure.RETENTION_ENV, "a year")
    now = pd.Timestamp("2026-01-01").to_pydatetime()
    raised = {
        "no warehouse": _raised(lambda: connect(f"duckdb://{tmp_path / 'no.duckdb'}",
                                                create=False)),
        "lock wait": _raised(lock_wait),
        "unknown table": _raised(lambda: resolve("receipts")),
        "no store": _raised(lambda: open_store(f"sqlite:///{tmp_path / 'no.sqlite'}",
                                               existing=True)),
        "policy": _raised(lambda: parse_policy("tiers: {sharez: 1}\nhorizon: 3\n")),
        "policy file": _raised(lambda: read_policy(tmp_path / "bad.yaml")),
        "retention": _raised(lambda: erasure.retention_days()),
        "roster": _raised(lambda: read_roster(tmp_path / "team.csv")),
        "experiment log": _raised(lambda: parse_log(pd.DataFrame(
            {"experiment": ["e"], "arm": ["A"], "user_id": ["u"], "ts": ["not a day"],
             "converted": ["1"], "revenue": ["3"]}), "log.csv")),
        "points": _raised(lambda: points._check("r1", "C1", 0, "why", now, now)),
        "condition": _raised(lambda: parse("tier = diamond and (")),
        "consent": _raised(lambda: validate({"customer_id": "C1", "purpose": "marketing",
                                             "channel": "Bad Channel", "granted": True},
                                            now=now)),
    }
    assert isinstance(raised["no warehouse"], WarehouseError)
    assert isinstance(raised["unknown table"], UnknownTable)
    for name, exc in raised.items():
        en, zh = str(exc), exc.localised("zh")
        assert exc.key is not None, name
        assert zh != en and re.search(r"[\u4e00-\u9fff]", zh), (name, zh)
        assert not FORBIDDEN.search(en) and not FORBIDDEN.search(zh), (name, en, zh)
    assert "2 problems" in str(raised["policy"]) and "有 2 处问题" in raised["policy"].localised("zh")
    assert "line 2, field ts: not a date" in str(raised["experiment log"])
    assert "第 2 行 ts 列：不是日期" in raised["experiment log"].localised("zh")
    assert str(raised["points"]).startswith("points: a whole number")
    assert raised["consent"].field == "channel" and "不是有效的名称" in raised["consent"].localised("zh")


def test_one_customer_is_singular():
    """A value model not fitted for want of repeat buyers counts them in the right number."""
    from upmarket.models.btyd.diagnostics import check_repeat_buyers

    one, two = (check_repeat_buyers(n, 5, "bgnbd")[0] for n in (1, 2))
    assert "only 1 customer bought more than once" in one.text("en")
    assert "only 2 customers bought more than once" in two.text("en")
    assert "只有 1 位客户重复购买" in one.text("zh")


def test_no_text_the_package_shows_has_a_backtick():
    """Every string in the code but docstrings (messages, pages, exports, table headers),
    every template outside its comments and every shipped YAML file: none has a backtick."""
    found = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(node.body[0].value) for node in ast.walk(tree)
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                     ast.AsyncFunctionDef))
                and node.body and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(SRC)}:{node.lineno}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and "`" in node.value and id(node) not in docs]
    for path in [*SRC.rglob("*.j2"), *SRC.rglob("*.yaml")]:
        text = re.sub(r"(?s)\{#.*?#\}", "", path.read_text(encoding="utf-8"))
        found += [f"{path.relative_to(SRC)}:{i}" for i, line in enumerate(text.splitlines(), 1)
                  if "`" in line]
    assert found == []
