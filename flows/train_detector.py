"""The ``train-detector`` flow: fine-tune the YOLOv8 athlete and ball detector, offline.

Three tasks, each a stage of :mod:`soccerfactory.curation.training.yolo` (which also runs on its
own as ``python -m soccerfactory.curation.training.yolo detector``):

1. ``build-detector-data``: the real football-players frames unstretched to 16:9, the same
   frames cut into native-resolution slices (the ball's scale in the ball slicer), plus frames
   rendered by the synthetic renderer with exact boxes;
2. ``train-detector-model``: ultralytics training on the CPU (or a GPU), from a local checkpoint
   (by default the bundled detector, so a run fine-tunes it further);
3. ``finish-detector``: evaluation on the real ``valid`` split (never used to pick a checkpoint),
   fp16 export and a manifest (data, command, epochs, metrics, sha256) next to the weights.

The result is used by ``--set detect.weights=OUT/detector.pt``.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.training import yolo

__all__ = ["train_detector"]


def _stage(stage: str, arguments: list[str]) -> None:
    code = yolo.main(["detector", "--stage", stage, *arguments])
    if code != 0:
        raise RuntimeError(f"detector training stage {stage!r} exited with status {code}")


@task(name="build-detector-data", cache_policy=NONE)
def build_data(arguments: list[str]) -> dict:
    """The detector's YOLO dataset: real frames, their ball-scale slices and rendered frames."""
    _stage("data", arguments)
    return {}


@task(name="train-detector-model", cache_policy=NONE)
def train_model(arguments: list[str]) -> None:
    """Ultralytics training from the base checkpoint."""
    _stage("train", arguments)


@task(name="finish-detector", cache_policy=NONE)
def finish(arguments: list[str], out_dir: Path) -> dict:
    """Score on the real valid split, export fp16 and write the manifest; the manifest."""
    _stage("finish", arguments)
    return json.loads((out_dir / "detector.json").read_text())


@flow(name="train-detector", log_prints=True)
def train_detector(
    work_dir: Path = Path("out/train-detector"),
    out_dir: Path = Path("out/models"),
    data_root: Path = yolo.DEFAULT_DATA_ROOT,
    base_weights: Path | None = None,
    epochs: int = 5,
    imgsz: int = 768,
    batch: int = 8,
    freeze: int = 10,
    time_hours: float | None = None,
    synth_seeds: str | None = "100:110",
    real_limit: int | None = None,
    device: str = "cpu",
    ball_slices: int = 2,
) -> dict:
    """Fine-tune the detector and write ``out_dir/detector.pt`` with its manifest ``detector.json``.

    Args:
        work_dir: Dataset and ultralytics run folder (kept for inspection).
        out_dir: Where ``detector.pt`` and ``detector.json`` go.
        data_root: Folder holding ``football-players/`` (train and valid splits).
        base_weights: Local checkpoint to start from (default: the bundled detector).
        epochs, imgsz, batch, freeze: Training settings (ultralytics names).
        time_hours: Stop after this long (ultralytics re-plans the epochs to fit).
        synth_seeds: ``first:stop`` seeds of the synthetic clips added to train; None for none.
        real_limit: Only the first N real images per split (quick checks).
        device: ``"cpu"`` or a GPU (``"0"``).
        ball_slices: Also train on the real frames cut into N x N native-resolution slices,
            the scale the ball slicer looks at (0 = none).

    Returns:
        The manifest written next to the weights.
    """
    base = require_weights(base_weights or bundled_weights("detector.pt"), "train-detector base weights")
    work_dir, out_dir = Path(work_dir).resolve(), Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    arguments = [
        "--work-dir", str(work_dir), "--out-dir", str(out_dir), "--data-root", str(data_root),
        "--base-weights", str(base), "--epochs", str(epochs), "--imgsz", str(imgsz),
        "--batch", str(batch), "--freeze", str(freeze), "--device", device,
        "--ball-slices", str(ball_slices),
    ]
    if time_hours is not None:
        arguments += ["--time-hours", str(time_hours)]
    arguments += ["--synth-seeds", synth_seeds] if synth_seeds else ["--no-synth"]
    if real_limit is not None:
        arguments += ["--real-limit", str(real_limit)]

    build_data(arguments)
    train_model(arguments)
    manifest = finish(arguments, out_dir)

    metrics = manifest.get("metrics_valid", {})
    rows = [{"class": name, **(values or {})} for name, values in metrics.get("per_class", {}).items()]
    create_table_artifact(key="train-detector", table=rows or [{"map50": metrics.get("map50")}], description=f"{out_dir / 'detector.pt'} on the real valid split")
    get_run_logger().info("detector written to %s (mAP50 %s on the real valid split)", out_dir / "detector.pt", metrics.get("map50"))
    return manifest
