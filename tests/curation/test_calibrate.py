"""Camera calibration: geometry against exact cameras, and the stage on rendered broadcast frames.

The synthetic renderer writes the exact camera of every frame with its keypoints and line samples,
so every accuracy figure here is measured against ground truth, not against another estimate.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from soccerfactory.curation.calibrate import (
    CalibrationResult,
    Calibrator,
    LinesClassicDetector,
    LineSearchInitialiser,
    PitchObservations,
    build_calibrator,
    build_feature_detector,
    calibrate_frame,
    camera_from_homography,
    initialise_from_lines,
    pitch_position,
    refine_camera,
    solve_homography,
)
from soccerfactory.curation.pitch import KEYPOINT_NAMES, LINE_NAMES, PitchModel
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import make_camera, make_frames
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import Camera, Frames

PITCH = PitchModel()
WIDTH, HEIGHT = 640, 360


# ----------------------------------------------------------------------------- fixtures


class RenderedClip:
    """A rendered clip with its frames and ground-truth tables."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cameras = pq.read_table(root / "gt" / "cameras.parquet").to_pandas()
        self.keypoints = pq.read_table(root / "gt" / "keypoints.parquet").to_pandas()
        self.lines = pq.read_table(root / "gt" / "lines.parquet").to_pandas()
        self.athletes = pq.read_table(root / "gt" / "athletes.parquet").to_pandas()
        files = sorted((root / "img1").glob("*.jpg"))
        images = np.stack([cv2.imread(str(f)) for f in files])
        index = np.arange(len(images), dtype=np.int64)
        self.frames = Frames(images, index, index / 25.0, 25.0, str(root))

    def camera(self, frame: int) -> Camera:
        row = self.cameras[self.cameras.frame_index == frame].iloc[0]
        K = np.array([[row.fx, 0, row.cx], [0, row.fy, row.cy], [0, 0, 1]])
        return Camera(K, np.reshape(row.rotation, (3, 3)), [row.position_x, row.position_y, row.position_z],
                      (WIDTH, HEIGHT), dist=np.asarray(row.distortion, dtype=np.float64))

    def observed_keypoints(self, frame: int, sigma: float, rng: np.random.Generator) -> PitchObservations:
        """The visible dataset keypoints (ids < 32) of a frame, with Gaussian pixel noise."""
        k = self.keypoints
        k = k[(k.frame_index == frame) & k.in_image & ~k.occluded & (k.keypoint_id < 32)]
        pixels = k[["x", "y"]].to_numpy() + rng.normal(0, sigma, (len(k), 2))
        return PitchObservations(pixels, k.keypoint_id.to_numpy(), np.ones(len(k)))

    def gt_lines(self, frame: int) -> list[tuple[str, np.ndarray]]:
        rows = self.lines[self.lines.frame_index == frame]
        return [(name, group[["x", "y"]].to_numpy()) for name, group in rows.groupby("line")]

    def athlete_boxes(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        a = self.athletes[self.athletes.frame_index == frame]
        return a[["x1", "y1", "x2", "y2"]].to_numpy(), a[["pitch_x", "pitch_y"]].to_numpy()


class GroundTruthKeypoints:
    """A PitchFeatureDetector that reports a rendered clip's visible keypoints with pixel noise."""

    def __init__(self, clip: RenderedClip, sigma: float = 1.0, seed: int = 0) -> None:
        self.clip, self.sigma, self.rng = clip, sigma, np.random.default_rng(seed)

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        return [self.clip.observed_keypoints(int(f), self.sigma, self.rng) for f in frames.frame_index]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> RenderedClip:
    """10 frames of 640x360 broadcast footage, seed 1."""
    root = tmp_path_factory.mktemp("calibrate-seed1")
    render_clip(SynthConfig(seconds=0.4, seed=1, width=WIDTH, height=HEIGHT), root, images=True)
    return RenderedClip(root)


def line_error_px(camera: Camera, truth: Camera) -> float:
    """RMS pixel distance between where ``camera`` and ``truth`` put the pitch lines in the image."""
    samples = np.concatenate(list(PITCH.sample_lines(1.0).values()))
    samples = samples[truth.depth(samples) > 0]
    expected = truth.project(samples)
    inside = (expected[:, 0] >= 0) & (expected[:, 0] < truth.width) & (expected[:, 1] >= 0) & (expected[:, 1] < truth.height)
    return float(np.sqrt(np.mean(np.sum((camera.project(samples[inside]) - expected[inside]) ** 2, axis=1))))


def panned(camera: Camera, pan_deg: float, focal_factor: float) -> Camera:
    """``camera`` turned about the world vertical by ``pan_deg`` and zoomed by ``focal_factor``."""
    turn = cv2.Rodrigues(np.array([0.0, 0.0, math.radians(pan_deg)]))[0]
    K = camera.K.copy()
    K[0, 0] *= focal_factor
    K[1, 1] *= focal_factor
    return Camera(K, camera.R @ turn, camera.position, camera.image_size, camera.dist)


# ----------------------------------------------------------------------------- observations


def test_observations_validate_their_inputs():
    ok = dict(keypoints=np.zeros((2, 2)), keypoint_ids=[0, 5], keypoint_confidence=[0.9, 1.0])
    obs = PitchObservations(**ok, lines=(("Side line top", [[1.0, 2.0]]),))
    assert obs.keypoints.dtype == np.float32 and obs.keypoint_ids.dtype == np.int64
    assert obs.line_names == ("Side line top",) and obs.n_line_pixels == 1 and len(obs) == 2
    assert not obs.keypoints.flags.writeable
    bad = [
        dict(ok, keypoints=np.zeros((2, 3))),
        dict(ok, keypoint_ids=[0, len(KEYPOINT_NAMES)]),
        dict(ok, keypoint_ids=[3, 3]),
        dict(ok, keypoint_confidence=[0.5]),
        dict(ok, keypoint_confidence=[0.5, 1.5]),
        dict(ok, keypoints=[[0.0, np.nan], [1.0, 1.0]]),
    ]
    for fields in bad:
        with pytest.raises(ValueError, match="PitchObservations"):
            PitchObservations(**fields)
    with pytest.raises(ValueError, match="unknown line 'Side line up'"):
        PitchObservations(**ok, lines=(("Side line up", [[1.0, 2.0]]),))
    with pytest.raises(ValueError, match="no pixels"):
        PitchObservations(**ok, lines=(("Middle line", np.zeros((0, 2))),))
    with pytest.raises(ValueError, match="twice"):
        PitchObservations(**ok, lines=(("Middle line", [[1, 1]]), ("Middle line", [[2, 2]])))
    assert len(PitchObservations.empty()) == 0 and PitchObservations.empty().lines == ()


def test_result_invariants():
    camera = make_camera()
    good = CalibrationResult.from_camera(camera, 0.7, 6, 2)
    np.testing.assert_allclose(good.homography, camera.homography)
    bad = CalibrationResult.invalid("too few points")
    assert bad.camera is None and bad.homography is None and math.isnan(bad.reprojection_error_px)
    with pytest.raises(ValueError, match="reason"):
        CalibrationResult(None, None, float("nan"), 0, 0, False, "")
    with pytest.raises(ValueError, match="no camera"):
        CalibrationResult(camera, camera.homography, float("nan"), 0, 0, False, "bad")
    with pytest.raises(ValueError, match="needs a Camera"):
        CalibrationResult(None, np.eye(3), 1.0, 0, 0, True)


# ----------------------------------------------------------------------------- geometry


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


def test_refine_camera_with_points_recovers_the_exact_camera():
    truth = make_camera(position=(3.0, 58.0, -20.0), target=(20.0, 0.0, 0.0), focal_px=1800.0)
    world = PITCH.keypoints[[9, 10, 11, 12, 17, 18, 19, 20, 21, 22, 23, 41, 43]]  # goal-post tops too
    camera, stats = refine_camera(panned(truth, 1.5, 0.95), (world, truth.project(world)), pitch=PITCH, prior_weight=0)
    assert stats.reprojection_error_px < 1e-3 and stats.point_inliers.all()
    assert camera.K[0, 0] == pytest.approx(1800.0, rel=1e-5)
    np.testing.assert_allclose(camera.position, truth.position, atol=1e-3)


def test_refine_camera_with_lines_follows_a_distorted_lens():
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


# ----------------------------------------------------------------------------- one frame


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


def test_calibrate_frame_refines_a_prior_with_lines(clip):
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


def test_pitch_position_inverts_the_camera():
    camera = make_camera(dist=(-0.1, 0.0, 0.0, 0.0))
    feet = np.array([[0.0, 0.0], [20.0, -15.0], [-35.0, 25.0]])
    pixels = camera.project(feet)
    boxes = np.column_stack([pixels[:, 0] - 6, pixels[:, 1] - 40, pixels[:, 0] + 6, pixels[:, 1]])
    result = CalibrationResult.from_camera(camera, 0.5, 8, 0)
    placed = pitch_position(result, boxes)
    assert placed.dtype == np.float32 and placed.shape == (3, 2)
    np.testing.assert_allclose(placed, feet, atol=1e-3)
    assert pitch_position(result, np.zeros((0, 4))).shape == (0, 2)
    with pytest.raises(ValueError, match="xyxy"):
        pitch_position(result, np.zeros((3, 3)))


# ----------------------------------------------------------------------------- lines-classic


def test_lines_classic_finds_and_names_line_pixels(clip):
    detector = LinesClassicDetector(PITCH)
    truth = clip.camera(3)
    mask = detector.line_mask(clip.frames.images[3])
    assert mask.dtype == bool and mask.shape == (HEIGHT, WIDTH) and 0 < mask.mean() < 0.1
    # Named with the previous frame's camera, every pixel lies on its line under the true camera.
    lines = detector.observe(clip.frames.images[3], clip.camera(2), mask=mask)
    assert len(lines) >= 5 and all(name in LINE_NAMES for name, _ in lines)
    for name, pixels in lines:
        _, stats = refine_camera(truth, None, [(name, pixels)], PITCH, prior_weight=1e6)
        assert np.median(stats.line_error_px) < 1.0, name
    # Without a camera there is nothing to name the pixels with.
    assert [(len(o), o.lines) for o in detector(clip.frames[:2])] == [(0, ())] * 2
    named = detector(clip.frames[3:4], [clip.camera(2)])
    assert [n for n, _ in named[0].lines] == [n for n, _ in lines]


def test_lines_classic_tracks_the_camera_from_one_known_frame(clip):
    """From the exact camera of frame 0, lines alone calibrate frames 1-9 to a fraction of a pixel."""
    calibrator = build_calibrator("lines-classic", pitch=PITCH, initial_camera=clip.camera(0))
    start = time.perf_counter()
    results = calibrator(clip.frames[1:])
    elapsed_ms = (time.perf_counter() - start) / len(results) * 1000
    errors, shifts = [], []
    for frame, result in enumerate(results, start=1):
        assert result.valid, (frame, result.reason)
        errors.append(line_error_px(result.camera, clip.camera(frame)))
        boxes, _ = clip.athlete_boxes(frame)
        exact = CalibrationResult.from_camera(clip.camera(frame), 0.0, 0, 0)
        shifts.append(np.linalg.norm(pitch_position(result, boxes) - pitch_position(exact, boxes), axis=1))
    # Measured: median 0.27 px, max 0.46 px; athletes within 3 cm (median) of where the exact
    # camera puts them; 90-150 ms per frame on a shared 2-core CPU.
    assert np.median(errors) < 0.6 and max(errors) < 1.2
    assert np.median(np.concatenate(shifts)) < 0.1
    assert elapsed_ms < 2000
    # A fresh calibrator for the next clip shares the backends and starts over.
    again = calibrator.fresh()
    assert again.line_detector is calibrator.line_detector
    for first, second in zip(results, again(clip.frames[1:3])):
        np.testing.assert_allclose(second.homography, first.homography)


def test_calibrator_keypoints_and_lines(clip):
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

    def __init__(self, clip: RenderedClip, **kwargs) -> None:
        super().__init__(clip, **kwargs)
        self.asked: list[int] = []

    def __call__(self, frames: Frames) -> list[PitchObservations]:
        self.asked.extend(int(f) for f in frames.frame_index)
        return super().__call__(frames)


def test_calibrator_keyframes_track_between_with_lines(clip):
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


def test_calibrator_resolves_from_keypoints_when_tracking_slips(clip):
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


def test_line_refinement_may_not_drag_the_camera_off_its_keypoints(clip):
    guarded = Calibrator(GroundTruthKeypoints(clip, sigma=0.5), ShiftedLines(PITCH), PITCH, line_search=False)(clip.frames[:3])
    dragged = Calibrator(GroundTruthKeypoints(clip, sigma=0.5), ShiftedLines(PITCH), PITCH, line_search=False,
                         max_keypoint_drift_px=None)(clip.frames[:3])
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


def test_mirrored_keypoints_are_rejected_or_tracked_never_trusted(clip):
    """Left/right swapped keypoints fit no camera behind the near touchline: the frame is flagged
    or, with a prior, the camera is tracked on lines and stays right."""
    (alone,) = Calibrator(MirroredKeypoints(clip), None, PITCH)(clip.frames[:1])
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
    rough = Calibrator(GroundTruthKeypoints(clip, sigma=2.0), None, PITCH)(clip.frames)
    smooth = Calibrator(GroundTruthKeypoints(clip, sigma=2.0), None, PITCH, smoothing=0.7)(clip.frames)

    def jitter(results):
        return np.std(np.diff([r.camera.K[0, 0] for r in results]))

    assert jitter(smooth) < 0.6 * jitter(rough)
    with pytest.raises(ValueError, match="smoothing"):
        Calibrator(GroundTruthKeypoints(clip), None, smoothing=1.0)


# ----------------------------------------------------------------------------- backends


def test_builders_reject_unknown_names():
    with pytest.raises(ValueError, match="heatmap, yolo-pose, lines-classic"):
        build_feature_detector("hough")
    with pytest.raises(ValueError, match="heatmap, yolo-pose, lines-classic, lines"):
        build_calibrator("hough")


def test_yolo_pose_missing_weights_says_how_to_get_them(tmp_path):
    missing = tmp_path / "pitch-keypoints.pt"
    with pytest.raises(FileNotFoundError, match="pitch-keypoints.pt") as error:
        build_feature_detector("yolo-pose", weights=missing)
    assert "soccerfactory.curation.training.yolo pitch-keypoints" in str(error.value)
    with pytest.raises(FileNotFoundError, match="pitch-keypoints.pt"):
        build_calibrator("yolo-pose", weights=missing)


@pytest.fixture(scope="module")
def random_pose_weights(tmp_path_factory) -> Path:
    """A YOLOv8n-pose model with 32 keypoints and untrained weights, saved as a checkpoint."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    import torch
    import ultralytics
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("pose32")
    config = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8-pose.yaml").read_text())
    config["kpt_shape"] = [32, 3]
    config_path = folder / "yolov8n-pitch.yaml"  # the 'n' picks the nano scale
    config_path.write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    model = YOLO(str(config_path), task="pose")
    path = folder / "pitch-keypoints.pt"
    model.save(str(path))
    return path


def _detector(name: str, weights: Path):
    if name == "yolo-pose":
        return build_feature_detector(name, weights=weights, imgsz=320, conf=1e-4, keypoint_conf=0.5)
    return build_feature_detector(name)


@pytest.mark.parametrize("name", ["yolo-pose", "lines-classic"])
def test_feature_detector_contract(name, random_pose_weights, clip):
    detector = _detector(name, random_pose_weights)
    assert detector(Frames.empty(HEIGHT, WIDTH, 25.0, "empty")) == []
    frames = clip.frames[:2]
    observations = detector(frames)
    assert len(observations) == len(frames)
    for obs in observations:
        assert isinstance(obs, PitchObservations)
        assert ((obs.keypoint_ids >= 0) & (obs.keypoint_ids < 32)).all()
        assert ((obs.keypoints >= 0) & (obs.keypoints <= (WIDTH, HEIGHT))).all()
        assert (obs.keypoint_confidence >= 0.5).all()
    if name == "yolo-pose":
        # Other frame sizes pass through as they are.
        assert len(detector(make_frames(n=1, height=90, width=160))) == 1


def test_yolo_pose_keeps_the_best_instance_and_its_confident_keypoints(random_pose_weights):
    """How one ultralytics pose result becomes observations (an untrained model finds nothing)."""
    import torch
    from ultralytics.engine.results import Results

    detector = _detector("yolo-pose", random_pose_weights)
    rng = np.random.default_rng(0)
    keypoints = np.zeros((2, 32, 3), np.float32)
    keypoints[:, :, 0] = rng.uniform(1, WIDTH - 1, (2, 32))
    keypoints[:, :, 1] = rng.uniform(1, HEIGHT - 1, (2, 32))
    keypoints[:, :, 2] = 0.9
    keypoints[1, [3, 8], 2] = 0.2  # unsure
    keypoints[1, 12, :2] = (0.0, 100.0)  # clamped to the border: somewhere outside the image
    boxes = torch.tensor([[0, 0, WIDTH, HEIGHT, 0.4, 0], [0, 0, WIDTH, HEIGHT, 0.8, 0]], dtype=torch.float32)
    result = Results(np.zeros((HEIGHT, WIDTH, 3), np.uint8), "frame", {0: "pitch"}, boxes=boxes,
                     keypoints=torch.from_numpy(keypoints))
    obs = detector._observations(result, WIDTH, HEIGHT)
    expected = np.setdiff1d(np.arange(32), [3, 8, 12])
    np.testing.assert_array_equal(obs.keypoint_ids, expected)
    np.testing.assert_allclose(obs.keypoints, keypoints[1, expected, :2])
    np.testing.assert_allclose(obs.keypoint_confidence, 0.9)
    empty = Results(np.zeros((HEIGHT, WIDTH, 3), np.uint8), "frame", {0: "pitch"}, boxes=torch.zeros((0, 6)),
                    keypoints=torch.zeros((0, 32, 3)))
    assert len(detector._observations(empty, WIDTH, HEIGHT)) == 0


def test_yolo_pose_calibrator_contract(random_pose_weights, clip):
    calibrator = build_calibrator("yolo-pose", weights=random_pose_weights, imgsz=320, conf=1e-4, pitch=PITCH,
                                  line_search=False)
    results = calibrator(clip.frames[:2])
    assert len(results) == 2
    # The untrained model finds no keypoints: invalid, with a reason.
    assert all(not r.valid and r.reason for r in results)
    assert calibrator(Frames.empty(HEIGHT, WIDTH, 25.0, "empty")) == []


# ----------------------------------------------------------------------------- slow


@pytest.mark.slow
@pytest.mark.parametrize("seed, seconds, distortion", [(3, 8.0, 0.0), (7, 2.0, -0.12)])
def test_lines_classic_tracks_long_and_distorted_clips(tmp_path, seed, seconds, distortion):
    """8 s of panning and zooming (or a barrel lens) tracked from the first frame's camera alone."""
    render_clip(SynthConfig(seconds=seconds, seed=seed, width=WIDTH, height=HEIGHT, lens_distortion=distortion), tmp_path, images=True)
    clip = RenderedClip(tmp_path)
    results = build_calibrator("lines-classic", initial_camera=clip.camera(0))(clip.frames[1:])
    errors = [line_error_px(r.camera, clip.camera(i)) for i, r in enumerate(results, start=1) if r.valid]
    # Measured (seed 3, 200 frames): all valid, median 0.18 px, max 0.69 px.
    assert len(errors) == len(results)
    assert np.median(errors) < 0.5 and max(errors) < 1.5


def test_frame_whose_every_observation_is_an_outlier_is_invalid_not_an_error():
    """When the outlier test removes every keypoint and line there is nothing left to refine: the
    frame must come out invalid with a reason, not raise and stop the whole clip."""
    from soccerfactory.curation.calibrate import _fit
    from soccerfactory.curation.pitch import PitchModel
    from soccerfactory.curation.testing import make_camera

    camera = make_camera()
    pitch = PitchModel()
    world = pitch.keypoints[[0, 5, 13, 16, 24, 29]]
    image = camera.project(world) + np.random.default_rng(0).normal(0, 5, (6, 2))
    result, _ = _fit(camera, world, image, (), pitch, False, outlier_px=1e-6, label="prior")
    assert not result.valid and "outlier" in result.reason


# ----------------------------------------------------------------------------- line search

SEARCH_WIDTH, SEARCH_HEIGHT = 960, 540


@pytest.fixture(scope="session")
def search_clips(tmp_path_factory) -> dict[int, RenderedClip]:
    """Two seconds of seed 1 and one of seed 3 at 960x540 (other rigs, kits and pans)."""
    clips = {}
    for seed, seconds in ((1, 2.0), (3, 1.0)):
        root = tmp_path_factory.mktemp(f"line-search-seed{seed}")
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=SEARCH_WIDTH, height=SEARCH_HEIGHT), root, images=True)
        clip = RenderedClip(root)
        clip.size = (SEARCH_WIDTH, SEARCH_HEIGHT)
        clips[seed] = clip
    return clips


