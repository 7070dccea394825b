from __future__ import annotations

import re
from pathlib import Path

import pytest

import upmarket
from upmarket.catalogues import FILES, LOCALE_DIR, CatalogueError, Catalogues, read_po
from upmarket.i18n import LABELS, LANGS, current_lang, label, value_label

SRC = Path(upmarket.__file__).parent
#: a key written out where the code asks for a label: label("k"…), value_label's own keys are
#: built, so only whole keys: LABELS["k"], "k" in LABELS, and the templates' t['k']
USES = re.compile(r"""(?<![.\w])label\(\s*(['"])([^'"{}]+)\1|LABELS\[(['"])([^'"{}]+)\3\]|"""
                  r"""(['"])([^'"{}]+)\5\s+(?:not\s+)?in\s+LABELS\b|\bt\[(['"])([^'"{}]+)\7\]""")


def test_every_label_in_both_languages():
    for key, texts in LABELS.items():
        assert set(texts) == set(LANGS), key
        assert all(t.strip() for t in texts.values()), key


def test_the_catalogues_hold_the_same_keys_translated_from_the_current_english():
    """Both catalogues name the same keys in the same order; each entry of a language is a
    translation of the English catalogue's text as it is now (its msgid), not empty, not fuzzy."""
    cats = {lang: read_po(LOCALE_DIR / FILES[lang]) for lang in LANGS}
    assert len(cats["en"]) > 1000
    assert list(cats["en"]) == list(cats["zh-CN"])
    for key, (msgid, text, fuzzy) in cats["en"].items():
        assert msgid == text and not fuzzy, key  # English is the source: msgstr = msgid
    stale = [k for k, (msgid, _, _) in cats["zh-CN"].items() if msgid != cats["en"][k][0]]
    untranslated = [k for k, (_, text, fuzzy) in cats["zh-CN"].items() if fuzzy or not text.strip()]
    assert stale == [] and untranslated == []


def test_every_key_the_code_names_is_in_the_catalogues():
    used: dict[str, str] = {}
    for path in [*SRC.rglob("*.py"), *SRC.rglob("*.j2")]:
        for m in USES.finditer(path.read_text(encoding="utf-8")):
            key = next(g for g in m.groups()[1::2] if g)
            if m.group(8) and path.suffix != ".j2":  # t[...] is the templates' label table only
                continue
            used.setdefault(key, str(path.relative_to(SRC)))
    assert len(used) > 400  # the scan reads the code
    missing = {k: where for k, where in used.items() if k not in LABELS}
    assert missing == {}


def test_the_catalogues_ship_in_the_package():
    """The wheel packs the package folder (pyproject: packages = ["src/upmarket"]), so the
    catalogues beside the code go with it; they must not be ignored by version control."""
    text = (SRC.parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    assert 'packages = ["src/upmarket"]' in text
    assert all((LOCALE_DIR / name).is_file() for name in FILES.values())
    assert LOCALE_DIR.parent == SRC


def test_a_catalogue_reads_as_gettext_does(tmp_path):
    """Continued strings and escapes are read; an empty or fuzzy translation reads as the
    English; a broken file is refused with its line."""
    (tmp_path / "en.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: en\\n"\n\n'
        'msgctxt "a"\nmsgid "two\\nlines"\nmsgstr ""\n"two\\n"\n"lines"\n\n'
        'msgctxt "b"\nmsgid "say \\"hi\\""\nmsgstr "say \\"hi\\""\n', encoding="utf-8")
    (tmp_path / "zh_CN.po").write_text(
        '# a comment\nmsgctxt "a"\nmsgid "two\\nlines"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgctxt "b"\nmsgid "say \\"hi\\""\nmsgstr "旧的"\n', encoding="utf-8")
    cats = Catalogues(LANGS, tmp_path)
    assert cats["a"] == {"en": "two\nlines", "zh-CN": "two\nlines"}
    assert cats["b"] == {"en": 'say "hi"', "zh-CN": 'say "hi"'}
    assert list(cats) == ["a", "b"] and "b" in cats and "c" not in cats
    (tmp_path / "en.po").write_text('msgctxt "a"\nmsgid "x"\nmsgstr "x"\n\nmsgctxt "a"\n'
                                    'msgid "y"\nmsgstr "y"\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"en.po:5: key 'a' appears twice"):
        Catalogues(LANGS, tmp_path).texts("en")


def test_language_names_and_numbered_values():
    assert current_lang("zh") == current_lang("zh_CN") == "zh-CN"
    assert current_lang("fr") == "en"
    assert value_label("cluster", "explorers_2", "en") == "Category explorers 2"
    assert value_label("tier", "diamond", "zh") == "钻石客户"
    assert value_label("tier", "unknown-code", "en") == "unknown-code"
    assert label("demo.ingested_table", "zh", n=3, table="orders") == "已导入 orders 3 行"
