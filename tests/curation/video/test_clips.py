"""Clips cut from scans: shot-aligned ranges with stable ids and content hashes, and their sampling."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest

from soccerfactory.curation.video.clips import SourceItem, VideoScan, semantic_frames, split_clips
from soccerfactory.curation.video.decode import read_frames
from soccerfactory.curation.video.discover import discover_sources
from soccerfactory.curation.video.scan import scan_video
from soccerfactory.curation.testing import source_item

FPS = 25
FRAMES = 50  # 2 s at 25 fps


# --------------------------------------------------------------------------- clips


def _scan(cuts: tuple[int, ...], frame_count: int = 2000, source_hash: str = "a" * 64) -> VideoScan:
    item = SourceItem(url="/footage/m.mp4", kind="video", match_id="final", name="m")
    return VideoScan(item, FPS, frame_count, 1280, 720, source_hash, cuts, frame_count)


def test_split_clips_caps_shots_and_covers_every_kept_frame_once():
    scan = _scan((5, 900, 904, 1700))
    clips = split_clips(scan, max_clip_seconds=30.0, min_clip_frames=8)
    assert [(c.start_frame, c.stop_frame) for c in clips] == [(5, 452), (452, 900), (904, 1302), (1302, 1700), (1700, 2000)]
    covered = np.zeros(scan.frame_count, int)
    for clip in clips:
        covered[clip.start_frame : clip.stop_frame] += 1
        assert clip.num_frames <= 30 * FPS
        assert not any(clip.start_frame < cut < clip.stop_frame for cut in scan.cuts)
        assert (clip.match_id, clip.url, clip.kind) == ("final", "/footage/m.mp4", "video")
        assert (clip.width, clip.height, clip.fps) == (1280, 720, FPS)
    dropped = np.r_[0:5, 900:904]  # shots shorter than min_clip_frames
    assert (covered[dropped] == 0).all()
    assert (np.delete(covered, dropped) == 1).all()


def test_split_clips_ids_and_hashes_are_stable_keys():
    clips = split_clips(_scan((5, 900)))
    assert clips == split_clips(_scan((5, 900)))
    assert clips[0].clip_id == "m-000005-000452"
    assert clips[0].content_hash == hashlib.sha256(f"{'a' * 64}:5:452".encode()).hexdigest()
    assert len({c.content_hash for c in clips}) == len(clips)
    # Any change of range or of source bytes is a new key.
    moved = split_clips(_scan((6, 900)))[0]
    assert (moved.clip_id, moved.start_frame) == ("m-000006-000453", 6) and moved.content_hash != clips[0].content_hash
    other_bytes = split_clips(_scan((5, 900), source_hash="b" * 64))[0]
    assert other_bytes.clip_id == clips[0].clip_id and other_bytes.content_hash != clips[0].content_hash
    with pytest.raises(ValueError, match="content_hash does not match"):
        dataclasses.replace(clips[0], stop_frame=451)
    with pytest.raises(ValueError, match="stop_frame"):
        dataclasses.replace(clips[0], stop_frame=5)


def test_split_clips_edge_cases():
    assert split_clips(_scan((), frame_count=7)) == []
    (whole,) = split_clips(_scan((), frame_count=7), min_clip_frames=1)
    assert (whole.start_frame, whole.stop_frame) == (0, 7)
    lengths = [c.num_frames for c in split_clips(_scan((), frame_count=1001), max_clip_seconds=4.0)]
    assert sum(lengths) == 1001 and max(lengths) <= 100 and max(lengths) - min(lengths) <= 1
    with pytest.raises(ValueError, match="max_clip_seconds"):
        split_clips(_scan(()), max_clip_seconds=0)
    with pytest.raises(ValueError, match="cuts must be strictly increasing"):
        _scan((900, 5))


def test_split_clips_follow_detected_cuts(two_shots):
    scan = scan_video(source_item(two_shots))
    clips = split_clips(scan, max_clip_seconds=0.8)
    assert clips[0].start_frame == 0 and clips[-1].stop_frame == 2 * FRAMES
    assert all(a.stop_frame == b.start_frame for a, b in zip(clips, clips[1:]))
    assert scan.cuts[0] in {c.start_frame for c in clips}
    assert all(c.num_frames <= 20 for c in clips)


def test_semantic_frames():
    clip = split_clips(_scan((5, 900)))[0]  # frames 5..451
    assert semantic_frames(clip).tolist() == list(range(5, 452, 25))
    assert semantic_frames(clip, rate_hz=2.0).tolist()[:4] == [5, 18, 30, 43]
    assert semantic_frames(clip, rate_hz=100.0).tolist() == list(range(5, 452))
    assert semantic_frames(clip).dtype == np.int64
    with pytest.raises(ValueError, match="rate_hz"):
        semantic_frames(clip, rate_hz=0.0)


def test_clip_head_is_a_valid_shorter_clip(tmp_path):
    from soccerfactory.curation.synth import SynthConfig, render_clip

    render_clip(SynthConfig(seconds=1.0, seed=2, width=320, height=180), tmp_path)
    (clip,) = split_clips(scan_video(discover_sources(str(tmp_path / "video.mp4"))[0]))
    head = clip.head(10)
    assert (head.start_frame, head.stop_frame) == (clip.start_frame, clip.start_frame + 10)
    assert head.content_hash != clip.content_hash  # another clip, another cache key
    assert clip.head(10_000) == clip
    assert sum(len(batch) for batch in read_frames(head, batch_size=4)) == 10


def test_is_clip_of_knows_split_clips_ids():
    from soccerfactory.curation.video.clips import is_clip_of

    assert is_clip_of("half1", "half1-000000-000250")
    assert not is_clip_of("half1", "half1.extra-000000-000250")  # another source's clip
    assert not is_clip_of("half1", "half1-0-250")
    assert not is_clip_of("a.b", "axb-000000-000250")  # the name is literal, not a pattern
