"""Relational roles where the evidence is thin (curation/attribute/relational.py): a goalkeeper on a
split detector vote alone, a tracklet with a few positions, most of them off the pitch, and someone
in a team's kit standing just beyond a line (inside the margin its sigmas add)."""

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


def test_a_tracklet_with_a_few_positions_all_off_the_pitch_is_other_one_mostly_inside_is_not():
    xy = np.full((12, 2), np.nan)
    off = xy.copy()
    off[:3] = [[10.0, 38.5], [10.5, 38.6], [11.0, 38.4]]  # three rows 4.5 m beyond the touchline, no camera after
    mixed = off.copy()
    mixed[1:3] = [[10.5, 33.0], [11.0, 33.0]]  # two of the three inside
    decisions = _decide([_track(1, [PLAYER] * 12, off), _track(2, [PLAYER] * 12, mixed)], [(1, 2), (2, 2)], [(1.0, 9.0)] * 4)
    assert (decisions[1].role, decisions[1].team) == ("other", None)
    assert decisions[1].flags["off-pitch"].startswith("off-pitch: feet outside the pitch by more than 1.5 m + 2 sigma on 100% of its 3")
    assert (decisions[2].role, decisions[2].team) == ("player", "A") and not decisions[2].flags


def test_a_few_positions_mostly_off_the_pitch_is_other_half_of_them_is_not():
    xy = np.full((12, 2), np.nan)
    mostly = xy.copy()
    mostly[:4] = [[10.0, 38.5], [10.5, 38.6], [11.0, 38.4], [11.0, 33.0]]  # 3 of 4 rows 4.5 m out, one inside
    half = xy.copy()
    half[:4] = [[10.0, 38.5], [10.5, 38.6], [11.0, 33.0], [11.5, 33.0]]  # 2 of 4
    decisions = _decide([_track(1, [PLAYER] * 12, mostly), _track(2, [PLAYER] * 12, half)], [(1, 2), (2, 2)], [(1.0, 9.0)] * 4)
    assert (decisions[1].role, decisions[1].team) == ("other", None)
    assert "on 75% of its 4 positioned rows" in decisions[1].flags["off-pitch"]
    assert (decisions[2].role, decisions[2].team) == ("player", "A") and not decisions[2].flags


def test_someone_no_kit_makes_a_player_just_beyond_a_line_is_other_a_member_of_a_kit_there_is_not():
    n = 12
    sigma = np.full(n, 1.0, np.float32)  # far from the camera: the share rule's margin is 1.5 + 2 = 3.5 m

    def track(t, classes, xy):
        out = _track(t, classes, xy)
        return Tracks(out.xyxy, out.confidence, out.class_id, out.frame_index, out.track_id, data={**out.data, "pitch_sigma_m": sigma})

    behind_goal = np.tile([[-54.7, 10.0]], (n, 1))  # 2.2 m behind the left goal line, inside 3.5 m
    coach = np.tile([[8.0, 36.0]], (n, 1))  # 2.0 m beyond the near touchline
    fetching = np.tile([[20.0, 36.0]], (n, 1))  # a player fetching the ball, 2.0 m out (dev seed 404: 1.9 m median) ...
    fetching[7:] = [20.0, 33.0]  # ... and back on the pitch (beyond_line.py: a member standing out the whole track is not)
    throw_in = np.tile([[20.0, 34.8]], (n, 1))  # 0.8 m over the touchline
    throw_in[:6] = [20.0, 33.0]
    decisions = _decide(
        [track(1, [PLAYER] * n, behind_goal), track(2, [GOALKEEPER] * n, coach), track(3, [PLAYER] * n, fetching), track(4, [PLAYER] * n, throw_in)],
        # Track 1's kit 3.0 spreads from kit A: no member (the detector decides), as seed 404's coach at 3.2.
        [(1, 3), (2, 3), (3, 3), (4, 3)], [(3.0, 9.0)] * 3 + [(9.0, 9.0)] * 3 + [(0.3, 9.0)] * 3 + [(9.0, 1.0)] * 3,
    )
    assert (decisions[1].role, decisions[1].team) == ("other", None)
    assert decisions[1].flags["off-pitch"] == (
        "off-pitch: its feet a median 2.2 m beyond the left goal line over 12 positioned rows, over the 1.5 m a player may stand out"
    )
    assert decisions[1].reason.startswith("the detector votes player (100% of its weight); kit d=3.0/9.0 spreads") and decisions[1].reason.endswith(": other")
    assert (decisions[2].role, decisions[2].team) == ("other", None) and "near touchline" in decisions[2].flags["off-pitch"]
    assert (decisions[3].role, decisions[3].team) == ("player", "A") and not decisions[3].flags  # in its team's kit: plays
    assert (decisions[4].role, decisions[4].team) == ("player", "B") and not decisions[4].flags
