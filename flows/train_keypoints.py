"""The ``train-keypoints`` flow: train the heatmap pitch keypoint model, offline.

Two tasks over :mod:`soccerfactory.curation.training.keypoints` (which also runs on its own as
``python -m soccerfactory.curation.training.keypoints``):

1. ``build-keypoint-data``: the real football-field frames unstretched to 16:9, plus frames
   rendered by the synthetic renderer with exact keypoints;
2. ``train-keypoint-model``: backbone features cached once (frozen, from the bundled detector),
   the heatmap decoder trained on the CPU, scored on the real ``valid`` split (never used to
   choose), written atomically with a manifest (data, command, epochs, metrics, sha256).

The result is used by ``--set calibrate.weights=OUT/pitch-keypoints-heatmap.pt``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NONE

from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT, SynthFrames, build_pitch_dataset
from soccerfactory.curation.training.keypoints import TrainKeypoints, train_keypoints as train

__all__ = ["train_keypoints"]


@task(name="build-keypoint-data", cache_policy=NONE)
def build_data(work_dir: Path, data_root: Path, synth_seeds: tuple[int, int] | None, real_limit: int | None) -> dict:
    """The keypoint dataset under ``work_dir/data``: real football-field frames plus rendered ones; its counts."""
    synth = SynthFrames(seeds=tuple(range(*synth_seeds)), seconds=4.0, every=10) if synth_seeds else None
    counts = build_pitch_dataset(work_dir / "data", data_root / "football-field", synth=synth, real_limit=real_limit)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in counts.items()}


@task(name="train-keypoint-model", cache_policy=NONE)
def train_model(settings: TrainKeypoints, out: Path, command: str) -> dict:
    """Train the heatmap decoder and write the weights and manifest at ``out``; the manifest."""
    logger = get_run_logger()
    return train(settings, out, progress=logger.info, command=command)


@flow(name="train-keypoints", log_prints=True)
def train_keypoints(
    work_dir: Path = Path("out/train-keypoints"),
    out_dir: Path = Path("out/models"),
    data_root: Path = DEFAULT_DATA_ROOT,
    base_weights: Path | None = None,
    epochs: int = 40,
    minutes: float | None = None,
    batch: int = 16,
    synth_seeds: tuple[int, int] | None = (100, 124),
    real_limit: int | None = None,
) -> dict:
    """Train the heatmap pitch keypoint model; write ``out_dir/pitch-keypoints-heatmap.pt`` and its ``.json``.

    Args:
        work_dir: Dataset folder (kept for inspection).
        out_dir: Where the weights and manifest go.
        data_root: Folder holding ``football-field/`` (train and valid splits).
        base_weights: YOLOv8s checkpoint whose backbone is used (default: the bundled detector).
        epochs, minutes, batch: Training length (``minutes`` stops after the epoch that passes it).
        synth_seeds: ``(first, stop)`` renderer seeds of 4 s clips added to train; None for none.
        real_limit: Only the first N real images per split (quick checks).

    Returns:
        The manifest written next to the weights.
    """
    base = require_weights(base_weights or bundled_weights("detector.pt"), "train-keypoints base weights")
    work_dir, out_dir = Path(work_dir).resolve(), Path(out_dir).resolve()
    counts = build_data(work_dir, Path(data_root), synth_seeds, real_limit)
    settings = TrainKeypoints(data=str(work_dir / "data"), epochs=epochs, minutes=minutes, batch=batch, base_weights=str(base))
    seeds = f"{synth_seeds[0]}:{synth_seeds[1]}" if synth_seeds else "none"
    command = f"soccerfactory train-keypoints --epochs {epochs} --batch {batch} --synth-seeds {seeds}" + (
        f" --minutes {minutes}" if minutes is not None else "") + (f" --real-limit {real_limit}" if real_limit is not None else "")
    manifest = train_model(settings, out_dir / "pitch-keypoints-heatmap.pt", command)
    metrics = manifest.get("metrics_valid", {})
    create_table_artifact(
        key="train-keypoints",
        table=[{"data": counts, **{k: metrics.get(k) for k in ("pck5", "pck10", "median_error_px", "images")}}],
        description=f"{out_dir / 'pitch-keypoints-heatmap.pt'} on the real valid split (960x540)",
    )
    get_run_logger().info("keypoint model written to %s (PCK@5 %s on the real valid split)", out_dir / "pitch-keypoints-heatmap.pt", metrics.get("pck5"))
    return manifest
