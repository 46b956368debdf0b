"""Fixtures shared by the attribution tests: a rendered 720p clip, its sampled crops, one OCR reader."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from soccerfactory.curation.attribute.builders import build_jersey_reader
from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import make_frames, make_tracks
from soccerfactory.curation.types import BALL, CLASS_NAMES, Frames, Tracks


@pytest.fixture(scope="session")
def clip_720(tmp_path_factory):
    """Two seconds of 720p broadcast, seed 1: numbers on backs have enough pixels to read."""
    out = tmp_path_factory.mktemp("attr-synth-720")
    render_clip(SynthConfig(seconds=2, seed=1, width=1280, height=720), out)
    return out


def _load_clip(clip: Path, every: int) -> tuple[pd.DataFrame, Frames, Tracks]:
    """Every ``every``-th decoded frame of the clip's video and its ground-truth athletes."""
    athletes = pd.read_parquet(clip / "gt" / "athletes.parquet")
    capture = cv2.VideoCapture(str(clip / "video.mp4"))
    images, index = [], []
    i = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        if i % every == 0:
            images.append(image)
            index.append(i)
        i += 1
    capture.release()
    assert images, "the rendered video decoded to no frames"
    frames = Frames(np.stack(images), np.array(index), np.array(index) / 25.0, 25.0, str(clip))
    rows = athletes[athletes.frame_index.isin(index)].reset_index(drop=True)
    tracks = Tracks(
        xyxy=rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32),
        confidence=np.ones(len(rows), np.float32),
        class_id=rows["class"].map({name: k for k, name in enumerate(CLASS_NAMES)}).to_numpy(),
        frame_index=rows.frame_index.to_numpy(),
        track_id=rows.track_id.to_numpy(),
    )
    return rows, frames, tracks


@pytest.fixture(scope="session")
def load_clip():
    """:func:`_load_clip`, for the tests that decode the clip at another rate."""
    return _load_clip


@pytest.fixture(scope="session")
def sampled(clip_720):
    """Every 5th frame (5 fps): ten frames, about 120 athlete crops."""
    rows, frames, tracks = _load_clip(clip_720, every=5)
    return rows, frames, tracks, AthleteCrops.from_frames(frames, tracks)


@pytest.fixture(scope="session")
def rapidocr_reader():
    return build_jersey_reader("rapidocr")


def _some_crops(n: int = 6, seed: int = 0) -> AthleteCrops:
    frames = make_frames(n=2, height=120, width=200, seed=seed)
    tracks = make_tracks(n_tracks=4, n_frames=2, image_size=(200, 120), seed=seed)
    keep = tracks.class_id != BALL
    return AthleteCrops.from_frames(frames, tracks[keep])[:n]


@pytest.fixture(scope="session")
def some_crops():
    """:func:`_some_crops`: a few crops of random frames, no rendering needed."""
    return _some_crops
