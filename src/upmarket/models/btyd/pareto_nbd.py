"""Pareto/NBD: Schmittlein, Morrison & Colombo (1987), "Counting your customers: who are they and
what will they do next?", Management Science 33(1), 1-24 (SMC 1987); formulas as derived in
Fader & Hardie (2005), "A note on deriving the Pareto/NBD model and related expressions"
(FH 2005 note below).

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); her
lifetime is exponential with rate mu ~ Gamma(s, beta).

Numerical approach.  The likelihood needs

    A_0 = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t_x)) / (alpha+t_x)^(r+s+x)
          - 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+T)) / (alpha+T)^(r+s+x)     (alpha >= beta)

(FH 2005 note §3, the likelihood, with the roles of (alpha, r+x) and (beta, s+1) swapped when
alpha < beta).  A Pfaff transformation, 2F1(a, b; a+1; z) = (1-z)^(-b) 2F1(1, b; a+1; z/(z-1)),
turns every such term into K(t) = (r+s+x) * int_t^inf (alpha+u)^-(r+x) (beta+u)^-(s+1) du with

    alpha >= beta:  K(t) = (alpha+t)^-(r+x) (beta+t)^-s      2F1(1, r+x;  r+s+x+1; (alpha-beta)/(alpha+t))
    alpha <  beta:  K(t) = (alpha+t)^-(r+x-1) (beta+t)^-(s+1) 2F1(1, s+1; r+s+x+1; (beta-alpha)/(beta+t))

whose series has positive, geometrically shrinking terms with argument in [0, 1) (see
``_special.hyp2f1_1bc``); alpha == beta is the argument 0 where 2F1 = 1.  Everything else is
carried in logs, so x = 500 or T = 5000 cannot overflow, and A_0 = K(t_x) - K(T) is never formed
by subtracting two overflowing numbers.  The derivatives of the series in its parameters give
the analytic gradient.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, roots_legendre

from ._base import (TransactionModel, as_array, check_continuous_rft, check_integral, check_weights,
                    compress, keeps_index)
from ._special import hyp2f1_1bc, one_minus_pow_over_k


def _log_k(t, r, alpha, s, beta, x, grad: bool):
    """log K(t) (see module docstring) and its gradient in (r, alpha, s, beta)."""
    m = r + x
    c = r + s + x + 1.0
    if alpha >= beta:
        w = (alpha - beta) / (alpha + t)
        h, hb, hc, hw = hyp2f1_1bc(m, c, w, grad=True, one_minus_w=(beta + t) / (alpha + t))
        lk = -s * np.log(beta + t) - m * np.log(alpha + t) + np.log(h)
        if not grad:
            return lk, None
        g = np.empty((np.size(lk), 4))
        g[:, 0] = -np.log(alpha + t) + (hb + hc) / h
        g[:, 1] = -m / (alpha + t) + hw / h * (beta + t) / (alpha + t) ** 2
        g[:, 2] = -np.log(beta + t) + hc / h
        g[:, 3] = -s / (beta + t) - hw / h / (alpha + t)
    else:
        w = (beta - alpha) / (beta + t)
        h, hb, hc, hw = hyp2f1_1bc(s + 1.0, c, w, grad=True, one_minus_w=(alpha + t) / (beta + t))
        lk = -(m - 1.0) * np.log(alpha + t) - (s + 1.0) * np.log(beta + t) + np.log(h)
        if not grad:
            return lk, None
        g = np.empty((np.size(lk), 4))
        g[:, 0] = -np.log(alpha + t) + hc / h
        g[:, 1] = -(m - 1.0) / (alpha + t) - hw / h / (beta + t)
        g[:, 2] = -np.log(beta + t) + (hb + hc) / h
        g[:, 3] = -(s + 1.0) / (beta + t) + hw / h * (alpha + t) / (beta + t) ** 2
    return lk, g


def _pairs(x, tx, T):
    """Unique (x, t) pairs among (x, t_x) and (x, T), with the index of each row's pair: K(t)
    depends on (x, t) only, and many customers share them (same x, same age).

    The pairs are found by hashing (`_base.compress`), not by sorting every row as
    ``np.unique(axis=0)`` does: on 200,000 customers the sort took most of a P(alive)."""
    xx = np.concatenate([x, x])
    tt = np.concatenate([tx, T])
    (ux, ut), _, inv = compress([xx, tt], np.ones(xx.size), return_inverse=True)
    return ux, ut, inv[: x.size], inv[x.size:]


def _loglik_parts(params, x, tx, T, grad: bool = True, pairs=None):
    """Per-row log-likelihood, its gradient, and log P(alive) (FH 2005 note §3 and §5)."""
    r, alpha, s, beta = params
    A = r + s + x
    base = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    le1 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    lp = np.log(s) - np.log(A)
    ux, ut, i1, i2 = _pairs(x, tx, T) if pairs is None else pairs
    lk, gk = _log_k(ut, r, alpha, s, beta, ux, grad)
    lk1, lk2 = lk[i1], lk[i2]
    g1, g2 = (gk[i1], gk[i2]) if grad else (None, None)
    lk1 = lk1 + lp
    lk2 = lk2 + lp
    mx = np.maximum(le1, lk1)
    e1 = np.exp(le1 - mx)
    ek1 = np.exp(lk1 - mx)
    ek2 = np.exp(lk2 - mx)
    tot = e1 + ek1 - ek2
    tot = np.maximum(tot, e1)  # K(t_x) >= K(T); guards against rounding when t_x ~ T
    ll = base + mx + np.log(tot)
    log_alive = le1 - mx - np.log(tot)
    if not grad:
        return ll, None, log_alive
    n = x.size
    gb = np.zeros((n, 4))
    gb[:, 0] = digamma(r + x) - digamma(r) + np.log(alpha)
    gb[:, 1] = r / alpha
    gb[:, 2] = np.log(beta)
    gb[:, 3] = s / beta
    ge1 = np.zeros((n, 4))
    ge1[:, 0] = -np.log(alpha + T)
    ge1[:, 1] = -(r + x) / (alpha + T)
    ge1[:, 2] = -np.log(beta + T)
    ge1[:, 3] = -s / (beta + T)
    gp = np.zeros((n, 4))
    gp[:, 0] = -1.0 / A
    gp[:, 2] = 1.0 / s - 1.0 / A
    g = gb + (e1[:, None] * ge1 + ek1[:, None] * (gp + g1) - ek2[:, None] * (gp + g2)) / tot[:, None]
    return ll, g, log_alive


class ParetoNBD(TransactionModel):
    """Pareto/NBD model (SMC 1987; FH 2005 note) with parameters r, alpha, s, beta.

    Hyper-parameters and fitted attributes as :class:`~upmarket.models.btyd.BetaGeo`.
    """

    _param_names = ("r", "alpha", "s", "beta")

    def _prepare(self, frequency, recency, T):
        return check_continuous_rft(frequency, recency, T, same_length=True)

    def fit(self, frequency, recency, T, weights=None) -> "ParetoNBD":
        """Maximum likelihood of the FH 2005 note §3 likelihood with the analytic gradient (see the module
        docstring for the stable evaluation of the Gaussian hypergeometric terms)."""
        x, tx, T = self._prepare(frequency, recency, T)
        w = check_weights(weights, x.shape[0])
        scale = max(np.average(T, weights=w), 1e-9)
        rate = (np.average(x, weights=w) + 1.0) / scale
        self._fit((x, tx, T), w, x0=(1.0, 1.0 / rate, 1.0, scale))
        return self

    def _augment(self, data):
        x, tx, T = data
        ux, ut, i1, i2 = _pairs(x, tx, T)
        return [x, tx, T, ux, ut, i1, i2]

    @classmethod
    def _loglik(cls, params, x, tx, T, *pairs):
        ll, g, _ = _loglik_parts(params, x, tx, T, grad=True, pairs=pairs or None)
        return ll, g

    # ------------------------------------------------------------------ predictions

    @keeps_index
    def probability_alive(self, frequency, recency, T):
        """P(alive at T | x, t_x, T) = 1 / (1 + (s/(r+s+x)) (alpha+T)^(r+x) (beta+T)^s A_0)
        (FH 2005 note §5; SMC 1987 eq. 11), as the share of the likelihood's first term."""
        x, tx, T = check_continuous_rft(frequency, recency, T)
        shape = x.shape
        _, _, la = _loglik_parts(np.array(self._p()), x.ravel(), tx.ravel(), T.ravel(), grad=False)
        return np.clip(np.exp(la), 0.0, 1.0).reshape(shape)

    def expected_purchases(self, t):
        """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (FH 2005 note §4;
        SMC 1987 eq. 17); the s -> 1 limit r beta/alpha ln(1 + t/beta) is taken smoothly."""
        r, alpha, s, beta = self._p()
        t = as_array("t", t)
        return r * beta / alpha * one_minus_pow_over_k(s - 1.0, np.log1p(t / beta))

    @keeps_index
    def conditional_expected_purchases(self, t, frequency, recency, T):
        """E[Y(t) | x, t_x, T] = (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]
        * P(alive | x, t_x, T) (FH 2005 note §6; SMC 1987 eq. 22)."""
        r, alpha, s, beta = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        t = as_array("t", t)
        t, x, tx, T = np.broadcast_arrays(t, x, tx, T)
        pa = self.probability_alive(x, tx, T)
        return (r + x) * (beta + T) / (alpha + T) * one_minus_pow_over_k(s - 1.0, np.log1p(t / (beta + T))) * pa

    def conditional_expected_purchases_curve(self, times, frequency, recency, T) -> list[np.ndarray]:
        """:meth:`conditional_expected_purchases` at each of `times`, with P(alive) (the costly
        part, and independent of t) computed once: the same numbers as one call per t."""
        r, alpha, s, beta = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        pa = self.probability_alive(x, tx, T)
        scale = (r + x) * (beta + T) / (alpha + T)
        out = []
        for t in times:
            t = np.broadcast_to(as_array("t", t), x.shape)
            out.append(scale * one_minus_pow_over_k(s - 1.0, np.log1p(t / (beta + T))) * pa)
        return out

    def probability_of_n_purchases(self, t, n, *, nodes: int = 96):
        """P(X(t) = n) for a new customer.

        Conditioning on the lifetime omega ~ Pareto(II)(s, beta) and using that purchases up to
        min(omega, t) are NBD(r, alpha) distributed (the derivation of Fader & Hardie 2006,
        "Deriving an expression for P(X(t)=x) under the Pareto/NBD model", §3-4):

            P(X(t)=n) = (beta/(beta+t))^s NBD_n(t) + int_0^t s beta^s (beta+u)^-(s+1) NBD_n(u) du,

        NBD_n(u) = Gamma(r+n)/(Gamma(r) n!) (alpha/(alpha+u))^r (u/(alpha+u))^n.  The integral is
        taken over the lifetime CDF F(u) with Gauss-Legendre nodes, so the probabilities over n
        sum to exactly 1 for every t (no hypergeometric cancellation for large n).
        """
        r, alpha, s, beta = self._p()
        t = as_array("t", t)
        n = as_array("n", n)
        check_integral("n", n)
        t, n = np.broadcast_arrays(t, n)
        shape = t.shape
        t, n = t.ravel(), n.ravel()
        xg, wg = roots_legendre(nodes)
        # u-scale: F(tau) = 1 - (beta/(beta+tau))^s;  F(t) = -expm1(-s log1p(t/beta))
        Ft = -np.expm1(-s * np.log1p(t / beta))
        uu = 0.5 * (xg[None, :] + 1.0) * Ft[:, None]
        tau = beta * np.expm1(-np.log1p(-uu) / s)
        tau = np.minimum(tau, t[:, None])

        def log_nbd(u, k):
            with np.errstate(divide="ignore", invalid="ignore"):
                out = (gammaln(r + k) - gammaln(r) - gammaln(k + 1) + r * (np.log(alpha) - np.log(alpha + u))
                       + np.where(k > 0, k * (np.log(u) - np.log(alpha + u)), 0.0))
            return out

        alive_part = np.exp(-s * np.log1p(t / beta) + log_nbd(t, n))
        dead_part = 0.5 * Ft * np.sum(wg[None, :] * np.exp(log_nbd(tau, n[:, None])), axis=1)
        return (alive_part + dead_part).reshape(shape)
