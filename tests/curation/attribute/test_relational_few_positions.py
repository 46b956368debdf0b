"""Relational roles where the evidence is thin (curation/attribute/relational.py): a goalkeeper on a
split detector vote alone, and a tracklet with a few positions, every one of them off the pitch."""

from __future__ import annotations

import numpy as np

from soccerfactory.curation.attribute.relational import decide_roles
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import GOALKEEPER, PLAYER, Tracks
from soccerfactory.curation.vote import vote_tracklets

from tests.curation.attribute.test_relational import RULES, TeamKits

KITS = TeamKits((0, 0, 80), (240, 240, 240), "left")


def _track(t, classes, xy):
    """One tracklet: a row per class in ``classes``, pitch positions ``xy`` ((N, 2), NaN unknown)."""
    n = len(classes)
    return Tracks(
        xyxy=np.tile(np.float32([[0, 0, 10, 30]]), (n, 1)), confidence=np.full(n, 0.8, np.float32),
        class_id=np.asarray(classes), frame_index=np.arange(n), track_id=np.full(n, t),
        data={"pitch_xy": np.asarray(xy, np.float32), "pitch_sigma_m": np.full(n, 0.5, np.float32)},
    )


def _decide(tracks, crops, kit_distance):
    crop_track = np.concatenate([np.full(k, t) for t, k in crops]) if crops else np.zeros(0, np.int64)
    votes = vote_tracklets(crop_track, np.array([None] * len(crop_track), dtype=object))
    distance = np.asarray(kit_distance, np.float32).reshape(-1, 2)
    return decide_roles(Tracks.merge(tracks), crop_track, distance, votes, KITS, PitchModel(), RULES)


def test_a_goalkeeper_on_a_split_detector_vote_alone_is_not_counted_as_one():
    unknown = np.full((12, 2), np.nan)
    split = [GOALKEEPER] * 7 + [PLAYER] * 5  # 58 % goalkeeper: the dev seed 402 steward's 55 %
    sure = [GOALKEEPER] * 12
    decisions = _decide(
        [_track(1, split, unknown), _track(2, sure, unknown)],
        [(1, 1), (2, 1)], [(9.0, 9.0), (9.0, 9.0)],  # one crop each: no kit evidence
    )
    assert (decisions[1].role, decisions[1].team) == ("other", None)
    assert "under the 80% that names a goalkeeper on the detector's word alone" in decisions[1].reason
    assert decisions[1].reason.endswith(": other")
    assert decisions[2].role == "goalkeeper"  # the detector sure of it: its word stands
    # With positions in a penalty area the split vote keeps its goalkeeper (the area decides).
    area = np.tile([[-48.0, 0.0]], (12, 1))
    (kept,) = _decide([_track(3, split, area)], [(3, 1)], [(9.0, 9.0)]).values()
    assert kept.role == "goalkeeper"


def test_a_tracklet_with_a_few_positions_all_off_the_pitch_is_other_one_with_any_inside_is_not():
    xy = np.full((12, 2), np.nan)
    off = xy.copy()
    off[:3] = [[10.0, 38.5], [10.5, 38.6], [11.0, 38.4]]  # three rows 4.5 m beyond the touchline, no camera after
    mixed = off.copy()
    mixed[2] = [11.0, 33.0]  # one inside
    decisions = _decide([_track(1, [PLAYER] * 12, off), _track(2, [PLAYER] * 12, mixed)], [(1, 2), (2, 2)], [(1.0, 9.0)] * 4)
    assert (decisions[1].role, decisions[1].team) == ("other", None)
    assert decisions[1].flags["off-pitch"].startswith("off-pitch: feet outside the pitch by more than 1.5 m + 2 sigma on all 3 of its")
    assert (decisions[2].role, decisions[2].team) == ("player", "A") and not decisions[2].flags
