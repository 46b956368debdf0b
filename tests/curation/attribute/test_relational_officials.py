"""Relational roles beside the lines and the side of play: staff are not officials, sides come from the players.

Constructed evidence (kit distances per crop, pitch positions per row), decided by
:func:`decide_roles` as the pipeline does; the numbers echo the synthetic dev clips the rules were
found on (seeds 400-402).
"""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.attribute.kits import TeamKits
from soccerfactory.curation.attribute.officials import OfficialCandidate, line_outside, staff_beside_the_lines
from soccerfactory.curation.attribute.relational import RoleDecision, RoleRules, decide_roles, kit_separation, players_side
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import GOALKEEPER, PLAYER, REFEREE, Tracks
from soccerfactory.curation.vote import vote_tracklets

RULES = RoleRules(
    kit_member=2.5, kit_outlier=3.5, kit_min_crops=2, detector_override=0.8, min_positioned_rows=5,
    off_pitch_margin_m=1.5, off_pitch_sigmas=2.0, off_pitch_share=0.6, goalkeeper_area_share=0.6,
    goalkeeper_area_margin_m=2.0, side_min_gap_m=4.0,
)
KITS = TeamKits((0, 0, 80), (240, 240, 240), None)


def _tracks(specs, frames=range(25)):
    """specs: (track_id, class_id, (x, y) or None); sigma 0.5 m, so the off-pitch margin is 2.5 m."""
    parts = []
    frames = np.asarray(list(frames))
    for t, cls, xy in specs:
        pitch = np.full((len(frames), 2), np.nan, np.float32) if xy is None else np.tile(np.float32(xy), (len(frames), 1))
        parts.append(Tracks(
            xyxy=np.tile(np.float32([[0, 0, 10, 30]]), (len(frames), 1)), confidence=np.full(len(frames), 0.8, np.float32),
            class_id=np.full(len(frames), cls), frame_index=frames, track_id=np.full(len(frames), t),
            data={"pitch_xy": pitch, "pitch_sigma_m": np.full(len(frames), 0.5, np.float32)},
        ))
    return Tracks.merge(parts)


def _decide(specs, kit_distance, kits=KITS, pitch=PitchModel(), rules=RULES, crops=3, teams=None):
    tracks = _tracks(specs)
    crop_track = np.repeat([t for t, _, _ in specs], crops)
    votes = np.array([None] * len(crop_track) if teams is None else np.repeat(teams, crops), dtype=object)
    team_votes = vote_tracklets(crop_track, votes)
    distance = None if kit_distance is None else np.repeat(np.asarray(kit_distance, np.float32), crops, axis=0)
    return decide_roles(tracks, crop_track, distance, team_votes, kits, pitch, rules)


def test_line_outside_names_the_line_most_rows_stand_beyond():
    pitch = PitchModel()
    assert line_outside(np.array([[0.0, 0.0], [10.0, 5.0]]), pitch) is None
    assert line_outside(np.array([[13.0, -36.5], [14.0, -36.0], [0.0, 0.0]]), pitch) == "far touchline"
    assert line_outside(np.array([[-55.1, -16.0], [np.nan, np.nan]]), pitch) == "left goal line"
    assert line_outside(np.array([[5.0, 35.0]]), pitch) == "near touchline"


def test_staff_on_the_touchline_in_another_kit_than_the_referee_is_other_the_assistant_stays():
    # Seed 401: referee d=5.7/9.8 in the middle, assistant d=5.6/10.2 1.3 m beyond the far
    # touchline, a steward d=10.4/25.8 2.5 m beyond it (inside the 1.5 m + 2 sigma margin).
    decisions = _decide(
        [(1, REFEREE, (-18.0, 6.0)), (2, REFEREE, (-19.0, -35.3)), (3, PLAYER, (13.0, -36.5)), (4, PLAYER, (-20.0, 0.0))],
        [(5.7, 9.8), (5.6, 10.2), (10.4, 25.8), (0.5, 9.0)],
    )
    assert decisions[1].role == "referee" and decisions[2].role == "referee" and not decisions[2].flags
    staff = decisions[3]
    assert (staff.role, staff.team) == ("other", None)
    assert "differs by more than 7 spreads from the referee's (track 1" in staff.reason and staff.reason.endswith(": other")
    assert staff.flags["off-pitch"].startswith("off-pitch: 2.5 m beyond the far touchline") and "role-kit" not in staff.flags


