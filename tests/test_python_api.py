"""The Python API: the walkthrough in docs/python-api.md runs as written and reproduces the
published BG/NBD fit, the summary agrees with the one a run computes from the warehouse,
predictions keep the customers' index, the charts hold the model's numbers, a DataFrame from
`pd.read_csv` ingests like its file, and `import upmarket` stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import upmarket
from upmarket import plotting
from upmarket.features.btyd import btyd_summary
from shared_data import shared

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
#: BG/NBD on the CDNOW 1/10 sample, 39-week calibration: Fader, Hardie & Lee (2005), Table 1 /
#: "Counting your customers the easy way", p. 278.
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    df = pd.read_csv(shared("cdnow/CDNOW_sample.txt"), sep=r"\s+", header=None,
                     names=["customer_id", "old_id", "date", "cds", "amount"],
                     dtype={"customer_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df[["customer_id", "date", "amount"]]


@pytest.fixture(scope="module")
def calibration(cdnow):
    cal = upmarket.summary_from_transactions(cdnow, "customer_id", "date", "amount",
                                             calibration_period_end="1997-09-30",
                                             observation_period_end="1998-06-30")
    return cal, upmarket.BetaGeo().fit(cal["frequency"], cal["recency"], cal["T"])


def test_the_documented_walkthrough_runs_and_reproduces_the_published_fit(cdnow, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cdnow.to_csv("transactions.csv", index=False)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 4
    # the five lines the page promises fit a model and draw its P(alive) matrix
    assert len(blocks[0].strip().splitlines()) == 5
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    assert Path("p_alive.html").stat().st_size > 100_000  # plotly.js is inside: opens offline
    fitted = namespace["model"].params_
    for name, value in PUBLISHED.items():
        assert fitted[name] == pytest.approx(value, abs=0.0015), name
    assert list(namespace["top"].index) == list(namespace["clv"].nlargest(10).index)
    results = namespace["results"]
    assert len(results) == cdnow["customer_id"].nunique()
    assert namespace["report"].accepted == len(cdnow)


def test_summary_matches_the_runs_summary(cdnow, tmp_path):
    mine = upmarket.summary_from_transactions(cdnow, "customer_id", "date", "amount",
                                              observation_period_end="1998-06-30")
    wh = upmarket.connect(f"duckdb:///{tmp_path}/w.duckdb")
    orders = cdnow.rename(columns={"date": "ts"}).assign(
        order_id=[f"T{i}" for i in range(len(cdnow))], quantity=1)
    upmarket.ingest("orders", orders, warehouse=wh)
    theirs = btyd_summary(wh.table("orders"), datetime(1998, 7, 1)).to_pandas() \
        .set_index("customer_id").sort_index()
    assert mine.index.equals(theirs.index)
    for col, other in [("frequency", "frequency"), ("recency", "recency"), ("T", "T"),
                       ("monetary_value", "monetary")]:
        np.testing.assert_allclose(mine[col].to_numpy(), theirs[other].to_numpy(), rtol=1e-12)
    # 78 weeks from 1997-01-01 to 1998-06-30 for the first customers of the cohort
    assert mine["T"].max() == pytest.approx(545 / 7)


def test_summary_holdout_counts_the_transactions_after_calibration(cdnow, calibration):
    cal, _ = calibration
    days = cdnow.drop_duplicates(["customer_id", "date"])
    after = days[(days["date"] > "1997-09-30") & (days["date"] <= "1998-06-30")]
    assert cal["frequency_holdout"].sum() == len(after)
    assert (cal["duration_holdout"] == 39).all()
    with pytest.raises(KeyError, match="no column 'when'"):
        upmarket.summary_from_transactions(cdnow, "customer_id", "when")


def test_predictions_keep_the_index_of_series_and_stay_arrays_for_arrays(calibration):
    cal, bgf = calibration
    p = bgf.probability_alive(cal["frequency"], cal["recency"], cal["T"])
    assert isinstance(p, pd.Series) and p.index.equals(cal.index)
    raw = bgf.probability_alive(cal["frequency"].to_numpy(), cal["recency"].to_numpy(),
                                cal["T"].to_numpy())
    assert isinstance(raw, np.ndarray)
    np.testing.assert_array_equal(p.to_numpy(), raw)
    e = bgf.conditional_expected_purchases(39, cal["frequency"], cal["recency"], cal["T"])
    assert isinstance(e, pd.Series) and e.index.equals(cal.index)


def test_charts_hold_the_models_numbers(cdnow, calibration):
    cal, bgf = calibration
    fig = plotting.probability_alive_matrix(bgf, cal)
    z = np.asarray(fig.data[0].z, float)
    x, y = np.asarray(fig.data[0].x), np.asarray(fig.data[0].y)
    assert np.nanmin(z) >= 0 and np.nanmax(z) <= 1
    i, j = 3, len(x) // 2
    assert z[i, j] == pytest.approx(float(bgf.probability_alive(y[i], x[j], x[-1])))

    bars = plotting.period_transactions(bgf, cal)
    actual, expected = (np.asarray(t.y, float) for t in bars.data)
    assert actual.sum() == len(cal) and expected.sum() == pytest.approx(len(cal))
    # a good fit on the calibration data it was fitted on: every bar within 15 % of the data
    assert np.all(np.abs(expected[:4] / actual[:4] - 1) < 0.15)

    lines = plotting.calibration_vs_holdout(bgf, cal)
    assert np.asarray(lines.data[0].y, float)[0] == pytest.approx(
        cal.loc[cal["frequency"] == 0, "frequency_holdout"].mean())

    cum = plotting.cumulative_transactions(bgf, cdnow, calibration_period_end="1997-09-30")
    days = cdnow.drop_duplicates(["customer_id", "date"])
    assert np.asarray(cum.data[0].y)[-1] == len(days) - days["customer_id"].nunique()

    zh = plotting.frequency_recency_matrix(bgf, cal, t=39, lang="zh")
    assert "预期购买" in zh.layout.title.text
    with pytest.raises(ValueError, match="calibration_period_end"):
        plotting.calibration_vs_holdout(bgf, cal.drop(columns=["frequency_holdout"]))


def test_a_read_csv_frame_ingests_like_its_file(tmp_path):
    path = shared("online_retail/online_retail_sample_30k.csv")
    by_file = upmarket.connect(f"duckdb:///{tmp_path}/file.duckdb")
    by_frame = upmarket.connect(f"duckdb:///{tmp_path}/frame.duckdb")
    a = upmarket.ingest("orders", path, preset="online-retail", warehouse=by_file)
    b = upmarket.ingest("orders", pd.read_csv(path), preset="online-retail", warehouse=by_frame)
    assert (a.accepted, a.quarantined) == (b.accepted, b.quarantined) and b.reconciles
    cols = ["order_id", "line_no", "customer_id", "ts", "sku", "quantity", "unit_price", "amount",
            "status", "line_kind"]
    one, two = (w.table("orders").to_pandas()[cols].sort_values(["order_id", "line_no"])
                .reset_index(drop=True) for w in (by_file, by_frame))
    pd.testing.assert_frame_equal(one, two)


def test_import_upmarket_loads_no_data_library():
    code = ("import sys, upmarket; heavy = [m for m in ('pandas', 'ibis', 'scipy', 'sklearn') "
            "if m in sys.modules]; print(heavy); assert not heavy; upmarket.BetaGeo")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
