"""`upmarket serve --workers N`: the workers answer on one port over one operational store; a
dashboard sign-in made through one worker holds in the others, a revoked key is refused by
all, and the per-key rate limit is split so that together they allow no more than asked."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from upmarket.opstore import store as ops
from upmarket.service import workers
from upmarket.service.csrf import LOGIN_COOKIE
from upmarket.service.sessions import COOKIE

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


def test_share_never_allows_more_than_the_limit_together():
    assert workers.share(200.0, 400, 1) == (200.0, 400)
    rate, burst = workers.share(200.0, 400, 3)
    assert rate * 3 == pytest.approx(200.0) and burst == 134
    assert workers.share(5.0, 1, 4) == (1.25, 1)  # never a bucket that lets nothing through


def _two_workers(world, tmp_path, monkeypatch, **settings):
    """Two apps built the way each worker process builds its own (`worker_app`)."""
    url = f"sqlite:///{tmp_path}/ops.sqlite"
    monkeypatch.setenv(workers.WORKER_ENV, workers.worker_settings(
        database=url, warehouse=world.warehouse, max_body=64 * 1024, rate=1000.0, burst=1000,
        rules=None, workers=2, trust_proxy=False, secure_cookies=False, **settings))
    return workers.worker_app(), workers.worker_app()


def test_a_sign_in_through_one_worker_holds_in_the_other(world, tmp_path, monkeypatch):
    a, b = _two_workers(world, tmp_path, monkeypatch)
    _, key = ops.create_key(a.state.store, "viewer", ["read"])
    with TestClient(a) as ca, TestClient(b) as cb:
        # the login form comes from one worker, is posted to the other
        form = ca.get("/dashboard/login")
        token, nonce = TOKEN.search(form.text).group(1), form.cookies.get(LOGIN_COOKIE)
        r = cb.post("/dashboard/login", content=f"csrf_token={token}&key={key}",
                    headers={**FORM, "Cookie": f"{LOGIN_COOKIE}={nonce}"},
                    follow_redirects=False)
        assert r.status_code == 303, r.text
        cookie = r.cookies[COOKIE]
        signed = {"Cookie": f"{COOKIE}={cookie}"}
        page = ca.get("/dashboard", headers=signed, follow_redirects=False)
        assert page.status_code == 200
        # the sign-out form of a page from the first, posted to the second, ends the session
        out = cb.post("/dashboard/logout", content=f"csrf_token={TOKEN.search(page.text)[1]}",
                      headers={**FORM, "Cookie": f"{COOKIE}={cookie}"}, follow_redirects=False)
        assert out.status_code == 303, out.text
        again = ca.get("/dashboard", headers=signed, follow_redirects=False)
        assert again.status_code in (303, 307) and "login" in again.headers["location"]


def test_apps_started_apart_do_not_accept_each_others_cookies(world, tmp_path, monkeypatch):
    """The shared secret is what makes the sign-in hold: two separate starts of the service
    each make their own."""
    a, _ = _two_workers(world, tmp_path, monkeypatch)
    _, c = _two_workers(world, tmp_path, monkeypatch)
    _, key = ops.create_key(a.state.store, "viewer", ["read"])
    with TestClient(a) as ca, TestClient(c) as cc:
        form = ca.get("/dashboard/login")
        token, nonce = TOKEN.search(form.text).group(1), form.cookies.get(LOGIN_COOKIE)
        r = ca.post("/dashboard/login", content=f"csrf_token={token}&key={key}",
                    headers={**FORM, "Cookie": f"{LOGIN_COOKIE}={nonce}"},
                    follow_redirects=False)
        assert r.status_code == 303
        other = cc.get("/dashboard", headers={"Cookie": f"{COOKIE}={r.cookies[COOKIE]}"},
                       follow_redirects=False)
        assert other.status_code in (303, 307)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_serve_with_two_workers(world, tmp_path):
    """The real command: two worker processes, a profile read and a revocation that every
    worker honours at once, and a per-key burst split between them."""
    db = f"sqlite:///{tmp_path}/ops.sqlite"
    store = ops.open_store(db)
    from upmarket.warehouse import connect

    wh = connect(world.warehouse)
    try:
        ops.publish_run_profiles(wh, url=db)
    finally:
        wh.close()
    record, key = ops.create_key(store, "reader", ["read"])
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "upmarket"), "serve", "--port", str(port), "--database", db,
         "--warehouse", world.warehouse, "--workers", "2", "--rate", "0.01", "--burst", "6"],
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "serve --workers 2 did not start"
                time.sleep(0.2)
        assert len(_children(proc.pid)) >= 2
        auth = {"Authorization": f"Bearer {key}"}
        # each request on a new connection, so both workers take some: a burst of 6 split in
        # two buckets of 3 lets through 3 to 6, never more
        codes = [httpx.get(f"{base}/v1/customers/C004", headers=auth, timeout=10).status_code
                 for _ in range(12)]
        assert set(codes) <= {200, 429} and 3 <= codes.count(200) <= 6, codes
        ops.revoke_key(store, record.id)
        assert {httpx.get(f"{base}/v1/customers/C004", headers=auth, timeout=10).status_code
                for _ in range(6)} == {401}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        store.close()
