"""MBG/NBD: analytic gradient, likelihood and expectations against numerical integrals over the
individual-level model, parameter recovery on a simulated base, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.optimize import approx_fprime

from upmarket.models.btyd import BetaGeo, InvalidData, ModifiedBetaGeo, NotFitted

PARAMS = {"r": 0.8, "alpha": 5.0, "a": 1.6, "b": 3.0}


def _model(params=PARAMS) -> ModifiedBetaGeo:
    m = ModifiedBetaGeo()
    m.params_ = dict(params)
    return m


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(11)
    x = rng.integers(0, 40, 300).astype(float)
    T = rng.uniform(0.5, 80, 300)
    tx = np.where(x > 0, rng.uniform(0.01, 1, 300) * T, 0.0)
    for _ in range(6):
        p = np.exp(rng.uniform(-1.5, 2.0, 4))
        analytic = np.sum(ModifiedBetaGeo._loglik(p, x, tx, T)[1], axis=0)
        numeric = approx_fprime(p, lambda q: float(np.sum(ModifiedBetaGeo._loglik(q, x, tx, T)[0])),
                                1e-7 * p)
        assert np.all(np.abs(analytic - numeric) / np.maximum(np.abs(analytic), 1.0) < 1e-5), (p, analytic, numeric)


def _integral(f, params=PARAMS):
    """∫∫ f(lambda, p) Gamma(lambda; r, alpha) Beta(p; a, b) dlambda dp, the mixing of the
    individual-level model. The densities are written out with `math` because dblquad calls
    them some 10^5 times and a frozen scipy distribution costs ~50 µs a call."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    log_norm = (r * math.log(alpha) - math.lgamma(r)
                - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)))

    def density(lam, p):
        if lam <= 0.0 or p <= 0.0 or p >= 1.0:
            return 0.0
        return math.exp(log_norm + (r - 1) * math.log(lam) - alpha * lam
                        + (a - 1) * math.log(p) + (b - 1) * math.log1p(-p))

    val, _ = integrate.dblquad(lambda lam, p: f(lam, p) * density(lam, p), 0.0, 1.0,
                               0.0, np.inf, epsabs=1e-12, epsrel=1e-9)
    return val


# individual level (BDF 2007): alive at T after surviving x + 1 drop-out chances, or gone right
# after the last purchase (the first one when x = 0)
def _alive(x, tx, T):
    return lambda lam, p: (1 - p) ** (x + 1) * lam**x * np.exp(-lam * T)


def _gone(x, tx, T):
    return lambda lam, p: p * (1 - p) ** x * lam**x * np.exp(-lam * tx)


@pytest.mark.parametrize("x, tx, T", [(0, 0.0, 10.0), (1, 3.0, 12.0), (3, 7.5, 20.0)])
def test_likelihood_and_conditional_expectation_equal_the_integrals(x, tx, T):
    m = _model()
    alive, gone = _alive(x, tx, T), _gone(x, tx, T)
    lik = _integral(lambda lam, p: alive(lam, p) + gone(lam, p))
    ll, _ = ModifiedBetaGeo._loglik(np.array(list(PARAMS.values())), np.array([float(x)]), np.array([tx]),
                                    np.array([T]))
    assert ll[0] == pytest.approx(np.log(lik), abs=1e-7)
    p_alive = _integral(alive) / lik
    assert m.probability_alive(x, tx, T) == pytest.approx(p_alive, rel=1e-7)
    # an alive customer buys (1 - exp(-lambda p t)) / p times in the next t (FHL 2005 eq. 9's integrand)
    t = 9.0
    cond = _integral(lambda lam, p: alive(lam, p) * -np.expm1(-lam * p * t) / p) / lik
    assert m.conditional_expected_purchases(t, x, tx, T) == pytest.approx(cond, rel=1e-6)


def test_expected_purchases_equals_the_integral():
    m = _model()
    for t in (1.0, 10.0, 60.0):
        # gone at the first purchase with probability p; otherwise (1 - exp(-lambda p t)) / p
        e = _integral(lambda lam, p: (1 - p) * -np.expm1(-lam * p * t) / p)
        assert m.expected_purchases(t) == pytest.approx(e, rel=1e-6)


