"""Special functions the BTYD models need, written for numerical stability.

The one hypergeometric function every model here reduces to is

    2F1(1, b; c; w) = sum_{n>=0} (b)_n / (c)_n * w**n,      0 < b < c,  0 <= w < 1,

(the Pareto/NBD likelihood and P(alive) after a Pfaff transformation, and the sBG discounted
expected residual lifetime, Fader & Hardie 2010 eq. 6).  Its terms are positive and each is at
most ``w`` times the previous one, so the series converges geometrically, cannot cancel, is
bounded by ``1 / (1 - w)`` and never overflows; its derivatives in ``b``, ``c`` and ``w`` are
series of the same kind and are summed alongside (they give the analytic gradient of the
Pareto/NBD likelihood).  Near w = 1, where the series would need ~1/(1-w) terms, the Euler
integral is used instead (see ``_euler_integral``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma

_W_SERIES = 0.9


def hyp2f1_1bc(b, c, w, *, grad: bool = False, one_minus_w=None):
    """2F1(1, b; c; w) for 0 < b < c and 0 <= w < 1, optionally with d/db, d/dc, d/dw.

    Power series (``_series``) for w <= 0.9, where it needs at most a few hundred terms; the
    Euler integral by the trapezoidal rule (``_euler_integral``) closer to 1, where the series
    would need ~1/(1-w) terms.  ``one_minus_w``, if given, is 1 - w computed without rounding
    (w itself may round to 1.0 when 1 - w < 1e-16).
    """
    b, c, w, omw = np.broadcast_arrays(
        np.asarray(b, dtype=float), np.asarray(c, dtype=float), np.asarray(w, dtype=float),
        np.asarray(1.0 - np.asarray(w, dtype=float) if one_minus_w is None else one_minus_w, dtype=float),
    )
    shape = b.shape
    b, c, w, omw = b.ravel(), c.ravel(), w.ravel(), omw.ravel()
    if np.any(~(b > 0)) or np.any(~(c > b)) or np.any(~((w >= 0) & (omw > 0))):
        raise ValueError("hyp2f1_1bc needs 0 < b < c and 0 <= w < 1")
    out = [np.empty(b.size) for _ in range(4)]
    near = w > _W_SERIES
    if np.any(~near):
        res = _series(b[~near], c[~near], w[~near])
        for o, r in zip(out, res):
            o[~near] = r
    if np.any(near):
        res = _euler_integral(b[near], c[near], np.minimum(w[near], 1.0), omw[near])
        for o, r in zip(out, res):
            o[near] = r
    out = [o.reshape(shape) for o in out]
    return tuple(out) if grad else out[0]


def _euler_integral(b, c, w, omw, max_points: int = 20_000):
    """2F1(1, b; c; w) and its derivatives from the Euler integral, for w close to 1.

    2F1(1, b; c; w) = 1 + w (b/c) J with J = E[1 / (1 - w U)], U ~ Beta(b+1, c-b) (Euler's
    integral after one contiguous step, which gives the integrand a fast-decaying lower tail).
    With U = 1/(1+exp(-y)) the Beta law is a smooth density on the real line and
    1 - w U = sigma(-y) + (1-w) sigma(y) has no cancellation; the integrand is analytic in the
    strip |Im y| < pi, so the trapezoidal rule with step <= 0.5 is accurate to ~1e-13.  The
    parameter derivatives are integrals of the score of the Beta density (digamma terms).
    """
    b1 = b + 1.0  # Beta(b1, c1 - b1) with c1 = c + 1
    c1 = c + 1.0
    d1 = c1 - b1
    mode = np.log(b1 / d1)
    sd = np.sqrt(1.0 / b1 + 1.0 / d1)
    eps_log = -np.log(omw)  # log(1/(1-w))
    lo = mode - 10.0 * sd - 45.0 / b1
    up_tail = np.minimum(45.0 / np.maximum(d1 - 1.0, 1e-300), np.maximum(eps_log - mode, 0.0) + 45.0 / d1)
    hi = mode + 10.0 * sd + up_tail
    h = np.minimum(0.5, sd / 8.0)
    npts = int(min(max_points, np.max(np.ceil((hi - lo) / h)) + 1))
    val = np.empty(b.size)
    db = np.empty(b.size)
    dc = np.empty(b.size)
    dw = np.empty(b.size)
    chunk = max(1, 4_000_000 // npts)
    for s0 in range(0, b.size, chunk):
        sl = slice(s0, s0 + chunk)
        hh = ((hi[sl] - lo[sl]) / (npts - 1))[:, None]
        y = lo[sl, None] + hh * np.arange(npts)[None, :]
        lu = -np.logaddexp(0.0, -y)
        l1u = -np.logaddexp(0.0, y)
        den = np.exp(l1u) + omw[sl, None] * np.exp(lu)  # 1 - w u
        dens = np.exp(b1[sl, None] * lu + d1[sl, None] * l1u - betaln(b1, d1)[sl, None]) * hh
        f = dens / den
        J = f.sum(axis=1)
        Jb = (f * (lu - l1u)).sum(axis=1) - J * (digamma(b1[sl]) - digamma(d1[sl]))
        Jc = (f * l1u).sum(axis=1) - J * (digamma(d1[sl]) - digamma(c1[sl]))
        Jw = (f * np.exp(lu) / den).sum(axis=1)
        k = b[sl] / c[sl]
        val[sl] = 1.0 + w[sl] * k * J
        db[sl] = w[sl] / c[sl] * J + w[sl] * k * Jb
        dc[sl] = -w[sl] * k / c[sl] * J + w[sl] * k * Jc
        dw[sl] = k * J + w[sl] * k * Jw
    return val, db, dc, dw


def _series(b, c, w, rtol: float = 1e-15, max_terms: int = 100_000):
    """2F1(1, b; c; w) by its power series, with d/db, d/dc, d/dw.

    The series is summed in blocks of terms until the remaining
    tail -- at most ``h_N * (N + 1) * (1 + H_b + H_c) / (1 - w)**2`` where ``h_N`` is the next
    term and ``H_b``, ``H_c`` are harmonic-like partial sums -- is below ``rtol`` relative to
    the sum, so the value and the derivatives are both accurate.

    Returns ``(value, d_db, d_dc, d_dw)`` for 1-D inputs.
    """
    n = b.size
    total = np.ones(n)
    sb = np.zeros(n)
    sc = np.zeros(n)
    sw = np.where(w == 0, b / c, 0.0)  # d/dw at w = 0 is the first coefficient b/c

    act = np.flatnonzero(w > 0)
    if act.size:
        ba, ca, wa = b[act], c[act], w[act]
        m = act.size
        # state at term index n0: h_{n0}, q_{n0} = h_{n0} / w (for d/dw), and the partial sums
        # H_b = sum_{k<n0} 1/(b+k), H_c likewise.  Terms are <= 1 and only underflow, so they
        # are multiplied directly (no logs needed).
        n0 = 0
        h0 = np.ones(m)
        hb = np.zeros(m)
        hc = np.zeros(m)
        acc = np.zeros(m)
        acc_b = np.zeros(m)
        acc_c = np.zeros(m)
        acc_w = np.zeros(m)
        idx = np.arange(m)
        block = 16
        while idx.size:
            k = n0 + np.arange(block, dtype=float)
            bk = ba[idx, None] + k
            ck = ca[idx, None] + k
            coef = bk / ck  # h_{k+1} = h_k * coef_k * w
            ratio = coef * wa[idx, None]
            cp = np.cumprod(ratio, axis=1)
            h = np.empty_like(cp)
            h[:, 0] = h0[idx]
            h[:, 1:] = h0[idx, None] * cp[:, :-1]
            inv_b = 1.0 / bk
            inv_c = 1.0 / ck
            cb = np.cumsum(inv_b, axis=1)
            cc = np.cumsum(inv_c, axis=1)
            hb_k = np.empty_like(cb)
            hc_k = np.empty_like(cc)
            hb_k[:, 0] = hb[idx]
            hc_k[:, 0] = hc[idx]
            hb_k[:, 1:] = hb[idx, None] + cb[:, :-1]
            hc_k[:, 1:] = hc[idx, None] + cc[:, :-1]
            # d h_{k+1} / dw = (k+1) h_{k+1} / w = (k+1) h_k coef_k
            dw = (k + 1.0) * h * coef
            if n0 == 0:
                h[:, 0] = 0.0  # the n = 0 term (= 1) is already in `total`
            acc[idx] += h.sum(axis=1)
            acc_b[idx] += np.einsum("ij,ij->i", h, hb_k)
            acc_c[idx] += np.einsum("ij,ij->i", h, hc_k)
            acc_w[idx] += dw.sum(axis=1)
            h0[idx] = h0[idx] * cp[:, -1]
            hb[idx] = hb_k[:, -1] + inv_b[:, -1]
            hc[idx] = hc_k[:, -1] + inv_c[:, -1]
            n0 += block
            one_m_w = 1.0 - wa[idx]
            # the tail of every series is below next-term * (n0+1) (1 + H_b + H_c) / (1-w)^2
            bound = h0[idx] * (n0 + 1.0) * (1.0 + hb[idx] + hc[idx]) / (one_m_w * one_m_w)
            done = bound <= rtol * (1.0 + acc[idx])
            if n0 >= max_terms:
                done[:] = True
            idx = idx[~done]
            block = min(2 * block, 256)
        total[act] += acc
        sb[act] = acc_b
        sc[act] = -acc_c
        sw[act] = acc_w
    return total, sb, sc, sw


def one_minus_pow_over_k(k, y):
    """(1 - exp(-k*y)) / k, continuous at k = 0 where it equals y."""
    k = np.asarray(k, dtype=float)
    y = np.asarray(y, dtype=float)
    small = np.abs(k * y) < 1e-8
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -np.expm1(-k * y) / k
    return np.where(small, y * (1.0 - 0.5 * k * y), out)
