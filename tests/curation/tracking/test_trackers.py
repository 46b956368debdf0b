"""Athlete trackers: the Tracker contract for every backend, identities on a synthetic clip, offline."""

from __future__ import annotations

import typing

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from soccerfactory.curation.config import CurateConfig, TrackConfig
from soccerfactory.curation.synth.config import SynthConfig
from soccerfactory.curation.synth.render import render_clip
from soccerfactory.curation.testing import decode_video, make_frames
from soccerfactory.curation.tracking.trackers import (
    APPEARANCE_DIM,
    TRACKERS,
    CameraPan,
    appearance_embeddings,
    build_tracker,
)
from soccerfactory.curation.types import BALL, GOALKEEPER, PLAYER, REFEREE, Detections, Frames, Tracks

BACKENDS = sorted(TRACKERS)
CLASS_IDS = {"goalkeeper": GOALKEEPER, "player": PLAYER, "referee": REFEREE}


@pytest.fixture(scope="session")
def clip(tmp_path_factory):
    """Two seconds of 640x360 synthetic broadcast: decoded frames and ground-truth athlete rows."""
    output = tmp_path_factory.mktemp("track-clip")
    render_clip(SynthConfig(seconds=2.0, seed=1, width=640, height=360), output)
    frames = decode_video(output / "video.mp4", fps=25.0)
    gt = pd.read_parquet(output / "gt" / "athletes.parquet")
    assert len(frames) == 50 and gt.frame_index.max() == 49
    return frames, gt


def gt_detections(gt: pd.DataFrame) -> Detections:
    return Detections(
        xyxy=gt[["x1", "y1", "x2", "y2"]].to_numpy(np.float32),
        confidence=np.full(len(gt), 0.9, dtype=np.float32),
        class_id=gt["class"].map(CLASS_IDS).to_numpy(),
        frame_index=gt.frame_index.to_numpy(),
    )


def run_in_batches(tracker, frames: Frames, detections: Detections, batch: int = 8) -> np.ndarray:
    """Track a clip batch by batch; returns the predicted id of every input row (-1: not output)."""
    predicted = np.full(len(detections), -1, dtype=np.int64)
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        rows = np.flatnonzero(np.isin(detections.frame_index, chunk.frame_index))
        out = tracker.update(chunk, detections[rows])
        assert isinstance(out, Tracks)
        assert set(out.frames.tolist()) <= set(chunk.frame_index.tolist())
        predicted[rows[out.data["det_index"]]] = out.track_id
    return predicted


def identity_figures(gt_ids: np.ndarray, predicted: np.ndarray, min_frames: int = 25) -> tuple[float, float]:
    """(IDF1, share of GT tracks seen >= min_frames whose majority id covers >= 90 % of their frames)."""
    tracked = predicted >= 0
    gt_keys, gt_of_row = np.unique(gt_ids, return_inverse=True)
    pred_keys, pred_of_row = np.unique(predicted[tracked], return_inverse=True)
    overlap = np.zeros((len(gt_keys), len(pred_keys)))
    np.add.at(overlap, (gt_of_row[tracked], pred_of_row), 1)
    r, c = linear_sum_assignment(-overlap)
    idf1 = 2 * overlap[r, c].sum() / (len(gt_ids) + tracked.sum())
    consistent = []
    for k in range(len(gt_keys)):
        frames_of_track = int((gt_of_row == k).sum())
        if frames_of_track >= min_frames:
            consistent.append(overlap[k].max() / frames_of_track >= 0.9)
    return float(idf1), float(np.mean(consistent))


# --------------------------------------------------------------------------- contract


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="bytetrack.*strongsort"):
        build_tracker("sort")


@pytest.mark.parametrize("name", BACKENDS)
def test_empty_detections_give_empty_tracks(name):
    tracker = build_tracker(name)
    frames = make_frames(3, height=72, width=128)
    out = tracker.update(frames, Detections.empty())
    assert isinstance(out, Tracks) and len(out) == 0
    assert out.data["det_index"].dtype == np.int64
    # A batch of zero frames is fine too, and the tracker keeps going afterwards.
    assert len(tracker.update(Frames.empty(72, 128, 25.0, "x"), Detections.empty())) == 0


