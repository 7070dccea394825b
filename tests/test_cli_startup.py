"""Printing help loads none of the data libraries: `upmarket --help` and every command's help
start in the time of Typer and Rich alone (timed in bench/startup.py, not here)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "ibis", "sqlalchemy", "sklearn", "scipy", "duckdb", "pyarrow")
# loaded by a command while it works, never for its help (Typer's own renderer does not need
# it); pydantic converts the values a command is given, and a help flag that is False when
# absent leaves Typer nothing to convert (upmarket.cli.quick_help)
WORK_ONLY = ("rich.progress", "rich.live", "pydantic")
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
i18n = sys.modules.get("upmarket.i18n")
print("catalogues read", *(sorted(i18n.LABELS._texts) if i18n else []))
print("commands", len(names))
print("loaded", *[m for m in {heavy!r} if m in sys.modules])
"""


def _probe(modules: tuple[str, ...]) -> list[str]:
    """Print every help page in a fresh interpreter; the listed modules it loaded."""
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=modules)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    *_, read, count, loaded = done.stdout.strip().splitlines()
    assert int(count.split()[1]) > 30  # every command was asked for its help
    assert read == "catalogues read", f"help read the label catalogues: {read}"
    return loaded.split()[1:]


def test_no_help_loads_the_data_libraries_or_the_progress_bar():
    loaded = _probe(HEAVY + WORK_ONLY)
    assert loaded == [], f"help loaded {loaded}"


def test_commands_need_no_string_annotations_evaluated():
    """Typer evaluates a command's string annotations (compile + eval) each time any help is
    printed, for all the commands at once; a command module only postpones its annotations
    (`from __future__ import annotations`) when it needs a type-only import (TYPE_CHECKING)."""
    import inspect

    from typer.main import get_command

    from upmarket.cli import app

    def callbacks(group):
        for cmd in group.commands.values():
            yield from callbacks(cmd) if hasattr(cmd, "commands") else [cmd.callback]

    checked, postponed = 0, []
    for fn in callbacks(get_command(app)):
        fn = inspect.unwrap(fn)
        if "TYPE_CHECKING" in vars(sys.modules[fn.__module__]):
            continue
        checked += 1
        if any(isinstance(a, str) for a in fn.__annotations__.values()):
            postponed.append(f"{fn.__module__}.{fn.__name__}")
    assert checked > 30
    assert postponed == [], f"string annotations Typer must evaluate: {postponed}"
