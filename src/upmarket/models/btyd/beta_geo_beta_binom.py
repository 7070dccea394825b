"""BG/BB: Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time noncontractual
setting", Marketing Science 29(6), 1086-1108 (FHS 2010 below).

At each of n discrete transaction opportunities an active customer transacts with probability
p ~ Beta(alpha, beta) and, at the start of the next opportunity, drops out with probability
theta ~ Beta(gamma, delta).  Data per customer: x transactions among the n opportunities, the
opportunity t_x (1..n) of the last one (0 if none), and n.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, gammaln

from ._base import InvalidData, TransactionModel, as_array, broadcast, check_integral, check_weights, keeps_index


def check_discrete_rfn(frequency, recency, n_periods, *, same_length: bool = False):
    """Validate (x, t_x, n): whole numbers with x <= t_x <= n, t_x = 0 iff x = 0, n >= 1."""
    x = as_array("frequency", frequency)
    tx = as_array("recency", recency)
    n = as_array("n_periods", n_periods)
    x, tx, n = broadcast(("frequency", "recency", "n_periods"), (x, tx, n), same_length=same_length)
    for name, arr in (("frequency", x), ("recency", tx), ("n_periods", n)):
        check_integral(name, arr)
    if np.any(n < 1):
        raise InvalidData("n_periods must be >= 1 (the number of transaction opportunities)")
    if np.any(tx > n):
        raise InvalidData(f"recency > n_periods in {int(np.sum(tx > n))} row(s); recency is the opportunity of "
                          "the last transaction and cannot exceed the number of opportunities")
    if np.any(x > tx):
        raise InvalidData(f"frequency > recency in {int(np.sum(x > tx))} row(s); with one transaction per "
                          "opportunity at most, x transactions need the last one at opportunity >= x")
    if np.any((x == 0) & (tx > 0)):
        raise InvalidData("recency must be 0 when frequency is 0")
    return x, tx, n


def _log_terms(params, x, tx, n, grad: bool):
    """Log of the terms of the likelihood, FHS 2010 eq. (5):

        L = B(alpha+x, beta+n-x)/B(alpha, beta) * B(gamma, delta+n)/B(gamma, delta)
            + sum_{i=0}^{n-t_x-1} B(alpha+x, beta+t_x-x+i)/B(alpha, beta)
                                  * B(gamma+1, delta+t_x+i)/B(gamma, delta)

    as a (rows, 1 + max(n - t_x)) matrix with -inf padding, plus d/d(alpha, beta, gamma, delta).
    """
    al, be, ga, de = params
    rows = x.size
    width = int(np.max(n - tx)) if rows else 0
    i = np.arange(width, dtype=float)[None, :]
    valid = i < (n - tx)[:, None]
    k = np.where(valid, tx[:, None] + i, tx[:, None])  # t_x + i
    c = betaln(al, be) + betaln(ga, de)
    lt = np.empty((rows, width + 1))
    lt[:, 0] = betaln(al + x, be + n - x) + betaln(ga, de + n) - c
    xx = x[:, None]
    lt[:, 1:] = np.where(valid, betaln(al + xx, be + k - xx) + betaln(ga + 1, de + k) - c, -np.inf)
    if not grad:
        return lt, None
    g = np.zeros((rows, width + 1, 4))
    dab, dgd = digamma(al + be), digamma(ga + de)
    d_a0 = -(digamma(al) - dab)
    d_b0 = -(digamma(be) - dab)
    d_g0 = -(digamma(ga) - dgd)
    d_d0 = -(digamma(de) - dgd)
    g[:, 0, 0] = digamma(al + x) - digamma(al + be + n) + d_a0
    g[:, 0, 1] = digamma(be + n - x) - digamma(al + be + n) + d_b0
    g[:, 0, 2] = digamma(ga) - digamma(ga + de + n) + d_g0
    g[:, 0, 3] = digamma(de + n) - digamma(ga + de + n) + d_d0
    g[:, 1:, 0] = digamma(al + xx) - digamma(al + be + k) + d_a0
    g[:, 1:, 1] = digamma(be + k - xx) - digamma(al + be + k) + d_b0
    g[:, 1:, 2] = digamma(ga + 1) - digamma(ga + de + k + 1) + d_g0
    g[:, 1:, 3] = digamma(de + k) - digamma(ga + de + k + 1) + d_d0
    return lt, g


def _loglik(params, x, tx, n, grad=True):
    lt, g = _log_terms(params, x, tx, n, grad)
    m = lt.max(axis=1, keepdims=True)
    e = np.exp(lt - m)
    s = e.sum(axis=1, keepdims=True)
    ll = (m + np.log(s))[:, 0]
    if not grad:
        return ll, None
    wts = e / s
    return ll, np.einsum("rk,rkp->rp", wts, g)


class BetaGeoBetaBinom(TransactionModel):
    """BG/BB model (FHS 2010) with parameters alpha, beta (transaction) and gamma, delta (dropout).

    ``fit(frequency, recency, n_periods, weights=None)``; predictions take ``T`` = n_periods
    and ``t`` = number of future opportunities.  Hyper-parameters and fitted attributes as
    :class:`~upmarket.models.btyd.BetaGeo`.
    """

    _param_names = ("alpha", "beta", "gamma", "delta")

    def _prepare(self, frequency, recency, n_periods):
        return check_discrete_rfn(frequency, recency, n_periods, same_length=True)

    def fit(self, frequency, recency, n_periods, weights=None) -> "BetaGeoBetaBinom":
        """Maximum likelihood (FHS 2010 eq. 5) with the analytic gradient; identical rows are
        collapsed with their counts (the "recency/frequency matrix" of FHS 2010 Table 1)."""
        x, tx, n = self._prepare(frequency, recency, n_periods)
        w = check_weights(weights, x.shape[0])
        self._fit((x, tx, n), w, x0=(1.0, 1.0, 1.0, 1.0))
        return self

    @classmethod
    def _loglik(cls, params, x, tx, n):
        return _loglik(params, x, tx, n)

    # ------------------------------------------------------------------ predictions

    @keeps_index
    def probability_alive(self, frequency, recency, T, t_future=0):
        """P(alive at opportunity n+1+t_future | x, t_x, n) = B(alpha+x, beta+n-x)/B(alpha, beta)
        * B(gamma, delta+n+1+t_future)/B(gamma, delta) / L (FHS 2010 eq. 11 for t_future = 0):
        the probability the customer is still active at the next opportunity (T = n).  Note
        ``lifetimes``' conditional_probability_alive(m, ...) is this with t_future = m - 1."""
        al, be, ga, de = self._p()
        x, tx, n = check_discrete_rfn(frequency, recency, T)
        t_future = as_array("t_future", t_future)
        shape = np.broadcast_shapes(x.shape, t_future.shape)
        x, tx, n, tf = (np.broadcast_to(a, shape).ravel() for a in (x, tx, n, t_future))
        ll, _ = _loglik(np.array([al, be, ga, de]), x, tx, n, grad=False)
        lnum = betaln(al + x, be + n - x) - betaln(al, be) + betaln(ga, de + n + 1 + tf) - betaln(ga, de)
        return np.clip(np.exp(lnum - ll), 0.0, 1.0).reshape(shape)

    def expected_purchases(self, t):
        """E[X(n)] over the first n = t opportunities for a new customer (FHS 2010 eq. 8):
        alpha/(alpha+beta) * delta/(gamma-1) * [1 - Gamma(gamma+delta)/Gamma(gamma+delta+n)
        * Gamma(1+delta+n)/Gamma(1+delta)], i.e. sum_{i=1}^n E[p] B(gamma, delta+i)/B(gamma, delta)."""
        al, be, ga, de = self._p()
        t = as_array("t", t)
        return al / (al + be) * _sum_survival(ga, de, 0.0, t)

    @keeps_index
    def conditional_expected_purchases(self, t, frequency, recency, T):
        """E[X(n, n+t) | x, t_x, n], expected transactions in the next t opportunities
        (FHS 2010 eq. 13):

        1/L * B(alpha+x+1, beta+n-x)/B(alpha, beta) * delta/(gamma-1) * Gamma(gamma+delta)/Gamma(1+delta)
            * [Gamma(1+delta+n)/Gamma(gamma+delta+n) - Gamma(1+delta+n+t)/Gamma(gamma+delta+n+t)],

        the last two factors being sum_{i=1}^t B(gamma, delta+n+i)/B(gamma, delta) (see
        ``_sum_survival``, stable at gamma = 1)."""
        al, be, ga, de = self._p()
        x, tx, n = check_discrete_rfn(frequency, recency, T)
        t = as_array("t", t)
        t, x, tx, n = np.broadcast_arrays(t, x, tx, n)
        shape = t.shape
        t, x, tx, n = (a.ravel() for a in (t, x, tx, n))
        ll, _ = _loglik(np.array([al, be, ga, de]), x, tx, n, grad=False)
        lp = betaln(al + x + 1, be + n - x) - betaln(al, be)
        return (np.exp(lp - ll) * _sum_survival(ga, de, n, t)).reshape(shape)

    def probability_of_n_purchases(self, t, n):
        """P(X(m) = x) for a new customer over m = t opportunities, x = n (FHS 2010 eq. 7):

        C(m, x) B(alpha+x, beta+m-x)/B(alpha, beta) B(gamma, delta+m)/B(gamma, delta)
        + sum_{i=x}^{m-1} C(i, x) B(alpha+x, beta+i-x)/B(alpha, beta) B(gamma+1, delta+i)/B(gamma, delta).
        """
        al, be, ga, de = self._p()
        m = as_array("t", t)
        x = as_array("n", n)
        check_integral("t", m)
        check_integral("n", x)
        m, x = np.broadcast_arrays(m, x)
        shape = m.shape
        m, x = m.ravel(), x.ravel()
        out = np.zeros(m.shape)
        ok = x <= m
        c = betaln(al, be) + betaln(ga, de)

        def lchoose(a, b):
            return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

        mo, xo = m[ok], x[ok]
        out0 = np.exp(lchoose(mo, xo) + betaln(al + xo, be + mo - xo) + betaln(ga, de + mo) - c)
        width = int(np.max(mo - xo)) if mo.size else 0
        i = xo[:, None] + np.arange(width, dtype=float)[None, :]
        valid = i < mo[:, None]
        ii = np.where(valid, i, xo[:, None])
        xx = xo[:, None]
        terms = np.where(valid, np.exp(lchoose(ii, xx) + betaln(al + xx, be + ii - xx) + betaln(ga + 1, de + ii) - c),
                         0.0)
        out[ok] = out0 + terms.sum(axis=1)
        return out.reshape(shape)


