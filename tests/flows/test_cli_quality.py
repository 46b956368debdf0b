"""The ``quality`` commands: JSON figures out, and missing weights named."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from soccerfactory.curation.quality.calibration import DEFAULT_FIELD_SPLIT
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.flows.cli import app

VALID = DEFAULT_DATA_ROOT / "football-players" / "valid"


def test_quality_cli_names_missing_weights(tmp_path):
    missing = tmp_path / "nope.pt"
    result = CliRunner().invoke(app, ["quality", "detector", "--set", f"detect.weights={missing}"])
    assert result.exit_code == 2
    assert str(missing) in result.output


def test_quality_detector_cli_writes_json(tmp_path):
    if not VALID.is_dir():
        pytest.skip("needs ../shared/data/football-players")
    split = tmp_path / "split"
    (split / "images").mkdir(parents=True)
    (split / "labels").mkdir()
    for image in sorted((VALID / "images").iterdir())[:2]:
        (split / "images" / image.name).symlink_to(image)
        (split / "labels" / f"{image.stem}.txt").symlink_to(VALID / "labels" / f"{image.stem}.txt")
    out = tmp_path / "q.json"
    result = CliRunner().invoke(app, ["quality", "detector", "--split", str(split), "--set", "detect.ball_slices=0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["images"] == 2 and "ball_with_slices" not in figures["runs"][0]


@pytest.mark.skipif(not DEFAULT_FIELD_SPLIT.is_dir(), reason="needs ../shared/data/football-field")
def test_quality_calibration_cli(tmp_path):
    out = tmp_path / "calibration.json"
    result = CliRunner().invoke(app, ["quality", "calibration", "--limit", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["real"]["images"] == 2 and "synthetic" not in figures
    missing = tmp_path / "nope.pt"
    failed = CliRunner().invoke(app, ["quality", "calibration", "--set", f"calibrate.weights={missing}"])
    assert failed.exit_code == 2 and "nope.pt" in failed.output


@pytest.mark.parametrize(
    "path, own_words",
    [
        (("quality", "detector"), "COCO AP@50 per class and for all persons"),
        (("quality", "ball"), "Ball recall and precision (IoU 0.3) of ball-slicing settings"),
        (("quality", "calibration"), "Pitch keypoint PCK and camera reprojection error on real labelled frames"),
        (("quality", "tracking"), "HOTA, DetA, AssA, IDF1 (trackeval)"),
    ],
)
def test_each_command_is_listed_with_its_own_help(path, own_words, listed_commands, own_help):
    assert path[-1] in listed_commands(*path[:-1])
    assert own_words in own_help(*path)
