"""Hand memory that Python and numpy have freed back to the operating system.

glibc's allocator keeps freed blocks of its heap for reuse instead of returning them, so after
a stage lets go of a large frame the process can stay resident at that stage's size, and the
next stage's allocations are counted on top of it. `malloc_trim(0)` (glibc, malloc.h) releases
the free memory at the top of the heap and every wholly free page inside it. Elsewhere (macOS,
musl, Windows) there is no such call and nothing is done. Arrow's memory pool (which holds the
frames fetched from the warehouse engine and pandas' string columns) keeps its own freed
memory the same way, and is asked to return it too (`MemoryPool.release_unused`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    # int malloc_trim(size_t pad): declared once, with the function
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return freed heap memory to the system where the C library allows it; whether it did."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
