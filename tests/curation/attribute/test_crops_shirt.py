"""Shirt colours of athlete crops: grass is dropped, a kit of the grass's own hue is kept."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from soccerfactory.curation.attribute.crops import AthleteCrops, shirt_colours
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
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


TRAIN = DEFAULT_DATA_ROOT / "football-players" / "train"
LIME_STILL = "08fd33_0_3"  # a real Bundesliga still: a lime kit against a white one


@pytest.mark.skipif(not TRAIN.is_dir(), reason="needs ../shared/data/football-players")
def test_a_real_lime_kit_keeps_its_colour_under_the_chroma_mask():
    """The refine stage's chroma mask (GrassColour) calls a lime shirt grass; the players of a real
    lime kit must still get a shirt colour, and it must be lime (CIE a* well below zero)."""
    from soccerfactory.curation.pitch_colour import estimate_grass

    (path,) = TRAIN.glob(f"images/{LIME_STILL}_png*.jpg")
    frame = cv2.resize(cv2.imread(str(path)), (1280, 720), interpolation=cv2.INTER_AREA)  # undo the square stretch
    grass = estimate_grass(frame)
    images, masks, boxes = [], [], []
    for line in (path.parent.parent / "labels" / (path.stem + ".txt")).read_text().splitlines():
        k, cx, cy, w, h = map(float, line.split()[:5])
        if int(k) != 2:  # players only
            continue
        x1, y1, x2, y2 = (cx - w / 2) * 1280, (cy - h / 2) * 720, (cx + w / 2) * 1280, (cy + h / 2) * 720
        X1, Y1 = int(max(0, x1 - 0.3 * (x2 - x1))), int(max(0, y1 - 0.15 * (y2 - y1)))
        X2, Y2 = int(min(1280, x2 + 0.3 * (x2 - x1))), int(min(720, y2 + 0.15 * (y2 - y1)))
        crop = frame[Y1:Y2, X1:X2]
        box = np.float32([x1 - X1, y1 - Y1, x2 - X1, y2 - Y1])
        mask = np.zeros(crop.shape[:2], bool)
        bx1, by1, bx2, by2 = (int(round(v)) for v in box)
        mask[by1:by2, bx1:bx2] = ~grass.is_grass(crop[by1:by2, bx1:bx2])
        images.append(crop), masks.append(mask), boxes.append(box)
    n = len(images)
    crops = AthleteCrops(
        images=tuple(images), masks=tuple(masks), track_id=np.arange(n), frame_index=np.zeros(n, np.int64),
        class_id=np.full(n, PLAYER), boxes=np.asarray(boxes, np.float32), source_row=np.arange(n),
    )
    colours = shirt_colours(crops)
    lime = np.isfinite(colours).all(axis=1) & (colours[:, 1] < -20)
    assert np.isfinite(colours).all(axis=1).mean() >= 0.9, colours
    assert lime.sum() >= 8, colours  # the still shows 11 lime players; before the fix 1 had a colour
