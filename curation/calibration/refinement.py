"""Camera refinement on points and lines ("PnL"): :func:`refine_camera`.

Minimises point reprojection error plus the distance of line pixels to the projected pitch lines
over focal length, rotation and position (or focal length and rotation alone). With a prior
camera, lines alone are enough, which is what keeps the camera tracked between frames where the
keypoint model finds too little. Lens distortion is never estimated, only carried over from the
starting camera.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.calibration.geometry import as_points2
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import LINE_NAMES, PitchModel

__all__ = ["RefinementStats", "refine_camera", "rotation_delta"]

# Residual of a line pixel whose line cannot be projected (entirely behind the camera): large,
# constant, so the robust loss treats it as an outlier and it carries no gradient.
_UNPROJECTABLE_PX = 1e3


@dataclass(frozen=True, eq=False)
class RefinementStats:
    """How well a refined camera fits its observations.

    Attributes:
        reprojection_error_px: RMS over inlier keypoints (Euclidean) and inlier line pixels
            (distance to the projected line); NaN without inliers.
        point_error_px: ``float64`` ``(N,)`` Euclidean error of each keypoint.
        line_error_px: ``float64`` ``(M,)`` distance of each line pixel to its projected line, in
            the order of the ``lines`` argument.
        point_inliers: ``bool`` ``(N,)`` keypoints within ``outlier_px``.
        line_inliers: ``bool`` ``(M,)`` line pixels within ``outlier_px``.
        n_lines: Distinct lines with at least one inlier pixel.
        cost: Final robust cost of the optimiser (prior pull included).
        nfev: Residual evaluations spent.
    """

    reprojection_error_px: float
    point_error_px: np.ndarray
    line_error_px: np.ndarray
    point_inliers: np.ndarray
    line_inliers: np.ndarray
    n_lines: int
    cost: float
    nfev: int

    @property
    def n_inliers(self) -> int:
        return int(self.point_inliers.sum() + self.line_inliers.sum())

    @property
    def inlier_fraction(self) -> float:
        total = len(self.point_inliers) + len(self.line_inliers)
        return self.n_inliers / total if total else 0.0


def _circle_of(polyline: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre ``(2,)`` and radius of the circle through a closed or open ``(P, 3)`` arc on z = 0."""
    points = polyline[:, :2]
    a, b, c = points[0], points[len(points) // 3], points[2 * len(points) // 3]
    # |x - a|^2 = |x - b|^2 = |x - c|^2 is linear in x.
    A = 2 * np.array([b - a, c - a])
    rhs = np.array([b @ b - a @ a, c @ c - a @ a])
    centre = np.linalg.solve(A, rhs)
    return centre, float(np.linalg.norm(a - centre))


class _LineSet:
    """Observed pixels of named pitch lines, for fast distance evaluation against a camera.

    Distances are measured in undistorted pixels (pixels are undistorted with the camera being
    evaluated): there a straight pitch line is the straight image line through its projected
    end points, and a circle the conic ``H^-T Q H^-1``. For broadcast lenses the undistorted and
    distorted distances differ by the local magnification, a few percent.
    """

    def __init__(self, lines: Sequence[tuple[str, np.ndarray]], pitch: PitchModel) -> None:
        sizes = [len(pixels) for _, pixels in lines]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.n_pixels = int(offsets[-1])
        self.slices = [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:])]
        self.pixels = np.concatenate([np.asarray(p, np.float64) for _, p in lines] or [np.zeros((0, 2))])
        ends, owners, straight_rows, conics = [], [], [], []
        for (name, _), rows in zip(lines, self.slices):
            polyline = pitch.lines[name]
            if len(polyline) == 2:
                owners.append(np.full(rows.stop - rows.start, len(ends)))
                straight_rows.append(np.arange(rows.start, rows.stop))
                ends.append(np.column_stack([polyline, np.ones(2)]))
            else:
                (cx, cy), radius = _circle_of(polyline)
                conic = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [-cx, -cy, cx * cx + cy * cy - radius * radius]])
                conics.append((rows, conic))
        # Homogeneous end points (L, 2, 4) of the straight lines; per pixel, which line it is on.
        self.ends_h = np.array(ends).reshape(-1, 2, 4)
        self.straight_rows = np.concatenate(straight_rows or [np.zeros(0, np.int64)]).astype(np.int64)
        self.straight_owner = np.concatenate(owners or [np.zeros(0, np.int64)]).astype(np.int64)
        self.conics = conics

    def distances(self, camera: Camera) -> np.ndarray:
        """Signed distance, pixels, of every observed pixel to its projected line, ``(M,)``."""
        out = np.full(self.n_pixels, _UNPROJECTABLE_PX)
        pixels = camera.undistort_pixels(self.pixels) if camera.dist.any() else self.pixels
        homogeneous = np.column_stack([pixels, np.ones(len(pixels))])
        if len(self.ends_h):
            # The image line through the two projected end points, in homogeneous coordinates:
            # exact even when an end lies behind the camera, where pixel division mirrors it.
            P = camera.K @ np.column_stack([camera.R, -camera.R @ camera.position])
            a = self.ends_h[:, 0] @ P.T
            b = self.ends_h[:, 1] @ P.T
            lines = np.column_stack([
                a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
                a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
                a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
            ])
            norm = np.hypot(lines[:, 0], lines[:, 1])
            with np.errstate(divide="ignore", invalid="ignore"):
                lines = lines / norm[:, None]
            out[self.straight_rows] = (homogeneous[self.straight_rows] * lines[self.straight_owner]).sum(axis=1)
        if self.conics:
            try:
                Hinv = np.linalg.inv(camera.homography)
            except np.linalg.LinAlgError:
                Hinv = None
            for rows, conic in self.conics:
                if Hinv is None:
                    continue
                # Sampson (first-order geometric) distance to the conic: p^T C p / |grad|. Within a
                # small fraction of a pixel of the true distance near the curve, and smooth.
                C = Hinv.T @ conic @ Hinv
                p = homogeneous[rows]
                Cp = p @ C  # C is symmetric
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[rows] = (Cp * p).sum(axis=1) / (2 * np.hypot(Cp[:, 0], Cp[:, 1]))
        # Undistortion failures and degenerate projections become large constant residuals.
        bad = ~np.isfinite(out)
        out[bad] = _UNPROJECTABLE_PX
        return np.clip(out, -_UNPROJECTABLE_PX, _UNPROJECTABLE_PX)


