"""annotate_spatial with ``calibrate.propagate``: a rendered main-camera shot whose calibrator
solves only its first frames gets cameras on the others, carried by the image motion, close to
the true ones, with the view reason saying so; off, those frames stay without a camera."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.config import CalibrateConfig, DecodeConfig
from soccerfactory.curation.pipeline import annotate_spatial
from soccerfactory.curation.quality.clips import clip_of
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.types import Frames
from tests.curation.test_pipeline_views import _stages, _truth


class SolvesFirst:
    """A calibrator that finds the true camera on the first ``n`` frames of the clip only."""

    def __init__(self, cameras: dict[int, Camera], n: int) -> None:
        self.cameras, self.n = cameras, n

    def __call__(self, frames: Frames) -> list[CalibrationResult]:
        return [dataclasses.replace(CalibrationResult.from_camera(self.cameras[f], 1.0, 8, 4), spread=0.4) if f < self.n
                else CalibrationResult.invalid("too few keypoints on the pitch plane (1, need 4) and no prior camera")
                for f in frames.frame_index.tolist()]


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("propagate") / "main"
    render_clip(SynthConfig(seconds=1.2, seed=11, width=640, height=360), root)
    boxes, _, cameras = _truth(root)
    return clip_of(root), boxes, cameras


@pytest.mark.slow
def test_cameras_are_carried_over_the_frames_the_calibrator_missed(shot):
    clip, boxes, cameras = shot
    stages = _stages(boxes, lambda: SolvesFirst(cameras, 6))
    off = annotate_spatial(clip, stages, DecodeConfig(batch_size=8), calibrate=CalibrateConfig(propagate=False))
    assert [r.valid for r in off.calibrations] == [f < 6 for f in off.frame_index.tolist()]
    on = annotate_spatial(clip, stages, DecodeConfig(batch_size=8), calibrate=CalibrateConfig(propagate=True))
    carried = [i for i, f in enumerate(on.frame_index.tolist()) if f >= 6]
    limit = CalibrateConfig().propagate_max_frames
    assert all(on.calibrations[i].valid for i in carried[:limit])
    for i in carried[:limit]:
        frame = int(on.frame_index[i])
        assert f"camera propagated from frame 5 by image motion over {frame - 5} frames" in on.views.reason[i]
        feet = np.array([[160.0, 300.0], [320.0, 250.0], [480.0, 300.0]])
        error = np.linalg.norm(on.calibrations[i].camera.image_to_pitch(feet) - cameras[frame].image_to_pitch(feet), axis=1)
        assert error.max() < 0.5, (frame, error)
    # Positions follow: athletes on carried frames are placed, as on solved ones.
    rows = np.isin(on.tracks.frame_index, on.frame_index[carried[:limit]])
    assert rows.any() and np.isfinite(on.tracks.data["pitch_xy"][rows]).all()
    assert "motion" in on.stage_seconds
