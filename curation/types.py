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
* World coordinates follow the SoccerNet calibration convention; see :class:`Camera`.

Only numpy is imported here: detectors and trackers hand over their results through
duck-typed adapters (:meth:`Detections.from_ultralytics`) so that importing the types
never pulls in torch.
"""

from __future__ import annotations

import dataclasses
import operator
import types
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "BALL",
    "CLASS_NAMES",
    "GOALKEEPER",
    "PLAYER",
    "REFEREE",
    "Camera",
    "Detections",
    "Frames",
    "Tracks",
]

#: Class names indexed by class id, in the order of the dataset labels
#: (``0 football, 1 goalkeeper, 2 player, 3 referee``).
CLASS_NAMES: tuple[str, ...] = ("ball", "goalkeeper", "player", "referee")
BALL, GOALKEEPER, PLAYER, REFEREE = 0, 1, 2, 3

_D = TypeVar("_D", bound="Detections")

# Tolerances for accepting a rotation matrix / intrinsics produced by float arithmetic
# (calibration solvers, JSON round trips) while still catching real mistakes.
_ROTATION_TOL = 1e-6
_K_TOL = 1e-9


# --------------------------------------------------------------------------- helpers


def _readonly(arr: np.ndarray) -> np.ndarray:
    # A view, so the caller's array keeps its own flags and no data is copied.
    view = arr.view()
    view.flags.writeable = False
    return view


def _as_float(owner: str, name: str, value: Any, dtype: type) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"{owner}.{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        bad = arr[~np.isfinite(arr)].ravel()[:3]
        raise ValueError(f"{owner}.{name} must be finite, got non-finite values {bad.tolist()}")
    return arr


def _as_int64(owner: str, name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        # Ids that arrive as floats (torch class tensors) are fine; fractional ones are a bug.
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{owner}.{name} must hold integers, got non-integral values")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{owner}.{name} must be integer, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _vector(arr: np.ndarray) -> np.ndarray:
    # `[]` and `np.array([])` are the natural spelling of "no rows"; give them shape (0,).
    return arr.reshape(0) if arr.size == 0 else arr


def _check_shape(owner: str, name: str, arr: np.ndarray, expected: tuple[int | None, ...]) -> None:
    ok = arr.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, arr.shape))
    if not ok:
        dims = ["N" if e is None else str(e) for e in expected]
        pretty = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
        raise ValueError(f"{owner}.{name} must have shape {pretty}, got {arr.shape}")


def _check_length(owner: str, name: str, arr: np.ndarray, n: int) -> None:
    if arr.ndim == 0 or arr.shape[0] != n:
        raise ValueError(f"{owner}.{name} must have length {n} (one entry per row), got shape {arr.shape}")


def _row_index(index: Any, n: int) -> slice | np.ndarray:
    """Turn any supported row index into a slice or a 1-D bool/int array.

    An int becomes a one-row slice so that indexing never drops the row axis.
    """
    if isinstance(index, (bool, np.bool_)):
        raise TypeError("cannot index rows with a bare bool; use a boolean mask array")
    if isinstance(index, (int, np.integer)):
        i = operator.index(index)
        if not -n <= i < n:
            raise IndexError(f"row index {i} out of range for {n} rows")
        i %= n
        return slice(i, i + 1)
    if isinstance(index, slice):
        return index
    arr = np.asarray(index)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1:
        raise IndexError(f"row index array must be 1-D, got shape {arr.shape}")
    if arr.dtype == bool:
        if arr.shape[0] != n:
            raise IndexError(f"boolean row mask has length {arr.shape[0]}, expected {n}")
        return arr
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    raise TypeError(f"unsupported row index of dtype {arr.dtype}")


def _to_numpy(x: Any) -> np.ndarray:
    # Duck-typed so torch tensors (possibly on GPU, possibly requiring grad) convert
    # without importing torch here.
    if hasattr(x, "detach"):
        x = x.detach()
    if hasattr(x, "cpu"):
        x = x.cpu()
    if hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


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

        frame_index = _vector(_as_int64(owner, "frame_index", self.frame_index))
        _check_shape(owner, "frame_index", frame_index, (None,))
        _check_length(owner, "frame_index", frame_index, n)
        if n and frame_index.min() < 0:
            raise ValueError(f"{owner}.frame_index must be >= 0, got min {frame_index.min()}")
        if n > 1 and not (np.diff(frame_index) > 0).all():
            raise ValueError(f"{owner}.frame_index must be strictly increasing, got {frame_index.tolist()[:10]}")

        timestamp_s = _vector(_as_float(owner, "timestamp_s", self.timestamp_s, np.float64))
        _check_shape(owner, "timestamp_s", timestamp_s, (None,))
        _check_length(owner, "timestamp_s", timestamp_s, n)
        if n > 1 and (np.diff(timestamp_s) < 0).any():
            raise ValueError(f"{owner}.timestamp_s must be non-decreasing, got {timestamp_s.tolist()[:10]}")

        fps = float(self.fps)
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"{owner}.fps must be finite and > 0, got {self.fps!r}")
        if not isinstance(self.source, str):
            raise ValueError(f"{owner}.source must be a str, got {type(self.source).__name__}")

        object.__setattr__(self, "images", _readonly(images))
        object.__setattr__(self, "frame_index", _readonly(frame_index))
        object.__setattr__(self, "timestamp_s", _readonly(timestamp_s))
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
        idx = _row_index(index, len(self))
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

        xyxy = _as_float(owner, "xyxy", self.xyxy, np.float32)
        if xyxy.size == 0:
            # So that `Detections([], [], [], [])` is a valid empty batch.
            xyxy = xyxy.reshape(0, 4)
        _check_shape(owner, "xyxy", xyxy, (None, 4))
        n = xyxy.shape[0]
        bad = (xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1])
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"{owner}.xyxy must satisfy x1 <= x2 and y1 <= y2, row {i} is {xyxy[i].tolist()}")

        confidence = _vector(_as_float(owner, "confidence", self.confidence, np.float32))
        _check_shape(owner, "confidence", confidence, (None,))
        _check_length(owner, "confidence", confidence, n)
        if n and ((confidence < 0) | (confidence > 1)).any():
            raise ValueError(
                f"{owner}.confidence must be in [0, 1], got range [{confidence.min()}, {confidence.max()}]"
            )

        class_names = tuple(self.class_names)
        if not class_names or not all(isinstance(c, str) for c in class_names):
            raise ValueError(f"{owner}.class_names must be a non-empty tuple of str, got {self.class_names!r}")

        class_id = _vector(_as_int64(owner, "class_id", self.class_id))
        _check_shape(owner, "class_id", class_id, (None,))
        _check_length(owner, "class_id", class_id, n)
        if n and ((class_id < 0) | (class_id >= len(class_names))).any():
            raise ValueError(
                f"{owner}.class_id must be in [0, {len(class_names)}) to index class_names, "
                f"got range [{class_id.min()}, {class_id.max()}]"
            )

        frame_index = _vector(_as_int64(owner, "frame_index", self.frame_index))
        _check_shape(owner, "frame_index", frame_index, (None,))
        _check_length(owner, "frame_index", frame_index, n)
        if n and frame_index.min() < 0:
            raise ValueError(f"{owner}.frame_index must be >= 0, got min {frame_index.min()}")

        track_id = None
        if self.track_id is not None:
            track_id = _vector(_as_int64(owner, "track_id", self.track_id))
            _check_shape(owner, "track_id", track_id, (None,))
            _check_length(owner, "track_id", track_id, n)
            if n and track_id.min() < -1:
                raise ValueError(f"{owner}.track_id must be >= -1 (-1 = unassigned), got min {track_id.min()}")

        mask = None
        if self.mask is not None:
            mask = np.asarray(self.mask)
            if mask.dtype != bool:
                raise ValueError(f"{owner}.mask must have dtype bool, got {mask.dtype}")
            if mask.ndim != 3:
                raise ValueError(f"{owner}.mask must have shape (N, H, W), got {mask.shape}")
            _check_length(owner, "mask", mask, n)

        if not isinstance(self.data, Mapping):
            raise ValueError(f"{owner}.data must be a mapping of name -> array, got {type(self.data).__name__}")
        data: dict[str, np.ndarray] = {}
        for key, value in self.data.items():
            if not isinstance(key, str):
                raise ValueError(f"{owner}.data keys must be str, got {key!r}")
            arr = np.asarray(value)
            _check_length(owner, f"data[{key!r}]", arr, n)
            data[key] = _readonly(arr)

        object.__setattr__(self, "xyxy", _readonly(xyxy))
        object.__setattr__(self, "confidence", _readonly(confidence))
        object.__setattr__(self, "class_id", _readonly(class_id))
        object.__setattr__(self, "frame_index", _readonly(frame_index))
        object.__setattr__(self, "track_id", None if track_id is None else _readonly(track_id))
        object.__setattr__(self, "mask", None if mask is None else _readonly(mask))
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
        xyxy = _to_numpy(boxes.xyxy).reshape(-1, 4)
        n = xyxy.shape[0]
        ids = getattr(boxes, "id", None)
        track_id = None if ids is None else _to_numpy(ids).reshape(-1)

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
                mask = _to_numpy(getattr(masks, "data", masks)) > 0.5
                if mask.shape[1:] != orig_shape:
                    raise ValueError(
                        f"results.masks has size {mask.shape[1:]} but the image is {orig_shape}; "
                        "predict with retina_masks=True to get full-resolution masks"
                    )

        return cls(
            xyxy=xyxy,
            confidence=_to_numpy(boxes.conf).reshape(-1),
            class_id=_to_numpy(boxes.cls).reshape(-1),
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
        idx = _row_index(index, len(self))
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


# --------------------------------------------------------------------------- Camera


@dataclasses.dataclass(frozen=True, eq=False)
class Camera:
    """Calibrated pinhole camera for one frame.

    World frame (the SoccerNet calibration convention), in metres: origin at the
    centre mark; ``x`` along the touchlines towards the right goal as seen from the
    main camera; ``y`` across the pitch towards the near touchline (the main
    camera's side); ``z`` pointing DOWN into the ground, so points above the grass
    have negative ``z`` and the pitch is the plane ``z = 0``.

    Camera frame: ``x`` right and ``y`` down in the image, ``z`` forward along the
    optical axis. A world point ``X`` projects (before distortion) as
    ``p ~ K @ R @ (X - position)``.

    Attributes:
        K: ``float64`` ``(3, 3)`` intrinsics ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``
            in pixels, ``fx, fy > 0``.
        R: ``float64`` ``(3, 3)`` rotation world -> camera, orthonormal with
            determinant ``+1`` (tolerance 1e-6).
        position: ``float64`` ``(3,)`` camera centre in world metres.
        image_size: ``(width, height)`` in pixels.
        dist: ``float64`` ``(k,)`` OpenCV distortion ``(k1, k2, p1, p2[, k3])``,
            ``k`` in ``{0, 4, 5}``; empty means none.
    """

    K: np.ndarray
    R: np.ndarray
    position: np.ndarray
    image_size: tuple[int, int]
    dist: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    def __post_init__(self) -> None:
        owner = "Camera"
        K = _as_float(owner, "K", self.K, np.float64)
        _check_shape(owner, "K", K, (3, 3))
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise ValueError(f"{owner}.K must have fx, fy > 0, got fx={K[0, 0]}, fy={K[1, 1]}")
        if abs(K[1, 0]) > _K_TOL or np.abs(K[2] - (0.0, 0.0, 1.0)).max() > _K_TOL:
            raise ValueError(f"{owner}.K must have K[1, 0] == 0 and last row [0, 0, 1], got {K.tolist()}")

        R = _as_float(owner, "R", self.R, np.float64)
        _check_shape(owner, "R", R, (3, 3))
        err = np.abs(R @ R.T - np.eye(3)).max()
        if err > _ROTATION_TOL:
            raise ValueError(f"{owner}.R must be orthonormal (|R R^T - I| = {err:.3g} > {_ROTATION_TOL})")
        det = float(np.linalg.det(R))
        if abs(det - 1.0) > _ROTATION_TOL:
            raise ValueError(f"{owner}.R must be a proper rotation with det +1, got det {det:.6g}")

        position = _as_float(owner, "position", self.position, np.float64)
        _check_shape(owner, "position", position, (3,))

        size = tuple(self.image_size)
        if len(size) != 2 or not all(
            isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()) for v in size
        ):
            raise ValueError(f"{owner}.image_size must be (width, height) integers, got {self.image_size!r}")
        width, height = int(size[0]), int(size[1])
        if width < 1 or height < 1:
            raise ValueError(f"{owner}.image_size must be positive, got {self.image_size!r}")

        dist = _as_float(owner, "dist", self.dist, np.float64).reshape(-1)
        if dist.shape[0] not in (0, 4, 5):
            raise ValueError(
                f"{owner}.dist must have 0, 4 or 5 coefficients (k1, k2, p1, p2[, k3]), got shape {dist.shape}"
            )

        object.__setattr__(self, "K", _readonly(K))
        object.__setattr__(self, "R", _readonly(R))
        object.__setattr__(self, "position", _readonly(position))
        object.__setattr__(self, "image_size", (width, height))
        object.__setattr__(self, "dist", _readonly(dist))

    @classmethod
    def look_at(
        cls,
        position: Sequence[float] | np.ndarray,
        target: Sequence[float] | np.ndarray,
        focal_px: float,
        image_size: tuple[int, int],
    ) -> Camera:
        """Build an undistorted camera at ``position`` aimed at ``target`` (world metres).

        The image is level: the camera has no roll, so world up (``-z``) points up in
        the image. The principal point is the image centre ``(width / 2, height / 2)``,
        where ``target`` projects.

        Raises:
            ValueError: if ``target == position`` or the view is exactly vertical, where
                "level" is undefined.
        """
        position = np.asarray(position, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - position
        norm = np.linalg.norm(forward)
        if not norm > 0:
            raise ValueError("Camera.look_at: target must differ from position")
        forward /= norm
        down = np.array([0.0, 0.0, 1.0])  # world z points into the ground
        # Image right is perpendicular to both the view direction and the vertical,
        # which is what keeps the horizon level.
        right = np.cross(down, forward)
        rnorm = np.linalg.norm(right)
        if rnorm < 1e-9:
            raise ValueError("Camera.look_at: view direction is vertical, image orientation undefined")
        right /= rnorm
        image_down = np.cross(forward, right)
        R = np.stack([right, image_down, forward])
        width, height = image_size
        K = np.array([[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0.0, 0.0, 1.0]])
        return cls(K=K, R=R, position=position, image_size=(width, height))

    # ----------------------------------------------------------------- intrinsics

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self.image_size[0]

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self.image_size[1]

    @property
    def homography(self) -> np.ndarray:
        """``float64`` ``(3, 3)`` map from pitch-plane metres ``(x, y, 1)`` (``z = 0``) to
        undistorted image pixels: ``H = K @ [r1, r2, -R @ position]``.

        Normalised so ``H[2, 2] == 1``; in the degenerate case where the world origin
        lies in the camera's principal plane (``H[2, 2] == 0``) it is normalised to
        unit Frobenius norm instead.
        """
        t = -self.R @ self.position
        H = self.K @ np.column_stack([self.R[:, 0], self.R[:, 1], t])
        scale = H[2, 2] if abs(H[2, 2]) > 1e-12 * np.linalg.norm(H) else np.linalg.norm(H)
        return H / scale

    # ----------------------------------------------------------------- projection

    def _points3d(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] not in (2, 3):
            raise ValueError(f"points must have shape (N, 2) (on the pitch, z=0) or (N, 3), got {pts.shape}")
        if pts.shape[1] == 2:
            pts = np.column_stack([pts, np.zeros(len(pts))])
        return pts

    def to_camera(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """World points ``(N, 3)`` (or ``(N, 2)`` on ``z = 0``) in camera coordinates ``(N, 3)``."""
        return (self._points3d(points) - self.position) @ self.R.T

    def depth(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Camera-frame ``z`` of world points, ``float64`` ``(N,)``; positive in front."""
        return self.to_camera(points)[:, 2]

    def project(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Project world points to pixels, applying ``dist`` when present.

        Args:
            points: ``(N, 3)`` world metres, or ``(N, 2)`` pitch points taken at ``z = 0``.

        Returns:
            ``float64`` ``(N, 2)`` pixel coordinates. Points behind the camera still get
            (mirrored, meaningless) pixels; mask them with ``depth(points) > 0``.
        """
        cam = self.to_camera(points)
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = cam[:, :2] / cam[:, 2:3]
        xy = self._distort(xy)
        return xy @ self.K[:2, :2].T + self.K[:2, 2]

    def _distort(self, xy: np.ndarray) -> np.ndarray:
        # OpenCV's radial-tangential model on normalised coordinates.
        if self.dist.size == 0 or not self.dist.any():
            return xy
        k1, k2, p1, p2 = self.dist[:4]
        k3 = self.dist[4] if self.dist.size > 4 else 0.0
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.column_stack([xd, yd])

    def distort_pixels(self, pixels: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Where undistorted (pinhole) pixels land in the distorted image, ``(N, 2)`` -> ``(N, 2)``.

        The inverse of :meth:`undistort_pixels`; the identity for an undistorted camera.
        """
        px = np.asarray(pixels, dtype=np.float64)
        if px.ndim != 2 or px.shape[1] != 2:
            raise ValueError(f"pixels must have shape (N, 2), got {px.shape}")
        focal = np.array([self.K[0, 0], self.K[1, 1]])
        normalised = (px - self.K[:2, 2]) / focal
        return self._distort(normalised) * focal + self.K[:2, 2]

    def undistort_pixels(self, pixels: np.ndarray | Sequence[Sequence[float]], iterations: int = 20) -> np.ndarray:
        """Remove lens distortion from pixel coordinates, ``(N, 2)`` -> ``(N, 2)`` pixels.

        Inverts :meth:`project`'s distortion by the same fixed-point iteration as
        ``cv2.undistortPoints``. The iteration converges inside the image for the
        moderate distortion of broadcast lenses but can settle on a wrong point far
        outside it, where the polynomial model folds back; pixels whose result does
        not re-distort to within 1e-3 px of the input are returned as NaN rather
        than as a plausible-looking wrong answer.
        """
        px = np.asarray(pixels, dtype=np.float64)
        if px.ndim != 2 or px.shape[1] != 2:
            raise ValueError(f"pixels must have shape (N, 2), got {px.shape}")
        if self.dist.size == 0 or not self.dist.any():
            return px.copy()
        Kinv = np.linalg.inv(self.K)
        xd = px @ Kinv[:2, :2].T + Kinv[:2, 2]
        k1, k2, p1, p2 = self.dist[:4]
        k3 = self.dist[4] if self.dist.size > 4 else 0.0
        x, y = xd[:, 0].copy(), xd[:, 1].copy()
        for _ in range(iterations):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            x = (xd[:, 0] - dx) / radial
            y = (xd[:, 1] - dy) / radial
        undistorted = np.column_stack([x, y])
        residual_px = np.abs((self._distort(undistorted) - xd) @ self.K[:2, :2].T).max(axis=1)
        undistorted[~(residual_px <= 1e-3)] = np.nan
        return undistorted @ self.K[:2, :2].T + self.K[:2, 2]

    def image_to_pitch(self, pixels: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Back-project pixels onto the pitch plane ``z = 0``.

        Uses the inverse :attr:`homography` after :meth:`undistort_pixels` (a no-op
        for an undistorted camera), so it inverts :meth:`project` for pitch points.

        Args:
            pixels: ``(N, 2)`` pixel coordinates in the (distorted) image.

        Returns:
            ``float64`` ``(N, 2)`` pitch metres ``(x, y)``. Pixels whose ray does not
            meet the pitch in front of the camera (at or above the horizon), or that
            cannot be undistorted, are NaN.
        """
        px = self.undistort_pixels(pixels)
        homog = np.column_stack([px, np.ones(len(px))]) @ np.linalg.inv(self.homography).T
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = homog[:, :2] / homog[:, 2:3]
        finite = np.isfinite(xy).all(axis=1)  # also drops pixels whose undistortion failed
        in_front = np.zeros(len(xy), dtype=bool)
        in_front[finite] = self.depth(xy[finite]) > 0
        xy[~in_front] = np.nan
        return xy
