"""QA preview: draw what curation stored for a clip over its footage, as an MP4 a person can watch.

Each frame of the clip shows:

* every athlete's box, coloured by team (A blue, B red, undecided grey, referees yellow), with the
  label ``"<track_id> <role> #<jersey>"`` above it and, when the shard has a mask, its outline;
* the ball (an orange ring around its box);
* when the frame's camera is valid, the painted pitch lines projected with the stored homography
  (thin magenta: where they miss the grass markings, the calibration is off);
* a top-down minimap of the pitch positions (bottom-right corner) and a one-line header.

Curation may annotate only every ``stride``-th frame; the frames in between show the labels of
the last annotated frame, and the header says so ("labels of frame N").

The entry points are :func:`preview_clip` (by ids, reading a committed shard) and
:func:`render_preview` (clip and tables already in hand); :func:`draw_frame` and
:func:`draw_minimap` draw single images. No Prefect here: the ``soccerfactory preview`` command
calls :func:`preview_clip` directly.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import json
import math
import os
import posixpath
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from soccerfactory.curation.pitch import GOAL_LINE_NAMES, PitchModel
from soccerfactory.curation.types import Camera
from soccerfactory.curation.video import VIDEO_EXTENSIONS, ClipSpec, read_frames
from soccerfactory.storage.shards import ShardManifest, find_manifest, read_shard, scan_manifests

__all__ = [
    "BALL_COLOUR",
    "PITCH_LINE_COLOUR",
    "REFEREE_COLOUR",
    "TEAM_COLOURS",
    "UNASSIGNED_COLOUR",
    "athlete_colour",
    "clip_from_manifest",
    "draw_frame",
    "draw_minimap",
    "find_clip_manifest",
    "preview_clip",
    "preview_manifest",
    "project_pitch_lines",
    "render_preview",
]

Colour = tuple[int, int, int]  # BGR
ProgressFn = Callable[[int, int], None]

TEAM_COLOURS: dict[str, Colour] = {"A": (235, 140, 30), "B": (40, 40, 230)}
UNASSIGNED_COLOUR: Colour = (170, 170, 170)
REFEREE_COLOUR: Colour = (0, 215, 255)
BALL_COLOUR: Colour = (0, 140, 255)
# Magenta appears neither on grass nor in the white paint, so the overlay stays visible on both.
PITCH_LINE_COLOUR: Colour = (255, 0, 255)
_TEXT_COLOUR: Colour = (255, 255, 255)
_GRASS_COLOUR: Colour = (40, 120, 40)
_SURROUND_COLOUR: Colour = (30, 85, 30)

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LINE_SPACING_M = 0.5
_MINIMAP_MARGIN_M = 3.0
# Projected points further than this many image sizes outside the frame are dropped: they carry
# no visible segment and their int32 pixel coordinates could overflow in OpenCV.
_FAR_OUTSIDE = 4.0
_PREVIEW_TABLES = ("clips", "frames", "athletes", "ball", "cameras")
_ATHLETE_COLUMNS = (
    "frame_index", "x1", "y1", "x2", "y2", "track_id", "class", "team", "role", "jersey", "pitch_x", "pitch_y", "mask_rle",
)
_BALL_COLUMNS = ("frame_index", "x1", "y1", "x2", "y2", "detected", "pitch_x", "pitch_y")
_CAMERA_COLUMNS = (
    "frame_index", "valid_camera", "homography", "fx", "fy", "cx", "cy", "rotation", "position", "dist",
    "reprojection_error_px", "invalid_reason",
)


# --------------------------------------------------------------------------- small helpers


def _number(value: Any) -> float | None:
    """A finite float, or None for null / NaN / missing values."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


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


def _homography_matrix(homography: Any) -> np.ndarray | None:
    """A finite, invertible 3x3 matrix from 9 numbers (row-major) or a 3x3 array; None otherwise."""
    if homography is None:
        return None
    try:
        matrix = np.asarray([_number(v) for v in np.asarray(homography, dtype=object).reshape(-1)], dtype=object)
    except (TypeError, ValueError):
        return None
    if matrix.size != 9 or any(v is None for v in matrix):
        return None
    matrix = matrix.astype(np.float64).reshape(3, 3)
    scale = np.abs(matrix).max()
    if scale == 0 or abs(np.linalg.det(matrix / scale)) < 1e-12:
        return None
    return matrix


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


