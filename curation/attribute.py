"""Per-observation attributes of tracked athletes: team, role and jersey number.

The pipeline samples frames at a low "semantic" rate (about 1 fps) and cuts one crop per
tracked athlete in each sampled frame (:meth:`AthleteCrops.from_frames`). The backends here
label every crop independently; :mod:`soccerfactory.curation.vote` then turns the noisy
per-crop labels into one consensus per tracklet.

Backends sit behind two small protocols:

* :class:`TeamClassifier` (``build_team_classifier``): ``"kmeans-color"`` clusters the shirt
  colour of the outfield players of a clip into two teams.
* :class:`JerseyReader` (``build_jersey_reader``): ``"rapidocr"`` reads the back number with
  the text recogniser that ships inside the ``rapidocr`` wheel; ``"none"`` reads nothing.

Conventions: boxes are ``xyxy``; full-frame boxes are in pixels of the full frame, the
``boxes`` of :class:`AthleteCrops` are in pixels of their own crop. Crops are ``uint8`` BGR.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from soccerfactory.curation.masks import rle_decode
from soccerfactory.curation.registry import pick_builder
from soccerfactory.curation.types import BALL, CLASS_NAMES, GOALKEEPER, PLAYER, Frames, Tracks

__all__ = [
    "JERSEY_BACKENDS",
    "TEAM_BACKENDS",
    "TEAMS",
    "AthleteCrops",
    "JerseyReader",
    "JerseyReads",
    "KMeansColorTeams",
    "NoJerseyReader",
    "RapidOcrJerseyReader",
    "TeamClassifier",
    "TeamLabels",
    "build_jersey_reader",
    "build_team_classifier",
    "bundled_rapidocr_models",
    "number_region",
    "role_from_class",
    "shirt_colours",
]

#: Team labels; which kit is "A" is fixed per clip by :class:`KMeansColorTeams`.
TEAMS = ("A", "B")


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


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

        object.__setattr__(self, "images", tuple(_readonly(im) for im in images))
        object.__setattr__(self, "masks", tuple(None if m is None else _readonly(m) for m in masks))
        object.__setattr__(self, "track_id", _readonly(track_id))
        object.__setattr__(self, "frame_index", _readonly(frame_index))
        object.__setattr__(self, "class_id", _readonly(class_id))
        object.__setattr__(self, "boxes", _readonly(boxes))
        object.__setattr__(self, "source_row", _readonly(source_row))

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


# --------------------------------------------------------------------------- role


def role_from_class(class_id: np.ndarray | Sequence[int]) -> np.ndarray:
    """Role of each athlete from its detector class.

    Args:
        class_id: ``(N,)`` integer ids of :data:`CLASS_NAMES`.

    Returns:
        ``object`` ``(N,)`` of ``"player"``, ``"goalkeeper"`` or ``"referee"``; ``None`` for the
        ball, which has no role.
    """
    ids = np.asarray(class_id)
    if ids.size == 0:
        return np.empty(0, dtype=object)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ValueError(f"class_id must be a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}")
    if ((ids < 0) | (ids >= len(CLASS_NAMES))).any():
        raise ValueError(f"class_id must index CLASS_NAMES {CLASS_NAMES}, got {sorted(set(ids.tolist()))}")
    names = np.array([None if i == BALL else CLASS_NAMES[i] for i in range(len(CLASS_NAMES))], dtype=object)
    return names[ids]


# --------------------------------------------------------------------------- team


@dataclasses.dataclass(frozen=True, eq=False)
class TeamLabels:
    """Team of each crop.

    Attributes:
        team: ``object`` ``(N,)``: ``"A"``, ``"B"`` or ``None`` (referees, unknown).
        confidence: ``float32`` ``(N,)`` in ``[0, 1]``; ``0`` where ``team`` is ``None``.
    """

    team: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        team = np.asarray(self.team, dtype=object).reshape(-1)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if team.shape != confidence.shape:
            raise ValueError(
                f"TeamLabels.team and .confidence must be aligned, got {team.shape} and {confidence.shape}"
            )
        bad = [t for t in team if t is not None and t not in TEAMS]
        if bad:
            raise ValueError(f"TeamLabels.team must hold 'A', 'B' or None, got {bad[:3]}")
        if not np.isfinite(confidence).all() or ((confidence < 0) | (confidence > 1)).any():
            raise ValueError("TeamLabels.confidence must be finite and in [0, 1]")
        object.__setattr__(self, "team", _readonly(team))
        object.__setattr__(self, "confidence", _readonly(confidence))

    def __len__(self) -> int:
        return int(self.team.shape[0])


@runtime_checkable
class TeamClassifier(Protocol):
    """Splits the athletes of one clip into two teams."""

    def fit_predict(self, crops: AthleteCrops, pitch_x: np.ndarray | None = None) -> TeamLabels:
        """Label every crop; ``pitch_x`` (``(N,)`` metres, NaN = unknown) may place goalkeepers."""
        ...


_GRASS_HUE = 50.0  # OpenCV hue units (degrees / 2): a typical broadcast pitch
_GRASS_HUE_TOLERANCE = 12.0


def _grass_hue(image: np.ndarray, box: np.ndarray) -> float:
    """Hue of the grass around an athlete, from the crop's margin outside the box.

    Pitches range from yellow-green to blue-green under different lights; a fixed green
    band either misses grass or swallows green, cyan and lime kits. The margin is mostly
    grass, so its greenish pixels give the local hue; without a margin, a typical value.
    """
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    ring = np.ones(image.shape[:2], bool)
    ring[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = False
    if ring.sum() < 8:
        return _GRASS_HUE
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[ring]
    green = hsv[(hsv[:, 0] >= 25) & (hsv[:, 0] <= 95) & (hsv[:, 1] >= 50) & (hsv[:, 2] >= 40)]
    if len(green) < max(4, 0.25 * len(hsv)):
        return _GRASS_HUE
    return float(np.median(green[:, 0]))


def _grass(hsv: np.ndarray, hue: float = _GRASS_HUE) -> np.ndarray:
    """Pixels of grass: the local grass hue, saturated and not in deep shadow."""
    h, s, v = hsv[..., 0].astype(np.float32), hsv[..., 1], hsv[..., 2]
    return (np.abs(h - hue) <= _GRASS_HUE_TOLERANCE) & (s >= 50) & (v >= 40)


def _skin(image: np.ndarray) -> np.ndarray:
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
    keep = ~_grass(cv2.cvtColor(region, cv2.COLOR_BGR2HSV), _grass_hue(image, box))
    if mask is not None:
        keep &= mask[r0:r1, c0:c1]
    # Arms and neck fill much of a small or side-on crop; without them the median is the
    # shirt's. A kit that is itself skin-coloured keeps its pixels.
    clothed = keep & ~_skin(region)
    if clothed.sum() >= max(4, 0.2 * keep.sum()):
        keep = clothed
    lab = cv2.cvtColor(region.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
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


class KMeansColorTeams:
    """Two teams by k-means on the shirt colour of the outfield players.

    * Players (class ``player``) with enough shirt pixels are clustered with ``cv2.kmeans``
      (k = 2, fixed seed, several attempts) on their median Lab shirt colour, ``L*`` scaled
      by ``lightness_weight`` so that shading weighs less than hue.
    * Labelling is deterministic: ``"A"`` is the cluster whose centre is darker (lower
      ``L*``; ties broken by ``a*`` then ``b*``), so reruns on the same clip agree.
    * Confidence of a player is the margin ``(d_other - d_own) / (d_other + d_own)``.
    * Goalkeepers wear their own colours, so the nearest centre would be arbitrary. With
      ``pitch_x`` they join the team defending their half: the team whose players' mean
      ``pitch_x`` is on that side. Without it (or with NaN) they stay ``None``.
    * Referees, crops with too little shirt, and every crop when the two centres are closer
      than ``min_separation`` (one team only in view) get ``None``.
    """

    def __init__(
        self,
        seed: int = 0,
        attempts: int = 5,
        lightness_weight: float = 0.5,
        min_separation: float = 10.0,
        goalkeeper_side_scale_m: float = 10.0,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {attempts}")
        if min_separation < 0 or lightness_weight <= 0 or goalkeeper_side_scale_m <= 0:
            raise ValueError("min_separation must be >= 0, lightness_weight and goalkeeper_side_scale_m > 0")
        self.seed = int(seed)
        self.attempts = int(attempts)
        self.lightness_weight = float(lightness_weight)
        self.min_separation = float(min_separation)
        self.goalkeeper_side_scale_m = float(goalkeeper_side_scale_m)

    def fit_predict(self, crops: AthleteCrops, pitch_x: np.ndarray | None = None) -> TeamLabels:
        """Cluster the players of ``crops`` into teams ``A``/``B`` and label every crop.

        Args:
            crops: all athlete crops of one clip (clustering needs both teams in view).
            pitch_x: optional ``(N,)`` pitch x (metres, origin at the centre mark, NaN =
                unknown) of each crop's athlete; places goalkeepers.
        """
        n = len(crops)
        team = np.full(n, None, dtype=object)
        confidence = np.zeros(n, dtype=np.float32)
        if pitch_x is not None:
            pitch_x = np.asarray(pitch_x, dtype=np.float64).reshape(-1)
            if pitch_x.shape != (n,):
                raise ValueError(f"pitch_x must have shape ({n},) (one per crop), got {pitch_x.shape}")
        if n == 0:
            return TeamLabels(team, confidence)

        colours = shirt_colours(crops)
        features = colours * np.array([self.lightness_weight, 1.0, 1.0], dtype=np.float32)
        players = np.flatnonzero((crops.class_id == PLAYER) & np.isfinite(colours).all(axis=1))
        if len(players) < 2:
            return TeamLabels(team, confidence)

        data = np.ascontiguousarray(features[players], dtype=np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 0.01)
        cv2.setRNGSeed(self.seed)
        _, _, centres = cv2.kmeans(data, 2, None, criteria, self.attempts, cv2.KMEANS_PP_CENTERS)
        if float(np.linalg.norm(centres[0] - centres[1])) < self.min_separation:
            return TeamLabels(team, confidence)
        order = sorted(range(2), key=lambda k: tuple(centres[k].tolist()))
        centres = centres[order]

        distance = np.linalg.norm(data[:, None, :] - centres[None, :, :], axis=2)
        own = distance.argmin(axis=1)
        near, far = distance.min(axis=1), distance.max(axis=1)
        team[players] = np.array(TEAMS, dtype=object)[own]
        confidence[players] = (far - near) / np.maximum(far + near, 1e-6)

        if pitch_x is not None:
            self._place_goalkeepers(crops, pitch_x, team, confidence, players, own)
        return TeamLabels(team, confidence)

    def _place_goalkeepers(self, crops, pitch_x, team, confidence, players, own) -> None:
        known = np.isfinite(pitch_x[players])
        means = []
        for k in range(2):
            xs = pitch_x[players][known & (own == k)]
            means.append(float(xs.mean()) if len(xs) else math.nan)
        if not all(math.isfinite(m) for m in means) or means[0] == means[1]:
            return
        left = 0 if means[0] < means[1] else 1  # the team defending the x < 0 goal
        certainty = math.tanh(abs(means[0] - means[1]) / self.goalkeeper_side_scale_m)
        keepers = np.flatnonzero((crops.class_id == GOALKEEPER) & np.isfinite(pitch_x))
        for i in keepers:
            k = left if pitch_x[i] < 0 else 1 - left
            team[i] = TEAMS[k]
            confidence[i] = certainty


TEAM_BACKENDS: dict[str, Callable[..., TeamClassifier]] = {"kmeans-color": KMeansColorTeams}


def build_team_classifier(name: str, **params: Any) -> TeamClassifier:
    """Build a team classifier by name (``"kmeans-color"``), passing ``params`` to it.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return pick_builder(TEAM_BACKENDS, name, "team classifier")(**params)


