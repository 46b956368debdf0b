"""Reading clips: the decoded batches are the source's frames, and a file that changed names the frame."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from soccerfactory.curation.testing import source_item, write_video
from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.clips import ClipSpec, SourceItem, VideoScan, split_clips
from soccerfactory.curation.video.decode import read_frames
from soccerfactory.curation.video.scan import scan_video

FPS = 25


# --------------------------------------------------------------------------- reading


def _middle_clip(scan: VideoScan, start: int, stop: int) -> ClipSpec:
    clips = split_clips(dataclasses.replace(scan, cuts=(start, stop)), min_clip_frames=1)
    (clip,) = [c for c in clips if c.start_frame == start]
    assert clip.stop_frame == stop
    return clip


@pytest.fixture(scope="session")
def scan_a(render_a) -> VideoScan:
    return scan_video(source_item(render_a / "video.mp4"))


@pytest.mark.parametrize(("batch_size", "stride"), [(5, 1), (4, 3)])
def test_read_frames_streams_source_frames(scan_a, frames_a, batch_size, stride):
    clip = _middle_clip(scan_a, 10, 47)
    batches = list(read_frames(clip, batch_size=batch_size, stride=stride))
    assert all(len(b) == batch_size for b in batches[:-1]) and 1 <= len(batches[-1]) <= batch_size
    index = np.concatenate([b.frame_index for b in batches])
    assert index.tolist() == list(range(10, 47, stride))
    timestamps = np.concatenate([b.timestamp_s for b in batches])
    np.testing.assert_allclose(timestamps, index / FPS)
    images = np.concatenate([b.images for b in batches])
    assert images.shape == (len(index), 360, 640, 3) and images.dtype == np.uint8
    for image, i in zip(images, index):
        np.testing.assert_array_equal(image, frames_a[i])
    assert {b.source for b in batches} == {clip.url} and {b.fps for b in batches} == {FPS}


def test_read_frames_of_an_image_sequence_are_the_jpgs(render_a):
    item = SourceItem(url=str(render_a), kind="images", match_id="s1", name="s1")
    clip = _middle_clip(scan_video(item), 3, 20)
    batches = list(read_frames(clip, batch_size=4, stride=2))
    index = np.concatenate([b.frame_index for b in batches])
    assert index.tolist() == list(range(3, 20, 2))
    images = np.concatenate([b.images for b in batches])
    for image, i in zip(images, index):
        np.testing.assert_array_equal(image, cv2.imread(str(render_a / "img1" / f"{i + 1:06d}.jpg")))


def test_read_frames_names_the_frame_where_decoding_stops(tmp_path, frames_a):
    path = write_video(tmp_path / "match.avi", frames_a, FPS, "MJPG")
    clip = split_clips(scan_video(source_item(path)), max_clip_seconds=1.0)[1]  # frames 25..49
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])  # the file changed after the scan
    with pytest.raises(BadInputError, match=r"decoding failed at frame \d+ \(clip match-000025-000050") as caught:
        for _ in read_frames(clip):
            pass
    assert caught.value.url == str(path)
    with pytest.raises(ValueError, match="batch_size"):
        read_frames(clip, batch_size=0)