def _put_label(image: np.ndarray, text: str, x: int, y: int, colour: Colour, scale: float = 0.4) -> None:
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
    matrix = _homography_matrix(homography)
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
        coords = [_number(row.get(k)) for k in ("x1", "y1", "x2", "y2")]
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
        _put_label(out, _label(row), x1, y1 - 4, colour)

    if ball is not None:
        coords = [_number(ball.get(k)) for k in ("x1", "y1", "x2", "y2")]
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
    span_x, span_y = pitch.length + 2 * _MINIMAP_MARGIN_M, pitch.width + 2 * _MINIMAP_MARGIN_M
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
        x, y = _number(row.get("pitch_x")), _number(row.get("pitch_y"))
        if x is None or y is None:
            continue
        centre = tuple(to_pixels([x, y]).tolist())
        cv2.circle(image, centre, radius, athlete_colour(row), cv2.FILLED, cv2.LINE_AA)
        cv2.circle(image, centre, radius, (0, 0, 0), 1, cv2.LINE_AA)
    if ball is not None:
        x, y = _number(ball.get("pitch_x")), _number(ball.get("pitch_y"))
        if x is not None and y is not None:
            centre = tuple(to_pixels([x, y]).tolist())
            cv2.circle(image, centre, max(radius - 1, 2), (255, 255, 255), cv2.FILLED, cv2.LINE_AA)
            cv2.circle(image, centre, max(radius - 1, 2), (0, 0, 0), 1, cv2.LINE_AA)
    return image


def _paste_minimap(frame: np.ndarray, minimap: np.ndarray, margin: int = 8) -> None:
    height, width = minimap.shape[:2]
    y0, x0 = frame.shape[0] - height - margin, frame.shape[1] - width - margin
    if y0 < 0 or x0 < 0:
        return
    region = frame[y0 : y0 + height, x0 : x0 + width]
    # Mostly opaque, so the minimap reads clearly, yet what lies under the corner still shows.
    frame[y0 : y0 + height, x0 : x0 + width] = cv2.addWeighted(minimap, 0.85, region, 0.15, 0.0)
    cv2.rectangle(frame, (x0 - 1, y0 - 1), (x0 + width, y0 + height), (0, 0, 0), 1)


# --------------------------------------------------------------------------- rendering


def _by_frame(table: pa.Table | None, columns: Iterable[str]) -> dict[int, list[dict[str, Any]]]:
    if table is None or table.num_rows == 0:
        return {}
    names = [name for name in columns if name in table.column_names]
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in table.select(names).to_pylist():
        grouped[int(row["frame_index"])].append(row)
    return dict(grouped)


def _camera_from_row(row: Mapping[str, Any] | None, width: int, height: int) -> Camera | None:
    """The full camera of a cameras row, or None when a field is missing or inconsistent."""
    if row is None or not row.get("valid_camera"):
        return None
    fx, fy, cx, cy = (_number(row.get(k)) for k in ("fx", "fy", "cx", "cy"))
    if None in (fx, fy, cx, cy) or row.get("rotation") is None or row.get("position") is None:
        return None
    try:
        return Camera(
            K=np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]),
            R=np.asarray(row["rotation"], dtype=np.float64).reshape(3, 3),
            position=np.asarray(row["position"], dtype=np.float64).reshape(3),
            image_size=(width, height),
            dist=np.asarray(row.get("dist") or [], dtype=np.float64),
        )
    except (ValueError, TypeError):
        return None


def _header(clip: ClipSpec, frame: int, source_frame: int | None, camera_row: Mapping[str, Any] | None) -> str:
    text = f"{clip.match_id}/{clip.clip_id}  frame {frame}  t={frame / clip.fps:.2f}s"
    if source_frame is None:
        return text + "  (no labels)"
    if source_frame != frame:
        text += f"  labels of frame {source_frame}"
    if camera_row is None:
        return text + "  camera: none"
    if camera_row.get("valid_camera"):
        error = _number(camera_row.get("reprojection_error_px"))
        return text + ("  camera: ok" if error is None else f"  camera: ok ({error:.1f} px)")
    reason = camera_row.get("invalid_reason")
    return text + (f"  camera: invalid ({reason})" if reason else "  camera: invalid")


