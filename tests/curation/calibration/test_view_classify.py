"""Views of frames and the gates on their cameras, on frames of a rendered clip: the main view,
the same frames cropped and enlarged (a zoomed view, a close-up of one athlete), flat grass with
one touchline, the stands and noise. A wrong camera is worse than none: close-ups, crowd and
unsupported cameras never keep one."""

from __future__ import annotations

import dataclasses
import re

import cv2
import numpy as np
import pytest

from soccerfactory.curation.calibration.builders import build_calibrator
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.view import MAIN_VIEWS
from soccerfactory.curation.calibration.view_classify import ViewEvidence, ViewRules, classify_views, frame_evidence
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import PLAYER, Detections, Frames

PITCH = PitchModel()
RULES = CurateConfig().calibrate.view_rules()
KEEP = dataclasses.replace(RULES, refuse_non_main=False)


def _frames(images: list[np.ndarray], start: int = 0) -> Frames:
    index = np.arange(start, start + len(images), dtype=np.int64)
    return Frames(np.stack(images), index, index / 25.0, 25.0, "synthetic://views")


def _athletes(boxes: list[np.ndarray], start: int = 0) -> Detections:
    rows = [np.asarray(b, dtype=np.float32).reshape(-1, 4) for b in boxes]
    frames = np.concatenate([np.full(len(b), start + i) for i, b in enumerate(rows)]).astype(np.int64)
    xyxy = np.concatenate(rows) if rows else np.zeros((0, 4), np.float32)
    return Detections(xyxy=xyxy, confidence=np.ones(len(xyxy), np.float32), class_id=np.full(len(xyxy), PLAYER), frame_index=frames)


def _claimed(camera: Camera, spread: float = 0.3) -> CalibrationResult:
    """A valid result for ``camera``, as a calibrator would return it."""
    return dataclasses.replace(CalibrationResult.from_camera(camera, 1.0, 8, 4), spread=spread)


def _crop(image: np.ndarray, boxes: np.ndarray, camera: Camera, x0: float, y0: float, scale: float):
    """``image`` cut at ``(x0, y0)`` and enlarged ``scale`` times to its own size; the boxes and
    the exact camera of the enlarged picture."""
    height, width = image.shape[:2]
    M = np.float32([[scale, 0, -scale * x0], [0, scale, -scale * y0]])
    out = cv2.warpAffine(image, M, (width, height), flags=cv2.INTER_LINEAR)
    b = (np.asarray(boxes, np.float64) - [x0, y0, x0, y0]) * scale
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
    b = b[((b[:, 2] - b[:, 0]) > 2) & ((b[:, 3] - b[:, 1]) > 2)]
    K = camera.K.copy()
    K[0, 0], K[1, 1] = K[0, 0] * scale, K[1, 1] * scale
    K[0, 2], K[1, 2] = scale * (K[0, 2] - x0), scale * (K[1, 2] - y0)
    return out, b, Camera(K, camera.R, camera.position, camera.image_size, camera.dist)


def _closeup(clip, frame: int, fill: float = 0.5):
    """Frame ``frame`` enlarged around its tallest athlete until the athlete fills ``fill`` of its height."""
    boxes, _ = clip.athlete_boxes(frame)
    tall = boxes[np.argmax(boxes[:, 3] - boxes[:, 1])]
    image = clip.frames.images[frame]
    height, width = image.shape[:2]
    scale = fill * height / (tall[3] - tall[1])
    x0 = np.clip((tall[0] + tall[2]) / 2 - width / scale / 2, 0, width - width / scale)
    y0 = np.clip((tall[1] + tall[3]) / 2 - height / scale / 2, 0, height - height / scale)
    return _crop(image, boxes, clip.camera(frame), x0, y0, scale)


def _judge(images, boxes, results, rules: ViewRules = RULES):
    evidence = frame_evidence(_frames(images), results, _athletes(boxes), PITCH)
    return classify_views(evidence, results, rules)