def test_an_assistant_whose_kit_reads_a_little_off_the_referees_stays_an_assistant():
    # Seed 402: an assistant seen on two crops read 4.1 spreads off the referee (d=17.2/19.8 vs
    # 17.9/23.9): within twice kit_outlier, the same kit.
    decisions = _decide([(1, REFEREE, (10.0, 6.0)), (2, REFEREE, (-5.0, -35.3))], [(17.9, 23.9), (17.2, 19.8)])
    assert decisions[2].role == "referee"


def test_one_assistant_per_touchline_the_one_nearer_the_line():
    # No centre referee in view to compare kits with; two people in one kit beyond the near
    # touchline at the same time: the nearer (1.2 m) is the assistant, the other (2.4 m) staff.
    decisions = _decide([(1, REFEREE, (20.0, 35.2)), (2, REFEREE, (-10.0, 36.4))], [(9.0, 8.0), (9.5, 8.5)])
    assert decisions[1].role == "referee"
    assert decisions[2].role == "other" and "one assistant per touchline" in decisions[2].reason
    # Not at the same time: either can be the assistant.
    tracks = _tracks([(1, REFEREE, (20.0, 35.2))], frames=range(25)).merge(
        [_tracks([(1, REFEREE, (20.0, 35.2))], frames=range(25)), _tracks([(2, REFEREE, (-10.0, 36.4))], frames=range(30, 55))]
    )
    crop_track = np.repeat([1, 2], 3)
    votes = vote_tracklets(crop_track, np.array([None] * 6, dtype=object))
    apart = decide_roles(tracks, crop_track, np.repeat(np.float32([[9.0, 8.0], [9.5, 8.5]]), 3, axis=0), votes, KITS, PitchModel(), RULES)
    assert apart[1].role == apart[2].role == "referee"


def test_nobody_behind_a_goal_line_is_an_official():
    # Seed 402: a ball kid 2.6 m behind the left goal line (inside the margin, its sigma was large),
    # voted goalkeeper, lost the goal to the goalkeeper and came out a referee. Here 2.3 m, inside
    # the 1.5 m + 2 x 0.5 m margin.
    decisions = _decide([(1, GOALKEEPER, (-50.0, 2.0)), (2, GOALKEEPER, (-54.8, -16.0))], [(9.0, 8.0), (9.0, 7.0)])
    assert decisions[1].role == "goalkeeper"
    # Outside both penalty areas too, so the goalkeeper vote alone no longer makes it one (relational.py).
    assert decisions[2].role == "other"
    assert any(clause in decisions[2].reason for clause in ("no official works behind a goal", "outside both penalty areas", "beyond the left goal line"))


def test_staff_beside_the_lines_leaves_alike_kits_and_the_pitch_alone():
    frames = np.arange(10)
    referee = OfficialCandidate(1, np.array([5.0, 9.0]), 1.0, 0.0, None, frames)
    alike = OfficialCandidate(2, np.array([6.0, 12.0]), 0.0, 1.4, "far touchline", frames)
    unknown = OfficialCandidate(3, None, 0.0, 2.0, "near touchline", frames)
    assert staff_beside_the_lines([referee, alike, unknown], 3.5, 0.6, 1.5) == {}


def test_sides_come_from_the_players_not_from_staff_in_a_teams_colour():
    # Seed 400: two stewards 5 m behind the left goal line within kit B's spread pulled team B's
    # mean x past team A's; the players alone say A defends the left goal, and so does the
    # goalkeeper standing there.
    specs = [(1, PLAYER, (-38.0, 0.0)), (2, PLAYER, (-30.0, 5.0)), (3, PLAYER, (-22.0, 0.0)), (4, PLAYER, (-20.0, 8.0)),
             (5, PLAYER, (-58.0, 10.0)), (6, PLAYER, (-57.5, -10.0)), (7, GOALKEEPER, (-50.0, 1.0))]
    kit = [(0.3, 11.0), (0.4, 11.0), (20.0, 1.0), (19.0, 1.9), (22.0, 1.1), (24.0, 1.6), (24.0, 16.0)]
    decisions = _decide(specs, kit, kits=TeamKits((0, 0, 80), (240, 240, 240), "right"))
    assert decisions[5].role == decisions[6].role == "other"
    assert decisions.kits.side_a == "left" and "team A's 2 players at mean x -34.0 m" in decisions.side_reason
    assert (decisions[7].role, decisions[7].team) == ("goalkeeper", "A")
    # Without side_min_gap_m the side is kept as given (and the goalkeeper placed by it).
    kept = _decide(specs, kit, kits=TeamKits((0, 0, 80), (240, 240, 240), "right"), rules=RoleRules(**{**RULES.__dict__, "side_min_gap_m": None}))
    assert kept.kits.side_a == "right" and kept[7].team == "B"


