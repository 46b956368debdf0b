"""The cheap per-frame measurements a frame's view and the trust in its camera rest on.

Each is a few tenths of a millisecond at 720p (the grass share, the dearest, about 1 ms on a
subsample of 10,000 pixels), so every processed frame gets them:

* :func:`visible_pitch_m2`: how much pitch a camera claims the frame shows;
* :func:`support_spread`: how much of the frame the observations a camera rests on cover;
* :func:`grass_share`: how much of the frame is grass (the one pitch-colour model,
  :mod:`soccerfactory.curation.pitch_colour`);
* :func:`athlete_height_ratio`: how tall the athletes are against how tall the camera says a
  person standing there would be.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.pitch_colour import estimate_grass

__all__ = ["PERSON_HEIGHT_M", "athlete_height_ratio", "grass_share", "support_spread", "visible_pitch_m2"]

#: Height of a standing athlete, metres: what a camera's scale is checked against.
PERSON_HEIGHT_M = 1.8
# Pixels sampled for the grass share: enough for a share to +-1 % (binomial sigma 0.5 % at 10,000).
_GRASS_SAMPLES = 10_000
# A ground point closer than this to the camera's principal plane is taken as at the horizon.
_MIN_DEPTH_M = 1e-3


def _clip_polygon(polygon: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """The part of a convex ``(N, 2)`` polygon where ``a x + b y + c >= 0`` (Sutherland-Hodgman)."""
    if len(polygon) == 0:
        return polygon
    values = polygon @ np.array([a, b]) + c
    out = []
    for i in range(len(polygon)):
        p, q = polygon[i], polygon[(i + 1) % len(polygon)]
        vp, vq = values[i], values[(i + 1) % len(polygon)]
        if vp >= 0:
            out.append(p)
        if (vp >= 0) != (vq >= 0):
            out.append(p + (q - p) * (vp / (vp - vq)))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _area(polygon: np.ndarray) -> float:
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def visible_pitch_m2(camera: Camera, pitch: PitchModel) -> float:
    """Area of the pitch rectangle that ``camera`` sees, square metres.

    The pitch rectangle is clipped, on the pitch plane, by the five half-planes of the view: in
    front of the camera, and inside each of the four image borders (each border is a plane
    through the camera centre, which meets the pitch in a line). Exact for a pinhole camera; lens
    distortion is ignored (a mild barrel moves the borders by a few pixels).

    Returns:
        The area in ``[0, pitch.length * pitch.width]``.
    """
    # Unnormalised homography: its third row is the depth of a pitch point, so each image-border
    # condition (u >= 0, u <= W, ...) multiplied by the positive depth is linear in (x, y).
    t = -camera.R @ camera.position
    H = camera.K @ np.column_stack([camera.R[:, 0], camera.R[:, 1], t])
    u, v, w = H
    width, height = camera.image_size
    hl, hw = pitch.half_length, pitch.half_width
    polygon = np.array([[-hl, -hw], [hl, -hw], [hl, hw], [-hl, hw]], dtype=np.float64)
    for a, b, c in (w - [0, 0, _MIN_DEPTH_M], u, width * w - u, v, height * w - v):
        polygon = _clip_polygon(polygon, float(a), float(b), float(c))
    return _area(polygon)


def support_spread(points: np.ndarray, image_size: tuple[int, int]) -> float:
    """Share of the image inside the convex hull of ``points`` (``(N, 2)`` pixels), in ``[0, 1]``.

    Points on one line (a single touchline) span no area, however long the line: a camera
    resting on them is resting on one direction only.
    """
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    width, height = image_size
    if len(pts) < 3 or width <= 0 or height <= 0:
        return 0.0
    pts = np.clip(pts, [0, 0], [width, height]).astype(np.float32)
    hull = cv2.convexHull(pts)
    return float(min(1.0, cv2.contourArea(hull) / (width * height)))


def grass_share(image: np.ndarray) -> float:
    """Share of the frame that is grass of the frame's own pitch colour, in ``[0, 1]``.

    The pitch colour is :func:`~soccerfactory.curation.pitch_colour.estimate_grass`'s (the
    dominant green of the frame); where it finds none (less than a fifth of the frame of one
    green hue: crowd, graphics, a face), the share is 0.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame.
    """
    grass = estimate_grass(image, max_samples=_GRASS_SAMPLES)
    if grass is None:
        return 0.0
    height, width = image.shape[:2]
    step = max(1, int(math.ceil(math.sqrt(height * width / _GRASS_SAMPLES))))
    return float(grass.is_grass(image[::step, ::step]).mean())


def athlete_height_ratio(camera: Camera, xyxy: np.ndarray) -> np.ndarray:
    """Box height over the height ``camera`` gives a :data:`PERSON_HEIGHT_M` person standing at
    the box's feet (bottom centre), per box.

    A right camera gives ratios near 1 (a crouching or cut box less, a jumping one more); a camera
    of the wrong scale (a close-up read as a wide view) gives all the athletes the same wrong
    ratio, which is what gives it away.

    Args:
        camera: The frame's camera.
        xyxy: ``(N, 4)`` boxes, xyxy pixels.

    Returns:
        ``float64`` ``(N,)``; NaN where the feet do not meet the pitch in front of the camera.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0)
    feet = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]])
    ground = camera.image_to_pitch(feet)
    ratio = np.full(len(boxes), np.nan)
    ok = np.isfinite(ground).all(axis=1)
    if ok.any():
        base = np.column_stack([ground[ok], np.zeros(ok.sum())])
        top = base - [0.0, 0.0, PERSON_HEIGHT_M]  # z points down: a head is at z = -1.8
        expected = np.linalg.norm(camera.project(top) - camera.project(base), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio[ok] = (boxes[ok, 3] - boxes[ok, 1]) / expected
    ratio[~np.isfinite(ratio)] = np.nan
    return ratio
