"""The app: every command listed in ``soccerfactory --help`` under its own name, and answering
``--help`` with its own page (the words of the app's blurb are on every page, so a command
deleted must fail these tests)."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from soccerfactory.flows.cli import app

runner = CliRunner()

#: The commands of ``soccerfactory --help``, in its order (cli.py's wiring); groups come last.
COMMANDS = [
    "synth", "demo", "curate", "query", "train-detector", "train-keypoints", "import-events", "train", "evaluate",
    "pipeline", "server", "deploy", "env", "preview", "report", "export", "catalog", "config", "quality",
]


def test_help_lists_every_subcommand(listed_commands, own_help):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert listed_commands() == COMMANDS
    for command in ("synth", "demo", "query", "env"):
        assert command in listed_commands()
        own_help(command)


def test_help_lists_the_curation_commands(listed_commands, own_help):
    for command in ("curate", "catalog", "config", "server"):
        assert command in listed_commands()
        own_help(command)
    assert listed_commands("catalog") == ["rebuild", "verify", "sync"]
    assert listed_commands("config") == ["show"]


def test_no_arguments_shows_the_help():
    result = runner.invoke(app, [])
    assert result.exit_code in (0, 2)  # click's no_args_is_help
    assert "Turn soccer broadcast footage into a clean, queryable training set." in result.output


def test_an_unknown_command_is_one_line_and_exit_2():
    result = runner.invoke(app, ["nonsense"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "nonsense" in lines[0]


def test_version_prints_the_installed_version_and_exits_0():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"soccerfactory {version('soccerfactory')}\n"
    # Eager: it answers before any command is looked for, and a command still runs without it.
    assert runner.invoke(app, ["--version", "nonsense"]).output == result.output
    assert runner.invoke(app, ["config", "show", "--help"]).exit_code == 0


def test_quiet_and_verbose_set_the_log_levels_the_libraries_read(monkeypatch):
    for name in ("PREFECT_LOGGING_LEVEL", "YOLO_VERBOSE", "SOCCERFACTORY_VERBOSE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["-q", "config", "show"])
    assert result.exit_code == 0, result.output
    assert os.environ["PREFECT_LOGGING_LEVEL"] == "WARNING" and "YOLO_VERBOSE" not in os.environ
    monkeypatch.delenv("PREFECT_LOGGING_LEVEL")
    result = CliRunner().invoke(app, ["-v", "config", "show"])
    assert result.exit_code == 0, result.output
    assert (os.environ["PREFECT_LOGGING_LEVEL"], os.environ["YOLO_VERBOSE"], os.environ["SOCCERFACTORY_VERBOSE"]) == ("DEBUG", "True", "1")
    for name in ("PREFECT_LOGGING_LEVEL", "YOLO_VERBOSE", "SOCCERFACTORY_VERBOSE"):
        monkeypatch.delenv(name)
    both = CliRunner().invoke(app, ["-q", "-v", "config", "show"])
    assert both.exit_code == 2 and "not both" in both.output
