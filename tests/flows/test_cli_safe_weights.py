"""Nothing foreign runs, through the CLI: hostile or broken model files are refused up front.

Each command gets a real file: a pickle whose unrestricted load would create a marker file, a
truncated copy of the shipped detector, or random bytes. The refusal must come before any video
is decoded or flow started (exit 2, one line naming the file) and the payload must not have run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.flows.cli import app

runner = CliRunner()


class _Payload:
    """Unpickled unrestricted, runs ``touch marker`` (what a hostile .pt file does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module", autouse=True)
def _ultralytics_imported():
    # Import ultralytics (which prints a settings banner once per config dir) outside the
    # CliRunner, so the commands' output holds only what the command says.
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    render_clip(SynthConfig(seconds=0.4, seed=5, width=320, height=180), folder)
    return folder / "video.mp4"


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "the pickled payload ran"


def _model_file(tmp_path: Path, kind: str, marker: Path) -> Path:
    import torch

    path = tmp_path / f"{kind}.pt"
    if kind == "evil":
        torch.save({"model": _Payload(marker)}, path)
    elif kind == "truncated":
        data = bundled_weights("detector.pt").read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        path.write_bytes(os.urandom(8192))
    return path


def _assert_refused(result, path: Path) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert str(path) in lines[0]
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("kind", ["evil", "truncated", "random"])
def test_curate_refuses_a_bad_detector_before_decoding(clip, tmp_path, marker, kind):
    weights = _model_file(tmp_path, kind, marker)
    out = tmp_path / "out"
    result = runner.invoke(app, ["curate", str(clip), "--output", str(out), "--set", f"detect.weights={weights}"])
    line = _assert_refused(result, weights)
    assert line.startswith("error: detect.weights (detector)")
    assert ("refused" if kind == "evil" else "not a readable PyTorch checkpoint") in line
    assert not out.exists(), "the run started: it created its output"


@pytest.mark.parametrize("backend", ["heatmap", "yolo-pose"])
def test_curate_refuses_a_hostile_keypoint_model(clip, tmp_path, marker, backend):
    weights = _model_file(tmp_path, "evil", marker)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["curate", str(clip), "--output", str(out), "--set", f"calibrate.backend={backend}", "--set", f"calibrate.weights={weights}"]
    )
    assert _assert_refused(result, weights).startswith("error: calibrate.weights")
    assert not out.exists()


def test_curate_refuses_a_broken_sam2_checkpoint(clip, tmp_path, marker):
    checkpoint = _model_file(tmp_path, "random", marker)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["curate", str(clip), "--output", str(out), "--set", "refine.backend=sam2", "--set", f"refine.sam2_checkpoint={checkpoint}"]
    )
    assert _assert_refused(result, checkpoint).startswith("error: refine.sam2_checkpoint")


@pytest.fixture
def empty_catalog(tmp_path) -> Path:
    from soccerfactory.storage.repair import rebuild_catalog

    root = tmp_path / "root"
    root.mkdir()
    rebuild_catalog(root, root / "catalog.duckdb")
    return root


@pytest.mark.parametrize("kind", ["evil", "truncated"])
def test_evaluate_refuses_a_bad_checkpoint(empty_catalog, tmp_path, marker, kind):
    checkpoint = _model_file(tmp_path, kind, marker)
    result = runner.invoke(app, ["evaluate", "--output", str(empty_catalog), "--checkpoint", str(checkpoint)])
    _assert_refused(result, checkpoint)


def test_train_refuses_hostile_backbone_weights(empty_catalog, tmp_path, marker):
    weights = _model_file(tmp_path, "evil", marker)
    result = runner.invoke(app, ["train", "--output", str(empty_catalog), "--set", f"model.backbone_weights={weights}"])
    assert _assert_refused(result, weights).startswith("error: model.backbone_weights")


@pytest.mark.parametrize("command, dataset", [("train-detector", "football-players"), ("train-keypoints", "football-field")])
def test_training_commands_refuse_hostile_base_weights(tmp_path, marker, command, dataset):
    weights = _model_file(tmp_path, "evil", marker)
    data_root = tmp_path / "data"
    (data_root / dataset / "train").mkdir(parents=True)  # present, so the refusal is the weights'
    result = runner.invoke(
        app, [command, "--out-dir", str(tmp_path / "models"), "--work-dir", str(tmp_path / "work"), "--data-root", str(data_root),
              "--base-weights", str(weights), "--synth-seeds", "none"],
    )
    assert _assert_refused(result, weights).startswith(f"error: {command} base weights")
    assert not (tmp_path / "work").exists()
