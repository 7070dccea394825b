"""Empirical fallbacks for when the BTYD fits fail their diagnostics: a per-customer purchase
rate and a per-customer order value, each shrunk towards the population's by credibility
weights estimated from the data's own moments. No optimiser, so they cannot fail to fit, and
no dropout process, so they say nothing about P(alive).

Credibility (Bühlmann 1967, "Experience rating and credibility", ASTIN Bulletin 4(3),
199-207; with exposures, Bühlmann & Straub 1970, "Glaubwürdigkeit für Schadensätze",
Mitt. Verein. Schweiz. Versicherungsmath. 70, 111-133): the best linear estimate of a
customer's own mean is Z·(own average) + (1 − Z)·(population mean) with Z = n / (n + k) and
k = (expected within-customer variance) / (variance of customer means) — n being the number
of observations (purchases) or the exposure (time observed). For Poisson counts with gamma
distributed rates the credibility estimate is also the exact posterior mean (Jewell 1974,
"Credible means are exact Bayesian for exponential families", ASTIN Bulletin 8(1), 77-90).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from ._base import InvalidData, TransactionModel, as_array, broadcast, check_continuous_rft, \
    check_integral, check_weights

#: Credibility constant (in units of T) standing for "no heterogeneity detected": every
#: customer gets the pooled rate, to within one part in a million.
_POOLED = 1e6


class EmpiricalRate(TransactionModel):
    """Shrunk purchase rates, no dropout: E[λ_i | x_i, T_i] = (r + x_i) / (α + T_i).

    This is the NBD (Poisson purchases, λ ~ Gamma(r, α); Ehrenberg 1959, "The pattern of
    consumer purchases", Applied Statistics 8(1), 26-41) read as credibility: the weight on the
    customer's own rate x/T is Z = T / (T + α). The structural parameters come from moments
    rather than maximum likelihood: with m the pooled rate Σx/ΣT, E[T (x/T − m)²] = V·T + m
    for λ of variance V, so V̂ = (Σ T_i (x_i/T_i − m)² − n m) / Σ T_i, and a gamma prior of
    mean m and variance V has α = m / V, r = m·α. V̂ ≤ 0 (no spread beyond Poisson noise)
    gives everyone the pooled rate.

    Fitted attributes as the other transaction models (``params_`` r, alpha; ``n_obs_``;
    ``log_likelihood_`` the NBD log-likelihood at the estimates); P(alive) is not defined.
    """

    _param_names = ("r", "alpha")

    def _prepare(self, frequency, recency, T):
        return check_continuous_rft(frequency, recency, T, same_length=True)

    def fit(self, frequency, recency, T, weights=None) -> EmpiricalRate:
        x, tx, T = self._prepare(frequency, recency, T)
        w = check_weights(weights, x.shape[0])
        exposure = float(np.dot(w, T))
        m = float(np.dot(w, x)) / exposure
        spread = (float(np.dot(w, T * (x / T - m) ** 2)) - m * float(w.sum())) / exposure
        if m <= 0:
            # nobody bought again: the rate is zero, α only sets how fast a first repeat would
            # move a customer's estimate
            alpha, r = float(np.average(T, weights=w)), 0.0
        elif spread > 0:
            alpha = min(m / spread, _POOLED * float(np.average(T, weights=w)))
            r = m * alpha
        else:
            alpha = _POOLED * float(np.average(T, weights=w))
            r = m * alpha
        self.params_ = {"r": r, "alpha": alpha}
        self.n_obs_ = float(w.sum())
        self.n_unique_rows_ = int(x.size)
        self.n_iter_ = 0
        self.converged_ = True
        self.max_gradient_ = 0.0
        if r > 0:
            ll, _ = self._loglik(np.array([r, alpha]), x, tx, T)
            self.log_likelihood_ = float(np.dot(w, ll))
        else:
            self.log_likelihood_ = 0.0  # every x is 0, which a zero rate predicts with certainty
        return self

    @classmethod
    def _loglik(cls, params, x, tx, T):
        """NBD log-likelihood of x repeat purchases in (0, T] (Ehrenberg 1959):
        ln Γ(r+x) − ln Γ(r) − ln x! + r ln α − (r+x) ln(α+T) + x ln T, and its gradient."""
        r, alpha = params
        with np.errstate(divide="ignore"):
            ll = (gammaln(r + x) - gammaln(r) - gammaln(x + 1) + r * np.log(alpha)
                  - (r + x) * np.log(alpha + T) + np.where(x > 0, x * np.log(T), 0.0))
        g = np.empty((2, x.size))
        g[0] = digamma(r + x) - digamma(r) + np.log(alpha) - np.log(alpha + T)
        g[1] = r / alpha - (r + x) / (alpha + T)
        return ll, g.T

    @property
    def standard_errors_(self) -> dict[str, float]:
        """Moment estimates have no observed information to invert: not available."""
        self._check_fitted()
        return {k: float("nan") for k in self._param_names}

    def purchase_rate(self, frequency, recency, T):
        """E[λ | x, T] = (r + x) / (α + T), purchases per time unit."""
        r, alpha = self._p()
        x, tx, T = check_continuous_rft(frequency, recency, T)
        return (r + x) / (alpha + T)

    def probability_alive(self, frequency, recency, T):
        """Not defined: the model has no dropout. NaN for every customer."""
        self._check_fitted()
        x, _, _ = check_continuous_rft(frequency, recency, T)
        return np.full(x.shape, np.nan)

    def expected_purchases(self, t):
        """E[X(t)] = t·r/α for a new customer."""
        r, alpha = self._p()
        return as_array("t", t) * r / alpha

    def conditional_expected_purchases(self, t, frequency, recency, T):
        """E[Y(t) | x, T] = t (r + x) / (α + T): the shrunk rate over the next t time units."""
        t = as_array("t", t)
        rate = self.purchase_rate(frequency, recency, T)
        return t * rate


class EmpiricalSpend:
    """Shrunk mean order value: E[M_i | x_i, m_i] = Z m_i + (1 − Z) M, Z = x / (x + k).

    M is the population mean value per repeat purchase (Σ x m / Σ x). k = σ² / τ² comes from
    E[(m_i − M)²] = τ² + σ²/x_i (τ² the variance of customers' true means, σ² the variance of
    one purchase around its customer's mean — Bühlmann 1967), fitted by least squares of
    (m_i − M)² on 1/x_i. τ² ≤ 0 pools everyone at M; σ² ≤ 0 keeps each customer's own mean;
    fewer than three repeat buyers or one distinct x leave k = 1 (one purchase's worth of
    the population mean). Without repeat buyers M is `fallback_mean`.
    """

    def fit(self, frequency, monetary_value, *, fallback_mean: float | None = None) -> EmpiricalSpend:
        x = as_array("frequency", frequency)
        m = as_array("monetary_value", monetary_value, allow_negative=True)
        x, m = broadcast(("frequency", "monetary_value"), (np.atleast_1d(x), np.atleast_1d(m)),
                         same_length=False)
        check_integral("frequency", x)
        keep = (x > 0) & (m > 0)
        x, m = x[keep], m[keep]
        if x.size == 0:
            if fallback_mean is None or not np.isfinite(fallback_mean):
                raise InvalidData("no repeat purchases with a positive value and no fallback mean")
            mean, k = float(fallback_mean), np.inf
        else:
            mean = float(np.dot(x, m) / x.sum())
            k = 1.0
            if x.size >= 3 and np.unique(x).size >= 2:
                design = np.column_stack([np.ones(x.size), 1.0 / x])
                (tau2, sigma2), *_ = np.linalg.lstsq(design, (m - mean) ** 2, rcond=None)
                k = np.inf if tau2 <= 0 else (0.0 if sigma2 <= 0 else float(sigma2 / tau2))
        self.params_ = {"mean": mean, "k": float(k)}
        self.n_obs_ = float(x.size)
        return self

    def expected_average_value(self) -> float:
        return self.params_["mean"]

    def conditional_expected_average_profit(self, frequency, monetary_value):
        """Z m + (1 − Z) M per customer; customers without repeat purchases get M."""
        if not hasattr(self, "params_"):
            from upmarket.errors import NotFitted

            raise NotFitted("EmpiricalSpend is not fitted yet; call .fit(...) first")
        x = np.asarray(frequency, float)
        m = np.asarray(monetary_value, float)
        x, m = np.broadcast_arrays(x, m)
        k, mean = self.params_["k"], self.params_["mean"]
        ok = (x > 0) & (m > 0)
        with np.errstate(invalid="ignore"):  # k = 0 with x = 0 is masked by `ok`
            z = np.zeros(x.shape) if np.isinf(k) else np.where(ok, x / (x + k), 0.0)
        return np.where(ok, z * m + (1 - z) * mean, mean)
