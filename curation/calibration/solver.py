"""One frame's camera from its observations: :func:`calibrate_frame` and the fit it judges.

Keypoints place the camera (a RANSAC homography, then refinement), a prior camera is a second
start, and lines sharpen either; the result is judged (supporting features, inlier share,
reprojection error, a plausible broadcast camera) and comes back valid or with the reason.
"""

from __future__ import annotations

import math

import numpy as np

from soccerfactory.curation.calibration.geometry import as_image_size, camera_from_homography, solve_homography
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.calibration.refinement import refine_camera
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel

__all__ = ["FIT_OPTIONS", "SOLVER_OPTIONS", "calibrate_frame", "fit_camera"]

# Points and lines are compared in pixels; these bound what a plausible broadcast camera is.
_MIN_HFOV_DEG, _MAX_HFOV_DEG = 0.5, 150.0
_MAX_CAMERA_DISTANCE_M = 1000.0


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
    width, height = as_image_size(image_size)
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
        result, score = fit_camera(
            start, world, image, obs.lines, pitch, fix_position, label=label, max_error_px=max_error_px,
            outlier_px=outlier_px, min_inlier_fraction=min_inlier_fraction, min_features=min_features, loss=loss,
            loss_scale_px=loss_scale_px, line_reject_px=line_reject_px,
        )
        rank = (0 if result.valid else 1, *score)
        if best is None or rank < best[0]:
            best = (rank, result)
    assert best is not None
    return best[1]


#: Keyword options of :func:`calibrate_frame` beyond the frame, pitch, prior and threshold: what a
#: :class:`~soccerfactory.curation.calibration.calibrator.Calibrator` passes through.
SOLVER_OPTIONS = frozenset({
    "ransac_threshold_px", "outlier_px", "min_inlier_fraction", "min_features", "loss", "loss_scale_px",
    "fix_prior_position", "line_reject_px",
})
#: The options of :func:`fit_camera` among them (the line search and line tracking pass these on).
FIT_OPTIONS = frozenset(
    {"outlier_px", "min_inlier_fraction", "min_features", "loss", "loss_scale_px", "line_reject_px"}
)


def fit_camera(
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
