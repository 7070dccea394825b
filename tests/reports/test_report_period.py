"""The report's default period is the scorecard's (`scorecard.default_period`): the period
the run's as-of closes, to date once it holds four weeks of data, else the last complete one;
the page says which and why."""

from __future__ import annotations

from datetime import datetime

import pytest

from upmarket.reports import html as R
from upmarket.strategy import scorecard as sc
from upmarket.strategy.scorecard import BadPeriod, Period


@pytest.mark.parametrize("cycle", ["month", "quarter", "year"])
@pytest.mark.parametrize("as_of", [datetime(2026, 1, 1), datetime(2026, 2, 5),
                                   datetime(2026, 5, 1), datetime(2026, 4, 3),
                                   datetime(2026, 11, 20)])
def test_the_default_period_is_the_scorecards(as_of, cycle):
    assert R.report_period(cycle, None, as_of) == sc.default_period(as_of, cycle)


def test_after_simulated_cycles_the_report_covers_the_quarter_to_date_and_says_so():
    as_of = datetime(2026, 5, 1)  # four 30-day cycles after the first of January
    p = R.report_period("quarter", None, as_of)
    assert (p.label, p.start, p.end, p.to_date) == ("2026-Q2", datetime(2026, 4, 1), as_of, True)
    # asked for by name, the same quarter is read as far as the data go, not refused
    assert R.report_period("quarter", "2026-Q2", as_of) == p
    note = R.period_note(p, p.previous(), as_of, "en")
    assert note.startswith("2026-Q2 to date: 2026-04-01 to 2026-04-30, the 30 days")
    assert "2026-05-01" in note and "same 30 days of 2026-Q1" in note
    zh = R.period_note(p, p.previous(), as_of, "zh")
    assert "截至目前" in zh and "2026-Q1" in zh and "30 天" in zh
    # a quarter beyond the data is still refused, naming the latest complete one
    with pytest.raises(BadPeriod, match="2026-Q3 has not ended .* 2026-Q1"):
        R.report_period("quarter", "2026-Q3", as_of)


def test_a_few_days_in_the_last_complete_period_stays_and_the_page_says_why():
    as_of = datetime(2026, 4, 3)
    p = R.report_period("quarter", None, as_of)
    assert p == Period(2026, "quarter", 1) and not p.to_date
    note = R.period_note(p, p.previous(), as_of, "en")
    assert note.startswith("2026-Q1: the last complete period") and "fewer than 28 days" in note
    asked = R.report_period("quarter", "2025-Q3", as_of)
    assert R.period_note(asked, asked.previous(), as_of, "en").startswith(
        "2025-Q3, as asked with --period, against 2025-Q2")