# --------------------------------------------------------------------------- jersey


@dataclasses.dataclass(frozen=True, eq=False)
class JerseyReads:
    """Jersey number read on each crop.

    Attributes:
        number: ``int32`` ``(N,)``: ``1..99``, or ``-1`` when not legible / not read.
        confidence: ``float32`` ``(N,)`` in ``[0, 1]``; ``0`` where ``number`` is ``-1``.
    """

    number: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        number = np.asarray(self.number)
        if number.size == 0:
            number = number.reshape(0).astype(np.int32)
        if number.dtype.kind not in "iu" or number.ndim != 1:
            raise ValueError(f"JerseyReads.number must be a 1-D integer array, got {number.dtype} {number.shape}")
        number = number.astype(np.int32, copy=False)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if number.shape != confidence.shape:
            raise ValueError(
                f"JerseyReads.number and .confidence must be aligned, got {number.shape} and {confidence.shape}"
            )
        if ((number != -1) & ((number < 1) | (number > 99))).any():
            raise ValueError("JerseyReads.number must be -1 or in 1..99")
        if not np.isfinite(confidence).all() or ((confidence < 0) | (confidence > 1)).any():
            raise ValueError("JerseyReads.confidence must be finite and in [0, 1]")
        object.__setattr__(self, "number", _readonly(number))
        object.__setattr__(self, "confidence", _readonly(confidence))

    def __len__(self) -> int:
        return int(self.number.shape[0])

    @classmethod
    def unread(cls, n: int) -> JerseyReads:
        """``n`` rows of nothing read."""
        return cls(np.full(n, -1, np.int32), np.zeros(n, np.float32))


