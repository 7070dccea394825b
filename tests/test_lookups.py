"""`among` gives `isin` whether the candidates come as Python values or as Arrow (ids read
from the engine), including empty and all-missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from upmarket.lookups import among


def test_arrow_candidates_give_what_python_candidates_give():
    ids = ["C1", "C2", "C3", "C9"]
    values = [pd.Series(["C2", "C4", None, "C9", "C2"]), pd.Series([], dtype=object),
              pd.Series([None, None])]
    for v in values:
        want = v.isin(ids).to_numpy(bool)
        np.testing.assert_array_equal(among(v, ids), want)
        np.testing.assert_array_equal(among(v, pa.array(ids)), want)
        np.testing.assert_array_equal(among(v, pa.chunked_array([ids[:2], ids[2:]])), want)
