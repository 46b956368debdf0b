"""The train-keypoints command: one short epoch on a few real frames, end to end through Prefect."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.calibration.heatmap import HeatmapKeypointDetector
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import Frames
from soccerfactory.flows.cli import app

pytestmark = pytest.mark.skipif(
    not (DEFAULT_DATA_ROOT / "football-field" / "train").is_dir(), reason="needs ../shared/data/football-field"
)


def test_one_short_epoch_writes_loadable_weights_and_manifest(tmp_path):
    out_dir = tmp_path / "models"
    result = CliRunner().invoke(
        app,
        ["train-keypoints", "--out-dir", str(out_dir), "--work-dir", str(tmp_path / "work"),
         "--epochs", "2", "--batch", "4", "--real-limit", "4", "--synth-seeds", "none"],
    )
    assert result.exit_code == 0, result.output
    weights = out_dir / "pitch-keypoints-heatmap.pt"
    manifest = json.loads((out_dir / "pitch-keypoints-heatmap.json").read_text())
    assert manifest["sha256"] == sha256_file(weights)
    assert manifest["epochs_completed"] == 2 and manifest["data"]["train_real"] == 4 and manifest["data"]["train_synth"] == 0
    history = manifest["history"]
    assert history[1]["position_loss"] < history[0]["position_loss"]  # it learns, even on four frames
    assert manifest["metrics_valid"]["images"] == 4 and 0 <= manifest["metrics_valid"]["pck10"] <= 1
    assert "--epochs 2" in manifest["command"]
    # The file is what the calibrator loads (weights_only), and it reports keypoints in frame pixels.
    detector = HeatmapKeypointDetector(weights, keypoint_conf=0.0, min_peak=0.0)
    (obs,) = detector(Frames(np.zeros((1, 360, 640, 3), np.uint8), np.array([0]), np.zeros(1), 25.0, "black"))
    assert ((obs.keypoints >= 0) & (obs.keypoints < (640, 360))).all()
    assert f"calibrate.weights={weights}" in result.output.replace("\n", "")


def test_bad_seed_range_is_refused_before_training(tmp_path):
    result = CliRunner().invoke(app, ["train-keypoints", "--out-dir", str(tmp_path), "--synth-seeds", "9:3"])
    assert result.exit_code == 2 and "--synth-seeds" in result.output
