"""`upmarket serve` as a real process: uvicorn on a free port, keys enforced, and every
acknowledged event survives SIGKILL of the server (a 2xx means committed).

One server start only: importing upmarket takes several seconds on a busy machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from upmarket.opstore import store as ops

LAUNCH = "import upmarket.cli.service; from upmarket.cli import app; app()"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: str, wh: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, "serve", "--port", str(port),
                             "--database", db, "--warehouse", wh],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
        if proc.poll() is not None:
            pytest.fail(f"upmarket serve exited: {proc.stderr.read().decode()[-2000:]}")
    proc.kill()
    pytest.fail("upmarket serve did not answer /healthz within 30 s")


def test_acknowledged_events_survive_sigkill(tmp_path):
    db, wh = f"sqlite:///{tmp_path}/ops.sqlite", f"duckdb://{tmp_path}/w.duckdb"
    store = ops.open_store(db)
    _, key = ops.create_key(store, "t", ["collect"])
    port = _free_port()
    proc = _start(db, wh, port)
    h = {"Authorization": f"Bearer {key}"}
    acked = []
    try:
        for i in range(20):
            r = httpx.post(f"http://127.0.0.1:{port}/v1/track", headers=h,
                           json={"userId": "u", "event": "e", "messageId": f"k{i}"})
            assert r.status_code == 200
            acked.append(f"k{i}")
        assert httpx.post(f"http://127.0.0.1:{port}/v1/track",
                          json={"userId": "u", "event": "e"}).status_code == 401
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    # every acknowledged event is there, exactly once, after the server died mid-flight
    assert ops.count_events(store) == len(acked) == 20
    assert ops.insert_events(store, [{"message_id": m, "type": "track", "event": "e"}
                                     for m in acked]) == 0
    store.close()