def _check_tables_match(clip: ClipSpec, tables: Mapping[str, pa.Table]) -> None:
    clips = tables.get("clips")
    if clips is None or clips.num_rows == 0:
        return
    row = clips.slice(0, 1).to_pylist()[0]
    if (row.get("match_id"), row.get("clip_id")) != (clip.match_id, clip.clip_id):
        raise ValueError(
            f"tables are of clip {row.get('match_id')}/{row.get('clip_id')}, not {clip.match_id}/{clip.clip_id}"
        )


def _temporary_path(output: Path) -> Path:
    # OpenCV picks the container from the extension, so the temporary name keeps ".mp4".
    return output.with_name(f".{output.stem}.tmp-{uuid.uuid4().hex[:12]}{output.suffix}")


def render_preview(
    clip: ClipSpec,
    tables: Mapping[str, pa.Table],
    output_path: str | os.PathLike,
    *,
    max_frames: int | None = None,
    minimap: bool = True,
    masks: bool = True,
    pitch: PitchModel | None = None,
    progress: ProgressFn | None = None,
    storage_options: dict | None = None,
) -> Path:
    """Decode ``clip`` and write every frame with its annotations drawn as an MP4.

    The file is written under a temporary name beside ``output_path`` and moved into place when
    complete, so a reader never sees half a video.

    Args:
        clip: The clip whose footage to decode (its ``url`` must still be readable).
        tables: Shard tables of the clip by name; ``athletes``, ``ball``, ``cameras`` and
            ``frames`` are used when present (``frames`` lists the annotated frames; without it
            the frames of the other tables are), ``clips`` is checked to name the same clip.
        output_path: The ``.mp4`` file to write (parent folders are created).
        max_frames: Stop after this many frames (>= 1); None renders the whole clip.
        minimap: Paste a top-down minimap into the bottom-right corner.
        masks: Draw mask outlines.
        pitch: Pitch model for the overlay and the minimap (default 105 x 68 m).
        progress: Called as ``progress(frames_done, frames_total)`` after each batch.
        storage_options: fsspec options for reading the footage.

    Returns:
        The path written: ``clip.width`` x ``clip.height`` at ``clip.fps``, MPEG-4 part 2
        (``mp4v``), ``min(clip.num_frames, max_frames)`` frames.

    Raises:
        ValueError: ``output_path`` does not end in ``.mp4``, a bad ``max_frames``, or tables of
            another clip.
        BadInputError: the footage cannot be decoded (from :func:`read_frames`).
        OSError: the video file cannot be written.
    """
    output = Path(output_path)
    if output.suffix.lower() != ".mp4":
        raise ValueError(f"preview output {output} must be an .mp4 file")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be an int >= 1 or None, got {max_frames!r}")
    _check_tables_match(clip, tables)
    pitch = pitch or PitchModel()
    athletes = _by_frame(tables.get("athletes"), _ATHLETE_COLUMNS)
    balls = {f: rows[0] for f, rows in _by_frame(tables.get("ball"), _BALL_COLUMNS).items()}
    cameras = {f: rows[0] for f, rows in _by_frame(tables.get("cameras"), _CAMERA_COLUMNS).items()}
    frames_table = tables.get("frames")
    if frames_table is not None and frames_table.num_rows:
        annotated = sorted(set(frames_table.column("frame_index").to_pylist()))
    else:
        annotated = sorted(set(athletes) | set(balls) | set(cameras))

    total = clip.num_frames if max_frames is None else min(clip.num_frames, max_frames)
    size = (clip.width, clip.height)
    map_width = min(clip.width // 4, 360)
    map_size = (map_width, int(round(map_width * (pitch.width + 2 * _MINIMAP_MARGIN_M) / (pitch.length + 2 * _MINIMAP_MARGIN_M))))
    show_minimap = minimap and map_size[0] >= 64
    camera_cache: dict[int, Camera | None] = {}

    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_path(output)
    writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), float(clip.fps), size)
    try:
        if not writer.isOpened():
            raise OSError(f"cannot open {output} for writing as an mp4v video (is the folder writable?)")
        done = 0
        for batch in read_frames(clip, batch_size=8, storage_options=storage_options):
            for image, frame in zip(batch.images, batch.frame_index.tolist()):
                if done >= total:
                    break
                position = bisect.bisect_right(annotated, frame) - 1
                source = annotated[position] if position >= 0 else None
                rows = athletes.get(source, []) if source is not None else []
                ball = balls.get(source) if source is not None else None
                camera_row = cameras.get(source) if source is not None else None
                homography = camera_row.get("homography") if camera_row and camera_row.get("valid_camera") else None
                if source is not None and source not in camera_cache:
                    camera_cache[source] = _camera_from_row(camera_row, clip.width, clip.height)
                camera = camera_cache.get(source)
                drawn = draw_frame(image, rows, ball, homography, pitch, camera=camera, masks=masks)
                if show_minimap:
                    _paste_minimap(drawn, draw_minimap(rows, ball, pitch, map_size))
                _put_label(drawn, _header(clip, frame, source, camera_row), 6, 16, _TEXT_COLOUR, scale=0.45)
                writer.write(drawn)
                done += 1
            if progress is not None:
                progress(done, total)
            if done >= total:
                break
        writer.release()
        os.replace(temporary, output)
    except BaseException:
        writer.release()
        temporary.unlink(missing_ok=True)
        raise
    return output


