"""Runs publish atomically: a failed run never replaces the current results."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from upmarket import pipeline
from upmarket.errors import NoRun
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import current_run, output


def _orders(wh):
    ingest("orders", pd.DataFrame({
        "order_id": ["o1", "o2", "o3", "o4"], "customer_id": ["a", "a", "b", "b"],
        "ts": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-15", "2024-03-01"]),
        "sku": ["s", "s", "t", "t"], "quantity": [1, 2, 1, -1], "unit_price": [10.0, 10.0, 7.0, 7.0],
    }), warehouse=wh)


def test_no_run_yet_is_a_clear_error(wh):
    with pytest.raises(NoRun, match="upmarket run"):
        current_run(wh)


def test_run_publishes_results(wh):
    _orders(wh)
    ctx = pipeline.run(wh)
    assert ctx.as_of == datetime(2024, 3, 2)
    run = current_run(wh)
    assert run["run_id"] == ctx.run.run_id and run["status"] == "published"
    res = output(wh, "results").to_pandas().set_index("customer_id")
    assert res.loc["a", "orders"] == 2 and res.loc["a", "net_revenue"] == 30.0
    assert res.loc["b", "net_revenue"] == 0.0  # the cancellation nets out the purchase
    assert set(wh.table("results").run_id.to_pandas()) == {ctx.run.run_id}


def test_failed_run_leaves_previous_results_current(wh, monkeypatch):
    _orders(wh)
    first = pipeline.run(wh).run.run_id

    def broken(ctx):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "STAGES", [*pipeline.STAGES, ("broken", broken)])
    with pytest.raises(RuntimeError):
        pipeline.run(wh)
    assert current_run(wh)["run_id"] == first
    assert set(wh.table("results").run_id.to_pandas()) == {first}
    runs = wh.table("runs").to_pandas()
    assert sorted(runs.status) == ["failed", "published"]
    failed = runs[runs.status == "failed"].run_id.iloc[0]
    assert not any(t.endswith(failed) for t in wh.backend.list_tables())


def test_as_of_excludes_later_orders(wh):
    _orders(wh)
    ctx = pipeline.run(wh, datetime(2024, 1, 20))
    res = output(wh, "results", ctx.run.run_id).to_pandas().set_index("customer_id")
    assert res.loc["a", "orders"] == 1 and res.loc["b", "net_revenue"] == 7.0
