"""The realistic demo world: the processes behind its ground truth are not the models' own
(regular, seasonal purchasing; dropout in calendar time; upgrades driven by a hidden taste;
campaigns without effect), it conforms to the schema like the btyd world, and the whole
pipeline runs on it."""

from __future__ import annotations

from collections import defaultdict

import duckdb
import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from upmarket import pipeline
from upmarket.cli import app
from upmarket.demo.load import load_world
from upmarket.demo.realistic import DROPOUT_SHAPE, LATE_HAZARD_RATIO, _dropout, latent_traits
from upmarket.demo.world import (EXPERIMENT_WINDOW_DAYS, BadWorldConfig, WorldConfig,
                                 campaign_uplifts, generate_world)
from upmarket.features.experiments import experiment_arms
from upmarket.models.experiments import ABTest
from upmarket.warehouse.schema import TABLES

CFG = WorldConfig(customers=3_000, seed=11, world="realistic")
AS_OF = pd.Timestamp(CFG.as_of)
HORIZON = pd.Timestamp(CFG.horizon)


def collect(cfg: WorldConfig) -> dict[str, pd.DataFrame]:
    parts: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for name, frame in generate_world(cfg):
        parts[name].append(frame)
    return {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}


@pytest.fixture(scope="module")
def world():
    return collect(CFG)


@pytest.fixture(scope="module")
def paid(world):
    """One row per paid order, sorted by customer and time."""
    o = world["orders"]
    return (o[o["status"] == "paid"].drop_duplicates("order_id")
            .sort_values(["customer_id", "ts"], kind="stable"))


@pytest.fixture(scope="module")
def hidden():
    return latent_traits(CFG).set_index("customer_id")


# ------------------------------------------------------------------ shape of the world


def test_same_tables_and_columns_as_the_btyd_world(world):
    btyd = {name: frame for name, frame in generate_world(WorldConfig(customers=200, seed=11))}
    assert set(world) == set(btyd) == set(TABLES)
    for name, frame in world.items():
        assert list(frame.columns) == list(btyd[name].columns), name
        assert not frame.duplicated(list(TABLES[name].key)).any(), name
    for table, col in (("orders", "ts"), ("events", "ts"), ("service_tickets", "opened")):
        assert world[table][col].max() <= AS_OF, table


def test_deterministic_and_distinct_from_the_btyd_world(world):
    small = WorldConfig(customers=400, seed=11, world="realistic")
    a, b = collect(small), collect(small)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)
    btyd = collect(WorldConfig(customers=400, seed=11))
    # the same customers and catalogue, other purchases
    pd.testing.assert_frame_equal(a["customers"], btyd["customers"])
    pd.testing.assert_frame_equal(a["products"], btyd["products"])
    assert len(a["orders"]) != len(btyd["orders"])
    with pytest.raises(BadWorldConfig):
        WorldConfig(world="poisson")


# ------------------------------------------------------------------ purchasing


def test_inter_purchase_gaps_are_more_regular_than_exponential(paid, hidden):
    gap = paid.groupby("customer_id")["ts"].diff().dt.total_seconds() / 86400.0
    g = pd.DataFrame({"c": paid["customer_id"], "gap": gap}).dropna().groupby("c")["gap"]
    stats = g.agg(["mean", "std", "size"])
    stats = stats[stats["size"] >= 5]  # enough gaps for a coefficient of variation
    cv = (stats["std"] / stats["mean"]).rename("cv").to_frame().join(hidden["regularity"])
    assert len(cv) > 300
    regular = cv.loc[cv["regularity"] >= 3, "cv"]
    poisson = cv.loc[cv["regularity"] == 1, "cv"]
    # Erlang-k gaps have CV 1/sqrt(k); calendar warping (weekends, promotions, seasons) and
    # the hour of day add some irregularity back, exponential gaps sit near 1
    assert regular.median() < 0.7, regular.median()
    assert poisson.median() > regular.median() + 0.15, (poisson.median(), regular.median())
    assert cv["cv"].median() < 0.8


def test_a_yearly_cycle_is_visible_in_monthly_orders(world, paid):
    # repeat orders per registered customer (so the growing customer base is no trend), then
    # log rate ~ trend + yearly harmonic + the two big promotion months (618, 双11)
    first = paid.groupby("customer_id")["ts"].transform("min")
    rep = paid[paid["ts"] > first + pd.Timedelta(days=1)]
    monthly = rep.set_index("ts").resample("MS").size()
    base = (world["customers"].set_index("created_at").resample("MS").size().cumsum()
            .reindex(monthly.index))
    y = np.log(monthly / base).iloc[3:]  # the first months have too few customers
    month = y.index.month.to_numpy()
    phase = 2 * np.pi * (month - 1) / 12
    X = np.column_stack([np.ones(len(y)), np.arange(len(y)), np.cos(phase), np.sin(phase),
                         np.isin(month, [6, 11])])
    beta = np.linalg.lstsq(X, y.to_numpy(), rcond=None)[0]
    amplitude, peak = np.hypot(beta[2], beta[3]), np.arctan2(beta[3], beta[2])
    assert amplitude > 0.15, beta
    assert abs(peak) < np.pi / 4, beta  # the peak falls in mid-winter (December to February)
    assert beta[4] > 0.1, beta  # the promotion peaks are still there


