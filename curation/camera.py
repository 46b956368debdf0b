"""The calibrated pinhole camera of one frame and its projection maths.

:class:`Camera` holds intrinsics, the world -> camera rotation, the camera centre and
optional OpenCV lens distortion, validated once at construction; it projects world
points to pixels, back-projects pixels onto the pitch plane and exposes the pitch
homography. World coordinates follow the SoccerNet calibration convention (see the
class docstring).

Only numpy is imported here, so importing the camera never pulls in OpenCV or torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from soccerfactory.curation.arrays import as_float, check_shape, readonly

__all__ = ["Camera"]


# Tolerances for accepting a rotation matrix / intrinsics produced by float arithmetic
# (calibration solvers, JSON round trips) while still catching real mistakes.
_ROTATION_TOL = 1e-6
_K_TOL = 1e-9


@dataclasses.dataclass(frozen=True, eq=False)
class Camera:
    """Calibrated pinhole camera for one frame.

    World frame (the SoccerNet calibration convention), in metres: origin at the
    centre mark; ``x`` along the touchlines towards the right goal as seen from the
    main camera; ``y`` across the pitch towards the near touchline (the main
    camera's side); ``z`` pointing DOWN into the ground, so points above the grass
    have negative ``z`` and the pitch is the plane ``z = 0``.

    Camera frame: ``x`` right and ``y`` down in the image, ``z`` forward along the
    optical axis. A world point ``X`` projects (before distortion) as
    ``p ~ K @ R @ (X - position)``.

    Attributes:
        K: ``float64`` ``(3, 3)`` intrinsics ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``
            in pixels, ``fx, fy > 0``.
        R: ``float64`` ``(3, 3)`` rotation world -> camera, orthonormal with
            determinant ``+1`` (tolerance 1e-6).
        position: ``float64`` ``(3,)`` camera centre in world metres.
        image_size: ``(width, height)`` in pixels.
        dist: ``float64`` ``(k,)`` OpenCV distortion ``(k1, k2, p1, p2[, k3])``,
            ``k`` in ``{0, 4, 5}``; empty means none.
    """

    K: np.ndarray
    R: np.ndarray
    position: np.ndarray
    image_size: tuple[int, int]
    dist: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.float64))

    def __post_init__(self) -> None:
        owner = "Camera"
        K = as_float(owner, "K", self.K, np.float64)
        check_shape(owner, "K", K, (3, 3))
        if not (K[0, 0] > 0 and K[1, 1] > 0):
            raise ValueError(f"{owner}.K must have fx, fy > 0, got fx={K[0, 0]}, fy={K[1, 1]}")
        if abs(K[1, 0]) > _K_TOL or np.abs(K[2] - (0.0, 0.0, 1.0)).max() > _K_TOL:
            raise ValueError(f"{owner}.K must have K[1, 0] == 0 and last row [0, 0, 1], got {K.tolist()}")

        R = as_float(owner, "R", self.R, np.float64)
        check_shape(owner, "R", R, (3, 3))
        err = np.abs(R @ R.T - np.eye(3)).max()
        if err > _ROTATION_TOL:
            raise ValueError(f"{owner}.R must be orthonormal (|R R^T - I| = {err:.3g} > {_ROTATION_TOL})")
        det = float(np.linalg.det(R))
        if abs(det - 1.0) > _ROTATION_TOL:
            raise ValueError(f"{owner}.R must be a proper rotation with det +1, got det {det:.6g}")

        position = as_float(owner, "position", self.position, np.float64)
        check_shape(owner, "position", position, (3,))

        size = tuple(self.image_size)
        if len(size) != 2 or not all(
            isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer()) for v in size
        ):
            raise ValueError(f"{owner}.image_size must be (width, height) integers, got {self.image_size!r}")
        width, height = int(size[0]), int(size[1])
        if width < 1 or height < 1:
            raise ValueError(f"{owner}.image_size must be positive, got {self.image_size!r}")

        dist = as_float(owner, "dist", self.dist, np.float64).reshape(-1)
        if dist.shape[0] not in (0, 4, 5):
            raise ValueError(
                f"{owner}.dist must have 0, 4 or 5 coefficients (k1, k2, p1, p2[, k3]), got shape {dist.shape}"
            )

        object.__setattr__(self, "K", readonly(K))
        object.__setattr__(self, "R", readonly(R))
        object.__setattr__(self, "position", readonly(position))
        object.__setattr__(self, "image_size", (width, height))
        object.__setattr__(self, "dist", readonly(dist))

    @classmethod
    def look_at(
        cls,
        position: Sequence[float] | np.ndarray,
        target: Sequence[float] | np.ndarray,
        focal_px: float,
        image_size: tuple[int, int],
    ) -> Camera:
        """Build an undistorted camera at ``position`` aimed at ``target`` (world metres).

        The image is level: the camera has no roll, so world up (``-z``) points up in
        the image. The principal point is the image centre ``(width / 2, height / 2)``,
        where ``target`` projects.

        Raises:
            ValueError: if ``target == position`` or the view is exactly vertical, where
                "level" is undefined.
        """
        position = np.asarray(position, dtype=np.float64)
        forward = np.asarray(target, dtype=np.float64) - position
        norm = np.linalg.norm(forward)
        if not norm > 0:
            raise ValueError("Camera.look_at: target must differ from position")
        forward /= norm
        down = np.array([0.0, 0.0, 1.0])  # world z points into the ground
        # Image right is perpendicular to both the view direction and the vertical,
        # which is what keeps the horizon level.
        right = np.cross(down, forward)
        rnorm = np.linalg.norm(right)
        if rnorm < 1e-9:
            raise ValueError("Camera.look_at: view direction is vertical, image orientation undefined")
        right /= rnorm
        image_down = np.cross(forward, right)
        R = np.stack([right, image_down, forward])
        width, height = image_size
        K = np.array([[focal_px, 0.0, width / 2.0], [0.0, focal_px, height / 2.0], [0.0, 0.0, 1.0]])
        return cls(K=K, R=R, position=position, image_size=(width, height))

    # ----------------------------------------------------------------- intrinsics

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return self.image_size[0]

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return self.image_size[1]

    @property
    def homography(self) -> np.ndarray:
        """``float64`` ``(3, 3)`` map from pitch-plane metres ``(x, y, 1)`` (``z = 0``) to
        undistorted image pixels: ``H = K @ [r1, r2, -R @ position]``.

        Normalised so ``H[2, 2] == 1``; in the degenerate case where the world origin
        lies in the camera's principal plane (``H[2, 2] == 0``) it is normalised to
        unit Frobenius norm instead.
        """
        t = -self.R @ self.position
        H = self.K @ np.column_stack([self.R[:, 0], self.R[:, 1], t])
        scale = H[2, 2] if abs(H[2, 2]) > 1e-12 * np.linalg.norm(H) else np.linalg.norm(H)
        return H / scale

    # ----------------------------------------------------------------- projection

    def _points3d(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        pts = np.asarray(points, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] not in (2, 3):
            raise ValueError(f"points must have shape (N, 2) (on the pitch, z=0) or (N, 3), got {pts.shape}")
        if pts.shape[1] == 2:
            pts = np.column_stack([pts, np.zeros(len(pts))])
        return pts

    def to_camera(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """World points ``(N, 3)`` (or ``(N, 2)`` on ``z = 0``) in camera coordinates ``(N, 3)``."""
        return (self._points3d(points) - self.position) @ self.R.T

    def depth(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Camera-frame ``z`` of world points, ``float64`` ``(N,)``; positive in front."""
        return self.to_camera(points)[:, 2]

    def project(self, points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Project world points to pixels, applying ``dist`` when present.

        Args:
            points: ``(N, 3)`` world metres, or ``(N, 2)`` pitch points taken at ``z = 0``.

        Returns:
            ``float64`` ``(N, 2)`` pixel coordinates. Points behind the camera still get
            (mirrored, meaningless) pixels; mask them with ``depth(points) > 0``.
        """
        cam = self.to_camera(points)
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = cam[:, :2] / cam[:, 2:3]
        xy = self._distort(xy)
        return xy @ self.K[:2, :2].T + self.K[:2, 2]

    def _distort(self, xy: np.ndarray) -> np.ndarray:
        # OpenCV's radial-tangential model on normalised coordinates.
        if self.dist.size == 0 or not self.dist.any():
            return xy
        k1, k2, p1, p2 = self.dist[:4]
        k3 = self.dist[4] if self.dist.size > 4 else 0.0
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.column_stack([xd, yd])

    def distort_pixels(self, pixels: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Where undistorted (pinhole) pixels land in the distorted image, ``(N, 2)`` -> ``(N, 2)``.

        The inverse of :meth:`undistort_pixels`; the identity for an undistorted camera.
        """
        px = np.asarray(pixels, dtype=np.float64)
        if px.ndim != 2 or px.shape[1] != 2:
            raise ValueError(f"pixels must have shape (N, 2), got {px.shape}")
        focal = np.array([self.K[0, 0], self.K[1, 1]])
        normalised = (px - self.K[:2, 2]) / focal
        return self._distort(normalised) * focal + self.K[:2, 2]

    def undistort_pixels(self, pixels: np.ndarray | Sequence[Sequence[float]], iterations: int = 20) -> np.ndarray:
        """Remove lens distortion from pixel coordinates, ``(N, 2)`` -> ``(N, 2)`` pixels.

        Inverts :meth:`project`'s distortion by the same fixed-point iteration as
        ``cv2.undistortPoints``. The iteration converges inside the image for the
        moderate distortion of broadcast lenses but can settle on a wrong point far
        outside it, where the polynomial model folds back; pixels whose result does
        not re-distort to within 1e-3 px of the input are returned as NaN rather
        than as a plausible-looking wrong answer.
        """
        px = np.asarray(pixels, dtype=np.float64)
        if px.ndim != 2 or px.shape[1] != 2:
            raise ValueError(f"pixels must have shape (N, 2), got {px.shape}")
        if self.dist.size == 0 or not self.dist.any():
            return px.copy()
        Kinv = np.linalg.inv(self.K)
        xd = px @ Kinv[:2, :2].T + Kinv[:2, 2]
        k1, k2, p1, p2 = self.dist[:4]
        k3 = self.dist[4] if self.dist.size > 4 else 0.0
        x, y = xd[:, 0].copy(), xd[:, 1].copy()
        for _ in range(iterations):
            r2 = x * x + y * y
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            x = (xd[:, 0] - dx) / radial
            y = (xd[:, 1] - dy) / radial
        undistorted = np.column_stack([x, y])
        residual_px = np.abs((self._distort(undistorted) - xd) @ self.K[:2, :2].T).max(axis=1)
        undistorted[~(residual_px <= 1e-3)] = np.nan
        return undistorted @ self.K[:2, :2].T + self.K[:2, 2]

    def image_to_pitch(self, pixels: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        """Back-project pixels onto the pitch plane ``z = 0``.

        Uses the inverse :attr:`homography` after :meth:`undistort_pixels` (a no-op
        for an undistorted camera), so it inverts :meth:`project` for pitch points.

        Args:
            pixels: ``(N, 2)`` pixel coordinates in the (distorted) image.

        Returns:
            ``float64`` ``(N, 2)`` pitch metres ``(x, y)``. Pixels whose ray does not
            meet the pitch in front of the camera (at or above the horizon), or that
            cannot be undistorted, are NaN.
        """
        px = self.undistort_pixels(pixels)
        homog = np.column_stack([px, np.ones(len(px))]) @ np.linalg.inv(self.homography).T
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = homog[:, :2] / homog[:, 2:3]
        finite = np.isfinite(xy).all(axis=1)  # also drops pixels whose undistortion failed
        in_front = np.zeros(len(xy), dtype=bool)
        in_front[finite] = self.depth(xy[finite]) > 0
        xy[~in_front] = np.nan
        return xy
