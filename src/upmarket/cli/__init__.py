"""`upmarket` on the command line (Typer + Rich).

The commands live in submodules by what they are about (data, runs, customers); this module
holds the app and what they share. Every command takes `--warehouse URL` (or the UPMARKET_WAREHOUSE variable); errors the user can
fix print a message and exit with status 2, never a traceback.

Help must start fast: the command modules import the data libraries inside the commands, and
only postpone their annotations (`from __future__ import annotations`) when they need a
type-only import, because Typer compiles and evaluates every string annotation of every command
each time any help is printed.
"""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING, Annotated

import typer

from upmarket.cli.quick_help import QuickHelpGroup
from upmarket.cli.stages import StageLines
from upmarket.cli.tables import FittingConsole
from upmarket.errors import UpmarketError
from upmarket.locations import WAREHOUSE_ENV as ENV_VAR

if TYPE_CHECKING:  # a live bar is only drawn while a command works, never for --help
    from rich.progress import Progress

app = typer.Typer(
    name="upmarket",
    cls=QuickHelpGroup,
    help="Customer value and upsell (向上营销) engine: ingest your orders, products, events and "
    "spend; get value tiers, RFM segments, lifetime value, churn risk and next best actions.\n\n"
    "Start with upmarket demo, or upmarket ingest orders FILE then upmarket run.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = FittingConsole()
err = FittingConsole(stderr=True)

Warehouse = Annotated[str, typer.Option(
    "--warehouse", "-w", envvar=ENV_VAR, show_default=True,
    help="Where data lives: duckdb:///path.duckdb (default), pyspark://local[*], or any Ibis URL.",
)]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]
Lang = Annotated[str, typer.Option("--lang", envvar="UPMARKET_LANG", help="Labels: en or zh.")]


def friendly(fn):
    """Show an UpmarketError as its message and exit 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UpmarketError as exc:
            from rich.text import Text

            from upmarket.i18n import label

            lang = kwargs.get("lang")
            prefix = label("error_prefix", lang)
            # the message as plain text: it may quote a file's text, brackets included
            err.print(Text.assemble((prefix, "bold red"), exc.localised(lang)), highlight=False,
                      soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def progress(json_mode: bool) -> Progress | StageLines:
    """A live bar on a terminal; a line per finished stage with its time in a log or a pipe,
    where a bar that redraws itself would show nothing."""
    if not json_mode and not (err.is_terminal and console.is_terminal):
        return StageLines(err)
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                    TimeElapsedColumn(), console=err, transient=True, disable=json_mode)



def register() -> None:
    """Import the command modules so their commands attach to `app`."""
    # the order of import is the order of `upmarket --help`: data in, runs, then results
    import upmarket.cli.data  # noqa: F401
    import upmarket.cli.config  # noqa: F401
    import upmarket.cli.runs  # noqa: F401
    import upmarket.cli.customers  # noqa: F401
    import upmarket.cli.members  # noqa: F401
    import upmarket.cli.actions  # noqa: F401
    import upmarket.cli.measure  # noqa: F401
    import upmarket.cli.experiments  # noqa: F401
    import upmarket.cli.scorecard  # noqa: F401
    import upmarket.cli.report  # noqa: F401
    import upmarket.cli.service  # noqa: F401
    import upmarket.cli.planning  # noqa: F401
    import upmarket.cli.privacy  # noqa: F401
    import upmarket.cli.automation  # noqa: F401


register()
