"""What the CLI tests share: the commands a ``--help`` page lists, and a command's own ``--help``.

A help test must fail when its command is deleted: the words of the app's blurb ("demo", "synth")
are on every page, so a test looks for the command's name in the Commands table itself and for
its own usage line and description on its own page.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app


def command_table(output: str) -> list[str]:
    """The command names in the ``Commands`` table of a ``--help`` page, in order.

    Rich draws the table as ``│ name   help text │`` rows; a help text that wraps continues on
    rows that start with blanks, so a row whose first cell is a word starts a command.
    """
    names, inside = [], False
    for line in output.splitlines():
        text = line.strip()
        if text.startswith("╭") and "Commands" in text:
            inside = True
        elif inside and text.startswith("╰"):
            break
        elif inside and text.startswith("│") and text[1:2] == " " and text[2:3] not in ("", " "):
            names.append(text[2:].split()[0])
    return names


@pytest.fixture
def listed_commands() -> Callable[..., list[str]]:
    """``listed_commands(*group)``: the Commands table of ``soccerfactory [GROUP...] --help``."""

    def listed(*group: str) -> list[str]:
        result = CliRunner().invoke(app, [*group, "--help"])
        assert result.exit_code == 0, result.output
        names = command_table(result.output)
        assert names, f"no Commands table in:\n{result.output}"
        return names

    return listed


@pytest.fixture
def own_help() -> Callable[..., str]:
    """``own_help(*path)``: the text of ``soccerfactory PATH --help`` (blanks and frames collapsed),
    after checking that it is the page of that command (its usage line)."""

    def page(*path: str) -> str:
        result = CliRunner().invoke(app, [*path, "--help"])
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.replace("│", " ").split())
        assert f"Usage: soccerfactory {' '.join(path)} [OPTIONS]" in text, text
        return text

    return page
