"""Camera propagation within a shot (curation/calibration/propagate.py), against the renderer's
exact cameras."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.calibration.propagate import (
    FrameMotion,
    ImageMotion,
    PropagationRules,
    camera_moved,
    propagate_and_gate,
    propagate_cameras,
)
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.calibration.view_classify import frame_evidence
from soccerfactory.curation.config import CalibrateConfig
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.testing import make_camera
from soccerfactory.curation.types import Detections

#: Chains from one anchor (the anchor-run rule has a test of its own).
ONE = PropagationRules(min_anchor_run=1)


def _image_motion(a, b) -> np.ndarray:
    """The true image homography from camera ``a``'s pixels to ``b``'s (same mount)."""
    return b.K @ b.R @ a.R.T @ np.linalg.inv(a.K)


def _athletes(clip) -> Detections:
    boxes, frames = [], []
    for frame in clip.frames.frame_index.tolist():
        xyxy, _ = clip.athlete_boxes(frame)
        boxes.append(xyxy)
        frames.append(np.full(len(xyxy), frame))
    xyxy = np.concatenate(boxes).astype(np.float32)
    return Detections(xyxy=xyxy, confidence=np.ones(len(xyxy), np.float32), class_id=np.full(len(xyxy), 2),
                      frame_index=np.concatenate(frames).astype(np.int64))


@pytest.fixture(scope="module")
def measured(clip):
    motion = ImageMotion()
    motion.add(clip.frames, _athletes(clip))
    return motion.motions


def test_camera_moved_recovers_pan_and_zoom(panned, line_error_px):
    start = make_camera()
    for pan, zoom in ((2.0, 1.0), (-4.0, 1.6), (0.5, 0.7)):
        end = panned(start, pan, zoom)
        moved = camera_moved(start, _image_motion(start, end))
        assert moved is not None
        assert line_error_px(moved, end) < 0.01
        assert np.allclose(moved.position, start.position)
    # A stretch along one image axis is no pan, tilt or zoom of a fixed camera.
    assert camera_moved(start, np.diag([1.3, 1.0, 1.0])) is None


def test_image_motion_matches_the_true_motion_of_rendered_frames(clip, measured):
    assert len(measured) == len(clip.frames) and measured[0].homography is None
    grid = np.array([[x, y, 1.0] for x in np.linspace(60, 580, 6) for y in np.linspace(40, 320, 5)]).T
    rules = PropagationRules()
    for i in range(1, len(measured)):
        truth = _image_motion(clip.camera(i - 1), clip.camera(i))
        m = measured[i]
        assert rules.link_ok(m), m
        a, b = m.homography @ grid, truth @ grid
        error = np.median(np.linalg.norm(a[:2] / a[2] - b[:2] / b[2], axis=0))
        assert error < 0.5, (i, error)


def test_cameras_are_carried_from_the_anchor(clip, measured, line_error_px):
    frames = clip.frames.frame_index
    results = [CalibrationResult.from_camera(clip.camera(0), 1.0, 6, 2)] + [
        CalibrationResult.invalid("too few keypoints") for _ in range(len(frames) - 1)]
    carried = propagate_cameras(frames, results, measured, PropagationRules(max_frames=20, min_anchor_run=1))
    assert sorted(carried) == frames[1:].tolist()
    for frame, p in carried.items():
        assert p.result.valid and p.source_frame == 0 and p.n_links == frame
        assert "propagated from frame 0" in p.note
        # Drift grows with the chain (measured: 0.45 px after 9 links at 640x360, ECC at 160x90).
        assert line_error_px(p.result.camera, clip.camera(frame)) < 0.2 + 0.1 * p.n_links
    # The length bound: three frames at most.
    short = propagate_cameras(frames, results, measured, PropagationRules(max_frames=3, min_anchor_run=1))
    assert sorted(short) == [1, 2, 3]
    # Backwards from an anchor at the end.
    last = len(frames) - 1
    reverse = [CalibrationResult.invalid("none")] * last + [CalibrationResult.from_camera(clip.camera(last), 1.0, 6, 2)]
    back = propagate_cameras(frames, reverse, measured, ONE)
    assert sorted(back) == frames[:-1].tolist()
    assert all(line_error_px(p.result.camera, clip.camera(f)) < 0.2 + 0.1 * p.n_links for f, p in back.items())


def test_a_gap_that_does_not_close_is_refused(clip, measured, panned):
    frames = clip.frames.frame_index
    last = len(frames) - 1
    middle = [CalibrationResult.invalid("none")] * (last - 1)
    right = CalibrationResult.from_camera(clip.camera(last), 1.0, 6, 2)
    closes = propagate_cameras(frames, [CalibrationResult.from_camera(clip.camera(0), 1.0, 6, 2), *middle, right], measured, ONE)
    assert sorted(closes) == list(range(1, last)) and "closes within" in closes[1].note
    wrong = CalibrationResult.from_camera(panned(clip.camera(last), 3.0, 1.0), 1.0, 6, 2)
    assert propagate_cameras(frames, [CalibrationResult.from_camera(clip.camera(0), 1.0, 6, 2), *middle, wrong], measured, ONE) == {}


def test_a_weak_link_stops_the_chain(clip, measured):
    frames = clip.frames.frame_index
    motions = list(measured)
    motions[4] = FrameMotion(4, None)  # not measured: a cut, a flash, nothing to track
    results = [CalibrationResult.from_camera(clip.camera(0), 1.0, 6, 2)] + [CalibrationResult.invalid("none")] * (len(frames) - 1)
    assert sorted(propagate_cameras(frames, results, motions, ONE)) == [1, 2, 3]
    with pytest.raises(ValueError, match="same order"):
        propagate_cameras(frames, results, motions[::-1], ONE)


def test_carried_cameras_pass_the_view_gates_and_say_so(clip, measured):
    frames = clip.frames.frame_index
    pitch = PitchModel(length=105.0, width=68.0)
    athletes = _athletes(clip)
    results = [CalibrationResult.from_camera(clip.camera(0), 1.0, 6, 2)] + [CalibrationResult.invalid("none")] * (len(frames) - 1)
    evidence = frame_evidence(clip.frames, results, athletes, pitch)
    rules = CalibrateConfig().view_rules()  # the curation defaults
    views, gated, carried = propagate_and_gate(evidence, results, measured, ONE, rules, athletes, pitch)
    assert all(r.valid for r in gated) and sorted(carried) == frames[1:].tolist()
    assert all("camera propagated from frame 0" in reason for reason in views.reason[1:])
    # The last five frames with nobody detected in them (how a close-up looks to the gates): the
    # camera carried onto them is refused with the gate's reason.
    few = athletes[athletes.frame_index < 5]
    evidence = frame_evidence(clip.frames, results, few, pitch)
    _, gated, carried = propagate_and_gate(evidence, results, measured, ONE, rules, few, pitch)
    assert gated[0].valid and set(carried) <= {1, 2, 3, 4, 5, 6}
    for frame in (7, 8, 9):
        assert not gated[frame].valid and gated[frame].reason.startswith("camera refused: ")
        assert gated[frame].reason.endswith(f"(the camera propagated from frame 0 by image motion over {frame} frames)")


def test_only_a_run_of_cameras_the_motion_agrees_with_is_carried(clip, measured, panned):
    frames = clip.frames.frame_index
    n = len(frames)
    lone = [CalibrationResult.from_camera(clip.camera(0), 1.0, 6, 2)] + [CalibrationResult.invalid("none")] * (n - 1)
    assert propagate_cameras(frames, lone, measured, PropagationRules()) == {}  # default: a run of 5
    run = [CalibrationResult.from_camera(clip.camera(f), 1.0, 6, 2) if f < 5 else CalibrationResult.invalid("none") for f in range(n)]
    assert sorted(propagate_cameras(frames, run, measured, PropagationRules())) == list(range(5, n))
    # One camera of the run off its neighbours by 2 degrees of pan: the run is broken, nothing is carried.
    run[2] = CalibrationResult.from_camera(panned(clip.camera(2), 2.0, 1.0), 1.0, 6, 2)
    assert propagate_cameras(frames, run, measured, PropagationRules()) == {}


def test_frames_with_too_few_athletes_get_no_motion(clip):
    motion = ImageMotion(min_athletes=10**6)
    motion.add(clip.frames, _athletes(clip))
    assert all(m.homography is None for m in motion.motions)
