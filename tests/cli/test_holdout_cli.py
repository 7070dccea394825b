"""`upmarket holdout`: every value model against the holdout on the CDNOW sample, as JSON and as
an 80-column report in English and Chinese; one model with --model; a bad --model refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from upmarket.cli import app

runner = CliRunner()
ARGS = ["holdout", "--calibration-end", "1997-10-01", "--holdout-end", "1998-07-01"]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from shared_data import shared

    path = shared("cdnow/CDNOW_sample.txt")
    u = f"duckdb://{tmp_path_factory.mktemp('holdout')}/w.duckdb"
    assert runner.invoke(app, ["ingest", "orders", str(path), "--preset", "cdnow", "-w", u]).exit_code == 0
    return u


def test_json_compares_every_model(url):
    result = runner.invoke(app, [*ARGS, "-w", url, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    models = {m["model"]: m for m in out["models"]}
    assert list(models) == ["bgnbd", "pnbd", "mbgnbd", "ml"]
    bg = models["bgnbd"]
    # the BG/NBD fit on the sample is FHL 2005's published one
    assert round(bg["params"]["r"], 3) == 0.243 and round(bg["params"]["b"], 3) == 2.426
    for m in models.values():
        assert m["actual"] == 1882  # purchase days of the sample's customers in weeks 40-78
        assert m["error"] == pytest.approx(m["predicted"] / m["actual"] - 1)
        assert m["verdict"]
    assert "under-forecasts holdout purchases by 12%" in bg["verdict"]
    assert out["chosen"] == out["ranking"][0] and sorted(out["ranking"]) == sorted(models)
    names = {"bgnbd": "BG/NBD", "pnbd": "Pareto/NBD", "mbgnbd": "MBG/NBD", "ml": "ML"}
    assert out["verdict"].startswith(f"Chosen: {names[out['chosen']]},")
    rows = {r["frequency"]: r for r in out["per_frequency"]}
    assert rows["0"]["n_customers"] == 1411 and set(models) <= set(rows["all"])
    curve = out["curve"]
    assert len(curve) == 39 and curve[-1]["actual"] == 1882
    assert curve[-1]["bgnbd"] == pytest.approx(bg["predicted"])
    assert all(a["actual"] <= b["actual"] for a, b in zip(curve, curve[1:]))
    assert {b["model"] for b in out["baselines"]} == {"past_spend", "recency_weighted_spend"}


def test_report_fits_80_columns_in_both_languages(url):
    en = runner.invoke(app, [*ARGS, "-w", url, "--model", "bgnbd"])
    assert en.exit_code == 0, en.output
    assert "BG/NBD under-forecasts holdout purchases by 12%" in en.output
    assert "Chosen: BG/NBD" in en.output and "Pareto/NBD" not in en.output
    zh = runner.invoke(app, [*ARGS, "-w", url, "--model", "pnbd", "--lang", "zh"])
    assert zh.exit_code == 0, zh.output
    assert "低估留出期购买" in zh.output and "选定：Pareto/NBD" in zh.output
    from rich.cells import cell_len

    for out in (en.output, zh.output):
        assert max(cell_len(line) for line in out.splitlines()) <= 80


def test_unusable_fits_are_explained_in_both_languages(tmp_path):
    """Online Retail, split 2011-09-01: every BTYD fit loses its drop-out; the report says so."""
    from shared_data import shared

    path = shared("online_retail/online_retail_sample_30k.csv")
    u = f"duckdb://{tmp_path}/r.duckdb"
    assert runner.invoke(app, ["ingest", "orders", str(path), "--preset", "online-retail", "-w", u]).exit_code == 0
    args = ["holdout", "--calibration-end", "2011-09-01", "--model", "bgnbd", "-w", u]
    out = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    (bg,) = out["models"]
    assert bg["degenerate"] and bg["reason"] == "no_dropout" and out["chosen"] is None
    en = runner.invoke(app, args)
    assert "BG/NBD is not usable on this data: its fit has no customer drop-out left" in en.output
    assert "No model is usable on this data" in en.output
    zh = runner.invoke(app, [*args, "--lang", "zh"])
    assert "退化为普通 NBD" in zh.output and "no customer" not in zh.output


def test_bad_model_is_refused(url):
    result = runner.invoke(app, [*ARGS, "-w", url, "--model", "gbm"])
    assert result.exit_code == 2 and "--model must be one of" in result.output
