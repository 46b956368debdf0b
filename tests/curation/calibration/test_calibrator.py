"""The sequence Calibrator on rendered broadcast clips: tracking, keyframes, guards and smoothing.

The synthetic renderer writes the exact camera of every frame with its keypoints and line samples,
so every accuracy figure here is measured against ground truth, not against another estimate.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from soccerfactory.curation.calibration.builders import build_calibrator
from soccerfactory.curation.calibration.calibrator import Calibrator
from soccerfactory.curation.calibration.lines import LinesClassicDetector
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.calibration.results import CalibrationResult, pitch_position
from soccerfactory.curation.calibration.solver import FIT_OPTIONS, SOLVER_OPTIONS, calibrate_frame, fit_camera
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import make_camera
from soccerfactory.curation.types import Frames

PITCH = PitchModel()
WIDTH, HEIGHT = 640, 360


class GroundTruthKeypoints:
    """A PitchFeatureDetector that reports a rendered clip's visible keypoints with pixel noise."""

    def __init__(self, clip, sigma: float = 1.0, seed: int = 0) -> None:
        self.clip, self.sigma, self.rng = clip, sigma, np.random.default_rng(seed)

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        return [self.clip.observed_keypoints(int(f), self.sigma, self.rng) for f in frames.frame_index]


def test_lines_classic_tracks_the_camera_from_one_known_frame(clip, line_error_px):
    """From the exact camera of frame 0, lines alone calibrate frames 1-9 to a fraction of a pixel."""
    calibrator = build_calibrator("lines-classic", pitch=PITCH, initial_camera=clip.camera(0))
    results = calibrator(clip.frames[1:])
    errors, shifts = [], []
    for frame, result in enumerate(results, start=1):
        assert result.valid, (frame, result.reason)
        errors.append(line_error_px(result.camera, clip.camera(frame)))
        boxes, _ = clip.athlete_boxes(frame)
        exact = CalibrationResult.from_camera(clip.camera(frame), 0.0, 0, 0)
        shifts.append(np.linalg.norm(pitch_position(result, boxes) - pitch_position(exact, boxes), axis=1))
    # Measured: median 0.27 px, max 0.46 px; athletes within 3 cm (median) of where the exact
    # camera puts them (90-150 ms per frame on 2 cores: a benchmark's figure, not a test's).
    assert np.median(errors) < 0.6 and max(errors) < 1.2
    assert np.median(np.concatenate(shifts)) < 0.1
    # A fresh calibrator for the next clip shares the backends and starts over.
    again = calibrator.fresh()
    assert again.line_detector is calibrator.line_detector
    for first, second in zip(results, again(clip.frames[1:3])):
        np.testing.assert_allclose(second.homography, first.homography)


def test_calibrator_keypoints_and_lines(clip, line_error_px):
    """Keypoints with 1 px noise place the camera; lines then cut its error by about two thirds."""
    keypoints_only = Calibrator(GroundTruthKeypoints(clip), None, PITCH)(clip.frames)
    with_lines = Calibrator(GroundTruthKeypoints(clip), LinesClassicDetector(PITCH), PITCH)(clip.frames)
    assert all(r.valid for r in keypoints_only + with_lines)
    plain = [line_error_px(r.camera, clip.camera(i)) for i, r in enumerate(keypoints_only)]
    refined = [line_error_px(r.camera, clip.camera(i)) for i, r in enumerate(with_lines)]
    # Measured: median 0.98 px with keypoints only, 0.35 px with lines.
    assert np.median(refined) < 0.6 and np.median(refined) < 0.7 * np.median(plain)
    assert all(r.n_lines >= 4 for r in with_lines)


class CountingDetector(GroundTruthKeypoints):
    """Ground-truth keypoints that remember which frames they were asked for."""

    def __init__(self, clip, **kwargs) -> None:
        super().__init__(clip, **kwargs)
        self.asked: list[int] = []

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        self.asked.extend(int(f) for f in frames.frame_index)
        return super().__call__(frames)


def test_calibrator_keyframes_track_between_with_lines(clip, line_error_px):
    every = CountingDetector(clip)
    Calibrator(every, LinesClassicDetector(PITCH), PITCH)(clip.frames)
    assert every.asked == list(range(10))
    keyframes = CountingDetector(clip)
    results = Calibrator(keyframes, LinesClassicDetector(PITCH), PITCH, keyframe_every=5)(clip.frames)
    # Keypoints on frames 0 and 5 (plus any frame whose tracking slipped), lines in between.
    assert {0, 5} <= set(keyframes.asked) and len(keyframes.asked) <= 5
    assert all(r.valid for r in results)
    assert np.median([line_error_px(r.camera, clip.camera(i)) for i, r in enumerate(results)]) < 1.0
    with pytest.raises(ValueError, match="keyframe_every"):
        Calibrator(keyframes, LinesClassicDetector(PITCH), PITCH, keyframe_every=0)


