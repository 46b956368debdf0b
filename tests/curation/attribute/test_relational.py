"""Kit models, sides of play and relational roles on constructed evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from soccerfactory.curation.attribute.kits import TeamKits
from soccerfactory.curation.attribute.relational import (
    KitModel,
    RoleRules,
    clip_kits,
    decide_roles,
    fit_kit_model,
    role_columns,
    team_side,
    tracklet_flags,
)
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import GOALKEEPER, PLAYER, REFEREE, Tracks
from soccerfactory.curation.vote import vote_tracklets

RULES = RoleRules(
    kit_member=2.5, kit_outlier=3.5, kit_min_crops=2, detector_override=0.8, min_positioned_rows=5,
    off_pitch_margin_m=1.5, off_pitch_sigmas=2.0, off_pitch_share=0.6, goalkeeper_area_share=0.6,
    goalkeeper_area_margin_m=2.0,
)
NAVY_LAB, WHITE_LAB = (13.0, 14.0, -32.0), (94.0, 0.0, 0.0)


def _colours(rng, centre, n, noise=1.0):
    return np.asarray(centre, np.float32) + rng.normal(0, noise, (n, 3)).astype(np.float32)


def test_kit_model_is_the_median_of_each_team_with_outliers_trimmed():
    rng = np.random.default_rng(0)
    navy, white = _colours(rng, NAVY_LAB, 20), _colours(rng, WHITE_LAB, 20)
    referee = _colours(rng, (86.0, -6.0, 81.0), 4)  # yellow, put in team B by the classifier
    colours = np.concatenate([navy, white, referee, np.full((1, 3), np.nan, np.float32)])
    team = np.array(["A"] * 20 + ["B"] * 24 + [None], dtype=object)
    model = fit_kit_model(colours, team, min_spread=4.0, outlier=3.5)
    assert model.members.tolist() == [20, 20]  # the four yellow crops are not kit B's
    assert np.allclose(model.centres[1], WHITE_LAB, atol=1.0)
    assert model.spread.tolist() == [4.0, 4.0]  # the floor: solid kits barely spread
    distance = model.distance(colours)
    assert (distance[:20].argmin(axis=1) == 0).all() and distance[:44].min(axis=1)[:40].max() < 2.5
    assert distance[40:44].min(axis=1).min() > 3.5 and np.isnan(distance[44]).all()
    (ra, ga, ba), (rb, gb, bb) = model.rgb()
    assert ba > ra and (rb, gb, bb) >= (230, 230, 230)
    assert fit_kit_model(colours[:20], team[:20], 4.0, 3.5) is None  # one team only


def test_kit_model_validates():
    with pytest.raises(ValueError, match="spread"):
        KitModel(np.zeros((2, 3)), np.array([1.0, 0.0]), np.array([2, 2]))


def test_team_side_from_players_mean_x_and_unknown_when_mixed():
    track = np.repeat(np.arange(6), 3)
    team = np.array(["A"] * 9 + ["B"] * 9, dtype=object)
    x = np.repeat([-30.0, -20.0, -10.0, 10.0, 20.0, 30.0], 3)
    assert team_side(track, team, x, 4.0)[0] == "left"
    assert team_side(track, team, -x, 4.0)[0] == "right"
    mixed = np.repeat([-10.0, 10.0, 0.0, 1.0, -1.0, 2.0], 3)
    side, reason = team_side(track, team, mixed, 4.0)
    assert side is None and "under 4 m" in reason
    assert team_side(track, team, np.full(18, np.nan), 4.0)[0] is None


def test_clip_kits_gives_distances_and_kits():
    rng = np.random.default_rng(1)
    colours = np.concatenate([_colours(rng, NAVY_LAB, 10), _colours(rng, WHITE_LAB, 10)])
    team = np.array(["A"] * 10 + ["B"] * 10, dtype=object)
    track = np.repeat(np.arange(10), 2)
    x = np.where(np.arange(20) < 10, -20.0, 20.0)
    distance, kits = clip_kits(colours, team, track, x, 4.0, 2.5, 3.5, 4.0, min_people=2)
    assert distance.shape == (20, 2) and kits.side_a == "left"
    assert TeamKits.hex(kits.colour_b).startswith("#e") and min(kits.colour_b) >= 230  # white
    assert clip_kits(colours[:10], team[:10], track[:10], x[:10], 4.0, 2.5, 3.5, 4.0, 2) == (None, None)
    # Five people wear kit A; kit B is one person's (a steward, a referee?): no kits, no teams.
    lone = np.where(np.arange(20) < 10, track, 99)
    assert clip_kits(colours, team, lone, x, 4.0, 2.5, 3.5, 4.0, min_people=2) == (None, None)


def _tracks(specs, frames=range(25)):
    """specs: (track_id, class_id, (x, y) or None)."""
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


def _decide(specs, kit_distance, kits=TeamKits((0, 0, 80), (240, 240, 240), "left"), pitch=PitchModel()):
    tracks = _tracks(specs)
    crop_track = np.repeat([t for t, _, _ in specs], 3)
    team_votes = vote_tracklets(crop_track, np.array([None] * len(crop_track), dtype=object))
    distance = None if kit_distance is None else np.repeat(np.asarray(kit_distance, np.float32), 3, axis=0)
    return tracks, decide_roles(tracks, crop_track, distance, team_votes, kits, pitch, RULES)


def test_neither_kit_in_the_middle_is_a_referee_near_a_goal_a_goalkeeper():
    _, decisions = _decide(
        [(1, PLAYER, (0.0, 10.0)), (2, PLAYER, (48.0, -3.0)), (3, PLAYER, (-20.0, 0.0)), (4, REFEREE, (-30.0, 34.5))],
        [(9.0, 8.0), (7.0, 6.0), (0.8, 9.0), (8.0, 9.0)],
    )
    assert (decisions[1].role, decisions[1].team) == ("referee", None)
    assert (decisions[2].role, decisions[2].team) == ("goalkeeper", "B")  # team A defends the left goal
    assert decisions[2].team_agreement == 1.0 and "right penalty area" in decisions[2].reason
    assert (decisions[3].role, decisions[3].team, decisions[3].team_agreement) == ("player", "A", 1.0)
    # An assistant referee half a metre over the touchline is on the pitch within the margin.
    assert decisions[4].role == "referee" and not decisions[4].flags
    assert decisions[1].flags["role-kit"].startswith("role-kit: the kit says a referee or goalkeeper")


def test_between_the_kit_thresholds_the_detector_decides():
    _, decisions = _decide([(1, REFEREE, (0.0, 0.0))], [(3.0, 9.0)])
    assert decisions[1].role == "referee" and "too near for neither" in decisions[1].reason and not decisions[1].flags


def test_a_detected_player_in_no_teams_kit_and_without_team_votes_is_not_counted_as_a_player():
    # A steward in a shot without a camera: no position, a kit 3 spreads from both teams (too far
    # for a member, too near for neither), the detector says player, no crop voted a team.
    _, decisions = _decide([(1, PLAYER, None)], [(3.0, 3.2)])
    assert (decisions[1].role, decisions[1].team) == ("other", None)
    assert decisions[1].reason.endswith("not counted as a player: other")
    assert decisions[1].flags["role-kit"].startswith("role-kit: kit d=3.0/3.2")


def test_without_kits_or_positions_the_detector_decides_and_nobody_is_off_the_pitch():
    _, decisions = _decide([(1, GOALKEEPER, None), (2, PLAYER, None)], None, kits=None, pitch=None)
    assert decisions[1].role == "goalkeeper" and decisions[1].team is None
    assert "no kit evidence" in decisions[1].reason and math.isclose(decisions[1].role_agreement, 1.0)
    assert decisions[2].role == "player" and decisions[2].team is None  # no crop votes for a team


def test_referee_standing_in_a_penalty_area_stays_a_referee_when_the_detector_is_sure():
    _, decisions = _decide([(1, REFEREE, (40.0, 5.0))], [(9.0, 8.0)])
    assert decisions[1].role == "referee" and "the detector votes referee" in decisions[1].reason


def test_two_goalkeepers_at_one_goal_at_once_cannot_both_be():
    _, decisions = _decide([(1, GOALKEEPER, (-50.0, 0.0)), (2, PLAYER, (-45.0, 5.0))], [(9.0, 8.0), (9.0, 7.0)])
    assert decisions[1].role == "goalkeeper"
    assert decisions[2].role == "referee" and "track 1 is that goal's goalkeeper" in decisions[2].reason


def test_role_columns_and_flags_map_decisions_onto_rows():
    tracks, decisions = _decide([(1, PLAYER, (0.0, 45.0)), (2, PLAYER, (0.0, 0.0))], [(0.5, 9.0), (9.0, 0.5)])
    tracks = tracks.with_data(duplicate_reason=np.array([None] * 25 + ["merged duplicate track 9"] * 25, dtype=object))
    columns = role_columns(decisions, tracks.track_id)
    assert columns["role"].tolist() == ["other"] * 25 + ["player"] * 25
    assert columns["team"].tolist() == [None] * 25 + ["B"] * 25
    flags = tracklet_flags(decisions, tracks)
    assert list(flags["off-pitch"]) == [1] and flags["off-pitch"][1].startswith("off-pitch: feet outside")
    assert flags["duplicate"] == {2: "duplicate: merged duplicate track 9"}


def test_each_decision_carries_the_tracklets_shirt_colour_which_the_match_step_reads():
    from soccerfactory.curation.attribute.match_teams import hex_to_lab

    tracks = _tracks([(1, PLAYER, (0.0, 0.0)), (2, PLAYER, (5.0, 0.0))])
    crop_track = np.repeat([1, 2], 3)
    votes = vote_tracklets(crop_track, np.array([None] * 6, dtype=object))
    colours = np.float32([NAVY_LAB, NAVY_LAB, (15.0, 14.0, -32.0), [np.nan] * 3, [np.nan] * 3, [np.nan] * 3])
    distance = np.float32([[0.5, 9.0]] * 3 + [[np.nan, np.nan]] * 3)
    decisions = decide_roles(tracks, crop_track, distance, votes, TeamKits((0, 0, 80), (240, 240, 240), "left"), PitchModel(), RULES,
                             crop_colours=colours)
    assert decisions[1].shirt_crops == 3 and np.allclose(hex_to_lab(decisions[1].shirt_colour), NAVY_LAB, atol=1.0)
    assert "shirt" not in decisions[1].reason and decisions[1].reason.endswith(": player")  # the colour is a column, not a clause
    assert (decisions[2].shirt_colour, decisions[2].shirt_crops) == (None, 0)  # no crop with a colour
    columns = role_columns(decisions, tracks.track_id)
    rows = tracks.track_id == 1
    assert set(columns["shirt_colour"][rows]) == {decisions[1].shirt_colour} and set(columns["shirt_crops"][rows]) == {3}
    assert set(columns["shirt_colour"][~rows]) == {None} and columns["shirt_crops"].dtype == np.int32
    with pytest.raises(ValueError, match="crop_colours"):
        decide_roles(tracks, crop_track, distance, votes, None, PitchModel(), RULES, crop_colours=colours[:2])
