"""`upmarket run` never stops on a value ingest accepted: `inf`, `-inf`, `1e308` and `nan`
amounts and `inf` quantities are quarantined, and the run on the rest goes through. A bad
number stored some other way stops the run at once, naming table, column and keys."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from upmarket.cli import app
from upmarket.warehouse import connect
from upmarket.warehouse.runs import output

runner = CliRunner()
COLUMNS = ["order_id", "line_no", "customer_id", "ts", "sku", "quantity", "unit_price", "amount"]


def small_world(customers: int = 60, random_state: int = 5) -> pd.DataFrame:
    """Customers over a year, each with 1 + Poisson(2) orders of one line."""
    rng = np.random.default_rng(random_state)
    rows = []
    for c in range(customers):
        days = sorted(set(int(d) for d in rng.integers(0, 360, 1 + rng.poisson(2.0))))
        for k, day in enumerate(days):
            price = round(float(rng.gamma(2.0, 20.0)) + 1, 2)
            rows.append([f"O{c}-{k}", 0, f"C{c:03d}",
                         f"{pd.Timestamp('2024-01-01') + pd.Timedelta(days=day):%Y-%m-%d}",
                         f"P{rng.integers(5)}", 1, price, price])
    return pd.DataFrame(rows, columns=COLUMNS)


def ingest(url, path, *args):
    done = runner.invoke(app, ["ingest", "orders", str(path), "-w", url, *args])
    assert done.exit_code == 0, done.output
    return done


def test_inf_and_absurd_amounts_are_quarantined_and_the_run_goes_through(place, tmp_path):
    good = small_world()
    bad = pd.DataFrame([
        ["X1", 0, "C001", "2024-12-01", "P1", "1", "10", "inf"],
        ["X2", 0, "C002", "2024-12-01", "P1", "1", "10", "-inf"],
        ["X3", 0, "C003", "2024-12-01", "P1", "1", "10", "1e308"],
        ["X4", 0, "C004", "2024-12-01", "P1", "1", "10", "nan"],
        ["X5", 0, "C005", "2024-12-01", "P1", "inf", "10", ""],
        ["X6", 0, "C006", "2024-12-01", "P1", "inf", "10", "10"],
    ], columns=COLUMNS)
    path = tmp_path / "orders.csv"
    pd.concat([good.astype(str), bad]).to_csv(path, index=False)
    report = json.loads(ingest(place, path, "--json").stdout)
    assert report["rows_read"] == len(good) + 6 and report["reconciles"]
    assert (report["accepted"], report["quarantined"], report["conflicts"]) == (len(good), 6, 0)
    assert report["quarantined_by_reason"] == {
        "not finite in amount": 3, "not finite in quantity": 2,
        "beyond the sane bound of amount (|value| > 1e+12)": 1}
    ran = runner.invoke(app, ["run", "-w", place, "--json"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    assert summary["customers"] == good.customer_id.nunique()
    res = output(connect(place, create=False), "results").to_pandas()
    assert np.isfinite(res["clv"]).all()
    assert np.isclose(res["net_revenue"].sum(), good.amount.sum())


def test_a_run_names_a_bad_number_stored_by_other_means(place, tmp_path):
    path = tmp_path / "orders.csv"
    small_world(20).to_csv(path, index=False)
    ingest(place, path)
    wh = connect(place)
    wh.backend.con.execute("UPDATE orders SET amount = 'inf' WHERE order_id IN ('O3-0', 'O1-0')")
    wh.close()
    ran = runner.invoke(app, ["run", "-w", place])
    assert ran.exit_code == 2 and "Traceback" not in ran.output
    text = " ".join(ran.output.split())
    assert "orders.amount holds 2 non-finite value(s)" in text
    assert "order_id/line_no O1-0/0, O3-0/0" in text
    assert "upmarket data delete orders --key O1-0 --key O3-0" in text
    # nothing was fitted or published: the run stopped before its first model
    runs = connect(place, create=False).table("runs").to_pandas()
    assert list(runs.status) == ["failed"] and "orders.amount" in runs.counts[0]
