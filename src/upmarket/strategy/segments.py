"""Named RFM segments (the key-account strategy course) from R and FM scores, in English and Chinese.

FM is the rounded mean of the F and M scores. The first matching rule wins; together the rules
cover all 25 (R, FM) cells of a 5-bin grid:

            FM=1            2                3               4–5
    R=5     New             Potential loy.   Loyal           Champions
    R=4     Promising       Potential loy.   Loyal           Champions
    R=3     About to sleep  About to sleep   Need attention  Loyal
    R=2     Hibernating     Hibernating      At risk         At risk
    R=1     Lost            Lost             At risk         Can't lose
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from upmarket.i18n import label

#: Segment codes in display order; their labels are `segment.<code>` in `upmarket.i18n`.
SEGMENTS = (
    "champions", "loyal", "potential_loyalist", "new", "promising", "need_attention",
    "about_to_sleep", "at_risk", "cant_lose", "hibernating", "lost",
)


def segment_codes(r: np.ndarray, f: np.ndarray, m: np.ndarray, bins: int = 5) -> np.ndarray:
    """Segment code per customer from 1..bins scores (rescaled to the 5-bin grid)."""
    r = np.asarray(r, float)
    fm = (np.asarray(f, float) + np.asarray(m, float)) / 2
    if bins != 5:
        r = 1 + (r - 1) * 4 / (bins - 1)
        fm = 1 + (fm - 1) * 4 / (bins - 1)
    r = np.rint(r)
    fm = np.floor(fm + 0.5)  # round half up: (4+3)/2 counts as 4
    rules = [
        ("champions", (r >= 4) & (fm >= 4)),
        ("loyal", ((r >= 4) & (fm == 3)) | ((r == 3) & (fm >= 4))),
        ("need_attention", (r == 3) & (fm == 3)),
        ("potential_loyalist", (r >= 4) & (fm == 2)),
        ("new", (r == 5) & (fm <= 1)),
        ("promising", (r == 4) & (fm <= 1)),
        ("about_to_sleep", (r == 3) & (fm <= 2)),
        ("cant_lose", (r <= 1) & (fm >= 4)),
        ("at_risk", (r <= 2) & (fm >= 3)),
        ("hibernating", (r == 2) & (fm <= 2)),
        ("lost", (r <= 1) & (fm <= 2)),
    ]
    return np.select([m_ for _, m_ in rules], [name for name, _ in rules], default="lost")


def segment_name(code: str, lang: str | None = None) -> str:
    return label(f"segment.{code}", lang)


def name_segments(codes: pd.Series, lang: str | None = None) -> pd.Series:
    return codes.map(lambda c: segment_name(c, lang))
