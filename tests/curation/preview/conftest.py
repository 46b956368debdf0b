"""Shared fixtures of the QA preview tests: a synthetic clip's ground truth written as a real shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import decode_video, groundtruth_shard
from soccerfactory.curation.video.decode import read_frames

MATCH = "synth-match"


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """(root, clip, tables) of one second of 640x360 synthetic footage curated 'perfectly'."""
    clip_dir = tmp_path_factory.mktemp("preview-clip")
    render_clip(SynthConfig(seconds=1.0, seed=3, width=640, height=360), clip_dir)
    root = tmp_path_factory.mktemp("preview-root")
    clip, tables = groundtruth_shard(clip_dir, root, match_id=MATCH)
    return root, clip, tables


@pytest.fixture(scope="module")
def source_frame(shard):
    """The clip's first frame as decoded, with that frame's athlete rows, ball row and camera row."""
    _, clip, tables = shard
    batch = next(read_frames(clip, batch_size=1))
    frame = int(batch.frame_index[0])
    pick = lambda name: [r for r in tables[name].to_pylist() if r["frame_index"] == frame]  # noqa: E731
    return batch.images[0], pick("athletes"), pick("ball")[0], pick("cameras")[0]


@pytest.fixture
def video_facts():
    """``video_facts(path)``: frame count, width, height, fps and the frames of a video file."""

    def facts(path: Path) -> tuple[int, int, int, float, list[np.ndarray]]:
        frames = decode_video(path)
        return len(frames), frames.width, frames.height, frames.fps, list(frames.images)

    return facts


@pytest.fixture
def changed():
    """``changed(a, b)``: where two BGR images differ by more than 30 in some channel."""

    def differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1) > 30

    return differs
