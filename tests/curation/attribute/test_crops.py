"""Athlete crops: cutting them from frames, their masks, validation and row selection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.masks import rle_decode, rle_encode
from soccerfactory.curation.testing import make_frames, make_tracks
from soccerfactory.curation.types import BALL, GOALKEEPER, PLAYER, REFEREE, Detections, Tracks


def test_from_frames_cuts_sampled_athlete_rows_with_margin():
    frames = make_frames(n=3, height=100, width=160, seed=1)[np.array([0, 2])]  # frames 0 and 2
    tracks = Tracks(
        xyxy=[[10, 20, 30, 60], [0, 0, 8, 10], [150, 80, 160, 100], [40, 40, 50, 60], [40, 40, 41, 41]],
        confidence=[0.9] * 5,
        class_id=[PLAYER, REFEREE, GOALKEEPER, PLAYER, BALL],
        frame_index=[0, 0, 2, 1, 2],
        track_id=[1, 2, 3, 4, 5],
    )
    crops = AthleteCrops.from_frames(frames, tracks, margin=0.1)
    # Frame 1 is not sampled and the ball is not an athlete.
    assert crops.source_row.tolist() == [0, 1, 2]
    assert crops.track_id.tolist() == [1, 2, 3]
    assert crops.frame_index.tolist() == [0, 0, 2]
    assert crops.class_id.tolist() == [PLAYER, REFEREE, GOALKEEPER]
    # Box 0 is 20x40: 2 px and 4 px of margin on each side.
    assert crops.images[0].shape == (48, 24, 3)
    np.testing.assert_array_equal(crops.images[0], frames.images[0, 16:64, 8:32])
    np.testing.assert_allclose(crops.boxes[0], [2, 4, 22, 44])
    # Margins are clipped to the frame: box 2 touches the bottom-right corner.
    assert crops.images[2].shape == (22, 11, 3)
    np.testing.assert_array_equal(crops.images[2], frames.images[1, 78:100, 149:160])
    np.testing.assert_allclose(crops.boxes[2], [1, 2, 11, 22])
    assert all(m is None for m in crops.masks)


def test_from_frames_decodes_masks_in_every_accepted_form():
    frames = make_frames(n=1, height=50, width=80, seed=2)
    tracks = Tracks(
        xyxy=[[10, 10, 20, 30], [40, 5, 60, 45], [0, 0, 5, 5]],
        confidence=[1.0] * 3,
        class_id=[PLAYER, PLAYER, REFEREE],
        frame_index=[0, 0, 0],
        track_id=[0, 1, 2],
    )
    full = np.zeros((3, 50, 80), bool)
    full[0, 12:28, 12:18] = True
    full[1, 10:40, 45:55] = True
    rle0 = rle_encode(full[0])
    rle1 = rle_encode(full[1])
    masks_rle = [json.dumps(rle0), json.dumps(rle1["counts"]), None]
    crops = AthleteCrops.from_frames(frames, tracks, masks_rle=masks_rle, margin=0.0)
    np.testing.assert_array_equal(crops.masks[0], full[0, 10:30, 10:20])
    np.testing.assert_array_equal(crops.masks[1], full[1, 5:45, 40:60])
    assert crops.masks[2] is None
    # A mapping works too, and the round trip through the crop keeps every pixel.
    again = AthleteCrops.from_frames(frames, tracks, masks_rle=[rle0, None, None], margin=0.0)
    assert again.masks[0].sum() == rle_decode(rle0).sum()


def test_from_frames_rejects_bad_masks_and_margin():
    frames = make_frames(n=1, height=50, width=80)
    tracks = Tracks(
        xyxy=[[1, 1, 9, 20], [20, 5, 30, 40]],
        confidence=[1, 1],
        class_id=[PLAYER, PLAYER],
        frame_index=[0, 0],
        track_id=[0, 1],
    )
    with pytest.raises(ValueError, match="one entry per row"):
        AthleteCrops.from_frames(frames, tracks, masks_rle=[None])
    other_size = json.dumps(rle_encode(np.zeros((10, 10), bool)))
    with pytest.raises(ValueError, match="frame size"):
        AthleteCrops.from_frames(frames, tracks, masks_rle=[None, other_size])
    with pytest.raises(ValueError, match="margin"):
        AthleteCrops.from_frames(frames, tracks, margin=-0.1)


def test_from_frames_needs_tracked_boxes():
    frames = make_frames(n=1, height=50, width=80)
    untracked = Detections(xyxy=[[1, 1, 9, 20]], confidence=[1.0], class_id=[PLAYER], frame_index=[0])
    with pytest.raises(ValueError, match="track_id"):
        AthleteCrops.from_frames(frames, untracked)


def test_from_frames_with_nothing_sampled_is_empty():
    frames = make_frames(n=1, height=50, width=80, start=100)
    crops = AthleteCrops.from_frames(frames, make_tracks(n_frames=2, image_size=(80, 50)))
    assert len(crops) == 0
    assert len(AthleteCrops.from_frames(frames, Tracks.empty())) == 0


def test_athlete_crops_validation():
    image = np.zeros((10, 6, 3), np.uint8)
    ok = dict(images=(image,), masks=(None,), track_id=[1], frame_index=[0], class_id=[PLAYER])
    crops = AthleteCrops(**ok)
    np.testing.assert_array_equal(crops.boxes, [[0, 0, 6, 10]])
    assert crops.source_row.tolist() == [0]
    with pytest.raises(ValueError, match="images\\[0\\]"):
        AthleteCrops(**{**ok, "images": (image.astype(np.float32),)})
    with pytest.raises(ValueError, match="masks\\[0\\]"):
        AthleteCrops(**{**ok, "masks": (np.zeros((9, 6), bool),)})
    with pytest.raises(ValueError, match="track_id"):
        AthleteCrops(**{**ok, "track_id": [1, 2]})
    with pytest.raises(ValueError, match="ball"):
        AthleteCrops(**{**ok, "class_id": [BALL]})
    with pytest.raises(ValueError, match="boxes"):
        AthleteCrops(**ok, boxes=np.zeros((2, 4)))
    with pytest.raises(ValueError):
        crops.images[0][0, 0, 0] = 1  # read-only


def test_crops_concat_and_no_masks(some_crops):
    a, b = some_crops(seed=0), some_crops(seed=1)
    both = AthleteCrops.concat([a, AthleteCrops.empty(), b])
    assert len(both) == len(a) + len(b)
    np.testing.assert_array_equal(both.boxes, np.concatenate([a.boxes, b.boxes]))
    assert both.track_id.tolist() == a.track_id.tolist() + b.track_id.tolist()
    assert both.images[len(a)] is not None and both.images[len(a)].shape == b.images[0].shape
    assert len(AthleteCrops.concat([])) == 0
    unmasked = AthleteCrops((np.zeros((4, 4, 3), np.uint8),), None, [1], [0], [PLAYER])
    assert unmasked.masks == (None,)


def test_crops_row_selection_keeps_fields_aligned(some_crops):
    crops = some_crops()
    picked = crops[np.array([2, 0])]
    assert picked.track_id.tolist() == [crops.track_id[2], crops.track_id[0]]
    assert picked.source_row.tolist() == [crops.source_row[2], crops.source_row[0]]
    assert picked.images[0] is not None and picked.images[0].shape == crops.images[2].shape
    assert len(crops[crops.class_id == -5]) == 0
