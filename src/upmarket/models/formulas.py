"""The source guides' closed-form customer-value formulas, reported beside the fitted models.

These are deliberately simple (population averages, constant retention); the BTYD models are
the per-customer forecast. Showing both lets an analyst see where rules of thumb and the data
part ways.
"""

from __future__ import annotations

import numpy as np


def cltv_textbook(average_order_value, purchases_per_year, lifespan_years, retention_coefficient):
    """The upward-marketing guide: CLTV = average order value × purchase frequency × customer lifespan ×
    retention coefficient (frequency per year, lifespan in years, coefficient in [0, 1])."""
    return (np.asarray(average_order_value, float) * np.asarray(purchases_per_year, float)
            * np.asarray(lifespan_years, float) * np.asarray(retention_coefficient, float))


def discounted_clv(margin, retention, discount_rate, *, count_first_year: bool = False):
    """The back-to-basics marketing course names the inputs of a discounted CLV — yearly profit per customer m, yearly
    retention r, discount rate d — but gives its formula as an image. This is the standard
    infinite-horizon form (e.g. Gupta & Lehmann 2003, "Customers as assets", J. Interactive
    Marketing 17(1), eq. 2):

        CLV = Σ_{t=1}^{∞} m·r^t/(1+d)^t = m·r/(1+d−r)

    and, counting the current year's margin as well (`count_first_year`, t from 0):

        CLV = Σ_{t=0}^{∞} m·r^t/(1+d)^t = m·(1+d)/(1+d−r).

    Requires 0 ≤ r < 1 + d.
    """
    m = np.asarray(margin, float)
    r = np.asarray(retention, float)
    d = np.asarray(discount_rate, float)
    if np.any(r < 0) or np.any(r >= 1 + d):
        raise ValueError("retention must be in [0, 1 + discount rate)")
    return m * (1 + d) / (1 + d - r) if count_first_year else m * r / (1 + d - r)


def expected_lifespan(retention) -> np.ndarray:
    """Expected years a customer stays under constant yearly retention r: 1/(1−r) (geometric)."""
    r = np.asarray(retention, float)
    return 1.0 / np.clip(1.0 - r, 1e-9, None)


def cac(fully_loaded_cost, new_customers):
    """The key-account strategy course: customer acquisition cost = (media + sales team + technical support +
    overhead) ÷ new customers acquired; NaN where nobody was acquired."""
    cost = np.asarray(fully_loaded_cost, float)
    n = np.asarray(new_customers, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, cost / np.where(n > 0, n, 1), np.nan)


#: The key-account strategy course's health rule: lifetime value should exceed three times acquisition cost.
HEALTHY_CLV_TO_CAC = 3.0
