"""Detection stage: athletes and the ball in every frame.

Backends hide behind :class:`Detector`, a callable from a batch of frames to
:class:`~soccerfactory.curation.types.Detections` in the project's class vocabulary
(:data:`~soccerfactory.curation.types.CLASS_NAMES`). ``build_detector`` picks one by name; heavy
libraries are imported inside the builders so importing this module stays cheap.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from soccerfactory.curation.bundled import bundled_weights, require_weights
from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.registry import pick_builder
from soccerfactory.curation.types import CLASS_NAMES, Detections, Frames

__all__ = ["Detector", "UltralyticsDetector", "build_detector", "DETECTORS", "CLASS_SYNONYMS"]

#: Names other datasets use for our classes; the Roboflow football sets call the ball "football".
CLASS_SYNONYMS: dict[str, str] = {"football": "ball", "sports ball": "ball", "soccer ball": "ball", "keeper": "goalkeeper"}


class Detector(Protocol):
    """Finds athletes and the ball.

    ``__call__(frames)`` returns the boxes of every frame in the batch (xyxy, pixels of the full
    frame), ``frame_index`` taken from ``frames``, ``class_names == CLASS_NAMES``.
    """

    name: str
    version: str

    def __call__(self, frames: Frames) -> Detections: ...


def _class_lookup(model_names: Mapping[int, str], class_map: Mapping[str, str] | None, weights: Path) -> np.ndarray:
    """Model class id -> our class id (``-1`` = drop), or raise naming what cannot be mapped."""
    mapping = {**CLASS_SYNONYMS, **(class_map or {})}
    lookup = np.full(max(model_names) + 1, -1, dtype=np.int64)
    unknown = []
    for model_id, raw in model_names.items():
        name = mapping.get(str(raw).lower(), str(raw).lower())
        if name in CLASS_NAMES:
            lookup[model_id] = CLASS_NAMES.index(name)
        elif name != "ignore":
            unknown.append(str(raw))
    if unknown and (lookup >= 0).sum() == 0:
        raise ValueError(
            f"detector weights {weights} predict classes {sorted(unknown)}, none of which is one of {CLASS_NAMES}; "
            "pass class_map={'their name': 'player'} (or 'ignore') to map them"
        )
    return lookup


class UltralyticsDetector:
    """A YOLOv8 (ultralytics) detector with the project's class vocabulary.

    Args:
        weights: Local ``.pt`` file. Never downloaded: a missing file raises FileNotFoundError.
        imgsz: Inference size (long side, pixels). Far players are 20-40 px tall at 1080p, so
            going below 640 loses them.
        conf: Minimum confidence kept.
        iou: NMS IoU threshold.
        device: ``"cpu"``, ``"cuda:0"``, ...
        class_map: Extra model-class-name -> our-class-name mapping (``"ignore"`` drops a class).
        half: fp16 inference (GPU only).
    """

    name = "yolov8"

    def __init__(
        self,
        weights: str | os.PathLike,
        imgsz: int = 960,
        conf: float = 0.25,
        iou: float = 0.6,
        device: str = "cpu",
        class_map: Mapping[str, str] | None = None,
        half: bool = False,
    ) -> None:
        self.weights = require_weights(weights, "detector weights")
        if not (32 <= int(imgsz) <= 4096):
            raise ValueError(f"imgsz must be in [32, 4096], got {imgsz}")
        if not (0.0 <= conf <= 1.0 and 0.0 < iou <= 1.0):
            raise ValueError(f"conf must be in [0, 1] and iou in (0, 1], got conf={conf}, iou={iou}")
        from soccerfactory.curation.runtime import prepare_vision_runtime

        prepare_vision_runtime()
        from ultralytics import YOLO

        self._model = YOLO(str(self.weights), task="detect")
        self._lookup = _class_lookup(self._model.names, class_map, self.weights)
        self.imgsz, self.conf, self.iou, self.device, self.half = int(imgsz), float(conf), float(iou), device, half
        self.version = f"{self.weights.name}@{sha256_file(self.weights)[:12]}"
        # One ultralytics predictor is not safe to call from two threads at once.
        self._lock = threading.Lock()

    def __call__(self, frames: Frames) -> Detections:
        if len(frames) == 0:
            return Detections.empty()
        options = {"imgsz": self.imgsz, "conf": self.conf, "iou": self.iou, "device": self.device, "verbose": False}
        if self.half:  # ultralytics warns about `half` whenever it is passed, even False
            options["half"] = True
        with self._lock:
            results = self._model.predict(list(frames.images), **options)
        parts = []
        for result, frame_index in zip(results, frames.frame_index.tolist()):
            raw = Detections.from_ultralytics(result, frame_index=frame_index)
            ours = self._lookup[raw.class_id]
            keep = ours >= 0
            parts.append(
                Detections(
                    xyxy=raw.xyxy[keep],
                    confidence=raw.confidence[keep],
                    class_id=ours[keep],
                    frame_index=raw.frame_index[keep],
                )
            )
        return Detections.merge(parts)


def _build_yolov8(weights: str | os.PathLike | None = None, **params: Any) -> UltralyticsDetector:
    return UltralyticsDetector(weights or bundled_weights("detector.pt"), **params)


DETECTORS: dict[str, Callable[..., Detector]] = {"yolov8": _build_yolov8}


def build_detector(name: str = "yolov8", **params: Any) -> Detector:
    """Build a detector backend by name (``weights=None`` means the bundled default model).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
        FileNotFoundError: when the weights file is missing, saying how to get one.
    """
    return pick_builder(DETECTORS, name, "detector")(**params)
