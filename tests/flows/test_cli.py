"""The command line: help that teaches, one-line errors with exit code 2, a working synth."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app

runner = CliRunner()


def test_help_lists_every_subcommand():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("synth", "demo", "query", "env"):
        assert command in result.output


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--seconds", "-3"], "seconds must be in"),
        (["--width", "20000"], "resolution 20000x720 is outside"),
        (["--height", "7"], "resolution 1280x7 is outside"),
        (["--fps", "0"], "fps must be in"),
        (["--referees", "9"], "referees must be"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, arguments, message):
    result = runner.invoke(app, ["synth", str(tmp_path / "out"), *arguments])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "out").exists(), "nothing is created for a refused request"


def test_unwritable_output_is_refused(tmp_path):
    if os.geteuid() == 0:
        # root ignores folder permissions; a path below a file is unwritable for everyone.
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        target = blocker / "clip"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        target = locked / "clip"
    result = runner.invoke(app, ["synth", str(target), "--seconds", "1"])
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: cannot write to {target}")


def test_synth_writes_a_clip(tmp_path):
    result = runner.invoke(app, ["synth", str(tmp_path), "--seconds", "0.4", "--seed", "2", "--width", "640", "--height", "360", "--images", "-q"])
    assert result.exit_code == 0, result.output
    assert "wrote 10 frames of 640x360" in result.output
    manifest = json.loads((tmp_path / "clip.json").read_text())
    assert manifest["config"]["seed"] == 2 and len(list((tmp_path / "img1").glob("*.jpg"))) == 10


def test_query_without_catalog_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["query", "SELECT 1", "--catalog", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 2 and "soccerfactory demo" in result.output
