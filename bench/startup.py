"""How long `upmarket --help` and each command's `--help` take to start, against the baseline
of the interpreter starting and doing nothing (`python -c pass`), measured in the same run:
the median of ten runs each, wall time and CPU time (user + system of the child process, which
other work on a shared machine inflates less than the wall time).

The goal: 0.3 s or less for each. The command modules import the data
libraries (pandas, Ibis, SQLAlchemy, scikit-learn) only inside the commands, so printing help
never pays for them; `tests/test_cli_startup.py` checks that no help loads them.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import machine_info, today, update_section

NAME = "startup"
DESCRIPTION = "`upmarket --help` and every command's --help against `python -c pass`"
GOAL_SECONDS = 0.3
RUNS = 10


def _upmarket() -> list[str]:
    """The installed `upmarket` script beside this interpreter, as a user runs it."""
    return [str(Path(sys.executable).with_name("upmarket"))]


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def _median(cmd: list[str], runs: int = RUNS) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `runs` runs of `cmd`."""
    walls, cpus = [], []
    for _ in range(runs):
        c, t = _cpu(), time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def commands() -> list[list[str]]:
    """Every command and sub-command, as the argument lists that print their help."""
    from typer.main import get_command

    from upmarket.cli import app

    root = get_command(app)
    out = [[]]
    for name, cmd in sorted(root.commands.items()):
        subs = getattr(cmd, "commands", None)
        if subs:
            out += [[name, sub] for sub in sorted(subs)]
        else:
            out.append([name])
    return out


def run(customers: int, quick: bool) -> None:
    del customers  # starting up does not depend on the data
    runs = 3 if quick else RUNS
    load_before = os.getloadavg()[0]
    base, base_cpu = _median([sys.executable, "-c", "pass"], runs)
    rows, cpu = [], {}
    for args in commands():
        t, c = _median([*_upmarket(), *args, "--help"], runs)
        rows.append((" ".join(["upmarket", *args, "--help"]), t))
        cpu[rows[-1][0]] = c
        print(f"  {rows[-1][0]}: {t * 1000:.0f} ms (CPU {c * 1000:.0f} ms)", flush=True)
    load_after = os.getloadavg()[0]
    worst = max(t for _, t in rows)
    top = rows[0][1]
    m = machine_info()
    lines = [
        f"## Start-up: `upmarket --help` and every command's help ({today()})",
        "",
        f"`python -m bench --only {NAME}` on {m['nproc']} × {m['cpu']}, "
        f"Python {m['python']}; median of {runs} runs each (wall time; CPU time = user + "
        f"system of the process), the baseline `python -c pass` measured in the same run: "
        f"{base * 1000:.0f} ms (CPU {base_cpu * 1000:.0f} ms). 1-minute load average "
        f"{load_before:.1f} before, {load_after:.1f} after (other work inflates wall times far "
        f"more than CPU times).",
        "",
        f"- `upmarket --help`: **{top * 1000:.0f} ms** (CPU {cpu[rows[0][0]] * 1000:.0f} ms; "
        f"{top / base:.1f}× the bare interpreter); "
        f"goal ≤ {GOAL_SECONDS * 1000:.0f} ms: {'met' if top <= GOAL_SECONDS else 'not met'}.",
        f"- The slowest of the {len(rows) - 1} commands' help: **{worst * 1000:.0f} ms** "
        f"({max(rows, key=lambda r: r[1])[0]}); the slowest in CPU time: "
        f"**{max(cpu.values()) * 1000:.0f} ms**; within the goal: "
        f"{sum(t <= GOAL_SECONDS for _, t in rows)} of {len(rows)} help pages "
        f"({sum(c <= GOAL_SECONDS for c in cpu.values())} in CPU time).",
        "- None of them loads pandas, Ibis, SQLAlchemy or scikit-learn "
        "(`tests/test_cli_startup.py`), nor pydantic: the groups' own `--help` flag is False "
        "when absent, so Typer has no value to convert (`upmarket.cli.quick_help`). What is "
        "left above the bare interpreter is Typer, Click and Rich, Rich's Markdown renderer "
        "(the help texts are Markdown) and the command modules.",
        "",
        "| command | median | CPU | × `python -c pass` |",
        "|---|---:|---:|---:|",
        *[f"| `{c}` | {t * 1000:.0f} ms | {cpu[c] * 1000:.0f} ms | {t / base:.1f} |"
          for c, t in rows],
    ]
    update_section(NAME, "\n".join(lines))
