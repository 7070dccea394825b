"""Printing help loads none of the data libraries: `upmarket --help` and every command's help
start in the time of Typer and Rich alone (timed in bench/startup.py, not here)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "ibis", "sqlalchemy", "sklearn", "scipy", "duckdb", "pyarrow")
PROBE = """
import sys
from typer.main import get_command
from upmarket.cli import app
root = get_command(app)
names = []
for name, cmd in sorted(root.commands.items()):
    subs = getattr(cmd, "commands", None)
    names += [[name, s] for s in sorted(subs)] if subs else [[name]]
for args in [[]] + names:
    try:
        app([*args, "--help"], standalone_mode=False)
    except SystemExit:
        pass
print("commands", len(names))
print("loaded", *[m for m in {heavy!r} if m in sys.modules])
"""


def test_no_help_loads_the_data_libraries():
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    *_, count, loaded = done.stdout.strip().splitlines()
    assert int(count.split()[1]) > 30  # every command was asked for its help
    assert loaded.split()[1:] == [], f"help loaded {loaded}"
