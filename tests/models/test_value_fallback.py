"""Fit diagnostics of the BTYD models and the value model's fallbacks: simulated customer bases
where the truth is known (with and without dropout, heavy-tailed spend), so each diagnostic is
seen to fire where it should and stay quiet where it should not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from upmarket.models.btyd import BetaGeo, GammaGamma
from upmarket.models.btyd.diagnostics import (CODES, FitWarning, check_fit, check_p_alive,
                                              check_repeat_buyers)
from upmarket.models.btyd.empirical import EmpiricalRate, EmpiricalSpend
from upmarket.models.value import (LifetimeValue, RetentionNotModelled, UnknownValueModel,
                                   ValueSettings)


def simulate(n, *, r=0.5, alpha=5.0, a=0.8, b=2.5, dropout=True, T_max=52.0, p=3.0, q=4.0,
             v=40.0, seed=0) -> pd.DataFrame:
    """A BG/NBD customer base (FHL 2005 §2): λ ~ Gamma(r, α), after each purchase dropout with
    p ~ Beta(a, b) (none when `dropout` is False); spend per purchase Gamma(p, ν), ν ~ Gamma(q, v).
    Returns the columns LifetimeValue reads: frequency, recency, T, monetary, total_spend."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    drop = rng.beta(a, b, n) if dropout else np.zeros(n)
    nu = rng.gamma(q, 1.0 / v, n)
    T = rng.uniform(T_max / 4, T_max, n)
    rows = []
    for i in range(n):
        t, times = 0.0, []
        while True:
            if rng.random() < drop[i]:
                break
            t += rng.exponential(1.0 / lam[i])
            if t > T[i]:
                break
            times.append(t)
        spend = rng.gamma(p, 1.0 / nu[i], len(times) + 1)
        x = len(times)
        rows.append((x, times[-1] if x else 0.0, T[i], spend[1:].mean() if x else 0.0,
                     spend.sum()))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary", "total_spend"])


@pytest.fixture(scope="module")
def with_dropout():
    return simulate(3000, seed=1)


@pytest.fixture(scope="module")
def without_dropout():
    return simulate(1500, dropout=False, seed=2)


@pytest.fixture(scope="module")
def no_dropout_fit(without_dropout):
    return LifetimeValue().fit(without_dropout)


def codes(found):
    return {w.code for w in found}


def test_a_sound_bgnbd_fit_raises_no_warning(with_dropout):
    f = with_dropout
    m = BetaGeo().fit(f.frequency, f.recency, f["T"])
    assert check_fit(m, "bgnbd") == []
    assert check_p_alive(m.probability_alive(f.frequency, f.recency, f["T"]), "bgnbd") == []


def test_no_dropout_in_the_data_is_flagged_for_bgnbd_and_pareto(no_dropout_fit):
    found = no_dropout_fit.fit_report_.warnings
    for name in ("bgnbd", "pnbd"):
        mine = [w for w in found if w.model == name]
        assert {"boundary_estimate", "p_alive_uninformative"} <= codes(mine), name
        boundary = [w for w in mine if w.code == "boundary_estimate"]
        # the parameter named is a dropout parameter, with its value in the message
        assert {w.params["parameter"] for w in boundary} & {"a", "b", "s", "beta"}
        w = boundary[0]
        assert f"{w.params['value']:.3g}" in w.message and w.params["parameter"] in w.message
    # the same checks on the rejected BG/NBD itself, refitted
    f = simulate(1500, dropout=False, seed=2)
    m = BetaGeo().fit(f.frequency, f.recency, f["T"])
    assert codes(check_fit(m, "bgnbd")) == {"boundary_estimate"}


def test_not_converged_and_infinite_mean_spend_are_named(with_dropout):
    f = with_dropout
    stopped = BetaGeo(max_iter=1)
    with pytest.warns(UserWarning):
        stopped.fit(f.frequency, f.recency, f["T"])
    assert "not_converged" in codes(check_fit(stopped, "bgnbd"))
    # ν ~ Gamma(q = 0.6): spend so heavy-tailed across customers that its mean is infinite
    heavy = simulate(4000, q=0.6, v=0.05, seed=3)
    rep = heavy[heavy.frequency > 0]
    gg = GammaGamma().fit(rep.frequency, rep.monetary)
    found = check_fit(gg, "gamma_gamma")
    assert gg.params_["q"] <= 1 and "infinite_mean_spend" in codes(found)
    w = [w for w in found if w.code == "infinite_mean_spend"][0]
    assert w.as_dict() == {"code": "infinite_mean_spend", "model": "gamma_gamma",
                           "q": pytest.approx(gg.params_["q"], rel=1e-3)}


