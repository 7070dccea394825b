from __future__ import annotations

import os

import pytest

# `make test` runs one worker per core; OpenMP's spinning threads in the model fits (gradient
# boosting) would then fight over the same cores and burn CPU waiting for each other, so each
# worker's fits use one thread, as the scheduling already gives every worker a core
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from upmarket.warehouse import connect


@pytest.fixture
def wh(tmp_path):
    w = connect(f"duckdb://{tmp_path}/test.duckdb")
    yield w
    w.close()



@pytest.fixture(autouse=True, scope="session")
def _key_file(tmp_path_factory):
    """One pseudonymisation key file for the whole test run, never one in the working folder
    (where a store at the default place would put it). Made before any module-wide world,
    so those worlds and the tests using them share it; tests of the key file set their own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UPMARKET_KEY_FILE", str(tmp_path_factory.mktemp("key") / "upmarket.key"))
        mp.delenv("UPMARKET_PSEUDONYM_KEY", raising=False)
        yield


@pytest.fixture
def own_key_file(tmp_path, monkeypatch):
    """A key file of this test's own, not yet made."""
    path = tmp_path / "own-key" / "upmarket.key"
    monkeypatch.setenv("UPMARKET_KEY_FILE", str(path))
    return path
