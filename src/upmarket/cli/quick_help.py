"""The command groups' class, so that a command's `--help` does not load pydantic.

Typer converts each parameter's value through a pydantic adapter, unless the value is already
of the parameter's type; it builds the adapter (importing pydantic, ~45 ms) the first time it
needs one. Every group on the way to a command (`upmarket`, then `upmarket actions`) has its
own `--help` flag, which the user did not give: its value is None, not False, so Typer built
an adapter to convert None, only to get None back, before printing the command's help. Giving
the groups' help flag a default of False (what an absent flag means) lets Typer skip the
conversion; what every help page says is unchanged.
"""

from __future__ import annotations

from typer.core import TyperGroup


def _off_unless_given(option):
    if option is not None and option.default is None:
        option.default = False
    return option


class QuickHelpGroup(TyperGroup):
    """A group whose `--help` flag, and that of each group below it, is False when absent."""

    def get_help_option(self, ctx):
        return _off_unless_given(super().get_help_option(ctx))

    def get_command(self, ctx, cmd_name):
        cmd = super().get_command(ctx, cmd_name)
        # a sub-app (`actions`, `tasks` …) is a plain TyperGroup: its flag is set here, as the
        # one object Typer caches and processes when that group parses its arguments
        if isinstance(cmd, TyperGroup) and not isinstance(cmd, QuickHelpGroup):
            _off_unless_given(cmd.get_help_option(ctx))
        return cmd
