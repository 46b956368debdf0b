"""Bad input to any command: one line naming it, exit 2, no traceback, nothing started.

Each case once printed a traceback (mostly Prefect's, logged from inside a flow) or exited 1;
each is now caught by a check before the flow (``flows/cli_preflight.py``) or by the loader itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.flows.cli import app

runner = CliRunner()


def _one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    render_clip(SynthConfig(seconds=0.4, seed=6, width=320, height=180), folder)
    return folder / "video.mp4"


@pytest.fixture
def empty_root(tmp_path) -> Path:
    """A shards root with a valid catalog and no shards (what `catalog rebuild` makes of nothing)."""
    from soccerfactory.storage.repair import rebuild_catalog

    root = tmp_path / "root"
    root.mkdir()
    rebuild_catalog(root, root / "catalog.duckdb")
    return root


@pytest.fixture
def junk(tmp_path) -> Path:
    path = tmp_path / "junk.bin"
    path.write_bytes(os.urandom(4096))
    return path


# ----------------------------------------------------------------------------------------- curate


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux): a folder no file can be created in")
def test_curate_with_an_uncreatable_catalog_fails_before_the_run(clip, tmp_path):
    """A subprocess, as a user runs it: Prefect logs to the real stderr, so a traceback would show."""
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from soccerfactory.flows.cli import main; main()",
               "curate", str(clip), "--output", str(out), "--catalog", "/proc/cat.duckdb"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr + completed.stdout
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "/proc/cat.duckdb" in lines[0], completed.stderr
    assert not (out / "runs").exists(), "a run record was left behind"


def test_curate_refuses_a_directory_or_a_foreign_file_as_catalog(clip, tmp_path, junk):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = runner.invoke(app, ["curate", str(clip), "--output", str(tmp_path / "o1"), "--catalog", str(folder)])
    _one_line_error(result, str(folder), "is a directory")
    result = runner.invoke(app, ["curate", str(clip), "--output", str(tmp_path / "o2"), "--catalog", str(junk)])
    _one_line_error(result, str(junk), "not a DuckDB database")
    assert not (tmp_path / "o2" / "runs").exists()


# ---------------------------------------------------------------------------------------- catalog


def test_catalog_rebuild_with_a_file_as_output(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    _one_line_error(runner.invoke(app, ["catalog", "rebuild", "--output", str(a_file)]), str(a_file), "is a file")


def test_catalog_rebuild_of_a_root_that_does_not_exist_makes_no_empty_catalog(tmp_path):
    missing = tmp_path / "typo"
    _one_line_error(runner.invoke(app, ["catalog", "rebuild", "--output", str(missing)]), str(missing), "no shard root")
    assert not missing.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc (Linux)")
def test_catalog_rebuild_into_an_uncreatable_place(empty_root):
    result = runner.invoke(app, ["catalog", "rebuild", "--output", str(empty_root), "--catalog", "/proc/rebuilt.duckdb"])
    _one_line_error(result, "/proc/rebuilt.duckdb")


def test_query_output_to_a_directory(empty_root):
    result = runner.invoke(app, ["query", "SELECT 1 AS one", "--catalog", str(empty_root / "catalog.duckdb"), "-f", "csv", "--out", str(empty_root)])
    _one_line_error(result, str(empty_root))


# ------------------------------------------------------------------------------ train and evaluate


def test_train_on_an_empty_catalog(empty_root):
    result = runner.invoke(app, ["train", "--output", str(empty_root), "--set", "train.steps=1"])
    _one_line_error(result, "no training windows", str(empty_root / "catalog.duckdb"))
    assert not (empty_root / "models").exists()


def test_train_on_a_foreign_catalog_file(empty_root, junk):
    result = runner.invoke(app, ["train", "--output", str(empty_root), "--catalog", str(junk)])
    _one_line_error(result, str(junk), "not a DuckDB database")


def test_invalid_training_config_is_one_line_naming_the_field(empty_root, tmp_path):
    line = _one_line_error(runner.invoke(app, ["train", "--output", str(empty_root), "--set", "train.steps=-1"]), "train.steps")
    assert line.count("validation error") == 0 and "greater than or equal to 1" in line
    config = tmp_path / "model.yaml"
    config.write_text("train:\n  stepz: 3\n")
    _one_line_error(runner.invoke(app, ["train", "--output", str(empty_root), "--config", str(config)]), str(config), "train.stepz")
    config.write_text("train: [1,\n")
    _one_line_error(runner.invoke(app, ["train", "--output", str(empty_root), "--config", str(config)]), str(config), "not valid YAML")


def test_resuming_a_run_whose_checkpoint_is_damaged(empty_root):
    checkpoint = empty_root / "models" / "r1" / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"PK\x03\x04 not really a zip")
    result = runner.invoke(app, ["train", "--output", str(empty_root), "--run-id", "r1", "--set", "train.steps=1"])
    _one_line_error(result, str(checkpoint))


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_evaluate_a_checkpoint_that_is_not_a_file(empty_root, tmp_path, what):
    checkpoint = tmp_path / "nope.pt"
    if what == "directory":
        checkpoint.mkdir()
    result = runner.invoke(app, ["evaluate", "--output", str(empty_root), "--checkpoint", str(checkpoint)])
    _one_line_error(result, str(checkpoint))


def test_evaluate_a_model_file_that_is_not_a_training_checkpoint(empty_root):
    from soccerfactory.curation.bundled import bundled_weights

    weights = bundled_weights("pitch-keypoints-heatmap.pt")
    result = runner.invoke(app, ["evaluate", "--output", str(empty_root), "--checkpoint", str(weights)])
    _one_line_error(result, str(weights), "not a `soccerfactory train` checkpoint")


def test_evaluate_an_unknown_split(empty_root, tmp_path):
    result = runner.invoke(app, ["evaluate", "--output", str(empty_root), "--checkpoint", str(tmp_path / "x.pt"), "--split", "bogus"])
    _one_line_error(result, "--split", "bogus")


def test_pipeline_with_a_file_as_output(clip, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    _one_line_error(runner.invoke(app, ["pipeline", str(clip), "--output", str(a_file)]), str(a_file))
