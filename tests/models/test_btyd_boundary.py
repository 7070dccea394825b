"""BG/NBD at the edge of its parameter space, where maximum likelihood lands on data with
little evidence of dropout (seen on a 9-month slice of Online Retail)."""

from __future__ import annotations

import numpy as np
import pytest

from upmarket.models.btyd import BetaGeo
from upmarket.models.btyd.beta_geo import _expected_quad


def _model(**params):
    m = BetaGeo()
    m.params_ = params
    return m


def test_no_dropout_limit_is_the_nbd_forecast():
    r, alpha = 0.72, 12.97
    m = _model(r=r, alpha=alpha, a=2.9e-7, b=17352.9)
    x = np.array([0.0, 3, 10])
    tx = np.array([0.0, 20, 30])
    T = np.array([30.0, 30, 35])
    got = m.conditional_expected_purchases(13.0, x, tx, T)
    # with p → 0 nobody leaves: E[Y(t) | x, T] → (r + x) t / (alpha + T)
    np.testing.assert_allclose(got, (r + x) * 13.0 / (alpha + T), rtol=1e-4)


def test_quadrature_agrees_with_closed_form_and_stays_small():
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    closed = BetaGeo._expected_given(np.array([39.0]), r, alpha, a, b, x=np.array([2.0]),
                                     T=np.array([38.86]))[0]
    assert abs(_expected_quad(39.0, r, alpha, a, b, 2.0, 38.86) - closed) < 1e-9
    # extreme shapes used to need a grid of hundreds of millions of nodes
    for a_, b_ in ((1e-9, 1e5), (1e5, 1e-9), (1e-9, 1e-9)):
        v = _expected_quad(10.0, r, alpha, a_, b_, 1.0, 20.0)
        assert np.isfinite(v) and 0 <= v <= (r + 1) * 10.0 / (alpha + 20.0) * (1 + 1e-6)


def test_vanishing_horizon_gives_the_rate_bound():
    # for t → 0 every alive customer buys at rate (r + x)/(alpha + T): the quadrature with its
    # cut-off tails must not count any part of the mass twice
    for r, alpha, a, b in ((0.05, 0.05, 0.05, 0.05), (20.0, 20.0, 20.0, 20.0), (1.0, 1.0, 1e-3, 5.0)):
        t = 1e-150
        assert _expected_quad(t, r, alpha, a, b, 1.0, 1.0) / ((r + 1) * t / (alpha + 1)) \
            == pytest.approx(1.0, abs=1e-3)
