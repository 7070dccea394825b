"""The operational store on SQLite and on a real PostgreSQL server started here (initdb +
pg_ctl into a temporary folder on a free port), never a mock. Tests that need PostgreSQL skip,
saying why, when the server binaries are missing or it will not start."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from upmarket.opstore.store import open_store

PG_BIN = [Path("/usr/local/bin"), Path("/usr/lib/postgresql")]


def _pg_tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in PG_BIN:
        for p in sorted(root.glob(f"**/bin/{name}")) + [root / name]:
            if p.exists():
                return str(p)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """A throw-away PostgreSQL server: yields a SQLAlchemy URL of its `postgres` database."""
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL tests need the server binaries initdb and pg_ctl on PATH or in "
                    "/usr/local/bin (apt install postgresql); they were not found")
    # PostgreSQL refuses to run as root: run it as `nobody` in a folder nobody owns
    run_as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    if run_as and not shutil.which("runuser"):
        pytest.skip("running as root and `runuser` is missing: PostgreSQL cannot start as root")
    root = Path(tempfile.mkdtemp(prefix="upmarket-pg-"))
    data, log = root / "data", root / "log"
    if run_as:
        shutil.chown(root, "nobody")
        root.chmod(0o755)
    port = _free_port()
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync", "-E", "UTF8"], check=True, capture_output=True, timeout=60)
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", "30",
                        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
                        "-c fsync=off", "start"],
                       check=True, capture_output=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        logged = log.read_text(errors="replace")[-500:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server with {initdb}: {exc} "
                    f"{detail.decode(errors='replace')[-500:]} {logged}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server):
    """A fresh database on the session's server for each test."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(pg_server.replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return pg_server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The operational store on each engine it supports."""
    url = (f"sqlite:///{tmp_path}/ops.sqlite" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    s = open_store(url)
    yield s
    s.close()
