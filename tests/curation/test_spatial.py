"""The pipelined source-rate pass (curation/spatial.py): the same labels as the sequential loop on a
rendered clip, decoding errors that surface as before, failures that stop every thread, and a
decode queue that stays bounded."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from soccerfactory.curation.attribute.builders import build_jersey_reader, build_team_classifier
from soccerfactory.curation.calibration.builders import build_calibrator
from soccerfactory.curation.config import CalibrateConfig, DecodeConfig
from soccerfactory.curation.pipeline import ClipStages, annotate_spatial
from soccerfactory.curation.quality.clips import clip_of
from soccerfactory.curation.spatial import _DecodeAhead, _StageTimer
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import make_frames, source_item, write_video, decode_frames
from soccerfactory.curation.tracking.trackers import build_tracker
from soccerfactory.curation.tracking.tracklets import TrackletCleanup
from soccerfactory.curation.types import BALL, PLAYER, Detections
from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.clips import split_clips
from soccerfactory.curation.video.scan import scan_video

from tests.curation.test_pipeline_views import TruthDetector, _truth


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """1.6 s of 640x360 broadcast footage (seed 12) and its truth boxes and cameras."""
    root = tmp_path_factory.mktemp("spatial")
    render_clip(SynthConfig(seconds=1.6, seed=12, width=640, height=360), root)
    boxes, _, cameras = _truth(root)
    return root, boxes, cameras


class SlowTruthDetector(TruthDetector):
    """The truth boxes, a little late: the calibrator thread runs while it waits."""

    def __call__(self, frames):
        time.sleep(0.01)
        return super().__call__(frames)


def _stages(boxes, cameras) -> ClipStages:
    calibrator = build_calibrator("lines-classic", initial_camera=cameras[0])
    return ClipStages(
        detector=SlowTruthDetector(boxes),
        new_tracker=lambda fps: build_tracker("bytetrack", fps=fps),
        new_calibrator=calibrator.fresh,
        refiner=None,
        team_classifier=build_team_classifier("kmeans-color"),
        jersey_reader=build_jersey_reader("none"),
        postprocess_tracks=TrackletCleanup(min_length_s=0.2),
    )


def _same(a, b) -> None:
    assert np.array_equal(a.frame_index, b.frame_index)
    assert np.array_equal(a.tracks.xyxy, b.tracks.xyxy) and np.array_equal(a.tracks.track_id, b.tracks.track_id)
    assert np.array_equal(a.tracks.frame_index, b.tracks.frame_index)
    np.testing.assert_array_equal(a.tracks.data["pitch_xy"], b.tracks.data["pitch_xy"])
    assert np.array_equal(a.ball.xyxy, b.ball.xyxy) and np.array_equal(a.ball.frame_index, b.ball.frame_index)
    assert [r.valid for r in a.calibrations] == [r.valid for r in b.calibrations]
    assert [r.reason for r in a.calibrations] == [r.reason for r in b.calibrations]
    for r, s in zip(a.calibrations, b.calibrations):
        if r.camera is not None:
            np.testing.assert_array_equal(r.camera.K, s.camera.K)
            np.testing.assert_array_equal(r.camera.R, s.camera.R)
    assert list(a.views.view) == list(b.views.view)
    assert np.array_equal(a.crops.track_id, b.crops.track_id) and np.array_equal(a.crops.frame_index, b.crops.frame_index)
    assert all(np.array_equal(x, y) for x, y in zip(a.crops.images, b.crops.images))
    np.testing.assert_array_equal(a.crop_pitch_x, b.crop_pitch_x)


def test_pipelined_and_sequential_passes_give_the_same_labels(rendered):
    root, boxes, cameras = rendered
    clip = clip_of(root).head(15)  # five batches: the calibrator lags, the decoder runs ahead
    decode = DecodeConfig(batch_size=3, semantic_fps=5.0)
    calibrate = CalibrateConfig()
    done: list[int] = []
    sequential = annotate_spatial(clip, _stages(boxes, cameras), decode, calibrate=calibrate, pipelined=False)
    pipelined = annotate_spatial(clip, _stages(boxes, cameras), decode, calibrate=calibrate, progress=lambda d, t: done.append(d))
    assert pipelined.n_frames == clip.num_frames and len(pipelined.tracks) > 0 and len(pipelined.crops) > 0
    assert sum(r.valid for r in pipelined.calibrations) >= 0.8 * clip.num_frames  # the cameras were solved, not skipped
    _same(sequential, pipelined)
    assert done == sorted(done) and done[-1] == clip.num_frames  # progress in frame order, to the end
    # Every stage is timed in its own thread, and the whole pass as wall time.
    for stage in ("decode", "detect", "track", "calibrate", "views", "decode_wait", "calibrate_wait"):
        assert stage in pipelined.stage_seconds, stage
    assert pipelined.stage_seconds["wall"] == pipelined.seconds
    assert "decode_wait" not in sequential.stage_seconds


def test_a_decoding_failure_mid_clip_is_the_bad_input_error_naming_the_file(rendered, tmp_path):
    root, boxes, cameras = rendered
    path = write_video(tmp_path / "match.avi", decode_frames(root / "video.mp4")[:20], 25.0, "MJPG")
    clip = split_clips(scan_video(source_item(path)), max_clip_seconds=60)[0]
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])  # the file changed after the scan
    before = threading.active_count()
    with pytest.raises(BadInputError, match=r"decoding failed at frame \d+ \(clip ") as caught:
        annotate_spatial(clip, _stages(boxes, cameras), DecodeConfig(batch_size=4), calibrate=CalibrateConfig())
    assert caught.value.url == str(path)
    assert threading.active_count() == before  # the decode and calibrate threads are gone


class FailsOnFrame(TruthDetector):
    def __init__(self, boxes, frame: int) -> None:
        super().__init__(boxes)
        self.frame = frame

    def __call__(self, frames):
        if self.frame in frames.frame_index:
            raise RuntimeError("detector blew up")
        return super().__call__(frames)


def test_a_stage_failure_names_the_clip_and_frames_and_stops_the_threads(rendered):
    root, boxes, cameras = rendered
    clip = clip_of(root).head(16)
    stages = ClipStages(**{**_stages(boxes, cameras).__dict__, "detector": FailsOnFrame(boxes, 9)})
    before = threading.active_count()
    with pytest.raises(RuntimeError, match="detector blew up") as caught:
        annotate_spatial(clip, stages, DecodeConfig(batch_size=4), calibrate=CalibrateConfig())
    assert any(f"clip {clip.clip_id}" in note and "frames 8..11" in note for note in caught.value.__notes__)
    assert threading.active_count() == before


def test_the_decode_queue_stays_bounded_while_the_consumer_is_slow():
    produced = []

    def batches():
        for k in range(50):
            produced.append(k)
            yield make_frames(2, start=2 * k)

    ahead = _DecodeAhead(batches(), depth=2, timer=_StageTimer())
    taken = 0
    try:
        for frames in ahead:
            taken += 1
            time.sleep(0.01)
            # Queued (2), plus the one the thread holds waiting for room: never more ahead.
            assert len(produced) - taken <= 3
            if taken == 10:
                break
    finally:
        ahead.close()
    assert taken == 10 and len(produced) <= 13  # the thread stopped instead of reading to the end


class FadingDetector(TruthDetector):
    """The truth boxes; athlete 0's box at confidence 0.15 on the middle frames, a lone 0.15 box on
    nobody, and a 0.15 ball."""

    def __call__(self, frames):
        detections = super().__call__(frames)
        confidence = detections.confidence.copy()
        middle = (detections.frame_index >= 5) & (detections.frame_index < 10)
        first_athlete = np.r_[True, detections.frame_index[1:] != detections.frame_index[:-1]] & (detections.class_id != BALL)
        confidence[middle & first_athlete] = 0.15
        confidence[detections.class_id == BALL] = 0.15
        nobody = Detections(xyxy=np.tile(np.array([[1, 1, 11, 31]], np.float32), (len(frames), 1)), confidence=np.full(len(frames), 0.15, np.float32),
                            class_id=np.full(len(frames), PLAYER), frame_index=frames.frame_index)
        return Detections.merge([Detections(detections.xyxy, confidence, detections.class_id, detections.frame_index), nobody])


def test_boxes_under_keep_conf_only_extend_tracks(rendered):
    """detect.track_conf: a weak box carries its athlete's track over the frames it is weak on, but
    starts no track of its own, and the ball, views and cameras never see it."""
    root, boxes, cameras = rendered
    clip = clip_of(root).head(15)
    decode, calibrate = DecodeConfig(batch_size=3, semantic_fps=5.0), CalibrateConfig()
    stages = ClipStages(**{**_stages(boxes, cameras).__dict__, "detector": FadingDetector(boxes)})
    both = annotate_spatial(clip, dataclasses.replace(stages, keep_conf=0.25), decode, calibrate=calibrate)
    strong = annotate_spatial(clip, dataclasses.replace(stages, keep_conf=0.25, detector=_Above(FadingDetector(boxes), 0.25)), decode, calibrate=calibrate)
    weak_rows = both.tracks.confidence < 0.25
    assert weak_rows.sum() >= 3  # athlete 0 stays tracked while its box is weak
    assert not np.any((both.tracks.xyxy[:, 2] <= 11) & (both.tracks.xyxy[:, 3] <= 31))  # the lone weak box is no track
    assert len(both.tracks) == len(strong.tracks) + int(weak_rows.sum())
    assert len(both.ball) == len(strong.ball) == 0  # a 0.15 ball is below conf: not the ball
    assert list(both.views.view) == list(strong.views.view)
    assert [r.valid for r in both.calibrations] == [r.valid for r in strong.calibrations]


class _Above:
    name = version = "above"

    def __init__(self, detector, conf):
        self.detector, self.conf = detector, conf

    def __call__(self, frames):
        detections = self.detector(frames)
        return detections[detections.confidence >= self.conf]
