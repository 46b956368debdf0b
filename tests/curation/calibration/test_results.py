"""CalibrationResult invariants and athletes placed on the pitch through a camera."""

from __future__ import annotations

import math

import numpy as np
import pytest

from soccerfactory.curation.calibration.results import CalibrationResult, pitch_position
from soccerfactory.curation.testing import make_camera


def test_result_invariants():
    camera = make_camera()
    good = CalibrationResult.from_camera(camera, 0.7, 6, 2)
    np.testing.assert_allclose(good.homography, camera.homography)
    bad = CalibrationResult.invalid("too few points")
    assert bad.camera is None and bad.homography is None and math.isnan(bad.reprojection_error_px)
    with pytest.raises(ValueError, match="reason"):
        CalibrationResult(None, None, float("nan"), 0, 0, False, "")
    with pytest.raises(ValueError, match="no camera"):
        CalibrationResult(camera, camera.homography, float("nan"), 0, 0, False, "bad")
    with pytest.raises(ValueError, match="needs a Camera"):
        CalibrationResult(None, np.eye(3), 1.0, 0, 0, True)


def test_pitch_position_inverts_the_camera():
    camera = make_camera(dist=(-0.1, 0.0, 0.0, 0.0))
    feet = np.array([[0.0, 0.0], [20.0, -15.0], [-35.0, 25.0]])
    pixels = camera.project(feet)
    boxes = np.column_stack([pixels[:, 0] - 6, pixels[:, 1] - 40, pixels[:, 0] + 6, pixels[:, 1]])
    result = CalibrationResult.from_camera(camera, 0.5, 8, 0)
    placed = pitch_position(result, boxes)
    assert placed.dtype == np.float32 and placed.shape == (3, 2)
    np.testing.assert_allclose(placed, feet, atol=1e-3)
    assert pitch_position(result, np.zeros((0, 4))).shape == (0, 2)
    with pytest.raises(ValueError, match="xyxy"):
        pitch_position(result, np.zeros((3, 3)))