def _camera_at(clip: RenderedClip, frame: int) -> Camera:
    camera = clip.camera(frame)
    return Camera(camera.K, camera.R, camera.position, (SEARCH_WIDTH, SEARCH_HEIGHT), camera.dist)


def keypoint_error_px(camera: Camera, truth: Camera) -> float:
    """Median pixel distance between where ``camera`` and ``truth`` put the pitch keypoints in view."""
    points = PITCH.keypoints[truth.depth(PITCH.keypoints) > 0]
    expected = truth.project(points)
    inside = (expected[:, 0] >= 0) & (expected[:, 0] < truth.width) & (expected[:, 1] >= 0) & (expected[:, 1] < truth.height)
    return float(np.median(np.linalg.norm(camera.project(points[inside]) - expected[inside], axis=1)))


@pytest.mark.parametrize("seed, frame", [(1, 0), (1, 25), (3, 0)])
def test_line_search_places_the_camera_without_keypoints_or_prior(search_clips, seed, frame):
    clip = search_clips[seed]
    start = time.perf_counter()
    result = initialise_from_lines(clip.frames.images[frame], PITCH)
    elapsed = time.perf_counter() - start
    assert result.valid, result.reason
    # Measured: 0.15-0.4 px median keypoint error, 7-8 supporting lines, 1.3-2.5 s per search
    # (960x540, shared 2-core CPU; the grid search itself 0.5-0.7 s).
    assert keypoint_error_px(result.camera, _camera_at(clip, frame)) < 1.5
    assert result.n_lines >= 5 and result.reprojection_error_px < 2.0
    assert elapsed < 8.0


