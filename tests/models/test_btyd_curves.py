"""Forecasts over many horizons at once, and the hashed grouping of rows they rely on: the
shortcuts must give the very numbers of one plain call per horizon."""

import numpy as np
import pytest

from upmarket.models.btyd import BetaGeo, ParetoNBD
from upmarket.models.btyd._base import compress
from upmarket.models.btyd.pareto_nbd import _pairs
from upmarket.models.value_choice import _cumulative


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(7)
    n = 2000
    T = np.round(rng.uniform(1, 60, n) * 7) / 7
    x = rng.poisson(1.5, n).astype(float)
    tx = np.where(x > 0, np.maximum(np.round(rng.uniform(0, 1, n) * T * 7) / 7, 1 / 7), 0.0)
    return x, tx, T


def _with(model, **params):
    """A model at given parameters: the shortcuts must agree with the plain calls wherever
    they are evaluated, and no fit is needed to say so."""
    model.params_ = params
    return model


@pytest.fixture(scope="module")
def pareto():
    return _with(ParetoNBD(), r=0.6, alpha=9.0, s=0.8, beta=30.0)


def _bgnbd():
    return _with(BetaGeo(), r=0.7, alpha=6.0, a=0.9, b=2.5)


def test_compress_inverse_rebuilds_every_row(rows):
    x, tx, T = rows
    (ux, utx, uT), w, inv = compress([x, tx, T], np.ones(x.size), return_inverse=True)
    assert np.array_equal(ux[inv], x) and np.array_equal(utx[inv], tx) and np.array_equal(uT[inv], T)
    assert np.array_equal(w, np.bincount(inv).astype(float))
    # distinct rows in lexicographic order, as np.unique(axis=0) gives them
    assert np.array_equal(np.column_stack([ux, utx, uT]), np.unique(np.column_stack([x, tx, T]), axis=0))


def test_pairs_match_a_sorted_unique(rows):
    x, tx, T = rows
    ux, ut, i1, i2 = _pairs(x, tx, T)
    assert np.array_equal(ux[i1], x) and np.array_equal(ut[i1], tx)
    assert np.array_equal(ux[i2], x) and np.array_equal(ut[i2], T)
    assert len(ux) == len(np.unique(np.column_stack([np.r_[x, x], np.r_[tx, T]]), axis=0))


@pytest.mark.parametrize("model", ["pareto", "bgnbd"])
def test_curve_is_one_call_per_horizon(rows, pareto, model):
    m = pareto if model == "pareto" else _bgnbd()
    times = [0.0, 1.0, 4.345, 26.0, 52.0]
    curve = m.conditional_expected_purchases_curve(times, *rows)
    for t, got in zip(times, curve):
        assert np.array_equal(got, m.conditional_expected_purchases(t, *rows))
    assert np.all(np.diff(np.stack(curve), axis=0) >= 0)  # more time, more purchases


@pytest.mark.parametrize("model", ["pareto", "bgnbd"])
def test_cumulative_and_clv_equal_the_plain_sums(rows, pareto, model):
    m = pareto if model == "pareto" else _bgnbd()
    x, tx, T = rows
    weeks = np.arange(1.0, 11.0)
    expected = [float(np.sum(m.conditional_expected_purchases(w, x, tx, T))) for w in weeks]
    assert _cumulative(m, weeks, x, tx, T) == pytest.approx(expected, rel=1e-12)
    value = np.full(x.size, 20.0)
    clv = m.customer_lifetime_value(x, tx, T, value, time=12, discount_rate=0.01, freq=4.345)
    prev, total = 0.0, 0.0
    for i in range(1, 13):
        cum = m.conditional_expected_purchases(i * 4.345, x, tx, T)
        total = total + (cum - prev) / 1.01 ** i
        prev = cum
    assert np.array_equal(clv, 20.0 * total)
