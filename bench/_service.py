"""The service as the benches run it, and the load they drive it with.

`running_service` starts `upmarket.service.app` under uvicorn in a process of its own (no rate
limit, so the bench measures the server, not the limiter), with one process or several workers
(`upmarket serve --workers N`'s own factory). `drive` sends an open-loop load: requests on a
fixed schedule whether or not earlier ones have answered, latency counted from each request's
scheduled time, so a stalled server shows up as latency instead of silently lowering the rate
(the "coordinated omission" trap). `sweep` raises the rate until p99 crosses the goal.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

#: every other request asks for Chinese, so both reasons and labels are exercised
LANGS = ({"Accept-Language": "en-US,en;q=0.9"}, {"Accept-Language": "zh-CN,zh;q=0.9"})
#: The service's latency goal: p99 under this many ms.
GOAL_P99_MS = 10.0
#: Rates tried by a sweep, requests/s; it stops after the first whose p99 misses the goal
#: once 1,000/s (the rate the goal is judged at) has been measured.
SWEEP = (50, 100, 250, 500, 750, 1000, 1500, 2000, 3000)

_SERVER = """
import sys, uvicorn
from upmarket.service.app import create_app
app = create_app(sys.argv[1], sys.argv[2], rate=1e9, burst=10**9)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""

_WORKERS = """
import sys, uvicorn
uvicorn.run("upmarket.service.workers:worker_app", factory=True, workers=int(sys.argv[2]),
            host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process group `pid` leads (the server and its workers) has
    used so far (Linux /proc): the server's cost per request, which unlike latency does not
    depend on what else the shared machine runs."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[2]) == pid:  # fields[2]: the process group
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(store_url: str, warehouse_url: str, *, workers: int = 1,
                    start_timeout: float = 180) -> Iterator[tuple[str, int]]:
    """Start the server (`workers` processes), wait until /healthz answers, yield its base URL
    and the process id leading its group, stop it."""
    import httpx

    from upmarket.service.workers import WORKER_ENV, worker_settings

    port = free_port()
    if workers == 1:
        cmd = [sys.executable, "-c", _SERVER, store_url, warehouse_url, str(port)]
        env = None
    else:
        from upmarket.opstore.store import open_store

        open_store(store_url).close()  # tables made once, as `serve` does
        cmd = [sys.executable, "-c", _WORKERS, str(port), str(workers)]
        env = {**os.environ, WORKER_ENV: worker_settings(
            database=store_url, warehouse=warehouse_url, max_body=512 * 1024,
            rate=1e9, burst=10**9, rules=None, workers=workers, trust_proxy=False,
            secure_cookies=False)}
    proc = subprocess.Popen(cmd, start_new_session=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the bench server did not start") from None
                time.sleep(0.2)
        if workers > 1:  # every worker up, not only the first to answer
            while len([p for p in os.listdir("/proc") if p.isdigit() and _pgrp(p) == proc.pid]
                      ) < workers + 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def _pgrp(pid: str) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


class Client:
    """A minimal HTTP/1.1 keep-alive client over asyncio streams, one request per connection
    at a time, connections reused from an idle pool. httpx.AsyncClient costs ~1.6 ms of CPU
    per request here (2.27 ms per sequential /healthz round trip against 0.70 ms with this
    client, measured on this machine): at 500 requests/s on 2 shared cores the client alone
    would saturate a core and the benchmark would measure the client, not the server."""

    def __init__(self, host: str, port: int, headers: dict[str, str]):
        self.host, self.port = host, port
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send(self, path: str, headers: dict[str, str], body: bytes | None = None) -> int:
        """GET `path`, or POST `body` (JSON) to it; the status code."""
        if self.idle:
            try:
                return await self._send(self.idle.pop(), path, headers, body)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # the server closed an idle keep-alive connection: retry on a new one
        return await self._send(await asyncio.open_connection(self.host, self.port), path,
                                headers, body)

    async def _send(self, conn, path: str, headers: dict[str, str], body: bytes | None) -> int:
        reader, writer = conn
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is None:
            head = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.fixed}{extra}\r\n"
            writer.write(head.encode())
        else:
            head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.fixed}{extra}"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            writer.write(head.encode() + body)
        await writer.drain()
        got = await reader.readuntil(b"\r\n\r\n")
        lines = got.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (x.partition(b":") for x in lines[1:])
                      if k.strip().lower() == b"content-length")
        await reader.readexactly(length)
        self.idle.append(conn)
        return status

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


#: A request of a drive: the path, and a JSON body to POST (None: GET).
Request = tuple[str, bytes | None]


async def drive(port: int, key: str, requests: list[Request] | Callable[[int], Request],
                rate: float, seconds: float, *, warm: int = 50) -> tuple[np.ndarray, Counter]:
    """Open-loop: request i is sent at t0 + i/rate; latency from that scheduled time. Returns
    the latencies (ms) and the failures by status code (or exception name). `requests`: a list
    taken in turn, or a function of i."""
    n = int(rate * seconds)
    pick = requests if callable(requests) else (lambda i: requests[i % len(requests)])
    lat = np.full(n, np.nan)
    errors: Counter = Counter()
    client = Client("127.0.0.1", port, {"Authorization": f"Bearer {key}"})
    for i in range(warm):  # warm a connection and the server's caches
        path, body = pick(n + i)
        await client.send(path, LANGS[0], body)

    async def one(i: int, at: float):
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        path, body = pick(i)
        try:
            status = await client.send(path, LANGS[i % 2], body)
            if status != 200:
                errors[str(status)] += 1
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
            errors[type(exc).__name__] += 1
        lat[i] = time.perf_counter() - at

    t0 = time.perf_counter() + 0.2
    tasks = []
    for i in range(n):
        at = t0 + i / rate
        # create tasks just ahead of their time, so thousands of sleepers do not pile up
        while time.perf_counter() < at - 0.05:
            await asyncio.sleep(0.01)
        tasks.append(asyncio.create_task(one(i, at)))
    await asyncio.gather(*tasks)
    client.close()
    return lat * 1000, errors


def pct(ms: np.ndarray) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(ms, q)) for q in (50, 95, 99)} | {
        "max": float(ms.max())}


def measured(port: int, pid: int, key: str, requests, rate: float, seconds: float) -> dict:
    """One drive with the server's CPU per request (the warm-up included: a hair high, never
    flattering) and the client's: percentiles, errors, cpu_ms, client_cpu_ms."""
    before, client_before = cpu_seconds(pid), time.process_time()
    lat, errors = asyncio.run(drive(port, key, requests, rate, seconds))
    sent = rate * seconds + 50
    cpu_ms = (cpu_seconds(pid) - before) * 1000 / sent
    # the load client shares the cores: its own cost says whether it, not the server, limits
    client_ms = (time.process_time() - client_before) * 1000 / sent
    return pct(lat) | {"errors": dict(errors), "cpu_ms": cpu_ms, "client_cpu_ms": client_ms,
                       "rate": rate}


