"""BTYD models: published fits on CDNOW / donations / sBG cohorts, analytic gradients, properties."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.optimize import approx_fprime
from scipy.special import hyp2f1

from upmarket.errors import UpmarketError
from upmarket.models.btyd import (
    BetaGeo,
    BetaGeoBetaBinom,
    ConvergenceWarning,
    GammaGamma,
    NotFitted,
    ParetoNBD,
    ShiftedBetaGeo,
    holdout_comparison,
)
from upmarket.models.btyd import beta_geo as bg_mod
from upmarket.models.btyd._special import hyp2f1_1bc

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cdnow"
CDNOW = DATA / "CDNOW_sample.txt"
DONATIONS = DATA / "donations.csv"


# ----------------------------------------------------------------------------- data


def cdnow_summary(path: Path = CDNOW, cal_end: str = "1997-09-30", holdout_end: str = "1998-06-30") -> pd.DataFrame:
    """The standard CDNOW calibration summary (FHL 2005): weekly units, purchases on the same
    day collapsed into one transaction, calibration 1997-01-01..1997-09-30 (inclusive),
    holdout the next 39 weeks.  frequency = repeat purchase days in calibration; recency =
    last minus first purchase (weeks); T = calibration end minus first purchase (weeks);
    monetary = mean value of the repeat (non-first) purchase days in calibration (0 if none);
    frequency_holdout = purchase days in the holdout."""
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["id", "id_master", "date", "cds", "value"],
                     dtype={"date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    end, hend = pd.Timestamp(cal_end), pd.Timestamp(holdout_end)
    daily = df.groupby(["id", "date"], as_index=False)["value"].sum()
    first = daily.groupby("id")["date"].min().rename("first")
    daily = daily.join(first, on="id")
    cal = daily[daily["date"] <= end]
    g = cal.groupby("id")
    out = pd.DataFrame({"frequency": g.size() - 1, "last": g["date"].max()}).join(first)
    out["recency"] = (out["last"] - out["first"]).dt.days / 7.0
    out["T"] = (end - out["first"]).dt.days / 7.0
    repeat = cal[cal["date"] > cal["first"]]
    out["monetary"] = repeat.groupby("id")["value"].mean()
    hold = daily[(daily["date"] > end) & (daily["date"] <= hend)]
    out["frequency_holdout"] = hold.groupby("id").size()
    return out.fillna({"monetary": 0.0, "frequency_holdout": 0}).astype({"frequency_holdout": int})


@pytest.fixture(scope="module")
def cdnow():
    if not CDNOW.exists():
        pytest.skip(f"{CDNOW} not present")
    return cdnow_summary()


@pytest.fixture(scope="module")
def donations():
    if not DONATIONS.exists():
        pytest.skip(f"{DONATIONS} not present")
    return pd.read_csv(DONATIONS)


@pytest.fixture(scope="module")
def bgnbd(cdnow):
    return BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def pnbd(cdnow):
    return ParetoNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


@pytest.fixture(scope="module")
def ggamma(cdnow):
    rep = cdnow[cdnow["frequency"] > 0]
    return GammaGamma().fit(rep["frequency"], rep["monetary"])


@pytest.fixture(scope="module")
def bgbb(donations):
    d = donations
    return BetaGeoBetaBinom().fit(d["frequency"], d["recency"], d["periods"], weights=d["weights"])


def close2(value, published):
    """Equal to the published figure at 2 decimals (|difference| < 0.005)."""
    return abs(value - published) < 0.005


# ----------------------------------------------------------------------------- published fits


def test_cdnow_summary_shape(cdnow):
    assert len(cdnow) == 2357
    assert (cdnow["frequency"] > 0).sum() == 946
    assert cdnow["T"].max() == pytest.approx(38.857, abs=1e-3)


def test_bgnbd_cdnow_published(bgnbd):
    # Fader, Hardie & Lee (2005), CDNOW: r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4
    p = bgnbd.params_
    for k, pub in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert close2(p[k], pub), (k, p[k])
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert bgnbd.n_obs_ == 2357
    assert bgnbd.converged_
    assert all(np.isfinite(v) and v > 0 for v in bgnbd.standard_errors_.values())


def test_bgnbd_known_conditional_expectation(bgnbd):
    # FHL 2005 §5: x=2, t_x=30.43, T=38.86 -> 1.226 expected purchases in the next 39 weeks
    assert bgnbd.conditional_expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)


def test_pareto_nbd_cdnow_published(pnbd):
    # Fader & Hardie's Pareto/NBD on CDNOW: r=0.553, alpha=10.578, s=0.606, beta=11.669, LL=-9594.98
    p = pnbd.params_
    for k, pub in {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}.items():
        assert close2(p[k], pub), (k, p[k])
    assert pnbd.log_likelihood_ == pytest.approx(-9594.98, abs=0.005)
    assert pnbd.converged_


def test_gamma_gamma_cdnow_published(ggamma):
    # Fader, Hardie & Lee (2005) "RFM and CLV": p=6.25, q=3.74, v=15.44 on the 946 repeat
    # customers, monetary value = mean of the repeat purchase days in calibration
    p = ggamma.params_
    for k, pub in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert close2(p[k], pub), (k, p[k])
    assert ggamma.n_obs_ == 946


def test_bgbb_donations_published(bgbb):
    # Fader, Hardie & Shang (2010): alpha=1.204, beta=0.750, gamma=0.657, delta=2.783, LL=-33225.6
    p = bgbb.params_
    for k, pub in {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}.items():
        assert close2(p[k], pub), (k, p[k])
    assert bgbb.log_likelihood_ == pytest.approx(-33225.6, abs=0.05)
    assert bgbb.n_obs_ == 11104


REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


def test_sbg_published_segments():
    # Fader & Hardie (2007), fit on 7 years of renewals: the *regular* segment (631 of 1000 left
    # after year 1) gives alpha=0.704, beta=1.182; the *high end* segment (869 left) gives
    # alpha=0.668, beta=3.806 (mean churn 0.668/4.474 = 0.15 matches 1 - 0.869).
    reg = ShiftedBetaGeo().fit(REGULAR[:8])
    high = ShiftedBetaGeo().fit(HIGH_END)
    assert close2(reg.params_["alpha"], 0.704) and close2(reg.params_["beta"], 1.182)
    assert close2(high.params_["alpha"], 0.668) and close2(high.params_["beta"], 3.806)
    assert reg.log_likelihood_ == pytest.approx(-1680.3, abs=0.05)
    assert high.log_likelihood_ == pytest.approx(-1611.2, abs=0.05)
    # projection of years 8..12 from 7 years of data stays within 3% of the actual survivors
    proj = reg.expected_survivors(1000, 12)
    assert np.all(np.abs(proj[8:] / np.array(REGULAR[8:]) - 1) < 0.03)


def test_sbg_durations_equal_survivor_fit():
    s = np.array(REGULAR[:8])
    d = np.concatenate([np.repeat(np.arange(1, 8), s[:-1] - s[1:]), np.full(s[-1], 7)])
    c = np.concatenate([np.zeros(s[0] - s[-1], bool), np.ones(s[-1], bool)])
    a = ShiftedBetaGeo().fit(REGULAR[:8])
    b = ShiftedBetaGeo().fit(durations=d, censored=c)
    for k in a.params_:
        assert a.params_[k] == pytest.approx(b.params_[k], rel=1e-6)
    assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-9)


def test_sbg_predictions():
    m = ShiftedBetaGeo().fit(REGULAR[:8])
    al, be = m.params_["alpha"], m.params_["beta"]
    t = np.arange(1, 200)
    S = m.survival(np.arange(0, 200))
    assert S[0] == 1.0 and np.all(np.diff(S) < 0)
    assert np.allclose(m.retention_rate(t), S[1:] / S[:-1])
    assert np.allclose(m.churn_probability(t), S[:-1] - S[1:])
    assert m.retention_rate(1) == pytest.approx(be / (al + be))
    # DEL / DERL (Fader & Hardie 2010) against brute-force discounted sums
    S = m.survival(np.arange(0, 4000))
    disc = 1.1 ** -np.arange(4000)
    assert m.discounted_expected_lifetime(0.1) == pytest.approx(np.sum(S * disc), rel=1e-10)
    for renewals in (0, 4):
        n = renewals + 1
        brute = np.sum(S[n:] / S[n - 1] * disc[: 4000 - n])
        assert m.discounted_expected_residual_lifetime(0.1, renewals) == pytest.approx(brute, rel=1e-10)


# ----------------------------------------------------------------------------- holdout, CLV


def test_holdout_comparison_cdnow(cdnow, bgnbd):
    tab = holdout_comparison(bgnbd, cdnow["frequency"], cdnow["recency"], cdnow["T"],
                             cdnow["frequency_holdout"], 39)
    assert list(tab.index) == ["0", "1", "2", "3", "4", "5", "6", "7+", "all"]
    assert tab.loc["all", "n_customers"] == 2357
    assert tab.drop(index="all")["n_customers"].sum() == 2357
    assert tab.loc["0", "n_customers"] == 1411
    assert tab.loc["all", "actual"] == pytest.approx(cdnow["frequency_holdout"].mean())
    # FHL 2005 Figure 4: the BG/NBD tracks the holdout means closely
    assert tab.loc["0", "expected"] == pytest.approx(0.225, abs=0.005)
    assert abs(tab.loc["all", "difference"]) < 0.15
    assert np.all(np.diff(tab.drop(index="all")["expected"].to_numpy()) > 0)


def test_clv(cdnow, bgnbd, pnbd, ggamma):
    x, tx, T, m = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T", "monetary"))
    clv = ggamma.customer_lifetime_value(bgnbd, x, tx, T, m, time=12, discount_rate=0.01)
    assert clv.shape == x.shape and np.all(np.isfinite(clv)) and np.all(clv >= 0)
    # by hand for one customer: monthly increments of E[Y(t)] discounted
    i = int(np.argmax(x))
    v = ggamma.conditional_expected_average_profit(x[i], m[i])
    cum = [bgnbd.conditional_expected_purchases(k * 4.345, x[i], tx[i], T[i]) for k in range(13)]
    hand = sum(v * (cum[k] - cum[k - 1]) / 1.01**k for k in range(1, 13))
    assert clv[i] == pytest.approx(hand, rel=1e-10)
    # longer horizon -> more value; no discount and margin 0.3 scale as expected
    assert np.all(ggamma.customer_lifetime_value(bgnbd, x, tx, T, m, time=24) >= clv)
    flat = ggamma.customer_lifetime_value(bgnbd, x[:5], tx[:5], T[:5], m[:5], time=6, discount_rate=0.0,
                                          margin=0.3)
    exp6 = bgnbd.conditional_expected_purchases(6 * 4.345, x[:5], tx[:5], T[:5])
    assert np.allclose(flat, 0.3 * ggamma.conditional_expected_average_profit(x[:5], m[:5]) * exp6)
    # freq as a number of time units per month, and other transaction models
    assert np.allclose(ggamma.customer_lifetime_value(bgnbd, x, tx, T, m, freq=4.345), clv)
    assert np.all(np.isfinite(ggamma.customer_lifetime_value(pnbd, x, tx, T, m)))
    # shrinkage: conditional spend lies between the population mean and the customer's own mean
    pop = ggamma.expected_average_value()
    e = ggamma.conditional_expected_average_profit(x[x > 0], m[x > 0])
    lo, hi = np.minimum(pop, m[x > 0]), np.maximum(pop, m[x > 0])
    assert np.all((e >= lo - 1e-9) & (e <= hi + 1e-9))
    assert ggamma.conditional_expected_average_profit(0, 0) == pytest.approx(pop)


def test_bgbb_predictions(bgbb):
    n = 6
    pmf = bgbb.probability_of_n_purchases(n, np.arange(n + 1))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.dot(pmf, np.arange(n + 1)) == pytest.approx(bgbb.expected_purchases(n), rel=1e-10)
    # conditional expectation: the closed form equals the sum over future opportunities of
    # P(alive at n+i) * E[p | data, alive] (FHS 2010 eq. 13), checked via t and t-1
    x, tx = np.array([0, 1, 3, 6]), np.array([0, 6, 4, 6])
    e = bgbb.conditional_expected_purchases(np.arange(0, 6)[:, None], x, tx, n)
    assert np.all(np.diff(e, axis=0) > 0) and np.all(e[0] == 0)
    pa = bgbb.probability_alive(x, tx, n)
    assert np.all((pa >= 0) & (pa <= 1))
    assert bgbb.probability_alive(6, 6, 6) < 1.0  # alive at the *next* opportunity (eq. 11)
    # gamma == 1 is a removable singularity
    m = BetaGeoBetaBinom()
    m.params_ = {**bgbb.params_, "gamma": 1.0}
    m2 = BetaGeoBetaBinom()
    m2.params_ = {**bgbb.params_, "gamma": 1.0 + 1e-5}
    assert m.expected_purchases(10) == pytest.approx(m2.expected_purchases(10), rel=1e-4)
    assert np.isfinite(bgbb.conditional_expected_purchases(10, 5000, 5000, 5000))
    assert bgbb.probability_of_n_purchases(300, np.arange(301)).sum() == pytest.approx(1.0, abs=1e-10)


# ----------------------------------------------------------------------------- gradients


def _check_gradient(loglik, params, data, rel=1e-5):
    def f(p):
        return float(np.sum(loglik(p, *data)[0]))

    analytic = np.sum(loglik(params, *data)[1], axis=0)
    numeric = approx_fprime(params, f, 1e-7 * np.maximum(np.abs(params), 1e-3))
    scale = np.maximum(np.abs(analytic), 1.0)
    assert np.all(np.abs(analytic - numeric) / scale < rel), (params, analytic, numeric)


def _rfm_sample(rng, n=300):
    x = rng.integers(0, 40, n).astype(float)
    T = rng.uniform(0.5, 80, n)
    tx = np.where(x > 0, rng.uniform(0.01, 1, n) * T, 0.0)
    return x, tx, T


def test_gradients_bgnbd_pareto():
    rng = np.random.default_rng(1)
    x, tx, T = _rfm_sample(rng)
    for _ in range(6):
        p = np.exp(rng.uniform(-1.5, 2.0, 4))
        _check_gradient(BetaGeo._loglik, p, (x, tx, T))
        _check_gradient(ParetoNBD._loglik, p, (x, tx, T))
    # both hypergeometric branches of the Pareto/NBD and the alpha == beta boundary
    for p in ([0.5, 10.0, 0.6, 11.0], [0.5, 11.0, 0.6, 10.0], [0.5, 10.0, 0.6, 10.0], [3.0, 0.05, 5.0, 40.0]):
        _check_gradient(ParetoNBD._loglik, np.array(p), (x, tx, T))


def test_gradients_bgbb_gg_sbg():
    rng = np.random.default_rng(2)
    n = rng.integers(1, 15, 200).astype(float)
    tx = np.floor(rng.uniform(0, 1, 200) * (n + 1))
    x = np.where(tx > 0, np.floor(rng.uniform(0, 1, 200) * tx) + 1, 0.0)
    mx = rng.gamma(2.0, 20.0, 200)
    xg = rng.integers(1, 30, 200).astype(float)
    d = rng.integers(1, 20, 200).astype(float)
    c = (rng.random(200) < 0.3).astype(float)
    for _ in range(5):
        p = np.exp(rng.uniform(-1.5, 1.5, 4))
        _check_gradient(BetaGeoBetaBinom._loglik, p, (x, tx, n))
        _check_gradient(GammaGamma._loglik, np.exp(rng.uniform(-0.5, 2.5, 3)), (xg, mx))
        _check_gradient(ShiftedBetaGeo._loglik, p[:2], (d, c))


# ----------------------------------------------------------------------------- numerics


def test_hyp2f1_series_matches_scipy():
    rng = np.random.default_rng(3)
    b = rng.uniform(0.05, 50, 500)
    c = b + rng.uniform(0.05, 50, 500)
    w = rng.uniform(0, 0.995, 500)
    assert np.allclose(hyp2f1_1bc(b, c, w), hyp2f1(1.0, b, c, w), rtol=1e-11)
    assert hyp2f1_1bc(2.0, 3.0, 0.0) == 1.0


def test_pareto_likelihood_against_quadrature():
    # L = Gamma(r+x) alpha^r beta^s / Gamma(r) [(alpha+T)^-(r+x) (beta+T)^-s
    #     + s int_{t_x}^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du]  (FH 2005 note §3)
    from scipy.special import gammaln

    for r, al, s, be in ([0.55, 10.6, 0.61, 11.7], [0.55, 2.0, 0.61, 30.0], [2.0, 30.0, 1.5, 0.5]):
        for x, tx, T in ((0, 0.0, 38.0), (3, 20.0, 38.0), (25, 37.0, 38.0), (1, 5.0, 300.0)):
            integral, _ = integrate.quad(lambda u: (al + u) ** -(r + x) * (be + u) ** -(s + 1), tx, T,
                                         epsabs=0, epsrel=1e-12)
            lik = np.exp(gammaln(r + x) - gammaln(r) + r * np.log(al) + s * np.log(be)) * (
                (al + T) ** -(r + x) * (be + T) ** -s + s * integral)
            ll, _ = ParetoNBD._loglik(np.array([r, al, s, be]), np.array([x], float), np.array([tx]),
                                      np.array([T]))
            assert ll[0] == pytest.approx(np.log(lik), rel=1e-10)


def test_pareto_pmf_against_quadrature(pnbd):
    from scipy.stats import nbinom

    r, al, s, be = (pnbd.params_[k] for k in ("r", "alpha", "s", "beta"))
    for t in (1.0, 39.0, 78.0):
        for n in (0, 1, 4):
            dead, _ = integrate.quad(lambda u: s * be**s * (be + u) ** -(s + 1) * nbinom.pmf(n, r, al / (al + u)),
                                     0, t, epsabs=0, epsrel=1e-10)
            direct = (be / (be + t)) ** s * nbinom.pmf(n, r, al / (al + t)) + dead
            assert pnbd.probability_of_n_purchases(t, n) == pytest.approx(direct, rel=1e-7)
    pmf = pnbd.probability_of_n_purchases(39, np.arange(200))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.dot(pmf, np.arange(200)) == pytest.approx(pnbd.expected_purchases(39), rel=1e-6)


def test_bgnbd_closed_forms_against_quadrature(bgnbd):
    r, al, a, b = (bgnbd.params_[k] for k in ("r", "alpha", "a", "b"))
    for t, x, T in ((39.0, 0, 38.0), (39.0, 500, 5000.0), (1e5, 2, 38.0), (5.0, 0, 5000.0)):
        closed = BetaGeo._expected_given(np.array([t]), r, al, a, b, np.array([x], float), np.array([T]))[0]
        assert closed == pytest.approx(bg_mod._expected_quad(t, r, al, a, b, x, T), rel=1e-7)
    pmf = bgnbd.probability_of_n_purchases(39, np.arange(300))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.dot(pmf, np.arange(300)) == pytest.approx(bgnbd.expected_purchases(39), rel=1e-6)
    # a == 1 exactly: the closed form's removable singularity is handled by quadrature
    m = BetaGeo()
    m.params_ = {"r": r, "alpha": al, "a": 1.0, "b": b}
    m2 = BetaGeo()
    m2.params_ = {"r": r, "alpha": al, "a": 1.0 + 1e-4, "b": b}
    assert m.expected_purchases(39) == pytest.approx(m2.expected_purchases(39), rel=1e-3)


EXTREMES = dict(frequency=[500, 0, 500, 1, 0], recency=[5000, 0, 1, 0.01, 0], T=[5000, 5000, 5000, 5000, 1e-3])


@pytest.mark.parametrize("model", ["bgnbd", "pnbd"])
def test_extreme_inputs_finite(model, request):
    m = request.getfixturevalue(model)
    for t in (0.0, 0.5, 39.0, 5000.0, 1e6):
        e = m.conditional_expected_purchases(t, **EXTREMES)
        assert np.all(np.isfinite(e)) and np.all(e >= 0)
    pa = m.probability_alive(**EXTREMES)
    assert np.all(np.isfinite(pa)) and np.all((pa >= 0) & (pa <= 1))
    assert np.all(np.isfinite(m.expected_purchases([0, 1e-9, 1e6, 1e9])))
    assert np.all(np.isfinite(m.probability_of_n_purchases(5000, [0, 1, 500, 5000])))
    assert np.isfinite(m.log_likelihood(EXTREMES["frequency"], EXTREMES["recency"], EXTREMES["T"]))


# ----------------------------------------------------------------------------- properties

def _row(v):
    x, frac, T = v
    if x == 0:
        return 0.0, 0.0, T
    return float(x), max(frac * T, 1e-6 * T), T


rfm = st.tuples(st.integers(0, 500), st.floats(0.0, 1.0), st.floats(1e-3, 5000.0)).map(_row)

params4 = st.tuples(*[st.floats(0.05, 20.0)] * 4)
_fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _with(cls, names, values):
    m = cls()
    m.params_ = dict(zip(names, values))
    return m


@_fast
@given(p=params4, row=rfm, t=st.floats(0.0, 1000.0), dt=st.floats(0.01, 100.0))
def test_property_transaction_models(p, row, t, dt):
    x, tx, T = row
    for m in (_with(BetaGeo, ("r", "alpha", "a", "b"), p), _with(ParetoNBD, ("r", "alpha", "s", "beta"), p)):
        pa = m.probability_alive(x, tx, T)
        assert 0.0 <= pa <= 1.0
        e1 = m.conditional_expected_purchases(t, x, tx, T)
        e2 = m.conditional_expected_purchases(t + dt, x, tx, T)
        assert np.isfinite(e1) and e1 >= 0 and e2 >= e1 * (1 - 1e-9)
        u1, u2 = m.expected_purchases(t), m.expected_purchases(t + dt)
        assert np.isfinite(u1) and u1 >= 0 and u2 > u1 * (1 - 1e-9)


@_fast
@given(p=params4, t=st.floats(0.01, 2.0))
def test_property_pmf_sums_to_one(p, t):
    for m in (_with(BetaGeo, ("r", "alpha", "a", "b"), p), _with(ParetoNBD, ("r", "alpha", "s", "beta"), p)):
        pmf = m.probability_of_n_purchases(t, np.arange(2500))
        assert np.all(pmf >= 0)
        assert pmf.sum() == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(150, 600))
def test_property_weighted_fit_equals_expanded_fit(cdnow, seed, n):
    """Rows resampled (with repeats) from CDNOW, fitted raw and as (row, count) pairs."""
    rng = np.random.default_rng(seed)
    base = cdnow.iloc[rng.integers(0, len(cdnow), n)][["frequency", "recency", "T"]]
    counts = base.groupby(["frequency", "recency", "T"]).size().reset_index(name="w")
    assert len(counts) < n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for cls in (BetaGeo, ParetoNBD):
            a = cls().fit(base["frequency"], base["recency"], base["T"])
            b = cls().fit(counts["frequency"], counts["recency"], counts["T"], weights=counts["w"])
            assert a.n_obs_ == b.n_obs_ == n
            assert a.log_likelihood_ == pytest.approx(b.log_likelihood_, rel=1e-9)
            for k in a.params_:
                assert a.params_[k] == pytest.approx(b.params_[k], rel=1e-6)


# ----------------------------------------------------------------------------- errors


def test_not_fitted():
    for m, call in ((BetaGeo(), lambda m: m.probability_alive(1, 1, 2)),
                    (ParetoNBD(), lambda m: m.expected_purchases(1)),
                    (BetaGeoBetaBinom(), lambda m: m.expected_purchases(1)),
                    (ShiftedBetaGeo(), lambda m: m.survival(1)),
                    (GammaGamma(), lambda m: m.conditional_expected_average_profit(1, 1))):
        with pytest.raises(NotFitted, match="not fitted"):
            call(m)
        assert issubclass(NotFitted, UpmarketError)


@pytest.mark.parametrize(
    "args, message",
    [
        (([1, -1], [1, 0], [2, 2]), "negative"),
        (([1, np.nan], [1, 0], [2, 2]), "missing"),
        (([1, 0], [3, 0], [2, 2]), "recency > T"),
        (([1, 0], [1, 0], [2]), "mismatched"),
        (([1, 1], [0, 1], [2, 2]), "frequency > 0 but recency 0"),
        (([0, 1], [1, 1], [2, 2]), "recency must be 0"),
        (([1.5, 1], [1, 1], [2, 2]), "whole numbers"),
    ],
)
def test_bad_input(args, message):
    for cls in (BetaGeo, ParetoNBD):
        with pytest.raises(UpmarketError, match=message):
            cls().fit(*args)
        with pytest.raises(ValueError):
            cls().fit(*args)


def test_bad_input_other_models():
    with pytest.raises(UpmarketError, match="frequency > recency"):
        BetaGeoBetaBinom().fit([3], [2], [6])
    with pytest.raises(UpmarketError, match="recency > n_periods"):
        BetaGeoBetaBinom().fit([3], [7], [6])
    with pytest.raises(UpmarketError, match="repeat customers"):
        GammaGamma().fit([0, 1], [10.0, 10.0])
    with pytest.raises(UpmarketError, match="monetary_value"):
        GammaGamma().fit([2, 1], [-1.0, 10.0])
    with pytest.raises(UpmarketError, match="increase"):
        ShiftedBetaGeo().fit([1000, 900, 950])
    with pytest.raises(UpmarketError, match="either"):
        ShiftedBetaGeo().fit()
    with pytest.raises(UpmarketError, match="weights"):
        BetaGeo().fit([1, 0], [1, 0], [2, 2], weights=[1])


# ----------------------------------------------------------------------------- scale


def test_million_customers_fit_fast(cdnow):
    """1,000,000 customers (CDNOW rows resampled with the first purchase shifted by up to 8 weeks
    at day resolution, so most rows are distinct): BG/NBD + Gamma-Gamma in seconds."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    idx = rng.integers(0, len(cdnow), n)
    shift = rng.integers(0, 57, n) / 7.0
    x = cdnow["frequency"].to_numpy()[idx].astype(float)
    tx = cdnow["recency"].to_numpy()[idx]
    T = cdnow["T"].to_numpy()[idx] + shift
    m = cdnow["monetary"].to_numpy()[idx] * rng.uniform(0.9, 1.1, n)
    t0 = time.perf_counter()
    bg = BetaGeo().fit(x, tx, T)
    gg = GammaGamma().fit(x[x > 0], m[x > 0])
    elapsed = time.perf_counter() - t0
    assert bg.n_obs_ == n and bg.n_unique_rows_ > 30_000
    assert bg.converged_ and gg.converged_
    assert elapsed < 20.0, elapsed