def test_calibrator_resolves_from_keypoints_when_tracking_slips(clip, line_error_px, panned):
    detector = CountingDetector(clip)
    # A prior far off the true camera: line tracking fails or fits badly, so keypoints are asked at once.
    wrong = panned(clip.camera(0), 6.0, 1.3)
    calibrator = Calibrator(detector, LinesClassicDetector(PITCH), PITCH, keyframe_every=10, initial_camera=wrong)
    calibrator._keyframe = -1  # a keyframe was just solved: frame 0 is not due
    (result,) = calibrator(clip.frames[:1])
    assert detector.asked == [0]
    assert result.valid and line_error_px(result.camera, clip.camera(0)) < 1.0


class ShiftedLines(LinesClassicDetector):
    """Line pixels all pushed 6 px down: what boards, kit and a non-pinhole lens do to real lines."""

    def observe(self, image, camera, search_px=None, mask=None):
        return tuple((name, pixels + np.array([0.0, 6.0], np.float32)) for name, pixels in super().observe(image, camera, search_px, mask))


# Tests about rejecting a camera pin the strict 5 px bound they were written for (the
# calibrator's default follows the config's 15 px since the defaults were made to agree).
def test_line_refinement_may_not_drag_the_camera_off_its_keypoints(clip, line_error_px):
    guarded = Calibrator(GroundTruthKeypoints(clip, sigma=0.5), ShiftedLines(PITCH), PITCH, line_search=False, max_error_px=5.0)(clip.frames[:3])
    dragged = Calibrator(GroundTruthKeypoints(clip, sigma=0.5), ShiftedLines(PITCH), PITCH, line_search=False,
                         max_keypoint_drift_px=None, max_error_px=5.0)(clip.frames[:3])
    guarded_error = [line_error_px(r.camera, clip.camera(i)) for i, r in enumerate(guarded)]
    dragged_error = [line_error_px(r.camera, clip.camera(i)) for i, r in enumerate(dragged) if r.valid]
    assert max(guarded_error) < 1.5
    assert not dragged_error or min(dragged_error) > 2.0


class MirroredKeypoints(GroundTruthKeypoints):
    """Every keypoint given the id of its mirror image: a confident left/right mistake."""

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        from soccerfactory.curation.pitch import KEYPOINT_FLIP_INDEX

        out = []
        for obs in super().__call__(frames):
            ids = np.asarray(KEYPOINT_FLIP_INDEX)[obs.keypoint_ids]
            out.append(PitchObservations(obs.keypoints, ids, obs.keypoint_confidence))
        return out


def test_mirrored_keypoints_are_rejected_or_tracked_never_trusted(clip, line_error_px):
    """Left/right swapped keypoints fit no camera behind the near touchline: the frame is flagged
    or, with a prior, the camera is tracked on lines and stays right."""
    (alone,) = Calibrator(MirroredKeypoints(clip), None, PITCH, max_error_px=5.0)(clip.frames[:1])
    assert not alone.valid and alone.reason
    calibrator = Calibrator(MirroredKeypoints(clip), LinesClassicDetector(PITCH), PITCH, line_search=False,
                            initial_camera=clip.camera(0))
    for i, result in enumerate(calibrator(clip.frames[:3])):
        assert not result.valid or line_error_px(result.camera, clip.camera(i)) < 1.5


def test_calibrator_forgets_a_stale_prior():
    black = Frames(np.zeros((5, HEIGHT, WIDTH, 3), np.uint8), np.arange(5), np.arange(5) / 25.0, 25.0, "black")
    camera = make_camera(image_size=(WIDTH, HEIGHT), focal_px=800.0)
    calibrator = Calibrator(None, LinesClassicDetector(PITCH), PITCH, max_prior_gap=2, initial_camera=camera)
    results = calibrator(black)
    assert not any(r.valid for r in results)
    assert all("no prior" not in r.reason for r in results[:3])
    assert all("no prior" in r.reason for r in results[3:])