@runtime_checkable
class JerseyReader(Protocol):
    """Reads back numbers from athlete crops."""

    def read(self, crops: AthleteCrops) -> JerseyReads:
        """One read per crop, aligned with ``crops``."""
        ...


class NoJerseyReader:
    """Reads nothing: every crop gets ``-1`` (for users who want no OCR)."""

    def read(self, crops: AthleteCrops) -> JerseyReads:
        return JerseyReads.unread(len(crops))


_NUMBER = re.compile(r"^[1-9][0-9]?$")


def bundled_rapidocr_models() -> dict[str, Path]:
    """Paths of the ONNX models inside the installed ``rapidocr`` wheel.

    Passing these explicitly is what keeps RapidOCR from ever downloading: it only fetches
    a model when no ``model_path`` is configured.

    Raises:
        FileNotFoundError: when the wheel lacks a model (a slimmed install); reinstall
            ``rapidocr`` from the pinned wheel (``make install``), which ships them.
    """
    import rapidocr

    root = Path(rapidocr.__file__).resolve().parent / "models"
    paths = {
        "det": root / "PP-OCRv6_det_small.onnx",
        "rec": root / "PP-OCRv6_rec_small.onnx",
        "cls": root / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    }
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(
                f"RapidOCR model {path} is missing; reinstall the rapidocr wheel "
                "(pip install --force-reinstall 'rapidocr>=3.4,<4'), which ships its ONNX models"
            )
    return paths


