"""Amounts: ¥ by default in Chinese, plain in English, the symbol or code of
UPMARKET_CURRENCY when set; no amount is a dash, never "None" or "nan"."""

from __future__ import annotations

from upmarket.currency import money


def test_default_symbol_per_language(monkeypatch):
    monkeypatch.delenv("UPMARKET_CURRENCY", raising=False)
    assert money(1240.4, "zh") == "¥1,240"
    assert money(-5, "zh") == "-¥5"
    assert money(1240.4, "en") == "1,240"
    assert money(None, "zh") == money(float("nan"), "en") == money("x", "en") == "—"


def test_configured_symbol_or_code(monkeypatch):
    monkeypatch.setenv("UPMARKET_CURRENCY", "$")
    assert money(1240.456, "en", decimals=2) == "$1,240.46"
    monkeypatch.setenv("UPMARKET_CURRENCY", "CNY")
    assert money(1240, "zh") == "CNY 1,240"
