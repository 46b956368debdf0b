"""The curation commands: synth refuses bad requests in one line and writes a clip, config show
round-trips, each command answers --help with its own page, and the commands demo and curate
print at the end work as printed, pasted from another folder."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "path, own_words",
    [
        (("synth",), "Render a synthetic broadcast clip with exact ground truth."),
        (("demo",), "render a synthetic broadcast clip, curate it with the bundled models"),
        (("curate",), "Curate footage into SoccerFactory shards and catalogue them for SQL."),
        (("config", "show"), "Print the resolved config as YAML"),
    ],
)
def test_each_command_is_listed_with_its_own_help(path, own_words, listed_commands, own_help):
    assert path[-1] in listed_commands(*path[:-1])
    assert own_words in own_help(*path)


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


def test_config_show_round_trips_as_a_config_file(tmp_path):
    from soccerfactory.curation.config import load_config

    result = runner.invoke(app, ["config", "show", "--set", "detect.conf=0.4"])
    assert result.exit_code == 0
    path = tmp_path / "curate.yaml"
    path.write_text(result.output)
    assert load_config(path).detect.conf == 0.4
    assert f"# config hash: {load_config(path).config_hash()}" in result.output
    bad = runner.invoke(app, ["config", "show", "--set", "detect.nope=1"])
    assert bad.exit_code == 2 and "detect.nope" in bad.output


def _printed_commands(output: str) -> dict[str, list[str]]:
    """``label -> argv`` of every ``label: soccerfactory ARGS`` line, split as a shell would."""
    found = {}
    for line in output.splitlines():
        printed = re.match(r"([a-z][a-z ]*):\s+soccerfactory (.+)", line)
        if printed:
            found[printed[1]] = shlex.split(printed[2])
    return found


def _paste_each_elsewhere(commands: dict[str, list[str]], elsewhere: Path, monkeypatch) -> dict[str, str]:
    """Run every printed command from another working folder; their outputs by label."""
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    outputs = {}
    for label, argv in commands.items():
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, f"{label}: soccerfactory {shlex.join(argv)}\n{result.output}"
        outputs[label] = result.output
    assert list(elsewhere.iterdir()) == []  # every command wrote where its printed paths said, not here
    return outputs


@pytest.mark.slow
def test_the_commands_demo_prints_work_pasted_from_another_folder(tmp_path, monkeypatch):
    """`demo --output out` (relative) from one folder; its sample query, preview and report hints from another."""
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    demo = runner.invoke(app, ["demo", "--output", "out", "--seconds", "1", "--width", "640", "--height", "360"])
    assert demo.exit_code == 0, demo.output
    commands = _printed_commands(demo.output)
    assert set(commands) == {"sample query", "look at it", "report it"}, demo.output
    outputs = _paste_each_elsewhere(commands, tmp_path / "elsewhere", monkeypatch)
    out = tmp_path / "here" / "out"
    assert "player" in outputs["sample query"]
    preview = Path(outputs["look at it"].strip().splitlines()[-1])
    assert preview.is_absolute() and preview.is_file() and preview.is_relative_to(out / "previews")
    assert (out / "report.html").is_file()


@pytest.mark.slow  # 36 s on its own (model loading), 14 s after the demo test
def test_the_commands_curate_prints_work_pasted_from_another_folder(tmp_path, monkeypatch):
    """`curate clip/video.mp4 --output out` (relative paths) from one folder; its hints from another."""
    from soccerfactory.curation.synth import SynthConfig, render_clip

    here = tmp_path / "here"
    render_clip(SynthConfig(seconds=1.0, seed=3, width=640, height=360), here / "clip")
    monkeypatch.chdir(here)
    curated = runner.invoke(app, ["curate", "clip/video.mp4", "--output", "out", "--set", "detect.imgsz=640"])
    assert curated.exit_code == 0, curated.output
    commands = _printed_commands(curated.output)
    assert set(commands) == {"look at it", "report it", "query it"}, curated.output
    assert all(Path(word).is_absolute() for argv in commands.values() for word in argv if "/" in word)
    outputs = _paste_each_elsewhere(commands, tmp_path / "elsewhere", monkeypatch)
    assert "n_athlete_rows" in outputs["query it"]
    assert Path(outputs["look at it"].strip().splitlines()[-1]).is_file() and (here / "out" / "report.html").is_file()



def test_a_dask_address_with_no_scheduler_is_refused_before_anything_is_written(tmp_path):
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"never read")
    out = tmp_path / "out"
    result = runner.invoke(app, [
        "curate", str(source), "--output", str(out), "--set", "run.task_runner=dask", "--set", f"run.dask_address=tcp://127.0.0.1:{port}",
    ])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: run.dask_address") and "dask scheduler" in lines[0], result.output
    assert not out.exists()
