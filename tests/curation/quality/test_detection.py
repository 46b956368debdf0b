"""Detector quality: AP and ball recall on real frames."""

from __future__ import annotations

import pytest

from soccerfactory.curation.quality.detection import detector_quality
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

VALID = DEFAULT_DATA_ROOT / "football-players" / "valid"


@pytest.mark.skipif(not VALID.is_dir(), reason="needs ../shared/data/football-players")
def test_detector_quality_on_real_frames():
    figures = detector_quality(VALID, limit=3)
    assert figures["images"] == 3 and figures["image_size"] == [1920, 1080]
    (run,) = figures["runs"]
    assert run["imgsz"] == 768
    assert set(run["ap50"]) >= {"player", "person"}
    # The bundled detector finds nearly every athlete of these frames (0.96 over the whole split).
    assert run["ap50"]["person"] > 0.8
    for key in ("ball_full_frame", "ball_with_slices"):
        assert run[key]["labelled"] == figures["labelled_boxes"]["ball"]
    assert run["ball_with_slices"]["found"] >= run["ball_full_frame"]["found"]


TRAIN = DEFAULT_DATA_ROOT / "football-players" / "train"


@pytest.mark.skipif(not TRAIN.is_dir(), reason="needs ../shared/data/football-players")
def test_kit_colour_cost_times_both_readers_on_real_frames():
    from soccerfactory.curation.quality.detection import kit_colour_cost

    figures = kit_colour_cost(TRAIN, limit=2)
    assert figures["images"] == 2 and figures["boxes"] >= 30
    assert figures["ms_per_box"]["sampled"] > 0 and figures["ms_per_box"]["per_crop"] > 0
    # Labelled 1080p boxes are read pixel for pixel: the same colours.
    assert figures["delta_e"]["p95"] <= 1.0
    assert figures["unread"]["sampled"] == figures["unread"]["per_crop"]
