"""Event collection throughput with durable commits: `upmarket serve` (uvicorn, FastAPI, SQLite in
WAL with synchronous=FULL) receiving `/v1/batch` requests from concurrent clients, against a
baseline measured in the same run: raw `sqlite3` inserts of the same rows into an equally
durable database, one transaction per request, no HTTP, no validation, no idempotency check.

The ratio says what the service costs on top of the bare durable write; the service's target
is ≥ 5,000 events/s sustained.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import threading
import time
import uuid
from pathlib import Path

from . import machine_info, today, update_section
from ._service import running_service

NAME = "collect"
DESCRIPTION = "events/s into `upmarket serve` (durable commits) vs raw SQLite inserts"
BATCH = 100          # events per request, a typical Segment client flush
CLIENTS = 8          # concurrent client threads



def _events(n: int, run: str) -> list[list[dict]]:
    batches = []
    for start in range(0, n, BATCH):
        batches.append([{"type": "track", "messageId": f"{run}-{i}", "userId": f"C{i % 5000}",
                         "event": "Product Viewed", "timestamp": "2026-05-01T10:00:00Z",
                         "properties": {"sku": f"S{i % 700}", "price": 19.9, "i": i},
                         "context": {"campaign": {"source": "newsletter", "medium": "email"}}}
                        for i in range(start, min(n, start + BATCH))])
    return batches


def baseline(batches: list[list[dict]], path: Path) -> float:
    """Events/s of plain sqlite3 inserts, WAL + synchronous=FULL, one commit per request."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE e (message_id TEXT, type TEXT, event TEXT, user_id TEXT, ts TEXT,"
                " properties TEXT, context TEXT)")
    t = time.perf_counter()
    for b in batches:
        con.execute("BEGIN")
        con.executemany("INSERT INTO e VALUES (?,?,?,?,?,?,?)",
                        [(e["messageId"], e["type"], e["event"], e["userId"], e["timestamp"],
                          json.dumps(e["properties"]), json.dumps(e["context"])) for e in b])
        con.execute("COMMIT")
    elapsed = time.perf_counter() - t
    con.close()
    return sum(map(len, batches)) / elapsed



def service(batches: list[list[dict]], folder: Path) -> tuple[float, int, int]:
    """Events/s through the HTTP service; returns (rate, events stored, retried requests)."""
    import httpx

    from upmarket.opstore import store as ops

    db = f"sqlite:///{folder}/ops.sqlite"
    store = ops.open_store(db)
    _, key = ops.create_key(store, "bench", ["collect"])
    with running_service(db, f"duckdb://{folder}/w.duckdb") as (url, _pid):
        retries = [0]
        lock = threading.Lock()
        queue = list(reversed(batches))

        def client():
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                              timeout=30) as c:
                while True:
                    with lock:
                        if not queue:
                            return
                        b = queue.pop()
                    while True:  # a client that retries until acknowledged, as Segment's do
                        try:
                            r = c.post("/v1/batch", json={"batch": b})
                            if r.status_code == 200:
                                break
                        except httpx.TransportError:
                            pass
                        with lock:
                            retries[0] += 1
                        time.sleep(0.05)

        t = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
    stored = ops.count_events(store)
    store.close()
    return sum(map(len, batches)) / elapsed, stored, retries[0]


def run(customers: int, quick: bool) -> None:
    n = 20_000 if quick else 100_000
    batches = _events(n, uuid.uuid4().hex[:6])
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        base = baseline(batches, folder / "raw.sqlite")
        rate, stored, retries = service(batches, folder)
    info = machine_info()
    ok = "yes" if rate >= 5000 else "**no**"
    body = f"""## Event collection (`upmarket serve`)

{today()} · {info['nproc']} cores ({info['cpu']}) · Python {info['python']}

{n:,} events in `/v1/batch` requests of {BATCH}, {CLIENTS} concurrent clients retrying until
acknowledged; SQLite WAL with synchronous=FULL (a 2xx means committed); one transaction per
request.

| | events/s |
|---|---:|
| baseline: raw sqlite3 inserts, same rows, one commit per {BATCH} | {base:,.0f} |
| `upmarket serve` over HTTP (validation, auth, idempotent insert) | {rate:,.0f} |
| ratio service ÷ baseline | {rate / base:.2f} |

Stored exactly once: {stored:,} of {n:,} events ({'ok' if stored == n else 'MISMATCH'});
requests retried: {retries}. Goal ≥ 5,000 events/s met: {ok}.
"""
    print(body)
    update_section(NAME, body)
