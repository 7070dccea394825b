"""What each stage of a run cost: wall time, CPU time and the process's peak memory.

A run records these in its summary (`runs.counts`, key ``stages``) so the cost of a run can be
read back later and compared between runs, releases and data sizes without a profiler.

CPU time is the whole process's user + system time (`time.process_time`), so the work of the
warehouse engine's own threads (DuckDB runs in-process) is counted; work done in other
processes (Spark executors, a database server) is not. Memory is the resident-set high-water
mark (VmHWM in /proc/self/status on Linux): it only ever grows, so each stage reports the peak
*so far*, and ``new_peak`` says whether that stage raised it. A stage that allocates less than
an earlier one shows the earlier peak, not its own; so each stage also gives the resident
memory it started with (``start_rss_mb``) and its own peak (``stage_peak_mb``), sampled every
20 ms while it runs (a peak shorter than that can be missed; the peak so far never misses).
The kernel's high-water mark could be reset per stage instead (/proc/self/clear_refs), but that
would also reset what `time -v` and the parent's accounting report for the whole command.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")


def peak_rss_mb() -> float | None:
    """The process's peak resident memory so far, in MiB (None where the system says nothing)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    except OSError:
        pass
    try:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (AttributeError, ValueError):
        return None
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


_STATM = Path("/proc/self/statm")
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024) if hasattr(os, "sysconf") else 0.0


def rss_mb() -> float | None:
    """The process's resident memory now, in MiB (None where the system does not say)."""
    try:
        # statm's second field is the resident pages: one short read, cheap enough to sample
        return int(_STATM.read_text().split()[1]) * _PAGE_MB
    except (OSError, IndexError, ValueError):
        return None


class _RssSampler:
    """The highest resident memory seen while it runs, read every `interval` seconds by a
    daemon thread (reading a /proc file holds the interpreter lock only for microseconds)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.start_mb = rss_mb()
        self.peak_mb = self.start_mb
        self._interval = interval
        self._stop = threading.Event()
        self._thread = None
        if self.start_mb is not None:
            self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._see(rss_mb())

    def _see(self, now: float | None) -> None:
        if now is not None and (self.peak_mb is None or now > self.peak_mb):
            self.peak_mb = now

    def stop(self) -> float | None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._see(rss_mb())
        return self.peak_mb


@dataclass(frozen=True)
class StageCost:
    name: str
    seconds: float
    cpu_seconds: float
    #: the process's peak resident memory at the end of the stage (peak so far, not the
    #: stage's own)
    peak_rss_mb: float | None
    #: whether the peak rose during this stage
    new_peak: bool
    #: resident memory when the stage began, and the highest sampled while it ran: the
    #: difference is what the stage itself held at its busiest
    start_rss_mb: float | None = None
    stage_peak_mb: float | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        out["cpu_seconds"] = round(self.cpu_seconds, 3)
        for key in ("peak_rss_mb", "start_rss_mb", "stage_peak_mb"):
            out[key] = None if out[key] is None else round(out[key], 1)
        return out


class StageMeter:
    """Measures named stages in turn: ``with meter.stage("churn"): ...``. A stage that raises
    is still recorded, so a failed run shows how far it got and at what cost."""

    def __init__(self) -> None:
        self.costs: list[StageCost] = []
        self._peak: float | None = None

    def _peak_so_far(self) -> float | None:
        # recent kernels sum the resident-page counters approximately, so two readings of the
        # high-water mark can differ by a few pages either way; a peak so far never falls
        now = peak_rss_mb()
        if now is not None:
            self._peak = now if self._peak is None else max(self._peak, now)
        return self._peak

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        wall, cpu, peak = time.perf_counter(), time.process_time(), self._peak_so_far()
        sampler = _RssSampler()
        try:
            yield
        finally:
            own = sampler.stop()
            after = self._peak_so_far()
            self.costs.append(StageCost(
                name, time.perf_counter() - wall, time.process_time() - cpu, after,
                bool(after is not None and peak is not None and after > peak),
                sampler.start_mb, own))

    def as_list(self) -> list[dict]:
        return [c.as_dict() for c in self.costs]
