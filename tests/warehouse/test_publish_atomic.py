"""SIGKILL of `upmarket run` at any moment: afterwards every output view and the profiles
snapshot belong to one and the same run, and the next run cleans what the killed one left and
publishes.

Two ways to kill: the real `upmarket run` command killed at moments drawn across a run's
measured duration, and a child process (`publish_kill_child.py`) that kills itself at named
points inside publishing, where a random moment rarely lands.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upmarket.opstore import store as ops
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import (ORPHAN_AGE, OUTPUT_TABLE, SCRATCH_TABLE, Run, current_run,
                                     drop_orphans, scratch_table)

CHILD = Path(__file__).with_name("publish_kill_child.py")
LAUNCH = "import upmarket.cli.runs; from upmarket.cli import app; app()"


def _world(tmp_path) -> tuple[str, str]:
    """40 customers' orders over a year; the warehouse and store URLs."""
    rng = np.random.default_rng(3)
    rows = [{"order_id": f"O{c}-{k}", "customer_id": f"C{c:03d}", "sku": f"P{rng.integers(5)}",
             "ts": pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 360))),
             "quantity": 1, "unit_price": float(rng.integers(5, 60))}
            for c in range(40) for k in range(int(rng.integers(1, 6)))]
    url = f"duckdb://{tmp_path}/w.duckdb"
    wh = connect(url)
    try:
        ingest("orders", pd.DataFrame(rows), warehouse=wh)
    finally:
        wh.close()
    return url, f"sqlite:///{tmp_path}/ops.sqlite"