@pytest.mark.parametrize("name", BACKENDS)
def test_rows_stay_aligned_with_their_detections(name, clip):
    frames, gt = clip
    frames, gt = frames[:10], gt[gt.frame_index < 10].reset_index(drop=True)
    detections = gt_detections(gt)
    # The ball is not tracked, and the rows arrive shuffled, with an extra data array to carry.
    ball = Detections([[300, 150, 304, 154]] * 10, [0.8] * 10, [BALL] * 10, np.arange(10))
    detections = Detections.merge([detections, ball])
    order = np.random.default_rng(0).permutation(len(detections))
    detections = detections[order].with_data(source_row=np.arange(len(detections)))

    out = build_tracker(name).update(frames, detections)
    assert len(out) >= 0.7 * len(gt)
    assert (out.track_id >= 0).all()
    assert not (out.class_id == BALL).any()
    source = detections[out.data["det_index"]]
    np.testing.assert_array_equal(out.class_id, source.class_id)
    np.testing.assert_array_equal(out.frame_index, source.frame_index)
    np.testing.assert_array_equal(out.confidence, source.confidence)
    np.testing.assert_array_equal(out.data["source_row"], out.data["det_index"])
    a, b = out.xyxy, source.xyxy
    inter = np.clip(np.minimum(a[:, 2:], b[:, 2:]) - np.maximum(a[:, :2], b[:, :2]), 0, None).prod(axis=1)
    union = (a[:, 2:] - a[:, :2]).prod(axis=1) + (b[:, 2:] - b[:, :2]).prod(axis=1) - inter
    assert (inter / union > 0.9).all()


def test_config_offers_exactly_the_registered_backends():
    backends = typing.get_args(TrackConfig.model_fields["backend"].annotation)
    assert sorted(backends) == BACKENDS
    assert TrackConfig().backend in TRACKERS


@pytest.mark.parametrize("name", BACKENDS)
def test_every_configured_backend_yields_valid_tracks(name, clip):
    """Each backend as the curate flow builds it (``track.backend``, the config's ``track.params``,
    the decode batch size) on a rendered clip whose detector misses boxes and jitters the rest."""
    config = CurateConfig().with_values({"track.backend": name})
    frames, gt = clip
    rng = np.random.default_rng(7)
    gt = gt[rng.random(len(gt)) >= 0.1].reset_index(drop=True)
    detections = gt_detections(gt)
    xyxy = detections.xyxy + rng.normal(0.0, 1.0, size=detections.xyxy.shape).astype(np.float32)
    xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 1)
    detections = Detections(xyxy, detections.confidence, detections.class_id, detections.frame_index)
    tracker = build_tracker(config.track.backend, fps=frames.fps, **config.track.params)
    batch = config.decode.batch_size
    parts = []
    for start in range(0, len(frames), batch):
        chunk = frames[start : start + batch]
        rows = np.flatnonzero(np.isin(detections.frame_index, chunk.frame_index))
        out = tracker.update(chunk, detections[rows])
        parts.append((rows, out))

    predicted = np.full(len(detections), -1, dtype=np.int64)
    for rows, out in parts:
        assert isinstance(out, Tracks) and (out.track_id >= 0).all()
        assert np.isin(out.class_id, [GOALKEEPER, PLAYER, REFEREE]).all()
        det_index = out.data["det_index"]
        assert det_index.dtype == np.int64 and len(np.unique(det_index)) == len(out)
        assert ((det_index >= 0) & (det_index < len(rows))).all()
        np.testing.assert_array_equal(out.xyxy, detections.xyxy[rows[det_index]])
        # One athlete, one row per frame: an id never appears twice in a frame.
        pairs = np.stack([out.frame_index, out.track_id], axis=1)
        assert len(np.unique(pairs, axis=0)) == len(out)
        assert out.data["appearance"].shape == (len(out), APPEARANCE_DIM)
        if "reid" in out.data:
            np.testing.assert_allclose(np.linalg.norm(out.data["reid"], axis=1), 1.0, rtol=1e-4)
        predicted[rows[det_index]] = out.track_id
    assert (predicted >= 0).mean() > 0.85
    idf1, _ = identity_figures(gt.track_id.to_numpy(), predicted)
    assert idf1 > 0.9


@pytest.mark.parametrize("name", BACKENDS)
def test_batches_must_follow_each_other(name, clip):
    frames, _ = clip
    tracker = build_tracker(name)
    tracker.update(frames[5:8], Detections.empty())
    with pytest.raises(ValueError, match="previous batch"):
        tracker.update(frames[6:9], Detections.empty())
    with pytest.raises(ValueError, match="not in frames"):
        tracker.update(frames[8:9], Detections([[0, 0, 5, 5]], [0.9], [PLAYER], [20]))