def rotation_delta(R_from: np.ndarray, R_to: np.ndarray) -> np.ndarray:
    """Rodrigues vector ``v`` with ``R_to = rodrigues(v) @ R_from``."""
    rvec, _ = cv2.Rodrigues(R_to @ R_from.T)
    return rvec.reshape(3)


def _apply(camera: Camera, x: np.ndarray) -> Camera:
    log_focal, rvec, position = x[0], x[1:4], x[4:7]
    focal = math.exp(log_focal)
    K = camera.K.copy()
    K[0, 0], K[1, 1] = focal, focal * camera.K[1, 1] / camera.K[0, 0]
    R = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))[0] @ camera.R
    # Rodrigues is orthonormal to ~1e-16; re-orthonormalise anyway so accumulated updates stay valid.
    U, _, Vt = np.linalg.svd(R)
    return Camera(K=K, R=U @ Vt, position=position, image_size=camera.image_size, dist=camera.dist)


_BLAS_CONTROLLER: Any = None


def _single_blas_thread() -> Any:
    """Context limiting BLAS to one thread (a no-op without threadpoolctl).

    The solver factorises an (M, 7) Jacobian each step; BLAS threads on so small a problem only
    contend with each other and with the rest of the pipeline: 30 ms instead of 0.2 ms per SVD
    measured on a busy 2-core machine.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # an optional speed-up (it comes with scikit-learn)
            _BLAS_CONTROLLER = False
        else:
            _BLAS_CONTROLLER = ThreadpoolController()
    if _BLAS_CONTROLLER is False:
        return contextlib.nullcontext()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def refine_camera(
    camera: Camera,
    points: tuple[np.ndarray, np.ndarray] | None = None,
    lines: Sequence[tuple[str, np.ndarray]] = (),
    pitch: PitchModel | None = None,
    *,
    loss: str = "soft_l1",
    loss_scale_px: float = 2.0,
    outlier_px: float = 10.0,
    prior_weight: float = 1.0,
    fix_position: bool = False,
    max_nfev: int = 200,
) -> tuple[Camera, RefinementStats]:
    """Fit focal length, rotation and position to keypoints and line pixels (PnL).

    Minimises, with a robust loss, the reprojection error of each keypoint plus the distance of
    each line pixel to the projection of its pitch line: the image line through the projected
    end points for straight markings, the projected conic (Sampson distance) for circles and
    arcs, both measured after removing the camera's lens distortion from the pixels. A weak
    pull towards the starting camera (1 px of residual per 1 degree, 1 metre or 5 % focal, times
    ``prior_weight``) keeps the parameters that the observations leave free where they were, so
    a prior can be refined from a single line. Principal point, aspect ratio and distortion are
    kept from ``camera``.

    Args:
        camera: Starting camera.
        points: ``(pitch_points, image_points)``: ``(N, 3)`` (or ``(N, 2)`` on the pitch plane)
            metres and the matching ``(N, 2)`` pixels.
        lines: ``(line_name, pixels)`` pairs, ``pixels`` ``(M, 2)`` on that pitch line.
        pitch: The pitch the names refer to; default 105 x 68 m.
        loss: ``scipy.optimize.least_squares`` loss: ``"linear"``, ``"soft_l1"``, ``"huber"``,
            ``"cauchy"`` or ``"arctan"``.
        loss_scale_px: Residual, in pixels, where the robust loss starts to flatten.
        outlier_px: Observations farther than this from the refined camera are outliers in the
            returned statistics.
        prior_weight: Strength of the pull towards ``camera``; 0 disables it.
        fix_position: Keep ``camera.position`` and fit focal length and rotation only, as for a
            broadcast camera that pans, tilts and zooms on a fixed mount.
        max_nfev: Cap on residual evaluations.

    Returns:
        ``(camera, stats)``: the refined camera and :class:`RefinementStats`.
    """
    from scipy.optimize import least_squares

    pitch = pitch or PitchModel()
    if points is None:
        world = np.zeros((0, 3))
        image = np.zeros((0, 2))
    else:
        world = np.asarray(points[0], dtype=np.float64)
        image = as_points2("points[1] (image points)", points[1])
        if world.ndim != 2 or world.shape[1] not in (2, 3) or len(world) != len(image):
            raise ValueError(
                f"points[0] must be (N, 3) or (N, 2) pitch metres matching {len(image)} image points, got {world.shape}"
            )
        if world.shape[1] == 2:
            world = np.column_stack([world, np.zeros(len(world))])
    checked = []
    for name, pixels in lines:
        if name not in LINE_NAMES:
            raise ValueError(f"unknown line {name!r}; valid names: {', '.join(LINE_NAMES)}")
        pixels = as_points2(f"pixels of line {name!r}", pixels)
        if len(pixels):
            checked.append((name, pixels))
    line_set = _LineSet(checked, pitch)
    if len(world) == 0 and line_set.n_pixels == 0:
        raise ValueError("refine_camera needs keypoints or line pixels")

    full0 = np.concatenate([[math.log(camera.K[0, 0])], np.zeros(3), camera.position])
    free = np.arange(4 if fix_position else 7)
    prior_scale = prior_weight * np.array([1 / 0.05] + [180 / math.pi] * 3 + [1.0] * 3)[free]

    def full(x: np.ndarray) -> np.ndarray:
        params = full0.copy()
        params[free] = x
        return params

    def residuals(x: np.ndarray) -> np.ndarray:
        cam = _apply(camera, full(x))
        parts = []
        if len(world):
            parts.append((cam.project(world) - image).ravel())
        if line_set.n_pixels:
            parts.append(line_set.distances(cam))
        delta = x - x0
        parts.append(delta * prior_scale)
        out = np.concatenate(parts)
        # Points behind the camera project to mirrored pixels; a NaN would stop the solver.
        return np.nan_to_num(out, nan=_UNPROJECTABLE_PX, posinf=_UNPROJECTABLE_PX, neginf=-_UNPROJECTABLE_PX)

    x0 = full0[free]
    with _single_blas_thread():
        solution = least_squares(
            residuals, x0, loss=loss, f_scale=loss_scale_px, x_scale="jac", max_nfev=max_nfev, method="trf"
        )
    refined = _apply(camera, full(solution.x))

    point_error = np.linalg.norm(refined.project(world) - image, axis=1) if len(world) else np.zeros(0)
    point_error = np.nan_to_num(point_error, nan=np.inf)
    line_error = np.abs(line_set.distances(refined)) if line_set.n_pixels else np.zeros(0)
    point_inliers = point_error <= outlier_px
    if len(world):
        point_inliers &= refined.depth(world) > 0
    line_inliers = line_error <= outlier_px
    inlier_errors = np.concatenate([point_error[point_inliers], line_error[line_inliers]])
    rmse = float(np.sqrt(np.mean(inlier_errors**2))) if len(inlier_errors) else float("nan")
    n_lines = sum(bool(line_inliers[rows].any()) for rows in line_set.slices)
    stats = RefinementStats(
        reprojection_error_px=rmse,
        point_error_px=readonly(point_error),
        line_error_px=readonly(line_error),
        point_inliers=readonly(point_inliers),
        line_inliers=readonly(line_inliers),
        n_lines=n_lines,
        cost=float(solution.cost),
        nfev=int(solution.nfev),
    )
    return refined, stats
