"""Crops of the source-rate pass (curation/spatial.py): every row of a sampled frame, and every track
at least once per team-colour period, so a tracklet that lives between the sampled frames (or is
hidden on them) still gets a shirt colour, at a bounded cost."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.attribute.builders import build_jersey_reader, build_team_classifier
from soccerfactory.curation.config import CalibrateConfig, DecodeConfig
from soccerfactory.curation.pipeline import ClipStages, annotate_spatial
from soccerfactory.curation.quality.clips import clip_of
from soccerfactory.curation.spatial import _crop_rows, _sampled_frames
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.tracking.trackers import build_tracker

from tests.curation.test_pipeline_views import TruthDetector, _truth


def test_sampled_frames_crop_every_row_and_other_frames_only_tracks_without_a_recent_crop():
    # Track 1 is on every frame; track 2 appears at frame 3 (between samples at 0 and 10) and
    # lives to 6; track 3 is hidden on sampled frame 10 and seen on 11..25.
    frames, ids = [], []
    for f in range(26):
        for t, alive in ((1, True), (2, 3 <= f <= 6), (3, f <= 9 or f >= 11)):
            if alive:
                frames.append(f), ids.append(t)
    frame_index, track_id = np.array(frames), np.array(ids)
    last: dict[int, int] = {}
    # Two batches: the last crop of each track carries over.
    cut = int(np.searchsorted(frame_index, 13))
    rows = np.concatenate([
        _crop_rows(frame_index[:cut], track_id[:cut], {0, 10, 20}, last, 10),
        _crop_rows(frame_index[cut:], track_id[cut:], {0, 10, 20}, last, 10),
    ])
    cropped = sorted(zip(frame_index[rows].tolist(), track_id[rows].tolist()))
    # Frames 0, 10, 20: everyone there. Track 2: once, at its first frame. Track 3: cropped at 0,
    # missed at 10, so cropped at 11 (11 frames without a crop), and at 20 with everyone.
    assert cropped == [(0, 1), (0, 3), (3, 2), (10, 1), (11, 3), (20, 1), (20, 3)]
    assert last == {1: 20, 2: 3, 3: 20}


def test_a_track_on_every_sampled_frame_gets_no_extra_crop():
    frame_index = np.repeat(np.arange(50), 2)
    track_id = np.tile([4, 5], 50)
    rows = _crop_rows(frame_index, track_id, {5, 15, 25, 35, 45}, {}, 10)
    # The first rows of each track (frames 0..4, before the first sample) start it; then only samples.
    assert sorted(set(frame_index[rows].tolist())) == [0, 5, 15, 25, 35, 45]


class HidesOnSampledFrames(TruthDetector):
    """The rendered boxes, with every athlete in the right half of the image missed on ``hidden`` frames."""

    def __init__(self, boxes, hidden, width):
        super().__init__(boxes)
        self.hidden, self.width = set(hidden), width

    def __call__(self, frames):
        detections = super().__call__(frames)
        centre = (detections.xyxy[:, 0] + detections.xyxy[:, 2]) / 2
        gone = np.isin(detections.frame_index, list(self.hidden)) & (centre > self.width / 2)
        return detections[~gone]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("spatial-crops")
    render_clip(SynthConfig(seconds=1.6, seed=12, width=640, height=360), root)
    return root


@pytest.mark.slow
def test_every_track_of_a_real_pass_gets_a_crop_at_a_bounded_cost(rendered):
    boxes, _, _ = _truth(rendered)
    clip = clip_of(rendered)
    decode = DecodeConfig(batch_size=8, semantic_fps=1.0, jersey_fps=1.0)
    sampled = _sampled_frames(clip, 1.0)
    stages = ClipStages(
        detector=HidesOnSampledFrames(boxes, sampled, clip.width),
        new_tracker=lambda fps: build_tracker("bytetrack", fps=fps),
        new_calibrator=None,
        refiner=None,
        team_classifier=build_team_classifier("kmeans-color"),
        jersey_reader=build_jersey_reader("none"),
    )
    result = annotate_spatial(clip, stages, decode, calibrate=CalibrateConfig())
    tracks, crops = result.tracks, result.crops
    # Athletes on the right of the image are missed on every sampled frame: without the per-track
    # crops they would have none.
    on_sampled = set(tracks.track_id[np.isin(tracks.frame_index, list(sampled))].tolist())
    between = set(tracks.track_id.tolist()) - on_sampled
    assert between, "the test needs tracks seen only between the sampled frames"
    assert set(crops.track_id.tolist()) == set(tracks.track_id.tolist())
    # Each crop is one of a tracked row.
    rows = set(zip(tracks.frame_index.tolist(), tracks.track_id.tolist()))
    assert all(key in rows for key in zip(crops.frame_index.tolist(), crops.track_id.tolist()))
    # Bounded: the rows of the sampled frames plus at most one crop per track per period (25 frames).
    n_sampled = int(np.isin(tracks.frame_index, list(sampled)).sum())
    periods = -(-clip.num_frames // 25)
    assert len(crops) <= n_sampled + len(tracks.track_ids()) * periods
    assert len(crops) < len(tracks) / 4  # far from cropping every row
    assert np.isfinite(result.crop_pitch_x).sum() == 0  # no calibrator: no positions
    assert len(result.crop_pitch_x) == len(crops)