# --------------------------------------------------------------------------- identities


@pytest.mark.parametrize("name", BACKENDS)
def test_identities_are_kept_on_ground_truth_boxes(name, clip):
    frames, gt = clip
    predicted = run_in_batches(build_tracker(name), frames, gt_detections(gt))
    idf1, consistent = identity_figures(gt.track_id.to_numpy(), predicted)
    # Measured on this clip: IDF1 0.994 (bytetrack) and 0.990 (strongsort; 0.971 when it confirmed
    # a track after 3 frames, n_init 3), every track of 1 s or more consistent for both.
    assert idf1 > 0.93
    assert consistent >= 0.9


@pytest.mark.parametrize("name", BACKENDS)
def test_identities_survive_missed_detections(name, clip):
    frames, gt = clip
    rng = np.random.default_rng(3)
    kept = rng.random(len(gt)) >= 0.15  # a detector missing one box in seven
    gt = gt[kept].reset_index(drop=True)
    detections = gt_detections(gt)
    jitter = rng.normal(0.0, 1.0, size=(len(gt), 4)).astype(np.float32)
    xyxy = detections.xyxy + jitter
    xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2] + 1)
    detections = Detections(xyxy, detections.confidence, detections.class_id, detections.frame_index)
    predicted = run_in_batches(build_tracker(name), frames, detections)
    idf1, consistent = identity_figures(gt.track_id.to_numpy(), predicted)
    # Measured: IDF1 0.976 (bytetrack) and 0.966 (strongsort, n_init 1), 11 of 12 long tracks consistent;
    # the same trackers forgetting a track after one missed frame score 0.80 / 0.76 and 4 of 12.
    assert idf1 > 0.9
    assert consistent >= 0.75


def test_no_network_is_used(clip, no_network):
    frames, gt = clip
    frames, gt = frames[:4], gt[gt.frame_index < 4]
    for name in BACKENDS:
        out = build_tracker(name).update(frames, gt_detections(gt))
        assert len(out) > 0


# --------------------------------------------------------------------------- appearance, pan


def test_appearance_embeddings_tell_teams_and_referee_apart(clip):
    frames, gt = clip
    gt = gt[gt.frame_index < 10]
    embeddings = np.concatenate(
        [
            appearance_embeddings(frames.images[f], rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32))
            for f, rows in gt.groupby("frame_index")
        ]
    )
    assert embeddings.shape == (len(gt), APPEARANCE_DIM) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    group = np.where(gt.role == "player", gt.team.fillna(""), gt.role).astype(str)
    similarity = embeddings @ embeddings.T
    same = group[:, None] == group[None, :]
    # Measured: 0.82 within a group, 0.16 across.
    assert similarity[same].mean() > 0.7
    assert similarity[~same].mean() < 0.35
    centroids = {g: embeddings[group == g].mean(axis=0) for g in np.unique(group)}
    names = list(centroids)
    nearest = np.array(names)[np.argmax(embeddings @ np.stack([centroids[g] for g in names]).T, axis=1)]
    assert (nearest == group).mean() > 0.95


def test_appearance_embeddings_edge_cases():
    image = np.zeros((40, 60, 3), dtype=np.uint8)
    assert appearance_embeddings(image, np.zeros((0, 4), np.float32)).shape == (0, APPEARANCE_DIM)
    outside = appearance_embeddings(image, np.array([[100, 100, 120, 140]], np.float32))
    np.testing.assert_allclose(outside, 1 / np.sqrt(APPEARANCE_DIM), rtol=1e-6)
    with pytest.raises(ValueError, match="image"):
        appearance_embeddings(image.astype(np.float32), np.zeros((0, 4), np.float32))


def test_camera_pan_follows_a_shifted_image(clip):
    frames, _ = clip
    image = frames.images[0]
    shifted = np.roll(image, shift=(3, -12), axis=(0, 1))  # content moves 12 px left, 3 px down
    pan = CameraPan()
    np.testing.assert_allclose(pan.update(image), [0.0, 0.0])
    np.testing.assert_allclose(pan.update(shifted), [-12.0, 3.0], atol=1.0)
