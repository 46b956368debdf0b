"""Adaptive jersey reading: coarse-to-fine order, settled tracklets stop being read, the budget."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from soccerfactory.curation.attribute.builders import build_jersey_reader
from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReads, jersey_consensus, number_region
from soccerfactory.curation.attribute.jersey_reading import (
    NUMBER_BOX_SHARE,
    JerseyObservations,
    coarse_to_fine,
    legible_size,
    number_height_px,
    read_tracklets,
)
from soccerfactory.curation.config import AttributeConfig
from soccerfactory.curation.types import PLAYER


class ScriptedReader:
    """Reads the number scripted for each (track, frame) and records what it was offered."""

    def __init__(self, script: dict[tuple[int, int], int]):
        self.script = script
        self.offered: list[tuple[int, int]] = []

    def read(self, crops: AthleteCrops) -> JerseyReads:
        keys = list(zip(crops.track_id.tolist(), crops.frame_index.tolist()))
        self.offered.extend(keys)
        number = np.array([self.script.get(k, -1) for k in keys], np.int32)
        return JerseyReads(number, np.where(number > 0, 0.9, 0.0).astype(np.float32))


def _crops(tracks: dict[int, range]) -> AthleteCrops:
    rows = [(t, f) for t, frames in tracks.items() for f in frames]
    image = np.zeros((8, 4, 3), np.uint8)
    return AthleteCrops(
        images=tuple(image for _ in rows), masks=None, track_id=[t for t, _ in rows], frame_index=[f for _, f in rows],
        class_id=[PLAYER] * len(rows),
    )


def test_coarse_to_fine_spreads_every_prefix_over_the_span():
    order = coarse_to_fine(16)
    assert sorted(order.tolist()) == list(range(16))
    assert order[:4].tolist() == [0, 8, 4, 12]
    assert sorted(coarse_to_fine(5).tolist()) == list(range(5))
    assert coarse_to_fine(0).size == 0 and coarse_to_fine(1).tolist() == [0]


def test_a_settled_tracklet_is_no_longer_read():
    # Track 1 reads 7 everywhere; track 2 reads nothing; track 3 reads 4 once and 5 later.
    script = {**{(1, f): 7 for f in range(20)}, (3, 0): 4, **{(3, f): 5 for f in range(8, 20)}}
    reader = ScriptedReader(script)
    obs = read_tracklets(reader, _crops({1: range(20), 2: range(20), 3: range(20)}), settle_reads=3, max_crops_per_track=50, min_number_px=0.0)
    offered = np.array(reader.offered)
    per_track = {t: int((offered[:, 0] == t).sum()) for t in (1, 2, 3)}
    assert per_track[1] == 3  # three agreeing reads: settled
    assert per_track[2] == 20  # never read: every crop offered
    assert per_track[3] == 20  # a rival read keeps it open for the consensus to weigh
    assert isinstance(obs, JerseyObservations) and len(obs) == len(offered)
    assert set(obs.number[obs.track_id == 1].tolist()) == {7}
    # Each read keeps the count of readers behind it (one here), nothing read keeps none.
    assert obs.readers.tolist() == (obs.number > 0).astype(int).tolist()


def test_the_budget_bounds_the_crops_offered_and_spreads_them():
    reader = ScriptedReader({})
    read_tracklets(reader, _crops({1: range(100)}), settle_reads=3, max_crops_per_track=4, min_number_px=0.0)
    assert sorted(f for _, f in reader.offered) == [0, 32, 64, 96]  # bit-reversed over 128 slots


def test_reading_arguments_are_checked():
    with pytest.raises(ValueError, match="settle_reads"):
        read_tracklets(ScriptedReader({}), _crops({1: range(3)}), settle_reads=0, max_crops_per_track=3, min_number_px=0.0)
    assert len(read_tracklets(ScriptedReader({}), AthleteCrops.empty(), settle_reads=3, max_crops_per_track=3, min_number_px=0.0)) == 0


def test_number_region_refuses_a_number_too_small_to_read():
    def back(digit_scale: float, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        h, w = size
        image = np.full((h, w, 3), (40, 140, 60), np.uint8)
        image[int(0.15 * h) : int(0.55 * h), int(0.1 * w) : int(0.9 * w)] = (238, 238, 238)
        cv2.putText(image, "23", (int(0.25 * w), int(0.45 * h)), cv2.FONT_HERSHEY_SIMPLEX, digit_scale, (20, 20, 20), 2, cv2.LINE_AA)
        return image, np.array([0, 0, w, h], np.float32)

    # A 17-row number on a 120-px athlete is read; the same back at a third of the size (6 rows) is not.
    image, box = back(0.7, (120, 60))
    assert number_region(image, None, box) is not None
    small = cv2.resize(image, (20, 40), interpolation=cv2.INTER_AREA)
    assert number_region(small, None, np.array([0, 0, 20, 40], np.float32), min_number_height=0.0) is None
    assert number_region(small, None, np.array([0, 0, 20, 40], np.float32), min_number_height=0.0, min_number_px=0) is not None


def _back(box_height: int, frames: range, track: int) -> AthleteCrops:
    """A red back with a white "17" (0.12 of the box), scaled so that the box is ``box_height`` px tall, on each of ``frames``."""
    image = np.full((140, 60, 3), (40, 140, 60), np.uint8)
    image[28:70, 6:54] = (40, 35, 200)
    cv2.putText(image, "17", (12, 58), cv2.FONT_HERSHEY_SIMPLEX, 0.75, (240, 240, 240), 2, cv2.LINE_AA)
    s = box_height / 132
    image = cv2.resize(image, (int(round(60 * s)), int(round(140 * s))), interpolation=cv2.INTER_AREA)
    n = len(frames)
    return AthleteCrops(
        tuple(image for _ in frames), None, [track] * n, list(frames), [PLAYER] * n,
        boxes=np.tile(np.array([4 * s, 6 * s, 56 * s, 138 * s], np.float32), (n, 1)),
    )


def test_number_height_is_estimated_from_the_box():
    boxes = np.array([[0, 0, 20, 50], [10, 20, 40, 120]], np.float32)
    assert number_height_px(boxes) == pytest.approx([50 * NUMBER_BOX_SHARE, 100 * NUMBER_BOX_SHARE])
    crops = AthleteCrops((np.zeros((60, 30, 3), np.uint8),) * 2, None, [1, 2], [0, 0], [PLAYER] * 2, boxes=boxes)
    assert legible_size(crops, 8.0).tolist() == [False, True]  # 6.5 px and 13 px
    assert legible_size(crops, 0.0).all()
    assert AttributeConfig().jersey_min_number_px == 8.0


def test_a_read_of_a_number_below_the_legibility_gate_is_refused():
    # The real reader (digit network + OCR) reads the same "17" on a 132 px box (17 px number) and
    # on a 50 px one (6.5 px by the box, 0.13): the second is smaller than any number a person
    # read on the labelled real backs, so its reads are flagged and never make a number.
    reader = build_jersey_reader("digits+rapidocr")
    crops = AthleteCrops.concat([_back(132, range(0, 3), track=1), _back(50, range(0, 3), track=2)])
    obs = read_tracklets(reader, crops, settle_reads=3, max_crops_per_track=10, min_number_px=8.0)
    small = obs.track_id == 2
    assert set(obs.number[small].tolist()) == {17}  # the reader alone would read it ...
    assert not obs.legible[small].any() and obs.legible[~small].all()  # ... but no person could
    votes = jersey_consensus(obs.track_id, obs.number, obs.confidence, 0.6, 2, 0.6, obs.frame_index, obs.readers, obs.legible)
    by_track = dict(zip(votes.track_ids.tolist(), votes.consensus))
    assert by_track[1] == 17 and by_track[2] is None
    # Without the gate (0 px) both are numbers.
    ungated = read_tracklets(reader, crops, settle_reads=3, max_crops_per_track=10, min_number_px=0)
    assert ungated.legible.all()
    with pytest.raises(ValueError, match="min_number_px"):
        read_tracklets(reader, crops, settle_reads=3, max_crops_per_track=10, min_number_px=-1)


def test_reads_below_the_gate_never_settle_a_tracklet_and_speak_against_a_number():
    # Track 1: tall on frames 0-9, small (40 px) on 10-19; it reads 7 everywhere.
    crops = _crops({1: range(20)})
    boxes = np.array([[0, 0, 4, 100 if f < 10 else 40] for f in range(20)], np.float32)
    crops = AthleteCrops(crops.images, None, crops.track_id, crops.frame_index, crops.class_id, boxes=boxes)
    reader = ScriptedReader({(1, f): 7 for f in range(20)})
    obs = read_tracklets(reader, crops, settle_reads=3, max_crops_per_track=50, min_number_px=8.0)
    # Coarse to fine: 0, 16 (small), 8, 24.. -> settled only after three legible reads.
    assert int(obs.legible.sum()) == 3 and obs.legible.size > 3
    # A tracklet read #29 three times small (athlete #29) and #30 twice on a tall box after a switch:
    # the small reads make no number, but they refuse #30 over a tracklet that is mostly #29's.
    track = np.ones(5, np.int64)
    number = np.array([29, 29, 29, 30, 30])
    legible = np.array([False, False, False, True, True])
    conf = np.full(5, 0.9, np.float32)
    frames = np.arange(5)
    assert jersey_consensus(track, number, conf, 0.6, 2, 0.6, frames, None, legible).consensus[0] is None
    assert jersey_consensus(track[3:], number[3:], conf[3:], 0.6, 2, 0.6, frames[3:], None, legible[3:]).consensus[0] == 30
    # One small rival read does not.
    assert jersey_consensus(track[2:], number[2:], conf[2:], 0.6, 2, 0.6, frames[2:], None, legible[2:]).consensus[0] == 30
    # Small reads alone never make a number, however many agree.
    assert jersey_consensus(track[:3], number[:3], conf[:3], 0.6, 2, 0.6, frames[:3], None, legible[:3]).consensus[0] is None
