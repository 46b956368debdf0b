"""The camera head's parametrisation: where a fixed grid of image points lands on the pitch.

Regressing the 8 free entries of a homography does not train: they span several orders of
magnitude and a small error in the perspective terms moves the whole picture (measured: 575 px
of reprojection error after 300 steps, worse than the untrained model). Instead the head
predicts the pitch position of a 3x3 grid of image points (the "four-point" parametrisation of
deep homography estimation, with a least-squares fit over nine), in metres scaled to about
``[-1, 1]``. Every output then has the same units and range, and the homography follows from
the nine correspondences by a direct linear transform.

Broadcast frames put the horizon above the top third of the picture (measured on the curated
synthetic cameras: every grid point lands within 55 m of the centre spot), but a grid point that
a true camera sends behind the image plane or far off the pitch is masked out of the loss.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CAMERA_GRID", "PITCH_SCALE", "camera_points", "homography_from_points", "reprojection_errors"]

#: ``(9, 2)`` image points as fractions of width and height (x, y): the camera head's anchors.
CAMERA_GRID = np.array([[x, y] for y in (0.35, 0.65, 0.95) for x in (0.05, 0.5, 0.95)], dtype=np.float64)
#: Pitch metres per output unit (half length, half width of a 105 x 68 m pitch).
PITCH_SCALE = np.array([52.5, 34.0])
#: Grid points whose true pitch position is further than this (in output units) are not trained on.
MAX_UNITS = 3.0


def camera_points(pitch_to_image: np.ndarray, width: float, height: float) -> tuple[np.ndarray, np.ndarray]:
    """The head's target for one frame.

    Args:
        pitch_to_image: ``(3, 3)`` homography from pitch metres to source pixels.
        width, height: Source image size in pixels.

    Returns:
        ``float32`` ``(9, 2)`` pitch positions of :data:`CAMERA_GRID` in output units, and a
        ``bool`` ``(9,)`` mask of the points worth training on.
    """
    image_to_pitch = np.linalg.inv(np.asarray(pitch_to_image, dtype=np.float64))
    pixels = np.column_stack([CAMERA_GRID * [width, height], np.ones(len(CAMERA_GRID))])
    projected = pixels @ image_to_pitch.T
    with np.errstate(divide="ignore", invalid="ignore"):
        units = projected[:, :2] / projected[:, 2:3] / PITCH_SCALE
    # A homography is defined up to sign: a point in front of the camera has the same sign of w
    # as the image centre.
    in_front = np.sign(projected[:, 2]) == np.sign(projected[4, 2])
    usable = in_front & np.isfinite(units).all(axis=1) & (np.abs(units) <= MAX_UNITS).all(axis=1)
    return np.where(usable[:, None], units, 0.0).astype(np.float32), usable


def homography_from_points(units: np.ndarray, width: float, height: float) -> np.ndarray | None:
    """Pitch-metres -> pixels homography from the head's ``(9, 2)`` output (least-squares DLT).

    Returns ``None`` when the points are degenerate (an untrained head puts them all in one place).
    """
    pitch = np.asarray(units, dtype=np.float64).reshape(-1, 2) * PITCH_SCALE
    image = CAMERA_GRID * [width, height]
    # Normalise both sides (Hartley) so the DLT is well conditioned in metres and pixels.
    def conditioner(points: np.ndarray) -> np.ndarray:
        centre = points.mean(axis=0)
        spread = np.sqrt(((points - centre) ** 2).sum(axis=1)).mean()
        if not np.isfinite(spread) or spread < 1e-6:
            raise np.linalg.LinAlgError("degenerate points")
        s = np.sqrt(2) / spread
        return np.array([[s, 0, -s * centre[0]], [0, s, -s * centre[1]], [0, 0, 1]])

    try:
        t_pitch, t_image = conditioner(pitch), conditioner(image)
        p = np.column_stack([pitch, np.ones(len(pitch))]) @ t_pitch.T
        q = np.column_stack([image, np.ones(len(image))]) @ t_image.T
        rows = []
        for (x, y, _), (u, v, _) in zip(p, q):
            rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
            rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
        _, singular, vt = np.linalg.svd(np.asarray(rows))
        if singular[-2] < 1e-9 * singular[0]:
            return None
        h = np.linalg.inv(t_image) @ vt[-1].reshape(3, 3) @ t_pitch
    except np.linalg.LinAlgError:
        return None
    if abs(h[2, 2]) < 1e-12:
        return None
    return h / h[2, 2]


def reprojection_errors(predicted: np.ndarray | None, truth: np.ndarray, pitch_points: np.ndarray, width: float, height: float,
                        scale: float = 1.0, miss_px: float = 1e4) -> np.ndarray:
    """Pixel distances between pitch points projected by the true and the predicted homography.

    Args:
        predicted, truth: ``(3, 3)`` pitch-metres -> pixels homographies (``predicted`` ``None``:
            no camera, every point counts ``miss_px``).
        pitch_points: ``(N, 2)`` pitch metres; only those the true camera shows are scored.
        width, height: The image the homographies map into.
        scale: Multiplies the distances (e.g. to report in pixels of a 960x540 frame).

    Returns:
        ``float64`` ``(M,)`` distances for the ``M`` points inside the true picture.
    """
    truth = np.asarray(truth, dtype=np.float64)
    truth = truth / truth[2, 2]  # both sides scaled alike, so the sign of w says "in front"
    homogeneous = np.column_stack([pitch_points, np.ones(len(pitch_points))])
    true_xyz = homogeneous @ truth.T
    with np.errstate(divide="ignore", invalid="ignore"):
        true_xy = true_xyz[:, :2] / true_xyz[:, 2:3]
    inside = (true_xyz[:, 2] > 0) & (true_xy[:, 0] >= 0) & (true_xy[:, 0] < width) & (true_xy[:, 1] >= 0) & (true_xy[:, 1] < height)
    if predicted is None:
        return np.full(int(inside.sum()), float(miss_px))
    xyz = homogeneous[inside] @ np.asarray(predicted, dtype=np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = xyz[:, :2] / xyz[:, 2:3]
    error = np.linalg.norm(xy - true_xy[inside], axis=1) * scale
    behind = np.sign(xyz[:, 2]) != np.sign(true_xyz[inside, 2])
    return np.where(np.isfinite(error) & ~behind, np.minimum(error, miss_px), miss_px)
