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


def test_a_runs_policy_symbol_names_its_amounts(monkeypatch):
    """Pages that show a run's amounts use the symbol the run's policy set (recorded in its
    summary), in either language; a run made without one falls back to the default."""
    from upmarket.currency import run_symbol

    monkeypatch.delenv("UPMARKET_CURRENCY", raising=False)
    run = {"counts": {"policy": {"currency": {"symbol": "$"}}}}
    assert money(1240, "zh", policy=run_symbol(run)) == "$1,240"
    assert money(1240, "en", policy=run_symbol(run)) == "$1,240"
    for bare in ({"counts": {}}, {"counts": {"policy": {"currency": {"symbol": None}}}}, {}):
        assert run_symbol(bare) is None and money(1240, "zh", policy=run_symbol(bare)) == "¥1,240"
    # the report's one formatter for a metric's value, by its unit, says the same
    from upmarket.strategy.scorecard import format_value

    assert format_value(1240, "currency", "zh", run_symbol(run)) == "$1,240"
    assert format_value(1240, "currency", "zh") == "¥1,240"
    assert format_value(1240, "count", "zh") == "1,240"