# ------------------------------------------------------------------ churn


def test_churn_happens_in_calendar_time_between_purchases(world, paid):
    tc = world["truth_customers"].set_index("customer_id")
    assert 0.2 < tc["churned"].mean() < 0.8
    assert (tc.loc[tc["churned"], "churn_ts"] <= HORIZON).all()
    assert tc.loc[~tc["churned"], "churn_ts"].isna().all()
    assert 0.05 < (tc["churn_ts"] > AS_OF).mean() < 0.4  # some die inside the window
    last = paid.groupby("customer_id")["ts"].max()
    dead = tc.loc[tc["churned"] & (tc["churn_ts"] <= AS_OF), "churn_ts"]
    after = dead - last.reindex(dead.index)
    assert (after >= pd.Timedelta(0)).all()  # nobody buys after dropping out
    assert (after > pd.Timedelta(0)).mean() > 0.95  # not at the last purchase, as in BG/NBD
    assert after.median() > pd.Timedelta(days=7)


@settings(max_examples=50, deadline=None)
@given(t0=st.floats(0, 500), eta=st.floats(10, 3000), x=st.floats(1e-4, 8),
       gaps=st.lists(st.floats(0.5, 400), max_size=3))
def test_dropout_inverts_the_piecewise_weibull_hazard(t0, eta, x, gaps):
    # one customer, late-delivery notices at t0 + cumulative gaps (plus an on-time order that
    # must not count): the dropout time is where the cumulative hazard, each notice
    # multiplying the Weibull hazard by rho from then on, reaches x
    notices = t0 + np.cumsum(gaps)
    notice = np.concatenate([notices, [np.nan]])
    death = _dropout(np.zeros(len(notice), np.int64), notice, np.array([t0]),
                     np.array([eta]), np.array([x]))[0]
    kappa, rho = DROPOUT_SHAPE, LATE_HAZARD_RATIO
    edges = np.concatenate([[t0], notices, [np.inf]])

    def hazard_to(t):
        z = lambda s: ((min(s, t) - t0) / eta) ** kappa  # noqa: E731
        return sum(rho ** j * max(z(edges[j + 1]) - z(edges[j]), 0.0)
                   for j in range(len(edges) - 1))

    assert death > t0
    assert hazard_to(death) == pytest.approx(x, rel=1e-9)
    if not gaps:  # a plain Weibull: x = ((death - t0) / eta)^kappa
        assert death == pytest.approx(t0 + eta * x ** (1 / kappa), rel=1e-12)


def test_late_deliveries_hasten_dropout(world, paid):
    # among customers with the same number of orders by as_of, those with a late delivery
    # have dropped out more often by the horizon (each late delivery multiplies the hazard)
    assert LATE_HAZARD_RATIO > 1
    hist = paid[paid["ts"] <= AS_OF]
    late = (hist["delivered_at"] > hist["promised_delivery"]).groupby(hist["customer_id"]).any()
    n = hist.groupby("customer_id").size().clip(upper=8)
    churned = world["truth_customers"].set_index("customer_id")["churned"].reindex(n.index)
    rates = churned.groupby([n, late.reindex(n.index)]).mean().unstack()
    sizes = churned.groupby([n, late.reindex(n.index)]).size().unstack()
    ok = (sizes >= 30).all(axis=1)
    assert ok.sum() >= 3
    assert (rates.loc[ok, True] > rates.loc[ok, False]).mean() >= 2 / 3, rates[ok]
    weighted = ((rates[True] - rates[False]) * sizes[True])[ok].sum() / sizes.loc[ok, True].sum()
    assert weighted > 0.05, rates[ok]


# ------------------------------------------------------------------ premium upgrades


