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
from soccerfactory.curation.types import BALL, CLASS_NAMES, Detections, Frames

__all__ = ["BallSlicer", "CLASS_SYNONYMS", "DETECTORS", "Detector", "UltralyticsDetector", "build_detector", "slice_grid"]

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
        from soccerfactory.curation.safe_load import load_yolo

        # Scanned, then loaded weights_only: a pickled payload in the file never runs.
        self._model = load_yolo(self.weights, "detector weights", task="detect")
        self._lookup = _class_lookup(self._model.names, class_map, self.weights)
        self.imgsz, self.conf, self.iou, self.device, self.half = int(imgsz), float(conf), float(iou), device, half
        self.version = f"{self.weights.name}@{sha256_file(self.weights)[:12]}"
        # One ultralytics predictor is not safe to call from two threads at once.
        self._lock = threading.Lock()

    def __call__(self, frames: Frames) -> Detections:
        return Detections.merge(self.detect_each(list(frames.images), frames.frame_index))

    def detect_each(
        self,
        images: list[np.ndarray],
        frame_index: np.ndarray | list[int],
        imgsz: int | None = None,
        conf: float | None = None,
    ) -> Detections:
        """Detect in a batch of images of any size (whole frames or slices of them).

        Args:
            images: ``uint8`` ``(H, W, 3)`` BGR images, one predict call for all of them.
            frame_index: ``(len(images),)`` frame each image belongs to (slices of one frame
                share it).
            imgsz: Inference size for this call (default: the detector's).
            conf: Minimum confidence for this call (default: the detector's).

        Returns:
            One :class:`Detections` per image, boxes in pixels of that *image* (a slice's own
            coordinates), our class ids.
        """
        if len(images) == 0:
            return []
        options = {
            "imgsz": int(imgsz or self.imgsz),
            "conf": self.conf if conf is None else float(conf),
            "iou": self.iou,
            "device": self.device,
            "verbose": False,
        }
        if self.half:  # ultralytics warns about `half` whenever it is passed, even False
            options["half"] = True
        with self._lock:
            results = self._model.predict(list(images), **options)
        parts = []
        for result, index in zip(results, np.asarray(frame_index).tolist()):
            raw = Detections.from_ultralytics(result, frame_index=index)
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
        return parts


def slice_grid(width: int, height: int, slices: int = 2, overlap: float = 0.1) -> np.ndarray:
    """Overlapping slices covering a ``width x height`` frame, ``slices x slices`` of them.

    Each slice keeps the frame's aspect ratio (so it runs letterbox-free at the detector's
    rectangular input) and overlaps its neighbours by ``overlap`` of its size, so a ball on a
    seam is whole in at least one slice.

    Returns:
        ``int64`` ``(slices**2, 4)`` xyxy pixel windows inside the frame.
    """
    if slices < 1 or not 0 <= overlap < 1:
        raise ValueError(f"slices must be >= 1 and overlap in [0, 1), got {slices}, {overlap}")
    windows = []
    tile_w = min(width, int(np.ceil(width / slices * (1 + overlap))))
    tile_h = min(height, int(np.ceil(height / slices * (1 + overlap))))
    xs = np.linspace(0, width - tile_w, slices).round().astype(np.int64) if slices > 1 else np.array([0])
    ys = np.linspace(0, height - tile_h, slices).round().astype(np.int64) if slices > 1 else np.array([0])
    for y in ys:
        for x in xs:
            windows.append((x, y, x + tile_w, y + tile_h))
    return np.asarray(windows, dtype=np.int64)


