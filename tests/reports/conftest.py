"""A published run over a small demo world, shared by the report tests (see report_world)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from report_world import build  # noqa: E402


@dataclass
class ReportWorld:
    url: str
    run_id: str
    as_of: datetime
    frames: dict[str, pd.DataFrame]


@pytest.fixture(scope="session")
def report_world(tmp_path_factory) -> ReportWorld:
    url = f"duckdb://{tmp_path_factory.mktemp('report')}/w.duckdb"
    run_id, as_of, frames = build(url)
    return ReportWorld(url, run_id, as_of, frames)
