"""Fixtures the command-line tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A warehouse URL in a directory of its own, with no operational store configured."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UPMARKET_DATABASE", raising=False)
    return f"duckdb://{tmp_path}/w.duckdb"
