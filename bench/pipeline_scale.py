"""End to end: `upmarket run` on a synthetic world of a given size, with the wall time, CPU
time (user + system) and peak memory of the whole command and of each stage.

The world is generated and ingested first (not timed); then `upmarket run --json` runs as a
separate process, as a user runs it, so its peak resident memory is the command's own and not
this harness's. The whole command's figures come from the kernel's accounting of that child
(`os.wait4`: user + system CPU time, maximum resident set), the per-stage figures from the
run's own record (`stages` in its summary, `upmarket.stage_costs`): each stage's wall and CPU
time, and the peak memory so far at its end. CPU time counts the warehouse engine's threads
too (DuckDB runs in-process), so on a machine with several cores it can exceed wall time.

A world directory can be kept between runs with ``BENCH_WORLD_DIR`` (the warehouse is reused
when it is already there), since generating a large world takes longer than running on it. The
world is generated chunk by chunk (`WorldConfig.chunk_customers`), so a million customers fit in
the memory of a few hundred thousand; it is written under a temporary name and renamed when
complete, so an interrupted generation is never taken for a world. A kept world is never run
on itself: a run publishes into its warehouse (outputs, the action holdouts it decides, the
levels the next run compares with), so each run gets a fresh copy and every run starts from
the same world.
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

from upmarket.warehouse.connection import duckdb_path

from . import command, machine_info, today, update_section

NAME = "pipeline_scale"
DESCRIPTION = "`upmarket run` end to end: wall, CPU and peak memory per stage"


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} MB"


def _world(folder: Path, customers: int) -> tuple[str, int, float]:
    """The warehouse URL of a `customers`-customer world in `folder` (made if missing), its
    order lines, and the seconds generation took (0 when reused)."""
    from upmarket.demo import WorldConfig
    from upmarket.demo.load import load_world
    from upmarket.warehouse import connect

    db = folder / f"world-{customers}.duckdb"
    url = f"duckdb://{db}"
    made = 0.0
    if not db.exists():
        t = time.perf_counter()
        partial = db.with_name(db.name + ".partial")
        partial.unlink(missing_ok=True)
        wh = connect(f"duckdb://{partial}")
        load_world(wh, WorldConfig(customers=customers))
        wh.close()
        partial.rename(db)
        made = time.perf_counter() - t
    wh = connect(url, create=False)
    lines = wh.count("orders")
    wh.close()
    return url, lines, made


def measure_run(url: str, cwd: Path) -> dict:
    """Run `upmarket run --json` on `url` in a child process; its summary plus wall, CPU and
    peak-memory figures from the kernel."""
    exe = str(Path(sys.executable).with_name("upmarket"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPMARKET_")}
    # the pseudonymisation key the run makes goes beside the world, not in the user's folder
    env["UPMARKET_KEY_FILE"] = str(cwd / "upmarket.key")
    t = time.perf_counter()
    child = subprocess.Popen([exe, "run", "-w", url, "--json"], cwd=cwd, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"`upmarket run` failed with exit code {child.returncode}")
    summary = json.loads(out)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024, "summary": summary}


def run(customers: int, quick: bool) -> None:
    keep = os.environ.get("BENCH_WORLD_DIR")
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        url, lines, made = _world(folder, customers)
        print(f"  world: {customers:,} customers, {lines:,} order lines"
              + (f" (generated in {made:.0f} s)" if made else " (reused)"), flush=True)
        load = os.getloadavg()[0]
        if keep:
            # the kept world stays as generated: the run works on a copy of it
            copy = folder / f"run-{customers}.duckdb"
            shutil.copyfile(duckdb_path(url), copy)
            try:
                found = measure_run(f"duckdb://{copy}", folder)
            finally:
                copy.unlink(missing_ok=True)
        else:
            found = measure_run(url, folder)
        load = max(load, os.getloadavg()[0])
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    s = found["summary"]
    stages = s["stages"]
    for st in stages:
        print(f"  {st['name']}: {st['seconds']:.1f} s, CPU {st['cpu_seconds']:.1f} s, "
              f"own peak {_mb(st.get('stage_peak_mb'))} (from {_mb(st.get('start_rss_mb'))}), "
              f"peak so far {st['peak_rss_mb']:.0f} MB", flush=True)
    total_cpu = sum(st["cpu_seconds"] for st in stages)
    m = machine_info()
    lines_md = [
        f"## `upmarket run` end to end ({today()})",
        "",
        f"`{command(NAME, customers, quick)}` on {m['nproc']} × {m['cpu']} ({m['memory']}), "
        f"Python {m['python']}: the default synthetic world (`upmarket demo`, `--world btyd`) with "
        f"**{customers:,} customers** and {lines:,} order lines, already ingested; "
        "`upmarket run --json` in its own process. Whole command (kernel accounting of the "
        f"child): **{found['wall']:.1f} s** wall, **{found['cpu']:.1f} s** CPU (user + system), "
        f"peak resident memory **{found['peak_mb']:,.0f} MB**; the machine's load average "
        f"reached {load:.1f} on its {m['nproc']} cores (other work inflates wall times far "
        "more than CPU times). "
        f"{s.get('customers', 0):,} customers scored; customer features built for "
        f"{(s.get('feature_snapshots') or {}).get('built', '?')} dates "
        f"({(s.get('feature_snapshots') or {}).get('requested', '?')} requests).",
        "",
        "Per stage, from the run's own record (`upmarket run --json` → `stages`, also kept in "
        "`runs.counts`). CPU counts DuckDB's threads, so it can exceed wall time; the peak is "
        "the process's high-water mark at the end of the stage (peak *so far*; ▲ where the "
        "stage raised it); the stage's own peak is the resident memory sampled every 20 ms "
        "while it ran, beside what it started from. Start-up, opening the warehouse and "
        "publishing are the rest of the whole command's time.",
        "",
        "| stage | wall | CPU | CPU share | resident at start | own peak | peak so far |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[f"| {st['name']} | {st['seconds']:.1f} s | {st['cpu_seconds']:.1f} s | "
          f"{st['cpu_seconds'] / total_cpu:.0%} | {_mb(st.get('start_rss_mb'))} | "
          f"{_mb(st.get('stage_peak_mb'))} | {st['peak_rss_mb']:,.0f} MB"
          f"{' ▲' if st['new_peak'] else ''} |" for st in stages],
        f"| **all stages** | {sum(st['seconds'] for st in stages):.1f} s | {total_cpu:.1f} s "
        "| 100% | | | |",
    ]
    update_section(NAME, "\n".join(lines_md))
