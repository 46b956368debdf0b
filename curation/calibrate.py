"""Camera calibration from pitch keypoints and line markings (points and lines, "PnL").

One camera per frame, in the SoccerNet world frame of :class:`~soccerfactory.curation.types.Camera`
(metres, origin at the centre mark, ``z`` down). The stage has three layers:

* **Features.** A :class:`PitchFeatureDetector` turns frames into :class:`PitchObservations`:
  named pitch keypoints (``yolo-pose``, a YOLOv8-pose model with the 32 keypoints of the
  ``football-field`` labels) and/or pixels on named pitch lines (``lines-classic``, white-line
  pixels assigned to the lines of a prior camera, which needs no weights).
* **Geometry.** :func:`solve_homography` (RANSAC) and :func:`camera_from_homography` (Zhang's two
  orthogonality constraints with the principal point at the image centre) give an initial
  camera from four or more keypoints on the pitch plane; :func:`refine_camera` then minimises
  point reprojection error plus the distance of line pixels to the projected pitch lines over
  focal length, rotation and position. With a prior camera, lines alone are enough, which is
  what keeps the camera tracked between frames where the keypoint model finds too little.
* **Sequences.** :class:`Calibrator` runs a detector over a clip in frame order, carries the
  last valid camera forward as the prior and as the guide for line pixels, and returns one
  :class:`CalibrationResult` per frame. Keypoints place the camera, position included; lines
  then sharpen focal length and rotation (and position only alongside four or more keypoints:
  on their own, lines seen in a narrow view leave the zoom/dolly trade-off nearly free, and a
  broadcast camera does not move). :func:`pitch_position` puts boxes on the pitch.

The principal point is fixed at the image centre, pixels are square and there is no skew;
lens distortion is never estimated, only carried over from a prior camera that has it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from soccerfactory.curation.pitch import GOAL_LINE_NAMES, KEYPOINT_NAMES, LINE_NAMES, PitchModel
from soccerfactory.curation.types import Camera, Frames

__all__ = [
    "DEFAULT_PITCH_KEYPOINT_WEIGHTS",
    "FEATURE_DETECTORS",
    "LineSearchInitialiser",
    "CalibrationResult",
    "Calibrator",
    "LinesClassicDetector",
    "PitchFeatureDetector",
    "PitchObservations",
    "RefinementStats",
    "YoloPoseDetector",
    "build_calibrator",
    "build_feature_detector",
    "calibrate_frame",
    "fit_line_segments",
    "initialise_from_lines",
    "pitch_position_uncertainty",
    "camera_from_homography",
    "pitch_position",
    "refine_camera",
    "solve_homography",
]

#: Where the shipped pitch-keypoint model lives (YOLOv8-pose, 32 keypoints).
DEFAULT_PITCH_KEYPOINT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "pitch-keypoints.pt"
_TRAIN_HINT = (
    "train one with `python -m soccerfactory.curation.training.yolo pitch-keypoints`, or use the "
    f"model shipped in {DEFAULT_PITCH_KEYPOINT_WEIGHTS.parent}/"
)

# Points and lines are compared in pixels; these bound what a plausible broadcast camera is.
_MIN_HFOV_DEG, _MAX_HFOV_DEG = 0.5, 150.0
_MAX_CAMERA_DISTANCE_M = 1000.0
# Samples of a projected line closer than this to the camera plane are dropped: their pixels
# explode and would draw spurious segments across the image.
_MIN_DEPTH_M = 0.1
# Residual of a line pixel whose line cannot be projected (entirely behind the camera): large,
# constant, so the robust loss treats it as an outlier and it carries no gradient.
_UNPROJECTABLE_PX = 1e3


# ------------------------------------------------------------------------------- observations


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


def _float_array(owner: str, name: str, value: Any, shape: tuple[int | None, ...]) -> np.ndarray:
    arr = np.asarray(value)
    if arr.size and arr.dtype.kind not in "iuf":
        raise ValueError(f"{owner}.{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if arr.size == 0 and len(shape) == 2 and shape[1] is not None:
        arr = arr.reshape(0, shape[1])
    ok = arr.ndim == len(shape) and all(e is None or e == s for e, s in zip(shape, arr.shape))
    if not ok:
        pretty = "(" + ", ".join("N" if e is None else str(e) for e in shape) + (",)" if len(shape) == 1 else ")")
        raise ValueError(f"{owner}.{name} must have shape {pretty}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{owner}.{name} must be finite")
    return arr


@dataclass(frozen=True, eq=False)
class PitchObservations:
    """What a feature detector saw of the pitch in one frame.

    Attributes:
        keypoints: ``float32`` ``(K, 2)`` pixel coordinates ``(x, y)`` in the full frame.
        keypoint_ids: ``int64`` ``(K,)`` rows of ``PitchModel.keypoints`` (``KEYPOINT_NAMES``),
            unique within the frame.
        keypoint_confidence: ``float32`` ``(K,)`` in ``[0, 1]``.
        lines: ``((line_name, pixels), ...)``: ``line_name`` one of ``pitch.LINE_NAMES``, each at
            most once; ``pixels`` ``float32`` ``(M, 2)`` with ``M >= 1`` image points lying on
            that marking (anywhere along it, in any order).
    """

    keypoints: np.ndarray
    keypoint_ids: np.ndarray
    keypoint_confidence: np.ndarray
    lines: tuple[tuple[str, np.ndarray], ...] = ()

    def __post_init__(self) -> None:
        owner = "PitchObservations"
        keypoints = _float_array(owner, "keypoints", self.keypoints, (None, 2))
        n = len(keypoints)
        ids = np.asarray(self.keypoint_ids)
        if ids.size and ids.dtype.kind not in "iu" and not (ids.dtype.kind == "f" and np.all(ids == np.round(ids))):
            raise ValueError(f"{owner}.keypoint_ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64).reshape(-1) if ids.size else np.zeros(0, np.int64)
        if ids.shape != (n,):
            raise ValueError(f"{owner}.keypoint_ids must have shape ({n},) like keypoints, got {ids.shape}")
        if n and (ids.min() < 0 or ids.max() >= len(KEYPOINT_NAMES)):
            raise ValueError(f"{owner}.keypoint_ids must be in [0, {len(KEYPOINT_NAMES)}), got {ids.tolist()}")
        if len(np.unique(ids)) != n:
            raise ValueError(f"{owner}.keypoint_ids must be unique within a frame, got {ids.tolist()}")
        confidence = _float_array(owner, "keypoint_confidence", self.keypoint_confidence, (None,))
        if confidence.shape != (n,):
            raise ValueError(f"{owner}.keypoint_confidence must have shape ({n},), got {confidence.shape}")
        if n and (confidence.min() < 0 or confidence.max() > 1):
            raise ValueError(f"{owner}.keypoint_confidence must be in [0, 1]")
        lines = []
        seen = set()
        for item in self.lines:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise ValueError(f"{owner}.lines must hold (line_name, pixels) pairs, got {item!r}")
            name, pixels = item
            if name not in LINE_NAMES:
                raise ValueError(f"{owner}.lines: unknown line {name!r}; valid names: {', '.join(LINE_NAMES)}")
            if name in seen:
                raise ValueError(f"{owner}.lines: line {name!r} appears twice")
            seen.add(name)
            pixels = _float_array(owner, f"lines[{name!r}]", pixels, (None, 2))
            if len(pixels) == 0:
                raise ValueError(f"{owner}.lines[{name!r}] has no pixels; leave the line out instead")
            lines.append((name, _readonly(pixels)))
        object.__setattr__(self, "keypoints", _readonly(keypoints))
        object.__setattr__(self, "keypoint_ids", _readonly(ids))
        object.__setattr__(self, "keypoint_confidence", _readonly(confidence))
        object.__setattr__(self, "lines", tuple(lines))

    @classmethod
    def empty(cls) -> PitchObservations:
        """No keypoints and no lines."""
        return cls(np.zeros((0, 2), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32))

    def __len__(self) -> int:
        """Number of keypoints."""
        return len(self.keypoints)

    @property
    def line_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.lines)

    @property
    def n_line_pixels(self) -> int:
        return sum(len(pixels) for _, pixels in self.lines)

    def with_lines(self, lines: Sequence[tuple[str, np.ndarray]]) -> PitchObservations:
        """The same keypoints with ``lines`` in place of the current line observations."""
        return dataclasses.replace(self, lines=tuple(lines))


@dataclass(frozen=True, eq=False)
class CalibrationResult:
    """The camera of one frame, or why there is none.

    Attributes:
        camera: The calibrated camera; ``None`` when ``valid`` is false.
        homography: ``float64`` ``(3, 3)`` pitch metres ``(x, y, 1)`` -> undistorted pixels,
            ``camera.homography``; ``None`` when invalid.
        reprojection_error_px: RMS distance, in pixels, of the inlier observations to the
            camera's projection (keypoint to projected keypoint, line pixel to projected line);
            NaN when invalid.
        n_keypoints: Keypoints that support the camera (inliers).
        n_lines: Distinct pitch lines with inlier pixels.
        valid: Whether the camera can be trusted.
        reason: ``""`` when valid; otherwise why not (too few points, degenerate, error above
            threshold, implausible camera, ...).
    """

    camera: Camera | None
    homography: np.ndarray | None
    reprojection_error_px: float
    n_keypoints: int
    n_lines: int
    valid: bool
    reason: str = ""

    def __post_init__(self) -> None:
        owner = "CalibrationResult"
        for name in ("n_keypoints", "n_lines"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{owner}.{name} must be a non-negative int, got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "valid", bool(self.valid))
        object.__setattr__(self, "reprojection_error_px", float(self.reprojection_error_px))
        if self.valid:
            if not isinstance(self.camera, Camera):
                raise ValueError(f"{owner}: a valid result needs a Camera, got {type(self.camera).__name__}")
            H = np.asarray(self.homography, dtype=np.float64)
            if H.shape != (3, 3) or not np.isfinite(H).all():
                raise ValueError(f"{owner}.homography must be a finite (3, 3) array when valid, got shape {H.shape}")
            object.__setattr__(self, "homography", _readonly(H))
            if not (self.reprojection_error_px >= 0 and math.isfinite(self.reprojection_error_px)):
                raise ValueError(f"{owner}.reprojection_error_px must be finite and >= 0 when valid")
            if self.reason:
                raise ValueError(f"{owner}.reason must be empty when valid, got {self.reason!r}")
        else:
            if self.camera is not None or self.homography is not None:
                raise ValueError(f"{owner}: an invalid result carries no camera or homography")
            if not math.isnan(self.reprojection_error_px):
                raise ValueError(f"{owner}.reprojection_error_px must be NaN when invalid")
            if not (isinstance(self.reason, str) and self.reason):
                raise ValueError(f"{owner}.reason must say why the result is invalid")

    @classmethod
    def invalid(cls, reason: str, n_keypoints: int = 0, n_lines: int = 0) -> CalibrationResult:
        return cls(None, None, float("nan"), n_keypoints, n_lines, False, reason)

    @classmethod
    def from_camera(
        cls, camera: Camera, reprojection_error_px: float, n_keypoints: int, n_lines: int
    ) -> CalibrationResult:
        return cls(camera, camera.homography, reprojection_error_px, n_keypoints, n_lines, True, "")


# ------------------------------------------------------------------------------- homography


def _points2(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    return arr


def _collinear(points: np.ndarray, tolerance: float = 1e-2) -> bool:
    """Whether ``(N, 2)`` points lie (nearly) on one line: their spread across the best-fit line
    is below ``tolerance`` times their spread along it."""
    if len(points) < 3:
        return True
    centred = points - points.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    return not s[0] > 0 or s[1] / s[0] < tolerance


def _has_collinear_triple(points: np.ndarray, tolerance: float = 1e-2) -> bool:
    for drop in range(len(points)):
        if _collinear(np.delete(points, drop, axis=0), tolerance):
            return True
    return False


def solve_homography(
    image_pts: np.ndarray, pitch_pts: np.ndarray, ransac_threshold_px: float = 8.0
) -> tuple[np.ndarray, np.ndarray]:
    """Homography from pitch metres to pixels, robust to wrong correspondences (RANSAC).

    Args:
        image_pts: ``(N, 2)`` pixels (undistorted), ``N >= 4``.
        pitch_pts: ``(N, 2)`` the matching pitch-plane points ``(x, y)`` in metres.
        ransac_threshold_px: Largest reprojection error, in pixels, of an inlier.

    Returns:
        ``(H, inliers)``: ``float64`` ``(3, 3)`` with ``H[2, 2] == 1`` mapping ``(x, y, 1)`` to
        pixels, and a ``bool`` ``(N,)`` mask of the correspondences it explains. With exactly
        four points the homography is exact and every point is an inlier.

    Raises:
        ValueError: Fewer than four points, mismatched shapes, points (or the inliers) on one
            line, or no homography found.
    """
    image = _points2("image_pts", image_pts)
    pitch = _points2("pitch_pts", pitch_pts)
    if len(image) != len(pitch):
        raise ValueError(f"image_pts and pitch_pts must have the same length, got {len(image)} and {len(pitch)}")
    if len(image) < 4:
        raise ValueError(f"a homography needs at least 4 points, got {len(image)}")
    if _collinear(pitch) or _collinear(image):
        raise ValueError("degenerate: the points lie on one line")
    if len(image) == 4:
        # Four points determine the homography exactly; three of them on a line make it singular.
        if _has_collinear_triple(pitch) or _has_collinear_triple(image):
            raise ValueError("degenerate: three of the four points lie on one line")
        H, mask = cv2.findHomography(pitch, image, 0)
    else:
        H, mask = cv2.findHomography(pitch, image, cv2.RANSAC, ransac_threshold_px, maxIters=2000, confidence=0.999)
    if H is None or not np.isfinite(H).all() or abs(np.linalg.det(H)) < 1e-12 * np.abs(H).max() ** 3:
        raise ValueError("degenerate: no homography fits the points")
    inliers = mask.reshape(-1).astype(bool) if mask is not None else np.ones(len(image), bool)
    if inliers.sum() < 4 or _collinear(pitch[inliers]):
        raise ValueError(f"degenerate: only {int(inliers.sum())} inliers, or all on one line")
    if abs(H[2, 2]) > 1e-12:
        H = H / H[2, 2]
    return H, inliers


def camera_from_homography(H: np.ndarray, image_size: tuple[int, int]) -> Camera:
    """The pinhole camera whose pitch-plane homography is ``H``.

    The principal point is the image centre, pixels are square and unskewed. The focal length
    follows from the two constraints that the first two columns of ``K^-1 H`` (the images of the
    pitch ``x`` and ``y`` axes) are orthogonal and equally long (Zhang), solved in the least-
    squares sense; rotation and position then follow from the decomposition, the rotation
    orthonormalised with an SVD. Of the two mirror-image solutions, the one above the pitch is
    kept.

    Args:
        H: ``(3, 3)`` pitch metres ``(x, y, 1)`` -> undistorted pixels, any scale.
        image_size: ``(width, height)`` in pixels.

    Returns:
        An undistorted :class:`Camera` of ``image_size``.

    Raises:
        ValueError: ``H`` is singular or not finite, the focal length is not recoverable (the
            pitch seen face-on, or a homography no camera produces), or the pitch would lie
            behind the camera.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.shape != (3, 3) or not np.isfinite(H).all():
        raise ValueError(f"H must be a finite (3, 3) array, got shape {H.shape}")
    width, height = _image_size(image_size)
    cx, cy = width / 2.0, height / 2.0
    # Centre on the principal point and scale pixels to O(1) so both constraints weigh alike.
    scale = float(max(width, height))
    Hn = np.array([[1 / scale, 0, -cx / scale], [0, 1 / scale, -cy / scale], [0, 0, 1]]) @ H
    Hn = Hn / np.linalg.norm(Hn)
    (h11, h12, _), (h21, h22, _), (h31, h32, _) = Hn
    # With K = diag(f, f, 1) and w = 1 / f^2:  r1 . r2 = 0  and  |r1| = |r2|, each linear in w.
    a = np.array([h11 * h12 + h21 * h22, h11**2 + h21**2 - h12**2 - h22**2])
    b = np.array([h31 * h32, h31**2 - h32**2])
    denom = float(a @ a)
    if denom < 1e-18:
        raise ValueError("degenerate homography: the focal length is not observable")
    w = -float(a @ b) / denom
    if not w > 1e-12:
        raise ValueError("degenerate homography: no real focal length fits it (pitch seen face-on or not a camera)")
    focal = scale / math.sqrt(w)
    K = np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])
    M = np.linalg.solve(K, H)
    lam = math.sqrt(np.linalg.norm(M[:, 0]) * np.linalg.norm(M[:, 1]))
    if not lam > 0:
        raise ValueError("degenerate homography: singular first two columns")
    for sign in (1.0, -1.0):
        r1, r2, t = sign * M[:, 0] / lam, sign * M[:, 1] / lam, sign * M[:, 2] / lam
        U, _, Vt = np.linalg.svd(np.column_stack([r1, r2, np.cross(r1, r2)]))
        R = U @ Vt
        if np.linalg.det(R) < 0:
            R = U @ np.diag([1.0, 1.0, -1.0]) @ Vt
        position = -R.T @ t
        if position[2] < 0:  # z points down: above the pitch
            break
    camera = Camera(K=K, R=R, position=position, image_size=(width, height))
    # Flipping the sign mirrors the camera through the pitch and puts the pitch behind it, so the
    # camera above the pitch must also see the pitch in front: the bottom of the image does.
    ground = np.linalg.solve(H, np.array([cx, float(height), 1.0]))
    if abs(ground[2]) < 1e-12 or not camera.depth((ground[:2] / ground[2])[None])[0] > 0:
        raise ValueError("degenerate homography: the pitch would lie behind a camera above it")
    return camera