def test_line_search_rejects_frames_without_a_pitch():
    initialiser = LineSearchInitialiser(PITCH)
    noise = np.random.default_rng(0).integers(0, 256, (SEARCH_HEIGHT, SEARCH_WIDTH, 3), dtype=np.uint8)
    grey = np.full((SEARCH_HEIGHT, SEARCH_WIDTH, 3), 128, np.uint8)
    for image in (noise, grey):
        result = initialiser(image)
        assert not result.valid and result.reason.startswith("line search")
    with pytest.raises(ValueError, match="line_mask"):
        initialiser(grey, np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match="image"):
        initialiser(grey[..., 0])


def test_lines_calibrator_places_and_tracks_the_camera_without_a_model(search_clips):
    clip = search_clips[1]
    calibrator = build_calibrator("lines", pitch=PITCH)
    assert calibrator.detector is None and calibrator.line_search is not None
    start = time.perf_counter()
    results = calibrator(clip.frames)
    elapsed_ms = (time.perf_counter() - start) / len(results) * 1000
    valid = [i for i, r in enumerate(results) if r.valid]
    errors = []
    for i in valid:
        boxes, truth = clip.athlete_boxes(i)
        errors.append(np.linalg.norm(pitch_position(results[i], boxes) - truth, axis=1))
    errors = np.concatenate(errors)
    # Measured (seed 1, 50 frames): all valid from the first frame, athletes 0.13 m (median) and
    # 0.24 m (90th percentile) from their true pitch positions, about 65 ms per frame on average.
    assert len(valid) >= 0.8 * len(results) and valid[0] == 0
    assert np.median(errors) < 0.5 and np.percentile(errors, 90) < 1.0
    assert elapsed_ms < 1000
    # Without lines the search finds nothing and says so; a fresh copy starts over.
    grey = Frames(np.full((3, SEARCH_HEIGHT, SEARCH_WIDTH, 3), 128, np.uint8), np.arange(3), np.arange(3) / 25.0,
                  25.0, "grey")
    lost = calibrator.fresh()(grey)
    assert not any(r.valid for r in lost)
    assert "line search" in lost[0].reason and "no prior camera" in lost[1].reason


