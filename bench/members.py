"""Member reads: `GET /v1/members/{id}` on `upmarket serve` at a fixed request rate, served
from the operational store's profiles snapshot (the member's level, distance to the next level
and points are part of each profile document), against `GET /healthz` at the same rate from
the same client. Open-loop load, latency from each request's scheduled time (see
`bench.profiles`). The goal (issue 17): p99 under 10 ms at 500 requests/s.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from . import machine_info, today, update_section
from ._service import measured, running_service

NAME = "members"
DESCRIPTION = "p50/p95/p99 of GET /v1/members/{id} at 500 req/s vs /healthz at the same rate"
RATE = 500.0
GOAL_P99_MS = 10.0


def make_world(folder: Path, customers: int, seed: int = 11) -> tuple[str, str, list[str]]:
    """A warehouse with one published run of `customers` members (results, `member_levels`,
    a points ledger with a few hand adjustments), and the store's snapshot of it, written
    through the real publishing path."""
    from upmarket.membership.programme import Programme
    from upmarket.opstore import store as ops
    from upmarket.warehouse import connect
    from upmarket.warehouse.runs import Run

    rng = np.random.default_rng(seed)
    prog = Programme()
    ids = [f"C{i:06d}" for i in range(customers)]
    n = customers
    level = rng.choice(prog.codes, n, p=[0.6, 0.25, 0.12, 0.03])
    nxt = {c: (prog.codes[i + 1] if i + 1 < len(prog.codes) else None)
           for i, c in enumerate(prog.codes)}
    spend = rng.gamma(2.0, 2000.0, n)
    as_of = datetime(2026, 6, 1)
    members = pd.DataFrame({
        "customer_id": ids, "level": level, "previous_level": level, "change": "same",
        "qualified_level": level, "spend_window": spend, "orders_window": rng.integers(1, 20, n),
        "below_since": pd.NaT, "grace_until": pd.NaT, "next_level": [nxt[c] for c in level],
        "spend_to_next": rng.uniform(0, 5000, n), "orders_to_next": rng.integers(0, 8, n),
        "distance_en": "¥1,240 or 3 more orders to Gold",
        "distance_zh": "再消费¥1,240或再下3单可升至金卡",
        "reason_en": "stays Silver: 12-month spend ¥4,000, 6 orders",
        "reason_zh": "保持银卡：近12个月消费¥4,000、6单",
        "points_balance": rng.integers(0, 40_000, n), "points_expiring": rng.integers(0, 5000, n),
        "expiring_at": pd.Timestamp("2027-01-01")})
    ledger = pd.DataFrame({
        "entry_id": [f"adjust:bench-{i}" for i in range(0, n, 50)],
        "customer_id": ids[::50], "ts": as_of, "kind": "adjust", "points": 100,
        "order_id": None, "level": None, "multiplier": np.nan, "earned_year": 2026,
        "expires_at": pd.Timestamp("2028-01-01")})
    results = pd.DataFrame({"customer_id": ids, "tier": "basic", "clv": 100.0})
    wh_url = f"duckdb://{folder}/w.duckdb"
    wh = connect(wh_url)
    run = Run(wh, as_of)
    run.write("results", results)
    run.write("member_levels", members)
    run.write("points_ledger", ledger)
    run.publish({})
    store_url = f"sqlite:///{folder}/ops.sqlite"
    t = time.perf_counter()
    written = ops.publish_run_profiles(wh, url=store_url)
    make_world.publish_seconds = time.perf_counter() - t
    wh.close()
    assert written == n
    return wh_url, store_url, ids


def measure(customers: int, seconds: float, rate: float = RATE) -> dict:
    from upmarket.opstore import store as ops
    from upmarket.opstore.points import record_adjustment

    results: dict = {}
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        wh_url, store_url, ids = make_world(folder, customers)
        store = ops.open_store(store_url)
        # some members hold adjustments made since the run: the route adds them up
        for i in range(0, len(ids), 97):
            record_adjustment(store, request_id=f"since-{i}", customer_id=ids[i], points=50,
                              reason="bench", actor="bench")
        _, key = ops.create_key(store, "bench", ["read"])
        with running_service(store_url, wh_url) as (url, pid):
            port = int(url.rsplit(":", 1)[1])
            rnd = random.Random(1)
            paths = [(f"/v1/members/{rnd.choice(ids)}", None)
                     for _ in range(int(rate * seconds))]
            for name, todo in (("healthz", [("/healthz", None)]), ("member", paths)):
                results[name] = measured(port, pid, key, todo, rate, seconds)
        results["audited"] = int((ops.read_audit(store)["action"] == "read_member").sum())
        store.close()
    results["publish_seconds"] = make_world.publish_seconds
    return results


def run(customers: int, quick: bool) -> None:
    customers = min(max(customers, 20_000), 200_000)
    seconds = 8.0 if quick else 20.0
    r = measure(customers, seconds)
    h, m = r["healthz"], r["member"]
    n_req = int(RATE * seconds)
    ok = "yes" if m["p99"] < GOAL_P99_MS and not m["errors"] else "**no**"
    err = {k: ", ".join(f"{n} × {c}" for c, n in sorted(r[k]["errors"].items())) or "0"
           for k in ("healthz", "member")}
    info = machine_info()
    body = f"""## Member reads (`GET /v1/members/{{id}}`)

{today()} · {info['nproc']} cores ({info['cpu']}) · Python {info['python']}

{customers:,} members' levels and points in the profiles snapshot of the operational store
(SQLite WAL; written at publish in {r['publish_seconds']:.1f} s), one in 97 with an adjustment made
since the run; one uvicorn process; an open-loop asyncio HTTP/1.1 keep-alive client sending
{RATE:.0f} requests/s for {seconds:.0f} s ({n_req:,} requests, random member ids, English and
Chinese alternately) on the same machine; latency from each request's scheduled send time, in
ms. Each read is authenticated, adds the adjustments made since the run and commits its audit
record (group commit) before answering.

| | p50 | p95 | p99 | max | errors |
|---|---:|---:|---:|---:|---:|
| baseline: `/healthz` at {RATE:.0f}/s | {h['p50']:.2f} | {h['p95']:.2f} | {h['p99']:.2f} | {h['max']:.1f} | {err['healthz']} |
| member from the store snapshot at {RATE:.0f}/s | {m['p50']:.2f} | {m['p95']:.2f} | {m['p99']:.2f} | {m['max']:.1f} | {err['member']} |

p99 ratio member ÷ baseline: {m['p99'] / h['p99']:.2f}. Server CPU per request (user + system):
`/healthz` {h['cpu_ms']:.2f} ms, member {m['cpu_ms']:.2f} ms. Audit records of
member reads: {r['audited']:,} (of {n_req + 50:,} incl. warm-up). Goal p99 < {GOAL_P99_MS:.0f} ms at
{RATE:.0f}/s met: {ok}.
"""
    print(body)
    update_section(NAME, body)
