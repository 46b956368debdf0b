"""The ball's trail: where the ball was over the last second, drawn as a fading line in the current frame.

A broadcast camera pans, tilts and zooms about a fixed point, so the image of any point moves
between two frames by ``H_now @ inv(H_then)`` (the frames' pitch-to-image homographies): the
trail's past positions are carried into the current frame with it whenever both frames have a
valid camera, and left where they were seen otherwise (a fixed camera, or one uncalibrated frame).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import cv2
import numpy as np

from soccerfactory.curation.preview.style import BALL_COLOUR, Colour

__all__ = ["TrailPoint", "ball_trail", "draw_trail"]


@dataclasses.dataclass(frozen=True)
class TrailPoint:
    """A past ball centre in the current frame's pixels, with the frame it was seen in."""

    frame: int
    x: float
    y: float


def ball_trail(
    centres: Mapping[int, tuple[float, float]],
    frame: int,
    window: int,
    homography: Callable[[int], np.ndarray | None] | None = None,
) -> list[TrailPoint]:
    """The ball centres of frames ``(frame - window, frame]``, oldest first, in ``frame``'s pixels.

    Args:
        centres: Ball centre ``(x, y)`` in pixels by frame index, for the frames where it was seen.
        frame: The frame being drawn.
        window: Length of the trail in frames (>= 1).
        homography: Frame index -> its 3x3 pitch-to-image homography, or None when its camera is
            invalid; None = no camera motion compensation.
    """
    now = homography(frame) if homography is not None else None
    points = []
    for past in range(frame - window + 1, frame + 1):
        if past not in centres:
            continue
        x, y = centres[past]
        then = homography(past) if homography is not None and now is not None and past != frame else None
        if then is not None:
            try:
                moved = now @ np.linalg.solve(then, np.array([x, y, 1.0]))
            except np.linalg.LinAlgError:
                moved = None
            if moved is not None and abs(moved[2]) > 1e-9 and np.isfinite(moved).all():
                x, y = moved[0] / moved[2], moved[1] / moved[2]
        points.append(TrailPoint(past, float(x), float(y)))
    return points


def draw_trail(image: np.ndarray, points: list[TrailPoint], frame: int, window: int, thickness: int = 2,
               colour: Colour = BALL_COLOUR) -> None:
    """Draw the trail in place: dots joined by a line, both fading from opaque (now) to clear (``window`` ago).

    Points more than a quarter of the window apart in time are not joined (the ball was lost in
    between; a straight line would invent its path).
    """
    if not points:
        return
    height, width = image.shape[:2]
    max_gap = max(2, window // 4)
    for i, point in enumerate(points):
        alpha = max(0.0, 1.0 - (frame - point.frame) / max(window, 1))
        if alpha <= 0.05:
            continue
        ends = [(point.x, point.y)]
        if i > 0 and point.frame - points[i - 1].frame <= max_gap:
            ends.insert(0, (points[i - 1].x, points[i - 1].y))
        xs, ys = [e[0] for e in ends], [e[1] for e in ends]
        pad = thickness + 3
        x0, y0 = max(int(min(xs)) - pad, 0), max(int(min(ys)) - pad, 0)
        x1, y1 = min(int(max(xs)) + pad + 1, width), min(int(max(ys)) + pad + 1, height)
        if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) > width * height // 4:
            continue  # off screen, or a jump no ball makes in a frame
        region = image[y0:y1, x0:x1]
        layer = region.copy()
        pixels = [(int(round(x - x0)), int(round(y - y0))) for x, y in ends]
        if len(pixels) == 2:
            cv2.line(layer, pixels[0], pixels[1], colour, thickness, cv2.LINE_AA)
        cv2.circle(layer, pixels[-1], max(thickness, 2), colour, cv2.FILLED, cv2.LINE_AA)
        image[y0:y1, x0:x1] = cv2.addWeighted(layer, alpha, region, 1.0 - alpha, 0.0)