def _sum_survival(ga, de, n, t):
    """sum_{i=1}^t B(gamma, delta+n+i)/B(gamma, delta)
    = delta/(gamma-1) Gamma(gamma+delta)/Gamma(1+delta)
      [Gamma(1+delta+n)/Gamma(gamma+delta+n) - Gamma(1+delta+n+t)/Gamma(gamma+delta+n+t)]
    (the telescoping sum behind FHS 2010 eq. 8 and 13), written as -expm1(D)/(gamma-1) times
    positive factors so that gamma -> 1 has its limit instead of 0/0."""
    n = np.asarray(n, dtype=float)
    t = np.asarray(t, dtype=float)
    lg_n = gammaln(1 + de + n) - gammaln(ga + de + n)
    D = (gammaln(1 + de + n + t) - gammaln(ga + de + n + t)) - lg_n
    lead = np.log(de) + gammaln(ga + de) - gammaln(1 + de) + lg_n
    if abs(ga - 1.0) < 1e-7:
        # d D / d gamma at gamma = 1: -(psi(1+delta+n+t) - psi(1+delta+n))
        ratio = digamma(1 + de + n + t) - digamma(1 + de + n)
    else:
        ratio = -np.expm1(D) / (ga - 1.0)
    return np.exp(lead) * ratio
