from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.pitch import KEYPOINT_FLIP_INDEX, KEYPOINT_NAMES, LINE_NAMES, PitchModel
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

# The football-field labels' flip_idx (shared/data/football-field/README.md).
DATASET_FLIP_INDEX = [24, 25, 26, 27, 28, 29, 22, 23, 21, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 8, 6, 7, 0, 1, 2, 3, 4, 5, 31, 30]


def test_flip_index_maps_each_keypoint_to_its_mirror():
    pitch = PitchModel()
    mirrored = pitch.keypoints * np.array([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirrored, pitch.keypoints[list(KEYPOINT_FLIP_INDEX)], atol=1e-12)
    assert list(KEYPOINT_FLIP_INDEX[:32]) == DATASET_FLIP_INDEX


@pytest.mark.parametrize(
    "index, expected_from_left_far_corner",
    [
        (0, (0.0, 0.0)), (5, (0.0, 68.0)), (1, (0.0, 13.84)), (2, (0.0, 24.84)), (6, (5.5, 24.84)),
        (8, (11.0, 34.0)), (9, (16.5, 13.84)), (10, (16.5, 34.0 - 7.3125)), (11, (16.5, 34.0 + 7.3125)), (12, (16.5, 54.16)), (13, (52.5, 0.0)), (14, (52.5, 24.85)),
        (21, (94.0, 34.0)), (29, (105.0, 68.0)), (30, (43.35, 34.0)), (31, (61.65, 34.0)),
    ],
)
def test_dataset_keypoints_sit_where_the_laws_put_them(index, expected_from_left_far_corner):
    """The dataset measures x from the left goal line and y from the far touchline."""
    x, y, z = PitchModel().keypoints[index]
    assert (x + 52.5, y + 34.0) == pytest.approx(expected_from_left_far_corner, abs=1e-4) and z == 0


FIELD_VALID = DEFAULT_DATA_ROOT / "football-field" / "valid"


@pytest.mark.skipif(not FIELD_VALID.is_dir(), reason="needs ../shared/data/football-field")
def test_real_labels_fit_the_pitch_model_point_by_point():
    """Each labelled keypoint, predicted by the homography of the frame's other labels, lands
    within a few pixels (960x540): the 32 definitions match what the annotators clicked."""
    import cv2

    world = PitchModel().keypoints[:32, :2]
    misses: dict[int, list[float]] = {}
    for label in sorted((FIELD_VALID / "labels").glob("*.txt")):
        keypoints = np.loadtxt(label).reshape(-1)[5:].reshape(32, 3)
        seen = np.flatnonzero(keypoints[:, 2] > 0)
        pixels = keypoints[:, :2] * [960, 540]
        for left_out in seen:
            others = seen[seen != left_out]
            if len(others) < 5:
                continue
            homography, _ = cv2.findHomography(world[others], pixels[others], 0)
            predicted = cv2.perspectiveTransform(world[[left_out]][None], homography)[0, 0]
            misses.setdefault(int(left_out), []).append(float(np.linalg.norm(predicted - pixels[left_out])))
    medians = {k: float(np.median(v)) for k, v in misses.items() if len(v) >= 5}
    assert len(medians) >= 20
    # Label noise is ~2 px; a wrong definition (the goal-area width instead of the arc ends for
    # 10, 11, 18, 19) misses by 11-19 px.
    assert max(medians.values()) < 8.0, {KEYPOINT_NAMES[k]: round(v, 1) for k, v in medians.items() if v >= 8.0}
    assert np.median(list(medians.values())) < 3.0


def test_lines_are_named_as_soccernet_and_close_on_their_keypoints():
    pitch = PitchModel(length=100, width=64)
    assert tuple(pitch.lines) == LINE_NAMES
    big_left = pitch.lines["Big rect. left main"]
    assert np.allclose(big_left[:, 0], -50 + 16.5)
    centre = pitch.lines["Circle central"]
    assert np.allclose(np.hypot(centre[:, 0], centre[:, 1]), 9.15)
    arc = pitch.lines["Circle left"]
    assert np.all(arc[:, 0] >= -50 + 16.5 - 1e-9), "the penalty arc lies outside the area"
    ends = pitch.keypoint("left_penalty_arc_far_end"), pitch.keypoint("left_penalty_arc_near_end")
    np.testing.assert_allclose([arc[0, :2], arc[-1, :2]], [e[:2] for e in ends], atol=1e-9)
    assert pitch.lines["Goal left crossbar"][:, 2].tolist() == [-2.44, -2.44], "z points down: the crossbar is at z=-2.44"


def test_sampling_keeps_end_points_and_spacing():
    samples = PitchModel().sample_lines(0.5, ("Side line top",))["Side line top"]
    assert samples[0].tolist() == [-52.5, -34.0, 0.0] and samples[-1].tolist() == [52.5, -34.0, 0.0]
    assert np.allclose(np.diff(samples[:, 0]), 0.5)


def test_unknown_names_and_sizes_are_refused_with_choices():
    with pytest.raises(KeyError, match="valid names: left_goal_line_far_corner"):
        PitchModel().keypoint("penalty_spot")
    with pytest.raises(ValueError, match="pitch width"):
        PitchModel(width=30)
    assert len(KEYPOINT_NAMES) == 45
