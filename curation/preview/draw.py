"""Drawing one frame of the QA preview: boxes, labels, masks, the ball, pitch lines, a minimap.

Each frame of a preview shows:

* every athlete's box, coloured by team (A blue, B red, undecided grey, referees yellow), with the
  label ``"<track_id> <role> #<jersey>"`` above it and, when the shard has a mask, its outline;
* the ball (an orange ring around its box);
* when the frame's camera is valid, the painted pitch lines projected with the stored homography
  (thin magenta: where they miss the grass markings, the calibration is off);
* a top-down minimap of the pitch positions (bottom-right corner) and a one-line header.

:func:`draw_frame` and :func:`draw_minimap` draw single images from shard rows (dicts or pyarrow
slices); :func:`project_pitch_lines` gives the pitch lines as pixel segments. Stored cells are
read through :mod:`soccerfactory.curation.layout`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.layout import finite_or_none, homography_matrix
from soccerfactory.curation.pitch import GOAL_LINE_NAMES, PitchModel

__all__ = [
    "BALL_COLOUR",
    "MINIMAP_MARGIN_M",
    "PITCH_LINE_COLOUR",
    "REFEREE_COLOUR",
    "TEAM_COLOURS",
    "TEXT_COLOUR",
    "UNASSIGNED_COLOUR",
    "athlete_colour",
    "draw_frame",
    "draw_minimap",
    "paste_minimap",
    "project_pitch_lines",
    "put_label",
]

Colour = tuple[int, int, int]  # BGR

TEAM_COLOURS: dict[str, Colour] = {"A": (235, 140, 30), "B": (40, 40, 230)}
UNASSIGNED_COLOUR: Colour = (170, 170, 170)
REFEREE_COLOUR: Colour = (0, 215, 255)
BALL_COLOUR: Colour = (0, 140, 255)
# Magenta appears neither on grass nor in the white paint, so the overlay stays visible on both.
PITCH_LINE_COLOUR: Colour = (255, 0, 255)
TEXT_COLOUR: Colour = (255, 255, 255)
_GRASS_COLOUR: Colour = (40, 120, 40)
_SURROUND_COLOUR: Colour = (30, 85, 30)

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LINE_SPACING_M = 0.5
MINIMAP_MARGIN_M = 3.0
# Projected points further than this many image sizes outside the frame are dropped: they carry
# no visible segment and their int32 pixel coordinates could overflow in OpenCV.
_FAR_OUTSIDE = 4.0


# --------------------------------------------------------------------------- small helpers


def _rows(rows: Any) -> list[Mapping[str, Any]]:
    """Row dicts from a list of dicts, a pyarrow Table / RecordBatch, or None."""
    if rows is None:
        return []
    if isinstance(rows, (pa.Table, pa.RecordBatch)):
        return rows.to_pylist()
    if isinstance(rows, Mapping):
        raise TypeError("athletes must be a sequence of row dicts or a pyarrow table, got a single dict")
    return list(rows)


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image must be a uint8 (H, W, 3) BGR array, got {dtype} {shape}")
    return image


def athlete_colour(row: Mapping[str, Any]) -> Colour:
    """BGR colour of an athlete row: referees yellow, team A blue, team B red, otherwise grey."""
    if row.get("role") == "referee" or (row.get("role") is None and row.get("class") == "referee"):
        return REFEREE_COLOUR
    return TEAM_COLOURS.get(row.get("team"), UNASSIGNED_COLOUR)


def _label(row: Mapping[str, Any]) -> str:
    parts = []
    if row.get("track_id") is not None:
        parts.append(str(row["track_id"]))
    parts.append(str(row.get("role") or row.get("class") or "?"))
    if row.get("jersey") is not None:
        parts.append(f"#{row['jersey']}")
    return " ".join(parts)


def put_label(image: np.ndarray, text: str, x: int, y: int, colour: Colour, scale: float = 0.4) -> None:
    """Text with its baseline at ``y`` on a dark plate, nudged inside the image."""
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    x = int(min(max(x, 0), max(image.shape[1] - width - 2, 0)))
    y = int(min(max(y, height + 2), image.shape[0] - baseline - 1))
    cv2.rectangle(image, (x - 1, y - height - 2), (x + width + 1, y + baseline), (0, 0, 0), cv2.FILLED)
    cv2.putText(image, text, (x, y), _FONT, scale, colour, 1, cv2.LINE_AA)


# --------------------------------------------------------------------------- masks


def _mask_crop(rle_json: Any, image_shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray | None:
    """The mask inside ``box`` (x0, y0, x1, y1 exclusive), decoding only the box's columns.

    Accepts the shard's JSON ``{"size": [H, W], "counts": [...]}`` and the synthetic ground
    truth's bare counts list (over the full frame). None when the mask is absent, malformed or of
    another frame size: a preview must not stop on one bad mask.
    """
    if rle_json is None:
        return None
    try:
        rle = json.loads(rle_json) if isinstance(rle_json, (str, bytes)) else rle_json
        if isinstance(rle, Mapping):
            height, width = (int(v) for v in rle["size"])
            counts = np.asarray(rle["counts"], dtype=np.int64).reshape(-1)
        else:
            height, width = image_shape
            counts = np.asarray(rle, dtype=np.int64).reshape(-1)
    except (ValueError, TypeError, KeyError):
        return None
    if (height, width) != tuple(image_shape) or (counts < 0).any() or int(counts.sum()) != height * width:
        return None
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return None
    # Column-major runs: columns [x0, x1) are the flat range [x0 * H, x1 * H).
    ends = np.cumsum(counts)
    starts = ends - counts
    lo, hi = x0 * height, x1 * height
    fg_starts, fg_ends = starts[1::2], ends[1::2]
    keep = (fg_ends > lo) & (fg_starts < hi)
    edges = np.zeros(hi - lo + 1, dtype=np.int32)
    np.add.at(edges, np.clip(fg_starts[keep], lo, hi) - lo, 1)
    np.add.at(edges, np.clip(fg_ends[keep], lo, hi) - lo, -1)
    columns = (np.cumsum(edges[:-1]) > 0).reshape(x1 - x0, height).T
    return columns[y0:y1]


def _draw_mask_outline(image: np.ndarray, row: Mapping[str, Any], box: tuple[int, int, int, int], colour: Colour) -> None:
    height, width = image.shape[:2]
    x0, y0 = max(box[0] - 2, 0), max(box[1] - 2, 0)
    x1, y1 = min(box[2] + 3, width), min(box[3] + 3, height)
    crop = _mask_crop(row.get("mask_rle"), (height, width), (x0, y0, x1, y1))
    if crop is None or not crop.any():
        return
    contours, _ = cv2.findContours(crop.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE, offset=(x0, y0))
    cv2.drawContours(image, contours, -1, colour, 1, cv2.LINE_AA)


# --------------------------------------------------------------------------- pitch lines


@lru_cache(maxsize=8)
def _pitch_polyline_points(pitch: PitchModel) -> tuple[np.ndarray, np.ndarray]:
    """Painted lines sampled every 0.5 m: points (P, 2) metres, and for each point whether the
    segment to the next point belongs to the same line (P,) bool."""
    samples = pitch.sample_lines(_LINE_SPACING_M, tuple(n for n in pitch.lines if n not in GOAL_LINE_NAMES))
    points, joined = [], []
    for line in samples.values():
        points.append(line[:, :2])
        link = np.ones(len(line), dtype=bool)
        link[-1] = False
        joined.append(link)
    return np.concatenate(points), np.concatenate(joined)


def _in_front_sign(matrix: np.ndarray, width: int, height: int) -> float:
    """Sign of the homogeneous w of pitch points in front of the camera.

    A broadcast camera looks down at the pitch, so the bottom-centre pixel's ray meets the
    ground in front of it; points whose w has the other sign are behind the camera.
    """
    ground = np.linalg.solve(matrix, np.array([width / 2, float(height), 1.0]))
    return 1.0 if ground[2] == 0 else float(np.sign(1.0 / ground[2]))


def project_pitch_lines(
    homography: Any,
    pitch: PitchModel,
    image_size: tuple[int, int],
    camera: Camera | None = None,
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The painted pitch lines as pixel segments clipped to the image.

    Args:
        homography: 9 numbers (row-major) or a 3x3 array mapping pitch metres (x, y, 1) to
            (undistorted) pixels; None or a degenerate one gives no segments.
        pitch: The pitch whose markings to project (goal frames are left out: they are not on
            the ground plane).
        image_size: ``(width, height)`` in pixels.
        camera: The frame's full camera, when known: its depth decides which points are in
            front, and its lens distortion bends the projected lines as they appear in the image.

    Returns:
        Segments ``((x1, y1), (x2, y2))`` in integer pixels, each inside the image.
    """
    matrix = homography_matrix(homography)
    if matrix is None:
        return []
    width, height = int(image_size[0]), int(image_size[1])
    points, joined = _pitch_polyline_points(pitch)
    homogeneous = np.column_stack([points, np.ones(len(points))]) @ matrix.T
    w = homogeneous[:, 2]
    if camera is not None:
        in_front = camera.depth(points) > 0
    else:
        in_front = w * _in_front_sign(matrix, width, height) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = homogeneous[:, :2] / w[:, None]
    limit_x, limit_y = _FAR_OUTSIDE * width, _FAR_OUTSIDE * height
    valid = (
        in_front & np.isfinite(pixels).all(axis=1)
        & (np.abs(pixels[:, 0] - width / 2) < limit_x) & (np.abs(pixels[:, 1] - height / 2) < limit_y)
    )
    if camera is not None and camera.dist.size and camera.dist.any():
        # The radial polynomial runs away far outside the image; distort only what can be seen.
        near = valid & (np.abs(pixels[:, 0] - width / 2) < width) & (np.abs(pixels[:, 1] - height / 2) < height)
        distorted = pixels.copy()
        if near.any():
            distorted[near] = camera.distort_pixels(pixels[near])
        pixels, valid = distorted, near
    segment = valid[:-1] & valid[1:] & joined[:-1]
    start, end = pixels[:-1][segment], pixels[1:][segment]
    # Skip segments whose bounding box misses the image before the per-segment OpenCV calls.
    overlaps = (
        (np.maximum(start[:, 0], end[:, 0]) >= 0) & (np.minimum(start[:, 0], end[:, 0]) < width)
        & (np.maximum(start[:, 1], end[:, 1]) >= 0) & (np.minimum(start[:, 1], end[:, 1]) < height)
    )
    segments = []
    rectangle = (0, 0, width, height)
    for a, b in zip(np.rint(start[overlaps]).astype(np.int64).tolist(), np.rint(end[overlaps]).astype(np.int64).tolist()):
        inside, p, q = cv2.clipLine(rectangle, tuple(a), tuple(b))
        if inside:
            segments.append((tuple(p), tuple(q)))
    return segments


