"""The report's "What the actions changed" rows: one per action type over all tiers, with the
incremental conversion in points and margin per customer with their intervals, and what the
next best action made of it, in English and Chinese."""

from __future__ import annotations

import pandas as pd

from upmarket.reports.html import _impact_rows


def test_rows_show_effects_intervals_and_what_was_learned():
    impact = pd.DataFrame([
        {"action": "win_back", "tier": t, "n_treated": n, "n_held_out": h,
         "conversion_difference": 0.05, "conversion_low": 0.01, "conversion_high": 0.09,
         "margin_difference": 12.0, "margin_low": -3.0, "margin_high": 27.0}
        for t, n, h in (("basic", 900, 100), ("all", 1800, 200))]
        + [{"action": "nurture", "tier": "all", "n_treated": 50, "n_held_out": 1,
            "conversion_difference": float("nan"), "conversion_low": float("nan"),
            "conversion_high": float("nan"), "margin_difference": float("nan"),
            "margin_low": float("nan"), "margin_high": float("nan")}])
    learned = pd.DataFrame({"action": ["win_back", "nurture"], "status": ["updated", "prior"],
                            "response_scale": [0.8, 1.0]})
    rows = _impact_rows(impact, learned, "en")
    assert [r["action"] for r in rows] == ["win-back", "nurture"]
    wb = rows[0]
    assert wb["n"] == "1,800 / 200"
    assert wb["conversion"] == "+5.0pt [+1.0, +9.0]" and wb["margin"] == "+12 [-3, +27]"
    assert wb["learned"] == "response × 0.80 (measured)"
    assert rows[1]["conversion"] == "—" and rows[1]["learned"].startswith("defaults kept")
    zh = _impact_rows(impact, learned, "zh")
    assert zh[0]["learned"] == "响应率 × 0.80（已测量）"
    assert _impact_rows(None, None, "en") == []
