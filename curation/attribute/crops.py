"""Athlete crops: the boxes cut from sampled frames, and the pixels of a crop that are shirt or skin.

The pipeline samples frames at a low "semantic" rate (about 1 fps) and cuts one crop per
tracked athlete in each sampled frame (:meth:`AthleteCrops.from_frames`). The backends of
:mod:`.team` and :mod:`.jersey` label every crop independently; the grass around the athlete
is told apart by :mod:`soccerfactory.curation.pitch_colour`.

Conventions: boxes are ``xyxy``; full-frame boxes are in pixels of the full frame, the
``boxes`` of :class:`AthleteCrops` are in pixels of their own crop. Crops are ``uint8`` BGR.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.masks import rle_decode
from soccerfactory.curation.pitch_colour import GRASS_LAB_TOLERANCE, grass_near_hue, local_grass_hue, local_grass_lab
from soccerfactory.curation.types import BALL, CLASS_NAMES, Frames, Tracks

__all__ = [
    "AthleteCrops",
    "shirt_colours",
    "skin_mask",
]


def _int_vector(owner: str, name: str, value: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size == 0:
        arr = arr.reshape(0).astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{owner}.{name} must be an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{owner}.{name} must have shape (N,), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{owner}.{name} must have length {n} (one entry per crop), got {arr.shape[0]}")
    return arr.astype(np.int64, copy=False)


# --------------------------------------------------------------------------- crops


@dataclasses.dataclass(frozen=True, eq=False)
class AthleteCrops:
    """Image crops of ``N`` tracked athletes, one row per (track, sampled frame).

    Attributes:
        images: ``N`` ``uint8`` BGR arrays ``(h_i, w_i, 3)``, each the athlete's box cut from
            the full-resolution frame with a small margin around it.
        masks: ``N`` entries, each a ``bool`` ``(h_i, w_i)`` foreground mask of the athlete
            (same size as its crop) or ``None`` when no segmentation is available; ``None``
            instead of the tuple means no masks at all.
        track_id: ``int64`` ``(N,)`` track of each crop.
        frame_index: ``int64`` ``(N,)`` frame each crop was cut from.
        class_id: ``int64`` ``(N,)`` detector class (:data:`CLASS_NAMES` ids; never the ball).
        boxes: ``float32`` ``(N, 4)`` the athlete's ``xyxy`` box in pixels of its own crop (the
            crop minus its margin). Defaults to the whole crop.
        source_row: ``int64`` ``(N,)`` row of the :class:`Tracks` each crop came from, so
            results can be written back; defaults to ``0..N-1``.

    The backends only read the arrays; they are stored read-only.
    """

    images: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray | None, ...] | None
    track_id: np.ndarray
    frame_index: np.ndarray
    class_id: np.ndarray
    boxes: np.ndarray | None = None
    source_row: np.ndarray | None = None

    def __post_init__(self) -> None:
        owner = "AthleteCrops"
        images = tuple(self.images)
        n = len(images)
        for i, image in enumerate(images):
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
                raise ValueError(
                    f"{owner}.images[{i}] must be a uint8 array, got {getattr(image, 'dtype', type(image))}"
                )
            if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
                raise ValueError(f"{owner}.images[{i}] must have shape (h, w, 3) with h, w >= 1, got {image.shape}")
        # None for the whole batch is the natural spelling of "no refiner ran".
        masks = (None,) * n if self.masks is None else tuple(self.masks)
        if len(masks) != n:
            raise ValueError(f"{owner}.masks must have {n} entries (one per image, None allowed), got {len(masks)}")
        for i, (mask, image) in enumerate(zip(masks, images)):
            if mask is None:
                continue
            if not isinstance(mask, np.ndarray) or mask.dtype != bool:
                raise ValueError(
                    f"{owner}.masks[{i}] must be a bool array or None, got {getattr(mask, 'dtype', type(mask))}"
                )
            if mask.shape != image.shape[:2]:
                raise ValueError(f"{owner}.masks[{i}] must have the crop's shape {image.shape[:2]}, got {mask.shape}")

        track_id = _int_vector(owner, "track_id", self.track_id, n)
        frame_index = _int_vector(owner, "frame_index", self.frame_index, n)
        class_id = _int_vector(owner, "class_id", self.class_id, n)
        if n and ((class_id < 0) | (class_id >= len(CLASS_NAMES))).any():
            raise ValueError(
                f"{owner}.class_id must index CLASS_NAMES {CLASS_NAMES}, got {sorted(set(class_id.tolist()))}"
            )
        if n and (class_id == BALL).any():
            raise ValueError(f"{owner}.class_id must not contain the ball ({BALL}): crops are of athletes")

        if self.boxes is None:
            boxes = np.array([[0, 0, im.shape[1], im.shape[0]] for im in images], dtype=np.float32).reshape(n, 4)
        else:
            boxes = np.asarray(self.boxes, dtype=np.float32)
            if boxes.size == 0:
                boxes = boxes.reshape(0, 4)
            if boxes.shape != (n, 4):
                raise ValueError(f"{owner}.boxes must have shape ({n}, 4), got {boxes.shape}")
            if not np.isfinite(boxes).all() or ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
                raise ValueError(f"{owner}.boxes must be finite xyxy with x1 <= x2 and y1 <= y2")
        source_row = (
            np.arange(n, dtype=np.int64)
            if self.source_row is None
            else _int_vector(owner, "source_row", self.source_row, n)
        )

        object.__setattr__(self, "images", tuple(readonly(im) for im in images))
        object.__setattr__(self, "masks", tuple(None if m is None else readonly(m) for m in masks))
        object.__setattr__(self, "track_id", readonly(track_id))
        object.__setattr__(self, "frame_index", readonly(frame_index))
        object.__setattr__(self, "class_id", readonly(class_id))
        object.__setattr__(self, "boxes", readonly(boxes))
        object.__setattr__(self, "source_row", readonly(source_row))

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        masked = sum(m is not None for m in self.masks)
        return f"AthleteCrops(n={len(self)}, tracks={len(np.unique(self.track_id))}, masked={masked})"

    def __getitem__(self, index: slice | np.ndarray | Sequence[int] | Sequence[bool]) -> AthleteCrops:
        """Select rows with a slice, a boolean mask or an integer index array."""
        n = len(self)
        if isinstance(index, slice):
            rows = np.arange(n)[index]
        else:
            arr = np.asarray(index)
            if arr.dtype == bool:
                if arr.shape != (n,):
                    raise IndexError(f"boolean row mask has shape {arr.shape}, expected ({n},)")
                rows = np.flatnonzero(arr)
            elif arr.size == 0 or arr.dtype.kind in "iu":
                rows = arr.astype(np.int64).reshape(-1)
            else:
                raise TypeError(f"unsupported row index of dtype {arr.dtype}")
        return AthleteCrops(
            images=tuple(self.images[i] for i in rows),
            masks=tuple(self.masks[i] for i in rows),
            track_id=self.track_id[rows],
            frame_index=self.frame_index[rows],
            class_id=self.class_id[rows],
            boxes=self.boxes[rows],
            source_row=self.source_row[rows],
        )

    @classmethod
    def concat(cls, parts: Sequence[AthleteCrops]) -> AthleteCrops:
        """Stack batches of crops (e.g. one per chunk of frames), keeping every field.

        ``source_row`` is kept as it is, so it refers to the rows of each part's own tracks.
        """
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            images=tuple(im for p in parts for im in p.images),
            masks=tuple(m for p in parts for m in p.masks),
            track_id=np.concatenate([p.track_id for p in parts]),
            frame_index=np.concatenate([p.frame_index for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            boxes=np.concatenate([p.boxes for p in parts]),
            source_row=np.concatenate([p.source_row for p in parts]),
        )

    @classmethod
    def empty(cls) -> AthleteCrops:
        """Zero crops."""
        return cls(
            images=(),
            masks=(),
            track_id=np.zeros(0, np.int64),
            frame_index=np.zeros(0, np.int64),
            class_id=np.zeros(0, np.int64),
        )

    @classmethod
    def from_frames(
        cls,
        frames: Frames,
        tracks: Tracks,
        masks_rle: Sequence[str | Mapping[str, Any] | None] | None = None,
        margin: float = 0.1,
    ) -> AthleteCrops:
        """Cut one crop per athlete row of ``tracks`` whose frame is in ``frames``.

        Ball rows and rows of frames not in ``frames`` are skipped; ``source_row`` keeps the
        index of each crop's row in ``tracks``.

        Args:
            frames: the sampled full-resolution frames.
            tracks: tracked boxes (``xyxy`` in pixels of the full frame), any frames.
            masks_rle: optional, one entry per row of ``tracks``: a COCO uncompressed RLE of
                the athlete's full-frame mask, as a mapping ``{"size": [H, W], "counts": [...]}``,
                its JSON text, or the JSON text of the bare ``counts`` list (the size is then
                the frame size); ``None`` where a row has no mask.
            margin: extra border on every side, as a fraction of the box width (left/right)
                and height (top/bottom), clipped to the frame.

        Raises:
            ValueError: on a negative margin, boxes without ``track_id``, a ``masks_rle`` of
                the wrong length or an RLE whose size is not the frame size.
        """
        if not (math.isfinite(margin) and margin >= 0):
            raise ValueError(f"margin must be finite and >= 0, got {margin!r}")
        if tracks.track_id is None:
            raise ValueError("tracks must carry track_id (run the tracker first): crops are voted per tracklet")
        if masks_rle is not None and len(masks_rle) != len(tracks):
            raise ValueError(f"masks_rle must have one entry per row of tracks ({len(tracks)}), got {len(masks_rle)}")
        if len(frames) == 0 or len(tracks) == 0:
            return cls.empty()
        height, width = frames.height, frames.width
        position = {int(f): i for i, f in enumerate(frames.frame_index)}
        images, masks, rows, boxes = [], [], [], []
        for row in range(len(tracks)):
            slot = position.get(int(tracks.frame_index[row]))
            if slot is None or tracks.class_id[row] == BALL:
                continue
            x1, y1, x2, y2 = (float(v) for v in tracks.xyxy[row])
            mx, my = margin * (x2 - x1), margin * (y2 - y1)
            cx0 = int(np.clip(math.floor(x1 - mx), 0, width - 1))
            cy0 = int(np.clip(math.floor(y1 - my), 0, height - 1))
            # At least one pixel even for a degenerate box on the frame's edge.
            cx1 = int(np.clip(math.ceil(x2 + mx), cx0 + 1, width))
            cy1 = int(np.clip(math.ceil(y2 + my), cy0 + 1, height))
            images.append(np.ascontiguousarray(frames.images[slot, cy0:cy1, cx0:cx1]))
            boxes.append((max(x1 - cx0, 0.0), max(y1 - cy0, 0.0), min(x2 - cx0, cx1 - cx0), min(y2 - cy0, cy1 - cy0)))
            mask = None
            if masks_rle is not None and masks_rle[row] is not None:
                full = _decode_mask(masks_rle[row], height, width, row)
                mask = np.ascontiguousarray(full[cy0:cy1, cx0:cx1])
            masks.append(mask)
            rows.append(row)
        rows_arr = np.asarray(rows, dtype=np.int64)
        boxes_arr = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        boxes_arr[:, 2] = np.maximum(boxes_arr[:, 2], boxes_arr[:, 0])
        boxes_arr[:, 3] = np.maximum(boxes_arr[:, 3], boxes_arr[:, 1])
        return cls(
            images=tuple(images),
            masks=tuple(masks),
            track_id=tracks.track_id[rows_arr],
            frame_index=tracks.frame_index[rows_arr],
            class_id=tracks.class_id[rows_arr],
            boxes=boxes_arr,
            source_row=rows_arr,
        )


def _decode_mask(entry: str | Mapping[str, Any], height: int, width: int, row: int) -> np.ndarray:
    rle: Any = json.loads(entry) if isinstance(entry, str) else entry
    if isinstance(rle, list):
        rle = {"size": [height, width], "counts": rle}
    if not isinstance(rle, Mapping):
        raise ValueError(
            f"masks_rle[{row}] must be an RLE mapping, its JSON, or a JSON counts list; got {type(rle).__name__}"
        )
    size = [int(v) for v in rle.get("size", (height, width))]
    if size != [height, width]:
        raise ValueError(f"masks_rle[{row}] has size {size}, expected the frame size [{height}, {width}]")
    try:
        return rle_decode(rle)
    except ValueError as exc:
        raise ValueError(f"masks_rle[{row}]: {exc}") from exc


# --------------------------------------------------------------------------- pixels of a crop


def skin_mask(image: np.ndarray) -> np.ndarray:
    """Skin-coloured pixels: the classic YCrCb box, narrowed to orange hues.

    The YCrCb box alone also takes maroon, red and pink kits and the blend of a white
    number with them; real skin is orange (OpenCV hue about 2..25) under broadcast light.
    """
    ycrcb = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    hue = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 0]
    cr, cb = ycrcb[..., 1], ycrcb[..., 2]
    return (cr >= 135) & (cr <= 180) & (cb >= 80) & (cb <= 130) & (hue >= 2) & (hue <= 25)


def _shirt_pixels(image: np.ndarray, mask: np.ndarray | None, box: np.ndarray) -> np.ndarray:
    """Lab pixels ``(K, 3)`` float32 of the shirt: the upper body, minus grass and background."""
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    # Upper half below the head; the central columns avoid most of the arms and the margin.
    r0, r1 = int(round(y1 + 0.15 * bh)), int(round(y1 + 0.5 * bh))
    c0, c1 = int(round(x1 + 0.2 * bw)), int(round(x2 - 0.2 * bw))
    r1, c1 = max(r1, r0 + 1), max(c1, c0 + 1)
    region = image[r0:r1, c0:c1]
    if region.size == 0:
        return np.zeros((0, 3), np.float32)
    keep = ~grass_near_hue(cv2.cvtColor(region, cv2.COLOR_BGR2HSV), local_grass_hue(image, box))
    lab = cv2.cvtColor(region.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    grass_hued = False
    if keep.sum() < 0.25 * keep.size:
        # Most of the shirt has the grass's hue: a lime or green kit (on the real train frames the
        # hue rule erased one match's kit: 38 of 298 frames had no kit model). Tell it from the
        # grass by its colour distance to the grass around it instead.
        grass = local_grass_lab(image, box)
        if grass is not None:
            keep = np.linalg.norm(lab - grass, axis=2) > GRASS_LAB_TOLERANCE
            grass_hued = True
    if mask is not None:
        masked = keep & mask[r0:r1, c0:c1]
        # The chroma mask (refine's GrassColour) calls a lime shirt grass: a brighter colour of the
        # grass's own chromaticity is what mowing stripes look like to it. On a real lime kit (the
        # football-players train still 08fd33_0_3) it erased 76-100 % of the shirt pixels of 10 of
        # its 11 players, so they had no colour and the kit models never saw the team. Where the
        # shirt is of the grass's hue and the mask leaves under a quarter of what the local colour
        # distance kept, the crop's own margin is the better evidence.
        if not grass_hued or masked.sum() >= 0.25 * keep.sum():
            keep = masked
    # Arms and neck fill much of a small or side-on crop; without them the median is the
    # shirt's. A kit that is itself skin-coloured keeps its pixels.
    clothed = keep & ~skin_mask(region)
    if clothed.sum() >= max(4, 0.2 * keep.sum()):
        keep = clothed
    return lab[keep]


def shirt_colours(crops: AthleteCrops, min_pixels: int = 4) -> np.ndarray:
    """Median shirt colour of every crop, in CIE Lab.

    Args:
        crops: the crops; masks are used where present, otherwise grass-coloured pixels are
            dropped.
        min_pixels: fewer shirt pixels than this gives NaN.

    Returns:
        ``float32`` ``(N, 3)`` ``(L*, a*, b*)`` (``L*`` in ``[0, 100]``), NaN rows where the
        crop shows too little shirt.
    """
    out = np.full((len(crops), 3), np.nan, dtype=np.float32)
    for i, (image, mask, box) in enumerate(zip(crops.images, crops.masks, crops.boxes)):
        pixels = _shirt_pixels(image, mask, box)
        if len(pixels) >= min_pixels:
            # The median ignores the back number and a stray arm, which a mean would average in.
            out[i] = np.median(pixels, axis=0)
    return out
