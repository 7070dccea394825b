"""Calibration-versus-holdout check of a transaction model: actual and expected mean holdout
purchases by calibration frequency, the classic conditional-expectation plot (Fader, Hardie &
Lee 2005, "Counting your customers the easy way", Figure 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import InvalidData, TransactionModel, as_array, broadcast, check_integral


def holdout_comparison(model: TransactionModel, frequency_cal, recency_cal, T_cal, frequency_holdout,
                       duration_holdout, max_frequency: int = 7) -> pd.DataFrame:
    """Mean holdout purchases, actual vs the model's conditional expectation, per calibration
    frequency 0, 1, ..., ``max_frequency - 1`` and a last bucket ``"{max_frequency}+"``.

    ``duration_holdout`` is the holdout length in model time units (a scalar or per customer).
    Returns a DataFrame indexed by ``frequency_cal`` (string labels) with columns
    ``n_customers``, ``actual``, ``expected`` (means per customer) and ``difference`` (expected
    minus actual), and a final ``"all"`` row.
    """
    if not isinstance(model, TransactionModel):
        raise InvalidData("model must be a fitted BetaGeo, ParetoNBD or BetaGeoBetaBinom")
    model._check_fitted()
    if int(max_frequency) != max_frequency or max_frequency < 1:
        raise InvalidData("max_frequency must be a whole number >= 1")
    x = as_array("frequency_cal", frequency_cal)
    tx = as_array("recency_cal", recency_cal)
    T = as_array("T_cal", T_cal)
    xh = as_array("frequency_holdout", frequency_holdout)
    x, tx, T, xh = broadcast(("frequency_cal", "recency_cal", "T_cal", "frequency_holdout"), (x, tx, T, xh),
                             same_length=True)
    check_integral("frequency_holdout", xh)
    dur = as_array("duration_holdout", duration_holdout)
    expected = model.conditional_expected_purchases(dur, x, tx, T)
    bucket = np.minimum(x, max_frequency).astype(int)
    labels = [str(i) for i in range(max_frequency)] + [f"{max_frequency}+"]
    df = pd.DataFrame({"bucket": bucket, "actual": xh, "expected": np.broadcast_to(expected, x.shape)})
    out = df.groupby("bucket").agg(n_customers=("actual", "size"), actual=("actual", "mean"),
                                   expected=("expected", "mean"))
    out = out.reindex(range(max_frequency + 1))
    out["n_customers"] = out["n_customers"].fillna(0).astype(int)
    out.index = pd.Index(labels, name="frequency_cal")
    total = pd.DataFrame({"n_customers": [len(df)], "actual": [df["actual"].mean()],
                          "expected": [df["expected"].mean()]}, index=pd.Index(["all"], name="frequency_cal"))
    out = pd.concat([out, total])
    out.index.name = "frequency_cal"
    out["difference"] = out["expected"] - out["actual"]
    return out
