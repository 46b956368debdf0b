"""What every ``soccerfactory`` command shares: one-line errors with their exit codes, the
load-config / run / report-errors block, and where a local ``--output`` lives.

Bad input of any kind, a usage error caught by typer or a value refused by a check of ours, ends
in one ``error: ...`` line naming the input and exit status 2; nothing prints a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

__all__ = ["BAD_INPUT", "USAGE_ERROR", "OneLineErrors", "fail", "local_root", "preflight", "reported", "run_with_config"]

USAGE_ERROR = 2

#: What a bad input raises, from a config loader (``ConfigError`` is a ``ValueError``), a check or a flow.
BAD_INPUT: tuple[type[Exception], ...] = (FileNotFoundError, ValueError)

T = TypeVar("T")


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
        except RuntimeError as error:
            # Prefect's own temporary server (a user's PREFECT_HOME or profile) that did not answer in
            # time: an overloaded machine or a slow first migration, not a bug; say what to do.
            if not str(error).startswith("Timed out while attempting to connect to ephemeral Prefect API server"):
                raise
            timeout = os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "20")
            typer.echo(
                f"error: Prefect's temporary server did not answer within {timeout} s (a loaded machine, or the first "
                "migration of a new PREFECT_HOME): raise PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or start one "
                "with `soccerfactory server` and set PREFECT_API_URL",
                err=True,
            )
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


def reported(call: Callable[[], T], errors: tuple[type[Exception], ...] = BAD_INPUT) -> T:
    """``call()``; a bad input it raises (one of ``errors``) ends in one ``error:`` line and exit 2."""
    try:
        return call()
    except errors as error:
        fail(str(error))


def run_with_config(
    config: str | os.PathLike | None,
    overrides: list[str],
    run: Callable[[Any], T] | None = None,
    *,
    load: Callable[[Any, list[str]], Any] | None = None,
) -> T:
    """The block every command with ``--config`` / ``--set`` runs: load the config, run on it,
    report a bad input of either as one ``error:`` line and exit 2.

    Args:
        config: The ``--config`` file, or None for the defaults.
        overrides: The ``--set section.key=value`` overrides.
        run: What the command does with the resolved config; None returns the config itself.
        load: The loader; by default the curation config's
            :func:`~soccerfactory.curation.config.load_config` (the model commands pass
            :func:`~soccerfactory.model.config.load_model_config`).

    Returns:
        What ``run`` returned (or the resolved config).
    """
    if load is None:
        from soccerfactory.curation.config import load_config as load
    return reported(lambda: (run or _itself)(load(config, overrides)))


def _itself(value: T) -> T:
    return value


def preflight(check: Callable[..., object], *args: object) -> None:
    """Run a ``flows.cli_preflight`` check: a bad input exits 2 in one line before any flow starts."""
    reported(lambda: check(*args))


def local_root(output: str) -> Path | None:
    """The folder a local ``--output`` names (a plain path, ``file://`` or ``local://`` URL, as
    :func:`~soccerfactory.storage.fs.is_local_url` decides); None for a remote URL."""
    from soccerfactory.storage.fs import local_path  # pyarrow and fsspec: not for --help

    path = local_path(output)
    return None if path is None else Path(path)
