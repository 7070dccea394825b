"""The programme evaluated a few members at a time (`outputs.evaluate_programme` with a small
`batch_members`) gives exactly the tables, summary and per-member fields of one evaluation of
every member, on a demo world with an ingested programme (carried levels, balances and
redemptions, members who joined late), hand-made adjustments and a previous run's levels; and
its tables written part by part (`RunOutputs.append`) read back as the tables written whole."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from upmarket.demo.world import WorldConfig, generate_world
from upmarket.membership import incremental
from upmarket.membership import ingest as carried_rows
from upmarket.membership.outputs import TABLES, evaluate_programme
from upmarket.membership.programme import Programme
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.run_outputs import RunOutputs
from upmarket.warehouse.runs import Run, output_table

CONFIG = WorldConfig(customers=1_200, seed=11)
PROGRAMME = Programme()
#: small enough that the members fall in a dozen parts and more
BATCH = 83


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    wh = connect(f"duckdb:///{tmp_path_factory.mktemp('w') / 'w.duckdb'}")
    for name, frame in generate_world(CONFIG):
        if name in ("orders", "members", "points"):
            ingest(name, frame, warehouse=wh, source="demo world")
    orders = wh.table("orders").to_pandas()
    ids = np.sort(orders["customer_id"].unique())
    rng = np.random.default_rng(3)
    adjustments = pd.DataFrame({
        "request_id": [f"q{i}" for i in range(60)], "customer_id": rng.choice(ids, 60),
        "ts": CONFIG.as_of - pd.to_timedelta(rng.integers(1, 500, 60), "D"),
        "points": rng.integers(-80, 120, 60)})
    # a previous run's levels for most members, one of them a level the programme lacks
    previous = pd.Series(rng.choice(PROGRAMME.codes + ["retired"], len(ids) - 40),
                         index=ids[40:])
    yield {"wh": wh, "adjustments": adjustments, "previous": previous, "members": len(ids)}
    wh.close()


def _evaluate(world, batch: int | None, write=None):
    return evaluate_programme(world["wh"], CONFIG.as_of, PROGRAMME,
                              previous_levels=world["previous"], margin_rate=0.3,
                              adjustments=world["adjustments"], write=write,
                              batch_members=batch)


def test_members_a_few_at_a_time_give_the_tables_of_all_at_once(world):
    once = _evaluate(world, None)
    parts = _evaluate(world, BATCH)
    assert world["members"] > 12 * BATCH
    ledger = once.tables["points_ledger"]
    # the world exercises what crosses members: spending first in, first out, expiries,
    # carried redemptions and adjustments, members at every level, a next expiry date
    assert set(ledger["kind"]) >= {"earn", "reverse", "redeem", "adjust", "expire"}
    assert once.tables["member_levels"]["level"].nunique() == len(PROGRAMME.codes)
    assert once.summary["points_expiring_at"] is not None
    assert once.summary["economics"]["breakage"]["rate"] is not None
    for name in TABLES:
        pd.testing.assert_frame_equal(parts.tables[name], once.tables[name], check_exact=True)
    assert json.dumps(parts.summary, sort_keys=True, default=str) == \
        json.dumps(once.summary, sort_keys=True, default=str)
    pd.testing.assert_frame_equal(parts.fields, once.fields, check_exact=True)


def test_the_tables_written_in_parts_read_back_as_written_whole(world):
    wh = world["wh"]
    whole = Run(wh, CONFIG.as_of)
    for name, frame in _evaluate(world, None).tables.items():
        whole.write(name, frame)
    run = Run(wh, CONFIG.as_of)
    outputs = RunOutputs(run)
    found = _evaluate(world, BATCH, write=outputs.append)
    assert found.tables == {}
    con = wh.backend.con
    for name in TABLES:
        a, b = output_table(name, whole.run_id), output_table(name, run.run_id)
        assert con.execute(f'DESCRIBE "{b}"').fetchall() == \
            con.execute(f'DESCRIBE "{a}"').fetchall()
        pd.testing.assert_frame_equal(
            con.execute(f'SELECT * EXCLUDE (run_id) FROM "{b}"').df(),
            con.execute(f'SELECT * EXCLUDE (run_id) FROM "{a}"').df(), check_exact=True)
        assert run.outputs[name] == whole.outputs[name]
        pd.testing.assert_frame_equal(outputs[name], whole_frame(wh, a))


def whole_frame(wh, table: str) -> pd.DataFrame:
    return wh.table(table).drop("run_id").to_pandas()


def test_parts_take_the_column_types_of_the_parts_put_together(tmp_path):
    # a part with no value in a column does not decide its type; numbers widen
    parts = [pd.DataFrame({"a": [1, 2], "ref": [None, None], "at": pd.to_datetime([None, None]),
                           "n": [np.nan, np.nan]}),
             pd.DataFrame({"a": [3.5], "ref": ["x"], "at": pd.to_datetime(["2024-01-02"]),
                           "n": [np.nan]}),
             pd.DataFrame({"a": [4], "ref": [None], "at": pd.to_datetime([None]),
                           "n": [np.nan]})]
    wh = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        run = Run(wh, CONFIG.as_of)
        outputs = RunOutputs(run)
        for p in parts:
            outputs.append("t", p)
        whole = Run(wh, CONFIG.as_of)
        whole.write("t", pd.concat(parts, ignore_index=True))
        con = wh.backend.con
        a, b = output_table("t", whole.run_id), output_table("t", run.run_id)
        assert con.execute(f'DESCRIBE "{b}"').fetchall() == \
            con.execute(f'DESCRIBE "{a}"').fetchall()
        got = con.execute(f'SELECT * EXCLUDE (run_id) FROM "{b}"').df()
        pd.testing.assert_frame_equal(got, con.execute(
            f'SELECT * EXCLUDE (run_id) FROM "{a}"').df())
        assert list(got["a"]) == [1.0, 2.0, 3.5, 4.0] and run.outputs["t"] == 4
    finally:
        wh.close()


def test_outputs_made_in_parts_off_duckdb_are_the_parts_put_together(monkeypatch, tmp_path):
    wh = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        outputs = RunOutputs(Run(wh, CONFIG.as_of))
        monkeypatch.setattr(type(wh), "is_duckdb", property(lambda self: False))
        outputs.append("t", pd.DataFrame({"a": [1]}))
        outputs.append("t", pd.DataFrame({"a": [2.5]}))
        assert outputs.held() == ["t"]
        pd.testing.assert_frame_equal(outputs["t"], pd.DataFrame({"a": [1.0, 2.5]}))
    finally:
        wh.close()


def test_a_programme_without_members_gives_empty_tables(tmp_path):
    wh = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        for name, frame in generate_world(WorldConfig(customers=60, seed=2)):
            if name == "orders":
                ingest(name, frame, warehouse=wh, source="demo world")
        early = pd.Timestamp("1990-01-01").to_pydatetime()
        found = evaluate_programme(wh, early, PROGRAMME, batch_members=5)
        assert all(len(found.tables[n]) == 0 for n in TABLES) and len(found.fields) == 0
        assert found.summary["levels"] == {c: 0 for c in PROGRAMME.codes}
    finally:
        wh.close()


def test_the_carried_rows_read_by_runs_of_members_are_the_rows_read_at_once(world):
    # the carried rows stay in the warehouse and are read a run of ids at a time: the runs
    # put together are the rows read whole, in the order stored, and the counts the summary
    # gives are those of the whole rows
    wh = world["wh"]
    brought = carried_rows.Ingested(wh, CONFIG.as_of, PROGRAMME)
    members, points = (wh.table(n).filter(wh.table(n)[ts] < CONFIG.as_of).to_pandas()
                       for n, ts in (("members", "joined_at"), ("points", "ts")))
    whole = carried_rows._carried(members, points, PROGRAMME)
    ids = np.sort(pd.concat([whole.members["customer_id"],
                             wh.table("orders").to_pandas()["customer_id"]]).unique())
    cuts = list(ids[BATCH::BATCH])
    parts = [brought.part(lo, hi) for lo, hi in zip([None] + cuts, cuts + [None])]
    assert len(parts) > 12 and sum(len(p.entries) > 0 for p in parts) > 6
    for name in ("members", "entries"):
        got = pd.concat([getattr(p, name) for p in parts if len(getattr(p, name))],
                        ignore_index=True)
        want = getattr(whole, name)
        order = ["customer_id", "entry_id"] if name == "entries" else ["customer_id"]
        pd.testing.assert_frame_equal(
            got.sort_values(order, kind="stable").reset_index(drop=True),
            want.sort_values(order, kind="stable").reset_index(drop=True), check_dtype=False)
    assert brought.summary() == {"members": len(whole.members), "entries": len(whole.entries),
                                 "unknown_levels": whole.unknown_levels}


def test_the_effect_of_joining_reads_the_table_of_monthly_spend_it_would_build(world):
    # what the estimate reads from the engine is the customer x month table built in pandas
    # (the rows it can use of it), its cumulative sums, first months and places
    wh = world["wh"]
    as_of = pd.Timestamp(CONFIG.as_of)
    enrolled = carried_rows.Ingested(wh, CONFIG.as_of, PROGRAMME).enrolled()
    spend = incremental.monthly_spend(wh.table("orders"), enrolled, CONFIG.as_of, 6)
    lines = wh.table("orders").to_pandas()
    lines = lines[lines["ts"] < as_of]
    first = lines["ts"].min().to_period("M")
    m = (lines["ts"].dt.year - first.year) * 12 + lines["ts"].dt.month - first.month
    last = (as_of.to_period("M") - first).n
    table = lines.assign(m=m).pivot_table(index="customer_id", columns="m", values="amount",
                                          aggfunc="sum", fill_value=0.0)
    table = table.reindex(columns=range(last), fill_value=0.0)
    s = table.to_numpy(float)
    cum = np.concatenate([np.zeros((len(s), 1)), np.cumsum(s, axis=1)], axis=1)
    started = np.argmax(s != 0, axis=1)
    assert spend.customers == len(table) and spend.months == last
    np.testing.assert_allclose(spend.cum, cum[spend.pos], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(spend.started, started[spend.pos])
    joined = wh.table("members").to_pandas()
    joined = joined[joined["joined_at"] < as_of]
    month = (joined["joined_at"].dt.year - first.year) * 12 \
        + joined["joined_at"].dt.month - first.month
    at = table.index.get_indexer(joined["customer_id"])
    ok = (at >= 0) & (month >= 12) & (month + 6 <= last)
    ok &= started[np.maximum(at, 0)] < month
    # the members it can estimate in the order stored, the non-members in id order
    np.testing.assert_array_equal(spend.pos[spend.members], at[ok.to_numpy()])
    np.testing.assert_array_equal(spend.member_month, month[ok].to_numpy())
    controls = np.flatnonzero(~np.isin(np.arange(len(table)), at[at >= 0]))
    np.testing.assert_array_equal(spend.pos[spend.controls], controls)
    assert len(spend.members) > 30 and len(spend.controls) > 30


def test_the_previous_levels_read_by_runs_of_members_are_the_levels_given_whole(world):
    # the previous run's levels as a table in the warehouse, read a run of ids at a time
    wh = world["wh"]
    prev = world["previous"].rename("level").rename_axis("customer_id").reset_index()
    wh.backend.create_table("previous_levels_probe", prev, overwrite=True)
    given = _evaluate(world, BATCH)
    read = evaluate_programme(wh, CONFIG.as_of, PROGRAMME,
                              previous_levels=wh.table("previous_levels_probe"),
                              margin_rate=0.3, adjustments=world["adjustments"],
                              batch_members=BATCH)
    assert set(given.tables["member_levels"]["change"]) >= {"new", "upgrade", "downgrade"}
    for name in TABLES:
        pd.testing.assert_frame_equal(read.tables[name], given.tables[name], check_exact=True)
    assert json.dumps(read.summary, sort_keys=True, default=str) == \
        json.dumps(given.summary, sort_keys=True, default=str)