@pytest.fixture(scope="module")
def calibrator():
    """The default calibrator (the bundled heatmap keypoint model and lines), loaded once."""
    calibrate = CurateConfig().calibrate
    return build_calibrator(calibrate.backend, **calibrate.calibrator_params())


@pytest.fixture(scope="module")
def calibrated(clip, calibrator):
    """The default calibrator's results on the rendered clip's 10 frames."""
    return calibrator.fresh()(clip.frames)


def test_main_frames_of_a_rendered_clip_are_main_and_keep_their_cameras(clip, calibrated):
    boxes = [clip.athlete_boxes(f)[0] for f in range(10)]
    views, results = _judge(list(clip.frames.images), boxes, calibrated)
    assert set(views.view) == {"main"}
    assert all(r.valid for r in calibrated) and all(r.valid for r in results)
    assert all("m2 of pitch >= 1500 m2" in r for r in views.reason)
    assert np.all((views.visible_pitch_m2 > 1500) & (views.visible_pitch_m2 <= 105 * 68))


def test_a_wide_frame_cropped_to_a_quarter_is_zoomed_and_keeps_its_exact_camera(clip):
    image, boxes, camera = clip.frames.images[0], clip.athlete_boxes(0)[0], clip.camera(0)
    crops = [_crop(image, boxes, camera, image.shape[1] / 4, image.shape[0] / 4, 2.0) for _ in range(3)]
    views, results = _judge([c[0] for c in crops], [c[1] for c in crops], [_claimed(c[2]) for c in crops])
    assert list(views.view) == ["zoomed"] * 3, views.reason
    assert all(r.valid for r in results)
    assert "< 1500 m2" in views.reason[0]


def test_closeups_never_keep_a_camera_whatever_the_calibrator_claims(clip, calibrator):
    shots = [_closeup(clip, f) for f in range(3)]
    images, boxes = [s[0] for s in shots], [s[1] for s in shots]
    real = calibrator.fresh()(_frames(images))  # the default calibrator on the close-up frames
    for results in (
        real,
        [_claimed(clip.camera(f)) for f in range(3)],  # the main camera's (wrong) cameras, as in the issue
        [_claimed(s[2]) for s in shots],  # even the exact camera of the enlarged picture
    ):
        views, judged = _judge(images, boxes, list(results))
        assert set(views.view) == {"close-up"}
        assert not any(r.valid for r in judged)
        assert np.isnan(views.visible_pitch_m2).all()
        assert all("of the frame height >= 35%" in r for r in views.reason)
        for before, after in zip(results, judged):
            if before.valid:
                assert after.reason.startswith("camera refused: view close-up: an athlete")
                assert (after.n_keypoints, after.n_lines) == (before.n_keypoints, before.n_lines)


def test_the_wrong_camera_of_a_closeup_is_refused_by_the_athletes_height_even_when_kept(clip):
    shot = _closeup(clip, 0)
    views, judged = _judge([shot[0]] * 3, [shot[1]] * 3, [_claimed(clip.camera(0))] * 3, KEEP)
    assert set(views.view) == {"close-up"}
    assert not any(r.valid for r in judged)
    assert "times the height it gives a person" in judged[0].reason


def test_a_closeup_the_detector_finds_nobody_in_keeps_no_camera_either(clip):
    """The bundled detector finds no athlete in most close-ups: a camera claimed there (with its
    keypoints well spread) is refused for the empty frame, and the frame is a close-up."""
    shot = _closeup(clip, 0)
    for rules in (RULES, KEEP):
        views, judged = _judge([shot[0]] * 3, [np.zeros((0, 4))] * 3, [_claimed(clip.camera(0), spread=0.4)] * 3, rules)
        assert set(views.view) == {"close-up"} and not any(r.valid for r in judged)
        assert "0 athletes in the frame < 3" in views.reason[0]
    assert judged[0].reason == "camera refused: 0 athletes in the frame < 3 (a view of play shows several)"