def _image_size(image_size: Any) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (width, height), got {image_size!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return width, height


# ------------------------------------------------------------------------------- refinement


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


def _rotation_delta(R_from: np.ndarray, R_to: np.ndarray) -> np.ndarray:
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
        image = _points2("points[1] (image points)", points[1])
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
        pixels = _points2(f"pixels of line {name!r}", pixels)
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
        point_error_px=_readonly(point_error),
        line_error_px=_readonly(line_error),
        point_inliers=_readonly(point_inliers),
        line_inliers=_readonly(line_inliers),
        n_lines=n_lines,
        cost=float(solution.cost),
        nfev=int(solution.nfev),
    )
    return refined, stats


# ------------------------------------------------------------------------------- one frame


def _implausible(camera: Camera) -> str:
    """Why ``camera`` cannot be a broadcast camera over a pitch, or ``""``."""
    if not camera.position[2] < 0:
        return f"camera is not above the pitch (z = {camera.position[2]:.2f} m, z points down)"
    if np.linalg.norm(camera.position) > _MAX_CAMERA_DISTANCE_M:
        return f"camera is {np.linalg.norm(camera.position):.0f} m from the centre mark"
    hfov = math.degrees(2 * math.atan(camera.width / (2 * camera.K[0, 0])))
    if not _MIN_HFOV_DEG <= hfov <= _MAX_HFOV_DEG:
        return f"horizontal field of view {hfov:.2f} deg is outside [{_MIN_HFOV_DEG}, {_MAX_HFOV_DEG}]"
    return ""


