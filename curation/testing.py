"""Deterministic builders of valid containers, for tests.

Every builder takes a ``seed`` and returns the same values for the same arguments, so
tests can compare against fixed expectations without data files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soccerfactory.curation.types import CLASS_NAMES, Camera, Detections, Frames, Tracks

__all__ = ["make_camera", "make_detections", "make_frames", "make_tracks"]


def make_frames(
    n: int = 4,
    height: int = 72,
    width: int = 128,
    seed: int = 0,
    fps: float = 25.0,
    start: int = 0,
    source: str = "synthetic://frames",
) -> Frames:
    """``n`` consecutive random BGR frames starting at frame ``start``."""
    rng = np.random.default_rng(seed)
    frame_index = np.arange(start, start + n, dtype=np.int64)
    return Frames(
        images=rng.integers(0, 256, size=(n, height, width, 3), dtype=np.uint8),
        frame_index=frame_index,
        timestamp_s=frame_index / fps,
        fps=fps,
        source=source,
    )


def _random_boxes(rng: np.random.Generator, n: int, image_size: tuple[int, int]) -> np.ndarray:
    width, height = image_size
    # Sizes of broadcast players (tens of pixels); boxes are clipped to stay inside the frame.
    wh = rng.uniform(4.0, max(5.0, min(width, height) / 4), size=(n, 2))
    x1 = rng.uniform(0.0, width - 1.0, size=n)
    y1 = rng.uniform(0.0, height - 1.0, size=n)
    x2 = np.minimum(x1 + wh[:, 0], width)
    y2 = np.minimum(y1 + wh[:, 1], height)
    return np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)


def make_detections(
    n: int = 5,
    frame_index: int | Sequence[int] | np.ndarray = 0,
    image_size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    with_tracks: bool = False,
) -> Detections:
    """``n`` random valid boxes inside an ``image_size`` ``(width, height)`` frame.

    Args:
        frame_index: One frame for every row, or one per row.
        with_tracks: Return :class:`Tracks` with ids ``0..n-1`` (unique, so valid
            whatever the frame indices).
    """
    rng = np.random.default_rng(seed)
    frames = np.broadcast_to(np.asarray(frame_index, dtype=np.int64), (n,)).copy()
    fields = dict(
        xyxy=_random_boxes(rng, n, image_size),
        confidence=rng.uniform(0.05, 1.0, size=n).astype(np.float32),
        class_id=rng.integers(0, len(CLASS_NAMES), size=n),
        frame_index=frames,
    )
    if with_tracks:
        return Tracks(**fields, track_id=np.arange(n, dtype=np.int64))
    return Detections(**fields)


def make_tracks(
    n_tracks: int = 3,
    n_frames: int = 4,
    image_size: tuple[int, int] = (1280, 720),
    seed: int = 0,
) -> Tracks:
    """``n_tracks`` tracks each present in every one of frames ``0..n_frames-1``.

    Rows are ordered by frame, then track, as a tracker emits them; each track
    drifts by a few pixels per frame.
    """
    rng = np.random.default_rng(seed)
    base = _random_boxes(rng, n_tracks, image_size)
    class_id = rng.integers(0, len(CLASS_NAMES), size=n_tracks)
    width, height = image_size
    boxes, frames, ids = [], [], []
    for f in range(n_frames):
        shift = rng.uniform(-3.0, 3.0, size=(n_tracks, 2))
        base = base + np.tile(shift, 2).astype(np.float32)
        base[:, [0, 2]] = np.clip(base[:, [0, 2]], 0, width)
        base[:, [1, 3]] = np.clip(base[:, [1, 3]], 0, height)
        boxes.append(base.copy())
        frames.append(np.full(n_tracks, f))
        ids.append(np.arange(n_tracks))
    n = n_tracks * n_frames
    return Tracks(
        xyxy=np.concatenate(boxes) if boxes else np.zeros((0, 4)),
        confidence=rng.uniform(0.3, 1.0, size=n).astype(np.float32),
        class_id=np.tile(class_id, n_frames),
        frame_index=np.concatenate(frames) if frames else np.zeros(0),
        track_id=np.concatenate(ids) if ids else np.zeros(0),
    )


def make_camera(
    position: Sequence[float] = (0.0, 34.0 + 25.0, -22.0),
    target: Sequence[float] = (0.0, 0.0, 0.0),
    focal_px: float = 1500.0,
    image_size: tuple[int, int] = (1280, 720),
    dist: Sequence[float] | None = None,
) -> Camera:
    """A main broadcast camera: 25 m behind the near touchline, 22 m up, aimed at the centre mark."""
    camera = Camera.look_at(position, target, focal_px, image_size)
    if dist is None:
        return camera
    return Camera(K=camera.K, R=camera.R, position=camera.position, image_size=camera.image_size, dist=dist)
