"""Typed containers passed between the curation stages.

Every container is a frozen dataclass of aligned numpy arrays, validated once in
``__post_init__`` so that downstream code can trust shapes, dtypes and value ranges
without re-checking them. Arrays are stored as read-only views: the constructor does
not copy (frames and masks are large), so the caller must not mutate an array after
handing it over, but nothing reachable through the container can be written to.

Conventions shared by all containers:

* Boxes are ``xyxy`` in pixels of the full source frame, ``x1 <= x2`` and ``y1 <= y2``.
* Images are ``uint8`` BGR, ``(H, W, 3)``, as OpenCV decodes them.
* ``frame_index`` is the 0-based index of the frame in its source clip.
* World coordinates follow the SoccerNet calibration convention; see
  :class:`~soccerfactory.curation.camera.Camera`.

Only numpy is imported here: detectors and trackers hand over their results through
duck-typed adapters (:meth:`Detections.from_ultralytics`) so that importing the types
never pulls in torch.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from soccerfactory.curation.arrays import (
    as_float,
    as_int64,
    check_length,
    check_shape,
    readonly,
    row_index,
    to_numpy,
    vector,
)

__all__ = [
    "BALL",
    "CLASS_NAMES",
    "GOALKEEPER",
    "PLAYER",
    "REFEREE",
    "Detections",
    "Frames",
    "Tracks",
]

#: Class names indexed by class id, in the order of the dataset labels
#: (``0 football, 1 goalkeeper, 2 player, 3 referee``).
CLASS_NAMES: tuple[str, ...] = ("ball", "goalkeeper", "player", "referee")
BALL, GOALKEEPER, PLAYER, REFEREE = 0, 1, 2, 3

_D = TypeVar("_D", bound="Detections")


# --------------------------------------------------------------------------- Frames


@dataclasses.dataclass(frozen=True, eq=False)
class Frames:
    """A batch of decoded frames from one clip.

    Attributes:
        images: ``uint8`` array of shape ``(N, H, W, 3)``, BGR channel order. Must
            already be ``uint8``: converting float images implicitly would hide a
            scaling bug, so it is rejected instead.
        frame_index: ``int64`` array of shape ``(N,)``, 0-based frame numbers in the
            source clip, strictly increasing.
        timestamp_s: ``float64`` array of shape ``(N,)``, presentation time of each
            frame in seconds, finite and non-decreasing.
        fps: Nominal frame rate of the source, ``> 0``.
        source: URL or path of the source clip.
    """

    images: np.ndarray
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    fps: float
    source: str

    def __post_init__(self) -> None:
        owner = "Frames"
        images = np.asarray(self.images)
        if images.dtype != np.uint8:
            raise ValueError(f"{owner}.images must have dtype uint8, got {images.dtype}")
        if images.ndim != 4 or images.shape[3] != 3 or images.shape[1] < 1 or images.shape[2] < 1:
            raise ValueError(f"{owner}.images must have shape (N, H, W, 3) with H, W >= 1, got {images.shape}")
        n = images.shape[0]

        frame_index = vector(as_int64(owner, "frame_index", self.frame_index))
        check_shape(owner, "frame_index", frame_index, (None,))
        check_length(owner, "frame_index", frame_index, n)
        if n and frame_index.min() < 0:
            raise ValueError(f"{owner}.frame_index must be >= 0, got min {frame_index.min()}")
        if n > 1 and not (np.diff(frame_index) > 0).all():
            raise ValueError(f"{owner}.frame_index must be strictly increasing, got {frame_index.tolist()[:10]}")

        timestamp_s = vector(as_float(owner, "timestamp_s", self.timestamp_s, np.float64))
        check_shape(owner, "timestamp_s", timestamp_s, (None,))
        check_length(owner, "timestamp_s", timestamp_s, n)
        if n > 1 and (np.diff(timestamp_s) < 0).any():
            raise ValueError(f"{owner}.timestamp_s must be non-decreasing, got {timestamp_s.tolist()[:10]}")

        fps = float(self.fps)
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"{owner}.fps must be finite and > 0, got {self.fps!r}")
        if not isinstance(self.source, str):
            raise ValueError(f"{owner}.source must be a str, got {type(self.source).__name__}")

        object.__setattr__(self, "images", readonly(images))
        object.__setattr__(self, "frame_index", readonly(frame_index))
        object.__setattr__(self, "timestamp_s", readonly(timestamp_s))
        object.__setattr__(self, "fps", fps)

    def __repr__(self) -> str:
        # The default repr would print pixel arrays.
        span = f"{self.frame_index[0]}..{self.frame_index[-1]}" if len(self) else "none"
        return (
            f"Frames(n={len(self)}, size={self.width}x{self.height}, frames={span}, "
            f"fps={self.fps}, source={self.source!r})"
        )

    @classmethod
    def empty(cls, height: int, width: int, fps: float, source: str) -> Frames:
        """Return a batch of zero frames that still knows its frame size."""
        return cls(
            images=np.zeros((0, int(height), int(width), 3), dtype=np.uint8),
            frame_index=np.zeros(0, dtype=np.int64),
            timestamp_s=np.zeros(0, dtype=np.float64),
            fps=fps,
            source=source,
        )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int] | Sequence[bool]) -> Frames:
        """Select frames; an int returns a batch of one (a view, no copy).

        Int index arrays must keep ``frame_index`` strictly increasing, i.e. be sorted.
        """
        idx = row_index(index, len(self))
        return dataclasses.replace(
            self,
            images=self.images[idx],
            frame_index=self.frame_index[idx],
            timestamp_s=self.timestamp_s[idx],
        )

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return int(self.images.shape[2])


# --------------------------------------------------------------------------- Detections


@dataclasses.dataclass(frozen=True, eq=False)
class Detections:
    """Aligned per-box arrays for ``N`` boxes, possibly spanning several frames.

    Row ``i`` of every array (and of every entry of ``data``) describes the same box.

    Attributes:
        xyxy: ``float32`` ``(N, 4)`` boxes ``(x1, y1, x2, y2)`` in pixels of the full
            frame, finite, ``x1 <= x2`` and ``y1 <= y2``.
        confidence: ``float32`` ``(N,)`` scores in ``[0, 1]``.
        class_id: ``int64`` ``(N,)`` indices into ``class_names``.
        frame_index: ``int64`` ``(N,)`` frame each box belongs to, ``>= 0``.
        track_id: ``int64`` ``(N,)`` track ids, ``-1`` meaning not (yet) assigned, or
            ``None`` when no tracker has run.
        mask: ``bool`` ``(N, H, W)`` full-frame instance masks, or ``None``.
        data: Extra per-row arrays keyed by name (e.g. ``"team"`` ``(N,)``,
            ``"embedding"`` ``(N, D)``); each has first dimension ``N``. Stored as a
            read-only mapping.
        class_names: Names indexed by class id; defaults to :data:`CLASS_NAMES`.

    Lists are accepted for every array and coerced to the documented dtype.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    frame_index: np.ndarray
    track_id: np.ndarray | None = None
    mask: np.ndarray | None = None
    data: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    class_names: tuple[str, ...] = CLASS_NAMES

    def __post_init__(self) -> None:
        owner = type(self).__name__

        xyxy = as_float(owner, "xyxy", self.xyxy, np.float32)
        if xyxy.size == 0:
            # So that `Detections([], [], [], [])` is a valid empty batch.
            xyxy = xyxy.reshape(0, 4)
        check_shape(owner, "xyxy", xyxy, (None, 4))
        n = xyxy.shape[0]
        bad = (xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{owner}.xyxy must satisfy x1 <= x2 and y1 <= y2, row {i} is {xyxy[i].tolist()}")

        confidence = vector(as_float(owner, "confidence", self.confidence, np.float32))
        check_shape(owner, "confidence", confidence, (None,))
        check_length(owner, "confidence", confidence, n)
        if n and ((confidence < 0) | (confidence > 1)).any():
            raise ValueError(
                f"{owner}.confidence must be in [0, 1], got range [{confidence.min()}, {confidence.max()}]"
            )

        class_names = tuple(self.class_names)
        if not class_names or not all(isinstance(c, str) for c in class_names):
            raise ValueError(f"{owner}.class_names must be a non-empty tuple of str, got {self.class_names!r}")

        class_id = vector(as_int64(owner, "class_id", self.class_id))
        check_shape(owner, "class_id", class_id, (None,))
        check_length(owner, "class_id", class_id, n)
        if n and ((class_id < 0) | (class_id >= len(class_names))).any():
            raise ValueError(
                f"{owner}.class_id must be in [0, {len(class_names)}) to index class_names, "
                f"got range [{class_id.min()}, {class_id.max()}]"
            )

        frame_index = vector(as_int64(owner, "frame_index", self.frame_index))
        check_shape(owner, "frame_index", frame_index, (None,))
        check_length(owner, "frame_index", frame_index, n)
        if n and frame_index.min() < 0:
            raise ValueError(f"{owner}.frame_index must be >= 0, got min {frame_index.min()}")

        track_id = None
        if self.track_id is not None:
            track_id = vector(as_int64(owner, "track_id", self.track_id))
            check_shape(owner, "track_id", track_id, (None,))
            check_length(owner, "track_id", track_id, n)
            if n and track_id.min() < -1:
                raise ValueError(f"{owner}.track_id must be >= -1 (-1 = unassigned), got min {track_id.min()}")

        mask = None
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.dtype != bool:
                raise ValueError(f"{owner}.mask must have dtype bool, got {mask.dtype}")
            if mask.ndim != 3:
                raise ValueError(f"{owner}.mask must have shape (N, H, W), got {mask.shape}")
            check_length(owner, "mask", mask, n)

        if not isinstance(self.data, Mapping):
            raise ValueError(f"{owner}.data must be a mapping of name -> array, got {type(self.data).__name__}")
        data: dict[str, np.ndarray] = {}
        for key, value in self.data.items():
            if not isinstance(key, str):
                raise ValueError(f"{owner}.data keys must be str, got {key!r}")
            arr = np.asarray(value)
            check_length(owner, f"data[{key!r}]", arr, n)
            data[key] = readonly(arr)

        object.__setattr__(self, "xyxy", readonly(xyxy))
        object.__setattr__(self, "confidence", readonly(confidence))
        object.__setattr__(self, "class_id", readonly(class_id))
        object.__setattr__(self, "frame_index", readonly(frame_index))
        object.__setattr__(self, "track_id", None if track_id is None else readonly(track_id))
        object.__setattr__(self, "mask", None if mask is None else readonly(mask))
        object.__setattr__(self, "data", types.MappingProxyType(data))
        object.__setattr__(self, "class_names", class_names)

    def __repr__(self) -> str:
        # The default repr would print every array, masks included.
        mask = "None" if self.mask is None else f"{self.mask.shape[1]}x{self.mask.shape[2]}"
        tracked = "None" if self.track_id is None else f"{len(np.unique(self.track_id))} ids"
        return (
            f"{type(self).__name__}(n={len(self)}, frames={self.frames.tolist()[:8]}, "
            f"track_id={tracked}, mask={mask}, data={sorted(self.data)})"
        )

    # ----------------------------------------------------------------- construction

    @classmethod
    def empty(cls: type[_D], class_names: Sequence[str] = CLASS_NAMES) -> _D:
        """Return zero detections (``track_id`` is ``None``)."""
        return cls(
            xyxy=np.zeros((0, 4), dtype=np.float32),
            confidence=np.zeros(0, dtype=np.float32),
            class_id=np.zeros(0, dtype=np.int64),
            frame_index=np.zeros(0, dtype=np.int64),
            class_names=tuple(class_names),
        )

    @classmethod
    def from_ultralytics(cls, results: Any, frame_index: int = 0, with_masks: bool = False) -> Detections:
        """Convert one ultralytics ``Results`` (one image) into detections.

        The object is duck-typed, so ultralytics is not imported: ``results.boxes``
        must expose ``xyxy`` ``(N, 4)``, ``conf`` ``(N,)`` and ``cls`` ``(N,)`` as torch
        tensors or arrays, optionally ``id`` (track ids, ``None`` when not tracking),
        and ``results.names`` maps class id -> name.

        Args:
            results: One ``Results``; ``model(...)`` returns a list, pass its elements
                one at a time and :meth:`merge` them.
            frame_index: Frame the image came from, stored on every row.
            with_masks: Also take ``results.masks.data`` as ``mask``. Ultralytics keeps
                masks at the network's input resolution unless predicting with
                ``retina_masks=True``; a mask whose size differs from the original
                image raises instead of being silently misaligned with the boxes.

        Returns:
            Detections with ``class_names`` taken from ``results.names``.

        Raises:
            TypeError: if given a list of results.
            ValueError: if ``results.names`` is not contiguous from 0, or the masks
                are not at the original image resolution.
        """
        if isinstance(results, (list, tuple)):
            raise TypeError(
                "from_ultralytics takes one Results (one image); convert each and combine with Detections.merge"
            )
        names_map = dict(results.names)
        if sorted(names_map) != list(range(len(names_map))):
            raise ValueError(f"results.names must map ids 0..K-1 to names, got ids {sorted(names_map)}")
        class_names = tuple(str(names_map[i]) for i in range(len(names_map)))

        boxes = getattr(results, "boxes", None)
        if boxes is None:
            return cls.empty(class_names=class_names)
        xyxy = to_numpy(boxes.xyxy).reshape(-1, 4)
        n = xyxy.shape[0]
        ids = getattr(boxes, "id", None)
        track_id = None if ids is None else to_numpy(ids).reshape(-1)

        mask = None
        if with_masks:
            masks = getattr(results, "masks", None)
            orig_shape = tuple(int(v) for v in results.orig_shape[:2])
            if masks is None:
                # Ultralytics leaves masks None when nothing was detected.
                if n:
                    raise ValueError("with_masks=True but results.masks is None (not a segmentation model?)")
                mask = np.zeros((0, *orig_shape), dtype=bool)
            else:
                mask = to_numpy(getattr(masks, "data", masks)) > 0.5
                if mask.shape[1:] != orig_shape:
                    raise ValueError(
                        f"results.masks has size {mask.shape[1:]} but the image is {orig_shape}; "
                        "predict with retina_masks=True to get full-resolution masks"
                    )

        return cls(
            xyxy=xyxy,
            confidence=to_numpy(boxes.conf).reshape(-1),
            class_id=to_numpy(boxes.cls).reshape(-1),
            frame_index=np.full(n, frame_index, dtype=np.int64),
            track_id=track_id,
            mask=mask,
            class_names=class_names,
        )

    @classmethod
    def merge(cls: type[_D], items: Sequence[Detections]) -> _D:
        """Concatenate detections row-wise.

        All items must share ``class_names``, ``data`` keys and mask size (or all have
        no mask). If only some items carry ``track_id``, the others get ``-1``
        (unassigned). Items with zero rows are ignored unless all are empty, so an
        empty placeholder does not force its (missing) keys on the rest.

        Returns:
            An instance of ``cls``; ``cls.empty()`` for an empty list.
        """
        items = list(items)
        if not items:
            return cls.empty()
        parts = [d for d in items if len(d)] or items
        first = parts[0]
        for d in parts[1:]:
            if d.class_names != first.class_names:
                raise ValueError(f"cannot merge: class_names differ ({first.class_names} vs {d.class_names})")
            if set(d.data) != set(first.data):
                raise ValueError(f"cannot merge: data keys differ ({sorted(first.data)} vs {sorted(d.data)})")
            if (d.mask is None) != (first.mask is None):
                raise ValueError("cannot merge: some detections have masks and others do not")
            if d.mask is not None and d.mask.shape[1:] != first.mask.shape[1:]:
                raise ValueError(f"cannot merge: mask sizes differ ({first.mask.shape[1:]} vs {d.mask.shape[1:]})")

        track_id = None
        if any(d.track_id is not None for d in parts):
            track_id = np.concatenate(
                [d.track_id if d.track_id is not None else np.full(len(d), -1, dtype=np.int64) for d in parts]
            )
        return cls(
            xyxy=np.concatenate([d.xyxy for d in parts]),
            confidence=np.concatenate([d.confidence for d in parts]),
            class_id=np.concatenate([d.class_id for d in parts]),
            frame_index=np.concatenate([d.frame_index for d in parts]),
            track_id=track_id,
            mask=None if first.mask is None else np.concatenate([d.mask for d in parts]),
            data={k: np.concatenate([d.data[k] for d in parts]) for k in first.data},
            class_names=first.class_names,
        )

    # ----------------------------------------------------------------- copies

    def with_tracks(self: _D, track_id: np.ndarray | Sequence[int]) -> _D:
        """Return a copy with ``track_id`` replaced (``-1`` = unassigned)."""
        return dataclasses.replace(self, track_id=track_id)

    def with_data(self: _D, **arrays: np.ndarray | Sequence[Any]) -> _D:
        """Return a copy with extra per-row arrays added (or replaced) in ``data``."""
        return dataclasses.replace(self, data={**self.data, **arrays})

    def to_tracks(self) -> Tracks:
        """Return these rows as :class:`Tracks`; every ``track_id`` must be ``>= 0``."""
        return Tracks(
            xyxy=self.xyxy,
            confidence=self.confidence,
            class_id=self.class_id,
            frame_index=self.frame_index,
            track_id=self.track_id,
            mask=self.mask,
            data=self.data,
            class_names=self.class_names,
        )

    # ----------------------------------------------------------------- indexing

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self: _D, index: int | slice | np.ndarray | Sequence[int] | Sequence[bool]) -> _D:
        """Select rows by int, slice, boolean mask or int index array.

        Every aligned array (``track_id``, ``mask`` and all of ``data`` included) is
        indexed the same way; an int returns a one-row instance, never a scalar.
        """
        idx = row_index(index, len(self))
        return dataclasses.replace(
            self,
            xyxy=self.xyxy[idx],
            confidence=self.confidence[idx],
            class_id=self.class_id[idx],
            frame_index=self.frame_index[idx],
            track_id=None if self.track_id is None else self.track_id[idx],
            mask=None if self.mask is None else self.mask[idx],
            data={k: v[idx] for k, v in self.data.items()},
        )

    def for_frame(self: _D, frame_index: int) -> _D:
        """Rows belonging to one frame, in their current order."""
        return self[self.frame_index == frame_index]

    @property
    def frames(self) -> np.ndarray:
        """Sorted unique frame indices, ``int64`` ``(F,)``."""
        return np.unique(self.frame_index)

    @property
    def is_tracked(self) -> bool:
        """True when every row has an assigned track id (``>= 0``)."""
        return self.track_id is not None and bool((self.track_id >= 0).all())

    # ----------------------------------------------------------------- geometry

    @property
    def area(self) -> np.ndarray:
        """Box areas in square pixels, ``float32`` ``(N,)``."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    @property
    def centers(self) -> np.ndarray:
        """Box centres ``(x, y)`` in pixels, ``float32`` ``(N, 2)``."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], axis=1)

    @property
    def bottom_center(self) -> np.ndarray:
        """Middle of the bottom edge ``(x, y2)`` in pixels, ``float32`` ``(N, 2)``.

        For a standing person this is where the feet touch the pitch, the point that
        is projected to pitch coordinates.
        """
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)


