from __future__ import annotations

import pytest

from upmarket.warehouse import connect


@pytest.fixture
def wh(tmp_path):
    w = connect(f"duckdb://{tmp_path}/test.duckdb")
    yield w
    w.close()