def sweep(port: int, pid: int, key: str, requests, seconds: float,
          rates: tuple[int, ...] = SWEEP) -> list[dict]:
    """`measured` at each rate of `rates` in turn, stopping after the first that misses the
    goal (p99 ≥ `GOAL_P99_MS` or any error) once 1,000/s has been measured."""
    rows = []
    for rate in rates:
        row = measured(port, pid, key, requests, float(rate), seconds)
        rows.append(row)
        if (row["p99"] >= GOAL_P99_MS or row["errors"]) and rate >= 1000:
            break
    return rows


def crossing(rows: list[dict]) -> str:
    """Where p99 crosses the goal, from a sweep's rows: "between A and B /s", "below A /s" or
    "above B /s"."""
    ok = [r["rate"] for r in rows if r["p99"] < GOAL_P99_MS and not r["errors"]]
    bad = [r["rate"] for r in rows if r["p99"] >= GOAL_P99_MS or r["errors"]]
    if not bad:
        return f"above {max(ok):,.0f}/s (not reached)"
    first_bad = min(bad)
    below = [r for r in ok if r < first_bad]
    if not below:
        return f"below {first_bad:,.0f}/s"
    return f"between {max(below):,.0f} and {first_bad:,.0f}/s"


def sweep_table(by_workers: dict[int, list[dict]]) -> str:
    """Markdown rows of the sweeps, one per worker count and rate, then where each crosses the
    goal and its p99 at 1,000/s."""
    out = ["| workers | rate (req/s) | p50 | p95 | p99 | max | server CPU per request (ms) "
           "| errors |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for w, rows in by_workers.items():
        for r in rows:
            err = ", ".join(f"{n} × {c}" for c, n in sorted(r["errors"].items())) or "0"
            out.append(f"| {w} | {r['rate']:,.0f} | {r['p50']:.2f} | {r['p95']:.2f} | "
                       f"{r['p99']:.2f} | {r['max']:.1f} | {r['cpu_ms']:.2f} | {err} |")
    out.append("")
    for w, rows in by_workers.items():
        at = [r for r in rows if r["rate"] == 1000]
        out.append(f"- {w} worker{'s' if w > 1 else ''}: p99 crosses {GOAL_P99_MS:.0f} ms "
                   f"{crossing(rows)}; p99 at 1,000/s: "
                   + (f"{at[0]['p99']:.2f} ms" if at else "not measured"))
    return "\n".join(out)


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def json_body(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()
