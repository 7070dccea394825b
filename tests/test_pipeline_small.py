"""`upmarket run` never aborts on small or odd data: a 60-customer file, a file where every
customer bought exactly once, and 400 customers of a 24-product catalogue over nine months.
Each run publishes, names the fits it did not trust, and gives every customer a value, a tier
and a churn risk."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.models.btyd.diagnostics import CODES
from upmarket.warehouse import connect
from upmarket.warehouse.runs import output

runner = CliRunner()


def orders_file(path, customers: int, months: int, seed: int, *, once: bool = False,
                catalogue: pd.DataFrame | None = None) -> None:
    """Customers arriving uniformly over `months`, each buying 1 + Poisson(2) times (once
    with `once`) at uniform dates after their first; one line per order."""
    rng = np.random.default_rng(seed)
    start, days = pd.Timestamp("2024-01-01"), months * 30
    rows = []
    for c in range(customers):
        first = int(rng.integers(0, days))
        later = [] if once else sorted(int(d) for d in rng.integers(first + 1, days + 1,
                                                                    rng.poisson(2.0)))
        for k, day in enumerate(dict.fromkeys([first, *later])):
            if catalogue is not None:
                item = catalogue.iloc[int(rng.integers(len(catalogue)))]
                sku, price = item["sku"], float(item["price"])
            else:
                sku, price = f"P{rng.integers(5)}", round(float(rng.gamma(2.0, 20.0)) + 1, 2)
            rows.append({"order_id": f"O{c}-{k}", "line_no": 1, "customer_id": f"C{c:04d}",
                         "ts": f"{start + pd.Timedelta(days=day):%Y-%m-%d} 10:00:00",
                         "sku": sku, "quantity": 1, "unit_price": price, "amount": price})
    pd.DataFrame(rows).to_csv(path, index=False)


def catalogue_file(path) -> pd.DataFrame:
    """24 products: 3 categories × 8, price tiers given (basic, mid, premium in turn)."""
    tiers = ("basic", "mid", "premium")
    base = {"basic": 10.0, "mid": 25.0, "premium": 60.0}
    rows = [{"sku": f"{cat}-{j}", "name": f"{cat} {j}", "category": cat,
             "price": base[tiers[j % 3]] + j, "price_tier": tiers[j % 3]}
            for cat in ("tea", "coffee", "cups") for j in range(8)]
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False)
    return frame


def ingest_and_run(tmp_path, files: dict, *args) -> tuple[str, object]:
    url = f"duckdb://{tmp_path}/w.duckdb"
    for kind, path in files.items():
        done = runner.invoke(app, ["ingest", kind, str(path), "-w", url, "--json"])
        assert done.exit_code == 0, done.output
    ran = runner.invoke(app, ["run", "-w", url, *args])
    assert ran.exit_code == 0, ran.output
    return url, ran


def check_run(url: str, summary: dict, customers: int) -> pd.DataFrame:
    fitted = summary["value_model"]
    assert fitted["warnings"], "a run on data this thin must name what it did not trust"
    assert {w["code"] for w in fitted["warnings"]} <= set(CODES)
    # whatever was rejected is named, and what was used is not among it
    assert fitted["transactions"] not in {r["model"] for r in fitted["rejected"]
                                         if r["kind"] == "transactions"}
    res = output(connect(url, create=False), "results").to_pandas()
    assert len(res) == summary["customers"] == customers
    assert np.isfinite(res["clv"]).all() and (res["clv"] >= 0).all()
    assert res["churn_risk"].between(0, 1).all() and res["tier"].notna().all()
    if fitted["p_alive"] == "missing":
        assert res["p_alive"].isna().all() and fitted["p_alive_reason"]
    else:
        assert res["p_alive"].between(0, 1).all() and res["p_alive"].nunique() > 1
    return res


def test_sixty_customers(tmp_path):
    orders_file(tmp_path / "orders.csv", 60, 12, seed=11)
    url, ran = ingest_and_run(tmp_path, {"orders": tmp_path / "orders.csv"}, "--json")
    summary = json.loads(ran.stdout)
    check_run(url, summary, 60)
    # every stage's cost is shown and kept with the run
    from upmarket import pipeline
    from upmarket.warehouse.runs import current_run

    stages = summary["stages"]
    assert [s["name"] for s in stages] == [n for n, _ in pipeline.STAGES] + ["writing outputs"]
    assert all(s["seconds"] >= 0 and s["cpu_seconds"] >= 0 and s["peak_rss_mb"] > 0
               for s in stages)
    peaks = [s["peak_rss_mb"] for s in stages]
    assert peaks == sorted(peaks)  # a high-water mark never falls
    # each stage's own sampled peak lies between what it started from and the peak so far
    assert all(s["start_rss_mb"] <= s["stage_peak_mb"] <= s["peak_rss_mb"] + 1 for s in stages)
    assert current_run(connect(url, create=False))["counts"]["stages"] == stages


def test_everyone_bought_once(tmp_path):
    orders_file(tmp_path / "orders.csv", 300, 12, seed=12, once=True)
    url, ran = ingest_and_run(tmp_path, {"orders": tmp_path / "orders.csv"}, "--lang", "zh")
    # the human summary names each rejected fit in words, in Chinese here
    assert ran.output.count("⚠") >= 3 and "重复购买" in ran.output
    assert "仍活跃概率" in ran.output
    summary = json.loads(runner.invoke(app, ["run", "-w", url, "--json"]).stdout)
    fitted = summary["value_model"]
    assert {(w["code"], w["model"]) for w in fitted["warnings"]} >= {
        ("few_repeat_buyers", "bgnbd"), ("few_repeat_buyers", "gamma_gamma")}
    assert fitted["p_alive"] == "missing"
    check_run(url, summary, 300)
    # the customer view says why there is no probability of being active, in both languages
    for lang, words in (("en", "not estimated"), ("zh", "未估计")):
        shown = runner.invoke(app, ["customers", "show", "C0001", "-w", url, "--lang", lang])
        assert shown.exit_code == 0 and words in shown.output, shown.output
    shown = json.loads(runner.invoke(app, ["customers", "show", "C0001", "-w", url, "--json"]).stdout)
    assert shown["p_alive"] is None and shown["p_alive_missing"] == fitted["p_alive_reason"]


def test_nine_months_with_a_tiered_catalogue(tmp_path):
    catalogue = catalogue_file(tmp_path / "products.csv")
    orders_file(tmp_path / "orders.csv", 400, 9, seed=13, catalogue=catalogue)
    url, ran = ingest_and_run(tmp_path, {"products": tmp_path / "products.csv",
                                         "orders": tmp_path / "orders.csv"}, "--json")
    summary = json.loads(ran.stdout)
    check_run(url, summary, 400)
    # nine months cannot hold two 180-day windows: the premium stage says what it skipped
    premium = summary["premium_model"]
    assert premium["status"] in ("skipped", "not_evaluated") and premium["reason"]
    assert "premium_evaluation" not in summary


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_human_summary_words_every_warning(tmp_path, lang):
    from upmarket.cli.runs import _print_value_model
    from upmarket.cli import console

    found = {"transactions": "empirical", "spend": "empirical_spend", "p_alive": "missing",
             "p_alive_reason": "no_dropout", "rejected": [],
             "warnings": [{"code": "infinite_mean_spend", "model": "gamma_gamma", "q": 0.155},
                          {"code": "boundary_estimate", "model": "bgnbd", "parameter": "a",
                           "value": 3e-07, "reason": "extreme"}]}
    with console.capture() as cap:
        _print_value_model(found, lang)
    text = cap.get()
    assert "0.155" in text and "3e-07" in text and text.count("⚠") == 2
