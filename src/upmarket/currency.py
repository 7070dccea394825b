"""Money as a reader expects it: one currency symbol and one number format per language.

The symbol comes from `UPMARKET_CURRENCY` (e.g. ``¥``, ``$``, ``€``, or a code such as
``CNY``), else from the business policy's ``currency.symbol``; without either Chinese output
shows ``¥`` and English output plain numbers, as the data's currency is not known to be any
one."""

from __future__ import annotations

import math
import os

from upmarket.i18n import current_lang

ENV_VAR = "UPMARKET_CURRENCY"
DEFAULT = {"zh-CN": "¥", "en": ""}


def symbol(lang: str | None = None, policy: str | None = None) -> str:
    chosen = os.environ.get(ENV_VAR)
    if chosen is not None:
        return chosen.strip()
    if policy:
        return policy.strip()
    return DEFAULT[current_lang(lang)]


def run_symbol(run: dict) -> str | None:
    """The currency symbol of the business policy a published run was made with (its summary
    records it), for pages that show that run's amounts; None when the policy set none."""
    policy = (run.get("counts") or {}).get("policy") or {}
    return (policy.get("currency") or {}).get("symbol") or None


def money(value, lang: str | None = None, decimals: int = 0, policy: str | None = None) -> str:
    """``¥1,240`` (a code is set apart: ``CNY 1,240``); '—' when there is no amount."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(value):
        return "—"
    sign, mark = ("-" if value < 0 else ""), symbol(lang, policy)
    number = f"{abs(value):,.{decimals}f}"
    if not mark:
        return sign + number
    return f"{sign}{mark} {number}" if mark.isalpha() else f"{sign}{mark}{number}"
