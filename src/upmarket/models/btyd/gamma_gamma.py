"""Gamma-Gamma spend model: Colombo & Jiang (1999), "A stochastic RFM model", Journal of Interactive
Marketing 13(3), 2-12, as used in Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves
for customer base analysis", Journal of Marketing Research 42(4), 415-430 (FHL-RFM 2005 below;
the spend sub-model and its likelihood are in its Appendix; Fader & Hardie's 2013 note "The
Gamma-Gamma model of monetary value" (FH 2013) restates them).

A customer's transaction values are Gamma(p, nu) with nu ~ Gamma(q, v) across customers; the
mean m_x of her x repeat transactions is then Gamma(p x, nu x).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from ._base import BTYDModel, InvalidData, TransactionModel, as_array, broadcast, check_integral, \
    check_weights, keeps_index


class GammaGamma(BTYDModel):
    """Gamma-Gamma model of average transaction value with parameters p, q, v.

    Fit on customers with at least one repeat purchase: ``frequency`` x > 0 and
    ``monetary_value`` m_x > 0 the mean value of their repeat transactions.  Hyper-parameters and
    fitted attributes as :class:`~upmarket.models.btyd.BetaGeo`.
    """

    _param_names = ("p", "q", "v")

    def _prepare(self, frequency, monetary_value):
        x = as_array("frequency", frequency)
        mv = as_array("monetary_value", monetary_value, allow_negative=True)
        x, mv = broadcast(("frequency", "monetary_value"), (x, mv), same_length=True)
        check_integral("frequency", x)
        if np.any(x <= 0):
            raise InvalidData(f"{int(np.sum(x <= 0))} row(s) have frequency 0; the Gamma-Gamma model is fitted on "
                              "repeat customers only: keep rows with frequency > 0")
        if np.any(mv <= 0):
            raise InvalidData(f"{int(np.sum(mv <= 0))} row(s) have monetary_value <= 0; spend must be positive "
                              "(drop returns-only customers or use net positive values)")
        return x, mv

    def fit(self, frequency, monetary_value, weights=None) -> "GammaGamma":
        """Maximum likelihood of the FHL-RFM 2005 Appendix likelihood (restated in FH 2013) with
        the analytic gradient; identical rows are collapsed with their counts."""
        x, mv = self._prepare(frequency, monetary_value)
        w = check_weights(weights, x.shape[0])
        mean = np.average(mv, weights=w)
        self._fit((x, mv), w, x0=(2.0, 3.0, 2.0 * mean))
        return self

    def _augment(self, data):
        # Every special function below depends on the row only through x, which takes few
        # distinct values: evaluate them once per distinct x and index back. The logs of the
        # data never change during the fit, so they are taken once here.
        x, mx = data
        ux, ix = np.unique(x, return_inverse=True)
        return [x, mx, np.log(mx), np.log(x), ux, ix.ravel()]

    @classmethod
    def _loglik(cls, params, x, mx, log_mx=None, log_x=None, ux=None, ix=None):
        """ln f(m_x | p, q, v, x) = ln Gamma(px+q) - ln Gamma(px) - ln Gamma(q) + q ln v
        + (px-1) ln m_x + px ln x - (px+q) ln(v + x m_x)   (FHL-RFM 2005 Appendix; FH 2013)."""
        p, q, v = params
        if log_mx is None:
            log_mx, log_x = np.log(mx), np.log(x)
        if ux is None:
            ux, ix = np.unique(x, return_inverse=True)
            ix = ix.ravel()
        pu = p * ux
        lg = (gammaln(pu + q) - gammaln(pu))[ix]
        dpq_u = digamma(pu + q)
        dpq = dpq_u[ix]
        dd = (dpq_u - digamma(pu))[ix]
        px = p * x
        vx = v + x * mx
        lvx = np.log(vx)
        ll = lg - gammaln(q) + q * np.log(v) + (px - 1) * log_mx + px * log_x - (px + q) * lvx
        g = np.empty((3, x.size))  # (k, n): see _base.weighted_sum
        g[0] = x * (dd + log_mx + log_x - lvx)
        g[1] = dpq - digamma(q) + np.log(v) - lvx
        g[2] = q / v - (px + q) / vx
        return ll, g.T

    # ------------------------------------------------------------------ predictions

    def expected_average_value(self):
        """Population mean transaction value E[M] = p v / (q - 1) (needs q > 1)."""
        p, q, v = self._p()
        if q <= 1:
            raise InvalidData(f"q = {q:.3g} <= 1: the population mean spend is infinite under this fit")
        return p * v / (q - 1)

    @keeps_index
    def conditional_expected_average_profit(self, frequency, monetary_value):
        """E[M | p, q, v, m_x, x] = p (v + x m_x) / (p x + q - 1)
        = (q-1)/(px+q-1) * p v/(q-1) + px/(px+q-1) * m_x  (FHL-RFM 2005 Appendix, the conditional expectation of spend; FH 2013):
        a weighted mean of the population mean and the customer's own average.  Customers with
        x = 0 (monetary_value ignored) get the population mean p v / (q - 1)."""
        p, q, v = self._p()
        if q <= 1:
            raise InvalidData(f"q = {q:.3g} <= 1: the expected spend is infinite under this fit")
        x = as_array("frequency", frequency)
        mv = as_array("monetary_value", monetary_value, allow_negative=True)
        x, mv = broadcast(("frequency", "monetary_value"), (x, mv), same_length=False)
        check_integral("frequency", x)
        mv = np.where(x > 0, mv, 0.0)
        if np.any((x > 0) & (mv <= 0)):
            raise InvalidData("monetary_value must be > 0 where frequency > 0")
        return p * (v + x * mv) / (p * x + q - 1)

    @keeps_index
    def customer_lifetime_value(self, transaction_model: TransactionModel, frequency, recency, T, monetary_value,
                                time: int = 12, discount_rate: float = 0.01, freq="W", margin: float = 1.0):
        """Discounted CLV over the next ``time`` months:

            sum_{i=1}^{time} margin * E[M | x, m_x] * (E[Y(i f)] - E[Y((i-1) f)]) / (1 + d)^i,

        with E[Y(t)] the transaction model's conditional expected purchases over t time units,
        f = time units per month (``freq``: 'W' = 4.345, 'D' = 30, 'M' = 1, or a number) and d the
        monthly ``discount_rate`` (FHL-RFM 2005 §4 discounts continuously; the monthly sum here is
        the usual discrete approximation, as in the ``lifetimes`` package)."""
        if not isinstance(transaction_model, TransactionModel):
            raise InvalidData("transaction_model must be a fitted BetaGeo, ParetoNBD or BetaGeoBetaBinom")
        value = self.conditional_expected_average_profit(frequency, monetary_value)
        return transaction_model.customer_lifetime_value(frequency, recency, T, value, time=time,
                                                         discount_rate=discount_rate, freq=freq, margin=margin)
