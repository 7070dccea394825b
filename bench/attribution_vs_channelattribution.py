"""Markov-chain attribution: the command ``upmarket attribution`` against ``ChannelAttribution``
2.2.5's ``markov_model``, both run whole, on the same path table.

Goal: ours no slower (time ratio ChannelAttribution / ours >= 1.0) at order 1 and at order 3.

* Data: ``--customers`` journeys (1,000,000 by default) over 10 channels, simulated with numpy from
  a fixed seed: the first channel from an entry mix, each next one from a first-order transition
  matrix (channels tend to repeat and funnel towards search and direct), journey lengths geometric
  (mean ~3.4 touches), and conversion by a noisy-OR of the channels touched.  Aggregated to the
  ChannelAttribution table (``path,total_conversions,total_conversion_value,total_null``, paths
  like ``search > email > offline``): about 200,000 distinct paths at a million journeys.
* Timed: the wall clock of each whole command as a subprocess — start-up, imports, reading the CSV,
  the model, writing the result.  Ours: ``upmarket attribution --paths FILE --model markov --order K
  --json`` from the project's virtualenv.  Theirs: ``bench/_channelattribution_driver.py`` (read
  the CSV with pandas, ``markov_model`` with its defaults, write JSON) in its own virtualenv
  ``.bench-venv-attribution/`` (created here on first use, recreated when the pins change).
  Interleaved rounds, alternating which side goes first; the best time of each side is kept.
  Both sides run from compiled bytecode: pip compiled ChannelAttribution's virtualenv at install,
  while the project's virtualenv is installed by uv without bytecode and this machine sets
  PYTHONDONTWRITEBYTECODE, so ours is given a private ``PYTHONPYCACHEPREFIX`` (an untimed warm-up
  run fills it), as any normal installation would have.
* Agreement: ours computes the removal effects exactly (absorbing-chain solve); ChannelAttribution
  estimates them by simulating walks, so its attributions carry Monte-Carlo error, which this
  reports per channel (relative to ours), largest for the small channels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import REPO_ROOT, command, fmt_seconds, machine_info, today, update_section

NAME = "attribution"
DESCRIPTION = "Markov attribution command, upmarket vs ChannelAttribution 2.2.5"

SEED = 20160301  # Anderl et al.'s IJRM paper, 2016
ORDERS = (1, 3)
GOAL_RATIO = 1.0

CHANNELS = ("search", "social", "email", "display", "video", "affiliate", "direct", "referral",
            "sms", "offline")
#: where journeys start, and each channel's pull as the next touch
ENTRY = np.array([0.20, 0.16, 0.10, 0.14, 0.10, 0.07, 0.10, 0.05, 0.04, 0.04])
PULL = np.array([0.22, 0.12, 0.10, 0.10, 0.08, 0.06, 0.16, 0.06, 0.05, 0.05])
STICK = 0.25  # probability that the next touch is the same channel again
#: per-touch conversion lift of each channel (noisy-OR), and the baseline
LIFT = np.array([0.06, 0.02, 0.05, 0.01, 0.02, 0.04, 0.08, 0.07, 0.02, 0.09])
BASE = 0.01
P_STOP = 0.295  # journey length 1 + Geometric: calibrated to ~200k distinct paths at 1M journeys
MAX_LEN = 40

# The ChannelAttribution side.  Its sdist's build-system asks for oldest-supported-numpy (numpy
# 1.x), and an extension built against numpy 1.x does not import under numpy 2, so it is built
# without build isolation against the pinned numpy 2.4.6 — the project's numpy, as are pandas
# 3.1.1 and the rest, so both sides use the same numpy and pandas builds.  It compiles its C++ core
# (Armadillo) in about 30 s.  ChannelAttribution imports matplotlib.pyplot at import time without
# declaring it, so matplotlib and its dependencies are pinned too.
CA_PINS = (
    "numpy==2.4.6",
    "pandas==3.1.1",
    "python-dateutil==4.0.0",
    "tzdata==2026.6",
    "matplotlib==3.11.2",
    "contourpy==1.3.3",
    "cycler==0.12.1",
    "fonttools==4.68.0",
    "kiwisolver==1.5.1",
    "packaging==26.3",
    "pillow==13.0.0",
    "pyparsing==3.3.3",
)
CA_BUILD = ("Cython==3.3.1", "setuptools==84.2.1", "wheel==0.48.0")
CA_PACKAGE = "channelattribution==2.2.5"
BENCH_VENV = REPO_ROOT / ".bench-venv-attribution"
DRIVER = Path(__file__).resolve().parent / "_channelattribution_driver.py"
BASE_PYTHON = os.environ.get("BENCH_PYTHON", "python3")

# 5 rounds x 2 orders x 2 sides at 2-4 s a command: about a minute on a 2-core EPYC.
ROUNDS = 5


# ----------------------------------------------------------------------------- data


def simulate(journeys: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """`journeys` journeys as channel codes, vectorised over journeys step by step.

    Returns ``codes`` (journeys x MAX_LEN, uint8, 255 past a journey's end), ``length``,
    ``converted`` and ``value`` (0 for non-converting journeys; lognormal, mean ~ 80)."""
    rng = np.random.default_rng(seed)
    k = len(CHANNELS)
    move = np.tile(PULL, (k, 1)) * (1 - STICK) + np.eye(k) * STICK
    cum = np.cumsum(move / move.sum(axis=1, keepdims=True), axis=1)
    length = np.minimum(rng.geometric(P_STOP, journeys), MAX_LEN)
    codes = np.full((journeys, MAX_LEN), 255, dtype=np.uint8)
    cur = rng.choice(k, size=journeys, p=ENTRY / ENTRY.sum())
    codes[:, 0] = cur
    miss = np.full(journeys, 1.0 - BASE)
    seen = np.zeros((journeys, k), dtype=bool)
    seen[np.arange(journeys), cur] = True
    for t in range(1, MAX_LEN):
        alive = np.flatnonzero(length > t)
        if not len(alive):
            break
        u = rng.random(len(alive))
        nxt = (u[:, None] > cum[cur[alive]]).sum(axis=1).clip(0, k - 1)
        cur[alive] = nxt
        codes[alive, t] = nxt
        seen[alive, nxt] = True
    miss *= np.prod(np.where(seen, 1.0 - LIFT, 1.0), axis=1)
    converted = rng.random(journeys) >= miss
    value = np.where(converted, np.round(rng.lognormal(4.0, 0.8, journeys), 2), 0.0)
    return {"codes": codes, "length": length, "converted": converted, "value": value}


def path_table(sim: dict[str, np.ndarray]):
    """The ChannelAttribution table of the simulated journeys: one row per distinct path."""
    import pandas as pd

    codes = np.ascontiguousarray(sim["codes"])
    rows = codes.view(np.dtype((np.void, codes.shape[1]))).ravel()
    uniq, first, inv = np.unique(rows, return_index=True, return_inverse=True)
    conv = np.bincount(inv, weights=sim["converted"]).astype(np.int64)
    null = np.bincount(inv, weights=~sim["converted"]).astype(np.int64)
    value = np.round(np.bincount(inv, weights=sim["value"]), 2)
    names = np.array(CHANNELS, dtype=object)
    paths = [" > ".join(names[r[:n]]) for r, n in zip(codes[first], sim["length"][first])]
    return pd.DataFrame({"path": paths, "total_conversions": conv,
                         "total_conversion_value": value, "total_null": null})


# ----------------------------------------------------------------------------- the two sides


def _venv_python() -> Path:
    return BENCH_VENV / "bin" / "python"


def ensure_venv() -> Path:
    """Create ``.bench-venv-attribution`` with the pinned ChannelAttribution stack unless it
    already holds exactly it."""
    stamp = BENCH_VENV / ".bench-pins"
    want = "\n".join((*CA_BUILD, *CA_PINS, CA_PACKAGE)) + "\n"
    if _venv_python().exists() and stamp.exists() and stamp.read_text() == want:
        return _venv_python()
    if BENCH_VENV.exists():
        shutil.rmtree(BENCH_VENV)
    print(f"  creating {BENCH_VENV.name}/ with {CA_PACKAGE} (compiles its C++ core; first run "
          f"only) ...", flush=True)
    subprocess.run([BASE_PYTHON, "-m", "venv", str(BENCH_VENV)], check=True)
    pip = [str(_venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "--no-input"]
    for step in ([*CA_BUILD, *CA_PINS], ["--no-build-isolation", "--no-deps", CA_PACKAGE]):
        proc = subprocess.run([*pip, *step], capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(BENCH_VENV, ignore_errors=True)
            raise RuntimeError(f"could not install the ChannelAttribution benchmark venv "
                               f"({' '.join(step)}):\n{proc.stdout}\n{proc.stderr}")
    stamp.write_text(want)
    return _venv_python()


def _ours_command() -> list[str]:
    script = Path(sys.executable).with_name("upmarket")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from upmarket.cli import app; sys.exit(app())"]


def _ours_env(pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_ours(csv: Path, order: int, env: dict[str, str]) -> tuple[float, dict]:
    cmd = [*_ours_command(), "attribution", "--paths", str(csv), "--model", "markov",
           "--order", str(order), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"upmarket attribution failed ({proc.returncode}):\n{proc.stderr}")
    out = json.loads(proc.stdout)
    return wall, {r["channel"]: {"conversions": r["conversions"], "value": r["value"]}
                  for r in out["channels"]}


def run_theirs(csv: Path, order: int, out: Path) -> tuple[float, dict]:
    # -I: isolated (no user site, no PYTHON* variables, script dir not on sys.path)
    cmd = [str(_venv_python()), "-I", str(DRIVER), str(csv), str(order), str(out)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"ChannelAttribution driver failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    return wall, json.loads(out.read_text())


def startup(env: dict[str, str]) -> tuple[float, float]:
    """Context: each side's fixed start-up, the same commands doing no work —
    ``upmarket attribution --help`` and ``python -c 'import pandas, ChannelAttribution'``."""
    t0 = time.perf_counter()
    subprocess.run([*_ours_command(), "attribution", "--help"], capture_output=True, env=env,
                   check=True)
    t1 = time.perf_counter()
    subprocess.run([str(_venv_python()), "-I", "-c", "import pandas, ChannelAttribution"],
                   capture_output=True, check=True)
    return t1 - t0, time.perf_counter() - t1


# ----------------------------------------------------------------------------- report


def _pct(a: float, b: float) -> float:
    return 100.0 * (a - b) / b if b else float("nan")


def run(customers: int = 1_000_000, quick: bool = False) -> dict:
    import pandas as pd

    from upmarket.models.attribution import MarkovChain, parse_paths

    t_start = time.perf_counter()
    journeys = customers
    t0 = time.perf_counter()
    sim = simulate(journeys)
    table = path_table(sim)
    t_sim = time.perf_counter() - t0
    touches = int(sim["length"].sum())
    n_conv = int(sim["converted"].sum())
    print(f"  simulated {journeys:,} journeys ({touches:,} touches, {n_conv:,} conversions) -> "
          f"{len(table):,} distinct paths in {t_sim:.1f} s", flush=True)

    ensure_venv()
    ours_t = {k: [] for k in ORDERS}
    theirs_t = {k: [] for k in ORDERS}
    ours_res, theirs_res, boot = {}, {}, []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-attribution-") as tmp:
        csv = Path(tmp) / "paths.csv"
        table.to_csv(csv, index=False)
        size_mb = csv.stat().st_size / 1e6
        env = _ours_env(Path(tmp) / "pycache")
        run_ours(csv, 1, env)  # warm-up, untimed: compiles our bytecode, warms the file cache
        run_theirs(csv, 1, Path(tmp) / "warm.json")
        for i in range(ROUNDS):
            for order in ORDERS:
                sides = ("theirs", "ours") if (i + order) % 2 else ("ours", "theirs")
                for side in sides:
                    if side == "ours":
                        wall, ours_res[order] = run_ours(csv, order, env)
                        ours_t[order].append(wall)
                    else:
                        wall, theirs_res[order] = run_theirs(csv, order, Path(tmp) / "ca.json")
                        theirs_t[order].append(wall)
            boot.append(startup(env))
            print(f"  round {i + 1}/{ROUNDS}: " + "; ".join(
                f"order {k}: ours {fmt_seconds(ours_t[k][-1])}, ChannelAttribution "
                f"{fmt_seconds(theirs_t[k][-1])}" for k in ORDERS), flush=True)
        # exact removal effects, in process (not timed), for the agreement table
        data = parse_paths(table)
        exact = {k: MarkovChain(order=k).fit(data) for k in ORDERS}
    load_after = os.getloadavg()[0]

    ratio = {k: min(theirs_t[k]) / min(ours_t[k]) for k in ORDERS}
    met = all(r >= GOAL_RATIO for r in ratio.values())
    versions = theirs_res[ORDERS[0]]["versions"]
    total_c, total_v = data.total_conversions, data.total_value

    time_rows = [f"| {k} | {fmt_seconds(min(ours_t[k]))} | {fmt_seconds(float(np.median(ours_t[k])))} | "
                 f"{fmt_seconds(min(theirs_t[k]))} | {fmt_seconds(float(np.median(theirs_t[k])))} | "
                 f"**{ratio[k]:.2f}** |" for k in ORDERS]
    agree_rows, worst = [], {}
    for k in ORDERS:
        ours_c = exact[k].attribution_.set_index("channel")
        worst[k] = (0.0, 0.0)
        for ch in ours_c.index:
            o = float(ours_c.at[ch, "conversions"])
            o_cli = ours_res[k][ch]["conversions"]
            th = theirs_res[k]["channels"].get(ch, {"conversions": 0.0, "value": 0.0})
            d_c = _pct(th["conversions"], o)
            d_v = _pct(th["value"], float(ours_c.at[ch, "value"]))
            worst[k] = (max(worst[k][0], abs(d_c)), max(worst[k][1], abs(d_v)))
            if abs(o_cli - o) > 1e-6 * max(1.0, o):
                raise RuntimeError(f"order {k}, {ch}: the command printed {o_cli}, the model "
                                   f"gives {o}")
            agree_rows.append(f"| {k} | {ch} | {o / total_c:.1%} | "
                              f"{exact[k].removal_effects_[ch]:.4f} | {o:,.1f} | "
                              f"{th['conversions']:,.1f} | {d_c:+.2f} % | {d_v:+.2f} % |")
    b_ours = min(b[0] for b in boot)
    b_theirs = min(b[1] for b in boot)
    mi = machine_info()
    total_wall = time.perf_counter() - t_start
    loaded = max(load_before, load_after) > 1.5
    body = f"""
## Markov attribution: `upmarket attribution` vs ChannelAttribution 2.2.5

Goal: the whole command `upmarket attribution --model markov` no slower than a whole script running ChannelAttribution's `markov_model` on the same path table (time ratio ChannelAttribution / ours >= {GOAL_RATIO:g}) at order 1 and order 3. **{"MET" if met else "NOT MET"}** in this run: ratio {ratio[1]:.2f} at order 1, {ratio[3]:.2f} at order 3.

- Run: {today()}, `{command("attribution", customers, quick)}` (`bench/attribution_vs_channelattribution.py`), {total_wall:.0f} s in all
- Machine: {mi['nproc']} CPUs (nproc), {mi['cpu']}, {mi['memory']} RAM, {mi['os']}
- Data: {journeys:,} simulated journeys over {len(CHANNELS)} channels ({touches:,} touches, {n_conv:,} conversions, value {total_v:,.0f}), seed {SEED}: first-order channel transitions, lengths 1 + geometric (p = {P_STOP}, at most {MAX_LEN}), noisy-OR conversion; aggregated to **{len(table):,} distinct paths**, a {size_mb:.1f} MB CSV `path,total_conversions,total_conversion_value,total_null`
- Ours: `upmarket attribution --paths FILE --model markov --order K --json`, Python {mi['python']}, numpy {np.__version__}, pandas {pd.__version__}; exact removal effects (absorbing-chain solve)
- ChannelAttribution: `bench/_channelattribution_driver.py FILE K OUT` — `pandas.read_csv`, `markov_model(data, "path", "total_conversions", var_value="total_conversion_value", var_null="total_null", order=K, sep=">")` with its defaults otherwise (simulated removal effects, 1 thread, seed 0), result written as JSON; in `.bench-venv-attribution/` (Python {versions['python']}, ChannelAttribution {versions['ChannelAttribution']}, numpy {versions['numpy']}, pandas {versions['pandas']})
- Timed: wall clock of each whole command as a subprocess (start-up, imports, reading the CSV, the model, the output), both from compiled bytecode; after an untimed warm-up of each, {ROUNDS} interleaved rounds alternating which side goes first; 1-min load average {load_before:.1f} before, {load_after:.1f} after ({mi['nproc']} CPUs{'; other work was running, so absolute times are inflated' if loaded else ''})

| order | ours (best) | ours (median) | ChannelAttribution (best) | ChannelAttribution (median) | ratio (best) |
| ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(time_rows)}

