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
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from upmarket.opstore import store as ops
from upmarket.warehouse import connect
from upmarket.warehouse.ingest import ingest
from upmarket.warehouse.runs import OUTPUT_TABLE, current_run

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
    assert _orphans(url) == []
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
    rng = random.Random(11)  # the moments are drawn, but the same each time
    outcomes = []
    for fraction in sorted(rng.uniform(0.3, 0.98) for _ in range(3)):
        proc = _upmarket_run(env)
        time.sleep(took * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        outcomes.append(proc.returncode)
        _consistent(url, store_url)
    assert -signal.SIGKILL in outcomes  # at least one kill landed inside a run
    left = _orphans(url)
    done = _upmarket_run(env)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    summary = json.loads(out)
    assert summary["orphans_dropped"] == len(left)
    last, served = _consistent(url, store_url)
    assert last == summary["run_id"] != first and served == last
    assert _orphans(url) == []