# --------------------------------------------------------------------------- drawing


def draw_frame(
    image: np.ndarray,
    athletes: Sequence[Mapping[str, Any]] | pa.Table | None,
    ball: Mapping[str, Any] | None = None,
    homography: Sequence[float] | np.ndarray | None = None,
    pitch: PitchModel | None = None,
    *,
    camera: Camera | None = None,
    masks: bool = True,
) -> np.ndarray:
    """Draw one frame's curated annotations on a copy of its image.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame; not modified.
        athletes: This frame's rows of the shard's ``athletes`` table (dicts or a pyarrow slice).
            Used columns: ``x1, y1, x2, y2`` (xyxy, pixels of the full frame), ``team``,
            ``role`` (or ``class``), ``track_id``, ``jersey``, ``mask_rle``; rows without a box
            are skipped, missing columns are treated as null.
        ball: The frame's ``ball`` row, or None; drawn when its box is not null.
        homography: The frame's camera homography (9 numbers, row-major, pitch metres -> pixels),
            or None when the camera is invalid: then no pitch lines are drawn.
        pitch: Pitch model of the lines to overlay (default: 105 x 68 m).
        camera: Optional full camera of the frame (see :func:`project_pitch_lines`).
        masks: Draw mask outlines where ``mask_rle`` is present.

    Returns:
        A new ``uint8`` ``(H, W, 3)`` BGR image.

    Raises:
        ValueError: ``image`` is not a ``uint8`` ``(H, W, 3)`` array.
    """
    out = _check_image(image).copy()
    height, width = out.shape[:2]
    pitch = pitch or PitchModel()
    for start, end in project_pitch_lines(homography, pitch, (width, height), camera):
        cv2.line(out, start, end, PITCH_LINE_COLOUR, 1, cv2.LINE_AA)

    rows = _rows(athletes)
    boxes = []
    for row in rows:
        coords = [finite_or_none(row.get(k)) for k in ("x1", "y1", "x2", "y2")]
        if any(c is None for c in coords):
            continue
        x1, y1, x2, y2 = (int(round(c)) for c in coords)
        boxes.append((row, (x1, y1, x2, y2), athlete_colour(row)))
    if masks:
        for row, box, colour in boxes:
            _draw_mask_outline(out, row, box, colour)
    for _, (x1, y1, x2, y2), colour in boxes:
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, 2)
    # Labels last so no box is drawn over a neighbour's text.
    for row, (x1, y1, _, _), colour in boxes:
        put_label(out, _label(row), x1, y1 - 4, colour)

    if ball is not None:
        coords = [finite_or_none(ball.get(k)) for k in ("x1", "y1", "x2", "y2")]
        if all(c is not None for c in coords) and ball.get("detected", True) is not False:
            cx, cy = (coords[0] + coords[2]) / 2, (coords[1] + coords[3]) / 2
            radius = max(int(round(max(coords[2] - coords[0], coords[3] - coords[1]) / 2)) + 4, 6)
            centre = (int(round(cx)), int(round(cy)))
            cv2.circle(out, centre, radius + 1, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.circle(out, centre, radius, BALL_COLOUR, 2, cv2.LINE_AA)
    return out


def draw_minimap(
    athletes: Sequence[Mapping[str, Any]] | pa.Table | None,
    ball: Mapping[str, Any] | None,
    pitch: PitchModel | None = None,
    size: tuple[int, int] = (320, 216),
) -> np.ndarray:
    """A top-down view of the pitch with a dot per athlete and the ball at their pitch positions.

    The pitch (plus a 3 m surround) is scaled to fit ``size`` keeping its aspect ratio, far
    touchline (``y = -width/2``) at the top, left goal on the left, as the main camera sees it.

    Args:
        athletes: Rows with ``pitch_x``, ``pitch_y`` (metres; rows where they are null are
            skipped), ``team`` and ``role``.
        ball: The ball row (``pitch_x``, ``pitch_y``) or None.
        pitch: Pitch model (default 105 x 68 m).
        size: ``(width, height)`` of the result in pixels, each >= 16.

    Returns:
        ``uint8`` ``(height, width, 3)`` BGR image.
    """
    width, height = (int(v) for v in size)
    if width < 16 or height < 16:
        raise ValueError(f"minimap size must be at least 16x16 pixels, got {size!r}")
    pitch = pitch or PitchModel()
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = _SURROUND_COLOUR
    span_x, span_y = pitch.length + 2 * MINIMAP_MARGIN_M, pitch.width + 2 * MINIMAP_MARGIN_M
    scale = min(width / span_x, height / span_y)
    offset = np.array([width / 2, height / 2])

    def to_pixels(xy: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(xy, dtype=np.float64) * scale + offset).astype(np.int32)

    corners = to_pixels([[-pitch.half_length, -pitch.half_width], [pitch.half_length, pitch.half_width]])
    cv2.rectangle(image, tuple(corners[0].tolist()), tuple(corners[1].tolist()), _GRASS_COLOUR, cv2.FILLED)
    for line in pitch.ground_markings.values():
        cv2.polylines(image, [to_pixels(line).reshape(-1, 1, 2)], False, (255, 255, 255), 1, cv2.LINE_AA)
    radius = max(2, int(round(scale * 0.9)))
    for row in _rows(athletes):
        x, y = finite_or_none(row.get("pitch_x")), finite_or_none(row.get("pitch_y"))
        if x is None or y is None:
            continue
        centre = tuple(to_pixels([x, y]).tolist())
        cv2.circle(image, centre, radius, athlete_colour(row), cv2.FILLED, cv2.LINE_AA)
        cv2.circle(image, centre, radius, (0, 0, 0), 1, cv2.LINE_AA)
    if ball is not None:
        x, y = finite_or_none(ball.get("pitch_x")), finite_or_none(ball.get("pitch_y"))
        if x is not None and y is not None:
            centre = tuple(to_pixels([x, y]).tolist())
            cv2.circle(image, centre, max(radius - 1, 2), (255, 255, 255), cv2.FILLED, cv2.LINE_AA)
            cv2.circle(image, centre, max(radius - 1, 2), (0, 0, 0), 1, cv2.LINE_AA)
    return image


def paste_minimap(frame: np.ndarray, minimap: np.ndarray, margin: int = 8) -> None:
    height, width = minimap.shape[:2]
    y0, x0 = frame.shape[0] - height - margin, frame.shape[1] - width - margin
    if y0 < 0 or x0 < 0:
        return
    region = frame[y0 : y0 + height, x0 : x0 + width]
    # Mostly opaque, so the minimap reads clearly, yet what lies under the corner still shows.
    frame[y0 : y0 + height, x0 : x0 + width] = cv2.addWeighted(minimap, 0.85, region, 0.15, 0.0)
    cv2.rectangle(frame, (x0 - 1, y0 - 1), (x0 + width, y0 + height), (0, 0, 0), 1)
