"""Validation, immutability and projection maths of the calibrated :class:`Camera`."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.testing import make_camera


# --------------------------------------------------------------------------- Camera


def _pitch_points(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([-52.5, -34.0], [52.5, 34.0], size=(n, 2))


def test_camera_fields():
    cam = make_camera()
    assert cam.K.dtype == np.float64 and cam.R.dtype == np.float64 and cam.position.dtype == np.float64
    assert cam.image_size == (1280, 720) and (cam.width, cam.height) == (1280, 720)
    assert cam.dist.shape == (0,)
    np.testing.assert_allclose(cam.position, [0.0, 59.0, -22.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cam.position = np.zeros(3)
    with pytest.raises(ValueError):
        cam.R[0, 0] = 2.0


def test_homography_agrees_with_project_on_the_pitch():
    cam = make_camera()
    H = cam.homography
    assert H[2, 2] == pytest.approx(1.0)
    xy = _pitch_points()
    homog = np.column_stack([xy, np.ones(len(xy))]) @ H.T
    via_h = homog[:, :2] / homog[:, 2:]
    np.testing.assert_allclose(via_h, cam.project(xy), atol=1e-6)
    np.testing.assert_allclose(cam.project(np.column_stack([xy, np.zeros(len(xy))])), cam.project(xy))


def test_image_to_pitch_inverts_homography():
    cam = make_camera()
    xy = _pitch_points()
    np.testing.assert_allclose(cam.image_to_pitch(cam.project(xy)), xy, atol=1e-6)


def test_image_to_pitch_above_horizon_is_nan():
    cam = make_camera()
    # Straight up from the image centre, far above the frame: the ray climbs into the sky.
    out = cam.image_to_pitch([[640.0, -5000.0], [640.0, 700.0]])
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


def test_look_at_centres_target_and_keeps_up_up():
    cam = make_camera()
    np.testing.assert_allclose(cam.project([[0.0, 0.0, 0.0]]), [[640.0, 360.0]], atol=1e-9)
    above = cam.project([[0.0, 0.0, -2.0]])[0]  # 2 m above the centre mark (z is down)
    assert above[1] < 360.0 and above[0] == pytest.approx(640.0)
    right_goal = cam.project([[52.5, 0.0, 0.0]])[0]
    assert right_goal[0] > 640.0  # +x is to the right as seen from the main camera
    near_line = cam.project([[0.0, 34.0, 0.0]])[0]
    assert near_line[1] > 360.0  # the near touchline is lower in the image
    target = np.array([10.0, -5.0, 0.0])
    other = Camera.look_at((-30.0, 50.0, -15.0), target, 1200.0, (1920, 1080))
    np.testing.assert_allclose(other.project(target[None]), [[960.0, 540.0]], atol=1e-9)
    # No roll: a vertical pole at the target stays vertical in the image.
    pole = other.project(np.array([target, target + (0, 0, -3.0)]))
    assert pole[0, 0] == pytest.approx(pole[1, 0]) and pole[1, 1] < pole[0, 1]


def test_look_at_degenerate():
    with pytest.raises(ValueError, match="differ"):
        Camera.look_at((0, 0, -10), (0, 0, -10), 1000.0, (640, 480))
    with pytest.raises(ValueError, match="vertical"):
        Camera.look_at((0, 0, -10), (0, 0, 0), 1000.0, (640, 480))


def test_depth_sign():
    cam = make_camera()
    depth = cam.depth([[0.0, 0.0, 0.0], [0.0, 80.0, -22.0], [0.0, 59.0, -22.0]])
    assert depth[0] == pytest.approx(np.linalg.norm(cam.position))
    assert depth[1] < 0  # behind the camera
    assert depth[2] == pytest.approx(0.0, abs=1e-9)


def test_zero_distortion_equals_pinhole():
    pinhole = make_camera()
    zero = make_camera(dist=[0.0, 0.0, 0.0, 0.0, 0.0])
    pts = np.column_stack([_pitch_points(), -np.linspace(0, 3, 50)])
    np.testing.assert_array_equal(zero.project(pts), pinhole.project(pts))


def test_distortion_matches_opencv_and_round_trips():
    cam = make_camera(dist=[-0.2, 0.05, 0.001, -0.002, 0.01])
    pts = np.column_stack([_pitch_points(), -np.linspace(0, 3, 50)])
    cv2 = pytest.importorskip("cv2")
    rvec, _ = cv2.Rodrigues(cam.R)
    expected, _ = cv2.projectPoints(pts, rvec, -cam.R @ cam.position, cam.K, cam.dist)
    np.testing.assert_allclose(cam.project(pts), expected[:, 0], atol=1e-6)
    xy = _pitch_points(n=200)
    px = cam.project(xy)
    inside = (px >= 0).all(axis=1) & (px[:, 0] < cam.width) & (px[:, 1] < cam.height)
    assert inside.sum() > 20
    np.testing.assert_allclose(cam.image_to_pitch(px[inside]), xy[inside], atol=1e-6)
    # Far outside the frame the polynomial folds back and cannot be inverted: NaN, not a wrong point.
    far = cam.image_to_pitch(cam.project([[52.5, 34.0]]))
    assert np.isnan(far).all()


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (dict(K=np.eye(2)), r"K must have shape \(3, 3\)"),
        (dict(K=np.diag([-1.0, 1.0, 1.0])), "fx, fy > 0"),
        (dict(K=[[1000, 0, 640], [0, 1000, 360], [0, 0, 2]]), r"last row \[0, 0, 1\]"),
        (dict(K=[[1000, 0, 640], [0, 1000, 360], [0.1, 0, 1]]), r"last row \[0, 0, 1\]"),
        (dict(K=[[1000, 0, np.nan], [0, 1000, 360], [0, 0, 1]]), "K must be finite"),
        (dict(R=np.eye(3) * 1.01), "R must be orthonormal"),
        (dict(R=np.diag([1.0, 1.0, -1.0])), "det \\+1"),
        (dict(R=np.eye(4)), r"R must have shape \(3, 3\)"),
        (dict(position=[0.0, 1.0]), r"position must have shape \(3,\)"),
        (dict(position=[0.0, np.inf, 1.0]), "position must be finite"),
        (dict(image_size=(1280,)), "image_size must be"),
        (dict(image_size=(1280, 0)), "image_size must be positive"),
        (dict(image_size=(1280.5, 720)), "image_size must be"),
        (dict(dist=[0.1, 0.2, 0.3]), "dist must have 0, 4 or 5 coefficients"),
    ],
)
def test_camera_validation(override, match):
    cam = make_camera()
    fields = dict(K=cam.K, R=cam.R, position=cam.position, image_size=cam.image_size)
    fields.update(override)
    with pytest.raises(ValueError, match=match):
        Camera(**fields)


def test_camera_rejects_bad_point_shapes():
    cam = make_camera()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        cam.project(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        cam.image_to_pitch(np.zeros(2))
