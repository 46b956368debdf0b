"""Shirt colours of athlete crops: grass is dropped, a kit of the grass's own hue is kept."""

from __future__ import annotations

import cv2
import numpy as np

from soccerfactory.curation.attribute.crops import AthleteCrops, shirt_colours
from soccerfactory.curation.types import PLAYER

GRASS_BGR = (40, 125, 55)  # a broadcast pitch: OpenCV hue ~ 53


def _crop(shirt_bgr) -> AthleteCrops:
    """A 60 x 40 crop of grass with a 40 x 20 athlete in the middle wearing ``shirt_bgr``."""
    image = np.empty((60, 40, 3), np.uint8)
    image[:] = GRASS_BGR
    image[10:50, 10:30] = shirt_bgr
    return AthleteCrops(
        images=(image,), masks=None, track_id=np.array([1]), frame_index=np.array([0]), class_id=np.array([PLAYER]),
        boxes=np.array([[10, 10, 30, 50]], np.float32), source_row=np.array([0]),
    )


def _lab(bgr) -> np.ndarray:
    return cv2.cvtColor(np.array([[bgr]], np.float32) / 255.0, cv2.COLOR_BGR2Lab)[0, 0]


def test_a_lime_kit_of_the_grass_hue_keeps_its_colour():
    lime = (50, 200, 120)  # hue 46 against the grass's 55: within the hue tolerance, far brighter
    hsv = cv2.cvtColor(np.array([[lime, GRASS_BGR]], np.uint8), cv2.COLOR_BGR2HSV)[0]
    assert abs(int(hsv[0, 0]) - int(hsv[1, 0])) <= 12  # the hue rule alone calls it grass
    colour = shirt_colours(_crop(lime))[0]
    assert np.isfinite(colour).all() and np.linalg.norm(colour - _lab(lime)) < 2.0


def test_an_ordinary_kit_is_unchanged_and_a_grass_only_crop_has_no_colour():
    navy = (90, 30, 20)
    assert np.linalg.norm(shirt_colours(_crop(navy))[0] - _lab(navy)) < 2.0
    assert np.isnan(shirt_colours(_crop(GRASS_BGR))[0]).all()
