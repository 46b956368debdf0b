"""What a pitch feature detector saw of one frame: :class:`PitchObservations`.

Named pitch keypoints (rows of ``PitchModel.keypoints``) and/or pixels on named pitch lines, in
the pixels of the full (distorted) frame. Every detector returns one per frame and every solver
takes them; validated and read-only, so a detector's mistake fails where it is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.pitch import KEYPOINT_NAMES, LINE_NAMES

__all__ = ["PitchObservations"]


def _float_array(owner: str, name: str, value: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"{owner}.{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if arr.size == 0 and len(shape) == 2 and shape[1] is not None:
        arr = arr.reshape(0, shape[1])
    ok = arr.ndim == len(shape) and all(e is None or e == s for e, s in zip(shape, arr.shape))
    if not ok:
        pretty = "(" + ", ".join("N" if e is None else str(e) for e in shape) + (",)" if len(shape) == 1 else ")")
        raise ValueError(f"{owner}.{name} must have shape {pretty}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{owner}.{name} must be finite")
    return arr


@dataclass(frozen=True, eq=False)
class PitchObservations:
    """What a feature detector saw of the pitch in one frame.

    Attributes:
        keypoints: ``float32`` ``(K, 2)`` pixel coordinates ``(x, y)`` in the full frame.
        keypoint_ids: ``int64`` ``(K,)`` rows of ``PitchModel.keypoints`` (``KEYPOINT_NAMES``),
            unique within the frame.
        keypoint_confidence: ``float32`` ``(K,)`` in ``[0, 1]``.
        lines: ``((line_name, pixels), ...)``: ``line_name`` one of ``pitch.LINE_NAMES``, each at
            most once; ``pixels`` ``float32`` ``(M, 2)`` with ``M >= 1`` image points lying on
            that marking (anywhere along it, in any order).
    """

    keypoints: np.ndarray
    keypoint_ids: np.ndarray
    keypoint_confidence: np.ndarray
    lines: tuple[tuple[str, np.ndarray], ...] = ()

    def __post_init__(self) -> None:
        owner = "PitchObservations"
        keypoints = _float_array(owner, "keypoints", self.keypoints, (None, 2))
        n = len(keypoints)
        ids = np.asarray(self.keypoint_ids)
        if ids.size and ids.dtype.kind not in "iu" and not (ids.dtype.kind == "f" and np.all(ids == np.round(ids))):
            raise ValueError(f"{owner}.keypoint_ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64).reshape(-1) if ids.size else np.zeros(0, np.int64)
        if ids.shape != (n,):
            raise ValueError(f"{owner}.keypoint_ids must have shape ({n},) like keypoints, got {ids.shape}")
        if n and (ids.min() < 0 or ids.max() >= len(KEYPOINT_NAMES)):
            raise ValueError(f"{owner}.keypoint_ids must be in [0, {len(KEYPOINT_NAMES)}), got {ids.tolist()}")
        if len(np.unique(ids)) != n:
            raise ValueError(f"{owner}.keypoint_ids must be unique within a frame, got {ids.tolist()}")
        confidence = _float_array(owner, "keypoint_confidence", self.keypoint_confidence, (None,))
        if confidence.shape != (n,):
            raise ValueError(f"{owner}.keypoint_confidence must have shape ({n},), got {confidence.shape}")
        if n and (confidence.min() < 0 or confidence.max() > 1):
            raise ValueError(f"{owner}.keypoint_confidence must be in [0, 1]")
        lines = []
        seen = set()
        for item in self.lines:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise ValueError(f"{owner}.lines must hold (line_name, pixels) pairs, got {item!r}")
            name, pixels = item
            if name not in LINE_NAMES:
                raise ValueError(f"{owner}.lines: unknown line {name!r}; valid names: {', '.join(LINE_NAMES)}")
            if name in seen:
                raise ValueError(f"{owner}.lines: line {name!r} appears twice")
            seen.add(name)
            pixels = _float_array(owner, f"lines[{name!r}]", pixels, (None, 2))
            if len(pixels) == 0:
                raise ValueError(f"{owner}.lines[{name!r}] has no pixels; leave the line out instead")
            lines.append((name, readonly(pixels)))
        object.__setattr__(self, "keypoints", readonly(keypoints))
        object.__setattr__(self, "keypoint_ids", readonly(ids))
        object.__setattr__(self, "keypoint_confidence", readonly(confidence))
        object.__setattr__(self, "lines", tuple(lines))

    @classmethod
    def empty(cls) -> PitchObservations:
        """No keypoints and no lines."""
        return cls(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        """Number of keypoints."""
        return len(self.keypoints)

    @property
    def line_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.lines)

    @property
    def n_line_pixels(self) -> int:
        return sum(len(pixels) for _, pixels in self.lines)

    def with_lines(self, lines: Sequence[tuple[str, np.ndarray]]) -> PitchObservations:
        """The same keypoints with ``lines`` in place of the current line observations."""
        return dataclasses.replace(self, lines=tuple(lines))