def test_p_alive_and_repeat_buyer_checks():
    rng = np.random.default_rng(0)
    assert codes(check_p_alive(np.ones(100), "bgnbd")) == {"p_alive_uninformative"}
    same = check_p_alive(np.r_[np.full(97, 0.42), rng.uniform(size=3)], "pnbd")
    assert same[0].params["value"] == pytest.approx(0.42) and same[0].params["share"] >= 0.95
    assert check_p_alive(rng.uniform(size=500), "bgnbd") == []
    assert check_repeat_buyers(19, 20, "bgnbd")[0].params == {"repeat_buyers": 19, "minimum": 20}
    assert check_repeat_buyers(20, 20, "bgnbd") == []


def test_every_code_reads_in_both_languages():
    params = {"boundary_estimate": {"parameter": "a", "value": 1e-7, "reason": "extreme"},
              "not_converged": {"gradient": 0.01}, "infinite_mean_spend": {"q": 0.5},
              "few_repeat_buyers": {"repeat_buyers": 3, "minimum": 20},
              "p_alive_uninformative": {"share": 0.99, "value": 1.0},
              "fit_failed": {"error": "overflow"}}
    assert set(params) == set(CODES)
    for code, p in params.items():
        en, zh = (FitWarning(code, "bgnbd", p).text(lang) for lang in ("en", "zh"))
        assert "BG/NBD" in en and "BG/NBD" in zh and en != zh


def test_empirical_rate_recovers_the_gamma_prior_and_pools_without_spread():
    rng = np.random.default_rng(4)
    n, T = 20000, rng.uniform(20, 60, 20000)
    x = rng.poisson(rng.gamma(2.0, 1 / 10.0, n) * T).astype(float)
    tx = np.where(x > 0, T * rng.uniform(0.5, 1, n), 0.0)
    m = EmpiricalRate().fit(x, tx, T)
    assert m.params_["r"] / m.params_["alpha"] == pytest.approx(0.2, rel=0.03)
    assert m.params_["alpha"] == pytest.approx(10.0, rel=0.15)
    # the forecast is the posterior mean rate over the next t units, P(alive) undefined
    got = m.conditional_expected_purchases(13.0, x[:5], tx[:5], T[:5])
    np.testing.assert_allclose(got, 13.0 * (m.params_["r"] + x[:5]) / (m.params_["alpha"] + T[:5]))
    assert np.isnan(m.probability_alive(x[:5], tx[:5], T[:5])).all()
    # everyone buying at one rate: spread is Poisson noise only, everyone gets the pooled rate
    flat_x = rng.poisson(0.2 * T).astype(float)
    flat = EmpiricalRate().fit(flat_x, np.where(flat_x > 0, T, 0.0), T)
    rates = flat.purchase_rate(flat_x, np.where(flat_x > 0, T, 0.0), T)
    spread = EmpiricalRate().fit(x, tx, T).purchase_rate(x, tx, T)
    assert np.ptp(rates) < 0.05 * rates.mean() < np.ptp(spread)
    assert rates.mean() == pytest.approx(flat_x.sum() / T.sum(), rel=1e-3)
    none = EmpiricalRate().fit(np.zeros(50), np.zeros(50), np.full(50, 10.0))
    assert (none.conditional_expected_purchases(52, np.zeros(3), np.zeros(3), np.full(3, 10.0)) == 0).all()


