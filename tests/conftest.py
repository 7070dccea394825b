from __future__ import annotations

from pathlib import Path

import pytest

from upmarket.warehouse import connect

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def wh(tmp_path):
    w = connect(f"duckdb://{tmp_path}/test.duckdb")
    yield w
    w.close()


def shared(relative: str) -> Path:
    """A file from ../shared/data, or skip the test cleanly when the data set is absent."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"real data set {relative} is not present beside the repository")
    return path
