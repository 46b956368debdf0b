"""The pitch-colour model: what counts as grass in a broadcast frame or an athlete crop.

This is the one place to change the grass rule. Three stages ask "is this pixel pitch?" and
each was tuned on its own, so each keeps its own numbers here, named after its user:

* :data:`CROP_GRASS_BAND` (hue 25..95, S >= 50, V >= 40), then the crop's own grass hue
  +-12 (:func:`local_grass_hue`, :func:`grass_near_hue`). User: attribution
  (:mod:`.attribute.crops` for the shirt colour, :mod:`.attribute.jersey` for the number
  ink): which pixels of an athlete crop are the grass around the athlete.
* :data:`FRAME_GRASS_BAND` (hue 20..100, S >= 40, V >= 30) finds the dominant hue of a
  whole frame; the pixel decision is then chromaticity (:func:`estimate_grass`,
  :class:`GrassColour`). Users: mask refinement (:mod:`.refine`, the ``chroma`` backend)
  and the tracker's colour embedding (:mod:`.tracking.trackers`).
* :data:`LINE_DETECTOR_BAND` (hue 30..90, S >= 40, V >= 30), as ``cv2.inRange``
  (:func:`grass_mask_hsv`). User: the calibration line detector (``line_mask`` of
  ``LinesClassicDetector``): the region of the frame where painted lines are looked for.

Why they differ: each answers a different question at a different scale. The crop rule must
not swallow green, cyan or lime kits next to the athlete, so it takes the local hue from the
crop's margin and keeps a narrow +-12 around it with the strictest saturation and brightness
floors. The frame rule only nominates candidates among which the pitch's hue is the mode, so
it is the widest; the pixel decision is made by chromaticity (:class:`GrassColour`), which
stripes and shadows do not change. The line detector's band is a fixed box that is then
closed (hole-filled) at a quarter resolution, so it only has to cover the pitch region. The
numbers were never reconciled, and the curated shards depend on each of them: unifying two
bands is a behaviour change to be measured (team accuracy and jersey precision in
``tests/curation/attribute``, mask IoU in ``tests/curation/test_refine.py``, the calibration
bench), not a refactor.

All hues are OpenCV's ``uint8`` HSV hues (degrees / 2, ``0..179``); saturation and value are
``0..255``; images are ``uint8`` BGR. Only numpy and OpenCV are imported here.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

__all__ = [
    "CROP_GRASS_BAND",
    "CROP_GRASS_HUE",
    "CROP_GRASS_HUE_TOLERANCE",
    "FRAME_GRASS_BAND",
    "GRASS_MIN_FRACTION",
    "LINE_DETECTOR_BAND",
    "GRASS_LAB_TOLERANCE",
    "GrassColour",
    "HsvBand",
    "estimate_grass",
    "grass_mask_hsv",
    "grass_near_hue",
    "local_grass_hue",
    "local_grass_lab",
]


@dataclasses.dataclass(frozen=True)
class HsvBand:
    """A box of OpenCV HSV colours, every bound inclusive; saturation and value have no upper cap.

    Attributes:
        hue_min: Lowest hue, OpenCV units (degrees / 2).
        hue_max: Highest hue, OpenCV units.
        min_saturation: Lowest saturation, ``0..255``.
        min_value: Lowest value (brightness), ``0..255``.
    """

    hue_min: int
    hue_max: int
    min_saturation: int
    min_value: int

    def contains(self, hsv: np.ndarray) -> np.ndarray:
        """``bool`` ``(...)``: which pixels of a ``uint8`` ``(..., 3)`` HSV array are in the band."""
        h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
        return (h >= self.hue_min) & (h <= self.hue_max) & (s >= self.min_saturation) & (v >= self.min_value)


#: Attribution: greenish pixels of a crop's margin, whose median hue is the local grass hue
#: (:func:`local_grass_hue`); its saturation and value floors also bound :func:`grass_near_hue`.
CROP_GRASS_BAND = HsvBand(hue_min=25, hue_max=95, min_saturation=50, min_value=40)
CROP_GRASS_HUE = 50.0  # OpenCV hue units (degrees / 2): a typical broadcast pitch
CROP_GRASS_HUE_TOLERANCE = 12.0

# Grass is looked for among hues from yellow-green to cyan-green (OpenCV units: degrees / 2).
#: Mask refinement and tracking: candidate greens of a frame, whose dominant hue is the pitch.
FRAME_GRASS_BAND = HsvBand(hue_min=20, hue_max=100, min_saturation=40, min_value=30)
# Share of the frame that must be of the pitch's hue (+-10) for there to be a pitch: above what
# uniformly spread colours reach (about 8 %), far below a wide shot's 60-80 %.
GRASS_MIN_FRACTION = 0.2

#: Calibration line detector: the grass region inside which painted lines are looked for
#: (``cv2.inRange(hsv, (30, 40, 30), (90, 255, 255))`` on the quarter-resolution frame).
LINE_DETECTOR_BAND = HsvBand(hue_min=30, hue_max=90, min_saturation=40, min_value=30)


def grass_mask_hsv(hsv: np.ndarray, band: HsvBand = LINE_DETECTOR_BAND) -> np.ndarray:
    """``cv2.inRange`` of an HSV image against ``band``.

    Args:
        hsv: ``uint8`` ``(H, W, 3)`` HSV image (``cv2.COLOR_BGR2HSV``).
        band: The band; the calibration line detector's by default.

    Returns:
        ``uint8`` ``(H, W)``: 255 inside the band, 0 elsewhere (what the morphology that follows
        in the line detector expects); ``> 0`` of it equals :meth:`HsvBand.contains`.
    """
    return cv2.inRange(hsv, (band.hue_min, band.min_saturation, band.min_value), (band.hue_max, 255, 255))


# --------------------------------------------------------------------------- athlete crops


def local_grass_hue(image: np.ndarray, box: np.ndarray) -> float:
    """Hue of the grass around an athlete, from the crop's margin outside the box.

    Pitches range from yellow-green to blue-green under different lights; a fixed green
    band either misses grass or swallows green, cyan and lime kits. The margin is mostly
    grass, so its greenish pixels give the local hue; without a margin, a typical value.

    Args:
        image: ``uint8`` BGR crop.
        box: ``xyxy`` of the athlete in crop pixels.

    Returns:
        The median hue (OpenCV units) of the margin's :data:`CROP_GRASS_BAND` pixels, or
        :data:`CROP_GRASS_HUE` when the margin has fewer than 8 pixels or is less than a
        quarter greenish.
    """
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    ring = np.ones(image.shape[:2], bool)
    ring[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = False
    if ring.sum() < 8:
        return CROP_GRASS_HUE
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[ring]
    green = hsv[CROP_GRASS_BAND.contains(hsv)]
    if len(green) < max(4, 0.25 * len(hsv)):
        return CROP_GRASS_HUE
    return float(np.median(green[:, 0]))


#: How far (CIE76 delta E, Lab) a pixel must be from the local grass colour to be told from grass
#: by colour rather than hue: mowing stripes and shade move grass by up to ~10 in L*.
GRASS_LAB_TOLERANCE = 18.0


def local_grass_lab(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Median CIE Lab colour of the grass around an athlete (the crop's margin outside the box).

    For kits whose hue is the grass's (lime, green): :func:`grass_near_hue` cannot tell their
    pixels from grass, a colour distance to the grass itself can (a lime shirt is far brighter
    and more saturated than the pitch behind it).

    Args:
        image: ``uint8`` BGR crop.
        box: ``xyxy`` of the athlete in crop pixels.

    Returns:
        ``float32`` ``(3,)`` ``(L*, a*, b*)`` of the margin's greenish pixels, or None when the
        margin has fewer than 8 of them or is less than a quarter greenish.
    """
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    ring = np.ones(image.shape[:2], bool)
    ring[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = False
    if ring.sum() < 8:
        return None
    margin = image[ring]
    hsv = cv2.cvtColor(margin.reshape(-1, 1, 3), cv2.COLOR_BGR2HSV).reshape(-1, 3)
    green = CROP_GRASS_BAND.contains(hsv)
    if green.sum() < max(8, 0.25 * len(hsv)):
        return None
    lab = cv2.cvtColor(margin[green].reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab).reshape(-1, 3)
    return np.median(lab, axis=0).astype(np.float32)


def grass_near_hue(hsv: np.ndarray, hue: float = CROP_GRASS_HUE) -> np.ndarray:
    """Pixels of grass: the local grass hue, saturated and not in deep shadow.

    Args:
        hsv: ``uint8`` ``(..., 3)`` HSV pixels.
        hue: The grass hue (OpenCV units), usually :func:`local_grass_hue`.

    Returns:
        ``bool`` ``(...)``: hue within :data:`CROP_GRASS_HUE_TOLERANCE` of ``hue`` and above the
        saturation and value floors of :data:`CROP_GRASS_BAND`.
    """
    h, s, v = hsv[..., 0].astype(np.float32), hsv[..., 1], hsv[..., 2]
    return (
        (np.abs(h - hue) <= CROP_GRASS_HUE_TOLERANCE)
        & (s >= CROP_GRASS_BAND.min_saturation)
        & (v >= CROP_GRASS_BAND.min_value)
    )


# --------------------------------------------------------------------------- whole frames


@dataclasses.dataclass(frozen=True)
class GrassColour:
    """The pitch's colour as a chromaticity and a brightness.

    Chromaticity ``(r, g) = (R, G) / (R + G + B)`` does not change when a colour is only made
    darker or brighter, which is what mowing stripes and the shadows of the athletes do to the
    grass, while any kit, skin, boot or line colour moves it away from the pitch's. A pixel is
    grass when its chromaticity is within ``chroma_tol`` times the grass-to-grey distance of the
    grass's own (so white and black, being grey, are never grass whatever the pitch's
    saturation) and it is not much darker than the pitch (black boots and shorts, whose
    chromaticity is noise).

    Attributes:
        r: Red chromaticity ``R / (R + G + B)`` of the grass, in ``(0, 1)``.
        g: Green chromaticity ``G / (R + G + B)`` of the grass, in ``(0, 1)``.
        intensity: Typical ``R + G + B`` of grass pixels, in ``(0, 765]``.
        chroma_tol: Largest chromaticity distance still grass, as a fraction of the distance
            from the grass to grey ``(1/3, 1/3)``.
        dark: Pixels with ``R + G + B`` below ``dark * intensity`` are not grass.
    """

    r: float
    g: float
    intensity: float
    chroma_tol: float = 0.6
    dark: float = 0.4

    def __post_init__(self) -> None:
        if not (0 < self.r < 1 and 0 < self.g < 1 and self.r + self.g < 1):
            raise ValueError(f"GrassColour r, g must be chromaticities (positive, r + g < 1), got {self.r}, {self.g}")
        if self.grey_distance < 0.02:
            raise ValueError(
                f"GrassColour ({self.r:.3f}, {self.g:.3f}) is grey, nothing could be told apart from it by colour"
            )
        if not 0 < self.intensity <= 765:
            raise ValueError(f"GrassColour.intensity must be in (0, 765], got {self.intensity}")
        if not 0 < self.chroma_tol < 1:
            raise ValueError(f"GrassColour.chroma_tol must be in (0, 1), got {self.chroma_tol}")
        if not 0 <= self.dark < 1:
            raise ValueError(f"GrassColour.dark must be in [0, 1), got {self.dark}")

    @property
    def grey_distance(self) -> float:
        """Chromaticity distance from the grass to grey ``(1/3, 1/3)``."""
        return float(np.hypot(self.r - 1 / 3, self.g - 1 / 3))

    def is_grass(self, image: np.ndarray) -> np.ndarray:
        """``bool`` ``(...)`` grass mask of a ``uint8`` ``(..., 3)`` BGR image."""
        image = np.asarray(image)
        if image.shape[-1:] != (3,):
            raise ValueError(f"image must have shape (..., 3), got {image.shape}")
        b, g, r = (image[..., k].astype(np.float32) for k in range(3))
        total = b + g + r
        # |chroma - grass|^2 <= tol^2, multiplied through by total^2 to avoid a division.
        dr = r - np.float32(self.r) * total
        dg = g - np.float32(self.g) * total
        limit = np.float32((self.chroma_tol * self.grey_distance) ** 2)
        return (dr * dr + dg * dg <= limit * total * total) & (total >= np.float32(self.dark * self.intensity))


def estimate_grass(image: np.ndarray, max_samples: int = 10_000) -> GrassColour | None:
    """Estimate the pitch colour of one broadcast frame.

    The frame is subsampled on a regular grid; the dominant hue among saturated green pixels
    (:data:`FRAME_GRASS_BAND`) is the pitch, and the median chromaticity and brightness of the
    pixels of that hue are its colour.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame.
        max_samples: Pixels to look at, at most (a grid step is chosen to stay under it).

    Returns:
        The grass colour, or ``None`` when less than a fifth of the frame has the dominant green
        hue (a close-up, the crowd, a replay graphic): there is no pitch to subtract.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3) BGR, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    step = max(1, int(np.ceil(np.sqrt(height * width / max(1, max_samples)))))
    sample = np.ascontiguousarray(image[::step, ::step]).reshape(-1, 1, 3)
    if sample.shape[0] == 0:
        return None
    hsv = cv2.cvtColor(sample, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    hue = hsv[:, 0].astype(np.int16)
    green = FRAME_GRASS_BAND.contains(hsv)
    if not green.any():
        return None
    counts = np.bincount(hue[green], minlength=180).astype(np.float64)
    peak = int(np.argmax(np.convolve(counts, [1, 2, 3, 2, 1], mode="same")))
    near = green & (np.abs(hue - peak) <= 10)
    if near.mean() < GRASS_MIN_FRACTION:
        return None
    pixels = sample.reshape(-1, 3)[near].astype(np.float64)
    total = pixels.sum(axis=1)
    r = float(np.median(pixels[:, 2] / total))
    g = float(np.median(pixels[:, 1] / total))
    if np.hypot(r - 1 / 3, g - 1 / 3) < 0.03:
        return None
    return GrassColour(r=r, g=g, intensity=float(np.median(total)))
