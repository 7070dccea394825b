"""A run writes each stage's outputs when the stage ends, and large frames batch by batch, with
the same tables as one write at the run's end."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from upmarket import pipeline
from upmarket.errors import NoRun
from upmarket.warehouse import runs as runs_module
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.run_outputs import RunOutputs
from upmarket.warehouse.runs import Run, current_run, output, output_table


def _frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "customer_id": [f"c{i:04d}" for i in range(n)],
        "clv": rng.normal(100, 30, n),
        "orders": rng.integers(0, 9, n),
        "tier": pd.Series(["gold", None, "basic"] * (n // 3) + ["basic"] * (n % 3),
                          dtype=object),
        "flag": rng.random(n) < 0.5,
        "since": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
        # empty in this run: no type of its own
        "nps": pd.Series([None] * n, dtype=object),
    })


def _stored(wh, table: str) -> tuple[list, pd.DataFrame]:
    con = wh.backend.con
    schema = [tuple(r[:2]) for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
    rows = con.execute(f'SELECT * EXCLUDE (run_id) FROM "{table}" ORDER BY customer_id').df()
    return schema, rows


def test_a_frame_written_in_batches_is_the_table_written_at_once(wh, monkeypatch):
    frame = _frame(25)
    run = Run(wh, datetime(2024, 3, 1))
    whole = run.write("whole", frame)
    monkeypatch.setattr(runs_module, "WRITE_BATCH_ROWS", 4)  # 7 batches, the last short
    batched = run.write("batched", frame)
    assert run.outputs == {"whole": 25, "batched": 25}
    schema_whole, rows_whole = _stored(wh, whole)
    schema_batched, rows_batched = _stored(wh, batched)
    assert schema_batched == schema_whole
    assert dict(schema_whole)["nps"] == "DOUBLE"
    pd.testing.assert_frame_equal(rows_batched, rows_whole)
    assert rows_whole["clv"].tolist() == frame["clv"].tolist()
    assert rows_whole["tier"].isna().sum() == frame["tier"].isna().sum()
    ids = wh.backend.con.execute(f'SELECT DISTINCT run_id FROM "{batched}"').fetchall()
    assert ids == [(run.run_id,)]


def test_an_output_written_in_parts_is_the_table_written_at_once(wh):
    frame = _frame(25)
    # the tier is empty in the first parts: the table still takes its type from the later
    frame.loc[:9, "tier"] = None
    run = Run(wh, datetime(2024, 3, 1))
    whole = run.write("whole", frame)
    outputs = RunOutputs(run)
    outputs.write_parts("parts", (frame.iloc[lo:lo + 4] for lo in range(0, len(frame), 4)),
                        list(frame.columns))
    assert outputs.held() == []
    assert run.outputs == {"whole": 25, "parts": 25}
    schema_whole, rows_whole = _stored(wh, whole)
    schema_parts, rows_parts = _stored(wh, output_table("parts", run.run_id))
    assert schema_parts == schema_whole
    assert dict(schema_whole)["tier"] == "VARCHAR" and dict(schema_whole)["nps"] == "DOUBLE"
    pd.testing.assert_frame_equal(rows_parts, rows_whole)
    # read back through the run's outputs like any other written output
    assert outputs["parts"].sort_values("customer_id")["clv"].tolist() == frame["clv"].tolist()
    # no parts: an empty table of the columns, as an empty frame gives
    outputs.write_parts("none", iter([]), list(frame.columns))
    outputs.write_held()
    assert run.outputs["none"] == 0
    assert [c for c, _ in _stored(wh, output_table("none", run.run_id))[0]] == \
        [*frame.columns, "run_id"]
    # the same name twice would mix two outputs in one table
    with pytest.raises(ValueError, match="already"):
        outputs.write_parts("parts", [frame], list(frame.columns))


def test_outputs_are_written_and_let_go(wh):
    run = Run(wh, datetime(2024, 3, 1))
    outputs = RunOutputs(run)
    frame = _frame(10)
    outputs["levels"] = frame
    assert outputs.held() == ["levels"] and outputs["levels"] is frame
    assert not wh.has_table(output_table("levels", run.run_id))
    outputs.write_held()
    assert outputs.held() == [] and list(outputs) == ["levels"] and len(outputs) == 1
    back = outputs["levels"]  # read back from the run's table
    assert back is not frame and "run_id" not in back
    pd.testing.assert_series_equal(back["clv"], frame["clv"])
    assert back["customer_id"].tolist() == frame["customer_id"].tolist()
    del outputs["levels"]
    assert "levels" not in outputs and "levels" not in run.outputs
    assert not wh.has_table(output_table("levels", run.run_id))


def test_a_stage_outputs_are_in_the_warehouse_before_the_next_stage_unpublished(
        wh, monkeypatch):
    ingest("orders", pd.DataFrame({
        "order_id": ["o1", "o2", "o3"], "customer_id": ["a", "a", "b"],
        "ts": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-15"]),
        "sku": ["s", "s", "t"], "quantity": [1, 2, 1], "unit_price": [10.0, 10.0, 7.0],
    }), warehouse=wh)
    seen = {}

    def make(ctx):
        ctx.tables["extra"] = pd.DataFrame({"customer_id": ctx.results["customer_id"],
                                            "score": np.arange(len(ctx.results), dtype=float)})

    def look(ctx):
        seen["held"] = ctx.tables.held()
        seen["written"] = wh.has_table(output_table("extra", ctx.run.run_id))
        with pytest.raises(NoRun):
            current_run(wh)  # written, but nothing published yet
        seen["extra"] = ctx.tables["extra"]

    monkeypatch.setattr(pipeline, "STAGES", [
        s for s in pipeline.STAGES if s[0] == "features and lifetime value"]
        + [("make", make), ("look", look)])
    monkeypatch.setattr(pipeline, "run_automation", lambda *a, **k: None)
    ctx = pipeline.run(wh)
    assert seen["held"] == [] and seen["written"]
    assert seen["extra"]["score"].tolist() == [0.0, 1.0]
    published = output(wh, "extra").to_pandas().sort_values("customer_id")
    assert published["customer_id"].tolist() == ["a", "b"]
    assert set(published["run_id"]) == {ctx.run.run_id}
    assert set(current_run(wh)["counts"]["outputs"]) >= {"results", "extra"}


def test_outputs_stay_readable_after_the_warehouse_is_closed(tmp_path):
    from upmarket.warehouse import connect

    wh = connect(f"duckdb://{tmp_path}/w.duckdb")
    run = Run(wh, datetime(2024, 3, 1))
    outputs = RunOutputs(run)
    outputs["levels"] = _frame(6)
    outputs.write_held()
    wh.close()
    assert outputs["levels"]["customer_id"].tolist() == _frame(6)["customer_id"].tolist()