def test_flat_grass_with_one_touchline_is_a_closeup_without_a_camera(calibrator):
    rng = np.random.default_rng(3)
    image = np.zeros((360, 640, 3), np.uint8)
    image[:] = (40, 140, 50)
    image[::40] = (35, 125, 45)  # mowing stripes
    image = np.clip(image.astype(int) + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)
    cv2.line(image, (0, 300), (640, 250), (235, 235, 235), 5)
    images = [image] * 3
    results = calibrator.fresh()(_frames(images))
    views, judged = _judge(images, [np.zeros((0, 4))] * 3, list(results))
    assert set(views.view) == {"close-up"}
    assert not any(r.valid for r in judged)
    assert views.reason[0].startswith("no camera and 0 athletes < 3") and "span 0.0% of the frame" in views.reason[0]
    # A camera resting on that one line alone is refused, even with the view kept.
    touchline = CalibrationResult.from_camera(Camera.look_at((0, 60, -20), (0, 34, 0), 3000.0, (640, 360)), 1.0, 0, 1)
    _, judged = _judge(images, [np.zeros((0, 4))] * 3, [dataclasses.replace(touchline, spread=0.0)] * 3, KEEP)
    assert not any(r.valid for r in judged)
    assert "span 0.0% of the frame" in judged[0].reason


def test_the_stands_and_noise_are_other_and_keep_no_camera(clip):
    image = clip.frames.images[0]
    stands = cv2.resize(image[:45, 100:180], (640, 360), interpolation=cv2.INTER_NEAREST)
    noise = np.random.default_rng(0).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    for picture in (stands, noise):
        views, judged = _judge([picture] * 3, [np.zeros((0, 4))] * 3, [_claimed(clip.camera(0), spread=0.0)] * 3)
        assert set(views.view) == {"other"}
        assert "grass" in views.reason[0] and not any(r.valid for r in judged)