class BallSlicer:
    """A second look for the ball in slices of the frame cut at native resolution.

    A ball is ~10 px at 1080p; the full-frame pass at ``imgsz`` 768 shrinks it to ~4 px, near
    the detector's smallest stride, and misses most of them. On frames where the full-frame pass
    found no ball, this runs the same detector on ``slices x slices`` overlapping slices of the
    full-resolution frame (each slice shrunk by ~0.7 instead of ~0.4 at 1080p) and keeps the ball
    boxes, mapped back to frame pixels. Athletes are not re-detected: the full frame finds them.

    A weak full-frame ball (confidence below ``retry_below``) is no reason to stop looking: a
    white sock or a penalty mark at 0.3 would otherwise hide the real ball from the slices. Such
    frames are sliced too; the full-frame row stays and the most confident candidate wins
    downstream (:func:`~soccerfactory.curation.detection.ball.best_ball_per_frame`).

    Slicing multiplies the detector's cost by ``slices**2`` on the frames it runs on, so it runs
    on every ``every``-th frame only (by source frame index); the ball track interpolates between
    (:func:`~soccerfactory.curation.detection.ball.follow_ball`).

    Args:
        detector: The detector of the full-frame pass (its weights and classes).
        slices: Slices per side (2 = four slices; the pipeline's default is 3).
        overlap: Overlap of neighbouring slices, fraction of a slice.
        conf: Minimum ball confidence in a slice.
        every: Look in slices on frames whose index is a multiple of this (1 = every frame).
        imgsz: Largest inference size of a slice (default: the detector's, the size the bundled
            model was trained on slices at); a slice smaller than that runs at its own size.
        retry_below: Also slice frames whose most confident full-frame ball is below this
            (``0`` = only frames with no ball at all).
    """

    def __init__(
        self,
        detector: UltralyticsDetector,
        slices: int = 2,
        overlap: float = 0.1,
        conf: float = 0.25,
        every: int = 1,
        imgsz: int | None = None,
        retry_below: float = 0.0,
    ) -> None:
        if (
            slices < 1 or not 0 <= overlap < 1 or not 0 <= conf <= 1 or every < 1
            or (imgsz is not None and imgsz < 32) or not 0 <= retry_below <= 1
        ):
            raise ValueError(
                f"invalid ball slicing: slices={slices}, overlap={overlap}, conf={conf}, every={every}, imgsz={imgsz}, "
                f"retry_below={retry_below}"
            )
        self.detector, self.slices, self.overlap, self.conf = detector, int(slices), float(overlap), float(conf)
        self.every = int(every)
        self.imgsz = int(imgsz or detector.imgsz)
        self.retry_below = float(retry_below)

    def __call__(self, frames: Frames, detections: Detections) -> Detections:
        """``detections`` plus the ball boxes found in slices of the frames that had no confident one.

        Returns:
            The input rows first, unchanged, then the new ball rows (frame pixels).
        """
        confident = (detections.class_id == BALL) & (detections.confidence >= self.retry_below)
        has_ball = np.isin(frames.frame_index, detections.frame_index[confident])
        missing = np.flatnonzero(~has_ball & (frames.frame_index % self.every == 0))
        if len(missing) == 0:
            return detections
        windows = slice_grid(frames.width, frames.height, self.slices, self.overlap)
        # Never enlarge a slice past its native size: that costs time and adds no pixel.
        native = int(np.ceil(max(windows[0, 2] - windows[0, 0], windows[0, 3] - windows[0, 1]) / 32) * 32)
        imgsz = min(self.imgsz, native)
        crops, owners, offsets = [], [], []
        for position in missing.tolist():
            image = frames.images[position]
            for x0, y0, x1, y1 in windows.tolist():
                crops.append(np.ascontiguousarray(image[y0:y1, x0:x1]))
                owners.append(int(frames.frame_index[position]))
                offsets.append((x0, y0))
        found = []
        for start in range(0, len(crops), 8):
            batch = slice(start, start + 8)
            per_crop = self.detector.detect_each(crops[batch], owners[batch], imgsz=imgsz, conf=self.conf)
            for boxes, (dx, dy) in zip(per_crop, offsets[batch]):
                balls = boxes[boxes.class_id == BALL]
                if len(balls):
                    shifted = balls.xyxy + np.array([dx, dy, dx, dy], dtype=np.float32)
                    found.append(Detections(shifted, balls.confidence, balls.class_id, balls.frame_index))
        if not found:
            return detections
        return Detections.merge([detections, *found])


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
