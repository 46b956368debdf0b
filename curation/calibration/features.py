"""Pitch feature detectors: the :class:`PitchFeatureDetector` contract and the ``yolo-pose`` backend.

A detector turns frames into one :class:`~soccerfactory.curation.calibration.observations.PitchObservations`
per frame. The backends: ``heatmap`` (the default, :mod:`soccerfactory.curation.calibration.heatmap`),
``yolo-pose`` (:class:`YoloPoseDetector`, a YOLOv8-pose model with the 32 keypoints of the
``football-field`` labels; none is bundled) and ``lines-classic``
(:class:`~soccerfactory.curation.calibration.lines.LinesClassicDetector`, no weights).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.pitch import KEYPOINT_NAMES
from soccerfactory.curation.types import Frames

__all__ = ["DEFAULT_PITCH_KEYPOINT_WEIGHTS", "PitchFeatureDetector", "YoloPoseDetector"]

#: Where the shipped pitch-keypoint model lives (YOLOv8-pose, 32 keypoints).
DEFAULT_PITCH_KEYPOINT_WEIGHTS = bundled_weights("pitch-keypoints.pt")
_TRAIN_HINT = (
    "train one with `python -m soccerfactory.curation.training.yolo pitch-keypoints`, or use the "
    f"model shipped in {DEFAULT_PITCH_KEYPOINT_WEIGHTS.parent}/"
)


@runtime_checkable
class PitchFeatureDetector(Protocol):
    """Finds pitch keypoints and/or line pixels, one :class:`PitchObservations` per frame."""

    def __call__(self, frames: Frames) -> list[PitchObservations]: ...


class YoloPoseDetector:
    """Pitch keypoints from an ultralytics YOLOv8-pose model.

    The model's keypoint ``k`` is ``PitchModel`` keypoint ``k`` (the ``football-field`` order,
    32 keypoints; models with up to all 45 named points in that order are accepted). Only the
    highest-confidence instance of a frame counts, and of its keypoints those with confidence
    ``>= keypoint_conf`` that the model did not clamp to the image border.
    """

    def __init__(
        self,
        weights: str | Path = DEFAULT_PITCH_KEYPOINT_WEIGHTS,
        imgsz: int | None = None,
        conf: float = 0.25,
        keypoint_conf: float = 0.5,
        device: str = "cpu",
        batch_size: int = 8,
    ) -> None:
        weights = Path(weights)
        if not weights.is_file():
            raise FileNotFoundError(f"pitch keypoint weights {weights} not found: {_TRAIN_HINT}")
        if not 0 <= conf <= 1 or not 0 <= keypoint_conf <= 1:
            raise ValueError(f"conf and keypoint_conf must be in [0, 1], got {conf} and {keypoint_conf}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        from soccerfactory.curation.safe_load import load_yolo

        # Ultralytics checkpoints pickle the whole model: scanned against an allow-list of model
        # classes, then loaded by ultralytics with weights_only=True (see curation/safe_load.py).
        self.model = load_yolo(weights, "pitch keypoint weights", task="pose")
        if self.model.task != "pose":
            raise ValueError(f"{weights} is a {self.model.task!r} model, expected a pose model")
        kpt_shape = self.model.model.yaml.get("kpt_shape") if hasattr(self.model.model, "yaml") else None
        self.n_keypoints = int(kpt_shape[0]) if kpt_shape else 32
        if not 4 <= self.n_keypoints <= len(KEYPOINT_NAMES):
            raise ValueError(f"{weights} predicts {self.n_keypoints} keypoints; expected 32 pitch keypoints")
        # The trained image size is the right default: the model saw 16:9 frames letterboxed to it.
        trained = self.model.overrides.get("imgsz") if isinstance(self.model.overrides, dict) else None
        self.imgsz = int(imgsz or (trained if isinstance(trained, int) else 640))
        self.conf, self.keypoint_conf, self.device, self.batch_size = conf, keypoint_conf, device, batch_size
        self.weights = weights

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        out: list[PitchObservations] = []
        for start in range(0, len(frames), self.batch_size):
            images = list(frames.images[start:start + self.batch_size])
            # Ultralytics' NMS time limit empties the rest of a batch under load (detector.predict_uncut).
            from soccerfactory.curation.detection.detector import predict_uncut

            results = predict_uncut(self.model, images, imgsz=self.imgsz, conf=self.conf, device=self.device, verbose=False)
            out.extend(self._observations(r, frames.width, frames.height) for r in results)
        return out

    def _observations(self, result: Any, width: int, height: int) -> PitchObservations:
        if result.keypoints is None or result.boxes is None or len(result.boxes) == 0:
            return PitchObservations.empty()
        best = int(result.boxes.conf.cpu().numpy().argmax())
        xy = result.keypoints.xy.cpu().numpy()[best].astype(np.float64)
        if result.keypoints.conf is not None:
            confidence = result.keypoints.conf.cpu().numpy()[best].astype(np.float64)
        else:
            confidence = np.full(len(xy), float(result.boxes.conf.cpu().numpy()[best]))
        # Ultralytics clamps keypoints into the image; a clamped one is somewhere outside it.
        inside = (xy[:, 0] > 0) & (xy[:, 0] < width) & (xy[:, 1] > 0) & (xy[:, 1] < height)
        keep = np.flatnonzero((confidence >= self.keypoint_conf) & inside & np.isfinite(xy).all(axis=1))
        return PitchObservations(
            keypoints=xy[keep].astype(np.float32),
            keypoint_ids=keep.astype(np.int64),
            keypoint_confidence=np.clip(confidence[keep], 0, 1).astype(np.float32),
        )
