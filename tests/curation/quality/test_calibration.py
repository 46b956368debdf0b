"""Calibration quality: keypoint PCK and reprojection error on real frames, and rendered clips with exact cameras."""

from __future__ import annotations

import pytest

from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.quality.calibration import DEFAULT_FIELD_SPLIT, real_calibration_quality, synthetic_calibration_quality

needs_field = pytest.mark.skipif(not DEFAULT_FIELD_SPLIT.is_dir(), reason="needs ../shared/data/football-field")


@needs_field
def test_real_frames_are_calibrated_from_the_bundled_keypoint_model():
    figures = real_calibration_quality(limit=4)
    assert figures["images"] == 4 and figures["backend"] == "heatmap" and figures["labelled_keypoints"] > 20
    keypoints = figures["keypoints"]
    # The shipped model: PCK@5 ~0.8 over the whole split; four frames leave room for noise.
    assert keypoints["pck10"] > 0.6 and keypoints["median_error_px"] < 6
    for name in ("keypoints", "keypoints+lines"):
        variant = figures["variants"][name]
        assert variant["solved"] >= 3 and variant["median_reprojection_px"] < 6
        assert 0 < variant["keypoints_within_5px"] <= 1


@needs_field
def test_the_line_search_alone_is_measured_the_same_way():
    figures = real_calibration_quality(config=CurateConfig().with_values({"calibrate.backend": "lines"}), limit=2)
    assert list(figures["variants"]) == ["lines"] and "keypoints" not in figures
    variant = figures["variants"]["lines"]
    # Unsolved frames count as misses, never as zero error.
    assert variant["keypoints_within_5px"] <= variant["completeness"] + 1e-9
    assert variant["solved"] + sum(variant["invalid_reasons"].values()) == 2


def test_synthetic_clips_every_frame_against_keyframes(tmp_path):
    lines = []
    figures = synthetic_calibration_quality(tmp_path, seeds=[3], seconds=1.0, clip_seconds=1.0, keyframe_every=(1, 5), progress=lines.append)
    assert any("rendered seed 3" in line for line in lines)
    assert set(figures["variants"]) == {"every frame", "keyframes every 5"}
    for variant in figures["variants"].values():
        assert variant["frames"] == 25
        assert variant["completeness"] > 0.9
        assert variant["line_error_px"] < 3.0 and variant["athlete_position_error_m"] < 1.0
        assert variant["per_clip"]["3"]["completeness"] == variant["completeness"]
