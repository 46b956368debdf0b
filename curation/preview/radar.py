"""The preview's radar: a top-down minimap of the pitch positions, in a corner that no label uses.

:func:`draw_minimap` draws the map; :func:`radar_size` sizes it for a frame; :func:`choose_corner`
picks its corner for one frame: the corner it was in on the previous frame while that stays
free (so it does not hop about), else the requested corner, else the first other free corner.
The renderer sends it back to the requested corner once that corner has stayed free for a second.
A corner is free when no label and no athlete shape lies under the radar's rectangle there. When
no corner is free the radar stays where it was and the labels are drawn over it (the preview
draws labels last), so a label is never hidden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.layout import finite_or_none
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.preview.style import BALL_COLOUR, RADAR_CORNERS, Kits, as_rows, athlete_colour

__all__ = ["MINIMAP_MARGIN_M", "choose_corner", "corner_is_free", "corner_rect", "draw_minimap", "paste_minimap", "radar_size"]

MINIMAP_MARGIN_M = 3.0
_GRASS_COLOUR = (40, 120, 40)
_SURROUND_COLOUR = (30, 85, 30)

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)


def radar_size(frame_size: tuple[int, int], pitch: PitchModel) -> tuple[int, int]:
    """``(width, height)`` of the radar of a frame: a quarter of its width (at most 360 px), pitch aspect."""
    width = min(int(frame_size[0]) // 4, 360)
    return width, int(round(width * (pitch.width + 2 * MINIMAP_MARGIN_M) / (pitch.length + 2 * MINIMAP_MARGIN_M)))


def draw_minimap(
    athletes: Sequence[Mapping[str, Any]] | Any,
    ball: Mapping[str, Any] | None,
    pitch: PitchModel | None = None,
    size: tuple[int, int] = (320, 216),
    kits: Kits | None = None,
) -> np.ndarray:
    """A top-down view of the pitch with a dot per athlete and the ball at their pitch positions.

    The pitch (plus a 3 m surround) is scaled to fit ``size`` keeping its aspect ratio, far
    touchline (``y = -width/2``) at the top, left goal on the left, as the main camera sees it.

    Args:
        athletes: Rows with ``pitch_x``, ``pitch_y`` (metres; rows where they are null are
            skipped), ``team`` and ``role`` (dicts or a pyarrow table).
        ball: The ball row (``pitch_x``, ``pitch_y``) or None.
        pitch: Pitch model (default 105 x 68 m).
        size: ``(width, height)`` of the result in pixels, each >= 16.
        kits: Team colours (default: the fixed blue / red).

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

    def to_pixels(xy: Any) -> np.ndarray:
        return np.rint(np.asarray(xy, dtype=np.float64) * scale + offset).astype(np.int32)

    corners = to_pixels([[-pitch.half_length, -pitch.half_width], [pitch.half_length, pitch.half_width]])
    cv2.rectangle(image, tuple(corners[0].tolist()), tuple(corners[1].tolist()), _GRASS_COLOUR, cv2.FILLED)
    for line in pitch.ground_markings.values():
        cv2.polylines(image, [to_pixels(line).reshape(-1, 1, 2)], False, (255, 255, 255), 1, cv2.LINE_AA)
    radius = max(2, int(round(scale * 0.9)))
    for row in as_rows(athletes):
        x, y = finite_or_none(row.get("pitch_x")), finite_or_none(row.get("pitch_y"))
        if x is None or y is None:
            continue
        centre = tuple(to_pixels([x, y]).tolist())
        cv2.circle(image, centre, radius, athlete_colour(row, kits), cv2.FILLED, cv2.LINE_AA)
        cv2.circle(image, centre, radius, (0, 0, 0), 1, cv2.LINE_AA)
    if ball is not None:
        x, y = finite_or_none(ball.get("pitch_x")), finite_or_none(ball.get("pitch_y"))
        if x is not None and y is not None:
            centre = tuple(to_pixels([x, y]).tolist())
            # Orange as in the frame and the legend: a white dot would pass for a white kit.
            cv2.circle(image, centre, max(radius - 1, 2), BALL_COLOUR, cv2.FILLED, cv2.LINE_AA)
            cv2.circle(image, centre, max(radius - 1, 2), (0, 0, 0), 1, cv2.LINE_AA)
    return image


