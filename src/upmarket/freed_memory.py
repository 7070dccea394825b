"""Handing memory a stage has let go of back to the operating system.

glibc's allocator keeps freed blocks in its arenas for reuse instead of returning them. Inside
one allocator that costs nothing, but a run has three: Python objects and numpy arrays use
glibc's, the warehouse engine (DuckDB) and Arrow their own. Memory the churn stage's pandas
frames freed stays resident and cannot serve the engine's next query, so the process carries
every stage's leftovers into the next one: at 200,000 customers the heap held some 350 MB of
freed blocks after the churn stage (measured with `malloc_trim`, the call below, between
stages). `malloc_trim(0)` releases the free pages of every arena (glibc >= 2.8, "man 3
malloc_trim"); where there is no glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to return
        return None


def return_freed_memory() -> None:
    """Give the C heap's free pages back to the system (a no-op without glibc)."""
    trim = _trim()
    if trim is not None:
        trim(0)
