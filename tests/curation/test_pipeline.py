"""Stage declarations: a chain is checked before any model loads; a clip's votes laid out as tables."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.config import AttributeConfig, VoteConfig
from soccerfactory.curation.layout import ShardIdentity
from soccerfactory.curation.chain import STAGE_SPECS, ChainError, validate_chain
from soccerfactory.curation.pipeline import Attributes, SpatialResult, layout_clip, vote_clip
from soccerfactory.curation.types import Detections, Tracks
from soccerfactory.curation.video.clips import ClipSpec, clip_hash
from soccerfactory.curation.vote import AthleteLabels


def test_full_chain_is_valid():
    specs = validate_chain(list(STAGE_SPECS))
    assert [s.name for s in specs] == list(STAGE_SPECS)


def test_stage_missing_an_input_names_what_provides_it():
    with pytest.raises(ChainError, match=r"stage 'track' needs \['detections'\].*\['detect'\]"):
        validate_chain(["decode", "track"])


def test_vote_without_attribute_is_rejected():
    with pytest.raises(ChainError, match=r"'vote' needs .*team_observations"):
        validate_chain(["decode", "detect", "track", "vote"])


def test_unknown_stage_lists_the_valid_ones():
    with pytest.raises(ChainError, match=r"unknown stage 'ocr'; valid stages: \['decode'"):
        validate_chain(["decode", "ocr"])


def _spatial_and_attributes() -> tuple[SpatialResult, Attributes]:
    """Three tracklets over 4 frames: 0 and 2 are one athlete (team A, #7, never together), 1 a referee."""
    source = hashlib.sha256(b"clip").hexdigest()
    clip = ClipSpec(match_id="m", clip_id="c", url="file:///m.mp4", kind="video", start_frame=0, stop_frame=4, fps=25.0,
                    width=640, height=360, content_hash=clip_hash(source, 0, 4), source_hash=source)
    frames = np.arange(4, dtype=np.int64)
    rows = [(0, 0, 1), (0, 1, 3), (1, 0, 1), (1, 1, 3), (2, 2, 1), (2, 1, 3), (3, 2, 1), (3, 1, 3)]  # frame, track, class
    tracks = Tracks(
        xyxy=np.tile(np.float32([[10, 10, 40, 90]]), (len(rows), 1)), confidence=np.full(len(rows), 0.9, np.float32),
        class_id=[c for _, _, c in rows], frame_index=[f for f, _, _ in rows], track_id=[t for _, t, _ in rows],
    )
    spatial = SpatialResult(
        clip=clip, frame_index=frames, tracks=tracks, ball=Detections.empty(), calibrations=(), crops=AthleteCrops.empty(),
        crop_pitch_x=np.zeros(0, np.float32), semantic_frame_index=frames[:1], seconds=0.0,
    )
    # Two reads of #7 on each of tracklets 0 and 2 (one crop per tracklet and frame): a number
    # counts only when attribute.jersey_min_reads reads agree.
    attributes = Attributes(
        track_id=np.array([0, 0, 2, 2, 1], dtype=np.int64), team=np.array(["A", "A", "A", "A", "B"], dtype=object),
        team_confidence=np.float32([0.9, 0.9, 0.8, 0.8, 0.9]), jersey=np.int32([7, 7, 7, 7, 3]),
        jersey_confidence=np.float32([0.9] * 5), seconds=0.0,
    )
    return spatial, attributes


def test_vote_clip_only_votes_and_layout_clip_stamps_the_identity():
    spatial, attributes = _spatial_and_attributes()
    labels = vote_clip(spatial, attributes, AttributeConfig(), VoteConfig())
    assert isinstance(labels, AthleteLabels) and len(labels) == len(spatial.tracks)
    assert labels.tracklet_id.tolist() == spatial.tracks.track_id.tolist()
    assert labels.track_id.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]  # tracklet 2 joined to 0 by team A and #7
    assert labels.team.tolist() == ["A", None] * 4  # the referee belongs to no team
    assert labels.track_length.tolist() == [4] * 8
    unlinked = vote_clip(spatial, attributes, AttributeConfig(), VoteConfig(link_by_jersey=False))
    assert unlinked.track_id.tolist() == spatial.tracks.track_id.tolist()
    identity = ShardIdentity(config_hash="cfg", code_version="v", shard_key="ab" * 32)
    tables = layout_clip(spatial, labels, identity)
    assert tables["athletes"].column("track_id").to_pylist() == labels.track_id.tolist()
    assert tables["clips"].select(["config_hash", "code_version", "shard_key"]).to_pylist()[0] == {
        "config_hash": "cfg", "code_version": "v", "shard_key": "ab" * 32,
    }
    assert layout_clip(spatial, labels)["clips"].column("shard_key").to_pylist() == [""]


def test_vote_clip_reads_jersey_rows_apart_from_team_rows():
    # Jersey reads at their own rate: more rows than the team crops, with their own frames.
    spatial, attributes = _spatial_and_attributes()
    import dataclasses

    reads = dataclasses.replace(
        attributes, jersey=np.int32([9, 9, -1, 9, 4]), jersey_confidence=np.float32([0.9, 0.9, 0, 0.9, 0.9]),
        jersey_track_id=np.array([0, 0, 0, 2, 1], dtype=np.int64), jersey_frame_index=np.array([0, 0, 1, 2, 1], dtype=np.int64),
    )
    labels = vote_clip(spatial, reads, AttributeConfig(), VoteConfig(link_by_jersey=False))
    by_tracklet = {int(t): j for t, j in zip(labels.tracklet_id, labels.jersey)}
    # Tracklet 0's two 9s are one frame: one observation, no number; 2 and 1 have one read each.
    assert by_tracklet == {0: None, 1: None, 2: None}
    loose = vote_clip(spatial, reads, AttributeConfig(jersey_min_reads=1), VoteConfig(link_by_jersey=False))
    assert {int(t): j for t, j in zip(loose.tracklet_id, loose.jersey)} == {0: 9, 1: 4, 2: 9}


def test_reads_too_small_to_be_legible_neither_vote_a_number_nor_split_a_tracklet():
    # Tracklet 0 read #9 twice; the referee's tracklet 1 read #5 twice, then #8 twice (a switch).
    # The same reads, all legible or none: jersey_legible reaches both the consensus and the split.
    import dataclasses

    spatial, attributes = _spatial_and_attributes()
    reads = dataclasses.replace(
        attributes, frame_index=np.array([0, 1, 2, 3, 0], dtype=np.int64),
        jersey=np.int32([9, 9, 5, 5, 8, 8]), jersey_confidence=np.float32([0.9] * 6),
        jersey_track_id=np.array([0, 0, 1, 1, 1, 1], dtype=np.int64), jersey_frame_index=np.array([0, 1, 0, 1, 2, 3], dtype=np.int64),
    )
    config = AttributeConfig(jersey_min_reads=2)
    vote = VoteConfig(link_by_jersey=False, split_by_jersey=True)
    legible = vote_clip(spatial, dataclasses.replace(reads, jersey_legible=np.ones(6, bool)), config, vote)
    assert {int(t): j for t, j in zip(legible.tracklet_id, legible.jersey)}[0] == 9
    assert len(set(legible.tracklet_id.tolist())) == 4  # tracklet 1 cut at its switch from #5 to #8
    small = vote_clip(spatial, dataclasses.replace(reads, jersey_legible=np.zeros(6, bool)), config, vote)
    assert set(small.jersey.tolist()) == {None}
    assert small.tracklet_id.tolist() == spatial.tracks.track_id.tolist()  # nothing cut
