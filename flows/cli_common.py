"""What every ``soccerfactory`` command shares: one-line errors with their exit codes.

Bad input of any kind, a usage error caught by typer or a value refused by a check of ours, ends
in one ``error: ...`` line naming the input and exit status 2; nothing prints a traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

__all__ = ["USAGE_ERROR", "OneLineErrors", "fail", "preflight"]

USAGE_ERROR = 2


class OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, a value out of range) as one `error:` line and exit 2,
    like every other bad input, instead of click's usage block and framed message."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # noqa: ANN002, ANN003, ANN201 - click's signature
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except TyperException as error:  # typer's own click: UsageError, BadParameter, NoSuchOption ...
            if type(error).__name__ == "NoArgsIsHelpError":  # `soccerfactory catalog` alone: its help
                typer.echo(error.ctx.get_help())
                sys.exit(0)
            where = error.ctx.command_path if getattr(error, "ctx", None) else "soccerfactory"
            typer.echo(f"error: {error.format_message()} (see `{where} --help`)", err=True)
            sys.exit(error.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code`` (2: bad input or usage)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def preflight(check, *args) -> None:  # noqa: ANN001 - any check of flows.preflight
    """Run a ``flows.preflight`` check: a bad input exits 2 in one line before any flow starts."""
    try:
        check(*args)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
