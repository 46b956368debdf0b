"""Homography geometry against exact cameras: RANSAC homographies and their decomposition."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.calibration.geometry import camera_from_homography, solve_homography
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.testing import make_camera

PITCH = PitchModel()
WIDTH, HEIGHT = 640, 360


@pytest.mark.parametrize(
    "position, target, focal, size",
    [
        ((0.0, 59.0, -22.0), (0.0, 0.0, 0.0), 1500.0, (1280, 720)),  # main camera, no pan
        ((5.0, 60.0, -18.0), (-30.0, 5.0, 0.0), 2400.0, (1920, 1080)),  # panned and zoomed in
        ((-10.0, 45.0, -12.0), (35.0, -10.0, 0.0), 700.0, (640, 360)),  # low, wide, other side
        ((60.0, 0.0, -8.0), (40.0, 2.0, 0.0), 900.0, (1280, 720)),  # behind the goal
    ],
)
def test_camera_from_homography_recovers_the_exact_camera(position, target, focal, size):
    truth = make_camera(position, target, focal, size)
    camera = camera_from_homography(truth.homography * 3.7, size)  # any scale
    assert camera.K[0, 0] == pytest.approx(focal, rel=1e-9)
    np.testing.assert_allclose(camera.position, position, atol=1e-6)
    np.testing.assert_allclose(camera.R, truth.R, atol=1e-9)
    np.testing.assert_allclose(camera.K[:2, 2], (size[0] / 2, size[1] / 2))


def test_camera_from_homography_recovers_rendered_cameras(clip):
    for frame in (0, 4, 9):
        truth = clip.camera(frame)
        row = clip.cameras[clip.cameras.frame_index == frame].iloc[0]
        camera = camera_from_homography(np.reshape(row.homography, (3, 3)), (WIDTH, HEIGHT))
        assert camera.K[0, 0] == pytest.approx(truth.K[0, 0], rel=1e-8)
        np.testing.assert_allclose(camera.position, truth.position, atol=1e-6)
        np.testing.assert_allclose(camera.R, truth.R, atol=1e-8)


def test_camera_from_homography_rejects_what_no_camera_above_the_pitch_makes():
    # An affine map (no perspective) is the pitch seen face-on from infinitely far: no focal length.
    with pytest.raises(ValueError, match="focal length"):
        camera_from_homography(np.array([[10.0, 0, 320], [0, 10.0, 180], [0, 0, 1]]), (640, 360))
    # The image of a camera looking up at the pitch from below it (y flipped = mirror world).
    below = make_camera().homography @ np.diag([1.0, -1.0, 1.0])
    with pytest.raises(ValueError):
        camera_from_homography(below, (1280, 720))
    with pytest.raises(ValueError, match="finite"):
        camera_from_homography(np.full((3, 3), np.nan), (640, 360))


def test_solve_homography_is_exact_and_rejects_outliers():
    camera = make_camera()
    pitch_pts = PITCH.keypoints[:32, :2]
    image_pts = camera.project(pitch_pts)
    corrupted = image_pts.copy()
    corrupted[[3, 17, 25]] += [[80.0, -40.0], [-60.0, 90.0], [120.0, 30.0]]
    H, inliers = solve_homography(corrupted, pitch_pts)
    assert inliers.sum() == 29 and not inliers[[3, 17, 25]].any()
    np.testing.assert_allclose(H, camera.homography, rtol=1e-6, atol=1e-6)
    H4, inliers4 = solve_homography(image_pts[[0, 5, 24, 29]], pitch_pts[[0, 5, 24, 29]])
    assert inliers4.all()
    np.testing.assert_allclose(H4, camera.homography, rtol=1e-6, atol=1e-6)


def test_solve_homography_refuses_too_few_or_collinear_points():
    camera = make_camera()
    goal_line = PITCH.keypoints[:6, :2]  # six points on the left goal line
    with pytest.raises(ValueError, match="at least 4"):
        solve_homography(camera.project(goal_line[:3]), goal_line[:3])
    with pytest.raises(ValueError, match="one line"):
        solve_homography(camera.project(goal_line), goal_line)
    three_on_a_line = PITCH.keypoints[[0, 1, 2, 8], :2]
    with pytest.raises(ValueError, match="three of the four"):
        solve_homography(camera.project(three_on_a_line), three_on_a_line)
    with pytest.raises(ValueError, match="same length"):
        solve_homography(np.zeros((5, 2)), np.zeros((4, 2)))
