"""Reading experiments every week: how often `upmarket experiments --from-csv … --until` calls an
A/A test significant at any of ten weekly looks, and how often it finds a true +30 % relative
uplift by the tenth, against the same tests read once at the end with a classical test.

Each scenario is 200 simulated experiments of 2 × 2,000 users entering uniformly over 10 weeks,
5 % conversion in the control (a converter spends 50), the treatment at the control's rate (A/A)
or 1.3 × it. The file is read as a user reads it, by the command in a separate process, at each
weekly cut-off, with each experiment judged on its own (``--multiplicity none``: one analyst,
one test) and with all 200 read together (``bh``, the default). The always-valid test's scale
is set from the effect the analyst plans for (``--mde``): the default 10 % and the 30 % of the
uplift scenario. The ceiling for any test that keeps its error at 5 % is the power of one
classical look at the end, computed exactly here by summing the two binomial distributions
over the region where the pooled two-proportion z-test rejects.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import machine_info, today, update_section

NAME = "experiment_looks"
DESCRIPTION = "A/A and +30 % experiments read at ten weekly looks with --from-csv --until"

EXPERIMENTS, USERS, WEEKS, BASE, LIFT, ALPHA = 200, 2_000, 10, 0.05, 0.30, 0.05
START = pd.Timestamp("2025-01-06")


def simulate(path: Path, lift: float, experiments: int, rng: np.random.Generator) -> None:
    """`experiments` tests of 2 × USERS users, in the columns --from-csv reads."""
    frames = []
    for e in range(experiments):
        for arm, p in (("A", BASE), ("B", BASE * (1 + lift))):
            entered = START + pd.to_timedelta(rng.uniform(0, 7 * WEEKS, USERS), unit="D")
            converted = rng.random(USERS) < p
            frames.append(pd.DataFrame({
                "experiment": f"E{e:03d}", "arm": arm,
                "user_id": [f"{e}-{arm}-{i}" for i in range(USERS)],
                "ts": entered.floor("s"), "converted": converted.astype(int),
                "revenue": np.where(converted, 50.0, 0.0)}))
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


def read(path: Path, until: pd.Timestamp | None, *args: str) -> dict[str, bool]:
    """Which experiments the command calls significant as the file stood at `until`."""
    exe = str(Path(sys.executable).with_name("upmarket"))
    cmd = [exe, "experiments", "--from-csv", str(path), "--control", "A", "--json", *args]
    if until is not None:
        cmd += ["--until", f"{until:%Y-%m-%d}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPMARKET_")}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return {r["experiment"]: bool(r["significant"])
            for r in json.loads(out.stdout)["experiments"]}


def fixed_power(n: int, p0: float, p1: float, alpha: float, sided: int) -> float:
    """Exact power of the pooled two-proportion z-test with `n` users an arm."""
    k = np.arange(n + 1)
    a, b = stats.binom.pmf(k, n, p0), stats.binom.pmf(k, n, p1)
    x0, x1 = np.meshgrid(k, k, indexing="ij")
    pooled = (x0 + x1) / (2 * n)
    se = np.sqrt(pooled * (1 - pooled) * 2 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (x1 - x0) / n / se, 0.0)
    crit = stats.norm.ppf(1 - alpha / sided)
    reject = (np.abs(z) > crit) if sided == 2 else (z > crit)
    return float((np.outer(a, b) * reject).sum())


def wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959964
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def run(customers: int, quick: bool) -> None:
    del customers  # the experiments' size is the question's own
    experiments = 50 if quick else EXPERIMENTS
    cpu0 = os.times()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for scenario, lift, seed in (("A/A", 0.0, 11), ("+30 %", LIFT, 12)):
            path = Path(tmp) / f"{seed}.csv"
            simulate(path, lift, experiments, np.random.default_rng(seed))
            for mde in ("0.10", "0.30"):
                for mult in ("none", "bh"):
                    ever = set()
                    for week in range(1, WEEKS + 1):
                        until = START + pd.Timedelta(days=7 * week)
                        called = read(path, until, "--mde", mde, "--multiplicity", mult)
                        ever |= {e for e, s in called.items() if s}
                    rows.append((scenario, f"always valid, --mde {mde}", mult, "10 weekly",
                                 len(ever), experiments))
                    print(f"  {scenario} mde {mde} {mult}: {len(ever)} of {experiments}",
                          flush=True)
            for mult in ("none", "bh"):
                called = read(path, None, "--fixed-horizon", "--multiplicity", mult)
                rows.append((scenario, "classical, one look", mult, "at week 10",
                             sum(called.values()), experiments))
    wall = time.perf_counter() - t0
    cpu1 = os.times()
    cpu = (cpu1.children_user + cpu1.children_system + cpu1.user + cpu1.system) - (
        cpu0.children_user + cpu0.children_system + cpu0.user + cpu0.system)
    two = fixed_power(USERS, BASE, BASE * (1 + LIFT), ALPHA, 2)
    one = fixed_power(USERS, BASE, BASE * (1 + LIFT), ALPHA, 1)
    size = fixed_power(USERS, BASE, BASE, ALPHA, 2)
    p1 = BASE * (1 + LIFT)
    needed = math.ceil((stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(0.8)) ** 2
                       * (BASE * (1 - BASE) + p1 * (1 - p1)) / (p1 - BASE) ** 2)
    m = machine_info()
    lines = [
        f"## Experiments read every week (`--from-csv … --until`) ({today()})",
        "",
        f"`python -m bench --only {NAME}{' --quick' if quick else ''}` on {m['nproc']} × "
        f"{m['cpu']}, Python {m['python']}: {experiments} simulated experiments per scenario, "
        f"2 × {USERS:,} users entering over {WEEKS} weeks, {BASE:.0%} conversion in the "
        f"control; the treatment at the same rate (A/A) or {1 + LIFT:.1f} × it (+30 % "
        f"relative, +{BASE * LIFT * 100:.1f} points). Each file read by the command in its "
        f"own process at each weekly cut-off; `none` judges each experiment at its own 5 %, "
        f"`bh` reads all of them together (the default). {wall / 60:.1f} min wall, "
        f"{cpu:.0f} s CPU.",
        "",
        "| scenario | test | multiplicity | looks | called significant (ever) | share [95 %] |",
        "|---|---|---|---|---:|---:|",
        *[f"| {s} | {t} | {mu} | {lk} | {k} of {n} | {k / n:.1%} "
          f"[{wilson(k, n)[0]:.1%}, {wilson(k, n)[1]:.1%}] |"
          for s, t, mu, lk, k, n in rows],
        "",
        f"The ceiling: one classical look at the end, exact over the binomial outcomes, pooled "
        f"z-test at 5 %: power **{two:.1%}** two-sided ({one:.1%} one-sided), size {size:.2%}. "
        f"No test that keeps its false-positive rate at 5 % can detect this uplift at this "
        f"size in 80 % of experiments; {needed:,} users an arm are needed for 80 % at one "
        f"look (normal approximation), and more for a test read every week.",
    ]
    update_section(NAME, "\n".join(lines))