PLAYERS_VALID = DEFAULT_DATA_ROOT / "football-players" / "valid"


@pytest.mark.skipif(not PLAYERS_VALID.is_dir(), reason="needs ../shared/data/football-players")
def test_default_calibrator_solves_broadcast_frames_and_rejects_close_ups_and_crowds():
    """The bundled keypoint model places main-camera frames; a 4x zoom on a player (a close-up)
    and a crowd-like texture get no camera, with the reason, instead of a guess."""
    calibrator = build_calibrator("heatmap", pitch=PITCH, max_error_px=15.0)
    image = cv2.resize(cv2.imread(str(sorted((PLAYERS_VALID / "images").glob("*.jpg"))[0])), (1280, 720))
    close_up = cv2.resize(image[300:480, 500:820], (1280, 720))
    crowd = cv2.resize(np.random.default_rng(0).integers(0, 255, (36, 64, 3), dtype=np.uint8), (1280, 720), interpolation=cv2.INTER_NEAREST)
    results = {}
    for name, frame in (("broadcast", image), ("close-up", close_up), ("crowd", crowd)):
        (results[name],) = calibrator.fresh()(Frames(frame[None], np.array([0]), np.zeros(1), 25.0, name))
    assert results["broadcast"].valid and results["broadcast"].n_keypoints >= 6
    for name in ("close-up", "crowd"):
        assert not results[name].valid and results[name].camera is None
        assert "keypoints" in results[name].reason


