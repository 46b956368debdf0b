"""Drawing one frame of the QA preview: athletes, labels, masks, the ball, pitch lines.

Each athlete is drawn in its colour (:func:`~.style.athlete_colour`: the team's kit colour from
the shard's ``clips`` row, referees yellow, other grey) as a ring at its feet (``ellipse``, as
supervision's EllipseAnnotator) or its box (``box``); goalkeepers get a second, inner ring in
the contrasting colour. Its label ``"<track_id> <role> #<jersey>"`` sits on a filled box in the
same colour (:mod:`.labels`, placed so labels do not cover each other), its mask outline is
drawn when the shard has one. The ball is an orange ring; when the frame's camera is valid the
painted pitch lines are projected with the stored homography (thin magenta: where they miss the
grass markings, the calibration is off).

:func:`draw_frame` draws one image from shard rows (dicts or pyarrow slices);
:func:`draw_scene` draws the same in place and hands back the planned labels and the space the
athletes take, for :mod:`.compose` to place the radar and legend around them before the labels
go on top. :func:`project_pitch_lines` gives the pitch lines as pixel segments. The radar and
colours live in :mod:`.radar` and :mod:`.style` (re-exported here for older callers).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.layout import finite_or_none, homography_matrix
from soccerfactory.curation.pitch import GOAL_LINE_NAMES, PitchModel
from soccerfactory.curation.preview.labels import Label, TextStyle, draw_labels, label_text, place_labels, put_label, text_style
from soccerfactory.curation.preview.radar import MINIMAP_MARGIN_M, draw_minimap, paste_minimap
from soccerfactory.curation.preview.style import (
    BALL_COLOUR, PITCH_LINE_COLOUR, REFEREE_COLOUR, TEAM_COLOURS, TEXT_COLOUR, UNASSIGNED_COLOUR, Colour, Kits,
    as_rows, athlete_colour, contrast_colour, is_goalkeeper,
)

__all__ = [
    "BALL_COLOUR",
    "MINIMAP_MARGIN_M",
    "PITCH_LINE_COLOUR",
    "REFEREE_COLOUR",
    "TEAM_COLOURS",
    "TEXT_COLOUR",
    "UNASSIGNED_COLOUR",
    "Scene",
    "athlete_colour",
    "ball_centre",
    "check_image",
    "draw_athlete_shape",
    "draw_ball_marker",
    "draw_frame",
    "draw_minimap",
    "draw_scene",
    "ellipse_axes",
    "paste_minimap",
    "project_pitch_lines",
    "put_label",
    "shape_thickness",
]

_LINE_SPACING_M = 0.5
# Projected points further than this many image sizes outside the frame are dropped: they carry
# no visible segment and their int32 pixel coordinates could overflow in OpenCV.
_FAR_OUTSIDE = 4.0

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def check_image(image: Any) -> np.ndarray:
    """``image`` itself when it is a ``uint8`` ``(H, W, 3)`` array; ValueError naming what it is otherwise."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise ValueError(f"image must be a uint8 (H, W, 3) BGR array, got {dtype} {shape}")
    return image


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


# --------------------------------------------------------------------------- athletes and ball


def shape_thickness(height: int) -> int:
    """Stroke of athlete shapes for a frame ``height`` px tall: 2 px at 720p, 3 px at 1080p."""
    return max(2, int(round(2 * height / 720)))


def ellipse_axes(box: Rect) -> tuple[int, int]:
    """Semi-axes of the ring at the feet of ``box``: 0.7 and 0.25 box widths (a player's box is
    ~0.4 of its height wide, so the ring spans the stance without reaching the neighbours')."""
    w = max(box[2] - box[0], 1)
    return max(int(round(0.7 * w)), 5), max(int(round(0.25 * w)), 2)


def draw_athlete_shape(image: np.ndarray, box: Rect, colour: Colour, style: str, goalkeeper: bool, thickness: int) -> Rect:
    """Draw an athlete's ring (``ellipse``) or box (``box``) in place; return the rectangle it covers.

    Goalkeepers get a second, inner ring (or box) in the contrasting colour of their kit, so a
    keeper reads as one at a glance even in the kit of their team.
    """
    x1, y1, x2, y2 = box
    accent = contrast_colour(colour)
    if style == "box":
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness)
        if goalkeeper:
            inset = thickness + 1
            cv2.rectangle(image, (x1 + inset, y1 + inset), (x2 - inset, y2 - inset), accent, max(thickness - 1, 1))
        return (x1 - thickness, y1 - thickness, x2 + thickness + 1, y2 + thickness + 1)
    cx = (x1 + x2) // 2
    a, b = ellipse_axes(box)
    # The arc leaves a gap behind the legs (-45..235 degrees, as supervision draws it), so the
    # ring reads as lying on the ground around the feet.
    cv2.ellipse(image, (cx, y2), (a, b), 0.0, -45, 235, colour, thickness, cv2.LINE_AA)
    if goalkeeper:
        inner = (max(a - thickness - 2, 2), max(b - thickness - 1, 1))
        cv2.ellipse(image, (cx, y2), inner, 0.0, -45, 235, accent, max(thickness - 1, 1), cv2.LINE_AA)
        cv2.ellipse(image, (cx, y2), (a + thickness + 1, b + thickness + 1), 0.0, -45, 235, colour, max(thickness - 1, 1), cv2.LINE_AA)
        a, b = a + thickness + 1, b + thickness + 1
    return (cx - a - thickness, y2 - b - thickness, cx + a + thickness + 1, y2 + b + thickness + 1)


