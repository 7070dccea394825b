"""The service as the benches run it: `upmarket.service.app` under uvicorn in a process of its
own (no rate limit, so the bench measures the server, not the limiter)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_SERVER = """
import sys, uvicorn
from upmarket.service.app import create_app
app = create_app(sys.argv[1], sys.argv[2], rate=1e9, burst=10**9)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="warning")
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc): the server's cost per
    request, which unlike latency does not depend on what else the shared machine runs."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_service(store_url: str, warehouse_url: str, *, start_timeout: float = 120
                    ) -> Iterator[tuple[str, int]]:
    """Start the server, wait until /healthz answers, yield its base URL and process id,
    stop it."""
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVER, store_url, warehouse_url, str(port)],
                            start_new_session=True)
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
        yield url, proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
