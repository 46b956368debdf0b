"""Footage rendered once per test session and shared by the video tests: two broadcast clips and a cut between them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import decode_frames, write_video


@pytest.fixture(scope="session")
def render_a(tmp_path_factory) -> Path:
    """2 s of 640x360 footage, seed 1, with its image sequence."""
    output = tmp_path_factory.mktemp("video-seed1")
    render_clip(SynthConfig(seconds=2.0, seed=1, width=640, height=360), output, images=True)
    return output


@pytest.fixture(scope="session")
def render_b(tmp_path_factory) -> Path:
    """2 s of 640x360 footage, seed 2: other kits, other camera position."""
    output = tmp_path_factory.mktemp("video-seed2")
    render_clip(SynthConfig(seconds=2.0, seed=2, width=640, height=360), output)
    return output


@pytest.fixture(scope="session")
def frames_a(render_a) -> list[np.ndarray]:
    return decode_frames(render_a / "video.mp4")


@pytest.fixture(scope="session")
def two_shots(tmp_path_factory, frames_a, render_b) -> Path:
    """Seed 1 then seed 2: one hard cut at frame 50, between two wide shots of a green pitch."""
    folder = tmp_path_factory.mktemp("video-two-shots")
    return write_video(folder / "two-shots.mp4", frames_a + decode_frames(render_b / "video.mp4"))
