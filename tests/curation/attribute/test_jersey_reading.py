"""Adaptive jersey reading: coarse-to-fine order, settled tracklets stop being read, the budget."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from soccerfactory.curation.attribute.crops import AthleteCrops
from soccerfactory.curation.attribute.jersey import JerseyReads, number_region
from soccerfactory.curation.attribute.jersey_reading import JerseyObservations, coarse_to_fine, read_tracklets
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
    obs = read_tracklets(reader, _crops({1: range(20), 2: range(20), 3: range(20)}), settle_reads=3, max_crops_per_track=50)
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
    read_tracklets(reader, _crops({1: range(100)}), settle_reads=3, max_crops_per_track=4)
    assert sorted(f for _, f in reader.offered) == [0, 32, 64, 96]  # bit-reversed over 128 slots


def test_reading_arguments_are_checked():
    with pytest.raises(ValueError, match="settle_reads"):
        read_tracklets(ScriptedReader({}), _crops({1: range(3)}), settle_reads=0, max_crops_per_track=3)
    assert len(read_tracklets(ScriptedReader({}), AthleteCrops.empty(), settle_reads=3, max_crops_per_track=3)) == 0


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