def _consistent_lines(
    lines: tuple[tuple[str, np.ndarray], ...], line_error: np.ndarray, reject_px: float
) -> tuple[tuple[str, np.ndarray], ...]:
    if not lines:
        return lines
    threshold = max(reject_px, 3 * float(np.median(line_error)))
    kept, offset = [], 0
    for name, pixels in lines:
        if np.median(line_error[offset:offset + len(pixels)]) <= threshold:
            kept.append((name, pixels))
        offset += len(pixels)
    return tuple(kept)


def calibrate_frame(
    obs: PitchObservations,
    image_size: tuple[int, int],
    pitch: PitchModel | None = None,
    prior: Camera | None = None,
    max_error_px: float = 5.0,
    *,
    ransac_threshold_px: float = 8.0,
    outlier_px: float = 10.0,
    min_inlier_fraction: float = 0.5,
    min_features: int = 3,
    loss: str = "soft_l1",
    loss_scale_px: float = 2.0,
    fix_prior_position: bool = True,
    line_reject_px: float = 3.0,
) -> CalibrationResult:
    """Calibrate one frame from its keypoints and line pixels.

    With four or more keypoints on the pitch plane (not on one line) a RANSAC homography gives an
    initial camera (:func:`camera_from_homography`); with a ``prior`` the prior is a second
    start. Each start is refined on every keypoint (goal-post tops included) and every line pixel
    (:func:`refine_camera`), then once more without the keypoints farther than ``outlier_px``
    and the lines that sit off the camera as a whole; the valid refinement with the most inliers
    (then the lowest robust cost) wins. Without enough keypoints the prior alone is refined (focal
    length and rotation only, see ``fix_prior_position``), so lines can carry a camera through
    frames the keypoint model misses.

    Args:
        obs: The frame's observations, pixels in the (distorted) image.
        image_size: ``(width, height)`` of the frame in pixels.
        pitch: The pitch keypoint ids and line names refer to; default 105 x 68 m.
        prior: A camera expected near this frame's (usually the previous frame's); its lens
            distortion is kept when refining from it.
        max_error_px: Largest acceptable ``reprojection_error_px``.
        ransac_threshold_px: Inlier threshold of the homography.
        outlier_px: Observations farther than this from the refined camera do not count.
        min_inlier_fraction: Below this share of inlier observations the camera is rejected.
        min_features: Fewest supporting features (inlier keypoints plus lines with inlier
            pixels) for a valid camera.
        loss: Robust loss of the refinement (see :func:`refine_camera`).
        loss_scale_px: Scale of the robust loss, in pixels.
        fix_prior_position: When the prior is the only start (fewer than four keypoints on the
            pitch plane), refine its focal length and rotation only and keep its position.
        line_reject_px: A line whose median distance to the fitted camera exceeds this (and
            three times the median over all lines) is left out and the camera refitted.

    Returns:
        A :class:`CalibrationResult`; invalid ones say why in ``reason``.
    """
    if not isinstance(obs, PitchObservations):
        raise TypeError(f"obs must be PitchObservations, got {type(obs).__name__}")
    width, height = _image_size(image_size)
    pitch = pitch or PitchModel()
    if prior is not None and tuple(prior.image_size) != (width, height):
        raise ValueError(f"prior camera is for {prior.image_size}, the frame is {(width, height)}")
    world = pitch.keypoints[obs.keypoint_ids]
    image = obs.keypoints.astype(np.float64)
    n_lines_observed = len(obs.lines)

    starts: list[tuple[str, Camera]] = []
    reasons: list[str] = []
    on_plane = np.abs(world[:, 2]) < 1e-9
    if on_plane.sum() >= 4:
        try:
            H, _ = solve_homography(image[on_plane], world[on_plane, :2], ransac_threshold_px)
            starts.append(("homography", camera_from_homography(H, (width, height))))
        except ValueError as error:
            reasons.append(str(error))
    else:
        reasons.append(f"too few keypoints on the pitch plane ({int(on_plane.sum())}, need 4)")
    if prior is not None:
        if len(obs) + n_lines_observed == 0:
            reasons.append("no keypoints or lines to refine the prior with")
        else:
            starts.append(("prior", prior))
    if not starts:
        return CalibrationResult.invalid("; ".join(reasons) + ("" if prior is not None else " and no prior camera"),
                                         n_keypoints=len(obs), n_lines=n_lines_observed)

    best: tuple[tuple[int, int, float], CalibrationResult] | None = None
    for label, start in starts:
        # Without a keypoint start, lines on one part of the pitch barely separate zoom from
        # dolly; a broadcast camera does not move, so tracking keeps its position.
        fix_position = fix_prior_position and label == "prior" and len(starts) == 1
        result, score = _fit(
            start, world, image, obs.lines, pitch, fix_position, label=label, max_error_px=max_error_px,
            outlier_px=outlier_px, min_inlier_fraction=min_inlier_fraction, min_features=min_features, loss=loss,
            loss_scale_px=loss_scale_px, line_reject_px=line_reject_px,
        )
        rank = (0 if result.valid else 1, *score)
        if best is None or rank < best[0]:
            best = (rank, result)
    assert best is not None
    return best[1]