def test_calibrator_smoothing_damps_jitter(clip):
    rough = Calibrator(GroundTruthKeypoints(clip, sigma=2.0), None, PITCH, max_error_px=5.0)(clip.frames)
    smooth = Calibrator(GroundTruthKeypoints(clip, sigma=2.0), None, PITCH, smoothing=0.7, max_error_px=5.0)(clip.frames)

    def jitter(results):
        return np.std(np.diff([r.camera.K[0, 0] for r in results]))

    assert jitter(smooth) < 0.6 * jitter(rough)
    with pytest.raises(ValueError, match="smoothing"):
        Calibrator(GroundTruthKeypoints(clip), None, smoothing=1.0)


@pytest.mark.slow
@pytest.mark.parametrize("seed, seconds, distortion", [(3, 8.0, 0.0), (7, 2.0, -0.12)])
def test_lines_classic_tracks_long_and_distorted_clips(tmp_path, seed, seconds, distortion, line_error_px, read_rendered_clip):
    """8 s of panning and zooming (or a barrel lens) tracked from the first frame's camera alone."""
    render_clip(SynthConfig(seconds=seconds, seed=seed, width=WIDTH, height=HEIGHT, lens_distortion=distortion), tmp_path, images=True)
    clip = read_rendered_clip(tmp_path)
    results = build_calibrator("lines-classic", initial_camera=clip.camera(0))(clip.frames[1:])
    errors = [line_error_px(r.camera, clip.camera(i)) for i, r in enumerate(results, start=1) if r.valid]
    # Measured (seed 3, 200 frames): all valid, median 0.18 px, max 0.69 px.
    assert len(errors) == len(results)
    assert np.median(errors) < 0.5 and max(errors) < 1.5


def test_calibrator_takes_the_solver_options_and_nothing_else():
    """The explicit option sets name exactly the keyword options of the solver functions they feed."""
    frame_args = {"obs", "image_size", "pitch", "prior", "max_error_px"}
    assert SOLVER_OPTIONS == set(inspect.signature(calibrate_frame).parameters) - frame_args
    fit_args = {"start", "world", "image", "lines", "pitch", "fix_position", "label", "max_error_px"}
    assert FIT_OPTIONS == set(inspect.signature(fit_camera).parameters) - fit_args
    assert FIT_OPTIONS <= SOLVER_OPTIONS
    calibrator = Calibrator(None, LinesClassicDetector(PITCH), PITCH, outlier_px=8.0, ransac_threshold_px=6.0)
    assert calibrator.solver == {"outlier_px": 8.0, "ransac_threshold_px": 6.0}
    for bad in ({"min_peak": 0.3}, {"prior": None}, {"obs": None}):
        with pytest.raises(TypeError, match="unexpected arguments"):
            Calibrator(None, LinesClassicDetector(PITCH), PITCH, **bad)


class LateKeypoints(GroundTruthKeypoints):
    """Ground-truth keypoints from frame ``start`` on; none before (a shot whose first frames no
    camera can be solved from)."""

    def __init__(self, clip, start: int) -> None:
        super().__init__(clip)
        self.start = start

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        found = super().__call__(frames)
        return [obs if f >= self.start else PitchObservations.empty() for f, obs in zip(frames.frame_index, found)]


@pytest.mark.parametrize("backfill, filled", [(0, []), (3, [3, 4, 5]), (50, [0, 1, 2, 3, 4, 5])])
def test_calibrator_carries_a_later_camera_back_over_frames_without_one(clip, line_error_px, backfill, filled):
    """Frames 0-5 have no keypoints and no prior: invalid when returned. Once frame 6 is solved,
    its camera is carried back over them on their own lines (across batches), at most
    ``backfill_frames`` frames, and handed over once."""
    calibrator = Calibrator(LateKeypoints(clip, 6), LinesClassicDetector(PITCH), PITCH, line_search=False, backfill_frames=backfill)
    results = calibrator(clip.frames[:4]) + calibrator(clip.frames[4:])
    assert [r.valid for r in results] == [False] * 6 + [True] * 4
    backfilled = calibrator.take_backfilled()
    assert sorted(backfilled) == filled
    for frame, result in backfilled.items():
        assert result.valid and result.n_keypoints == 0 and result.n_lines >= 2
        # Measured: 0.2-0.4 px from the true camera.
        assert line_error_px(result.camera, clip.camera(frame)) < 1.0
    assert calibrator.take_backfilled() == {}
    with pytest.raises(ValueError, match="backfill_frames"):
        Calibrator(LateKeypoints(clip, 6), LinesClassicDetector(PITCH), PITCH, backfill_frames=-1)
