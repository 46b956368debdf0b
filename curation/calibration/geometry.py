"""Homography geometry of the pitch plane: an initial camera from four or more keypoints.

:func:`solve_homography` (RANSAC) and :func:`camera_from_homography` (Zhang's two orthogonality
constraints with the principal point at the image centre) give the camera that
:func:`~soccerfactory.curation.calibration.refinement.refine_camera` then refines. The principal
point is fixed at the image centre, pixels are square and there is no skew.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from soccerfactory.curation.camera import Camera

__all__ = ["MIN_DEPTH_M", "as_image_size", "as_points2", "camera_from_homography", "solve_homography"]

# Samples of a projected line closer than this to the camera plane are dropped: their pixels
# explode and would draw spurious segments across the image.
MIN_DEPTH_M = 0.1


def as_points2(name: str, value: Any) -> np.ndarray:
    """``value`` as finite ``float64`` ``(N, 2)`` points; ``ValueError`` naming ``name`` otherwise."""
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
    image = as_points2("image_pts", image_pts)
    pitch = as_points2("pitch_pts", pitch_pts)
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
    width, height = as_image_size(image_size)
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


def as_image_size(image_size: Any) -> tuple[int, int]:
    """``image_size`` as positive ``(width, height)`` ints; ``ValueError`` otherwise."""
    try:
        width, height = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (width, height), got {image_size!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return width, height
