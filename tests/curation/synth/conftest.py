"""Clips rendered once per test session and shared by the renderer tests."""

from __future__ import annotations

import pytest

from soccerfactory.curation.synth import SynthConfig, render_clip


@pytest.fixture(scope="session")
def rendered_clip(tmp_path_factory):
    """One second of 720p broadcast footage, seed 1, with the image sequence."""
    output = tmp_path_factory.mktemp("synth-seed1")
    render_clip(SynthConfig(seconds=1.0, seed=1), output, images=True)
    return output


@pytest.fixture(scope="session")
def distorted_clip(tmp_path_factory):
    """One second with barrel distortion and a different seed (other kits, camera, play)."""
    output = tmp_path_factory.mktemp("synth-seed7-distorted")
    render_clip(SynthConfig(seconds=1.0, seed=7, lens_distortion=-0.12), output, images=True)
    return output


#: Dev seed whose 10 s shot plan holds all three views (two cuts).
BROADCAST_TEST_SEED = 401


@pytest.fixture(scope="session")
def broadcast_clip(tmp_path_factory):
    """Ten seconds of 640x360 broadcast footage: cuts between views and eight off-pitch people."""
    output = tmp_path_factory.mktemp("synth-broadcast")
    render_clip(SynthConfig(seconds=10.0, seed=BROADCAST_TEST_SEED, width=640, height=360, shots="broadcast", staff=8), output)
    return output
