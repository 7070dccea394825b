"""BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to
the Pareto/NBD model", Marketing Science 24(2), 275-284 (FHL 2005 below).

While active a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each
purchase she drops out with probability p ~ Beta(a, b).  Data per customer: x repeat purchases,
the time t_x of the last one and the age T (both measured from the first purchase).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1

from ._base import (TransactionModel, as_array, check_continuous_rft, check_integral, check_weights,
                    compress, keeps_index)


class BetaGeoFamily(TransactionModel):
    """What the BG/NBD and the MBG/NBD share: parameters r, alpha (Gamma purchase rate) and a, b
    (Beta drop-out chance), continuous-time (x, t_x, T) data, the fit's starting point and the
    per-distinct-x precomputation their likelihoods (`two_term_loglik`) index into."""

    _param_names = ("r", "alpha", "a", "b")

    def _prepare(self, frequency, recency, T):
        return check_continuous_rft(frequency, recency, T, same_length=True)

    def fit(self, frequency, recency, T, weights=None):
        """Maximum likelihood with the analytic gradient; identical rows are collapsed with their
        counts first, so ``weights`` (counts per row) and raw rows give the same fit."""
        x, tx, T = self._prepare(frequency, recency, T)
        w = check_weights(weights, x.shape[0])
        rate = (np.average(x, weights=w) + 1.0) / max(np.average(T, weights=w), 1e-9)
        self._fit((x, tx, T), w, x0=(1.0, 1.0 / rate, 1.0, 1.0))
        return self

    def _augment(self, data):
        x = data[0]
        ux, ix = np.unique(x, return_inverse=True)
        return [*data, ux, ix.ravel()]


class BetaGeo(BetaGeoFamily):
    """BG/NBD model (FHL 2005) with parameters r, alpha (purchase rate) and a, b (dropout).

    Parameters
    ----------
    penalizer : L2 penalty ``penalizer * sum(params**2)`` added to the mean negative
        log-likelihood (the ``lifetimes`` convention); 0 gives plain maximum likelihood.
    tol, max_iter : passed to scipy's L-BFGS-B (``ftol``, ``maxiter``).
    initial_params : optional dict or sequence (r, alpha, a, b) to start from.

    Attributes after :meth:`fit`: ``params_`` (dict r, alpha, a, b), ``log_likelihood_``
    (weighted total at the optimum, unpenalised), ``standard_errors_``, ``covariance_``,
    ``n_obs_`` (number of customers = sum of weights), ``converged_``.
    """

    @classmethod
    def _loglik(cls, params, x, tx, T, ux=None, ix=None):
        """Log of FHL 2005 eq. (6):

        L = B(a, b+x)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+T)^(r+x))
            + delta_{x>0} B(a+1, b+x-1)/B(a, b) * Gamma(r+x) alpha^r / (Gamma(r) (alpha+t_x)^(r+x)),

        evaluated as logaddexp of the two terms; returns per-row ll and d ll / d(r, alpha, a, b).
        Functions of x alone (log-gamma, digamma) are computed once per distinct x.
        """
        r, alpha, a, b = params
        if ux is None:
            ux, ix = np.unique(x, return_inverse=True)
            ix = ix.ravel()
        upos = ux > 0
        ub1 = np.where(upos, b + ux - 1, 1.0)
        lab = betaln(a, b)
        # per distinct x
        u_base = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
        u_l1 = betaln(a, b + ux) - lab
        u_l2 = np.where(upos, betaln(a + 1, ub1) - lab, -np.inf)
        dab = digamma(a + b)
        u_dr = digamma(r + ux) - digamma(r) + np.log(alpha)
        u_da = dab - digamma(a + b + ux)
        u_db1 = digamma(b + ux)
        u_db2 = np.where(upos, digamma(ub1), 0.0)
        da2 = digamma(a + 1) - digamma(a)
        db0 = -digamma(b)

        # d/da: term1 psi(a+b) - psi(a+b+x); term2 adds psi(a+1) - psi(a)
        # d/db: psi(a+b) - psi(a+b+x) - psi(b) + w1 psi(b+x) + w2 psi(b+x-1)
        return two_term_loglik(r, alpha, x, tx, T, ix, u_base, u_l1, u_l2, u_dr, u_da, da2, db0,
                               u_db1, u_db2)

    # ------------------------------------------------------------------ predictions

    @keeps_index
    def probability_alive(self, frequency, recency, T):
        """P(alive | x, t_x, T) = 1 / (1 + delta_{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))
        (FHL 2005 §5 / Fader, Hardie & Lee 2008 note "Computing P(alive) using the BG/NBD
        model", eq. 5), computed as a logistic of the log-odds."""
        r, alpha, a, b = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        pos = x > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = np.log(a) - np.log(np.where(pos, b + x - 1, 1.0)) + (r + x) * (
                np.log(alpha + T) - np.log(alpha + tx))
        return np.where(pos, expit(-log_odds), 1.0)

    def expected_purchases(self, t):
        """E[X(t)] for a new customer (FHL 2005 eq. 9):
        (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))]."""
        r, alpha, a, b = self._p()
        t = as_array("t", t)
        return self._expected_given(t, r, alpha, a, b, x=np.zeros_like(t), T=np.zeros_like(t))

    @keeps_index
    def conditional_expected_purchases(self, t, frequency, recency, T):
        """E[Y(t) | x, t_x, T], expected purchases in (T, T+t] (FHL 2005 eq. 10):

        (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))]
        / [1 + delta_{x>0} a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)].

        The bracket is P(alive) times E[(1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p] with
        p ~ Beta(a, b+x) (the posterior of an alive customer); where the closed form is not
        finite (extreme arguments of 2F1) that integral is evaluated by quadrature instead.
        """
        r, alpha, a, b = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        t = as_array("t", t)
        t, x, tx, T = np.broadcast_arrays(t, x, tx, T)
        return self.probability_alive(x, tx, T) * self._expected_given(t, r, alpha, a, b, x=x, T=T)

    def conditional_expected_purchases_curve(self, times, frequency, recency, T) -> list[np.ndarray]:
        """:meth:`conditional_expected_purchases` at each of `times`, with P(alive) computed once
        and the expectation of an alive customer (a hypergeometric function per row, the costly
        part) once per distinct (x, T): it does not depend on t_x, and customers of one age and
        frequency are many. Element by element the same numbers as one call per t."""
        r, alpha, a, b = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        if any(np.ndim(t) for t in times):
            return super().conditional_expected_purchases_curve(times, x, tx, T)
        pa = self.probability_alive(x, tx, T)
        (ux, uT), _, inv = compress([x.ravel(), T.ravel()], np.ones(x.size), return_inverse=True)
        out = []
        for t in times:
            t = np.full(ux.shape, as_array("t", t))
            out.append(pa * self._expected_given(t, r, alpha, a, b, x=ux, T=uT)[inv].reshape(x.shape))
        return out

    @staticmethod
    def _expected_given(t, r, alpha, a, b, x, T):
        """E[purchases in next t | alive, x, T] = E_p[(1 - ((alpha+T)/(alpha+T+p t))^(r+x))/p],
        p ~ Beta(a, b+x); closed form (a+b+x-1)/(a-1)[1 - ... 2F1(...)] of FHL 2005 eq. 9/10."""
        t, x, T = np.broadcast_arrays(np.asarray(t, float), np.asarray(x, float), np.asarray(T, float))
        shape = t.shape
        t, x, T = t.ravel(), x.ravel(), T.ravel()
        out = np.zeros(t.shape)
        go = t > 0
        if np.any(go):
            tg, xg, Tg = t[go], x[go], T[go]
            # a == 1 is a removable singularity of the closed form: use the quadrature there
            if abs(a - 1.0) > 1e-4:
                z = tg / (alpha + Tg + tg)
                with np.errstate(all="ignore"):
                    lpow = (r + xg) * (np.log(alpha + Tg) - np.log(alpha + Tg + tg))
                    h = hyp2f1(r + xg, b + xg, a + b + xg - 1, z)
                    val = (a + b + xg - 1) / (a - 1) * (-np.expm1(lpow + np.log(h)))
                ok = np.isfinite(val) & (val >= 0)
                # guard against cancellation: the value cannot exceed the rate bound (r+x) t/(alpha+T)
                ok &= val <= (r + xg) * tg / (alpha + Tg) * (1 + 1e-9)
            else:
                val = np.full(tg.shape, np.nan)
                ok = np.zeros(tg.shape, bool)
            for i in np.flatnonzero(~ok):
                val[i] = _expected_quad(tg[i], r, alpha, a, b, xg[i], Tg[i])
            out[go] = val
        return out.reshape(shape)

    def probability_of_n_purchases(self, t, n):
        """P(X(t) = n) for a new customer (FHL 2005 eq. 8):

        B(a, b+n)/B(a, b) Gamma(r+n)/(Gamma(r) n!) (alpha/(alpha+t))^r (t/(alpha+t))^n
        + delta_{n>0} B(a+1, b+n-1)/B(a, b) [1 - (alpha/(alpha+t))^r sum_{j<n} ...],

        where the bracket is the NBD survival P(NBD >= n) = I_{t/(alpha+t)}(n, r) (regularised
        incomplete beta), so no alternating sum is formed.
        """
        r, alpha, a, b = self._p()
        t = as_array("t", t)
        n = as_array("n", n)
        check_integral("n", n)
        t, n = np.broadcast_arrays(t, n)
        lab = betaln(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            lt = np.log(t) - np.log(alpha + t)
            term1 = np.exp(betaln(a, b + n) - lab + gammaln(r + n) - gammaln(r) - gammaln(n + 1)
                           + r * (np.log(alpha) - np.log(alpha + t)) + np.where(n > 0, n * lt, 0.0))
            nn = np.where(n > 0, n, 1.0)
            term2 = np.where(n > 0, np.exp(betaln(a + 1, b + nn - 1) - lab) * betainc(nn, r, t / (alpha + t)), 0.0)
        return term1 + term2


def _expected_quad(t, r, alpha, a, b, x, T):
    """E_p[(1 - ((alpha+T)/(alpha+T+p t))^(r+x)) / p] with p ~ Beta(a, b+x), numerically.

    With p = 1/(1+exp(-y)) the Beta(a, b') law of p becomes a smooth log-concave density on the
    real line, exp(a log p + b' log(1-p)) / B(a, b'), with exponential tails, and the integrand
    is analytic in a strip |Im y| < pi; the trapezoidal rule on such an integrand converges
    geometrically in 1/step, so a fixed fine grid over the range that holds the mass is accurate
    to ~1e-13 for any a, b' (tiny ones: heavy endpoint mass; huge ones: a narrow peak).
    """
    bp = b + x
    k = t / (alpha + T)
    m = r + x
    mode = np.log(a / bp)  # the maximum of a log p + b' log(1-p) in y
    sd = np.sqrt(1.0 / a + 1.0 / bp)  # ~ its width in y
    h = min(0.25, sd / 8.0)
    lo = mode - 45.0 / a - 10.0 * sd
    hi = mode + 45.0 / bp + 10.0 * sd
    # Tails where the integrand is constant to 1e-12 are integrated in closed form, so a tiny a
    # (or b') — whose density decays like exp(a·y) over an astronomically long range — needs
    # no grid there: for p < p_lo, g(p) = m k; for 1 - p < q_hi, g(p) = 1 - (1+k)^-m.
    tails = 0.0
    p_lo = min(1e-12 / max(k * (m + 1.0), 1e-300), 0.5)  # tiny k: g is flat up to p = 1/2
    y_lo = np.log(p_lo) - np.log1p(-p_lo)  # logit(p_lo)
    if lo < y_lo:
        tails += m * k * betainc(a, bp, p_lo)
        lo = y_lo
    y_hi = np.log1p(-1e-12) - np.log(1e-12)  # logit(1 - 1e-12)
    if hi > y_hi:
        tails += -np.expm1(-m * np.log1p(k)) * betainc(bp, a, 1e-12)
        hi = y_hi
    # never more than a million nodes, whatever the parameters
    h = max(h, (hi - lo) / 1e6)
    y = np.arange(lo, hi + h, h)
    logp = -np.logaddexp(0.0, -y)
    log1mp = -np.logaddexp(0.0, y)
    p = np.exp(logp)
    g = np.where(p > 0, -np.expm1(-m * np.log1p(k * p)) / np.where(p > 0, p, 1.0), m * k)
    dens = np.exp(a * logp + bp * log1mp - betaln(a, bp))
    f = g * dens
    # trapezoid weights: where a tail was cut off the grid ends inside the mass, and a plain sum
    # would count the end nodes twice over
    return float(h * (f.sum() - 0.5 * (f[0] + f[-1])) + tails)


def two_term_loglik(r, alpha, x, tx, T, ix, u_base, u_l1, u_l2, u_dr, u_dab, da2, db0, u_db1,
                    u_db2):
    """The likelihood shape the BG/NBD (FHL 2005 eq. 6) and the MBG/NBD (Batislam et al. 2007)
    share: Gamma-Poisson purchasing, times a mixture of "still alive at T" (term 1, weight
    exp(u_l1) (alpha+T)^-(r+x)) and "gone right after t_x" (term 2, exp(u_l2) (alpha+t_x)^-(r+x)),
    added in log space. Arrays named u_* hold functions of each distinct x (indexed by `ix`);
    the a and b derivatives of the two terms differ between the models only through them and
    the scalars `da2` (term 2's extra d/da) and `db0` (-psi(b)). Returns per-row ll and the
    (n, 4) gradient d ll / d(r, alpha, a, b)."""
    lat = np.log(alpha + T)
    latx = np.log(alpha + tx)
    rx = r + x
    l1 = u_l1[ix] - rx * lat
    l2 = u_l2[ix] - rx * latx
    m = np.maximum(l1, l2)
    e1 = np.exp(l1 - m)
    e2 = np.exp(l2 - m)
    s = e1 + e2
    ll = u_base[ix] + m + np.log(s)
    w1 = e1 / s
    w2 = 1.0 - w1

    d = np.empty((4, x.size))  # (k, n): see _base.weighted_sum
    d[0] = u_dr[ix] - w1 * lat - w2 * latx
    d[1] = r / alpha - rx * (w1 / (alpha + T) + w2 / (alpha + tx))
    d[2] = u_dab[ix] + w2 * da2
    d[3] = u_dab[ix] + db0 + w1 * u_db1[ix] + w2 * u_db2[ix]
    return ll, d.T
