"""Money as a reader expects it: one currency symbol and one number format per language.

The symbol comes from `UPMARKET_CURRENCY` (e.g. ``¥``, ``$``, ``€``, or a code such as
``CNY``); without it Chinese output shows ``¥`` and English output plain numbers, as the data's
currency is not known to be any one."""

from __future__ import annotations

import math
import os

from upmarket.i18n import current_lang

ENV_VAR = "UPMARKET_CURRENCY"
DEFAULT = {"zh-CN": "¥", "en": ""}


def symbol(lang: str | None = None) -> str:
    chosen = os.environ.get(ENV_VAR)
    if chosen is not None:
        return chosen.strip()
    return DEFAULT[current_lang(lang)]


def money(value, lang: str | None = None, decimals: int = 0) -> str:
    """``¥1,240`` (a code is set apart: ``CNY 1,240``); '—' when there is no amount."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(value):
        return "—"
    sign, mark = ("-" if value < 0 else ""), symbol(lang)
    number = f"{abs(value):,.{decimals}f}"
    if not mark:
        return sign + number
    return f"{sign}{mark} {number}" if mark.isalpha() else f"{sign}{mark}{number}"
