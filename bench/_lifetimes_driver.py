"""Fits BG/NBD and Gamma-Gamma with ``lifetimes`` 0.11.3; run by bench/btyd_vs_lifetimes.py in the
separate ``.bench-venv`` (lifetimes is not a project dependency).  Stand-alone on purpose: it
imports nothing from this repository.

    python _lifetimes_driver.py DATA.npz OUT.json REPEATS

DATA.npz holds frequency, recency, T (all customers) and rep_frequency, rep_monetary (customers with
repeat purchases).  Only the two ``fit`` calls are timed (wall clock, ``time.perf_counter``); the
best of REPEATS runs of each is reported, with the estimates of the last run.

For context it also times the same fits on the distinct rows with their counts as ``weights``
(lifetimes' documented way to condense a large customer base; the condensing itself, done here
with numpy, is not timed).
"""

from __future__ import annotations

import json
import sys
import time
import warnings


def main(data_path: str, out_path: str, repeats: int) -> None:
    import numpy as np

    warnings.simplefilter("ignore")  # lifetimes' and pandas' deprecation chatter
    from importlib.metadata import version

    from lifetimes import BetaGeoFitter, GammaGammaFitter

    with np.load(data_path) as d:
        x, tx, T = d["frequency"], d["recency"], d["T"]
        rx, rm = d["rep_frequency"], d["rep_monetary"]

    bg_times, gg_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bgf = BetaGeoFitter().fit(x, tx, T)
        bg_times.append(time.perf_counter() - t0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        ggf = GammaGammaFitter().fit(rx, rm)
        gg_times.append(time.perf_counter() - t0)

    versions = {name: version(name) for name in ("lifetimes", "numpy", "scipy", "pandas", "autograd")}
    versions["python"] = sys.version.split()[0]
    # context: the same fits on condensed rows (distinct rows + counts as weights)
    rows, w = np.unique(np.column_stack([x, tx, T]), axis=0, return_counts=True)
    rrows, rw = np.unique(np.column_stack([rx, rm]), axis=0, return_counts=True)
    bgw_times, ggw_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        bgw = BetaGeoFitter().fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=w)
        bgw_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ggw = GammaGammaFitter().fit(rrows[:, 0], rrows[:, 1], weights=rw)
        ggw_times.append(time.perf_counter() - t0)

    out = {
        "bg_times": bg_times,
        "gg_times": gg_times,
        "bg_params": {k: float(v) for k, v in bgf.params_.items()},
        "gg_params": {k: float(v) for k, v in ggf.params_.items()},
        # lifetimes reports the mean negative log-likelihood, the BG/NBD one on its rescaled time axis
        "bg_mean_nll_scaled": float(bgf._negative_log_likelihood_),
        "gg_mean_nll": float(ggf._negative_log_likelihood_),
        "bg_weighted_times": bgw_times,
        "gg_weighted_times": ggw_times,
        "bg_weighted_params": {k: float(v) for k, v in bgw.params_.items()},
        "gg_weighted_params": {k: float(v) for k, v in ggw.params_.items()},
        "bg_distinct_rows": int(rows.shape[0]),
        "gg_distinct_rows": int(rrows.shape[0]),
        "versions": versions,
    }
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
