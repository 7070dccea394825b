from __future__ import annotations

import itertools

import numpy as np

from upmarket.i18n import LANGS, label
from upmarket.strategy.segments import SEGMENTS, segment_codes, segment_name


def test_all_cells_named_and_every_segment_reachable():
    cells = list(itertools.product(range(1, 6), repeat=3))
    r, f, m = (np.array(c) for c in zip(*cells))
    codes = segment_codes(r, f, m)
    assert set(codes) == set(SEGMENTS)


def test_known_cells():
    def one(r, f, m):
        return segment_codes(np.array([r]), np.array([f]), np.array([m]))[0]

    assert one(5, 5, 5) == "champions"
    assert one(1, 5, 5) == "cant_lose"
    assert one(1, 1, 1) == "lost"
    assert one(5, 1, 1) == "new"
    assert one(2, 4, 3) == "at_risk"
    assert one(3, 3, 3) == "need_attention"


def test_other_bin_counts_map_onto_the_grid():
    assert segment_codes(np.array([3]), np.array([3]), np.array([3]), bins=3)[0] == "champions"
    assert segment_codes(np.array([1]), np.array([1]), np.array([1]), bins=3)[0] == "lost"


def test_names_in_both_languages():
    for code in SEGMENTS:
        assert segment_name(code, "en") and segment_name(code, "zh")
    assert segment_name("champions", "zh") == label("segment.champions", "zh-CN") == "冠军客户"
    assert LANGS == ("en", "zh-CN")
