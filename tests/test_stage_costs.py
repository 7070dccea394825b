"""Each stage of a run records its wall time, CPU time and the peak memory so far."""

from __future__ import annotations

import resource
import time

import pytest

from upmarket.freed_memory import release_freed_memory
from upmarket.stage_costs import StageMeter, peak_rss_mb


def test_cpu_and_wall_are_told_apart():
    meter = StageMeter()
    with meter.stage("busy"):
        end = time.process_time() + 0.15
        while time.process_time() < end:
            pass
    with meter.stage("waiting"):
        time.sleep(0.2)
    busy, waiting = meter.costs
    assert busy.cpu_seconds >= 0.15 and busy.seconds >= 0.14
    assert waiting.seconds >= 0.2 and waiting.cpu_seconds < 0.1
    assert [s["name"] for s in meter.as_list()] == ["busy", "waiting"]


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_peak_memory_is_the_peak_so_far():
    meter = StageMeter()
    with meter.stage("before"):
        pass
    # enough to pass whatever peak earlier tests in this process reached
    size = int((meter.costs[0].peak_rss_mb - _rss_mb() + 96) * 1024 * 1024)
    with meter.stage("allocates"):
        block = bytearray(size)
        block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
        del block
    with meter.stage("after"):
        pass
    before, allocates, after = meter.costs
    assert allocates.new_peak and allocates.peak_rss_mb >= before.peak_rss_mb + 80
    # freed memory does not lower the high-water mark: the next stage shows the same peak
    assert not after.new_peak and after.peak_rss_mb >= allocates.peak_rss_mb


def test_peak_agrees_with_getrusage():
    # two readings of the same kernel counter (kB on Linux)
    assert peak_rss_mb() == pytest.approx(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rel=0.05)


def test_a_failing_stage_is_recorded():
    meter = StageMeter()
    with pytest.raises(RuntimeError), meter.stage("breaks"):
        raise RuntimeError("no")
    assert [c.name for c in meter.costs] == ["breaks"]
    assert set(meter.as_list()[0]) == {"name", "seconds", "cpu_seconds", "peak_rss_mb",
                                       "new_peak", "start_rss_mb", "stage_peak_mb"}


def test_each_stage_has_its_own_peak():
    # the peak so far cannot tell a later, smaller stage's memory: the sampled own peak can
    release_freed_memory()  # so the block below needs fresh pages, not ones freed earlier
    meter = StageMeter()
    with meter.stage("allocates"):
        block = bytearray(160 * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.15)  # several sampling intervals with the block resident
        del block
    with meter.stage("small"):
        time.sleep(0.1)
    big, small = meter.costs
    assert big.stage_peak_mb >= big.start_rss_mb + 150
    # a stage that allocates nothing peaks where it started, whatever came before it
    assert small.start_rss_mb <= small.stage_peak_mb <= small.start_rss_mb + 20
    assert small.peak_rss_mb >= big.stage_peak_mb - 1  # the high-water mark remembers
