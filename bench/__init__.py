"""Benchmarks: ``python -m bench`` (or ``make bench``) runs them all and records the results in
``BENCHMARKS.md`` at the repository root.

Speed goals are judged here, never by timed unit tests: every benchmark measures its own baseline
in the same run on the same machine and reports a ratio against it, so the numbers do not depend
on how fast the machine happens to be.  Each benchmark module owns one section of BENCHMARKS.md,
delimited by ``<!-- bench:NAME -->`` ... ``<!-- /bench:NAME -->``, and rewrites only that section
(see :func:`update_section`), so modules can be added without clobbering each other's results.

A benchmark module exposes ``NAME`` (the section name, also the ``--only`` key), ``DESCRIPTION``
and ``run(customers: int, quick: bool) -> None``; list it in :data:`BENCHMARKS`.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"

# section name -> module (imported lazily by bench.__main__)
BENCHMARKS: dict[str, str] = {
    "btyd": "bench.btyd_vs_lifetimes",
    "attribution": "bench.attribution_vs_channelattribution",
    "recommend": "bench.recommendations",
    "collect": "bench.collect",
    "profiles": "bench.profiles",
    "members": "bench.members",
    "model_quality": "bench.model_quality",
    "churn_quality": "bench.churn_quality",
    "startup": "bench.startup",
    "action_loop": "bench.action_loop",
    "experiment_looks": "bench.experiment_looks",
    "pipeline_scale": "bench.pipeline_scale",
    "basket_rules": "bench.basket_rules",
    "feature_floor": "bench.feature_floor",
}

_HEADER = """# Benchmarks

Written by `python -m bench` (`make bench`); each section below is owned and rewritten by one
module in `bench/`. Ratios are against a baseline measured in the same run on the same machine.
"""


def machine_info() -> dict[str, str]:
    """nproc, CPU model (from /proc/cpuinfo), memory and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024**2:.0f} GiB"
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    return {"nproc": nproc, "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}"}


def command(name: str, customers: int, quick: bool) -> str:
    """The command line that reproduces a bench run, for its report."""
    from .__main__ import DEFAULT_CUSTOMERS, QUICK_CUSTOMERS

    cmd = f"python -m bench --only {name}" + (" --quick" if quick else "")
    if customers != (QUICK_CUSTOMERS if quick else DEFAULT_CUSTOMERS):
        cmd += f" --customers {customers}"
    return cmd


def fmt_seconds(t: float) -> str:
    return f"{t * 1000:.0f} ms" if t < 1 else f"{t:.2f} s"


def today() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def update_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the ``<!-- bench:name -->`` ... ``<!-- /bench:name -->`` block of
    ``path`` with ``body``, leaving every other section untouched."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    tmp.replace(path)