@dataclasses.dataclass(frozen=True, eq=False)
class Tracks(Detections):
    """Detections whose every row belongs to a track.

    Same fields as :class:`Detections`, with ``track_id`` required, ``>= 0``, and each
    track present at most once per frame (a tracker never assigns one id to two
    boxes in the same frame; if rows say otherwise something upstream is broken).
    """

    def __post_init__(self) -> None:
        if self.track_id is None:
            raise ValueError("Tracks.track_id is required, got None")
        super().__post_init__()
        assert self.track_id is not None
        if len(self) and self.track_id.min() < 0:
            raise ValueError(f"Tracks.track_id must be >= 0, got min {self.track_id.min()}")
        if len(self) > 1:
            order = np.lexsort((self.frame_index, self.track_id))
            t, f = self.track_id[order], self.frame_index[order]
            dup = (t[1:] == t[:-1]) & (f[1:] == f[:-1])
            if dup.any():
                j = int(np.flatnonzero(dup)[0])
                raise ValueError(f"Tracks: track_id {t[j]} appears more than once in frame {f[j]}")

    @classmethod
    def empty(cls, class_names: Sequence[str] = CLASS_NAMES) -> Tracks:
        """Return zero tracked rows (``track_id`` is an empty array, not ``None``)."""
        return cls(
            xyxy=np.zeros((0, 4), dtype=np.float32),
            confidence=np.zeros(0, dtype=np.float32),
            class_id=np.zeros(0, dtype=np.int64),
            frame_index=np.zeros(0, dtype=np.int64),
            track_id=np.zeros(0, dtype=np.int64),
            class_names=tuple(class_names),
        )

    def track_ids(self) -> np.ndarray:
        """Sorted unique track ids, ``int64`` ``(T,)``."""
        assert self.track_id is not None
        return np.unique(self.track_id)

    def tracklet(self, track_id: int) -> Tracks:
        """Rows of one track, sorted by frame index (empty if the id is absent)."""
        assert self.track_id is not None
        rows = np.flatnonzero(self.track_id == track_id)
        return self[rows[np.argsort(self.frame_index[rows], kind="stable")]]

