"""Tracklets decided by the match's kits (curation/attribute/match_tracks.py): a player in shade on
the pitch gets its team, staff beside it do not, and a referee the detector named against a team kit
is that team's player; where the tracklet stands is read off the shard's rows."""

from __future__ import annotations

import dataclasses

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


def test_the_match_kits_never_make_a_player_of_someone_standing_beyond_a_line():
    shade = _shade(LIME, -24)
    beyond = Tracklet(40, "referee", None, NEITHER, None, np.arange(10, dtype=np.int64), 40, shade, 6, 8, outside_median_m=2.4)
    at_the_line = Tracklet(41, "referee", None, NEITHER, None, np.arange(20, 30, dtype=np.int64), 40, shade, 6, 8, outside_median_m=1.2)
    fills = _decide(beyond, at_the_line)
    assert (fills[40].role, fills[40].team) == ("other", None)
    assert fills[40].flag == "off-pitch: its feet a median 2.4 m beyond the lines over 40 positioned rows, over the 1.5 m a player may stand out"
    assert fills[40].clause.endswith(": other")
    assert (fills[41].role, fills[41].team) == ("player", None)  # within the margin: the kits' word stands


def test_tracklets_carry_the_median_metres_beyond_the_lines():
    n = 4
    athletes = pa.table({
        "tracklet_id": pa.array([1] * n, pa.int64()), "frame_index": pa.array(range(n), pa.int64()),
        "role": ["player"] * n, "team": ["A"] * n, "role_reason": ["kit"] * n, "flags": pa.array([None] * n, pa.string()),
        "pitch_x": pa.array([-55.0, -55.5, -54.0, None], pa.float32()), "pitch_y": pa.array([0.0, 1.0, 2.0, None], pa.float32()),
        "shirt_colour": [LIME] * n, "shirt_crops": pa.array([3] * n, pa.int32()),
    })
    (t,) = tracklets_of(athletes)
    assert t.positioned == 3 and abs(t.outside_median_m - 2.5) < 1e-6


def test_an_aligned_clip_whose_kits_split_its_players_otherwise_has_its_teams_given_anew():
    from tests.curation.attribute.test_match_teams import _aligned_clip as aligned, _t

    # Its letters priced clearly (kit A cyan, kit B lime), but its kit A took in three lime players in shade.
    confused = ClipTracklets("odd", "keep", (
        _t(1, "player", "A", _shade(CYAN, 1)), _t(2, "player", "A", _shade(CYAN, -1)),
        _t(3, "player", "A", _shade(LIME, -4)), _t(4, "player", "A", _shade(LIME, -5)), _t(5, "player", "A", _shade(LIME, -6)),
        _t(6, "player", "B", _shade(LIME, 2)),
        _t(7, "goalkeeper", "A", "#f03c3c"),
    ))
    # One player clearly in the other kit is no confusion: the clip's letters stand.
    one_off = ClipTracklets("one", "keep", aligned("one").tracklets[:-1] + (_t(30, "player", "A", _shade(LIME, 1)),))
    result = decide_match_tracklets([aligned("c1"), aligned("c2", "swap"), confused, one_off], _track_rules())
    fills = {f.tracklet_id: f for f in result.fills["odd"]}
    assert {t: (f.role, f.team) for t, f in fills.items()} == {
        1: ("player", "A"), 2: ("player", "A"), 3: ("player", "B"), 4: ("player", "B"), 5: ("player", "B"), 6: ("player", "B"),
        7: ("goalkeeper", None),
    }
    assert fills[7].clause.startswith("team refused: its clip's kits are confused (3 of its player tracklets clearly wear the other")
    assert "odd: its clip's kits are confused" in result.note and "one:" not in result.note
    assert "one" not in result.fills


def test_a_player_refused_a_team_gets_the_kit_it_is_far_nearer_where_it_is_no_member_of_it():
    from tests.curation.attribute.test_match_teams import _aligned_clip as aligned

    refused = "kit d=3.0/9.0 spreads from team A/B over 3 crops, too far for a member, too near for neither: player; team unknown: 1 crop vote(s) for B"
    shot = ClipTracklets("c3", "keep", aligned("c3").tracklets + (
        Tracklet(40, "player", None, refused, None, np.arange(10, dtype=np.int64), 0, _shade(LIME, -30), 3, 0),  # lime in deep shade
        Tracklet(41, "player", None, refused, None, np.arange(10, 20, dtype=np.int64), 0, "#70dc80", 3, 0),  # between the kits
        Tracklet(42, "player", None, refused, None, np.arange(20, 30, dtype=np.int64), 0, _shade(LIME, -30), 1, 0),  # one crop
    ))
    result = decide_match_tracklets([aligned(f"c{k}") for k in (1, 2, 4)] + [shot], _track_rules())
    fills = {f.tracklet_id: f for f in result.fills.get("c3", [])}
    assert sorted(fills) == [40]
    assert (fills[40].role, fills[40].team) == ("player", "B") and "times as far from the other: player, team B" in fills[40].clause


def test_a_relabelled_clips_goalkeeper_joins_the_team_its_players_new_letters_put_at_its_goal():
    from tests.curation.attribute.test_match_teams import _aligned_clip as aligned

    def placed(t, role, team, shirt, x):
        return Tracklet(t, role, team, "kit d=0.5/9.0 spreads from team A/B: player", None, np.arange(10, dtype=np.int64), 10, shirt, 3, 10, 0.0, x)

    players = (
        placed(1, "player", "A", _shade(CYAN, 1), -20.0), placed(2, "player", "A", _shade(CYAN, -1), -15.0),
        placed(3, "player", "A", _shade(LIME, -4), 18.0), placed(4, "player", "A", _shade(LIME, -5), 22.0),
    )
    keeper = placed(7, "goalkeeper", "B", "#f03c3c", 48.0)  # its clip's sides put it in its letter B
    result = decide_match_tracklets([aligned("c1"), aligned("c2", "swap"), ClipTracklets("odd", "keep", players + (keeper,))], _track_rules())
    fills = {f.tracklet_id: f for f in result.fills["odd"]}
    assert [(fills[t].role, fills[t].team) for t in (1, 2, 3, 4)] == [("player", "A"), ("player", "A"), ("player", "B"), ("player", "B")]
    assert (fills[7].role, fills[7].team) == ("goalkeeper", "B")
    assert "in the right half, whose goal team B defends (players given anew: team A at mean x -17.5 m, team B at +20.0 m)" in fills[7].clause
    # The teams' players not apart: refused.
    close = tuple(dataclasses.replace(p, mean_x=1.0) for p in players)
    result = decide_match_tracklets([aligned("c1"), aligned("c2", "swap"), ClipTracklets("odd", "keep", close + (keeper,))], _track_rules())
    fills = {f.tracklet_id: f for f in result.fills["odd"]}
    assert fills[7].team is None and "mean x differ by 0.0 m" in fills[7].clause
