"""Measuring actions against their control groups: outcomes count only paid orders inside each
decision's window; per tier the difference of means and its Welch standard error equal a direct
computation; 'all tiers' is the treated-weighted average; an interval covers a known effect;
`upmarket actions impact --json` reports what the warehouse holds."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from upmarket.activation import holdout as H
from upmarket.cli import app
from upmarket.strategy import action_impact as I
from upmarket.warehouse.runs import Run

T = pd.Timestamp("2025-03-01")


def test_outcomes_count_paid_orders_inside_the_window_only():
    decided = pd.DataFrame({"customer_id": ["a", "b", "c"], "decided": [T] * 3,
                            "action": "upsell", "tier": "core", "held_out": [False, True, False]})
    orders = pd.DataFrame({
        "customer_id": ["a", "a", "a", "b", "c"],
        "ts": [T + pd.Timedelta(days=1), T + pd.Timedelta(days=29, hours=23),
               T + pd.Timedelta(days=30), T - pd.Timedelta(days=1), T + pd.Timedelta(days=2)],
        "amount": [100.0, 50.0, 999.0, 999.0, 80.0], "quantity": [1, 1, 1, 1, 2],
        "sku": ["P", "X", "P", "P", "P"], "status": ["paid", "paid", "paid", "paid", "cancelled"]})
    products = pd.DataFrame({"sku": ["P"], "cost": [60.0]})
    out = I.outcomes(decided, orders, products, 30).set_index("customer_id")
    assert out.loc["a", "conversion"] == 1 and out.loc["a", "revenue"] == 150.0
    # P at its cost, X without one at the default 30 % margin
    assert out.loc["a", "margin"] == pytest.approx(40.0 + 15.0)
    assert out.loc["b", "conversion"] == 0 and out.loc["c", "revenue"] == 0.0


def test_differences_intervals_and_the_all_tiers_row():
    rng = np.random.default_rng(5)
    rows = []
    truth = {"core": 0.10, "basic": 0.02}
    for tier, n, share in (("core", 4000, 0.5), ("basic", 16000, 0.1)):
        held = rng.uniform(size=n) < share
        p = 0.2 + np.where(held, 0.0, truth[tier])
        conv = (rng.uniform(size=n) < p).astype(float)
        rows.append(pd.DataFrame({"action": "upsell", "tier": tier, "held_out": held,
                                  "conversion": conv, "revenue": conv * 50, "margin": conv * 15}))
    m = pd.concat(rows, ignore_index=True)
    e = I.effects(m).set_index("tier")
    for tier in ("core", "basic"):
        g = m[m["tier"] == tier]
        t, h = g.loc[~g["held_out"], "conversion"], g.loc[g["held_out"], "conversion"]
        assert e.loc[tier, "conversion_difference"] == pytest.approx(t.mean() - h.mean())
        se = np.sqrt(t.var(ddof=1) / len(t) + h.var(ddof=1) / len(h))
        assert e.loc[tier, "conversion_se"] == pytest.approx(se)
        assert e.loc[tier, "conversion_low"] == pytest.approx(t.mean() - h.mean() - 1.959964 * se)
        assert e.loc[tier, "conversion_low"] < truth[tier] < e.loc[tier, "conversion_high"]
        assert e.loc[tier, "revenue_difference"] == pytest.approx(
            50 * e.loc[tier, "conversion_difference"])
    n_t = {t: int((~m.loc[m["tier"] == t, "held_out"]).sum()) for t in truth}
    w = {t: n_t[t] / sum(n_t.values()) for t in truth}
    a = e.loc["all"]
    assert a["conversion_difference"] == pytest.approx(
        sum(w[t] * e.loc[t, "conversion_difference"] for t in truth))
    # the treated-weighted truth, 0.2 × 0.10 + 0.8 × 0.02 (roughly), inside the interval; a
    # plain pooled difference would mix the tiers' different held-out shares
    target = sum(w[t] * truth[t] for t in truth)
    assert a["conversion_low"] < target < a["conversion_high"]
    assert a["n_treated"] == sum(n_t.values()) and a["n_held_out"] == m["held_out"].sum()


def test_a_tier_without_held_out_customers_measures_nothing():
    m = pd.DataFrame({"action": "win_back", "tier": ["diamond"] * 5, "held_out": False,
                      "conversion": 1.0, "revenue": 1.0, "margin": 1.0})
    e = I.effects(m).set_index("tier")
    assert np.isnan(e.loc["diamond", "conversion_difference"])
    assert np.isnan(e.loc["all", "conversion_difference"])


def test_cli_reports_the_warehouse_decisions(tmp_path):
    from upmarket.warehouse import connect

    url = f"duckdb://{tmp_path}/w.duckdb"
    wh = connect(url)
    ids = [f"C{i:04d}" for i in range(400)]
    d = pd.DataFrame({"customer_id": ids, "tier": "basic", "action": "win_back"})
    d = H.assign(d, H.salt(wh), H.HoldoutSettings(share=0.5))
    run = Run(wh, datetime(2025, 3, 1))
    H.record(wh, d, run_id=run.run_id, decided=run.as_of)
    run.publish({})
    buyers = d.loc[~d["held_out"], "customer_id"].iloc[::2]  # half the treated buy, nobody else
    wh.insert("orders", pd.DataFrame({
        "order_id": [f"O{i}" for i in range(len(buyers))], "line_no": 0,
        "customer_id": buyers.to_numpy(), "ts": T + pd.Timedelta(days=3), "sku": "P",
        "quantity": 1.0, "amount": 40.0, "status": "paid"}))
    wh.close()
    out = CliRunner().invoke(app, ["actions", "impact", "--as-of", "2025-04-15", "-w", url,
                                   "--json"])
    assert out.exit_code == 0, out.output
    found = {(r["action"], r["tier"]): r for r in json.loads(out.stdout)["effects"]}
    r = found[("win_back", "all")]
    treated = int((~d["held_out"]).sum())
    assert r["n_treated"] == treated and r["n_held_out"] == 400 - treated
    assert r["conversion_difference"] == pytest.approx(len(buyers) / treated)
    assert r["revenue_held_out"] == 0 and r["margin_treated"] == pytest.approx(
        40 * 0.3 * len(buyers) / treated)
    # nobody bought before: the covariates are constant and adjust nothing
    assert r["conversion_variance_reduction"] == pytest.approx(0.0)
    assert r["conversion_se"] == pytest.approx(r["conversion_se_unadjusted"])
    assert r["pooled"] == ""
    early = CliRunner().invoke(app, ["actions", "impact", "--as-of", "2025-03-20", "-w", url])
    assert early.exit_code == 0 and "No action decision has a complete 30-day window" in early.output
    text = CliRunner().invoke(app, ["actions", "impact", "--as-of", "2025-04-15", "-w", url,
                                    "--lang", "zh"])
    assert text.exit_code == 0, text.output
    assert "执行组 − 对照组" in text.output and "全部层级" in text.output
    assert "行动前行为消除的方差（转化率，全部层级）：召回0%" in "".join(text.output.split())
    en = CliRunner().invoke(app, ["actions", "impact", "--as-of", "2025-04-15", "-w", url])
    assert "Variance removed by pre-decision behaviour (conversion, all tiers): win-back 0%" \
        in " ".join(en.output.split())
