"""Model choice on a time-split holdout: figures against an independent computation on the CDNOW
sample, the choice criterion, precision at the top, bootstrap intervals."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.models.btyd import BetaGeo, ModifiedBetaGeo
from upmarket.models.value_choice import CANDIDATES, _rank, compare_value_models, top_precision
from upmarket.warehouse import connect

sys.path.insert(0, str(Path(__file__).parent))
from test_btyd import cdnow_summary  # noqa: E402  (the independent pandas summary)

CAL, END = datetime(1997, 10, 1), datetime(1998, 7, 1)


@pytest.fixture(scope="module")
def sample_orders(tmp_path_factory):
    from shared_data import shared

    path = shared("cdnow/CDNOW_sample.txt")
    url = f"duckdb://{tmp_path_factory.mktemp('choice')}/w.duckdb"
    res = CliRunner().invoke(app, ["ingest", "orders", str(path), "--preset", "cdnow", "-w", url])
    assert res.exit_code == 0, res.output
    wh = connect(url, create=False)
    yield wh.table("orders")
    wh.close()


@pytest.fixture(scope="module")
def comparison(sample_orders):
    return compare_value_models(sample_orders, CAL, END, n_boot=40)


def test_figures_match_an_independent_computation(comparison):
    d = cdnow_summary()
    t = comparison.table
    assert comparison.n_customers == len(d) == 2357
    assert t.loc["bgnbd", "actual"] == d["frequency_holdout"].sum()
    for name, cls in (("bgnbd", BetaGeo), ("mbgnbd", ModifiedBetaGeo)):
        m = cls().fit(d["frequency"], d["recency"], d["T"])
        e = m.conditional_expected_purchases(39, d["frequency"], d["recency"], d["T"])
        assert t.loc[name, "predicted"] == pytest.approx(e.sum(), rel=1e-6)
        assert t.loc[name, "mae"] == pytest.approx(np.mean(np.abs(e - d["frequency_holdout"])), rel=1e-6)
        assert t.loc[name, "error"] == pytest.approx(e.sum() / d["frequency_holdout"].sum() - 1, rel=1e-9)
    pf = comparison.per_frequency
    assert pf.loc["0", "n_customers"] == 1411
    assert pf.loc["0", "actual"] == pytest.approx(d.loc[d.frequency == 0, "frequency_holdout"].mean())
    # the weekly curve ends at the holdout totals
    assert comparison.curve["actual"].iloc[-1] == t.loc["bgnbd", "actual"]
    assert comparison.curve["bgnbd"].iloc[-1] == pytest.approx(t.loc["bgnbd", "predicted"], rel=1e-9)
    assert np.all(np.diff(comparison.curve["actual"]) >= 0)
    # analyst rankings get precision only
    assert np.isnan(t.loc["past_spend", "mae"]) and 0 < t.loc["past_spend", "precision_top20"] < 1


def test_holdout_conventions_reproduce_the_published_cdnow_holdout(comparison):
    """Same-day purchases merged, holdout [1997-10-01, 1998-07-01), T to the day before the split:
    the mean holdout purchases per calibration frequency are those of the CDNOW sample's
    published summary (x.star of the BTYD R package's cdnowSummary), and the Pareto/NBD
    conditional expectations those published with it. The holdout under-forecast on CDNOW is
    therefore the models' on these data, not a counting convention."""
    pf = comparison.per_frequency
    published = [0.2367116, 0.6970387, 1.392523, 1.560000, 2.532258, 2.947368, 3.862069, 6.359375]
    assert pf["actual"].iloc[:8].to_numpy() == pytest.approx(published, abs=1e-6)
    assert pf["pnbd"].iloc[:8].to_numpy() == pytest.approx(
        [0.138, 0.600, 1.196, 1.714, 2.399, 2.907, 3.819, 6.403], abs=2e-3)


def test_choice_follows_the_stated_criterion(comparison):
    t = comparison.table
    assert sorted(comparison.ranking) == sorted(CANDIDATES)
    usable = [c for c in comparison.ranking if not t.loc[c, "degenerate"]]
    assert comparison.chosen == usable[0]
    maes = [round(t.loc[c, "mae"], 3) for c in usable]
    assert maes == sorted(maes)


def test_degenerate_fit_is_never_chosen():
    t = pd.DataFrame({"mae": [0.5, 0.7, 0.7, np.nan], "error": [0.0, -0.2, 0.1, np.nan],
                      "degenerate": [True, False, False, True]}, index=["bgnbd", "pnbd", "mbgnbd", "ml"])
    # lowest MAE is degenerate; the tie at 0.7 goes to the smaller aggregate error
    assert _rank(t) == ["mbgnbd", "pnbd", "bgnbd", "ml"]


def test_fits_without_drop_out_are_degenerate():
    from upmarket.models.btyd import ParetoNBD
    from upmarket.models.value_choice import _degenerate

    def fitted(cls, **params):
        m = cls()
        m.params_, m.converged_ = params, True
        return m

    assert _degenerate(fitted(BetaGeo, r=0.24, alpha=4.4, a=0.79, b=2.43)) == ""
    assert "NBD" in _degenerate(fitted(BetaGeo, r=0.76, alpha=13.2, a=6e-6, b=2971.0))
    assert "NBD" in _degenerate(fitted(ParetoNBD, r=0.76, alpha=13.2, s=1.9e-6, beta=1.5e6))
    assert "bound" in _degenerate(fitted(ModifiedBetaGeo, r=0.5, alpha=5.0, a=0.8, b=np.exp(24.9)))
    m = fitted(ParetoNBD, r=0.55, alpha=10.6, s=0.61, beta=11.7)
    m.converged_ = False
    assert "converge" in _degenerate(m)


def test_online_retail_btyd_fits_lose_their_drop_out_and_are_not_chosen(tmp_path):
    """On the Online Retail sample (split 2011-09-01) every BTYD fit collapses onto the NBD
    without attrition; they are reported, flagged, and the ML model is chosen."""
    from shared_data import shared

    path = shared("online_retail/online_retail_sample_30k.csv")
    url = f"duckdb://{tmp_path}/r.duckdb"
    assert CliRunner().invoke(app, ["ingest", "orders", str(path), "--preset", "online-retail", "-w", url]).exit_code == 0
    wh = connect(url, create=False)
    c = compare_value_models(wh.table("orders"), datetime(2011, 9, 1), datetime(2011, 12, 10), n_boot=5)
    wh.close()
    assert c.table.loc[["bgnbd", "pnbd", "mbgnbd"], "degenerate"].all()
    assert not c.table.loc["ml", "degenerate"] and c.chosen == "ml" and c.ranking[0] == "ml"


def test_top_precision():
    actual = np.array([10.0, 0, 5, 0, 8, 0, 0, 0, 0, 1])
    assert top_precision(actual, actual, 0.2) == 1.0
    assert top_precision(-actual, actual, 0.2) == 0.0
    score = np.array([9.0, 7, 0, 0, 0, 0, 0, 0, 0, 0])  # picks customers 0 and 1; top two are 0 and 4
    assert top_precision(score, actual, 0.2) == 0.5
    assert top_precision(score, actual, 0.02) == 1.0  # k = 1: customer 0


def test_bootstrap_intervals_hold_the_point_and_differences_are_consistent(comparison):
    t = comparison.table
    for name in ("bgnbd", "pnbd", "mbgnbd", "ml", "past_spend"):
        for fig in ("precision_top20", "mae", "error"):
            if fig == "mae" and name == "past_spend" or fig == "error" and name == "past_spend":
                continue
            assert t.loc[name, f"{fig}_low"] <= t.loc[name, fig] <= t.loc[name, f"{fig}_high"], (name, fig)
    d = comparison.differences.set_index(["candidate", "figure", "reference"])
    row = d.loc[("pnbd", "mae", "bgnbd")]
    assert row["difference"] == pytest.approx(t.loc["pnbd", "mae"] - t.loc["bgnbd", "mae"])
    assert row["low"] <= row["high"]


def test_customers_first_seen_on_the_last_calibration_day_are_forecast_as_new(sample_orders):
    from upmarket.features.btyd import btyd_summary

    cal, end = datetime(1997, 3, 26), datetime(1997, 7, 1)
    s = btyd_summary(sample_orders, cal, holdout_end=end).to_pandas()
    newest = int((s["T"] == 0).sum())
    assert newest > 0  # bought first on 1997-03-25
    c = compare_value_models(sample_orders, cal, end, candidates=("bgnbd",), n_boot=5)
    aged = s[s["T"] > 0]
    m = BetaGeo().fit(aged["frequency"], aged["recency"], aged["T"])
    H = (end - cal).days / 7
    expected = m.conditional_expected_purchases(H, aged["frequency"], aged["recency"], aged["T"]).sum() \
        + newest * m.expected_purchases(H)
    assert c.n_customers == len(s) and c.table.loc["bgnbd", "predicted"] == pytest.approx(expected, rel=1e-6)


def test_single_candidate_and_bad_input(sample_orders):
    from upmarket.errors import UpmarketError

    one = compare_value_models(sample_orders, CAL, END, candidates=("pnbd",), n_boot=5)
    assert one.chosen == "pnbd" and one.ranking == ("pnbd",)
    with pytest.raises(UpmarketError, match="candidates"):
        compare_value_models(sample_orders, CAL, END, candidates=("gbm",))
    with pytest.raises(UpmarketError, match="nobody bought"):
        compare_value_models(sample_orders, datetime(1990, 1, 1), END)


def _simulated_cdnow(path, holdout_factor, random_state=5):
    """A Pareto/NBD base (gamma purchase rates, exponential lifetimes) in the CDNOW file format,
    1998-01-05 to 1999-07-05; holdout purchases (from 1999-01-04) are kept, or each repeated
    ``holdout_factor`` times on the following days, so two files share the calibration period
    exactly and differ after it. Returns the lines written."""
    rng = np.random.default_rng(random_state)
    start, end = pd.Timestamp("1998-01-05"), pd.Timestamp("1999-07-05")
    rows = []
    for i in range(900):
        rate = rng.gamma(0.8, 1 / 4.0)  # purchases per week
        t = float(rng.integers(0, 12 * 7))
        death = t + rng.exponential(7 / 0.02)  # mean lifetime 50 weeks
        while t < min(death, (end - start).days):
            day = start + pd.Timedelta(days=int(t))
            repeat = holdout_factor if day >= pd.Timestamp("1999-01-04") else 1
            # one draw per purchase whatever the repeats, so both files draw the same sequence
            spend = rng.gamma(2.0, 15.0)
            for k in range(repeat):
                d = day + pd.Timedelta(days=k)
                if d < end:
                    rows.append(f" {i + 1:05d} {d:%Y%m%d}  1   {spend:.2f}")
            t += rng.exponential(7.0 / rate) + 1
    path.write_text(" customer_id  date number_of_cds  dollar_value\n" + "\n".join(rows) + "\n")
    return len(rows)


def _ingested(tmp_path, name, holdout_factor):
    path = tmp_path / f"{name}.txt"
    _simulated_cdnow(path, holdout_factor)
    url = f"duckdb://{tmp_path}/{name}.duckdb"
    res = CliRunner().invoke(app, ["ingest", "orders", str(path), "--preset", "cdnow", "-w", url])
    assert res.exit_code == 0, res.output
    return connect(url, create=False)


def test_blend_weight_is_chosen_inside_the_calibration_period(tmp_path):
    """The blend's component and weights come from an inner split of the calibration period:
    tripling every purchase after the calibration end changes the holdout figures but neither the
    weights nor the blend's forecasts; the weight is the squared-error optimum on the inner split."""
    from upmarket.models.value_choice import BLEND, run_holdout

    cal, end = datetime(1999, 1, 4), datetime(1999, 7, 5)
    same, tripled = _ingested(tmp_path, "same", 1), _ingested(tmp_path, "tripled", 3)
    a = compare_value_models(same.table("orders"), cal, end, candidates=("pnbd", "ml", BLEND), n_boot=10)
    b = compare_value_models(tripled.table("orders"), cal, end, candidates=("pnbd", "ml", BLEND), n_boot=10)
    assert b.table.loc[BLEND, "actual"] > 2 * a.table.loc[BLEND, "actual"]
    assert a.params[BLEND] == b.params[BLEND]
    np.testing.assert_allclose(a.forecasts[BLEND], b.forecasts[BLEND])

    p = a.params[BLEND]
    w, c = p["weight"], p["component"]
    assert c in ("bgnbd", "pnbd", "mbgnbd") and 0.0 <= w <= 1.0
    assert not a.table.loc[BLEND, "degenerate"]
    # the blend is the weighted sum of its components' forecasts on the whole calibration period
    f = a.forecasts
    np.testing.assert_allclose(f[BLEND], w * f[c] + (1 - w) * f["ml"])
    np.testing.assert_allclose(f[f"{BLEND}_spend"],
                               p["spend_weight"] * f[f"{c}_spend"] + (1 - p["spend_weight"]) * f["ml_spend"])

    # independently: the inner split is the run's rule on the calibration period, and the weight
    # is the closed-form least-squares weight, clipped to [0, 1], up to the grid's 0.01
    orders = same.table("orders")
    first = pd.Timestamp(orders.ts.min().execute()).to_pydatetime()
    inner_cal, inner_end = run_holdout(first, cal, horizon_days=(end - cal).days)
    assert p["inner_calibration_end"] == f"{inner_cal:%Y-%m-%d}" and p["inner_holdout_end"] == f"{cal:%Y-%m-%d}"
    inner = compare_value_models(orders.filter(orders.ts < cal), inner_cal, inner_end, n_boot=0)
    assert c == next(m for m in inner.ranking if m != "ml" and not inner.table.loc[m, "degenerate"])
    g = inner.forecasts
    d = g[c] - g["ml"]
    w_ls = float(np.clip(((g["actual"] - g["ml"]) * d).sum() / (d * d).sum(), 0.0, 1.0))
    assert w == pytest.approx(w_ls, abs=0.0051)
    same.close()
    tripled.close()


def test_holdout_spend_and_curve_match_every_purchase_day(sample_orders, comparison):
    """The holdout's spend per customer and its weekly curve are summed in the engine: the same
    sums over every purchase day read into pandas."""
    from upmarket.features.btyd import transactions

    days = transactions(sample_orders, END).to_pandas()
    days["day"] = pd.to_datetime(days["day"])
    calibration = set(days.loc[days["day"] < CAL, "customer_id"])
    hold = days[(days["day"] >= CAL) & days["customer_id"].isin(calibration)]
    f = comparison.forecasts
    spend = hold.groupby("customer_id")["spend"].sum().reindex(f.index, fill_value=0.0)
    assert f["actual_spend"].to_numpy() == pytest.approx(spend.to_numpy(), rel=1e-12)
    assert (f["actual_spend"] > 0).sum() == hold["customer_id"].nunique()
    weeks = (hold["day"] - pd.Timestamp(CAL)).dt.days / 7
    assert comparison.curve["actual"].tolist() == [float((weeks < w).sum())
                                                   for w in comparison.curve["week"]]
