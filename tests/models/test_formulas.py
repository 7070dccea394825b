from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upmarket.models import formulas
from upmarket.strategy.economics import cac_by_cohort, channel_economics


def test_discounted_clv_known_values():
    assert formulas.discounted_clv(100, 0.8, 0.1) == pytest.approx(100 * 0.8 / 0.3)
    assert formulas.discounted_clv(100, 0.8, 0.1, count_first_year=True) == pytest.approx(110 / 0.3)
    with pytest.raises(ValueError):
        formulas.discounted_clv(100, 1.2, 0.1)


@given(m=st.floats(1, 1e5), r=st.floats(0, 0.95), d=st.floats(0, 0.5))
@settings(max_examples=80, deadline=None)
def test_closed_forms_equal_the_series(m, r, d):
    t = np.arange(0, 2000)
    terms = m * np.exp(t * (np.log(r) if r > 0 else -np.inf) - t * np.log1p(d)) if r > 0 else m * (t == 0)
    assert formulas.discounted_clv(m, r, d) == pytest.approx(terms[1:].sum(), rel=1e-6, abs=1e-9)
    assert formulas.discounted_clv(m, r, d, count_first_year=True) == pytest.approx(terms.sum(), rel=1e-6)


def test_cltv_and_lifespan_and_cac():
    assert formulas.cltv_textbook(50, 4, 3, 0.8) == pytest.approx(480)
    assert formulas.expected_lifespan(0.75) == pytest.approx(4.0)
    assert np.isnan(formulas.cac(100, 0))
    assert formulas.cac([100, 90], [4, 3]).tolist() == [25.0, 30.0]


def test_channel_economics_fully_loaded_and_flag():
    month = pd.Timestamp("2024-01-01")
    spend = pd.DataFrame({"channel": ["a", "a", "a", "a", "b"], "cohort": month,
                          "cost_type": ["media", "sales_team", "technical_support", "overhead", "media"],
                          "cost": [60.0, 20, 10, 10, 1000]})
    new = pd.DataFrame({"channel": ["a", "b"], "cohort": month, "new_customers": [10, 10]})
    cohorts = cac_by_cohort(new, spend)
    a = cohorts.set_index("channel").loc["a"]
    assert a.fully_loaded_cost == 100 and a.cac == 10
    results = pd.DataFrame({"customer_id": ["x", "y"], "clv": [50.0, 50.0]})
    per = channel_economics(cohorts, results, pd.Series({"x": "a", "y": "b"}), 0.5, 0.1)
    per = per.set_index("channel")
    assert per.loc["a", "lifetime_clv"] == pytest.approx(50 * 1.1 / 0.6)
    assert bool(per.loc["a", "healthy"]) and not bool(per.loc["b", "healthy"])
