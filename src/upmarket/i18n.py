"""Every user-visible label in English and Simplified Chinese, by key.

The texts live in one gettext catalogue per language, `upmarket/locale/en.po` and
`upmarket/locale/zh_CN.po` (format and reasons in `upmarket.catalogues`), read the first time a
label is asked for. `label(key, lang)` looks a label up; `LABELS[key][lang]` and `key in LABELS`
work as on a dict. A key missing from a language, an out-of-date translation or a key the code
uses that no catalogue holds is a bug the tests catch (`tests/test_i18n.py`).

To add a label: add an entry to both catalogues, next to related ones, with the same `msgctxt`
(the key) and `msgid` (the English text); `msgstr` is the text in the catalogue's language.
"""

from __future__ import annotations

import os

from upmarket.catalogues import Catalogues

LANGS = ("en", "zh-CN")

#: Every label by key (`LABELS[key][lang]`), read from the catalogues on first use, so
#: printing a command's help reads none of them.
LABELS = Catalogues(LANGS)


def current_lang(lang: str | None = None) -> str:
    lang = (lang or os.environ.get("UPMARKET_LANG") or "en").strip()
    if lang.lower() in ("zh", "zh-cn", "zh_cn", "cn"):
        return "zh-CN"
    return "en"


def label(key: str, lang: str | None = None, **fmt) -> str:
    text = LABELS[key][current_lang(lang)]
    return text.format(**fmt) if fmt else text


def value_label(kind: str, code: str, lang: str | None = None) -> str:
    """The label of a coded value (`tier`, `segment`, `stage`, `band`, `cluster`, `signal`,
    `change`); numbered repeats such as cluster `explorers_2` keep their number."""
    base, _, number = code.rpartition("_")
    if f"{kind}.{code}" in LABELS:
        return label(f"{kind}.{code}", lang)
    if number.isdigit() and f"{kind}.{base}" in LABELS:
        return f"{label(f'{kind}.{base}', lang)} {number}"
    return code


def subject_label(subject: str, lang: str | None = None) -> str:
    """An alert's subject as a reader names it: a risk indicator (`risk_register:overdue_share`)
    or a channel (`channel_roi:wechat`) by its name; a customer id as it is."""
    from upmarket.data_labels import channel_name

    table, _, code = str(subject).partition(":")
    if table == "risk_register" and f"risk.ind.{code}" in LABELS:
        return label(f"risk.ind.{code}", lang)
    if table == "channel_roi" and code:
        return channel_name(code, lang)
    return str(subject)
