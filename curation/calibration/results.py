"""The camera of one frame, or why there is none (:class:`CalibrationResult`), and what it says
about where athletes stand (:func:`pitch_position`, :func:`pitch_position_uncertainty`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from soccerfactory.curation.arrays import readonly
from soccerfactory.curation.camera import Camera

__all__ = ["CalibrationResult", "pitch_position", "pitch_position_uncertainty"]


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
            threshold, implausible camera, the frame's view, ...).
        spread: Share of the image, in ``[0, 1]``, inside the convex hull of what the result
            rests on: the inlier keypoints and line pixels of a valid camera, every detected
            keypoint and line pixel of an invalid one; NaN when not measured. One line, however
            long, spans none (see :func:`~soccerfactory.curation.calibration.view_evidence.support_spread`).
    """

    camera: Camera | None
    homography: np.ndarray | None
    reprojection_error_px: float
    n_keypoints: int
    n_lines: int
    valid: bool
    reason: str = ""
    spread: float = float("nan")

    def __post_init__(self) -> None:
        owner = "CalibrationResult"
        spread = float(self.spread)
        if not (math.isnan(spread) or 0 <= spread <= 1):
            raise ValueError(f"{owner}.spread must be NaN or in [0, 1], got {self.spread!r}")
        object.__setattr__(self, "spread", spread)
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
            object.__setattr__(self, "homography", readonly(H))
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
    def invalid(cls, reason: str, n_keypoints: int = 0, n_lines: int = 0, spread: float = float("nan")) -> CalibrationResult:
        return cls(None, None, float("nan"), n_keypoints, n_lines, False, reason, spread)

    def refused(self, reason: str) -> CalibrationResult:
        """This result without its camera: invalid for ``reason``, its counts and spread kept."""
        if not reason:
            raise ValueError("CalibrationResult.refused needs the reason the camera is refused")
        return CalibrationResult.invalid(reason, self.n_keypoints, self.n_lines, self.spread)

    @classmethod
    def from_camera(
        cls, camera: Camera, reprojection_error_px: float, n_keypoints: int, n_lines: int
    ) -> CalibrationResult:
        return cls(camera, camera.homography, reprojection_error_px, n_keypoints, n_lines, True, "")



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
