"""Tracklets decided by the match's kits (curation/attribute/match_tracks.py): a player in shade on
the pitch gets its team, staff beside it do not, and a referee the detector named against a team kit
is that team's player; where the tracklet stands is read off the shard's rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from soccerfactory.curation.attribute.match_tracks import ClipTracklets, Tracklet, decide_match_tracklets, tracklets_of

from tests.curation.attribute.test_match_teams import LIME, YELLOW, CYAN, _aligned_clip, _shade, _track_rules

NEITHER = "kit d=18.1/3.9 spreads from team A/B over 6 crops, in neither kit, 0% of 40 positioned rows in a penalty area: referee"
DETECTOR = "kit d=9.5/0.7 spreads from team A/B over 2 crops, in team B's kit, but the detector votes referee (87% of its weight): referee"


def _decide(*extra: Tracklet) -> dict:
    shot = ClipTracklets("c3", "keep", _aligned_clip("c3").tracklets + extra)
    # Six clips' referees in yellow: the officials' kit stays theirs beside the tracklets tried here.
    result = decide_match_tracklets([_aligned_clip(f"c{k}") for k in (1, 2, 4, 5, 6)] + [shot], _track_rules())
    return {f.tracklet_id: f for f in result.fills.get("c3", [])}


def _tracklet(t, reason, shirt, crops, positioned, inside, frames=range(10)):
    return Tracklet(t, "referee", None, reason, None, np.asarray(list(frames), np.int64), positioned, shirt, crops, inside)


def test_a_player_in_shade_on_the_pitch_gets_the_team_of_the_kit_it_is_nearest_staff_beside_it_does_not():
    shade = _shade(LIME, -24)  # beyond a member's distance from the match's lime, far from cyan and the officials' yellow
    fills = _decide(
        _tracklet(40, NEITHER, shade, 6, positioned=40, inside=40, frames=range(0, 10)),  # on the pitch
        _tracklet(41, NEITHER, shade, 6, positioned=40, inside=8, frames=range(20, 30)),  # just beyond a touchline
        _tracklet(42, NEITHER, shade, 6, positioned=0, inside=0, frames=range(40, 50)),  # no position
    )
    assert (fills[40].role, fills[40].team) == ("player", "B")
    assert "40 of 40 positioned rows inside the lines: a player of team B" in fills[40].clause
    for t in (41, 42):
        assert (fills[t].role, fills[t].team) == ("player", None) and "too far from kit B for a member: no team" in fills[t].clause


def test_a_referee_the_detector_named_against_a_team_kit_is_that_teams_player_on_two_crops_in_it():
    fills = _decide(
        _tracklet(40, DETECTOR, _shade(LIME, 1), 2, positioned=12, inside=12, frames=range(0, 10)),
        _tracklet(41, DETECTOR, LIME, 1, positioned=12, inside=12, frames=range(20, 30)),  # one crop: says too little
        _tracklet(42, DETECTOR, _shade(YELLOW, 2), 3, positioned=12, inside=12, frames=range(40, 50)),  # the officials' kit
        _tracklet(43, DETECTOR, _shade(CYAN, 30), 3, positioned=12, inside=12, frames=range(60, 70)),  # in no kit clearly
    )
    assert sorted(fills) == [40]
    assert (fills[40].role, fills[40].team) == ("player", "B")
    assert fills[40].flag.startswith("role-kit: by the match's kits its shirt is team B's, no official's")


def test_tracklets_count_their_rows_inside_the_lines():
    n = 6
    athletes = pa.table({
        "tracklet_id": pa.array([1] * n + [2] * n, pa.int64()), "frame_index": pa.array(list(range(n)) * 2, pa.int64()),
        "role": ["referee"] * 2 * n, "team": pa.array([None] * 2 * n, pa.string()), "role_reason": [NEITHER] * 2 * n,
        "flags": pa.array([None] * 2 * n, pa.string()),
        # Track 1: inside but for one unknown row; track 2: 3 m beyond the near touchline (y = 34) on four rows.
        "pitch_x": pa.array([10.0] * (n - 1) + [None] + [30.0] * n, pa.float32()),
        "pitch_y": pa.array([5.0] * (n - 1) + [None] + [37.0] * 4 + [20.0] * 2, pa.float32()),
        "shirt_colour": [LIME] * 2 * n, "shirt_crops": pa.array([3] * 2 * n, pa.int32()),
    })
    one, two = tracklets_of(athletes)
    assert (one.positioned, one.inside) == (n - 1, n - 1)
    assert (two.positioned, two.inside) == (n, 2)
    # A shard written before pitch_y was read: no row counts as inside.
    (old, _) = tracklets_of(athletes.drop(["pitch_y"]))
    assert (old.positioned, old.inside) == (n - 1, 0)


def test_a_player_refused_a_team_for_split_votes_is_corrected_to_referee_in_the_officials_kit_never_given_a_team():
    split = "kit d=1.9/9.7 spreads from team A/B over 4 crops, in team A's kit: player; team unknown: its crops voted B, its median kit is A's"
    fills = _decide(
        Tracklet(40, "player", None, split, None, np.arange(0, 10, dtype=np.int64), 7, _shade(YELLOW, 1), 4, 7),
        Tracklet(41, "player", None, split, None, np.arange(20, 30, dtype=np.int64), 7, _shade(LIME, 1), 4, 7),
    )
    assert sorted(fills) == [40]  # in the lime kit: its team stays refused
    assert (fills[40].role, fills[40].team) == ("referee", None)
    assert fills[40].flag.startswith("role-kit: the match's officials' kit says referee, its clip decided player")


def test_a_goalkeeper_refused_on_a_split_vote_is_decided_by_the_match_kits():
    refused = ("the detector votes goalkeeper (75% of its weight); kit d=3.0/18.3 spreads from team B/A over 3 crops, too far for a member, "
               "too near for neither; under the 80% that names a goalkeeper on the detector's word alone, and no kit or position says "
               "goalkeeper, so not counted as a goalkeeper: other")
    fills = _decide(
        Tracklet(40, "other", None, refused, None, np.arange(0, 10, dtype=np.int64), 0, _shade(LIME, 2), 3, 0),
        Tracklet(41, "other", None, refused, None, np.arange(20, 30, dtype=np.int64), 0, "#171a3a", 3, 0),  # navy: no kit of the match
    )
    assert sorted(fills) == [40] and (fills[40].role, fills[40].team) == ("player", "B")