def test_premium_upgraders_differ_in_the_hidden_taste(world, hidden):
    tc = world["truth_customers"].set_index("customer_id").join(hidden)
    assert 0.01 < tc["upgrades_to_premium"].mean() < 0.3
    up = tc.loc[tc["upgrades_to_premium"], "taste"]
    rest = tc.loc[~tc["upgrades_to_premium"], "taste"]
    se = np.sqrt(up.var() / len(up) + rest.var() / len(rest))
    assert up.mean() - rest.mean() > max(0.25, 4 * se), (up.mean(), rest.mean(), se)
    # generated in chunks, the hidden traits still belong to the right customers
    chunked = WorldConfig(customers=3_000, seed=11, world="realistic", chunk_customers=700)
    later = [f for name, f in generate_world(chunked) if name == "truth_customers"][1:]
    tc2 = pd.concat(later)
    assert len(tc2) == 2_300  # all but the first chunk
    j = tc2.set_index("customer_id").join(latent_traits(chunked).set_index("customer_id"))
    # misaligned traits would leave no difference at all: the gap must stand out of noise (a
    # one-sided test at 2.5 standard errors; the later chunks hold few upgraders, so the whole
    # world's 4-standard-error bar above is out of reach here)
    g = j.groupby("upgrades_to_premium")["taste"]
    se2 = np.sqrt((g.var() / g.size()).sum())
    assert g.mean().diff().iloc[-1] > 2.5 * se2, (g.mean(), se2)
    # the taste is recorded nowhere: no customer attribute carries it
    c = world["customers"].set_index("customer_id").join(hidden)
    income = c["income_band"].map({"<5k": 0, "5k-10k": 1, "10k-20k": 2, "20k-50k": 3,
                                   "50k+": 4})
    for col in (income, c["birth_year"], c["industry"].notna()):
        assert abs(np.corrcoef(col.astype(float), c["taste"])[0, 1]) < 0.08


# ------------------------------------------------------------------ campaigns


def test_a_third_of_the_campaigns_have_no_effect(world):
    truth = campaign_uplifts(CFG).set_index("campaign_id")
    assert truth.index.tolist() == world["campaigns"]["campaign_id"].tolist()
    null = truth["uplift"] == 0.0
    assert null.sum() == round(len(truth) / 3)
    assert truth.loc[~null, "uplift"].gt(0).all()
    # the btyd world of the same seed has the same campaigns, all with an effect
    btyd = campaign_uplifts(WorldConfig(customers=3_000, seed=11)).set_index("campaign_id")
    assert (btyd["uplift"] > 0).all()
    assert np.allclose(btyd.loc[~null, "uplift"], truth.loc[~null, "uplift"])
    # an A/B analysis of the warehouse rarely calls an uplift where there is none
    con = ibis.duckdb.connect()
    arms = experiment_arms(con.create_table("events", world["events"]),
                           con.create_table("orders", world["orders"]), CFG.as_of,
                           EXPERIMENT_WINDOW_DAYS).to_pandas()
    res = ABTest().fit(arms, world["campaigns"]).results_.set_index("campaign_id")
    res = res.join(truth["uplift"].rename("true"))
    on_null = res[res["true"] == 0.0]
    assert len(on_null) >= 3
    assert (on_null["verdict"] == "uplift").sum() <= 1, on_null[["uplift", "p_value"]]
    covered = (on_null["uplift_low"] <= 0) & (0 <= on_null["uplift_high"])
    assert covered.mean() >= 2 / 3


# ------------------------------------------------------------------ end to end


def test_loads_and_the_pipeline_runs(wh):
    cfg = WorldConfig(customers=2_000, seed=5, world="realistic")
    loaded = load_world(wh, cfg)
    assert all(v["quarantined"] == 0 for v in loaded.values()), loaded
    assert loaded["truth_customers"]["accepted"] == 2_000
    ctx = pipeline.run(wh, cfg.as_of)
    s = ctx.summary
    assert s["customers"] > 1_500
    assert 0.5 < s["churn_evaluation"]["auc"] <= 1.0
    assert 0.5 < s["premium_evaluation"]["auc"] <= 1.0
    assert s["total_clv"] > 0


def test_demo_command_offers_both_worlds(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    assert "--world" in shown.output and "btyd" in shown.output and "realistic" in shown.output
    bad = runner.invoke(app, ["demo", "--world", "poisson", "--out", str(tmp_path / "d")])
    assert bad.exit_code != 0 and "btyd, realistic" in bad.output
    assert not (tmp_path / "d").exists()  # refused before anything is written


def test_demo_command_builds_the_chosen_world(tmp_path, monkeypatch):
    monkeypatch.delenv("UPMARKET_DATABASE", raising=False)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    run = CliRunner().invoke(app, ["demo", "--world", "realistic", "--customers", "600",
                                   "--out", str(out), "--json"])
    assert run.exit_code == 0, run.output
    assert '"world": "realistic"' in run.stdout
    # the warehouse holds the realistic world: dropouts fall between purchases
    con = duckdb.connect(str(out / "demo.duckdb"), read_only=True)
    try:
        gap = con.execute(
            "SELECT avg(CASE WHEN t.churn_ts > o.last THEN 1 ELSE 0 END) FROM truth_customers t "
            "JOIN (SELECT customer_id, max(ts) AS last FROM orders WHERE status = 'paid' "
            "GROUP BY customer_id) o USING (customer_id) "
            "WHERE t.churned AND t.churn_ts <= ?", [CFG.as_of]).fetchone()[0]
    finally:
        con.close()
    assert gap > 0.95
