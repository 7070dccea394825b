"""The one-sided always-valid test and bound (`models.sequential.msprt_upper`): it rejects
"θ ≥ θ₀" only on an estimate below θ₀, keeps its error at any number of looks (and below it
when θ lies above θ₀), and its upper bound is nearer the estimate than the upper end of the
two-sided interval at the same level."""

from __future__ import annotations

import math

import numpy as np
import pytest

from upmarket.models.sequential import msprt, msprt_upper


@pytest.mark.parametrize("alpha", [0.05, 0.05 / 8])
@pytest.mark.parametrize("ratio", [0.5, 1.0, 4.0])
def test_the_one_sided_bound_is_nearer_than_the_two_sided_intervals_upper_end(alpha, ratio):
    variance, tau = 0.0001, 0.01 * ratio
    for d in (-0.02, 0.0, 0.013):
        p, upper = msprt_upper(d, variance, tau, alpha)
        _, _, high = msprt(d, variance, tau, alpha)
        assert d < upper < high
        # and it is the level's boundary: θ₀ just above it rejected, just below it not
        assert msprt_upper(d, variance, tau, alpha, null=upper * 1.001 + 1e-9)[0] < alpha
        assert msprt_upper(d, variance, tau, alpha, null=upper - 1e-4)[0] >= alpha


def test_only_an_estimate_below_the_null_counts_against_it():
    for d in (0.05, 0.2, 1.0):
        assert msprt_upper(d, 0.01, 0.05, null=0.0)[0] == 1.0
    p_near, _ = msprt_upper(-0.25, 0.01, 0.05)
    p_far, _ = msprt_upper(-0.4, 0.01, 0.05)
    assert p_far < p_near < 1.0
    assert math.isnan(msprt_upper(math.nan, 0.01, 0.05)[0])
    assert math.isnan(msprt_upper(0.0, 0.01, 0.0)[1])


def _ever_rejected(theta: float, null: float, rng, paths: int = 500,
                   looks=(50, 100, 200, 400, 800, 1600, 3200, 6400), alpha: float = 0.05):
    """Share of running means of N(θ, 1) draws, read at every look, that ever reject
    "θ ≥ `null`"."""
    x = rng.normal(theta, 1.0, (paths, looks[-1])).cumsum(axis=1)
    ever = np.zeros(paths, bool)
    for n in looks:
        for i in np.flatnonzero(~ever):
            ever[i] = msprt_upper(x[i, n - 1] / n, 1.0 / n, 0.1, alpha, null=null)[0] < alpha
    return ever.mean()


def test_read_at_every_look_it_keeps_its_error_and_finds_a_shortfall():
    rng = np.random.default_rng(7)
    paths = 300
    # at the null's edge, and above it (the composite null): at most alpha, with room for
    # the noise of 300 paths
    room = 0.05 + 2 * np.sqrt(0.05 * 0.95 / paths)
    assert _ever_rejected(0.1, 0.1, rng, paths) <= room
    assert _ever_rejected(0.13, 0.1, rng, paths) <= room
    # an effect 0.1 below the null is found by 6 400 draws in (nearly) every path
    assert _ever_rejected(0.0, 0.1, rng, paths) >= 0.95
