"""The train-detector command: one short epoch on a few real images, end to end through Prefect."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from soccerfactory.curation.detection.detector import UltralyticsDetector
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.flows.cli import app

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATA_ROOT / "football-players" / "train").is_dir(), reason="needs ../shared/data/football-players"
)


def test_one_short_epoch_writes_usable_weights_and_manifest(tmp_path):
    out_dir = tmp_path / "models"
    result = CliRunner().invoke(
        app,
        [
            "train-detector", "--out-dir", str(out_dir), "--work-dir", str(tmp_path / "work"),
            "--epochs", "1", "--imgsz", "160", "--batch", "4", "--real-limit", "4", "--synth-seeds", "none", "--ball-slices", "2",
        ],
    )
    assert result.exit_code == 0, result.output
    weights, manifest_path = out_dir / "detector.pt", out_dir / "detector.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["sha256"] == sha256_file(weights)
    assert manifest["epochs_completed"] == 1
    assert manifest["data"]["real_train_images"] == 4 and manifest["data"]["synthetic_train_images"] == 0
    assert manifest["data"]["real_train_slices"] >= 4  # every ball slice, plus some others
    assert manifest["base_weights"]["note"] == "fine-tuned further from this checkpoint"
    assert 0.0 <= manifest["metrics_valid"]["map50"] <= 1.0
    assert "--epochs 1" in manifest["reproduce"]
    # The written weights load as a project detector with our four classes.
    detector = UltralyticsDetector(weights, imgsz=160)
    assert sorted(detector._model.names.values()) == ["ball", "goalkeeper", "player", "referee"]
    assert f"detect.weights={weights}" in result.output.replace("\n", "")


def test_bad_seed_range_is_refused_before_training(tmp_path):
    result = CliRunner().invoke(app, ["train-detector", "--out-dir", str(tmp_path), "--synth-seeds", "9:3"])
    assert result.exit_code == 2
    assert "--synth-seeds" in result.output


def test_missing_base_weights_name_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    result = CliRunner().invoke(
        app, ["train-detector", "--out-dir", str(tmp_path / "m"), "--base-weights", str(missing), "--synth-seeds", "none"]
    )
    assert result.exit_code == 2
    assert str(missing) in result.output