def test_a_washed_out_pitch_with_a_supported_camera_stays_main(clip):
    """A sunlit frame can lose its green (one real main frame: 0 % grass); keypoints decide then."""
    grey = cv2.cvtColor(cv2.cvtColor(clip.frames.images[0], cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    boxes = clip.athlete_boxes(0)[0]
    views, judged = _judge([grey] * 3, [boxes] * 3, [_claimed(clip.camera(0))] * 3)
    assert set(views.view) == {"main"} and all(r.valid for r in judged)
    views, judged = _judge([grey] * 3, [boxes] * 3, [CalibrationResult.invalid("no keypoints", spread=0.0)] * 3)
    assert set(views.view) == {"other"}


def test_a_camera_of_the_wrong_scale_is_refused_by_the_athletes_height(clip, panned):
    boxes = [clip.athlete_boxes(f)[0] for f in range(3)]
    wrong = [_claimed(panned(clip.camera(f), 0.0, 0.5)) for f in range(3)]  # thinks the view is twice as wide
    _, judged = _judge(list(clip.frames.images[:3]), boxes, wrong)
    assert not any(r.valid for r in judged)
    assert re.search(r"the athletes are (1\.[89]|2\.[01])\d times the height", judged[0].reason)
    assert "allowed 0.67-1.50" in judged[0].reason


def test_a_fresh_solve_that_jumps_for_one_frame_is_refused(clip, panned):
    boxes = [clip.athlete_boxes(f)[0] for f in range(5)]
    results = [_claimed(clip.camera(f)) for f in range(5)]  # eight keypoints each: fresh solves
    results[2] = _claimed(panned(clip.camera(2), 12.0, 1.0))  # turned 12 degrees for one frame
    views, judged = _judge(list(clip.frames.images[:5]), boxes, results)
    assert [r.valid for r in judged] == [True, True, False, True, True]
    assert "jumps" in judged[2].reason and "from frame 1's camera and back at frame 3" in judged[2].reason


def test_line_tracking_that_slips_onto_a_wrong_camera_is_refused_until_a_fresh_solve(clip, panned):
    """Tracked on lines alone, a camera can jump to the wrong lines and stay there, consistent with
    itself (seen on a dev render: 100 px off with a 4.6 px reprojection error)."""
    boxes = [clip.athlete_boxes(f)[0] for f in range(8)]

    def tracked(camera):  # a camera carried by its lines: no keypoints hold it
        return dataclasses.replace(CalibrationResult.from_camera(camera, 2.0, 0, 5), spread=0.4)

    results = [tracked(clip.camera(f)) for f in range(3)]
    results += [tracked(panned(clip.camera(f), 8.0, 1.0)) for f in range(3, 7)]  # slipped 8 degrees
    results += [_claimed(clip.camera(7))]  # a fresh keypoint solve, right again
    _, judged = _judge(list(clip.frames.images[:8]), boxes, results)
    assert [r.valid for r in judged] == [True, True, True, False, False, False, False, True]
    assert "jumps" in judged[3].reason and "with 0 keypoints to hold it" in judged[3].reason
    assert "it follows the camera of frame 3, which jumped away from frame 2's" in judged[4].reason


def test_a_one_frame_flicker_is_smoothed_over_the_shot(clip):
    boxes = [clip.athlete_boxes(f)[0] for f in range(7)]
    boxes[3] = np.vstack([boxes[3], [[100, 20, 200, 330]]])  # a false tall box on one frame
    results = [_claimed(clip.camera(f)) for f in range(7)]
    views, judged = _judge(list(clip.frames.images[:7]), boxes, results)
    assert set(views.view) == {"main"}
    assert views.reason[3].startswith("main on most of the 5 frames around it (this frame alone: close-up")
    assert all(r.valid for r in judged)
    unsmoothed, _ = _judge(list(clip.frames.images[:7]), boxes, results, dataclasses.replace(RULES, window=1))
    assert unsmoothed.view[3] == "close-up"


def test_keep_keeps_the_supported_camera_of_a_non_main_frame_and_drop_refuses_it(clip):
    image, boxes, camera = clip.frames.images[0], clip.athlete_boxes(0)[0], clip.camera(0)
    zoomed, zboxes, zcamera = _crop(image, boxes, camera, image.shape[1] / 4, image.shape[0] / 4, 2.0)
    zboxes = np.vstack([zboxes, [[10, 10, 120, 300]]])  # one athlete filling the frame: a close-up
    dropped_views, dropped = _judge([zoomed] * 3, [zboxes] * 3, [_claimed(zcamera)] * 3)
    kept_views, kept = _judge([zoomed] * 3, [zboxes] * 3, [_claimed(zcamera)] * 3, KEEP)
    assert set(dropped_views.view) == set(kept_views.view) == {"close-up"}
    assert not any(r.valid for r in dropped) and all(r.valid for r in kept)
    assert np.isfinite(kept_views.visible_pitch_m2).all() and np.isnan(dropped_views.visible_pitch_m2).all()


def test_without_calibration_views_rest_on_grass_and_boxes(clip):
    boxes = [clip.athlete_boxes(f)[0] for f in range(3)]
    views, judged = _judge(list(clip.frames.images[:3]), boxes, None)
    assert set(views.view) == {"main"} and judged == ()
    assert "no calibration" in views.reason[0]
    shot = _closeup(clip, 0)
    views, _ = _judge([shot[0]] * 3, [shot[1]] * 3, None)
    assert set(views.view) == {"close-up"}


def test_rules_and_evidence_refuse_bad_input():
    with pytest.raises(ValueError, match="window must be an odd"):
        dataclasses.replace(RULES, window=4)
    with pytest.raises(ValueError, match="min_pitch_m2 <= main_min_pitch_m2"):
        dataclasses.replace(RULES, min_pitch_m2=5000.0)
    empty = ViewEvidence.concat([])
    views, judged = classify_views(empty, [], RULES)
    assert len(views) == 0 and judged == ()
    with pytest.raises(ValueError, match="1 calibrations for 0 frames"):
        classify_views(empty, [CalibrationResult.invalid("x")], RULES)
    assert set(MAIN_VIEWS) == {"main", "zoomed"}
