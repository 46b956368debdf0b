"""The jersey consistency rule: a tracklet's number counts only when reads in different frames agree."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import jersey_consensus
from soccerfactory.curation.config import AttributeConfig, VoteConfig
from soccerfactory.curation.pipeline import Attributes, SpatialResult, vote_clip
from soccerfactory.curation.types import Detections, Tracks
from soccerfactory.curation.video.clips import ClipSpec, clip_hash


def _consensus(track, number, confidence, frame=None, **rule):
    settings = {"min_confidence": 0.5, "min_reads": 2, "min_share": 0.6, **rule}
    votes = jersey_consensus(np.array(track), np.array(number), np.float32(confidence), frame_index=frame, **settings)
    return {int(t): c for t, c in zip(votes.track_ids, votes.consensus)}


def test_one_stray_read_never_becomes_a_number():
    # Track 0: one confident 7 among unread crops; track 1: one read only.
    assert _consensus([0, 0, 0, 1], [7, -1, -1, 4], [0.99, 0, 0, 0.99]) == {0: None, 1: None}
    # A second read below min_confidence does not count as agreeing.
    assert _consensus([0, 0], [7, 7], [0.99, 0.3]) == {0: None}


def test_two_agreeing_reads_in_different_frames_do():
    assert _consensus([0, 0, 0], [7, 7, -1], [0.9, 0.8, 0.0], frame=np.array([3, 8, 12])) == {0: 7}
    # The same two reads from one frame (two crops of one instant) are one observation.
    assert _consensus([0, 0], [7, 7], [0.9, 0.8], frame=np.array([5, 5])) == {0: None}
    # min_reads=1 accepts a single read (the rule is configurable).
    assert _consensus([0], [7], [0.9], min_reads=1) == {0: 7}


def test_a_read_two_readers_agree_on_counts_twice():
    frames = np.array([3, 8])
    # One read each: track 0 by both readers, track 1 by one reader only.
    both = {"frame": frames, "readers": np.int8([2, 1])}
    assert _consensus([0, 1], [7, 4], [0.9, 0.99], **both) == {0: 7, 1: None}
    # Without reader counts (attribute.jersey_count_readers off) neither is a number.
    assert _consensus([0, 1], [7, 4], [0.9, 0.99], frame=frames) == {0: None, 1: None}
    # Two readers on one frame are counted once per frame, not once per crop.
    assert _consensus([0, 0], [7, 7], [0.9, 0.9], frame=np.array([5, 5]), readers=np.int8([1, 1])) == {0: None}
    # A rival read both readers agree on is confirmed too: two numbers, no number.
    assert _consensus([0] * 4, [29, 29, 29, 30], [0.9] * 4, frame=np.arange(4), readers=np.int8([1, 1, 1, 2])) == {0: None}
    # The share rule still weighs confidence: a doubly read 7 against three 1s is refused.
    assert _consensus([0] * 4, [7, 1, 1, 1], [0.9] * 4, frame=np.arange(4), readers=np.int8([2, 1, 1, 1])) == {0: None}
    with pytest.raises(ValueError, match="readers"):
        _consensus([0], [7], [0.9], readers=np.int8([0]))


def test_disagreeing_reads_must_be_dominated():
    # 7 twice and 1 twice: 7 has half the weight, under min_share 0.6 -> no number.
    assert _consensus([0, 0, 0, 0], [7, 7, 1, 1], [0.9, 0.9, 0.85, 0.85]) == {0: None}
    # Three 7s against one 1: 0.75 of the weight -> 7.
    assert _consensus([0, 0, 0, 0], [7, 7, 7, 1], [0.9, 0.9, 0.9, 0.9]) == {0: 7}


def test_rule_arguments_are_checked():
    with pytest.raises(ValueError, match="min_reads"):
        jersey_consensus(np.zeros(1, np.int64), np.ones(1, int), np.ones(1, np.float32), 0.5, 0, 0.6)
    with pytest.raises(ValueError, match="aligned"):
        jersey_consensus(np.zeros(2, np.int64), np.ones(1, int), np.ones(1, np.float32), 0.5, 2, 0.6)


def _clip(reads: dict[int, list[int]]) -> tuple[SpatialResult, Attributes]:
    """Tracklets on four frames, and the jersey reads of their semantic crops."""
    source = hashlib.sha256(b"clip").hexdigest()
    clip = ClipSpec(match_id="m", clip_id="c", url="file:///m.mp4", kind="video", start_frame=0, stop_frame=4, fps=25.0,
                    width=640, height=360, content_hash=clip_hash(source, 0, 4), source_hash=source)
    tracks_ids = sorted(reads)
    rows = [(f, t) for f in range(4) for t in tracks_ids]
    tracks = Tracks(
        xyxy=np.tile(np.float32([[10, 10, 40, 90]]), (len(rows), 1)), confidence=np.full(len(rows), 0.9, np.float32),
        class_id=[2] * len(rows), frame_index=[f for f, _ in rows], track_id=[t for _, t in rows],
    )
    spatial = SpatialResult(
        clip=clip, frame_index=np.arange(4), tracks=tracks, ball=Detections.empty(), calibrations=(), crops=AthleteCrops.empty(),
        crop_pitch_x=np.zeros(0, np.float32), semantic_frame_index=np.arange(4), seconds=0.0,
    )
    track_id = np.array([t for t in tracks_ids for _ in reads[t]], dtype=np.int64)
    jersey = np.array([j for t in tracks_ids for j in reads[t]], dtype=np.int32)
    attributes = Attributes(
        track_id=track_id, team=np.array(["A"] * len(track_id), dtype=object), team_confidence=np.full(len(track_id), 0.9, np.float32),
        jersey=jersey, jersey_confidence=np.where(jersey > 0, 0.9, 0.0).astype(np.float32), seconds=0.0,
    )
    return spatial, attributes


def test_vote_clip_applies_the_rule():
    spatial, attributes = _clip({0: [7, -1, -1, -1], 1: [9, 9, -1, -1], 2: [4, 5, 4, 5]})
    labels = vote_clip(spatial, attributes, AttributeConfig(), VoteConfig(link_by_jersey=False))
    by_track = {int(t): j for t, j in zip(labels.tracklet_id, labels.jersey)}
    assert by_track == {0: None, 1: 9, 2: None}  # a stray read, two agreeing reads, a tie
    loose = vote_clip(spatial, attributes, AttributeConfig(jersey_min_reads=1), VoteConfig(link_by_jersey=False))
    assert {int(t): j for t, j in zip(loose.tracklet_id, loose.jersey)}[0] == 7


def test_vote_clip_counts_readers_only_when_configured():
    spatial, attributes = _clip({0: [7, -1, -1, -1], 1: [9, -1, -1, -1]})
    attributes = dataclasses.replace(attributes, jersey_readers=np.int8([2, 0, 0, 0, 1, 0, 0, 0]))
    labels = vote_clip(spatial, attributes, AttributeConfig(), VoteConfig(link_by_jersey=False))
    assert {int(t): j for t, j in zip(labels.tracklet_id, labels.jersey)} == {0: 7, 1: None}
    off = vote_clip(spatial, attributes, AttributeConfig(jersey_count_readers=False), VoteConfig(link_by_jersey=False))
    assert {int(t): j for t, j in zip(off.tracklet_id, off.jersey)} == {0: None, 1: None}


def test_two_confirmed_numbers_on_one_tracklet_give_none():
    # 29 five times, then 30 twice (an identity switch onto a team mate): the share rule alone
    # would say 29; a second confirmed number means the tracklet's number is not known.
    track, number = [0] * 7, [29] * 5 + [30] * 2
    assert _consensus(track, number, [0.9] * 7, frame=np.arange(7)) == {0: None}
    # One stray rival read does not refuse a well-read number.
    assert _consensus([0] * 6, [29] * 5 + [30], [0.9] * 6, frame=np.arange(6)) == {0: 29}
