"""One frame's camera from noisy keypoints and lines, and the reasons it gives when it fails."""

from __future__ import annotations

import math

import numpy as np

from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.calibration.results import CalibrationResult, pitch_position
from soccerfactory.curation.calibration.solver import calibrate_frame
from soccerfactory.curation.pitch import PitchModel

PITCH = PitchModel()
WIDTH, HEIGHT = 640, 360


def test_calibrate_frame_from_noisy_keypoints(clip):
    """1 px of keypoint noise: about 1 px of reprojection error and athletes within ~0.25 m."""
    rng = np.random.default_rng(0)
    errors, pitch_errors, truth_errors = [], [], []
    for frame in range(len(clip.frames)):
        obs = clip.observed_keypoints(frame, 1.0, rng)
        result = calibrate_frame(obs, (WIDTH, HEIGHT), PITCH)
        assert result.valid, result.reason
        assert result.n_keypoints == len(obs) and result.n_lines == 0
        np.testing.assert_allclose(result.homography, result.camera.homography)
        errors.append(result.reprojection_error_px)
        boxes, positions = clip.athlete_boxes(frame)
        pitch_errors.append(np.linalg.norm(pitch_position(result, boxes) - positions, axis=1))
        exact = CalibrationResult.from_camera(clip.camera(frame), 0.0, 0, 0)
        truth_errors.append(np.linalg.norm(pitch_position(exact, boxes) - positions, axis=1))
    # Measured: median 1.0 px, median athlete error 0.24 m; with the exact camera 0.20 m (the box
    # bottom-centre is not exactly the feet).
    assert 0.5 < np.median(errors) < 1.6 and max(errors) < 2.5
    assert np.median(np.concatenate(pitch_errors)) < 0.4
    assert np.median(np.concatenate(pitch_errors)) < np.median(np.concatenate(truth_errors)) + 0.15


def test_calibrate_frame_explains_why_it_fails(clip):
    obs = clip.observed_keypoints(0, 0.0, np.random.default_rng(0))
    few = PitchObservations(obs.keypoints[:3], obs.keypoint_ids[:3], obs.keypoint_confidence[:3])
    result = calibrate_frame(few, (WIDTH, HEIGHT), PITCH)
    assert not result.valid and result.camera is None and math.isnan(result.reprojection_error_px)
    assert "too few keypoints" in result.reason and "no prior" in result.reason
    assert np.isnan(pitch_position(result, np.array([[10.0, 10.0, 20.0, 40.0]]))).all()

    goal_line = PITCH.keypoints[24:30]
    on_a_line = PitchObservations(clip.camera(0).project(goal_line), np.arange(24, 30), np.ones(6))
    result = calibrate_frame(on_a_line, (WIDTH, HEIGHT), PITCH)
    assert not result.valid and "one line" in result.reason

    # Two keypoints 50 px off: RANSAC leaves them out.
    moved = obs.keypoints.copy()
    moved[[1, 4]] += [[40.0, -30.0], [-35.0, 25.0]]
    result = calibrate_frame(PitchObservations(moved, obs.keypoint_ids, obs.keypoint_confidence), (WIDTH, HEIGHT), PITCH)
    assert result.valid and result.n_keypoints == len(obs) - 2 and result.reprojection_error_px < 0.1

    # Keypoints swapped left/right: a homography fits them but no camera above the pitch does, or
    # the error is far above the threshold.
    swapped = PitchObservations(obs.keypoints, (obs.keypoint_ids + 16) % 32, obs.keypoint_confidence)
    result = calibrate_frame(swapped, (WIDTH, HEIGHT), PITCH)
    assert not result.valid and result.reason


def test_calibrate_frame_refines_a_prior_with_lines(clip, line_error_px, panned):
    """Lines alone pull a camera 1 degree of pan and 3 % of focal length off back onto the truth."""
    rng = np.random.default_rng(1)
    for frame in (2, 7):
        truth = clip.camera(frame)
        prior = panned(truth, 1.0, 1.03)
        before = line_error_px(prior, truth)
        lines = [(name, pixels + rng.normal(0, 1.0, pixels.shape)) for name, pixels in clip.gt_lines(frame)]
        result = calibrate_frame(PitchObservations.empty().with_lines(lines), (WIDTH, HEIGHT), PITCH, prior=prior)
        assert result.valid, result.reason
        after = line_error_px(result.camera, truth)
        # Measured: 24 px before, 0.2-0.4 px after.
        assert before > 15 and after < 1.0
        assert result.n_keypoints == 0 and result.n_lines >= 4
        assert 0.8 < result.reprojection_error_px < 1.3  # the 1 px of noise
    nothing = calibrate_frame(PitchObservations.empty(), (WIDTH, HEIGHT), PITCH, prior=clip.camera(0))
    assert not nothing.valid and "no keypoints or lines" in nothing.reason


def test_frame_whose_every_observation_is_an_outlier_is_invalid_not_an_error():
    """When the outlier test removes every keypoint and line there is nothing left to refine: the
    frame must come out invalid with a reason, not raise and stop the whole clip."""
    from soccerfactory.curation.calibration.solver import fit_camera
    from soccerfactory.curation.pitch import PitchModel
    from soccerfactory.curation.testing import make_camera

    camera = make_camera()
    pitch = PitchModel()
    world = pitch.keypoints[[0, 5, 13, 16, 24, 29]]
    image = camera.project(world) + np.random.default_rng(0).normal(0, 5, (6, 2))
    result, _ = fit_camera(camera, world, image, (), pitch, False, outlier_px=1e-6, label="prior")
    assert not result.valid and "outlier" in result.reason