def test_fitted_line_segments_lie_on_the_painted_lines(clip):
    from soccerfactory.curation.calibrate import fit_line_segments

    mask = LinesClassicDetector(PITCH).line_mask(clip.frames.images[0])
    segments = fit_line_segments(mask)
    assert len(segments) >= 5
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    assert (np.diff(lengths) <= 1e-9).all() and lengths.min() >= 0.06 * WIDTH
    truth = clip.camera(0)
    samples = np.concatenate(list(PITCH.sample_lines(0.1).values()))
    painted = truth.project(samples[truth.depth(samples) > 0])
    worst = []
    for segment in segments:
        along = np.linspace(segment[:2], segment[2:], 20)
        worst.append(np.min(np.linalg.norm(along[:, None] - painted[None], axis=2), axis=1).max())
    # Measured: 1.1-2.2 px for the straight markings; a chord of the penalty arc strays ~4 px.
    assert np.median(worst) < 2.0 and np.mean(np.array(worst) < 3.0) >= 0.8
    # One segment per painted line: no two nearly identical segments survive the merge.
    for i in range(len(segments)):
        for j in range(i + 1, len(segments)):
            assert np.abs(segments[i] - segments[j]).max() > 4.0
    assert fit_line_segments(np.zeros((HEIGHT, WIDTH), bool)).shape == (0, 4)