def corner_rect(frame_size: tuple[int, int], size: tuple[int, int], corner: str, margin: int = 8, top: int = 0) -> Rect | None:
    """The radar's rectangle in ``corner`` of a ``(width, height)`` frame, ``margin`` px from its
    edges and at least ``top`` px from the top (below the header); None when it does not fit."""
    if corner not in RADAR_CORNERS:
        raise ValueError(f"radar corner must be one of {', '.join(RADAR_CORNERS)}, got {corner!r}")
    frame_w, frame_h = (int(v) for v in frame_size)
    w, h = (int(v) for v in size)
    x0 = frame_w - w - margin if corner.endswith("right") else margin
    y0 = frame_h - h - margin if corner.startswith("bottom") else max(margin, top)
    if x0 < 0 or y0 < 0 or x0 + w > frame_w or y0 + h > frame_h:
        return None
    return (x0, y0, x0 + w, y0 + h)


def _covers(rect: Rect, others: Sequence[Rect]) -> int:
    return sum(
        max(0, min(rect[2], o[2]) - max(rect[0], o[0])) * max(0, min(rect[3], o[3]) - max(rect[1], o[1])) for o in others
    )


def corner_is_free(
    frame_size: tuple[int, int], size: tuple[int, int], occupied: Sequence[Rect], corner: str, *, margin: int = 8, top: int = 0,
) -> bool:
    """Whether the radar fits in ``corner`` without covering any of ``occupied``."""
    rect = corner_rect(frame_size, size, corner, margin, top)
    return rect is not None and _covers(rect, occupied) == 0


def choose_corner(
    frame_size: tuple[int, int],
    size: tuple[int, int],
    occupied: Sequence[Rect],
    requested: str,
    previous: str | None = None,
    *,
    margin: int = 8,
    top: int = 0,
) -> tuple[str, Rect] | None:
    """The corner (and rectangle) of the radar for one frame.

    Args:
        frame_size: ``(width, height)`` of the frame.
        size: ``(width, height)`` of the radar.
        occupied: Rectangles the radar must not cover (labels, athlete shapes), xyxy exclusive.
        requested: The corner asked for (one of ``RADAR_CORNERS``).
        previous: The corner of the previous frame, tried first so the radar stays put while free.
        margin: Distance from the frame's edges.
        top: Top corners start below this row (the header line).

    Returns:
        ``(corner, rect)``: the first free corner of previous, requested, then the others in
        ``RADAR_CORNERS`` order; when none is free, the previous (else requested) corner if it
        fits. None when the radar fits nowhere (a frame too small for it).
    """
    order = [c for c in (previous, requested) if c is not None]
    order += [c for c in RADAR_CORNERS if c not in order]
    fits = [(c, r) for c in order if (r := corner_rect(frame_size, size, c, margin, top)) is not None]
    for corner, rect in fits:
        if _covers(rect, occupied) == 0:
            return corner, rect
    return fits[0] if fits else None


def paste_minimap(frame: np.ndarray, minimap: np.ndarray, margin: int = 8, rect: Rect | None = None) -> None:
    """Blend ``minimap`` into ``frame`` in place at ``rect`` (default: the bottom-right corner)."""
    height, width = minimap.shape[:2]
    if rect is None:
        rect = corner_rect((frame.shape[1], frame.shape[0]), (width, height), "bottom-right", margin)
        if rect is None:
            return
    x0, y0 = rect[0], rect[1]
    region = frame[y0 : y0 + height, x0 : x0 + width]
    # Mostly opaque, so the minimap reads clearly, yet what lies under the corner still shows.
    frame[y0 : y0 + height, x0 : x0 + width] = cv2.addWeighted(minimap, 0.85, region, 0.15, 0.0)
    cv2.rectangle(frame, (max(x0 - 1, 0), max(y0 - 1, 0)), (x0 + width, y0 + height), (0, 0, 0), 1)
