"""The service as the browser tests drive it: a real uvicorn process on a free local port,
started, awaited until `/healthz` answers, and stopped with its whole process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

SERVER = """
import sys, uvicorn
from upmarket.service.app import create_app
uvicorn.run(create_app(sys.argv[1], sys.argv[2]), host="127.0.0.1", port=int(sys.argv[3]),
            log_level="warning")
"""


@contextmanager
def running_dashboard(store_url: str, warehouse_url: str) -> Iterator[str]:
    """The service on `store_url` and `warehouse_url`; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", SERVER, store_url, warehouse_url, str(port)],
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the dashboard server did not start")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