_FIT_OPTIONS = frozenset(
    {"outlier_px", "min_inlier_fraction", "min_features", "loss", "loss_scale_px", "line_reject_px"}
)


def _fit(
    start: Camera,
    world: np.ndarray,
    image: np.ndarray,
    lines: tuple[tuple[str, np.ndarray], ...],
    pitch: PitchModel,
    fix_position: bool,
    *,
    label: str = "",
    max_error_px: float = 5.0,
    outlier_px: float = 10.0,
    min_inlier_fraction: float = 0.5,
    min_features: int = 3,
    loss: str = "soft_l1",
    loss_scale_px: float = 2.0,
    line_reject_px: float = 3.0,
) -> tuple[CalibrationResult, float]:
    """Refine ``start`` on the observations and judge the result.

    Returns:
        ``(result, score)``; a lower score is a better fit of the same observations (more
        inliers, then a lower robust cost, the pull towards the start included).
    """
    options = dict(loss=loss, loss_scale_px=loss_scale_px, outlier_px=outlier_px, fix_position=fix_position)
    camera, stats = refine_camera(start, (world, image), lines, pitch, **options)
    total = len(world) + len(stats.line_error_px)
    # A robust loss still feels outliers: a keypoint 50 px off pulls by about a pixel. Outlying
    # keypoints are dropped, and so is a line whose pixels sit well off it as a whole (a white
    # shirt, a wrongly named line: a coherent block of outliers), and the fit is redone.
    points = stats.point_inliers.copy()
    kept = _consistent_lines(lines, stats.line_error_px, line_reject_px)
    if not points.all() or len(kept) < len(lines):
        if not points.any() and not kept:
            # Nothing survived the outlier test: there is no camera to refine, only a bad frame.
            prefix = f"{label} start: " if label else ""
            return CalibrationResult.invalid(prefix + "every keypoint and line was an outlier", 0, 0), (0, float("inf"))
        camera, stats = refine_camera(camera, (world[points], image[points]), kept, pitch, **options)
        points[points] = stats.point_inliers
    n_keypoints = int(points.sum())
    n_inliers = n_keypoints + int(stats.line_inliers.sum())
    inlier_fraction = n_inliers / total if total else 0.0
    reason = ""
    if n_keypoints + stats.n_lines < min_features:
        reason = f"too few supporting features ({n_keypoints} keypoints + {stats.n_lines} lines, need {min_features})"
    elif inlier_fraction < min_inlier_fraction:
        reason = f"only {inlier_fraction:.0%} of the observations fit the camera (need {min_inlier_fraction:.0%})"
    elif not stats.reprojection_error_px <= max_error_px:
        reason = f"reprojection error {stats.reprojection_error_px:.2f} px above threshold {max_error_px:g} px"
    else:
        reason = _implausible(camera)
        if not reason and n_keypoints and not (camera.depth(world[points]) > 0).all():
            reason = "keypoints behind the camera"
    score = (-n_inliers, stats.cost)
    if reason:
        prefix = f"{label} start: " if label else ""
        return CalibrationResult.invalid(prefix + reason, n_keypoints, stats.n_lines), score
    return CalibrationResult.from_camera(camera, stats.reprojection_error_px, n_keypoints, stats.n_lines), score