def test_players_side_needs_both_teams_apart():
    decisions = {1: RoleDecision("player", "A", 1.0, 1.0, "x"), 2: RoleDecision("player", "B", 1.0, 1.0, "x"), 3: RoleDecision("referee", None, 1.0, 1.0, "x")}
    assert players_side(decisions, {1: -10.0, 2: 10.0, 3: 50.0}, 4.0)[0] == "left"
    assert players_side(decisions, {1: 10.0, 2: -10.0}, 4.0)[0] == "right"
    side, reason = players_side(decisions, {1: 1.0, 2: -1.0}, 4.0)
    assert side is None and "under 4 m" in reason
    assert players_side(decisions, {1: 1.0, 2: float("nan")}, 4.0)[0] is None


def test_one_crop_does_not_give_a_team_and_nothing_but_the_detector_does_not_make_a_player():
    # A tracklet with one crop voted B (no kit evidence: the kit needs two crops) in a clip whose
    # kits are alike (kit A's wearer 4.7 spreads from B, under 2.5 + 3.5): a player without a
    # team. (Seed 401: a zoomed shot with kits 2.3 spreads apart, four such, two of them wrong.)
    decisions = _decide([(1, PLAYER, (0.0, 0.0)), (2, PLAYER, (5.0, 0.0))], [(4.7, 1.0), (0.5, 9.0)], crops=1, teams=["B", "A"])
    assert kit_separation(np.float32([[4.7, 1.0], [0.5, 9.0]]), 2.5) == pytest.approx(4.7)
    assert (decisions[1].role, decisions[1].team) == ("player", None) and "1 crop vote(s) for B" in decisions[1].reason
    # Kits far apart (9 and 12 spreads): one crop's vote stands.
    apart = _decide([(1, PLAYER, (0.0, 0.0)), (2, PLAYER, (5.0, 0.0))], [(12.0, 1.0), (0.5, 9.0)], crops=1, teams=["B", "A"])
    assert (apart[1].role, apart[1].team) == ("player", "B")
    assert np.isnan(kit_separation(np.float32([[0.5, 9.0]]), 2.5)) and np.isnan(kit_separation(None, 2.5))
    # No kit models and no position for four people (a zoomed shot without a camera, seed 402):
    # the detector's "player" alone does not make one.
    crowd = _decide([(t, PLAYER, None) for t in range(1, 5)], None, kits=None)
    assert (crowd[1].role, crowd[1].team) == ("other", None) and "nothing else says player" in crowd[1].reason
    # A close-up of one or three people keeps the detector's word; so does one with a position.
    assert _decide([(1, PLAYER, None)], None, kits=None)[1].role == "player"
    assert {d.role for d in _decide([(t, PLAYER, None) for t in range(1, 4)], None, kits=None).values()} == {"player"}
    placed = _decide([(1, PLAYER, (0.0, 0.0))] + [(t, PLAYER, None) for t in range(2, 5)], None, kits=None)
    assert placed[1].role == "player"


def test_one_crop_voted_a_kit_it_lies_outside_gives_no_team():
    # Dev seed 402: a referee seen on one crop (pink, 16 spreads from both kits, kits far apart)
    # was voted team A by the classifier's nearer centre.
    decisions = _decide([(1, PLAYER, (0.0, 0.0)), (2, PLAYER, (5.0, 0.0)), (3, PLAYER, (9.0, 0.0))],
                        [(16.1, 21.0), (0.5, 12.0), (12.0, 0.5)], crops=1, teams=["A", "A", "B"])
    assert (decisions[1].role, decisions[1].team) == ("player", None)
    assert "its 1 crop voted A, but lies 16.1 spreads from that kit" in decisions[1].reason
    assert decisions[2].team == "A"  # within its kit: the vote stands (kits 12 spreads apart)
