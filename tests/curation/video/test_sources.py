"""Sources behind fsspec URLs: a memory:// video found, copied locally for OpenCV, scanned and read."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import fsspec

from soccerfactory.curation.video.clips import split_clips
from soccerfactory.curation.video.decode import read_frames
from soccerfactory.curation.video.discover import discover_sources
from soccerfactory.curation.video.scan import scan_video
from soccerfactory.curation.video.sources import local_copy

FRAMES = 50  # 2 s at 25 fps


def test_discover_and_scan_memory_urls(render_a):
    data = (render_a / "video.mp4").read_bytes()
    memory = fsspec.filesystem("memory")
    base = f"video-test-{uuid.uuid4().hex}"
    memory.pipe(f"/{base}/match/game.mp4", data)
    try:
        (item,) = discover_sources(f"memory://{base}/match")
        assert item.url == f"memory://{base}/match/game.mp4"
        assert (item.kind, item.match_id) == ("video", "game")

        with local_copy(item) as path:
            copy = path
            assert Path(path).read_bytes() == data
        assert not os.path.exists(copy), "the temporary copy must be removed"

        scan = scan_video(item)
        assert scan.content_hash == hashlib.sha256(data).hexdigest()
        assert scan.frame_count == FRAMES
        clip = split_clips(scan, max_clip_seconds=0.4)[1]
        (batch,) = read_frames(clip, batch_size=64)
        assert batch.frame_index.tolist() == list(range(clip.start_frame, clip.stop_frame))
    finally:
        memory.rm(f"/{base}", recursive=True)
