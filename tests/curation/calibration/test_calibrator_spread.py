"""The Calibrator measures how much of the frame each camera rests on (CalibrationResult.spread),
the evidence the view gates read; refusing a camera keeps that evidence and says why."""

from __future__ import annotations

import math

import numpy as np
import pytest

from soccerfactory.curation.calibration.builders import build_calibrator
from soccerfactory.curation.calibration.calibrator import Calibrator
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import Frames

PITCH = PitchModel()


class TruthKeypoints:
    """The rendered clip's visible keypoints, exact."""

    def __init__(self, clip) -> None:
        self.clip = clip

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        rng = np.random.default_rng(0)
        return [self.clip.observed_keypoints(int(f), 0.0, rng) for f in frames.frame_index]


def test_valid_cameras_rest_on_keypoints_and_lines_spread_over_the_frame(clip):
    lines = build_calibrator("lines-classic", pitch=PITCH).line_detector
    results = Calibrator(TruthKeypoints(clip), lines, PITCH)(clip.frames[:4])
    assert all(r.valid for r in results)
    assert all(0.1 < r.spread <= 1 for r in results), [r.spread for r in results]
    keypoints_only = Calibrator(TruthKeypoints(clip), None, PITCH)(clip.frames[:1])[0]
    assert keypoints_only.valid and 0 < keypoints_only.spread < results[0].spread


def test_an_invalid_result_measures_what_there_was_to_go_on(clip):
    one_keypoint = PitchObservations(np.float32([[100, 200]]), [5], [1.0])

    class OneKeypoint:
        def __call__(self, frames: Frames) -> list[PitchObservations]:
            return [one_keypoint] * len(frames)

    (result,) = Calibrator(OneKeypoint(), None, PITCH)(clip.frames[:1])
    assert not result.valid and result.spread == 0.0


def test_refusing_a_camera_keeps_its_evidence_and_needs_a_reason(clip):
    valid = CalibrationResult.from_camera(clip.camera(0), 1.5, 9, 3)
    assert math.isnan(valid.spread)
    refused = CalibrationResult(valid.camera, valid.homography, 1.5, 9, 3, True, "", 0.25).refused("camera refused: view other")
    assert not refused.valid and refused.camera is None and math.isnan(refused.reprojection_error_px)
    assert (refused.n_keypoints, refused.n_lines, refused.spread, refused.reason) == (9, 3, 0.25, "camera refused: view other")
    with pytest.raises(ValueError, match="needs the reason"):
        valid.refused("")
    with pytest.raises(ValueError, match="spread must be NaN or in"):
        CalibrationResult.invalid("x", spread=1.5)