def _consistent(url: str, store_url: str) -> tuple[str, str | None]:
    """Assert what a reader sees after a kill: the views are exactly the current run's
    outputs, each holding that run's rows only, and the store serves that run's snapshot, or
    holds it complete so that the repair rule (run by whoever opens the store next) serves it.
    Returns the current run and the run the store served before the repair."""
    wh = connect(url, create=False)
    store = ops.open_store(store_url)
    try:
        run = current_run(wh)
        rid = run["run_id"]
        con = wh.backend.con
        views = dict(con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
        assert sorted(views) == sorted(run["counts"]["outputs"])
        for v, sql in views.items():
            ids = {r for (r,) in con.execute(f'SELECT DISTINCT run_id FROM "{v}"').fetchall()}
            # an output may be empty in a run (no basket rules in a small shop): its view still
            # reads the run's table
            assert f"{v}__{rid}" in sql and ids <= {rid}, f"view {v} ({sql}) shows {ids}"
        assert con.execute('SELECT count(*) FROM "results"').fetchone()[0] > 0
        served = ops.profiles_run(store)
        if served != rid:
            assert rid in set(ops.snapshots(store)["run_id"]), \
                f"the store serves {served} and holds no complete snapshot of {rid}"
        assert ops.serve_run_profiles(wh, url=store_url) == rid
        customers = con.execute('SELECT customer_id FROM "results" ORDER BY 1').fetchall()
        snap = ops.snapshots(store).set_index("run_id").loc[rid]
        assert snap["customers"] == len(customers)
        assert ops.read_profile(store, customers[0][0])["run_id"] == rid
        return rid, served
    finally:
        store.close()
        wh.close()


def _outputs(url: str) -> set[str]:
    """The outputs of the current run."""
    wh = connect(url, create=False)
    try:
        return set(current_run(wh)["counts"]["outputs"])
    finally:
        wh.close()


def _orphans(url: str) -> list[str]:
    """Output tables of runs that are not published."""
    wh = connect(url, create=False)
    try:
        published = set(wh.table("runs").filter(lambda t: t.status == "published")
                        .run_id.to_pandas())
        return sorted(t for t in wh.backend.list_tables()
                      if (m := OUTPUT_TABLE.match(t)) and m["run_id"] not in published)
    finally:
        wh.close()


def _scratch(url: str) -> list[str]:
    """Scratch tables (the feature tables a run keeps while it runs): none outlives its run,
    so between runs any there is a killed run's."""
    wh = connect(url, create=False)
    try:
        return sorted(t for t in wh.backend.list_tables() if SCRATCH_TABLE.match(t))
    finally:
        wh.close()


def test_kill_at_each_point_of_publishing(tmp_path):
    url, store_url = _world(tmp_path)
    child = subprocess.Popen([sys.executable, str(CHILD), url, store_url], text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def kill_at(point: str) -> str:
        child.stdin.write(point + "\n")
        child.stdin.flush()
        said = child.stdout.readline().split()
        assert said[0] == point
        return " ".join(said[1:])

    try:
        assert kill_at("baseline") == "exit 0"
        first, _ = _consistent(url, store_url)
        outputs = _outputs(url) - {"baseline_only"}
        assert {"results", "actions", "tier_summary", "kpi_history"} <= outputs
        # before the warehouse commit: the previous run stays whole everywhere
        for point in ("writing", "staged", "transaction:1", "transaction:3", "transaction:7"):
            assert kill_at(point) == f"signal {signal.SIGKILL}", point
            assert _consistent(url, store_url) == (first, first), point
        assert len(_orphans(url)) == 2 + 4 * len(outputs)  # what the killed runs wrote
        # committed in the warehouse, killed before the store switched: the snapshot of the
        # new run is there, complete, and served once the store is opened again
        assert kill_at("committed") == f"signal {signal.SIGKILL}"
        second, served = _consistent(url, store_url)
        assert second != first and served == first
        assert kill_at("switched") == f"signal {signal.SIGKILL}"
        third, served = _consistent(url, store_url)
        assert third != second and served == third
        assert kill_at("none") == "exit 0"
        last, served = _consistent(url, store_url)
        assert last != third and served == last
    finally:
        child.stdin.close()
        child.wait(timeout=60)
    # the views of the baseline's extra output went with the first publish that lacked it,
    # and nothing of the killed runs is left: neither tables nor snapshots
    assert _orphans(url) == [] and _scratch(url) == []
    store = ops.open_store(store_url)
    try:
        assert list(ops.snapshots(store)["run_id"]) == [third, last]
    finally:
        store.close()


def _upmarket_run(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", LAUNCH, "run", "--json"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_of_upmarket_run_at_random_moments(tmp_path):
    url, store_url = _world(tmp_path)
    env = {**os.environ, "UPMARKET_WAREHOUSE": url, "UPMARKET_DATABASE": store_url}
    started = time.monotonic()
    out, err = _upmarket_run(env).communicate(timeout=300)
    took = time.monotonic() - started
    assert json.loads(out)["run_id"], err
    first, _ = _consistent(url, store_url)
    # drawn, but the same each time; two moments, late in the run where writing and
    # publishing happen (earlier, the process is still importing or computing)
    rng = random.Random(8)
    outcomes = []
    for fraction in sorted(rng.uniform(0.45, 0.98) for _ in range(2)):
        proc = _upmarket_run(env)
        time.sleep(took * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        outcomes.append(proc.returncode)
        _consistent(url, store_url)
    assert -signal.SIGKILL in outcomes  # at least one kill landed inside a run
    left = _orphans(url) + _scratch(url)
    done = _upmarket_run(env)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    summary = json.loads(out)
    assert summary["orphans_dropped"] == len(left)
    last, served = _consistent(url, store_url)
    assert last == summary["run_id"] != first and served == last
    assert _orphans(url) == [] and _scratch(url) == []


def _run(wh, run_id: str, **outputs) -> Run:
    run = Run(wh, datetime(2024, 6, 1))
    run.run_id = run_id
    for name, rows in outputs.items():
        run.write(name, pd.DataFrame({"customer_id": [f"C{i}" for i in range(rows)]}))
    return run


def test_publish_drops_the_views_of_outputs_the_run_did_not_write(wh):
    _run(wh, "20240601000000_aaaaaa", results=3, basket_rules=2).publish({})
    _run(wh, "20240602000000_bbbbbb", results=4).publish({})
    assert not wh.has_table("basket_rules")  # no view left showing the first run's rules
    assert set(wh.table("results").run_id.to_pandas()) == {"20240602000000_bbbbbb"}
    assert wh.has_table("basket_rules__20240601000000_aaaaaa")  # a published run stays readable


def test_a_publish_that_fails_half_way_changes_nothing(wh):
    _run(wh, "20240601000000_aaaaaa", results=3, actions=3).publish({})
    second = _run(wh, "20240602000000_bbbbbb", results=4, actions=4)
    # the second view cannot be created: the statements before it must be rolled back
    wh.drop_table("actions__20240602000000_bbbbbb")
    with pytest.raises(Exception, match="actions__20240602000000_bbbbbb"):
        second.publish({})
    assert current_run(wh)["run_id"] == "20240601000000_aaaaaa"
    for view in ("results", "actions"):
        assert set(wh.table(view).run_id.to_pandas()) == {"20240601000000_aaaaaa"}


def test_orphans_are_the_unpublished_runs_that_cannot_still_be_running(wh):
    ids = {"old": "20240601000000_000001", "published": "20240602000000_000002",
           "killed_before": "20240602120000_000003", "latest": "20240603000000_000004",
           "failed": "20240603060000_000005", "recent": "20240603120000_000006",
           "mine": "20240603130000_000007"}
    for key in ("old", "published", "latest"):
        _run(wh, ids[key], results=1).publish({})
    for key in ("killed_before", "recent", "mine"):
        _run(wh, ids[key], results=1, actions=1)
    _run(wh, ids["failed"], results=1).fail("boom")
    _run(wh, ids["failed"], results=1)  # as if the process died while failing
    now = datetime(2024, 6, 3, 14)
    dropped = drop_orphans(wh, keep=ids["mine"], now=now)
    assert dropped == [f"{n}__{ids[k]}" for k, n in (
        ("killed_before", "actions"), ("killed_before", "results"), ("failed", "results"))]
    # a day later the run that started after the latest publication is no longer running
    dropped = drop_orphans(wh, keep=ids["mine"], now=now + ORPHAN_AGE)
    assert dropped == [f"actions__{ids['recent']}", f"results__{ids['recent']}"]
    left = {OUTPUT_TABLE.match(t)["run_id"] for t in wh.backend.list_tables()
            if OUTPUT_TABLE.match(t)}
    assert left == {ids["old"], ids["published"], ids["latest"], ids["mine"]}


def test_scratch_tables_go_with_their_run_once_it_is_over(wh):
    ids = {"published": "20240602000000_000002", "killed_before": "20240602120000_000003",
           "latest": "20240603000000_000004", "recent": "20240603120000_000006",
           "mine": "20240603130000_000007"}
    for key, run_id in ids.items():
        wh.create_table(scratch_table("features_0", run_id),
                        pd.DataFrame({"customer_id": ["C1"]}))
    for key in ("published", "latest"):
        _run(wh, ids[key], results=1).publish({})
    dropped = drop_orphans(wh, keep=ids["mine"], now=datetime(2024, 6, 3, 14))
    # published runs are over, and so is one that started before the latest publication; a
    # run that started after it may still be running, and the caller's own is in use
    assert dropped == [scratch_table("features_0", ids[k])
                       for k in ("published", "killed_before", "latest")]
    left = sorted(t for t in wh.backend.list_tables() if SCRATCH_TABLE.match(t))
    assert left == [scratch_table("features_0", ids[k]) for k in ("recent", "mine")]
    # a scratch table is never taken for a run's output
    assert not any(OUTPUT_TABLE.match(t) for t in left)
