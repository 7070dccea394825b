"""The real data sets in ../shared/data, for tests that need them.

A module of its own, not `conftest`: test folders have their own conftest.py files, and
`from conftest import …` would find whichever of them was imported first."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared(relative: str) -> Path:
    """A file from ../shared/data, or skip the test cleanly when the data set is absent."""
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"real data set {relative} is not present beside the repository")
    return path
