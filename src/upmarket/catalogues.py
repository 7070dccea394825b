"""The label catalogues: one gettext PO file per language in `upmarket/locale/`
(`en.po`, `zh_CN.po`), shipped inside the package and read the first time a label is asked for.

Why gettext PO and not a format of our own: it is the format translators and their tools
already read and write (Poedit, Weblate, Crowdin, Babel, `msgfmt --check`), it keeps a
translator's comments beside each entry, and it can say that a translation is out of date.
Each entry is::

    msgctxt "stage.churn early warning"     the key the code asks for (`label(key)`)
    msgid "churn early warning"             the English source text
    msgstr "流失预警"                        the text in this catalogue's language

so a translator always sees the English the text was made from, and an entry whose `msgid`
no longer equals the English catalogue's text is a translation of an older English: the
completeness test (`tests/test_i18n.py`) refuses it, as it refuses a key missing from a
language, an empty or fuzzy translation, and a key the code uses that no catalogue holds. As
gettext does, an empty or fuzzy `msgstr` reads as the English `msgid`.

Only the small subset of PO this package writes is read (one `msgctxt`, `msgid` and `msgstr`
per entry, strings possibly continued over several lines, `#` comments, the `fuzzy` flag; no
plural forms): reading it takes a few milliseconds, and nothing is read while a command only
prints its help.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

#: Where the catalogues are, inside the package.
LOCALE_DIR = Path(__file__).with_name("locale")
#: The file of each language (gettext names a locale with an underscore).
FILES = {"en": "en.po", "zh-CN": "zh_CN.po"}

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
_ESCAPE = re.compile(r"\\(.)")


class CatalogueError(ValueError):
    """A catalogue file that is not the PO this package reads, with the file and line."""


def _unquote(text: str, path: Path, lineno: int) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise CatalogueError(f"{path}:{lineno}: expected a quoted string, got {text[:40]!r}")
    body = text[1:-1]
    if "\\" in body:
        body = _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)
    return body


def read_po(path: Path) -> dict[str, tuple[str, str, bool]]:
    """key → (English msgid, msgstr, fuzzy) of a catalogue, in file order; the header entry
    (no key, empty msgid) is left out. A second entry with the same key is refused."""
    entries: dict[str, tuple[str, str, bool]] = {}
    fields: dict[str, str] = {}
    field = None
    fuzzy = False
    start = 0

    def finish() -> None:
        nonlocal fields, field, fuzzy
        if fields:
            key = fields.get("msgctxt")
            if key is None:
                if fields.get("msgid"):
                    raise CatalogueError(f"{path}:{start}: an entry without its key (msgctxt)")
            elif key in entries:
                raise CatalogueError(f"{path}:{start}: key {key!r} appears twice")
            else:
                entries[key] = (fields.get("msgid", ""), fields.get("msgstr", ""), fuzzy)
        fields, field, fuzzy = {}, None, False

    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith('"'):
                if field is None:
                    raise CatalogueError(f"{path}:{lineno}: a string continues no field")
                fields[field] += _unquote(line, path, lineno)
                continue
            if not line.strip():
                continue
            if line.startswith("#"):
                if field == "msgstr":  # a comment opens the next entry
                    finish()
                if line.startswith("#,") and "fuzzy" in line:
                    fuzzy = True
                continue
            name, _, rest = line.partition(" ")
            if name not in ("msgctxt", "msgid", "msgstr"):
                raise CatalogueError(f"{path}:{lineno}: unknown line {line.strip()[:40]!r}")
            if name == "msgctxt" or (name == "msgid" and field == "msgstr"):
                if field == "msgstr":
                    finish()
            if not fields:
                start = lineno
            field = name
            fields[name] = _unquote(rest, path, lineno)
        finish()
    return entries


class Catalogues(Mapping):
    """Every label by key, `LABELS[key][lang]`, read from the catalogues on first use.

    A mapping of key → {language: text}, as the code has always used it; the keys are the
    English catalogue's, in its order."""

    def __init__(self, langs: tuple[str, ...], directory: Path = LOCALE_DIR):
        self.langs = langs
        self.directory = directory
        self._texts: dict[str, dict[str, str]] = {}

    def texts(self, lang: str) -> dict[str, str]:
        """key → text of one language (its catalogue read once)."""
        got = self._texts.get(lang)
        if got is None:
            entries = read_po(self.directory / FILES[lang])
            got = {k: (s if s and not fz else m) for k, (m, s, fz) in entries.items()}
            self._texts[lang] = got
        return got

    def __getitem__(self, key: str) -> dict[str, str]:
        return {lang: self.texts(lang)[key] for lang in self.langs}

    def __contains__(self, key: object) -> bool:
        return key in self.texts(self.langs[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self.texts(self.langs[0]))

    def __len__(self) -> int:
        return len(self.texts(self.langs[0]))