def draw_ball_marker(image: np.ndarray, centre: tuple[int, int], radius: int, thickness: int = 2) -> None:
    """The ball: an orange ring with a thin black edge, in place."""
    cv2.circle(image, centre, radius + thickness // 2 + 1, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.circle(image, centre, radius, BALL_COLOUR, thickness, cv2.LINE_AA)


def ball_centre(ball: Mapping[str, Any] | None) -> tuple[float, float, float] | None:
    """``(cx, cy, half_size)`` of a ball row's box in pixels; None when it has none or was not seen."""
    if ball is None or ball.get("detected", True) is False:
        return None
    coords = [finite_or_none(ball.get(k)) for k in ("x1", "y1", "x2", "y2")]
    if any(c is None for c in coords):
        return None
    return (coords[0] + coords[2]) / 2, (coords[1] + coords[3]) / 2, max(coords[2] - coords[0], coords[3] - coords[1]) / 2


@dataclasses.dataclass(frozen=True)
class Scene:
    """What :func:`draw_scene` drew and planned: labels still to draw, rectangles taken by athletes."""

    labels: tuple[Label, ...]
    shapes: tuple[Rect, ...]
    text: TextStyle


# --------------------------------------------------------------------------- drawing


def draw_scene(
    out: np.ndarray,
    athletes: Sequence[Mapping[str, Any]] | Any,
    ball: Mapping[str, Any] | None = None,
    homography: Sequence[float] | np.ndarray | None = None,
    pitch: PitchModel | None = None,
    *,
    camera: Camera | None = None,
    masks: bool = True,
    kits: Kits | None = None,
    style: str = "ellipse",
    avoid: Sequence[Rect] = (),
) -> Scene:
    """Draw pitch lines, masks, athlete shapes and the ball into ``out`` in place; plan the labels.

    Arguments as :func:`draw_frame`; ``avoid`` are rectangles labels should keep off (the header).
    The labels are placed but not drawn, so the caller can keep the radar off them and draw them last.
    """
    if style not in ("ellipse", "box"):
        raise ValueError(f"athlete style must be ellipse or box, got {style!r}")
    height, width = out.shape[:2]
    pitch = pitch or PitchModel()
    for start, end in project_pitch_lines(homography, pitch, (width, height), camera):
        cv2.line(out, start, end, PITCH_LINE_COLOUR, 1, cv2.LINE_AA)

    boxes = []
    for row in as_rows(athletes):
        coords = [finite_or_none(row.get(k)) for k in ("x1", "y1", "x2", "y2")]
        if any(c is None for c in coords):
            continue
        box = tuple(int(round(c)) for c in coords)
        boxes.append((row, box, athlete_colour(row, kits)))
    if masks:
        for row, box, colour in boxes:
            _draw_mask_outline(out, row, box, colour)
    thickness = shape_thickness(height)
    shapes, requests = [], []
    # Far athletes (higher in the frame) first, so nearer athletes' rings lie over theirs.
    for row, box, colour in sorted(boxes, key=lambda item: item[1][3]):
        covered = draw_athlete_shape(out, box, colour, style, is_goalkeeper(row), thickness)
        shapes.append((min(covered[0], box[0]), min(covered[1], box[1]), max(covered[2], box[2] + 1), max(covered[3], box[3] + 1)))
        if style == "ellipse":  # under the ring, centred
            requests.append((label_text(row), colour, ((box[0] + box[2]) // 2, covered[3]), 1))
        else:  # above the box, at its left edge
            requests.append((label_text(row), colour, (box[0], covered[1]), -1))
    text = text_style(height)
    labels = place_labels(requests, (width, height), text, avoid)

    found = ball_centre(ball)
    if found is not None:
        cx, cy, half = found
        draw_ball_marker(out, (int(round(cx)), int(round(cy))), max(int(round(half)) + 4, 6), thickness)
    return Scene(tuple(labels), tuple(shapes), text)


def draw_frame(
    image: np.ndarray,
    athletes: Sequence[Mapping[str, Any]] | Any,
    ball: Mapping[str, Any] | None = None,
    homography: Sequence[float] | np.ndarray | None = None,
    pitch: PitchModel | None = None,
    *,
    camera: Camera | None = None,
    masks: bool = True,
    kits: Kits | None = None,
    style: str = "ellipse",
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
        kits: Team colours (:func:`~.style.kits_from_clips`); default the fixed blue / red.
        style: ``ellipse`` (ring at the feet, label below) or ``box`` (box, label above).

    Returns:
        A new ``uint8`` ``(H, W, 3)`` BGR image.

    Raises:
        ValueError: ``image`` is not a ``uint8`` ``(H, W, 3)`` array, or an unknown style.
    """
    out = check_image(image).copy()
    scene = draw_scene(out, athletes, ball, homography, pitch, camera=camera, masks=masks, kits=kits, style=style)
    # Labels last so no shape is drawn over a neighbour's text.
    draw_labels(out, scene.labels, scene.text)
    return out