def pitch_position(result: CalibrationResult, xyxy: np.ndarray) -> np.ndarray:
    """Pitch position of boxes' bottom-centres (where an upright athlete touches the grass).

    Args:
        result: The frame's calibration.
        xyxy: ``(N, 4)`` boxes, xyxy pixels of the full frame.

    Returns:
        ``float32`` ``(N, 2)`` pitch ``(x, y)`` metres; NaN rows when the result is invalid or a
        point is at or above the horizon. Lens distortion is removed first when the camera has it.
    """
    boxes = np.asarray(xyxy, dtype=np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"xyxy must have shape (N, 4), got {boxes.shape}")
    if not result.valid or result.camera is None or len(boxes) == 0:
        return np.full((len(boxes), 2), np.nan, dtype=np.float32)
    feet = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]])
    return result.camera.image_to_pitch(feet).astype(np.float32)


def pitch_position_uncertainty(result: CalibrationResult, xyxy: np.ndarray, feet_fraction: float = 0.05) -> np.ndarray:
    """One-sigma radius, metres, of :func:`pitch_position` for the same boxes.

    A pixel error at the feet becomes metres on the grass through the camera: little near the
    camera, a lot on the far touchline of a wide, flat view. The pixel error is the camera's
    reprojection error combined with where the feet are inside the box (``feet_fraction`` of
    the box height: legs apart, a shadow, a box cut by the detector); it is scaled by the
    largest stretch of the image-to-pitch mapping at the feet (the Jacobian's largest singular
    value, by central differences).

    Returns:
        ``float32`` ``(N,)`` metres; NaN where :func:`pitch_position` is NaN.
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if not result.valid or result.camera is None or len(boxes) == 0:
        return np.full(len(boxes), np.nan, dtype=np.float32)
    feet = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]])
    camera = result.camera
    dx = (camera.image_to_pitch(feet + [0.5, 0.0]) - camera.image_to_pitch(feet - [0.5, 0.0]))
    dy = (camera.image_to_pitch(feet + [0.0, 0.5]) - camera.image_to_pitch(feet - [0.0, 0.5]))
    jacobian = np.stack([dx, dy], axis=2)  # (N, 2 metres, 2 pixels)
    stretch = np.full(len(boxes), np.nan)
    finite = np.isfinite(jacobian).all(axis=(1, 2))
    if finite.any():
        stretch[finite] = np.linalg.svd(jacobian[finite], compute_uv=False)[:, 0]
    error = result.reprojection_error_px if np.isfinite(result.reprojection_error_px) else 0.0
    pixels = np.hypot(error, feet_fraction * (boxes[:, 3] - boxes[:, 1]))
    return (pixels * stretch).astype(np.float32)


# ------------------------------------------------------------------------------- detectors


@runtime_checkable
class PitchFeatureDetector(Protocol):
    """Finds pitch keypoints and/or line pixels, one :class:`PitchObservations` per frame."""

    def __call__(self, frames: Frames) -> list[PitchObservations]: ...


class YoloPoseDetector:
    """Pitch keypoints from an ultralytics YOLOv8-pose model.

    The model's keypoint ``k`` is ``PitchModel`` keypoint ``k`` (the ``football-field`` order,
    32 keypoints; models with up to all 45 named points in that order are accepted). Only the
    highest-confidence instance of a frame counts, and of its keypoints those with confidence
    ``>= keypoint_conf`` that the model did not clamp to the image border.
    """

    def __init__(
        self,
        weights: str | Path = DEFAULT_PITCH_KEYPOINT_WEIGHTS,
        imgsz: int | None = None,
        conf: float = 0.25,
        keypoint_conf: float = 0.5,
        device: str = "cpu",
        batch_size: int = 8,
    ) -> None:
        weights = Path(weights)
        if not weights.is_file():
            raise FileNotFoundError(f"pitch keypoint weights {weights} not found: {_TRAIN_HINT}")
        if not 0 <= conf <= 1 or not 0 <= keypoint_conf <= 1:
            raise ValueError(f"conf and keypoint_conf must be in [0, 1], got {conf} and {keypoint_conf}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        from soccerfactory.curation.safe_load import load_yolo

        # Ultralytics checkpoints pickle the whole model: scanned against an allow-list of model
        # classes, then loaded by ultralytics with weights_only=True (see curation/safe_load.py).
        self.model = load_yolo(weights, "pitch keypoint weights", task="pose")
        if self.model.task != "pose":
            raise ValueError(f"{weights} is a {self.model.task!r} model, expected a pose model")
        kpt_shape = self.model.model.yaml.get("kpt_shape") if hasattr(self.model.model, "yaml") else None
        self.n_keypoints = int(kpt_shape[0]) if kpt_shape else 32
        if not 4 <= self.n_keypoints <= len(KEYPOINT_NAMES):
            raise ValueError(f"{weights} predicts {self.n_keypoints} keypoints; expected 32 pitch keypoints")
        # The trained image size is the right default: the model saw 16:9 frames letterboxed to it.
        trained = self.model.overrides.get("imgsz") if isinstance(self.model.overrides, dict) else None
        self.imgsz = int(imgsz or (trained if isinstance(trained, int) else 640))
        self.conf, self.keypoint_conf, self.device, self.batch_size = conf, keypoint_conf, device, batch_size
        self.weights = weights

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        out: list[PitchObservations] = []
        for start in range(0, len(frames), self.batch_size):
            images = list(frames.images[start:start + self.batch_size])
            results = self.model.predict(images, imgsz=self.imgsz, conf=self.conf, device=self.device, verbose=False)
            out.extend(self._observations(r, frames.width, frames.height) for r in results)
        return out

    def _observations(self, result: Any, width: int, height: int) -> PitchObservations:
        if result.keypoints is None or result.boxes is None or len(result.boxes) == 0:
            return PitchObservations.empty()
        best = int(result.boxes.conf.cpu().numpy().argmax())
        xy = result.keypoints.xy.cpu().numpy()[best].astype(np.float64)
        if result.keypoints.conf is not None:
            confidence = result.keypoints.conf.cpu().numpy()[best].astype(np.float64)
        else:
            confidence = np.full(len(xy), float(result.boxes.conf.cpu().numpy()[best]))
        # Ultralytics clamps keypoints into the image; a clamped one is somewhere outside it.
        inside = (xy[:, 0] > 0) & (xy[:, 0] < width) & (xy[:, 1] > 0) & (xy[:, 1] < height)
        keep = np.flatnonzero((confidence >= self.keypoint_conf) & inside & np.isfinite(xy).all(axis=1))
        return PitchObservations(
            keypoints=xy[keep].astype(np.float32),
            keypoint_ids=keep.astype(np.int64),
            keypoint_confidence=np.clip(confidence[keep], 0, 1).astype(np.float32),
        )


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
        grass = cv2.inRange(small, (30, 40, 30), (90, 255, 255))
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
            pixels, usable = self._project(camera, samples)
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

    def _project(self, camera: Camera, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels ``(P, 2)`` of line samples and whether each can be drawn (in front, near the frame)."""
        width, height = camera.image_size
        pixels = camera.project(samples)
        with np.errstate(invalid="ignore"):
            usable = (
                (camera.depth(samples) > _MIN_DEPTH_M)
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


def _build_yolo_pose(
    weights: str | Path = DEFAULT_PITCH_KEYPOINT_WEIGHTS,
    imgsz: int | None = None,
    conf: float = 0.25,
    keypoint_conf: float = 0.5,
    device: str = "cpu",
    batch_size: int = 8,
) -> YoloPoseDetector:
    return YoloPoseDetector(
        weights, imgsz=imgsz, conf=conf, keypoint_conf=keypoint_conf, device=device, batch_size=batch_size
    )


def _build_heatmap(
    weights: str | Path | None = None,
    keypoint_conf: float = 0.5,
    min_peak: float = 0.3,
    device: str = "cpu",
    batch_size: int = 8,
) -> PitchFeatureDetector:
    from soccerfactory.curation.keypoints import HeatmapKeypointDetector

    return HeatmapKeypointDetector(weights, keypoint_conf=keypoint_conf, min_peak=min_peak, device=device, batch_size=batch_size)


FEATURE_DETECTORS = {"heatmap": _build_heatmap, "yolo-pose": _build_yolo_pose, "lines-classic": LinesClassicDetector}


def build_feature_detector(name: str, **params: Any) -> PitchFeatureDetector:
    """Build a pitch feature detector by backend name.

    ``"heatmap"``: ``weights`` (default ``curation/weights/pitch-keypoints-heatmap.pt``),
    ``keypoint_conf``, ``min_peak``, ``device``, ``batch_size``
    (:class:`~soccerfactory.curation.keypoints.HeatmapKeypointDetector`).
    ``"yolo-pose"``: ``weights`` (default ``curation/weights/pitch-keypoints.pt``), ``imgsz``
    (default: the trained size), ``conf``, ``keypoint_conf``, ``device``, ``batch_size``.
    ``"lines-classic"``: see :class:`LinesClassicDetector`.

    Raises:
        ValueError: Unknown ``name``, listing the valid ones.
        FileNotFoundError: Missing weights, saying how to get them.
    """
    if name not in FEATURE_DETECTORS:
        raise ValueError(f"unknown pitch feature detector {name!r}; valid choices: {', '.join(FEATURE_DETECTORS)}")
    return FEATURE_DETECTORS[name](**params)


# ------------------------------------------------------------------------------- line search


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
        unknown = set(fit) - _FIT_OPTIONS
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
        front = z > _MIN_DEPTH_M
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
            pixels, usable = self.line_detector._project(camera, samples)
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
            attempt, _ = _fit(guide, empty_world, empty_image, lines, self.pitch, False,
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


# ------------------------------------------------------------------------------- sequences


def _smooth(previous: Camera, current: Camera, alpha: float) -> Camera:
    """Exponential smoothing: ``alpha`` of ``previous`` and ``1 - alpha`` of ``current``."""
    delta = _rotation_delta(previous.R, current.R)
    R = cv2.Rodrigues((1 - alpha) * delta)[0] @ previous.R
    focal = math.exp(alpha * math.log(previous.K[0, 0]) + (1 - alpha) * math.log(current.K[0, 0]))
    K = current.K.copy()
    K[0, 0], K[1, 1] = focal, focal * current.K[1, 1] / current.K[0, 0]
    position = alpha * previous.position + (1 - alpha) * current.position
    U, _, Vt = np.linalg.svd(R)
    return Camera(K=K, R=U @ Vt, position=position, image_size=current.image_size, dist=current.dist)


class Calibrator:
    """Calibrates the frames of a clip in order, tracking the camera from frame to frame.

    Per frame: keypoints from ``detector``; a guide camera (the last valid one if it is at
    most ``max_prior_gap`` frames old, else the keypoints-only calibration of this frame); line
    pixels named by ``line_detector`` around the guide, in ``line_passes`` passes that halve
    the search band each time and re-guide with the refined camera; then
    :func:`calibrate_frame` with the guide as prior. State (the last valid camera) carries over
    between calls on consecutive chunks of a clip; :meth:`reset` forgets it.

    Args:
        detector: Keypoint (and/or line) detector; ``None`` for lines only, which then needs
            ``initial_camera`` to start.
        line_detector: Prior-guided line pixels (``lines-classic``); ``None`` for keypoints only.
        pitch: The pitch; default 105 x 68 m.
        max_error_px: See :func:`calibrate_frame`.
        max_prior_gap: A valid camera older than this many frames is no longer a prior.
        smoothing: Exponential smoothing of focal length, rotation and position between valid
            consecutive frames, in ``[0, 1)``: the share of the previous smoothed camera. ``0``
            is off. The reported reprojection error is that of the unsmoothed fit.
        line_passes: Passes of line naming and refinement per frame.
        initial_camera: Prior for the first frame.
        line_search: When neither keypoints nor a recent prior give a camera, search one from the
            line pixels alone (:class:`LineSearchInitialiser`, about a second per try): ``True``
            for the default search, an initialiser, or ``False``. Needs ``line_detector``.
        line_search_every: While lost, try the line search at most every this many frames.
        max_keypoint_drift_px: When four or more keypoints placed the camera, a line refinement
            that moves their median reprojection error up by more than this is discarded
            (``None``: always keep the line refinement).
        keyframe_every: Detect keypoints on every this many frames only (and whenever there is no
            camera to track); in between the camera is tracked on line pixels alone, which is
            cheaper than the keypoint model. ``1`` = every frame.
        resolve_error_px: Between keyframes, a tracked camera whose reprojection error exceeds
            this (or that fails) is solved again from keypoints at once.
        solver: Further keyword arguments of :func:`calibrate_frame`.
    """

    def __init__(
        self,
        detector: PitchFeatureDetector | None = None,
        line_detector: LinesClassicDetector | None = None,
        pitch: PitchModel | None = None,
        *,
        max_error_px: float = 5.0,
        max_prior_gap: int = 5,
        smoothing: float = 0.0,
        line_passes: int = 2,
        initial_camera: Camera | None = None,
        line_search: bool | LineSearchInitialiser = True,
        line_search_every: int = 5,
        max_keypoint_drift_px: float | None = 1.0,
        keyframe_every: int = 1,
        resolve_error_px: float = 3.0,
        **solver: Any,
    ) -> None:
        if detector is None and line_detector is None:
            raise ValueError("Calibrator needs a keypoint detector, a line detector, or both")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if max_prior_gap < 0 or line_passes < 1:
            raise ValueError("max_prior_gap must be >= 0 and line_passes >= 1")
        unknown = set(solver) - set(inspect.signature(calibrate_frame).parameters) - {"ransac_threshold_px"}
        if unknown or {"obs", "image_size", "pitch", "prior", "max_error_px"} & set(solver):
            raise TypeError(f"Calibrator got unexpected arguments {sorted(solver)}")
        self.detector = detector
        self.line_detector = line_detector
        self.pitch = pitch or PitchModel()
        self.max_error_px = max_error_px
        self.max_prior_gap = max_prior_gap
        self.smoothing = smoothing
        self.line_passes = line_passes
        self.initial_camera = initial_camera
        self.solver = solver
        if line_search_every < 1:
            raise ValueError(f"line_search_every must be >= 1, got {line_search_every}")
        self.line_search_every = line_search_every
        if max_keypoint_drift_px is not None and max_keypoint_drift_px < 0:
            raise ValueError(f"max_keypoint_drift_px must be >= 0 or None, got {max_keypoint_drift_px}")
        self.max_keypoint_drift_px = max_keypoint_drift_px
        if keyframe_every < 1 or resolve_error_px <= 0:
            raise ValueError(f"keyframe_every must be >= 1 and resolve_error_px > 0, got {keyframe_every}, {resolve_error_px}")
        self.keyframe_every, self.resolve_error_px = int(keyframe_every), float(resolve_error_px)
        if isinstance(line_search, LineSearchInitialiser):
            self.line_search: LineSearchInitialiser | None = line_search
        elif line_search and line_detector is not None:
            fit = {k: v for k, v in solver.items() if k in _FIT_OPTIONS}
            self.line_search = LineSearchInitialiser(self.pitch, line_detector, max_error_px=max_error_px, **fit)
        else:
            self.line_search = None
        self.reset()

    def fresh(self) -> Calibrator:
        """A calibrator for a new clip: same backends (loaded models shared) and settings, no state."""
        clone = copy.copy(self)
        clone.reset()
        return clone

    def reset(self) -> None:
        """Forget the tracked camera (a new clip, or a cut)."""
        self._prior: Camera | None = self.initial_camera
        self._prior_frame: int | None = None
        self._smoothed: Camera | None = None
        self._source: str | None = None
        self._last_search: int | None = None
        self._keyframe: int | None = None

    def _calibrate(self, obs: PitchObservations, size: tuple[int, int], prior: Camera | None) -> CalibrationResult:
        return calibrate_frame(obs, size, self.pitch, prior, self.max_error_px, **self.solver)

    def _calibrate_one(
        self, obs: PitchObservations, image: np.ndarray, size: tuple[int, int], prior: Camera | None,
        frame: int = 0,
    ) -> CalibrationResult:
        # Keypoints first (cheap: a few residuals, both the homography and the prior start): they
        # place the camera, position included, and guide the naming of line pixels.
        if len(obs) or obs.lines or prior is None:
            first = self._calibrate(obs, size, prior)
        else:
            first = CalibrationResult.invalid("no keypoints or lines found")
        guide = first.camera if first.valid else prior
        mask = None
        searched = None
        if guide is None and self.line_search is not None and self.line_detector is not None and (
                self._last_search is None or frame - self._last_search >= self.line_search_every):
            # Lost (or starting) without keypoints: search the camera from the lines alone;
            # throttled, as a search costs as much as tens of tracked frames.
            self._last_search = frame
            mask = self.line_detector.line_mask(image)
            searched = self.line_search(image, mask)
            if not searched.valid:
                return CalibrationResult.invalid(f"{first.reason}; {searched.reason}", first.n_keypoints, searched.n_lines)
            guide = searched.camera
        if self.line_detector is None or guide is None:
            return first
        world = self.pitch.keypoints[obs.keypoint_ids]
        points = obs.keypoints.astype(np.float64)
        if not first.valid:
            # Keypoints no camera agrees with (a mirrored guess, a keypoint on an advertising
            # board) would sink the line tracking too: track the guide on lines alone.
            world, points = world[:0], points[:0]
        fit_options = {k: v for k, v in self.solver.items() if k in _FIT_OPTIONS}
        best = first if first.valid else searched
        failure = first
        if mask is None:
            mask = self.line_detector.line_mask(image)
        radius = self.line_detector.default_search_px(size[0])
        # Without keypoints to hold it, the position is kept: in a narrow view a fraction of a
        # pixel of bias in the line pixels moves it by metres along the zoom/dolly ambiguity, and a
        # broadcast camera pans, tilts and zooms on a fixed mount anyway.
        fix_position = not (first.valid and first.n_keypoints >= 4)
        for _ in range(self.line_passes):
            lines = self.line_detector.observe(image, guide, radius, mask)
            if not lines and not obs.lines:
                break
            attempt, _ = _fit(guide, world, points, obs.lines + lines, self.pitch, fix_position,
                              max_error_px=self.max_error_px, **fit_options)
            if not attempt.valid:
                failure = attempt
                break
            best, guide, radius = attempt, attempt.camera, radius / 2
        if best is None:
            return failure
        if first.valid and first.n_keypoints >= 4 and best is not first and self.max_keypoint_drift_px is not None:
            # Lines must sharpen a keypoint camera, not drag it off its keypoints: on real frames
            # (a lens that is not quite pinhole, white kit and boards near the lines) line pixels
            # pulled the median labelled-keypoint error from 2.5 to 6 px. Keep the keypoint
            # camera when the refined one moved its keypoints by more than the drift allowed.
            before = np.median(np.linalg.norm(first.camera.project(world) - points, axis=1))
            after = np.median(np.linalg.norm(best.camera.project(world) - points, axis=1))
            if after > before + self.max_keypoint_drift_px:
                return first
        return best

    def __call__(self, frames: Frames) -> list[CalibrationResult]:
        """One :class:`CalibrationResult` per frame, in order."""
        if len(frames) == 0:
            return []
        if self._source is not None and frames.source != self._source:
            self.reset()
        self._source = frames.source
        if self._prior is not None and self._prior_frame is None:
            # The initial camera stands for the frame just before the first one.
            self._prior_frame = int(frames.frame_index[0]) - 1
        size = (frames.width, frames.height)
        if self.detector is not None and self.keyframe_every == 1:
            observations: list[PitchObservations | None] = list(self.detector(frames))
            if len(observations) != len(frames):
                raise RuntimeError(f"detector returned {len(observations)} observations for {len(frames)} frames")
        else:
            # Keyframes: keypoints are detected on demand, frame by frame, below.
            observations = [None if self.detector is not None else PitchObservations.empty()] * len(frames)
        results = []
        for i, obs in enumerate(observations):
            frame = int(frames.frame_index[i])
            prior = self._prior
            gap = frame - self._prior_frame - 1 if self._prior_frame is not None else 0
            if prior is not None and gap > self.max_prior_gap:
                prior = self._prior = self._smoothed = None
            tracked_only = False
            if obs is None:
                due = prior is None or self._keyframe is None or frame - self._keyframe >= self.keyframe_every
                obs = self._detect_one(frames, i) if due else PitchObservations.empty()
                tracked_only = not due
                if due:
                    self._keyframe = frame
            result = self._calibrate_one(obs, frames.images[i], size, prior, frame)
            if tracked_only and (not result.valid or result.reprojection_error_px > self.resolve_error_px):
                # Tracking from the lines alone is slipping: solve this frame from keypoints now.
                self._keyframe = frame
                result = self._calibrate_one(self._detect_one(frames, i), frames.images[i], size, prior, frame)
            if result.valid:
                assert result.camera is not None
                camera = result.camera
                if self.smoothing and self._smoothed is not None and gap == 0:
                    camera = _smooth(self._smoothed, camera, self.smoothing)
                    result = dataclasses.replace(result, camera=camera, homography=camera.homography)
                self._smoothed = camera
                self._prior, self._prior_frame = result.camera, frame
            results.append(result)
        return results

    def _detect_one(self, frames: Frames, i: int) -> PitchObservations:
        assert self.detector is not None
        (obs,) = self.detector(frames[i:i + 1])
        return obs


def build_calibrator(name: str = "yolo-pose", **params: Any) -> Calibrator:
    """Build a :class:`Calibrator` by feature backend name.

    * ``"heatmap"``: keypoints from the heatmap model
      (:class:`~soccerfactory.curation.keypoints.HeatmapKeypointDetector`: ``weights``,
      ``keypoint_conf``, ``min_peak``, ``device``, ``batch_size``), refined with ``lines-classic``
      line pixels unless ``lines=False``.
    * ``"yolo-pose"``: keypoints from :class:`YoloPoseDetector` (its arguments: ``weights``,
      ``imgsz``, ``conf``, ``keypoint_conf``, ``device``, ``batch_size``), refined with
      ``lines-classic`` line pixels unless ``lines=False``.
    * ``"lines-classic"``: lines only; from ``initial_camera`` (the camera of the first frame)
      when given, else from the line search.
    * ``"lines"``: no model: the line search places the camera (:class:`LineSearchInitialiser`),
      line pixels track it.

    Other keyword arguments go to :class:`LinesClassicDetector` (``search_px``, ``threshold``,
    ...) or to :class:`Calibrator` (``pitch``, ``max_error_px``, ``max_prior_gap``,
    ``smoothing``, ``line_passes``, ``initial_camera``, and :func:`calibrate_frame` options).

    Raises:
        ValueError: Unknown ``name``, listing the valid ones.
    """
    valid = (*FEATURE_DETECTORS, "lines")
    if name not in valid:
        raise ValueError(f"unknown calibrator {name!r}; valid choices: {', '.join(valid)}")
    params = dict(params)
    if name == "lines":
        params.setdefault("line_search", True)
    use_lines = params.pop("lines", True) if name in ("yolo-pose", "heatmap") else True
    pitch = params.get("pitch")
    line_keys = set(inspect.signature(LinesClassicDetector).parameters) - {"pitch"}
    line_params = {k: params.pop(k) for k in list(params) if k in line_keys}
    line_detector = LinesClassicDetector(pitch, **line_params) if use_lines else None
    detector = None
    if name in ("yolo-pose", "heatmap"):
        builder = FEATURE_DETECTORS[name]
        keys = set(inspect.signature(builder).parameters)
        detector = builder(**{k: params.pop(k) for k in list(params) if k in keys})
    return Calibrator(detector, line_detector, **params)
