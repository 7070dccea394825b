"""`upmarket experiments | cohorts | funnel | promotions` as a user meets them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import upmarket.cli.experiments  # noqa: F401  (attaches the commands until register() does)
from upmarket.cli import app
from upmarket.models.experiments import compare_proportions
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest

runner = CliRunner()
AS_OF = "2025-04-01"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    """Two campaigns over 1,000 people: K1 planned 50/50 and run 50/50 with B converting
    better; K2 planned 50/50 but 600/400 (a sample ratio mismatch)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("cli") / "w.duckdb"
    url = f"duckdb://{path}"
    wh = connect(url)
    people = [f"c{i:04d}" for i in range(1000)]
    camp = np.where(np.arange(1000) < 500, "K1", "K2")
    arm = np.concatenate([np.repeat(["A", "B"], 250), np.repeat(["A", "B"], [300, 200])])
    ts = pd.Timestamp("2025-02-01") + pd.to_timedelta(rng.uniform(0, 20, 1000), unit="D")
    rate = np.where((camp == "K1") & (arm == "B"), 0.40, 0.20)
    buys = rng.random(1000) < rate
    events = pd.DataFrame({
        "message_id": [f"m{i}" for i in range(1000)], "type": "track", "event": "ad_impression",
        "customer_id": people, "anonymous_id": [f"d{i}" for i in range(1000)], "ts": ts,
        "properties": [f'{{"arm": "{a}"}}' for a in arm], "campaign_id": camp,
        "channel": np.where(camp == "K1", "email", "wechat")})
    orders = pd.DataFrame({
        "order_id": [f"o{i}" for i in np.nonzero(buys)[0]], "line_no": 0,
        "customer_id": np.array(people)[buys], "ts": ts[buys] + pd.Timedelta(days=2),
        "quantity": 1.0, "amount": 100.0, "sku": "T1"})
    campaigns = pd.DataFrame({"campaign_id": ["K1", "K2"], "name": ["Spring", "Summer"],
                              "arms": ['{"A": 0.5, "B": 0.5}'] * 2})
    promotions = pd.DataFrame({"promotion_id": ["P1"], "type": ["coupon"],
                               "start": [pd.Timestamp("2025-02-10")],
                               "end": [pd.Timestamp("2025-02-12 23:59")],
                               "cost_per_use": [5.0]})
    for name, frame in (("events", events), ("orders", orders), ("campaigns", campaigns),
                        ("promotions", promotions)):
        ingest(name, frame, warehouse=wh)
    wh.close()
    return url, events, orders


def test_experiments_json_and_verdicts(url):
    url, events, orders = url
    result = runner.invoke(app, ["experiments", "-w", url, "--as-of", AS_OF, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rows = {r["campaign_id"]: r for r in out["comparisons"]}
    k1 = rows["K1"]
    bought = set(orders.customer_id)
    conv = {a: sum(c in bought for c in events.customer_id[(events.campaign_id == "K1")
                                                           & events.properties.str.contains(a)])
            for a in ("A", "B")}
    ref = compare_proportions(conv["A"], 250, conv["B"], 250)
    assert (k1["converters_control"], k1["converters_arm"]) == (conv["A"], conv["B"])
    assert k1["p_value"] == pytest.approx(ref.p_value) and k1["verdict"] == "uplift"
    assert rows["K2"]["verdict"] == "srm" and rows["K2"]["srm"]
    srm = {r["campaign_id"]: r for r in out["srm"]}
    assert srm["K2"]["p_value"] < 0.001 and not srm["K1"]["srm"]
    assert out["summary"]["srm"] == 1 and out["summary"]["uplift"] == 1


def test_experiments_table_lines_and_srm_warning(url):
    url, *_ = url
    result = runner.invoke(app, ["experiments", "-w", url, "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert "K1: B beats A" in result.stdout
    assert "sample ratio mismatch" in result.stderr and "K2" in result.stderr
    zh = runner.invoke(app, ["experiments", "-w", url, "--as-of", AS_OF, "--lang", "zh",
                             "--campaign", "K1"])
    assert zh.exit_code == 0 and "B 优于 A" in zh.stdout and "K2" not in zh.stdout


def test_experiments_bootstrap_is_reproducible(url):
    url, *_ = url
    args = ["experiments", "-w", url, "--as-of", AS_OF, "--json", "--bootstrap", "200",
            "--campaign", "K1"]
    a, b = (json.loads(runner.invoke(app, args + ["--draw", "3"]).stdout) for _ in range(2))
    row = a["comparisons"][0]
    assert row == b["comparisons"][0]
    assert row["revenue_boot_low"] < row["revenue_difference"] < row["revenue_boot_high"]


def test_user_errors(url, tmp_path):
    url, *_ = url
    result = runner.invoke(app, ["experiments", "-w", url, "--campaign", "NOPE"])
    assert result.exit_code == 2 and "no campaign 'NOPE'" in result.output
    assert "K1" in result.output and "Traceback" not in result.output
    early = runner.invoke(app, ["experiments", "-w", url, "--as-of", "2025-01-01"])
    assert early.exit_code == 2 and "no campaign exposures with an arm" in early.output
    missing = runner.invoke(app, ["funnel", "-w", f"duckdb://{tmp_path}/none.duckdb"])
    assert missing.exit_code == 2 and "no warehouse" in missing.output
    bad = runner.invoke(app, ["cohorts", "-w", url, "--metric", "ltv"])
    assert bad.exit_code == 2 and "--metric must be one of" in bad.output


def test_cohorts_funnel_promotions(url):
    url, events, orders = url
    out = json.loads(runner.invoke(app, ["cohorts", "-w", url, "--as-of", AS_OF,
                                         "--json"]).stdout)
    feb = [r for r in out["cohorts"] if r["cohort"].startswith("2025-02")]
    assert feb[0]["cohort_size"] == orders.customer_id.nunique()
    table = runner.invoke(app, ["cohorts", "-w", url, "--as-of", AS_OF, "-m", "cumulative"])
    assert table.exit_code == 0 and "2025-02" in table.stdout and "100" in table.stdout

    out = json.loads(runner.invoke(app, ["funnel", "-w", url, "--as-of", AS_OF,
                                         "--json"]).stdout)
    ch = {r["channel"]: r for r in out["channels"]}
    assert ch["email"]["exposed"] == 500 and ch["all"]["exposed"] == 1000
    assert ch["all"]["clicked"] == 0  # impressions only: nobody clicked
    zh = runner.invoke(app, ["funnel", "-w", url, "--as-of", AS_OF, "--lang", "zh"])
    assert zh.exit_code == 0 and "全部渠道" in zh.stdout

    out = json.loads(runner.invoke(app, ["promotions", "-w", url, "--as-of", AS_OF,
                                         "--json"]).stdout)
    p1 = out["promotions"][0]
    assert p1["promotion_id"] == "P1" and p1["status"] == "measured"
    assert out["discount_dependency"]["promo_share_of_spend"] == 0.0
    text = runner.invoke(app, ["promotions", "-w", url, "--as-of", AS_OF])
    assert text.exit_code == 0 and "Discount dependency" in text.stdout
