"""One finished preview frame: the scene, the ball trail, the radar, the legend, the labels and the header.

Layers, bottom to top: the ball trail; pitch lines, masks, athlete shapes and the ball
(:func:`~.draw.draw_scene`); the radar, in the corner :func:`~.radar.choose_corner` finds free of
labels and athletes; the legend, in the top corner the radar leaves (top-right, else top-left
under the header); the labels; the header line. Labels go on last, so even when no corner is free
(the radar then stays in its corner) no label is hidden by the radar or the legend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.preview.draw import check_image, draw_scene, shape_thickness
from soccerfactory.curation.preview.labels import draw_labels, put_label
from soccerfactory.curation.preview.legend import draw_legend, legend_size
from soccerfactory.curation.preview.radar import choose_corner, corner_is_free, draw_minimap, paste_minimap, radar_size
from soccerfactory.curation.preview.style import TEXT_COLOUR, Kits, PreviewOptions
from soccerfactory.curation.preview.trail import TrailPoint, draw_trail

__all__ = ["Composed", "annotate_frame", "header_scale"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MARGIN = 8
# Radars narrower than this show dots too small to tell apart (a 256-px-wide frame).
_MIN_RADAR_WIDTH = 64


def header_scale(height: int) -> float:
    """Font scale of the header line: 0.5 at 720p, with the frame height, at least 0.4."""
    return max(0.4, 0.5 * height / 720)


@dataclasses.dataclass(frozen=True)
class Composed:
    """A drawn frame, where its radar went (None: off, or no room) and whether the corner asked
    for was free of labels and athletes in this frame."""

    image: np.ndarray
    radar_corner: str | None
    requested_free: bool = False


def annotate_frame(
    image: np.ndarray,
    athletes: Sequence[Mapping[str, Any]] | Any,
    ball: Mapping[str, Any] | None,
    *,
    homography: Sequence[float] | np.ndarray | None = None,
    pitch: PitchModel | None = None,
    camera: Camera | None = None,
    kits: Kits | None = None,
    options: PreviewOptions | None = None,
    header: str | None = None,
    trail: Sequence[TrailPoint] = (),
    frame: int = 0,
    trail_frames: int = 0,
    previous_corner: str | None = None,
) -> Composed:
    """Draw every layer of one preview frame on a copy of ``image``.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame; not modified.
        athletes: The frame's athlete rows (see :func:`~.draw.draw_frame`); ``pitch_x`` /
            ``pitch_y`` place their radar dots.
        ball: The frame's ball row or None.
        homography: 9 numbers pitch metres -> pixels, or None (no pitch lines).
        pitch: Pitch model (default 105 x 68 m).
        camera: The frame's full camera, when known.
        kits: Team colours (default the fixed blue / red).
        options: Style, radar corner, masks and legend (default :class:`PreviewOptions`).
        header: The top-left line, or None.
        trail: Past ball centres in this frame's pixels (:func:`~.trail.ball_trail`).
        frame: This frame's index (the trail fades with the distance to it).
        trail_frames: Length of the trail in frames (0 = no trail).
        previous_corner: Radar corner of the previous frame (kept while free).

    Returns:
        The drawn image and the corner its radar is in.
    """
    out = check_image(image).copy()
    options = options or PreviewOptions()
    height, width = out.shape[:2]
    kits = kits or Kits()
    pitch = pitch or PitchModel()

    avoid, top = [], 0
    if header is not None:
        (tw, th), baseline = cv2.getTextSize(header, _FONT, header_scale(height), 1)
        avoid.append((0, 0, min(tw + 10, width), th + baseline + 8))
        top = th + baseline + 8
    if trail and trail_frames > 0:
        draw_trail(out, list(trail), frame, trail_frames, thickness=shape_thickness(height))
    scene = draw_scene(
        out, athletes, ball, homography, pitch, camera=camera, masks=options.masks, kits=kits,
        style=options.style, avoid=avoid,
    )

    corner, free = None, False
    size = radar_size((width, height), pitch)
    if options.radar != "off" and size[0] >= _MIN_RADAR_WIDTH:
        occupied = [label.rect for label in scene.labels] + list(scene.shapes)
        free = corner_is_free((width, height), size, occupied, options.radar, margin=_MARGIN, top=top + 2)
        chosen = choose_corner((width, height), size, occupied, options.radar, previous_corner, margin=_MARGIN, top=top + 2)
        if chosen is not None:
            corner, rect = chosen
            paste_minimap(out, draw_minimap(athletes, ball, pitch, size, kits), rect=rect)

    if options.legend:
        lw, lh = legend_size(kits, scene.text)
        x0 = width - lw - _MARGIN if corner != "top-right" else _MARGIN
        y0 = top + _MARGIN
        if x0 >= 0 and y0 + lh <= height:
            draw_legend(out, (x0, y0, x0 + lw, y0 + lh), kits, scene.text, options.style)

    draw_labels(out, scene.labels, scene.text)
    if header is not None:
        (_, th), _ = cv2.getTextSize(header, _FONT, header_scale(height), 1)
        put_label(out, header, 6, th + 4, TEXT_COLOUR, scale=header_scale(height))
    return Composed(out, corner, free)
