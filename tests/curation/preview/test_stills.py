"""Annotated stills of a curated clip: the report's thumbnails, drawn as the preview draws its frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from soccerfactory.curation.preview.draw import ellipse_axes
from soccerfactory.curation.preview.stills import render_stills, still_jpegs
from soccerfactory.curation.video.decode import read_frames
from soccerfactory.storage.shards import find_manifest

from .conftest import MATCH


def _manifest(shard):
    root, clip, _ = shard
    return find_manifest(root, MATCH, clip.clip_id)


def test_stills_are_the_asked_frames_with_the_labels_drawn(shard, changed):
    _, clip, tables = shard
    wanted = [clip.start_frame + 3, clip.start_frame + 9, clip.start_frame + 3]
    stills = render_stills(_manifest(shard), wanted)
    assert [frame for frame, _ in stills] == [clip.start_frame + 3, clip.start_frame + 9]
    raw = {int(f): image for batch in read_frames(clip, batch_size=16) for f, image in zip(batch.frame_index, batch.images)}
    for frame, image in stills:
        assert image.shape == (clip.height, clip.width, 3) and image.dtype == np.uint8
        # Every athlete of the frame is ringed at the feet: the ring's front differs from the raw footage.
        rows = [r for r in tables["athletes"].to_pylist() if r["frame_index"] == frame and r["x1"] is not None]
        assert rows
        mask = changed(raw[frame], image)
        for row in rows:
            box = tuple(int(round(row[k])) for k in ("x1", "y1", "x2", "y2"))
            _, b = ellipse_axes(box)
            cx, front = (box[0] + box[2]) // 2, box[3] + b
            if front >= clip.height or not 0 <= cx < clip.width:
                continue
            assert mask[max(front - 2, 0) : front + 3, max(cx - 2, 0) : cx + 3].any(), (frame, row["track_id"])
        # The header names the frame (white text, top-left), over footage that had none.
        assert changed(raw[frame], image)[4:20, 6:200].any()


def test_still_jpegs_decode_at_the_asked_width(shard):
    _, clip, _ = shard
    manifest = _manifest(shard)
    stills = still_jpegs(manifest.url, [clip.start_frame], width=320)
    ((frame, data),) = stills
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert frame == clip.start_frame and data[:2] == b"\xff\xd8"
    assert image.shape == (int(round(clip.height * 320 / clip.width)), 320, 3)


def test_frames_outside_the_clip_are_refused_by_name(shard):
    _, clip, _ = shard
    with pytest.raises(ValueError, match=f"frames {clip.stop_frame}..{clip.stop_frame}"):
        render_stills(_manifest(shard), [clip.stop_frame])
    assert render_stills(_manifest(shard), []) == []
