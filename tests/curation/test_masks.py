"""COCO RLE helpers against a deliberately naive reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.masks import rle_area, rle_decode, rle_encode, rle_encode_roi, rle_to_bbox


def reference_encode(mask: np.ndarray) -> dict:
    """Pixel-by-pixel COCO RLE: column-major, starts with a zero run."""
    height, width = mask.shape
    counts, current, run = [], False, 0
    for x in range(width):
        for y in range(height):
            value = bool(mask[y, x])
            if value != current:
                counts.append(run)
                current, run = value, 0
            run += 1
    if height * width:
        counts.append(run)
    return {"size": [height, width], "counts": counts}


def reference_bbox(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def _random_masks(seed=0, count=40):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        h, w = rng.integers(1, 12, size=2)
        density = rng.choice([0.05, 0.5, 0.95])
        yield rng.random((h, w)) < density


def test_encode_matches_reference_and_round_trips():
    for mask in _random_masks():
        rle = rle_encode(mask)
        assert rle == reference_encode(mask)
        assert all(isinstance(c, int) for c in rle["counts"])  # JSON-serialisable
        np.testing.assert_array_equal(rle_decode(rle), mask)
        assert rle_area(rle) == int(mask.sum())
        np.testing.assert_array_equal(rle_to_bbox(rle), reference_bbox(mask))


def test_empty_and_full_masks():
    empty = np.zeros((4, 3), dtype=bool)
    assert rle_encode(empty) == {"size": [4, 3], "counts": [12]}
    assert rle_area(rle_encode(empty)) == 0
    np.testing.assert_array_equal(rle_to_bbox(rle_encode(empty)), [0, 0, 0, 0])
    full = np.ones((4, 3), dtype=bool)
    assert rle_encode(full) == {"size": [4, 3], "counts": [0, 12]}
    np.testing.assert_array_equal(rle_to_bbox(rle_encode(full)), [0, 0, 3, 4])
    np.testing.assert_array_equal(rle_decode(rle_encode(full)), full)
    assert rle_encode(np.zeros((0, 5), dtype=bool)) == {"size": [0, 5], "counts": []}
    assert rle_decode({"size": [0, 5], "counts": []}).shape == (0, 5)


def test_column_major_order():
    mask = np.zeros((3, 2), dtype=bool)
    mask[0, 1] = True  # top of the second column: flat index 3 in column-major order
    assert rle_encode(mask)["counts"] == [3, 1, 2]


def test_bbox_of_run_wrapping_columns():
    mask = np.zeros((5, 4), dtype=bool)
    mask[3:, 1] = True
    mask[:2, 2] = True  # one run from (row 3, col 1) to (row 1, col 2)
    assert len(rle_encode(mask)["counts"]) == 3
    np.testing.assert_array_equal(rle_to_bbox(rle_encode(mask)), [1, 0, 3, 5])


def _roi_cases(seed=1, count=60):
    rng = np.random.default_rng(seed)
    height, width = 9, 13
    for i in range(count):
        h = int(rng.integers(0, height + 1))
        w = int(rng.integers(0, width + 1))
        # Bias placements towards the image edges, where the run bookkeeping is fiddly.
        x0 = int(rng.choice([0, width - w, rng.integers(0, width - w + 1)]))
        y0 = int(rng.choice([0, height - h, rng.integers(0, height - h + 1)]))
        density = [0.0, 1.0, 0.5, 0.9][i % 4]
        roi = rng.random((h, w)) < density
        yield roi, x0, y0, height, width


def test_encode_roi_equals_full_image_encoding():
    for roi, x0, y0, height, width in _roi_cases():
        full = np.zeros((height, width), dtype=bool)
        full[y0 : y0 + roi.shape[0], x0 : x0 + roi.shape[1]] = roi
        assert rle_encode_roi(roi, x0, y0, height, width) == reference_encode(full), (roi.shape, x0, y0)


def test_encode_roi_covering_whole_image_and_corners():
    roi = np.ones((4, 6), dtype=bool)
    assert rle_encode_roi(roi, 0, 0, 4, 6) == {"size": [4, 6], "counts": [0, 24]}
    corner = np.ones((1, 1), dtype=bool)
    assert rle_encode_roi(corner, 5, 3, 4, 6) == reference_encode(np.pad(corner, ((3, 0), (5, 0))))
    assert rle_encode_roi(corner, 0, 0, 4, 6) == {"size": [4, 6], "counts": [0, 1, 23]}
    assert rle_encode_roi(np.zeros((0, 0), dtype=bool), 2, 2, 4, 6) == {"size": [4, 6], "counts": [24]}


def test_encode_roi_must_fit():
    roi = np.ones((3, 3), dtype=bool)
    with pytest.raises(ValueError, match="does not fit"):
        rle_encode_roi(roi, 4, 0, 5, 6)
    with pytest.raises(ValueError, match="does not fit"):
        rle_encode_roi(roi, -1, 0, 5, 6)


def test_validation():
    with pytest.raises(ValueError, match="dtype bool"):
        rle_encode(np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"shape \(H, W\)"):
        rle_encode(np.zeros((1, 2, 2), dtype=bool))
    with pytest.raises(ValueError, match="expected H\\*W"):
        rle_decode({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(ValueError, match="uncompressed COCO RLE"):
        rle_decode({"counts": [4]})


def test_encode_roi_on_720p_band_is_cheap():
    # A player-sized ROI in a 720p frame only touches its own columns.
    rng = np.random.default_rng(0)
    roi = rng.random((180, 70)) < 0.6
    full = np.zeros((720, 1280), dtype=bool)
    full[400:580, 600:670] = roi
    assert rle_encode_roi(roi, 600, 400, 720, 1280) == rle_encode(full)
    np.testing.assert_array_equal(rle_decode(rle_encode_roi(roi, 600, 400, 720, 1280)), full)
