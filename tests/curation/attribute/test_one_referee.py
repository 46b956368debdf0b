"""One referee on the field of play (curation/attribute/one_referee.py), through decide_roles: players
of a kit the kit models missed are not referees, and of several lone referees on the field at once
only the detector's strongest stays; assistants on the touchlines and tracklets without positions
are never changed."""

from __future__ import annotations

import numpy as np

from soccerfactory.curation.attribute.one_referee import INSIDE_M, RefereeCandidate, surplus_referees
from soccerfactory.curation.attribute.relational import decide_roles
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.types import PLAYER, REFEREE, Tracks
from soccerfactory.curation.vote import vote_tracklets

from tests.curation.attribute.test_relational import RULES, TeamKits

KITS = TeamKits((0, 0, 80), (240, 240, 240), "left")
LIME = (88.0, -35.0, 40.0)  # a lime kit's shirt in CIE Lab
BLACK = (18.0, 0.0, 0.0)  # a referee's black
N = 12


def _track(t, cls, x, y):
    return Tracks(
        xyxy=np.tile(np.float32([[0, 0, 10, 30]]), (N, 1)), confidence=np.full(N, 0.8, np.float32),
        class_id=np.full(N, cls), frame_index=np.arange(N), track_id=np.full(N, t),
        data={"pitch_xy": np.tile(np.float32([[x, y]]), (N, 1)), "pitch_sigma_m": np.full(N, 0.5, np.float32)},
    )


def _decide(specs):
    """``specs``: ``(track id, detector class, x, y, shirt Lab)``; every tracklet has 2 crops in neither kit."""
    tracks = Tracks.merge([_track(t, cls, x, y) for t, cls, x, y, _ in specs])
    crop_track = np.repeat([s[0] for s in specs], 2)
    colours = np.repeat(np.asarray([s[4] for s in specs], np.float32), 2, axis=0)
    distance = np.full((len(crop_track), 2), 12.0, np.float32)  # far beyond kit_outlier from both kits
    votes = vote_tracklets(crop_track, np.array([None] * len(crop_track), dtype=object))
    return decide_roles(tracks, crop_track, distance, votes, KITS, PitchModel(), RULES, crop_colours=colours)


def test_players_of_a_missed_kit_are_not_referees_and_the_lone_referee_stays():
    decisions = _decide([
        (1, PLAYER, -10.0, 5.0, LIME), (2, PLAYER, 4.0, -8.0, LIME), (3, PLAYER, 12.0, 0.0, LIME),
        (4, PLAYER, 0.0, 0.0, BLACK),
    ])
    for t in (1, 2, 3):
        assert decisions[t].role == "player" and decisions[t].team is None, decisions[t]
        assert "one referee works there" in decisions[t].reason and "role-kit" in decisions[t].flags
    assert decisions[4].role == "referee"


def test_of_two_lone_referees_on_the_field_the_detectors_referee_stays():
    decisions = _decide([(1, REFEREE, 0.0, 0.0, BLACK), (2, PLAYER, 10.0, 5.0, LIME)])
    assert decisions[1].role == "referee"
    assert decisions[2].role == "player" and decisions[2].team is None
    assert "track 1 is the referee on the field" in decisions[2].reason


def test_assistants_on_the_touchlines_are_not_counted():
    half_width = PitchModel().half_width
    decisions = _decide([
        (1, PLAYER, 0.0, 0.0, BLACK), (2, PLAYER, -20.0, -half_width + 0.5, BLACK), (3, PLAYER, 20.0, half_width - 1.0, BLACK),
    ])
    assert [decisions[t].role for t in (1, 2, 3)] == ["referee"] * 3


def test_a_surplus_referee_the_detector_calls_a_referee_keeps_it_when_nothing_else_fits():
    frames = np.arange(5)
    strong = RefereeCandidate(1, 10.0, frames, np.float32(BLACK), referee_votes=0.9, player_votes=0.1)
    weak = RefereeCandidate(2, 10.0, frames, np.float32(LIME), referee_votes=0.6, player_votes=0.4)
    assert surplus_referees([strong, weak], kit_member=2.5) == {}
    in_kit = RefereeCandidate(3, 10.0, frames, np.float32(LIME), 0.6, 0.4, nearest_kit=("B", 0.4))
    assert surplus_referees([strong, in_kit], kit_member=2.5) == {3: ("player", "B", surplus_referees([strong, in_kit], 2.5)[3][2])}
    assert "team B" in surplus_referees([strong, in_kit], 2.5)[3][2]


def test_referees_apart_in_time_or_off_the_field_are_not_rivals():
    early, late = np.arange(0, 5), np.arange(10, 15)
    a = RefereeCandidate(1, 10.0, early, np.float32(BLACK), 0.0, 1.0)
    b = RefereeCandidate(2, 10.0, late, np.float32(LIME), 0.0, 1.0)
    beside = RefereeCandidate(3, INSIDE_M - 1.0, early, np.float32(LIME), 0.0, 1.0)
    unknown = RefereeCandidate(4, float("nan"), early, np.float32(LIME), 0.0, 1.0)
    assert surplus_referees([a, b, beside, unknown], kit_member=2.5) == {}
