"""The per-frame measurements of a frame's view: pitch area shown, support spread, grass share and
athlete scale, checked against exact cameras and boxes of a rendered clip."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.calibration.view_evidence import (
    athlete_height_ratio,
    grass_share,
    support_spread,
    visible_pitch_m2,
)
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.testing import make_camera

PITCH = PitchModel()


def test_a_camera_high_above_the_centre_sees_the_whole_pitch_and_one_facing_the_sky_none():
    above = Camera.look_at((0.0, 0.1, -200.0), (0.0, 0.0, 0.0), 400.0, (1280, 720))
    assert visible_pitch_m2(above, PITCH) == pytest.approx(105 * 68, rel=1e-6)
    sky = Camera.look_at((0.0, 60.0, -20.0), (0.0, 200.0, -300.0), 1500.0, (1280, 720))
    assert visible_pitch_m2(sky, PITCH) == 0.0


def test_zooming_in_shows_less_pitch_by_about_the_square_of_the_zoom():
    # Both views inside the pitch (a wider one is cut by the touchlines and goal lines).
    wide = make_camera(focal_px=2400.0)
    narrow = make_camera(focal_px=4800.0)
    ratio = visible_pitch_m2(wide, PITCH) / visible_pitch_m2(narrow, PITCH)
    assert 3.5 < ratio < 4.5  # 4 for a flat patch; the oblique view stretches the far side a little


def test_the_area_matches_a_dense_sampling_of_the_image(clip):
    camera = clip.camera(0)
    u, v = np.meshgrid(np.arange(0.5, camera.width, 2.0), np.arange(0.5, camera.height, 2.0))
    ground = camera.image_to_pitch(np.column_stack([u.ravel(), v.ravel()]))
    on = np.isfinite(ground).all(axis=1) & (np.abs(ground[:, 0]) <= 52.5) & (np.abs(ground[:, 1]) <= 34)
    # The pixels' footprints fill the visible pitch: sum the area each pixel covers there.
    pixel_area = np.abs(np.linalg.det(_jacobian(camera, np.column_stack([u.ravel(), v.ravel()])[on]))) * 4.0
    assert visible_pitch_m2(camera, PITCH) == pytest.approx(pixel_area.sum(), rel=0.03)


def _jacobian(camera: Camera, pixels: np.ndarray) -> np.ndarray:
    dx = camera.image_to_pitch(pixels + [0.5, 0]) - camera.image_to_pitch(pixels - [0.5, 0])
    dy = camera.image_to_pitch(pixels + [0, 0.5]) - camera.image_to_pitch(pixels - [0, 0.5])
    return np.stack([dx, dy], axis=2)


def test_one_line_spans_nothing_and_the_four_corners_span_the_frame():
    line = np.column_stack([np.linspace(0, 1280, 50), np.linspace(700, 650, 50)])
    assert support_spread(line, (1280, 720)) == pytest.approx(0.0, abs=1e-6)
    corners = np.array([[0, 0], [1280, 0], [1280, 720], [0, 720], [640, 360]])
    assert support_spread(corners, (1280, 720)) == pytest.approx(1.0)
    assert support_spread(np.zeros((2, 2)), (1280, 720)) == 0.0


def test_grass_share_of_a_broadcast_frame_and_of_noise(clip):
    assert grass_share(clip.frames.images[0]) > 0.6
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    assert grass_share(noise) < 0.1


def test_athletes_are_their_height_through_the_true_camera_and_not_through_a_zoomed_one(clip, panned):
    boxes, _ = clip.athlete_boxes(0)
    truth = athlete_height_ratio(clip.camera(0), boxes)
    assert truth.shape == (len(boxes),)
    assert 0.85 < np.nanmedian(truth) < 1.2
    zoomed = panned(clip.camera(0), 0.0, 3.0)  # a camera that thinks the frame is 3x zoomed
    assert np.nanmedian(athlete_height_ratio(zoomed, boxes)) < 0.5
