"""The line-pixel detector (``lines-classic``, no weights) and camera-free line segments.

:class:`LinesClassicDetector` finds white line pixels on the grass and names them by projecting
the pitch lines with a camera near the frame's; :func:`fit_line_segments` fits straight
segments to its line mask without any camera.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from soccerfactory.curation.calibration.geometry import MIN_DEPTH_M
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import GOAL_LINE_NAMES, LINE_NAMES, PitchModel
from soccerfactory.curation.pitch_colour import LINE_DETECTOR_BAND, grass_mask_hsv
from soccerfactory.curation.types import Frames

__all__ = ["LinesClassicDetector", "fit_line_segments"]


class LinesClassicDetector:
    """Pixels of painted pitch lines, named by a prior camera (no learned weights).

    White line pixels are bright, thin and unsaturated inside the grass: a morphological
    top-hat of the brightness finds structures narrower than the kernel, thresholded and kept
    where the (hole-filled) grass mask is. Naming them needs a camera near the frame's: each
    pitch line is projected with it and the line pixels within ``search_px`` of exactly one
    projected line are assigned to that line. Called on frames without cameras it returns
    empty observations.

    Args:
        pitch: The pitch whose lines are projected.
        search_px: Half-width of the band around each projected line, pixels; default 2 % of
            the image width (about 1 degree of pan for a 30 degree view).
        tophat_px: Top-hat kernel size, pixels; lines must be narrower. Default 1.2 % of the width.
        threshold: Top-hat brightness above the surroundings, grey levels.
        max_saturation: Line pixels are whitish: HSV saturation at most this.
        max_pixels_per_line: Evenly thinned to at most this many pixels per line.
        min_pixels_per_line: Lines with fewer assigned pixels are left out.
        min_visible_fraction: Lines whose projection runs less than this share of the image
            width (and less than two band widths) inside the frame are left out.
        min_coverage: Lines whose pixels span less than this share of their visible length are
            left out (a white shirt near a line is a short blob).
    """

    def __init__(
        self,
        pitch: PitchModel | None = None,
        search_px: float | None = None,
        tophat_px: int | None = None,
        threshold: int = 30,
        max_saturation: int = 90,
        max_pixels_per_line: int = 200,
        min_pixels_per_line: int = 8,
        min_visible_fraction: float = 0.04,
        min_coverage: float = 0.25,
    ) -> None:
        if search_px is not None and not search_px > 0:
            raise ValueError(f"search_px must be positive, got {search_px}")
        if tophat_px is not None and tophat_px < 3:
            raise ValueError(f"tophat_px must be >= 3, got {tophat_px}")
        if max_pixels_per_line < 1 or min_pixels_per_line < 1:
            raise ValueError("max_pixels_per_line and min_pixels_per_line must be >= 1")
        self.pitch = pitch or PitchModel()
        self.search_px = search_px
        self.tophat_px = tophat_px
        self.threshold = threshold
        self.max_saturation = max_saturation
        self.max_pixels_per_line = max_pixels_per_line
        self.min_pixels_per_line = min_pixels_per_line
        self.min_visible_fraction = min_visible_fraction
        self.min_coverage = min_coverage
        self._samples = self.pitch.sample_lines(0.5, tuple(n for n in LINE_NAMES if n not in GOAL_LINE_NAMES))

    def default_search_px(self, width: int) -> float:
        return self.search_px if self.search_px is not None else 0.02 * width

    def line_mask(self, image: np.ndarray) -> np.ndarray:
        """``bool`` ``(H, W)``: pixels that look like painted lines on grass, for a BGR ``uint8`` image."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 (H, W, 3) BGR, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        # The grass region needs no detail: found at a quarter of the resolution, where the
        # closing that fills lines and players into it is 16 times cheaper.
        factor = 4 if min(height, width) >= 160 else 1
        small = cv2.resize(hsv, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
        grass = grass_mask_hsv(small, LINE_DETECTOR_BAND)
        close = max(3, int(round(0.03 * width / factor)) | 1)
        grass = cv2.morphologyEx(grass, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close)))
        grass = cv2.resize(grass, (width, height), interpolation=cv2.INTER_NEAREST)
        # Top-hat: brighter than the opening, i.e. narrower than the kernel in some direction. A
        # square kernel is separable (fast) and still contains no thin line of any orientation.
        size = self.tophat_px or max(5, int(round(0.012 * width)) | 1)
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
        tophat = cv2.morphologyEx(hsv[:, :, 2], cv2.MORPH_TOPHAT, kernel)
        mask = (tophat >= self.threshold) & (hsv[:, :, 1] <= self.max_saturation) & (grass > 0)
        return mask

    def observe(
        self,
        image: np.ndarray,
        camera: Camera,
        search_px: float | None = None,
        mask: np.ndarray | None = None,
    ) -> tuple[tuple[str, np.ndarray], ...]:
        """Line pixels of one frame, named by projecting the pitch lines with ``camera``.

        Args:
            image: ``uint8`` ``(H, W, 3)`` BGR frame.
            camera: A camera close to the frame's (the previous frame's).
            search_px: Band half-width; default :meth:`default_search_px`.
            mask: A precomputed :meth:`line_mask` of ``image``.

        Returns:
            ``((line_name, float32 (M, 2) pixels), ...)`` for lines with enough pixels.
        """
        height, width = np.asarray(image).shape[:2]
        if tuple(camera.image_size) != (width, height):
            raise ValueError(f"camera is for {camera.image_size}, the image is {(width, height)}")
        if mask is None:
            mask = self.line_mask(image)
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            return ()
        radius = self.default_search_px(width) if search_px is None else search_px
        thickness = max(1, int(round(2 * radius + 1)))
        # A line whose visible part is shorter than this is either off-screen (its band would
        # only reach in from the border) or too short to tell from a white shirt.
        min_visible = max(2 * radius, self.min_visible_fraction * width)
        candidates = []
        for name, samples in self._samples.items():
            pixels, usable = self.project_samples(camera, samples)
            visible = usable & (pixels >= 0).all(axis=1) & (pixels[:, 0] < width) & (pixels[:, 1] < height)
            both = visible[:-1] & visible[1:]
            steps = np.where(both, np.linalg.norm(np.diff(pixels, axis=0), axis=1), 0.0)
            if steps.sum() < min_visible:
                continue
            band = np.zeros((height, width), np.uint8)
            edges = np.flatnonzero(np.diff(np.concatenate([[0], usable.astype(np.int8), [0]])))
            for start, stop in zip(edges[::2], edges[1::2]):
                if stop - start >= 2:
                    run = np.round(pixels[start:stop]).astype(np.int32).reshape(-1, 1, 2)
                    cv2.polylines(band, [run], False, 1, thickness=thickness, lineType=cv2.LINE_8)
            # Arc length (pixels) of each visible sample along the visible part of the line.
            arc = np.concatenate([[0.0], np.cumsum(steps)])
            candidates.append((name, band[ys, xs].astype(bool), pixels[visible], arc[visible], steps.sum()))
        if not candidates:
            return ()
        members = np.stack([c[1] for c in candidates])
        # A pixel near two lines (their crossing) could belong to either: it is left out.
        unique = members.sum(axis=0) == 1
        out = []
        for (name, _, visible_px, arc, visible_length), member in zip(candidates, members):
            index = np.flatnonzero(member & unique)
            if len(index) < self.min_pixels_per_line:
                continue
            if len(index) > self.max_pixels_per_line:
                index = index[np.linspace(0, len(index) - 1, self.max_pixels_per_line).round().astype(int)]
            found = np.column_stack([xs[index], ys[index]]).astype(np.float64)
            # Pixels of a painted line spread along it; a blob (a white shirt) covers a stub.
            nearest = ((found[:, None, :] - visible_px[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
            lo, hi = np.percentile(arc[nearest], [5, 95])
            if hi - lo < self.min_coverage * visible_length:
                continue
            out.append((name, found.astype(np.float32)))
        return tuple(out)

    def project_samples(self, camera: Camera, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(P, 2)`` of line samples and whether each can be drawn (in front, near the frame)."""
        width, height = camera.image_size
        pixels = camera.project(samples)
        with np.errstate(invalid="ignore"):
            usable = (
                (camera.depth(samples) > MIN_DEPTH_M)
                & np.isfinite(pixels).all(axis=1)
                & (np.abs(pixels[:, 0] - width / 2) < 2 * width)
                & (np.abs(pixels[:, 1] - height / 2) < 2 * height)
            )
        return np.where(usable[:, None], pixels, 0.0), usable

    def __call__(self, frames: Frames, cameras: Sequence[Camera | None] | None = None) -> list[PitchObservations]:
        """One observation per frame: named line pixels where ``cameras[i]`` is given, else empty."""
        if cameras is not None and len(cameras) != len(frames):
            raise ValueError(f"cameras must have one entry per frame ({len(frames)}), got {len(cameras)}")
        out = []
        for i in range(len(frames)):
            camera = cameras[i] if cameras is not None else None
            lines = self.observe(frames.images[i], camera) if camera is not None else ()
            out.append(PitchObservations.empty().with_lines(lines))
        return out


def fit_line_segments(
    mask: np.ndarray,
    min_length_fraction: float = 0.06,
    merge_px: float = 4.0,
    merge_deg: float = 2.0,
) -> np.ndarray:
    """Straight segments of a line mask (:meth:`LinesClassicDetector.line_mask`), no camera needed.

    Probabilistic Hough on the mask, then pieces that are collinear (within ``merge_deg`` and
    ``merge_px``) and overlap or nearly touch are merged, so a painted line a few pixels wide
    gives one segment. Curved markings (the centre circle, penalty arcs) come out as chains of
    short chords or not at all; they are not fitted as ellipses here.

    Args:
        mask: ``bool`` ``(H, W)``.
        min_length_fraction: Shortest segment, as a share of the image width.

    Returns:
        ``float64`` ``(S, 4)`` segments ``x1, y1, x2, y2`` (pixels), longest first.
    """
    mask = np.asarray(mask, dtype=bool)
    width = mask.shape[1]
    image = mask.astype(np.uint8) * 255
    min_length = max(10.0, min_length_fraction * width)
    found = cv2.HoughLinesP(image, 1, np.pi / 360, threshold=int(min_length / 2), minLineLength=min_length, maxLineGap=0.01 * width)
    pieces = [tuple(map(float, line[0])) for line in found] if found is not None else []
    segments = _merge_collinear(pieces, merge_px, math.radians(merge_deg), gap_px=0.02 * width)
    segments = [seg for seg in segments if math.hypot(seg[2] - seg[0], seg[3] - seg[1]) >= min_length]
    segments.sort(key=lambda seg: -math.hypot(seg[2] - seg[0], seg[3] - seg[1]))
    return np.asarray(segments, dtype=np.float64).reshape(-1, 4)


def _merge_collinear(pieces: list[tuple[float, ...]], merge_px: float, merge_rad: float, gap_px: float) -> list[tuple[float, ...]]:
    """Greedy merge of Hough pieces lying on one line (a thick painted line yields several)."""
    merged: list[list[float]] = []
    for piece in sorted(pieces, key=lambda p: -math.hypot(p[2] - p[0], p[3] - p[1])):
        x1, y1, x2, y2 = piece
        for target in merged:
            tx1, ty1, tx2, ty2 = target
            direction = np.array([tx2 - tx1, ty2 - ty1])
            length = float(np.linalg.norm(direction))
            if length == 0:
                continue
            direction /= length
            angle = math.acos(min(1.0, abs(float(np.dot(direction, np.array([x2 - x1, y2 - y1]) / max(math.hypot(x2 - x1, y2 - y1), 1e-9))))))
            normal = np.array([-direction[1], direction[0]])
            offsets = [abs(float(np.dot(np.array([x, y]) - np.array([tx1, ty1]), normal))) for x, y in ((x1, y1), (x2, y2))]
            along = sorted(float(np.dot(np.array([x, y]) - np.array([tx1, ty1]), direction)) for x, y in ((x1, y1), (x2, y2)))
            if angle <= merge_rad and max(offsets) <= merge_px and along[0] <= length + gap_px and along[1] >= -gap_px:
                low, high = min(0.0, along[0]), max(length, along[1])
                start = np.array([tx1, ty1]) + low * direction
                stop = np.array([tx1, ty1]) + high * direction
                target[:] = [start[0], start[1], stop[0], stop[1]]
                break
        else:
            merged.append([x1, y1, x2, y2])
    return [tuple(seg) for seg in merged]
