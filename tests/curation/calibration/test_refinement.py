"""PnL refinement against exact cameras: points, and lines through a distorted lens."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.calibration.refinement import refine_camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.testing import make_camera

PITCH = PitchModel()


def test_refine_camera_with_points_recovers_the_exact_camera(panned):
    truth = make_camera(position=(3.0, 58.0, -20.0), target=(20.0, 0.0, 0.0), focal_px=1800.0)
    world = PITCH.keypoints[[9, 10, 11, 12, 17, 18, 19, 20, 21, 22, 23, 41, 43]]  # goal-post tops too
    camera, stats = refine_camera(panned(truth, 1.5, 0.95), (world, truth.project(world)), pitch=PITCH, prior_weight=0)
    assert stats.reprojection_error_px < 1e-3 and stats.point_inliers.all()
    assert camera.K[0, 0] == pytest.approx(1800.0, rel=1e-5)
    np.testing.assert_allclose(camera.position, truth.position, atol=1e-3)


def test_refine_camera_with_lines_follows_a_distorted_lens(line_error_px, panned):
    truth = make_camera(position=(0.0, 60.0, -20.0), target=(25.0, 5.0, 0.0), focal_px=1400.0, dist=(-0.12, 0.02, 0, 0))
    lines = []
    for name, samples in PITCH.sample_lines(0.5).items():
        pixels = truth.project(samples)
        inside = (truth.depth(samples) > 0) & (pixels[:, 0] >= 0) & (pixels[:, 0] < 1280) & (pixels[:, 1] >= 0) & (pixels[:, 1] < 720)
        if inside.sum() >= 5:
            lines.append((name, pixels[inside]))
    start = panned(truth, 1.0, 1.03)
    assert line_error_px(start, truth) > 15
    camera, stats = refine_camera(start, None, lines, PITCH, fix_position=True)
    assert line_error_px(camera, truth) < 0.05 and stats.reprojection_error_px < 0.05
    np.testing.assert_array_equal(camera.dist, truth.dist)
