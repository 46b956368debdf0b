"""Trackers with the re-identification network: StrongSORT's appearance, data["reid"] on every backend."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from soccerfactory.curation.synth.config import SynthConfig
from soccerfactory.curation.synth.render import render_clip
from soccerfactory.curation.testing import decode_video
from soccerfactory.curation.tracking.reid import REID_DIM
from soccerfactory.curation.tracking.trackers import build_tracker
from soccerfactory.curation.types import Detections, Frames
from tests.curation.tracking.test_trackers import gt_detections, identity_figures, run_in_batches


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Two seconds of 1280x720 synthetic play: decoded frames and ground-truth athlete rows."""
    output = tmp_path_factory.mktemp("track-reid-clip")
    render_clip(SynthConfig(seconds=2.0, seed=1, width=1280, height=720), output)
    return decode_video(output / "video.mp4", fps=25.0), pd.read_parquet(output / "gt" / "athletes.parquet")


def _idf1(gt_ids: np.ndarray, predicted: np.ndarray) -> float:
    return identity_figures(gt_ids, predicted)[0]


def test_unknown_appearance_lists_choices():
    with pytest.raises(ValueError, match="colour.*reid"):
        build_tracker("strongsort", appearance="osnet")


def test_missing_reid_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.pt.*training.reid"):
        build_tracker("strongsort", appearance="reid", reid_weights=str(tmp_path / "nowhere.pt"))


def test_empty_batches_carry_an_empty_reid_array():
    tracker = build_tracker("strongsort", appearance="reid")
    out = tracker.update(Frames.empty(72, 128, 25.0, "x"), Detections.empty())
    assert out.data["reid"].shape == (0, REID_DIM)


def test_strongsort_with_reid_keeps_identities_offline(clip, no_network):
    frames, gt = clip
    predicted = run_in_batches(build_tracker("strongsort", appearance="reid"), frames, gt_detections(gt))
    colour = run_in_batches(build_tracker("strongsort", appearance="colour"), frames, gt_detections(gt))
    # StrongSORT (n_init 1) reports a track from its first frame, but a run still scores a little under 1.
    assert _idf1(gt.track_id.to_numpy(), predicted) > 0.93
    assert _idf1(gt.track_id.to_numpy(), predicted) >= _idf1(gt.track_id.to_numpy(), colour) - 0.02


def test_reid_rows_align_with_colour_rows_and_bytetrack_ids_do_not_change(clip):
    frames, gt = clip
    frames, gt = frames[:12], gt[gt.frame_index < 12].reset_index(drop=True)
    detections = gt_detections(gt)
    plain = build_tracker("bytetrack").update(frames, detections)
    with_reid = build_tracker("bytetrack", appearance="reid").update(frames, detections)
    # ByteTrack never looks at appearance: the same rows and ids, plus the embeddings.
    np.testing.assert_array_equal(plain.track_id, with_reid.track_id)
    np.testing.assert_array_equal(plain.data["det_index"], with_reid.data["det_index"])
    assert "reid" not in plain.data
    reid = with_reid.data["reid"]
    assert reid.shape == (len(with_reid), REID_DIM) and reid.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(reid, axis=1), 1.0, rtol=1e-4)
    # Each row's embedding belongs to its own box: the same athlete in two frames is closer than two athletes.
    truth = gt.track_id.to_numpy()[with_reid.data["det_index"]]
    similarity = reid @ reid.T
    same = truth[:, None] == truth[None, :]
    assert similarity[same].mean() > similarity[~same].mean() + 0.2
