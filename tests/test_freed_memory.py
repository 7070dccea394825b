"""Freed heap memory goes back to the system between stages (glibc's malloc_trim)."""

from __future__ import annotations

import sys

import pytest

from upmarket.freed_memory import release_freed_memory
from upmarket.stage_costs import rss_mb


def _fragmented_heap():
    """~240 MB of small heap blocks of which one in sixteen stays alive: the free pages between
    the survivors cannot be given back by trimming the heap's top, only by malloc_trim."""
    blocks = [bytearray(2048) for _ in range(120_000)]
    for b in blocks:
        b[::1024] = b"xx"  # resident, not just reserved
    grown = rss_mb()
    return blocks[::16], grown


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_freed_pages_inside_the_heap_are_returned():
    release_freed_memory()
    before = rss_mb()
    survivors, grown = _fragmented_heap()
    assert grown > before + 150
    untrimmed = rss_mb()
    assert release_freed_memory()
    assert rss_mb() < untrimmed - 150
    assert len(survivors) == 7_500
