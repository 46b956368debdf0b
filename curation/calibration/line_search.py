"""The weight-free line-search initialiser: a broadcast camera from white line pixels alone.

:class:`LineSearchInitialiser` (and the one-off :func:`initialise_from_lines`) places a main
camera without keypoints or a prior, by a grid search over the usual rig scored on the line
mask, then refines the best candidates on named line pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.calibration.geometry import MIN_DEPTH_M
from soccerfactory.curation.calibration.lines import LinesClassicDetector
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.solver import FIT_OPTIONS, fit_camera
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import GOAL_LINE_NAMES, LINE_NAMES, PitchModel

__all__ = ["LineSearchInitialiser", "initialise_from_lines"]


def _pan_tilt_rotations(pan_rad: np.ndarray, tilt_rad: np.ndarray) -> np.ndarray:
    """``(len(pan), len(tilt), 3, 3)`` level (roll-free) rotations, world to camera.

    Pan 0 looks along ``-y`` (from the near-side stand across the pitch), positive pan turns
    towards ``+x``; positive tilt looks down (world ``z`` points down). Rows: image right, image
    down, optical axis, as :meth:`Camera.look_at` builds them.
    """
    p, t = np.meshgrid(pan_rad, tilt_rad, indexing="ij")
    forward = np.stack([np.sin(p) * np.cos(t), -np.cos(p) * np.cos(t), np.sin(t)], axis=-1)
    right = np.stack([np.cos(p), np.sin(p), np.zeros_like(p)], axis=-1)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=-2)


class LineSearchInitialiser:
    """Places a broadcast main camera from white line pixels alone, without keypoints or a prior.

    The camera is searched over the usual rig, a fixed mount behind the near touchline, level
    (no roll): a few ``positions``, pan, tilt and focal length. Each candidate projects samples
    of the pitch lines and scores their mean distance (clipped) to the nearest line pixel, read
    from a distance transform of the line mask, so a whole grid of candidates costs a few
    gathers. A coarse grid at a quarter of the resolution finds a few basins, a finer grid at
    half resolution sharpens them, and the best candidates are refined on named line pixels
    (:meth:`LinesClassicDetector.observe` and :func:`refine_camera`, with a shrinking search
    band). A refined camera counts only if it passes the checks of :func:`calibrate_frame`
    (reprojection error, inlier share, supporting lines) and its projected lines cover enough
    of the line mask.

    Args:
        pitch: The pitch; default 105 x 68 m.
        line_detector: Line mask and line naming; default a :class:`LinesClassicDetector`.
        positions: Candidate camera positions ``(x, y, z)``, metres, SoccerNet frame (``y``
            towards the near touchline, ``z`` down: a camera above the pitch has ``z < 0``).
        pan_deg: ``(low, high, step)`` of the coarse pan grid, degrees.
        tilt_deg: ``(low, high, step)`` of the coarse tilt grid, degrees below the horizon.
        hfov_deg: ``(low, high, count)`` horizontal fields of view of the coarse grid (log-spaced).
        clip_px: Distances are clipped at this many full-resolution pixels in the fine search.
        coarse_clip_px: The same in the coarse search, wide enough to span a grid step.
        min_samples: Fewest line samples inside the image for a candidate; fewer are
            penalised as if the missing ones were ``clip_px`` off.
        n_refine: Candidates refined on named line pixels.
        max_error_px: Largest reprojection error of an accepted camera.
        min_lines: Fewest distinct pitch lines supporting an accepted camera.
        min_mask_coverage: Least share of line-mask pixels within a few pixels of the accepted
            camera's projected lines (the rest: shirts, boards, noise).
        fit: Further options of the refinement (``outlier_px``, ``min_inlier_fraction``, ...).
    """

    def __init__(
        self,
        pitch: PitchModel | None = None,
        line_detector: LinesClassicDetector | None = None,
        *,
        positions: Sequence[Sequence[float]] = ((0.0, 48.0, -14.0), (0.0, 56.0, -18.0), (0.0, 64.0, -22.0)),
        pan_deg: tuple[float, float, float] = (-70.0, 70.0, 2.5),
        tilt_deg: tuple[float, float, float] = (6.0, 36.0, 2.0),
        hfov_deg: tuple[float, float, int] = (10.0, 60.0, 16),
        clip_px: float = 24.0,
        coarse_clip_px: float = 64.0,
        min_samples: int = 60,
        n_refine: int = 3,
        max_error_px: float = 5.0,
        min_lines: int = 3,
        min_mask_coverage: float = 0.3,
        **fit: Any,
    ) -> None:
        unknown = set(fit) - FIT_OPTIONS
        if unknown:
            raise TypeError(f"LineSearchInitialiser got unexpected arguments {sorted(unknown)}")
        positions_arr = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
        if len(positions_arr) == 0 or not (positions_arr[:, 2] < 0).all():
            raise ValueError(f"positions must be (x, y, z) above the pitch (z < 0), got {positions!r}")
        if not (0 < hfov_deg[0] < hfov_deg[1] < 180 and int(hfov_deg[2]) >= 2):
            raise ValueError(f"hfov_deg must be (low, high, count) with 0 < low < high < 180, got {hfov_deg!r}")
        if not (pan_deg[2] > 0 and tilt_deg[2] > 0 and pan_deg[0] <= pan_deg[1] and tilt_deg[0] <= tilt_deg[1]):
            raise ValueError(f"pan_deg and tilt_deg must be (low, high, step > 0), got {pan_deg!r}, {tilt_deg!r}")
        if clip_px <= 0 or min_samples < 1 or n_refine < 1:
            raise ValueError("clip_px must be positive, min_samples and n_refine >= 1")
        self.pitch = pitch or PitchModel()
        self.line_detector = line_detector or LinesClassicDetector(self.pitch)
        self.positions = positions_arr
        self.pan = np.radians(np.arange(pan_deg[0], pan_deg[1] + 1e-9, pan_deg[2]))
        self.tilt = np.radians(np.arange(tilt_deg[0], tilt_deg[1] + 1e-9, tilt_deg[2]))
        self.pan_step, self.tilt_step = math.radians(pan_deg[2]), math.radians(tilt_deg[2])
        # Half the tangent of the half field of view, log-spaced: a zoom step is a constant ratio.
        self.tan_half = np.exp(np.linspace(math.log(math.tan(math.radians(hfov_deg[0]) / 2)),
                                           math.log(math.tan(math.radians(hfov_deg[1]) / 2)), int(hfov_deg[2])))
        self.coarse_clip_px = float(coarse_clip_px)
        self.clip_px, self.min_samples, self.n_refine = float(clip_px), int(min_samples), int(n_refine)
        self.max_error_px, self.min_lines, self.min_mask_coverage = max_error_px, min_lines, min_mask_coverage
        self.fit = fit
        names = tuple(n for n in LINE_NAMES if n not in GOAL_LINE_NAMES)
        # Coarse samples every 2 m, fine every 1 m: enough to pin a line, few enough to gather fast.
        self._coarse = np.concatenate(list(self.pitch.sample_lines(2.0, names).values()))
        self._fine = np.concatenate(list(self.pitch.sample_lines(1.0, names).values()))
        self._coverage_lines = self.pitch.sample_lines(0.5, names)

    # -- scoring

    @staticmethod
    def _distance_map(mask: np.ndarray, factor: int, clip: float) -> np.ndarray:
        """Clipped distance (pixels of the reduced image) to the nearest line pixel, float32."""
        height, width = mask.shape
        small = mask.astype(np.uint8) * 255
        if factor > 1:
            # Area averaging keeps a thin line as a faint trace rather than dropping it.
            small = cv2.resize(small, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
        inverted = np.where(small > 0, 0, 255).astype(np.uint8)
        distance = cv2.distanceTransform(inverted, cv2.DIST_L2, 3)
        return np.minimum(distance, clip).astype(np.float32)

    def _score(
        self, distance: np.ndarray, factor: int, camera_xyz: np.ndarray, tan_half: np.ndarray, width: int,
        clip_px: float,
    ) -> np.ndarray:
        """Scores ``(C, F)`` (lower is better) of candidates whose camera-frame sample coordinates
        are ``camera_xyz`` ``(C, N, 3)``, for each half-field tangent in ``tan_half`` ``(C, F)``."""
        height_s, width_s = distance.shape
        clip = clip_px / factor
        z = camera_xyz[..., 2]
        front = z > MIN_DEPTH_M
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(front, camera_xyz[..., 0] / z, 1e6).astype(np.float32)
            v = np.where(front, camera_xyz[..., 1] / z, 1e6).astype(np.float32)
        flat = distance.ravel()
        scores = np.empty(tan_half.shape, np.float64)
        for j in range(tan_half.shape[1]):
            # Focal length in reduced pixels for each candidate; principal point at the centre.
            f = (width / 2.0 / tan_half[:, j] / factor).astype(np.float32)[:, None]
            x = f * u + width_s / 2.0
            y = f * v + height_s / 2.0
            inside = front & (x >= 0) & (x <= width_s - 1) & (y >= 0) & (y <= height_s - 1)
            # Clipped before the cast: off-image candidates are masked out, but must not overflow.
            xi = np.nan_to_num(np.clip(x, 0, width_s - 1)).astype(np.int32)
            yi = np.nan_to_num(np.clip(y, 0, height_s - 1)).astype(np.int32)
            index = np.where(inside, yi * width_s + xi, 0)
            values = np.where(inside, flat[index], 0.0)
            n = inside.sum(axis=1)
            missing = np.maximum(self.min_samples - n, 0)
            scores[:, j] = (values.sum(axis=1) + clip * missing) / np.maximum(n, self.min_samples) / clip
        return scores

    def _camera(self, position: np.ndarray, pan: float, tilt: float, tan_half: float, size: tuple[int, int]) -> Camera:
        R = _pan_tilt_rotations(np.array([pan]), np.array([tilt]))[0, 0]
        width, height = size
        focal = width / 2.0 / tan_half
        K = np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])
        return Camera(K=K, R=R, position=position, image_size=size)

    def candidates(self, mask: np.ndarray) -> list[Camera]:
        """The ``n_refine`` best cameras of the grid search, best first, before refinement.

        Args:
            mask: ``bool`` ``(H, W)`` line mask of the frame.
        """
        height, width = mask.shape
        size = (width, height)
        # Coarse: every position, pan and tilt, every field of view, at a quarter of the resolution.
        coarse_factor = 4 if min(width, height) >= 240 else 1
        # A wide clip in the coarse pass: the basin of each camera must reach the next grid cell.
        distance = self._distance_map(mask, coarse_factor, self.coarse_clip_px / coarse_factor)
        R = _pan_tilt_rotations(self.pan, self.tilt)  # (P, T, 3, 3)
        n_pan, n_tilt = R.shape[:2]
        rays = self._coarse[None, :, :] - self.positions[:, None, :]  # (Q, N, 3)
        camera_xyz = np.einsum("ptij,qnj->qptni", R, rays).astype(np.float32).reshape(-1, len(self._coarse), 3)
        tan_half = np.broadcast_to(self.tan_half, (len(camera_xyz), len(self.tan_half)))
        scores = self._score(distance, coarse_factor, camera_xyz, tan_half, width, self.coarse_clip_px)
        order = np.argsort(scores, axis=None)
        # A few distinct basins: skip grid cells next to one already taken.
        picked: list[tuple[int, int, int, int]] = []
        for flat in order[: 400]:
            cell, f = divmod(int(flat), scores.shape[1])
            q, rest = divmod(cell, n_pan * n_tilt)
            p, t = divmod(rest, n_tilt)
            if any(abs(p - p2) <= 2 and abs(t - t2) <= 2 and abs(f - f2) <= 2 for _, p2, t2, f2 in picked):
                continue
            picked.append((q, p, t, f))
            if len(picked) >= 2 * self.n_refine:
                break
        # Fine: around each basin, half steps of pan and tilt, finer zoom, at half resolution.
        fine_factor = 2 if min(width, height) >= 240 else 1
        distance = self._distance_map(mask, fine_factor, self.clip_px / fine_factor)
        zoom = np.exp(np.linspace(-1, 1, 9) * math.log(self.tan_half[1] / self.tan_half[0]))
        found = []
        for q, p, t, f in picked:
            pans = self.pan[p] + np.linspace(-1, 1, 9) * self.pan_step
            tilts = self.tilt[t] + np.linspace(-1, 1, 9) * self.tilt_step
            R_local = _pan_tilt_rotations(pans, tilts).reshape(-1, 3, 3)
            rays = self._fine - self.positions[q]
            camera_xyz = np.einsum("cij,nj->cni", R_local, rays).astype(np.float32)
            tan_half = np.broadcast_to(self.tan_half[f] * zoom, (len(R_local), len(zoom)))
            local = self._score(distance, fine_factor, camera_xyz, tan_half, width, self.clip_px)
            best = int(np.argmin(local))
            cell, z = divmod(best, local.shape[1])
            i, k = divmod(cell, len(tilts))
            found.append((float(local.flat[best]), self._camera(self.positions[q], pans[i], tilts[k],
                                                               float(self.tan_half[f] * zoom[z]), size)))
        found.sort(key=lambda item: item[0])
        return [camera for _, camera in found[: self.n_refine]]

    # -- refinement

    def _coverage(self, camera: Camera, mask: np.ndarray, band_px: float) -> float:
        """Share of line-mask pixels within ``band_px`` of ``camera``'s projected pitch lines."""
        height, width = mask.shape
        drawn = np.zeros((height, width), np.uint8)
        thickness = max(1, int(round(2 * band_px + 1)))
        for samples in self._coverage_lines.values():
            pixels, usable = self.line_detector.project_samples(camera, samples)
            edges = np.flatnonzero(np.diff(np.concatenate([[0], usable.astype(np.int8), [0]])))
            for start, stop in zip(edges[::2], edges[1::2]):
                if stop - start >= 2:
                    run = np.round(pixels[start:stop]).astype(np.int32).reshape(-1, 1, 2)
                    cv2.polylines(drawn, [run], False, 1, thickness=thickness, lineType=cv2.LINE_8)
        total = int(mask.sum())
        return float((drawn.astype(bool) & mask).sum()) / total if total else 0.0

    def refine(self, image: np.ndarray, start: Camera, mask: np.ndarray) -> CalibrationResult:
        """Refine one candidate on named line pixels, shrinking the search band, and judge it."""
        width = start.width
        radius = 2.0 * self.line_detector.default_search_px(width)
        guide, best = start, None
        failure = CalibrationResult.invalid("no pitch lines found near the searched camera")
        empty_world, empty_image = np.zeros((0, 3)), np.zeros((0, 2))
        for _ in range(4):
            lines = self.line_detector.observe(image, guide, radius, mask)
            if not lines:
                break
            # Position free, held by the prior pull: the searched positions are a coarse guess.
            attempt, _ = fit_camera(guide, empty_world, empty_image, lines, self.pitch, False,
                              label="line search", max_error_px=self.max_error_px, **self.fit)
            if not attempt.valid:
                failure = attempt
                break
            best, guide, radius = attempt, attempt.camera, max(radius / 2, 2.0)
        if best is None:
            return failure
        assert best.camera is not None
        if best.n_lines < self.min_lines:
            return CalibrationResult.invalid(f"line search: only {best.n_lines} lines fit (need {self.min_lines})",
                                             0, best.n_lines)
        # The search only proposes main-camera poses (behind the near touchline, near the halfway
        # line); a refinement that wandered far from that rig matched the lines to the wrong part
        # of a symmetric pitch, and a wrong camera is worse than none.
        x, y, z = best.camera.position
        half_width = self.pitch.width / 2
        if not (abs(x) <= 35.0 and half_width + 3.0 <= y <= half_width + 70.0 and -50.0 <= z <= -4.0):
            return CalibrationResult.invalid(
                f"line search: the fitted camera at ({x:.0f}, {y:.0f}, {z:.0f}) m is not a main-camera position",
                0, best.n_lines)
        coverage = self._coverage(best.camera, mask, max(3.0, 0.004 * width))
        if coverage < self.min_mask_coverage:
            return CalibrationResult.invalid(
                f"line search: the camera's lines cover {coverage:.0%} of the line pixels "
                f"(need {self.min_mask_coverage:.0%})", 0, best.n_lines)
        return best

    def __call__(self, image: np.ndarray, line_mask: np.ndarray | None = None) -> CalibrationResult:
        """Calibrate one broadcast frame from its painted lines.

        Args:
            image: ``uint8`` ``(H, W, 3)`` BGR frame.
            line_mask: Its precomputed :meth:`LinesClassicDetector.line_mask`, ``bool`` ``(H, W)``.

        Returns:
            A :class:`CalibrationResult`, invalid with a reason when no searched camera explains
            the lines (no pitch in view, too few lines, a close-up).
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be uint8 (H, W, 3) BGR, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        mask = self.line_detector.line_mask(image) if line_mask is None else np.asarray(line_mask, dtype=bool)
        if mask.shape != (height, width):
            raise ValueError(f"line_mask must have shape {(height, width)} like the image, got {mask.shape}")
        n_pixels = int(mask.sum())
        if n_pixels < self.min_samples:
            return CalibrationResult.invalid(f"line search: too few line pixels ({n_pixels}) to place a camera")
        best: CalibrationResult | None = None
        failure = CalibrationResult.invalid("line search: no candidate camera")
        for start in self.candidates(mask):
            result = self.refine(image, start, mask)
            if result.valid:
                if best is None or (result.n_lines, -result.reprojection_error_px) > (
                        best.n_lines, -best.reprojection_error_px):
                    best = result
            elif failure.reason == "line search: no candidate camera":
                failure = result
        if best is not None:
            return best
        reason = failure.reason if failure.reason.startswith("line search") else "line search: " + failure.reason
        return CalibrationResult.invalid(reason, 0, failure.n_lines)


def initialise_from_lines(
    image: np.ndarray,
    pitch: PitchModel | None = None,
    *,
    line_mask: np.ndarray | None = None,
    line_detector: LinesClassicDetector | None = None,
    **params: Any,
) -> CalibrationResult:
    """Calibrate a broadcast main-camera frame from its white lines alone (no keypoints, no prior).

    A one-off :class:`LineSearchInitialiser`; build one and reuse it to calibrate many frames.

    Args:
        image: ``uint8`` ``(H, W, 3)`` BGR frame.
        pitch: The pitch; default 105 x 68 m.
        line_mask: Precomputed ``bool`` ``(H, W)`` line mask of ``image``.
        line_detector: Line mask and naming; default a :class:`LinesClassicDetector`.
        params: Further :class:`LineSearchInitialiser` arguments.
    """
    return LineSearchInitialiser(pitch, line_detector, **params)(image, line_mask)