class RapidOcrJerseyReader:
    """Back numbers with the PP-OCR recogniser bundled in ``rapidocr``.

    For each player or goalkeeper crop whose box is at least ``min_box_height`` pixels tall:

    1. :func:`number_region` cuts the band of the back that holds the number.
    2. The band is upscaled to the recogniser's 48-pixel line height and recognised (rec
       only), decoding the CTC output restricted to the ten digits, so that a number is
       never read as a look-alike letter or a Chinese character.
    3. The read is accepted when it is a 1- or 2-digit number 1..99 without a leading zero
       and its confidence (the lowest per-digit probability, taken from the full softmax so
       that mass on non-digit characters counts against it) is at least ``min_confidence``.

    ``use_det=True`` instead runs RapidOCR's own pipeline (text detector, then recogniser
    with its full character set) on the upscaled torso and keeps all-digit texts. It is
    kept for comparison only: on legible synthetic 720p crops of two clips it read 26-47 %
    of the numbers at about 55 ms per crop (precision 0.93-1.0), against 96-97 % at about
    15 ms for the default (precision 0.98-1.0).

    Referees, the ball and crops that are too small get ``-1`` without running the model.
    Models are always the ones inside the ``rapidocr`` wheel (:func:`bundled_rapidocr_models`):
    nothing is downloaded.

    Args:
        min_confidence: acceptance threshold on the confidence of a two-digit read.
        single_digit_confidence: the same for a one-digit read. Stricter, because a two-digit
            number that lost a digit reads as one digit, and shirt folds, stripes and blurred
            backs read as one digit on real footage. Measured on synthetic clips: one-digit
            reads in 0.8..0.95 were right about half the time, in 0.95..0.99 87 %, above 0.99
            97 %; on real football-players frames five of six one-digit reads in 0.95..0.99
            were wrong (two-digit reads above 0.8: five of six right).
        read_lone_one: accept the number 1 on its own. Off by default: on real frames
            (football-players) most confident one-digit reads were a lone "1" read from a
            fold, a stripe or an arm's edge of a white kit, and number 1 is the goalkeeper,
            whose back is rarely towards the main camera.
        min_box_height: skip boxes shorter than this (pixels): the number has too few pixels.
        ink_delta: Lab distance from the shirt colour above which a pixel counts as number ink.
        threads: onnxruntime intra-op threads (the machines share few cores).
        use_det: run RapidOCR's detector + recogniser on the torso instead.
    """

    _LINE_HEIGHT = 48  # the PP-OCR recogniser's input height
    _MIN_WIDTH = 160
    _BATCH = 8

    def __init__(
        self,
        min_confidence: float = 0.8,
        single_digit_confidence: float = 0.99,
        read_lone_one: bool = False,
        min_box_height: int = 40,
        ink_delta: float = 30.0,
        threads: int = 1,
        use_det: bool = False,
    ) -> None:
        for name, value in (("min_confidence", min_confidence), ("single_digit_confidence", single_digit_confidence)):
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.min_confidence = float(min_confidence)
        self.single_digit_confidence = float(single_digit_confidence)
        self.read_lone_one = bool(read_lone_one)
        self.min_box_height = int(min_box_height)
        self.ink_delta = float(ink_delta)
        self.threads = int(threads)
        self.use_det = bool(use_det)
        self.models = bundled_rapidocr_models()
        # Lazy: onnxruntime is only needed by this backend. Its telemetry switch must be set
        # before the library loads, or it resolves a Microsoft host name (see runtime.py).
        from soccerfactory.curation.runtime import configure_offline_onnxruntime

        configure_offline_onnxruntime()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.models["rec"]), options, providers=["CPUExecutionProvider"])
        meta = self._session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ValueError(f"{self.models['rec']} carries no character table; it is not a PP-OCR recogniser")
        # CTC classes: blank first, then the model's characters, then a space (PP-OCR's layout).
        characters = ["<blank>", *meta["character"].splitlines(), " "]
        self._digit_class = np.array([characters.index(str(d)) for d in range(10)])
        self._input = self._session.get_inputs()[0].name
        self._pipeline = None
        if self.use_det:
            from rapidocr import RapidOCR

            self._pipeline = RapidOCR(
                params={
                    "Det.model_path": str(self.models["det"]),
                    "Rec.model_path": str(self.models["rec"]),
                    "Cls.model_path": str(self.models["cls"]),
                    "Global.use_cls": False,
                    "Global.log_level": "error",
                    "Det.limit_type": "max",
                    "Det.limit_side_len": 320,
                    "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                }
            )

    # ----------------------------------------------------------------- public

    def read(self, crops: AthleteCrops) -> JerseyReads:
        """Read the number of every player and goalkeeper crop; see the class docstring."""
        n = len(crops)
        number = np.full(n, -1, np.int32)
        confidence = np.zeros(n, np.float32)
        eligible = [
            i
            for i in range(n)
            if crops.class_id[i] in (PLAYER, GOALKEEPER)
            and crops.boxes[i][3] - crops.boxes[i][1] >= self.min_box_height
        ]
        if self._pipeline is not None:
            rows = eligible
            reads = self._read_pipeline([_torso(crops.images[i], crops.boxes[i]) for i in rows])
        else:
            rows, regions = [], []
            for i in eligible:
                region = number_region(crops.images[i], crops.masks[i], crops.boxes[i], self.ink_delta)
                if region is not None:
                    rows.append(i)
                    regions.append(region)
            reads = self._recognise(regions)
        for i, (text, score) in zip(rows, reads):
            threshold = self.single_digit_confidence if len(text) == 1 else self.min_confidence
            if text == "1" and not self.read_lone_one:
                continue
            if _NUMBER.match(text) and score >= threshold:
                number[i] = int(text)
                confidence[i] = score
        return JerseyReads(number, confidence)

    # ----------------------------------------------------------------- internals

    def _recognise(self, images: list[np.ndarray]) -> list[tuple[str, float]]:
        """Digits-only reads of text-line images, batched by similar width."""
        height = self._LINE_HEIGHT
        widths = [max(int(math.ceil(height * im.shape[1] / im.shape[0])), 8) for im in images]
        reads: list[tuple[str, float]] = [("", 0.0)] * len(images)
        order = np.argsort(widths, kind="stable")
        for start in range(0, len(order), self._BATCH):
            chunk = order[start : start + self._BATCH]
            # Padded to a minimum width as PP-OCR pads its lines: the CTC needs enough time
            # steps (width / 8) to put a blank between two equal digits ("11").
            batch = np.zeros((len(chunk), 3, height, max(self._MIN_WIDTH, max(widths[k] for k in chunk))), np.float32)
            for slot, k in enumerate(chunk):
                resized = cv2.resize(images[k], (widths[k], height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
                batch[slot, :, :, : widths[k]] = resized.transpose(2, 0, 1) / 127.5 - 1.0
            probs = self._session.run(None, {self._input: batch})[0]  # (B, T, classes), softmax
            for slot, k in enumerate(chunk):
                reads[k] = self._decode_digits(probs[slot])
        return reads

    def _decode_digits(self, probs: np.ndarray) -> tuple[str, float]:
        allowed = probs[:, np.concatenate(([0], self._digit_class))]
        best = allowed.argmax(axis=1)
        text, scores, previous = [], [], 0
        for k, p in zip(best, allowed.max(axis=1)):
            if k != 0 and k != previous:
                text.append(str(k - 1))
                scores.append(float(p))
            elif k != 0:
                scores[-1] = max(scores[-1], float(p))
            previous = k
        return "".join(text), (min(scores) if scores else 0.0)

    def _read_pipeline(self, images: list[np.ndarray]) -> list[tuple[str, float]]:
        """RapidOCR's own detector + recogniser; the most confident all-digit text wins."""
        reads = []
        for image in images:
            out = self._pipeline(image, use_det=True, use_cls=False, use_rec=True)
            found = [
                (t.strip(), float(s))
                for t, s in zip(getattr(out, "txts", None) or (), getattr(out, "scores", None) or ())
            ]
            found = [(t, s) for t, s in found if t.isdigit()]
            reads.append(max(found, key=lambda r: r[1], default=("", 0.0)))
        return reads


def _torso(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Upper body of the athlete (15 %..60 % of the box height), upscaled to >= 96 px tall."""
    x1, y1, x2, y2 = (float(v) for v in box)
    bh = y2 - y1
    r0, r1 = int(round(y1 + 0.15 * bh)), max(int(round(y1 + 0.6 * bh)), int(round(y1 + 0.15 * bh)) + 1)
    torso = image[r0:r1, int(round(x1)) : max(int(round(x2)), int(round(x1)) + 1)]
    scale = max(1.0, 96.0 / torso.shape[0])
    torso = cv2.resize(torso, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(torso, 16, 16, 16, 16, cv2.BORDER_REPLICATE)


def number_region(
    image: np.ndarray, mask: np.ndarray | None, box: np.ndarray, ink_delta: float = 30.0
) -> np.ndarray | None:
    """The band of the back where the number is, ready for a text recogniser.

    The rows are found from the number itself: pixels that differ from the shirt's colour
    (Lab distance above ``ink_delta``), are neither grass nor skin, and form digit-sized
    blobs near the middle of the back; the rows of the blobs on one line, with a margin.
    The columns are not localised: the band keeps the middle 80 % of the box width, since
    a thin, anti-aliased "1" beside another digit is easily lost as a blob and cutting the
    band at the found blobs then drops a digit (measured: precision 0.86 with blob columns
    against 0.98 with the fixed band on synthetic clips).

    Args:
        image: ``uint8`` BGR crop.
        mask: ``bool`` foreground mask of the crop, or ``None``.
        box: ``xyxy`` of the athlete in crop pixels.
        ink_delta: Lab distance from the shirt colour above which a pixel is number ink.

    Returns:
        ``uint8`` BGR image of the band with a small replicated border, or ``None`` when the
        box is too small or no digit-like blob is found.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    bw, bh = x2 - x1, y2 - y1
    # The shirt spans about 18 %..50 % of a standing athlete's height from the top of the box.
    r0, r1 = int(round(y1 + 0.17 * bh)), int(round(y1 + 0.52 * bh))
    c0, c1 = int(round(x1 + 0.1 * bw)), int(round(x2 - 0.1 * bw))
    torso = image[r0:r1, c0:c1]
    if torso.shape[0] < 6 or torso.shape[1] < 4:
        return None
    th, tw = torso.shape[:2]
    body = ~_grass(cv2.cvtColor(torso, cv2.COLOR_BGR2HSV), _grass_hue(image, box))
    if mask is not None:
        body &= mask[r0:r1, c0:c1]
    lab = cv2.cvtColor(torso.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    centre = body.copy()
    centre[:, : int(0.15 * tw)] = False
    centre[:, int(np.ceil(0.85 * tw)) :] = False
    if centre.sum() < 4:
        return None
    shirt = np.median(lab[centre], axis=0)
    # Arms and neck differ from the shirt as much as the number does and touch it; skin is
    # left out so that they do not merge with the digits into one blob.
    ink = body & (np.linalg.norm(lab - shirt, axis=2) > ink_delta) & ~_skin(torso)
    _, _, stats, centroids = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    keep = [
        k
        for k in range(1, len(stats))
        # A digit: a fair share of the torso height, not a speck, around the middle of the back.
        if 0.15 * th <= stats[k][3] <= 0.9 * th and stats[k][4] >= 3 and 0.1 * tw <= centroids[k][0] <= 0.9 * tw
    ]
    if not keep:
        return None
    # One line of digits: the blobs that overlap the tallest blob vertically.
    tallest = max(keep, key=lambda k: stats[k][3])
    top, tall = stats[tallest][1], stats[tallest][3]
    line = [
        k
        for k in keep
        if min(top + tall, stats[k][1] + stats[k][3]) - max(top, stats[k][1]) > 0.5 * min(tall, stats[k][3])
    ]
    ys0 = min(stats[k][1] for k in line)
    ys1 = max(stats[k][1] + stats[k][3] for k in line)
    pad = max(1, round(0.2 * (ys1 - ys0)))
    band = torso[max(ys0 - pad, 0) : min(ys1 + pad, th)]
    # Recognisers expect a margin around a text line.
    border = max(2, band.shape[0] // 3)
    return cv2.copyMakeBorder(band, border, border, border, border, cv2.BORDER_REPLICATE)


JERSEY_BACKENDS: dict[str, Callable[..., JerseyReader]] = {"rapidocr": RapidOcrJerseyReader, "none": NoJerseyReader}


def build_jersey_reader(name: str, **params: Any) -> JerseyReader:
    """Build a jersey reader by name (``"rapidocr"`` or ``"none"``), passing ``params`` to it.

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    return pick_builder(JERSEY_BACKENDS, name, "jersey reader")(**params)
