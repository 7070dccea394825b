"""Classifiers on a bounded sample: what the churn and premium-propensity models train on when
the customers are many, and how they score everyone afterwards.

A logistic regression or a few hundred shallow trees stop learning long before 200,000 rows:
the holdout ranking of a model trained on 50,000 customers is the same within noise as one
trained on all of them, while the fit (and, for the calibrated logistic model, its three
cross-fitted copies) costs in proportion to the rows. So when a training set is larger than
`SAMPLE_ROWS` the model trains on a random sample of that many rows, drawn within each label
separately (stratified: the sample keeps the training set's share of churners or upgraders to
within one row) with a fixed draw, so a run is reproducible and two runs over the same data
train on the same customers. Below the bound every row is used and nothing changes.

Scoring never samples: every customer is scored, `BATCH_ROWS` at a time, so the model's input
matrix is bounded by the batch rather than by the number of customers.

The sample is the kind scikit-learn's `train_test_split(stratify=…)` draws; scoring in bounded
pieces is how the Databricks customer-lifetime-value accelerator scores (per partition).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Training rows above which a classifier trains on a stratified sample of this many.
SAMPLE_ROWS = 50_000
#: Rows scored at a time.
BATCH_ROWS = 50_000
#: The fixed draw of the sample.
DRAW = 20_241


@dataclass(frozen=True)
class TrainingSample:
    """Which rows a model trained on: `rows` (positions in the training set, sorted), how many
    that is, and how many there were."""

    rows: np.ndarray
    used: int
    of: int

    @property
    def sampled(self) -> bool:
        return self.used < self.of

    def summary(self) -> dict:
        return {"sampled": self.sampled, "rows": self.used, "of": self.of}


def stratified(labels, limit: int | None = SAMPLE_ROWS, *, draw: int = DRAW) -> TrainingSample:
    """`limit` positions of `labels`, each label's share kept (rounded to whole rows, and at
    least two rows of a label that has them): all positions when there are no more than
    `limit` or `limit` is None."""
    y = np.asarray(labels)
    n = len(y)
    if limit is None or n <= limit:
        return TrainingSample(np.arange(n), n, n)
    if limit < 10:
        raise ValueError(f"a training sample of {limit} rows is too small to train on: "
                         "allow at least 10")
    rng = np.random.default_rng(draw)
    values, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    # each label's share of the sample, rounded so the sizes add up to `limit` exactly
    # (largest remainders first), and never rounded away entirely
    exact = counts * limit / n
    take = np.floor(exact).astype(int)
    short = limit - take.sum()
    take[np.argsort(-(exact - np.floor(exact)), kind="stable")[:short]] += 1
    # a rare label keeps two rows (what a calibration fold needs), paid for by the largest
    floor = np.minimum(counts, 2)
    extra = np.maximum(floor - take, 0)
    take = take + extra
    take[np.argmax(take)] -= extra.sum()
    picked = [rng.choice(np.flatnonzero(inverse == k), size=int(t), replace=False)
              for k, t in enumerate(take)]
    rows = np.sort(np.concatenate(picked))
    return TrainingSample(rows, len(rows), n)


def in_batches(score: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame,
               rows: int = BATCH_ROWS) -> np.ndarray:
    """`score(frame)` computed `rows` at a time and put back together in order."""
    if len(frame) <= rows:
        return np.asarray(score(frame), float)
    return np.concatenate([np.asarray(score(frame.iloc[i:i + rows]), float)
                           for i in range(0, len(frame), rows)])
