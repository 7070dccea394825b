"""Which values are among a set of candidates, for ids in the millions.

pandas' own `Series.isin` on Arrow-backed strings converts the candidates one Python object at
a time; at a million order ids that costs more than the rest of the membership ledger. Arrow's
hashed `is_in` does the same test in one pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def among(values, candidates) -> np.ndarray:
    """`values.isin(candidates)` as a boolean array, hashed in Arrow: pandas' own `isin` on
    Arrow-backed strings converts the candidates one Python object at a time, which at a
    million order ids costs more than the rest of the ledger."""
    values = pd.Series(values)
    if isinstance(candidates, (pa.Array, pa.ChunkedArray)):
        # already Arrow (a million ids read from the engine): hashed as they are, never
        # turned into Python objects
        try:
            v = pa.array(values, from_pandas=True)
            return pc.is_in(v, value_set=candidates.cast(v.type)).to_numpy(
                zero_copy_only=False).astype(bool)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return values.isin(candidates.to_pylist()).to_numpy(bool)
    if isinstance(candidates, (set, frozenset)):
        candidates = list(candidates)
    wanted = pd.unique(np.asarray(candidates, dtype=object))
    try:
        v = pa.array(values, from_pandas=True)
        found = pc.is_in(v, value_set=pa.array(wanted, from_pandas=True).cast(v.type))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return values.isin(wanted).to_numpy(bool)
    return found.to_numpy(zero_copy_only=False).astype(bool)
