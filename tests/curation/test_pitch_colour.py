"""The pitch-colour model: each caller's band, the crop's local grass hue, the frame's grass estimate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from soccerfactory.curation.pitch_colour import (
    CROP_GRASS_BAND,
    CROP_GRASS_HUE,
    CROP_GRASS_HUE_TOLERANCE,
    FRAME_GRASS_BAND,
    LINE_DETECTOR_BAND,
    GrassColour,
    HsvBand,
    estimate_grass,
    grass_mask_hsv,
    grass_near_hue,
    local_grass_hue,
)
from soccerfactory.curation.synth.config import SynthConfig
from soccerfactory.curation.synth.render import render_clip
from soccerfactory.curation.testing import decode_video, make_frames

BANDS = {"crop": CROP_GRASS_BAND, "frame": FRAME_GRASS_BAND, "line detector": LINE_DETECTOR_BAND}

# BGR pixels: pitch greens (OpenCV hue 57 and 54), then a white line, a black boot and a red shirt.
GRASS = [(60, 150, 70), (40, 140, 60)]
NOT_GRASS = {"white": (255, 255, 255), "black": (0, 0, 0), "dark grey": (20, 20, 20), "red": (40, 35, 200)}


def hsv_of(*bgr: tuple[int, int, int]) -> np.ndarray:
    return cv2.cvtColor(np.array([bgr], np.uint8), cv2.COLOR_BGR2HSV)


@pytest.fixture(scope="module")
def clip_frames(tmp_path_factory):
    """Decoded frames of two seconds of 640x360 synthetic broadcast (the refiner tests' clip)."""
    output = tmp_path_factory.mktemp("pitch-colour-clip")
    render_clip(SynthConfig(seconds=2.0, seed=1, width=640, height=360), output)
    return decode_video(output / "video.mp4", fps=25.0)


def test_bands_keep_the_numbers_their_callers_used():
    # Moving the three grass rules here changed no number: the curated shards depend on them.
    assert CROP_GRASS_BAND == HsvBand(25, 95, 50, 40)
    assert (CROP_GRASS_HUE, CROP_GRASS_HUE_TOLERANCE) == (50.0, 12.0)
    assert FRAME_GRASS_BAND == HsvBand(20, 100, 40, 30)
    assert LINE_DETECTOR_BAND == HsvBand(30, 90, 40, 30)


@pytest.mark.parametrize("name", sorted(BANDS))
def test_every_band_takes_grass_and_refuses_lines_boots_and_kits(name):
    band = BANDS[name]
    assert band.contains(hsv_of(*GRASS)).all()
    assert not band.contains(hsv_of(*NOT_GRASS.values())).any()
    assert (grass_mask_hsv(hsv_of(*GRASS), band) == 255).all()
    assert (grass_mask_hsv(hsv_of(*NOT_GRASS.values()), band) == 0).all()


def test_grass_mask_is_the_line_detectors_in_range_and_agrees_with_contains():
    hsv = cv2.cvtColor(make_frames(1, height=64, width=96, seed=3).images[0], cv2.COLOR_BGR2HSV)
    mask = grass_mask_hsv(hsv, LINE_DETECTOR_BAND)
    # Byte for byte what the calibration line detector computed inline before the move.
    expected = cv2.inRange(hsv, (30, 40, 30), (90, 255, 255))
    assert mask.dtype == np.uint8 and mask.shape == hsv.shape[:2]
    np.testing.assert_array_equal(mask, expected)
    for band in BANDS.values():
        np.testing.assert_array_equal(grass_mask_hsv(hsv, band) > 0, band.contains(hsv))


def test_local_grass_hue_comes_from_the_crops_margin():
    # A yellow-green pitch (hue 40) round a blue athlete: the margin gives the hue.
    hsv = np.zeros((40, 20, 3), np.uint8)
    hsv[:] = (40, 180, 150)
    hsv[5:35, 5:15] = (110, 200, 120)
    image = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    hue = local_grass_hue(image, np.array([5, 5, 15, 35], np.float32))
    assert abs(hue - 40) <= 1
    # Without a margin (the box is the whole crop) the typical pitch hue stands in.
    assert local_grass_hue(image, np.array([0, 0, 20, 40], np.float32)) == CROP_GRASS_HUE
    # A margin that is not mostly green (a crowd, an advertising board) gives the typical hue too.
    grey = np.full((40, 20, 3), 128, np.uint8)
    assert local_grass_hue(grey, np.array([5, 5, 15, 35], np.float32)) == CROP_GRASS_HUE


def test_grass_near_hue_keeps_the_tolerance_and_the_floors():
    hue = 60.0
    pixels = np.array(
        [
            [hue + CROP_GRASS_HUE_TOLERANCE, 200, 200],  # at the tolerance: grass
            [hue + CROP_GRASS_HUE_TOLERANCE + 1, 200, 200],  # just past it: a lime kit
            [hue, CROP_GRASS_BAND.min_saturation - 1, 200],  # washed out: a white line's edge
            [hue, 200, CROP_GRASS_BAND.min_value - 1],  # deep shadow
        ],
        np.uint8,
    )
    assert grass_near_hue(pixels, hue).tolist() == [True, False, False, False]


def test_estimate_grass_on_plain_and_pitchless_frames():
    image = np.zeros((90, 160, 3), np.uint8)
    image[:] = (60, 150, 70)
    image[30:60:2] = (50, 120, 55)  # darker mowing stripes keep the chromaticity
    grass = estimate_grass(image)
    assert grass is not None and grass.g > grass.r
    assert grass.is_grass(image).all()
    assert estimate_grass(make_frames(1, height=72, width=128).images[0]) is None  # noise: no pitch
    with pytest.raises(ValueError, match="uint8"):
        estimate_grass(image.astype(np.float32))


def test_grass_estimate_and_validation(clip_frames):
    grass = estimate_grass(clip_frames.images[0])
    assert grass is not None and grass.g > grass.r
    assert grass.is_grass(clip_frames.images[0]).mean() > 0.6
    assert not grass.is_grass(np.full((1, 1, 3), 255, dtype=np.uint8)).any()  # a white line
    assert not grass.is_grass(np.full((1, 1, 3), 20, dtype=np.uint8)).any()  # a black boot
    with pytest.raises(ValueError, match="grey"):
        GrassColour(r=1 / 3, g=1 / 3, intensity=300)