def _simulate(n, params, T_max, rng):
    """Purchases of n customers under the MBG/NBD, ages uniform in (T_max / 2, T_max)."""
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    T = rng.uniform(T_max / 2, T_max, n)
    alive = rng.random(n) >= p  # the first purchase is a drop-out chance too
    now = np.zeros(n)
    x = np.zeros(n)
    tx = np.zeros(n)
    while alive.any():
        now = now + rng.exponential(1.0, n) / np.maximum(lam, 1e-300)
        buys = alive & (now <= T)
        x[buys] += 1
        tx[buys] = now[buys]
        alive = buys & (rng.random(n) >= p)
    return x, tx, T


def test_fit_recovers_simulated_parameters_and_differs_from_bgnbd():
    rng = np.random.default_rng(2007)
    x, tx, T = _simulate(20_000, PARAMS, 60.0, rng)
    m = ModifiedBetaGeo().fit(x, tx, T)
    se = m.standard_errors_
    for k, v in PARAMS.items():
        assert abs(m.params_[k] - v) < 4 * se[k], (k, m.params_, se)
    # on data of its own kind it fits better than the BG/NBD, which keeps one-time buyers alive
    assert m.log_likelihood_ > BetaGeo().fit(x, tx, T).log_likelihood_
    assert m.probability_alive(0, 0, 30.0) < 1.0
    assert BetaGeo().fit(x, tx, T).probability_alive(0, 0, 30.0) == 1.0


def test_weights_and_clv():
    x, tx, T = _simulate(3000, PARAMS, 40.0, np.random.default_rng(8))
    x, tx, T = x, np.round(tx), np.ceil(T)  # whole weeks, so rows repeat
    tx = np.where(x > 0, np.maximum(tx, 1.0), 0.0)
    a = ModifiedBetaGeo().fit(x, tx, T)
    rows, counts = np.unique(np.column_stack([x, tx, T]), axis=0, return_counts=True)
    b = ModifiedBetaGeo().fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    assert len(rows) < len(x) and a.params_ == pytest.approx(b.params_, rel=1e-6)
    clv = a.customer_lifetime_value([0, 5], [0, 30], [40, 40], [20.0, 20.0], time=6)
    assert np.all(clv > 0) and clv[1] > clv[0]


def test_errors():
    with pytest.raises(NotFitted):
        ModifiedBetaGeo().probability_alive(1, 1, 2)
    with pytest.raises(InvalidData):
        _model().conditional_expected_purchases(5, 2, 3, 1)  # recency > T


rfm = st.tuples(st.integers(0, 300), st.floats(0.0, 1.0), st.floats(1e-3, 3000.0)).map(
    lambda v: (0.0, 0.0, v[2]) if v[0] == 0 else (float(v[0]), max(v[1] * v[2], 1e-6 * v[2]), v[2]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(p=st.tuples(*[st.floats(0.05, 20.0)] * 4), row=rfm, t=st.floats(0.0, 1000.0), dt=st.floats(0.01, 100.0))
def test_properties(p, row, t, dt):
    m = _model(dict(zip(("r", "alpha", "a", "b"), p)))
    x, tx, T = row
    pa = m.probability_alive(x, tx, T)
    assert 0.0 <= pa <= 1.0
    log_odds = np.log(p[2] / (p[3] + x)) + (p[0] + x) * np.log((p[1] + T) / (p[1] + tx))
    if log_odds < 700:  # beyond it the positive probability underflows a double
        assert pa > 0.0
    e1 = m.conditional_expected_purchases(t, x, tx, T)
    e2 = m.conditional_expected_purchases(t + dt, x, tx, T)
    assert np.isfinite(e1) and e1 >= 0 and e2 >= e1 * (1 - 1e-9)
    u1, u2 = m.expected_purchases(t), m.expected_purchases(t + dt)
    assert np.isfinite(u1) and u1 >= 0 and u2 >= u1 * (1 - 1e-9)
