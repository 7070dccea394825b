"""Shifted beta-geometric (sBG) model of contractual retention: Fader & Hardie (2007), "How to
project customer retention", Journal of Interactive Marketing 21(1), 76-90 (FH 2007 below), and
the discounted expected residual lifetime of Fader & Hardie (2010), "Customer-base valuation in a
contractual setting: the perils of ignoring heterogeneity", Marketing Science 29(1), 85-93
(FH 2010 below).

Each customer renews at the end of every period with probability 1 - theta until she churns;
theta ~ Beta(alpha, beta) across customers.  T is the period in which she churns (1, 2, ...).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma

from ._base import BTYDModel, InvalidData, as_array, check_integral, check_weights
from ._special import hyp2f1_1bc


class ShiftedBetaGeo(BTYDModel):
    """sBG model (FH 2007) with parameters alpha, beta.

    Fit either on cohort survivor counts ``fit([1000, 631, 468, ...])`` (number still active at
    the start of the study and after each period), or on per-customer ``durations`` (periods
    survived, or period of churn) with a ``censored`` flag (True: still active).  Hyper-parameters
    and fitted attributes as :class:`~upmarket.models.btyd.BetaGeo`.
    """

    _param_names = ("alpha", "beta")

    def _prepare(self, durations, censored):
        d = np.atleast_1d(as_array("durations", durations))
        c = np.atleast_1d(as_array("censored", np.asarray(censored, dtype=float)))
        if c.shape != d.shape:
            raise InvalidData(f"censored has shape {c.shape}, durations {d.shape}; they must match")
        check_integral("durations", d)
        if np.any((c == 0) & (d < 1)):
            raise InvalidData("a churned customer's duration must be >= 1 (period of churn, counting from 1)")
        return d, c

    def fit(self, survivors=None, *, durations=None, censored=None, weights=None) -> "ShiftedBetaGeo":
        """Maximum likelihood with the analytic gradient (FH 2007 §3, the log-likelihood
        sum_t n_t ln P(T=t) + n_alive ln S(t_max)).

        survivors : s_0 >= s_1 >= ... >= s_k, active customers at the start and after each of k
            periods; s_{t-1} - s_t churned in period t, s_k are censored at k.
        durations, censored, weights : per customer (or per identical group with ``weights``):
            a churned customer (censored False) with duration d (>= 1) left in period d; a
            censored one (True) has survived d (>= 0) periods so far.
        """
        if (survivors is None) == (durations is None):
            raise InvalidData("give either survivors (cohort counts) or durations with censored, not both")
        if survivors is not None:
            if weights is not None or censored is not None:
                raise InvalidData("weights/censored go with durations, not with survivors")
            s = np.atleast_1d(as_array("survivors", survivors))
            if s.ndim != 1 or s.size < 2:
                raise InvalidData("survivors needs at least two counts: the cohort size and those left after period 1")
            check_integral("survivors", s)
            if np.any(np.diff(s) > 0):
                raise InvalidData("survivors must not increase over time (counts of the same cohort still active)")
            if s[0] <= 0:
                raise InvalidData("the cohort size survivors[0] must be > 0")
            k = s.size - 1
            d = np.concatenate([np.arange(1, k + 1, dtype=float), [float(k)]])
            c = np.concatenate([np.zeros(k), [1.0]])
            w = np.concatenate([s[:-1] - s[1:], [s[-1]]])
        else:
            d = np.atleast_1d(as_array("durations", durations))
            if censored is None:
                raise InvalidData("censored (True for customers still active) is required with durations")
            c = np.atleast_1d(np.asarray(censored))
            if c.shape != d.shape:
                raise InvalidData(f"censored has shape {c.shape}, durations {d.shape}; they must match")
            if c.dtype != bool:
                cf = as_array("censored", c)
                if np.any((cf != 0) & (cf != 1)):
                    raise InvalidData("censored must be boolean (or 0/1)")
                c = cf.astype(bool)
            c = c.astype(float)
            check_integral("durations", d)
            if np.any((c == 0) & (d < 1)):
                raise InvalidData("a churned customer's duration must be >= 1 (period of churn, counting from 1)")
            w = check_weights(weights, d.shape[0])
        self._fit((d, c), w, x0=(1.0, 1.0))
        return self

    @classmethod
    def _loglik(cls, params, d, c):
        """ln P(T=d) = ln B(alpha+1, beta+d-1) - ln B(alpha, beta) for churners and
        ln S(d) = ln B(alpha, beta+d) - ln B(alpha, beta) for censored customers (FH 2007 eq. 4
        and 5 in closed form), with d/d(alpha, beta)."""
        al, be = params
        cens = c > 0
        lab = betaln(al, be)
        ll = np.where(cens, betaln(al, be + d), betaln(al + 1, be + np.maximum(d, 1) - 1)) - lab
        g = np.empty((d.size, 2))
        dab = digamma(al + be)
        g[:, 0] = np.where(cens, digamma(al) - digamma(al + be + d), digamma(al + 1) - digamma(al + be + d)) \
            - (digamma(al) - dab)
        g[:, 1] = np.where(cens, digamma(be + d), digamma(be + np.maximum(d, 1) - 1)) - digamma(al + be + d) \
            - (digamma(be) - dab)
        return ll, g

    # ------------------------------------------------------------------ predictions

    def churn_probability(self, t):
        """P(T = t) = B(alpha+1, beta+t-1)/B(alpha, beta), t = 1, 2, ... (FH 2007 eq. 4)."""
        al, be = self._p()
        t = as_array("t", t)
        if np.any(t < 1):
            raise InvalidData("t must be >= 1 (periods count from 1)")
        return np.exp(betaln(al + 1, be + t - 1) - betaln(al, be))

    def survival(self, t):
        """S(t) = P(T > t) = B(alpha, beta+t)/B(alpha, beta) (FH 2007 eq. 5); S(0) = 1."""
        al, be = self._p()
        t = as_array("t", t)
        return np.exp(betaln(al, be + t) - betaln(al, be))

    def retention_rate(self, t):
        """r_t = S(t)/S(t-1) = (beta+t-1)/(alpha+beta+t-1), rising with t (FH 2007 eq. 8)."""
        al, be = self._p()
        t = as_array("t", t)
        if np.any(t < 1):
            raise InvalidData("t must be >= 1")
        return (be + t - 1) / (al + be + t - 1)

    def expected_survivors(self, n: float, periods: int):
        """n * S(t) for t = 0..periods: the projected survivor curve of a cohort of size n."""
        return n * self.survival(np.arange(periods + 1))

    def discounted_expected_lifetime(self, discount_rate: float):
        """DEL(d) = sum_{t>=0} S(t)/(1+d)^t = 2F1(1, beta; alpha+beta; 1/(1+d)) (FH 2010 eq. 5):
        expected discounted number of payments of a new customer, first payment now."""
        al, be = self._p()
        d = as_array("discount_rate", discount_rate)
        if np.any(d <= 0):
            raise InvalidData("discount_rate must be > 0 (the series diverges without discounting)")
        return hyp2f1_1bc(be, al + be, 1.0 / (1.0 + d))

    def discounted_expected_residual_lifetime(self, discount_rate: float, renewals=0):
        """DERL(d | alpha, beta, n-1 renewals) = (beta+n-1)/(alpha+beta+n-1)
        * 2F1(1, beta+n; alpha+beta+n; 1/(1+d)) (FH 2010 eq. 6), with n - 1 = ``renewals``:
        the expected discounted number of future payments of a customer who has made
        ``renewals`` renewals and is about to decide on the next (payments at the start of each
        period, the next one undiscounted).  Multiply by the margin per period for the residual
        value of the customer."""
        al, be = self._p()
        d = as_array("discount_rate", discount_rate)
        if np.any(d <= 0):
            raise InvalidData("discount_rate must be > 0 (the series diverges without discounting)")
        n = as_array("renewals", renewals) + 1.0
        check_integral("renewals", n)
        d, n = np.broadcast_arrays(d, n)
        return (be + n - 1) / (al + be + n - 1) * hyp2f1_1bc(be + n, al + be + n, 1.0 / (1.0 + d))