Fixed start-up, for context (the same commands doing no work, best of {ROUNDS}): `upmarket attribution --help` {fmt_seconds(b_ours)}; `python -c "import pandas, ChannelAttribution"` {fmt_seconds(b_theirs)}.

Agreement. ChannelAttribution estimates the removal effects by simulating walks on the chain; ours solves them exactly, so the differences below are its Monte-Carlo error (the command's JSON equals the in-process exact model to 1e-6). Largest difference in attributed conversions: **{worst[1][0]:.2f} %** at order 1, **{worst[3][0]:.2f} %** at order 3 (value: {worst[1][1]:.2f} %, {worst[3][1]:.2f} %); the differences are typically largest for the smaller channels.

| order | channel | share (ours) | removal effect (ours) | conversions, ours (exact) | conversions, ChannelAttribution | difference | value difference |
| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(agree_rows)}
"""
    update_section(NAME, body)
    print(f"  ratio ChannelAttribution/ours: order 1 {ratio[1]:.2f}, order 3 {ratio[3]:.2f}; "
          f"largest attribution difference {worst[1][0]:.2f} % / {worst[3][0]:.2f} %; goal "
          f"{'MET' if met else 'NOT MET'}", flush=True)
    return {"ratio": ratio, "met": met, "ours_times": ours_t, "theirs_times": theirs_t,
            "worst_pct": worst, "paths": len(table), "startup": (b_ours, b_theirs)}


if __name__ == "__main__":  # python -m bench.attribution_vs_channelattribution [JOURNEYS]
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