# --------------------------------------------------------------------------- shards


def _available_clips(root: str | os.PathLike, match_id: str | None, storage_options: Mapping[str, Any] | None, limit: int = 5) -> str:
    try:
        manifests, _ = scan_manifests(root, storage_options, check_files=False)
    except (OSError, ValueError):
        manifests = []
    if not manifests:
        return f"there are no shards under {os.fspath(root)}"
    same_match = [m for m in manifests if m.match_id == match_id]
    if same_match:
        names = [m.clip_id for m in same_match]
        where = f"clips of match {match_id}"
    else:
        names = [f"{m.match_id}/{m.clip_id}" for m in manifests]
        where = "clips there"
    more = f" (and {len(names) - limit} more)" if len(names) > limit else ""
    return f"{where}: {', '.join(names[:limit])}{more}"


def find_clip_manifest(
    root: str | os.PathLike,
    clip_id: str,
    match_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ShardManifest:
    """The committed manifest of a clip, searching every match under ``root`` when ``match_id`` is None.

    Raises:
        FileNotFoundError: no committed shard of that clip; the message names the clip and lists
            a few clips that do exist.
        ValueError: ``match_id`` is None and several matches have a clip of that id (the
            message lists them), a bad id, or a corrupt manifest.
    """
    if match_id is not None:
        manifest = find_manifest(root, match_id, clip_id, storage_options)
        if manifest is None:
            raise FileNotFoundError(
                f"no shard of match {match_id!r} clip {clip_id!r} under {os.fspath(root)}; "
                f"{_available_clips(root, match_id, storage_options)}"
            )
        return manifest
    manifests, _ = scan_manifests(root, storage_options, check_files=False)
    hits = [m for m in manifests if m.clip_id == clip_id]
    if not hits:
        raise FileNotFoundError(f"no shard of clip {clip_id!r} under {os.fspath(root)}; {_available_clips(root, None, storage_options)}")
    if len(hits) > 1:
        matches = ", ".join(m.match_id for m in hits)
        raise ValueError(f"clip {clip_id!r} is in {len(hits)} matches ({matches}); pick one with --match")
    return hits[0]


def clip_from_manifest(manifest: ShardManifest, clips: pa.Table | None = None) -> ClipSpec:
    """Rebuild the :class:`ClipSpec` a shard was curated from.

    Shards written by the curate flow keep it in ``manifest.metadata["clip"]``. Without it, the
    ``clips`` row gives the source URL, frame range, fps and size; its ``content_hash`` cannot be
    re-derived without the source's hash, so that spec's ``source_hash`` / ``content_hash`` are
    stand-ins, good for decoding frames but not as a cache key.

    Raises:
        ValueError: neither is available, they disagree on the frame range, or a field is invalid.
    """
    where = f"shard {manifest.match_id}/{manifest.clip_id}"
    stored = manifest.metadata.get("clip")
    row = clips.slice(0, 1).to_pylist()[0] if clips is not None and clips.num_rows else None
    if isinstance(stored, Mapping):
        names = {f.name for f in dataclasses.fields(ClipSpec)}
        try:
            clip = ClipSpec(**{k: v for k, v in stored.items() if k in names})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: metadata.clip is not a valid clip: {error}") from None
        if (clip.match_id, clip.clip_id) != (manifest.match_id, manifest.clip_id):
            raise ValueError(f"{where}: metadata.clip names {clip.match_id}/{clip.clip_id}")
        if row is not None and (int(row["start_frame"]), int(row["stop_frame"])) != (clip.start_frame, clip.stop_frame):
            raise ValueError(
                f"{where}: metadata.clip covers frames [{clip.start_frame}, {clip.stop_frame}) "
                f"but the clips row [{row['start_frame']}, {row['stop_frame']})"
            )
        return clip
    if row is None:
        raise ValueError(f"{where} has neither metadata.clip nor a clips row: cannot tell which footage it covers")
    url = row["source_url"]
    stand_in = hashlib.sha256(f"preview:{url}".encode()).hexdigest()
    kind = "video" if posixpath.splitext(url.split("?")[0])[1].lower() in VIDEO_EXTENSIONS else "images"
    start, stop = int(row["start_frame"]), int(row["stop_frame"])
    try:
        return ClipSpec(
            match_id=manifest.match_id, clip_id=manifest.clip_id, url=url, kind=kind,
            start_frame=start, stop_frame=stop, fps=row["fps"], width=row["width"], height=row["height"],
            # Same derivation as video.split_clips, over the stand-in source hash.
            content_hash=hashlib.sha256(f"{stand_in}:{start}:{stop}".encode()).hexdigest(), source_hash=stand_in,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: the clips row is not a valid clip: {error}") from None


def preview_manifest(
    manifest: ShardManifest,
    output_path: str | os.PathLike,
    *,
    source: str | None = None,
    storage_options: dict | None = None,
    **kwargs: Any,
) -> Path:
    """Render the preview of a committed shard (see :func:`preview_clip`)."""
    names = [name for name in _PREVIEW_TABLES if name in manifest.files]
    tables = read_shard(manifest, names, storage_options=storage_options)
    clip = clip_from_manifest(manifest, tables.get("clips"))
    if source is not None:
        clip = dataclasses.replace(clip, url=str(source))
    return render_preview(clip, tables, output_path, storage_options=storage_options, **kwargs)


def preview_clip(
    root: str | os.PathLike,
    match_id: str | None,
    clip_id: str,
    output_path: str | os.PathLike,
    storage_options: dict | None = None,
    *,
    source: str | None = None,
    **kwargs: Any,
) -> Path:
    """Render the QA preview of one curated clip from its shard under ``root``.

    Args:
        root: Shard root (local folder or fsspec URL), as given to ``soccerfactory curate --output``.
        match_id: The clip's match; None searches every match (an error if several have the clip).
        clip_id: The clip.
        output_path: The ``.mp4`` to write.
        storage_options: fsspec options, for the shards and the footage.
        source: Read the footage from this URL instead of the one the shard recorded (for
            footage that moved since curation).
        **kwargs: Passed to :func:`render_preview` (``max_frames``, ``minimap``, ``masks``,
            ``pitch``, ``progress``).

    Returns:
        The path written.

    Raises:
        FileNotFoundError: no shard of that clip (the message lists clips that exist).
        ValueError: ambiguous clip id, a corrupt manifest, or the shard's clip cannot be rebuilt.
        CorruptShardError: a table file differs from its manifest.
        BadInputError: the footage is gone or does not decode.
    """
    manifest = find_clip_manifest(root, clip_id, match_id, storage_options)
    return preview_manifest(manifest, output_path, source=source, storage_options=storage_options, **kwargs)
