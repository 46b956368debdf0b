"""The camera head's grid parametrisation: targets from real curated cameras, and back."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.model.camera import CAMERA_GRID, camera_points, homography_from_points, reprojection_errors


@pytest.fixture(scope="module")
def curated_homography(catalog):
    _, clip, tables = catalog
    cameras = tables["cameras"].to_pandas()
    valid = cameras[cameras.valid_camera]
    return np.asarray(valid.homography.iloc[len(valid) // 2], dtype=np.float64).reshape(3, 3), clip.width, clip.height


def test_the_grid_gives_back_the_camera_it_came_from(curated_homography):
    homography, width, height = curated_homography
    units, usable = camera_points(homography, width, height)
    assert units.shape == (len(CAMERA_GRID), 2) and units.dtype == np.float32 and usable.all()
    assert np.abs(units).max() < 1.5  # scaled to about [-1, 1]: every output in the same range
    fitted = homography_from_points(units, width, height)
    errors = reprojection_errors(fitted, homography, PitchModel().keypoints[:, :2], width, height)
    assert len(errors) >= 4 and errors.max() < 0.05  # float32 targets: sub-pixel, not exact


def test_a_wrong_grid_scores_its_error_in_pixels(curated_homography):
    homography, width, height = curated_homography
    units, _ = camera_points(homography, width, height)
    shifted = homography_from_points(units + np.array([2.0 / 52.5, 0.0], np.float32), width, height)  # 2 m along the pitch
    errors = reprojection_errors(shifted, homography, PitchModel().keypoints[:, :2], width, height)
    assert 1.0 < np.median(errors) < 100.0
    doubled = reprojection_errors(shifted, homography, PitchModel().keypoints[:, :2], width, height, scale=2.0)
    assert np.allclose(doubled, 2 * errors)


def test_a_degenerate_grid_has_no_camera_and_counts_as_a_miss(curated_homography):
    homography, width, height = curated_homography
    assert homography_from_points(np.zeros((9, 2), np.float32), width, height) is None
    errors = reprojection_errors(None, homography, PitchModel().keypoints[:, :2], width, height, miss_px=1e4)
    assert len(errors) and (errors == 1e4).all()


def test_grid_points_above_the_horizon_are_masked():
    # A camera looking along the pitch from 10 m up: the top of the picture is sky.
    f, width, height = 800.0, 1280, 720
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
    tilt = np.deg2rad(3.0)
    # World: pitch x forward, y left, z up; camera looks along +x, tilted down by `tilt`.
    R = np.array([[0, -1, 0], [np.sin(tilt), 0, -np.cos(tilt)], [np.cos(tilt), 0, np.sin(tilt)]])
    t = -R @ np.array([-60.0, 0.0, 10.0])
    homography = K @ np.column_stack([R[:, 0], R[:, 1], t])
    units, usable = camera_points(homography, width, height)
    assert usable[-3:].all() and not usable[:3].any()  # bottom row on the grass, top row in the sky
    assert (units[~usable] == 0).all()
