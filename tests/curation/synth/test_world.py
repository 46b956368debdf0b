"""The match simulation: plausible motion and a living ball over a minute of play."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.synth.world import ROLE_GOALKEEPER, ROLE_REFEREE, MatchSimulation


@pytest.fixture(scope="module")
def minute():
    pitch = PitchModel()
    sim = MatchSimulation(pitch, np.random.default_rng(3), fps=25.0, referees=3)
    positions, ball = [], []
    for _ in range(60 * 25):
        positions.append(sim.position.copy())
        ball.append(sim.ball.position.copy())
        sim.step()
    return sim, np.array(positions), np.array(ball)


def test_squads_are_complete(minute):
    sim, _, _ = minute
    roles = [a.role for a in sim.athletes]
    assert roles.count(ROLE_GOALKEEPER) == 2 and roles.count(ROLE_REFEREE) == 3 and len(roles) == 25
    for team in (0, 1):
        numbers = [a.jersey for a in sim.athletes if a.team == team]
        assert len(set(numbers)) == 11
    kits = {a.shirt for a in sim.athletes if a.role != ROLE_REFEREE}
    assert len(kits) == 4, "two team kits and two goalkeeper kits, all different"


def test_athletes_move_at_human_speeds(minute):
    _, positions, _ = minute
    speeds = np.linalg.norm(np.diff(positions, axis=0), axis=2) * 25
    assert speeds.max() < 10.0, "nobody outruns a sprinter or teleports"
    assert np.percentile(speeds, 95) > 3.0, "play includes running, not only walking"


def test_the_ball_is_played_and_goes_out(minute):
    sim, _, ball = minute
    kinds = [event.kind for event in sim.events]
    assert kinds.count("pass") >= 10 and ("out" in kinds or "shot" in kinds)
    assert (ball[:, 2] < -0.5).any(), "some balls are lofted"
    assert np.all(ball[:, 2] <= 1e-9), "the ball never goes below the grass"


def test_players_bunch_up(minute):
    """Occlusion needs crowds: at some point several players are within 3 m of one another."""
    _, positions, _ = minute
    crowded = 0
    for frame in positions[::25]:
        gaps = np.linalg.norm(frame[:22, None] - frame[None, :22], axis=2)
        crowded = max(crowded, int(((gaps < 3.0).sum(axis=1) - 1).max()))
    assert crowded >= 2
