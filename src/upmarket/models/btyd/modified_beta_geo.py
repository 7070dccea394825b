"""MBG/NBD: Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models
for customer base analysis", International Journal of Research in Marketing 24(3), 201-209
(BDF 2007 below); the same model as the "central variant" of Hoppe & Wagner (2007) and Wagner &
Hoppe (2008), "Erratum on the MBG/NBD model", International Journal of Research in Marketing
25(3), 225-226 (WH 2008 below), which corrects BDF 2007's conditional expectation.

As the BG/NBD (Fader, Hardie & Lee 2005), a customer buys at Poisson rate lambda ~ Gamma(r, alpha)
while active and drops out with probability p ~ Beta(a, b) after a purchase, but the first
purchase is a drop-out opportunity too: a customer with no repeat purchase can already be gone.
The BG/NBD instead holds every one-time buyer alive, which over-states how many of them come back.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln

from ._base import as_array, check_continuous_rft, keeps_index
from .beta_geo import BetaGeo, BetaGeoFamily, two_term_loglik


class ModifiedBetaGeo(BetaGeoFamily):
    """MBG/NBD model (BDF 2007, WH 2008) with parameters r, alpha (purchase rate) and a, b
    (drop-out after each purchase, the first included).

    Parameters and fitted attributes as :class:`BetaGeo`: ``penalizer``, ``tol``, ``max_iter``,
    ``initial_params``; after :meth:`fit` ``params_`` (r, alpha, a, b), ``log_likelihood_``,
    ``standard_errors_``, ``covariance_``, ``n_obs_``, ``converged_``.
    """

    @classmethod
    def _loglik(cls, params, x, tx, T, ux=None, ix=None):
        """Log of the MBG/NBD likelihood (BDF 2007; restated in WH 2008):

        L = Gamma(r+x) alpha^r / Gamma(r) * [ B(a, b+x+1)/B(a, b) (alpha+T)^-(r+x)
                                            + B(a+1, b+x)/B(a, b) (alpha+t_x)^-(r+x) ],

        the first term alive at T after x+1 survived drop-out chances, the second gone right
        after the last purchase (at t_x = 0, the first one, when x = 0). Both terms exist for
        every x, unlike the BG/NBD's. Returns per-row ll and d ll / d(r, alpha, a, b); functions
        of x alone are computed once per distinct x.
        """
        r, alpha, a, b = params
        if ux is None:
            ux, ix = np.unique(x, return_inverse=True)
            ix = ix.ravel()
        lab = betaln(a, b)
        u_base = gammaln(r + ux) - gammaln(r) + r * np.log(alpha)
        u_l1 = betaln(a, b + ux + 1) - lab
        u_l2 = betaln(a + 1, b + ux) - lab
        u_dr = digamma(r + ux) - digamma(r) + np.log(alpha)
        # d/da and d/db of -betaln(a, b) and of the -psi(a+b+x+1) both terms share
        u_dab = digamma(a + b) - digamma(a + b + ux + 1)
        u_db1 = digamma(b + ux + 1)
        u_db2 = digamma(b + ux)
        da2 = 1.0 / a  # psi(a+1) - psi(a)
        db0 = -digamma(b)

        return two_term_loglik(r, alpha, x, tx, T, ix, u_base, u_l1, u_l2, u_dr, u_dab, da2, db0,
                               u_db1, u_db2)

    # ------------------------------------------------------------------ predictions

    @keeps_index
    def probability_alive(self, frequency, recency, T):
        """P(alive | x, t_x, T) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)) (BDF 2007,
        WH 2008): the ratio of the two likelihood terms, as the posterior odds of
        having dropped out; below 1 even for x = 0."""
        r, alpha, a, b = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + tx))
        return expit(-log_odds)

    def expected_purchases(self, t):
        """E[X(t)] for a new customer (BDF 2007):
        b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))].

        That is P(surviving the first purchase) = b/(a+b) times the BG/NBD expectation for an
        alive customer whose p has the posterior Beta(a, b+1), which is how it is computed (with
        the BG/NBD's quadrature fallback where the closed form is not finite)."""
        r, alpha, a, b = self._p()
        t = as_array("t", t)
        return b / (a + b) * BetaGeo._expected_given(t, r, alpha, a, b + 1.0, x=np.zeros_like(t),
                                                     T=np.zeros_like(t))

    @keeps_index
    def conditional_expected_purchases(self, t, frequency, recency, T):
        """E[Y(t) | x, t_x, T], expected purchases in (T, T+t] (WH 2008's corrected
        form of BDF 2007's conditional expectation):

        (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))]
        / [1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)].

        The bracket is the BG/NBD's expectation for an alive customer with p ~ Beta(a, b+x+1)
        (x+1 survived chances), i.e. :meth:`BetaGeo._expected_given` with b + 1."""
        r, alpha, a, b = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        t = as_array("t", t)
        t, x, tx, T = np.broadcast_arrays(t, x, tx, T)
        return self.probability_alive(x, tx, T) * BetaGeo._expected_given(t, r, alpha, a, b + 1.0, x=x, T=T)
