from __future__ import annotations

import pytest

from upmarket.warehouse import connect


@pytest.fixture
def wh(tmp_path):
    w = connect(f"duckdb://{tmp_path}/test.duckdb")
    yield w
    w.close()


@pytest.fixture(autouse=True)
def _key_file(tmp_path_factory, monkeypatch):
    """Each test its own pseudonymisation key file, never one in the working folder (where a
    store at the default place would put it); tests of where the file goes unset this."""
    monkeypatch.setenv("UPMARKET_KEY_FILE", str(tmp_path_factory.mktemp("key") / "upmarket.key"))
    monkeypatch.delenv("UPMARKET_PSEUDONYM_KEY", raising=False)