def test_empirical_spend_shrinks_by_number_of_purchases():
    rng = np.random.default_rng(5)
    n = 5000
    x = rng.integers(1, 12, n).astype(float)
    true_mean = rng.gamma(4.0, 10.0, n)  # between customers: mean 40, variance 400
    # one purchase: gamma with the customer's mean and standard deviation 30
    m = np.array([rng.gamma((mu / 30) ** 2, 900 / mu, int(k)).mean() for mu, k in zip(true_mean, x)])
    s = EmpiricalSpend().fit(x, m)
    # k = σ²/τ² = 900/400
    assert s.params_["k"] == pytest.approx(900 / 400, rel=0.35)
    z = s.conditional_expected_average_profit(np.array([1.0, 10.0, 0.0]), np.array([100.0, 100.0, 0.0]))
    assert s.params_["mean"] < z[0] < z[1] < 100 and z[2] == s.params_["mean"]
    alone = EmpiricalSpend().fit(np.zeros(3), np.zeros(3), fallback_mean=25.0)
    assert alone.conditional_expected_average_profit(np.array([0.0]), np.array([0.0]))[0] == 25.0


def test_lifetime_value_keeps_a_sound_bgnbd_and_records_it(with_dropout):
    lv = LifetimeValue().fit(with_dropout)
    assert (lv.transactions_name_, lv.spend_name_) == ("bgnbd", "gamma_gamma")
    summary = lv.fit_report_.summary()
    assert summary["warnings"] == [] and summary["rejected"] == []
    assert summary["p_alive"] == "published"
    assert summary["params"]["transactions"]["a"] == pytest.approx(lv.transactions_.params_["a"], rel=1e-5)
    pred = lv.predict(with_dropout)
    assert pred.p_alive.between(0, 1).all() and pred.p_alive.std() > 0.05


def test_lifetime_value_falls_back_when_there_is_no_dropout(without_dropout, no_dropout_fit):
    lv = no_dropout_fit
    assert lv.transactions_name_ == "empirical"
    rejected = {r["model"]: r["codes"] for r in lv.fit_report_.rejected}
    assert set(rejected) == {"bgnbd", "pnbd"} and all("p_alive_uninformative" in c
                                                      for c in rejected.values())
    pred = lv.predict(without_dropout)
    assert pred.p_alive.isna().all()  # missing, with its reason, never 1.0 for everybody
    assert lv.fit_report_.summary()["p_alive_reason"] == "no_dropout"
    assert np.isfinite(pred.clv).all() and (pred.clv >= 0).all()
    # more past purchases, more expected ones
    order = without_dropout.frequency / without_dropout["T"]
    assert np.corrcoef(order, pred.expected_purchases_12m)[0, 1] > 0.8
    with pytest.raises(RetentionNotModelled):
        lv.with_retention(5)


def test_candidate_order_is_settable(with_dropout):
    lv = LifetimeValue(ValueSettings(candidates=("pnbd", "bgnbd"))).fit(with_dropout)
    assert lv.transactions_name_ == "pnbd"
    only = LifetimeValue(ValueSettings(candidates=("empirical",))).fit(with_dropout)
    assert only.transactions_name_ == "empirical" and only.fit_report_.rejected == []
    with pytest.raises(UnknownValueModel):
        LifetimeValue(ValueSettings(candidates=("bgnbd", "nonsense"))).fit(with_dropout)


def test_retention_lever_moves_pareto_nbd_forecasts(with_dropout):
    f = with_dropout
    lv = LifetimeValue(ValueSettings(candidates=("pnbd",))).fit(f)
    base = lv.predict(f, clv=False)
    up = lv.with_retention(5).predict(f, clv=False)
    down = lv.with_retention(-5).predict(f, clv=False)
    assert up.expected_purchases_12m.sum() > base.expected_purchases_12m.sum() \
        > down.expected_purchases_12m.sum()
    assert up.p_alive.mean() > base.p_alive.mean()
    assert lv.with_retention(0).transactions_.params_ == pytest.approx(lv.transactions_.params_)


def test_heavy_tailed_spend_falls_back_to_shrunk_order_values():
    heavy = simulate(4000, q=0.6, v=0.05, seed=3)
    lv = LifetimeValue().fit(heavy)
    assert lv.spend_name_ == "empirical_spend"
    assert "infinite_mean_spend" in {w["code"] for w in lv.fit_report_.summary()["warnings"]}
    assert np.isfinite(lv.predict(heavy).expected_order_value).all()
