"""How long `upmarket --help` and each command's `--help` take to start, against the baseline
of the interpreter starting and doing nothing (`python -c pass`), measured in the same run.

The goal: 0.3 s or less for each (median of five runs). The command modules import the data
libraries (pandas, Ibis, SQLAlchemy, scikit-learn) only inside the commands, so printing help
never pays for them; `tests/test_cli_startup.py` checks that no help loads them.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import machine_info, today, update_section

NAME = "startup"
DESCRIPTION = "`upmarket --help` and every command's --help against `python -c pass`"
GOAL_SECONDS = 0.3
RUNS = 5


def _upmarket() -> list[str]:
    """The installed `upmarket` script beside this interpreter, as a user runs it."""
    return [str(Path(sys.executable).with_name("upmarket"))]


def _median(cmd: list[str], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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
    base = _median([sys.executable, "-c", "pass"], runs)
    rows = []
    for args in commands():
        t = _median([*_upmarket(), *args, "--help"], runs)
        rows.append((" ".join(["upmarket", *args, "--help"]), t))
        print(f"  {rows[-1][0]}: {t * 1000:.0f} ms", flush=True)
    worst = max(t for _, t in rows)
    top = rows[0][1]
    m = machine_info()
    lines = [
        f"## Start-up: `upmarket --help` and every command's help ({today()})",
        "",
        f"`python -m bench --only {NAME}` on {m['nproc']} × {m['cpu']}, "
        f"Python {m['python']}; median of {runs} runs each, the baseline `python -c pass` "
        f"measured in the same run: {base * 1000:.0f} ms.",
        "",
        f"- `upmarket --help`: **{top * 1000:.0f} ms** ({top / base:.1f}× the bare interpreter); "
        f"goal ≤ {GOAL_SECONDS * 1000:.0f} ms: {'met' if top <= GOAL_SECONDS else 'not met'}.",
        f"- The slowest of the {len(rows) - 1} commands' help: **{worst * 1000:.0f} ms** "
        f"({max(rows, key=lambda r: r[1])[0]}); within the goal: "
        f"{sum(t <= GOAL_SECONDS for _, t in rows)} of {len(rows)} help pages.",
        "- None of them loads pandas, Ibis, SQLAlchemy or scikit-learn "
        "(`tests/test_cli_startup.py`); what a command's help adds to the top level's is Typer's "
        "own: its parameter adapters (pydantic) and Markdown renderer.",
        "",
        "| command | median | × `python -c pass` |",
        "|---|---:|---:|",
        *[f"| `{c}` | {t * 1000:.0f} ms | {t / base:.1f} |" for c, t in rows],
    ]
    update_section(NAME, "\n".join(lines))
