"""Off-pitch people stay off the pitch, in clothing no team wears, without a team or number."""

from __future__ import annotations

import numpy as np

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.synth.staff import MAX_OUTSIDE_M, MIN_OUTSIDE_M, StaffCrowd
from soccerfactory.curation.synth.world import ROLE_OTHER, MatchSimulation


def test_staff_keep_two_to_eight_metres_outside_the_lines():
    pitch = PitchModel()
    sim = MatchSimulation(pitch, np.random.default_rng(410), fps=25.0)
    crowd = StaffCrowd(pitch, 20, np.random.default_rng(411), 25.0, sim.kit_colours, first_track_id=26)
    start = crowd.position.copy()
    outside = []
    for _ in range(20 * 25):
        outside.append(StaffCrowd.outside_m(pitch, crowd.position))
        far_side = crowd.position[:, 1] < -pitch.half_width
        # In front of the advertising boards (6 m beyond the far touchline).
        assert np.all(crowd.position[far_side, 1] > -pitch.half_width - 6.0)
        crowd.step()
    outside = np.array(outside)
    assert outside.min() >= MIN_OUTSIDE_M - 1e-9 and outside.max() <= MAX_OUTSIDE_M + 1e-9
    walked = np.linalg.norm(crowd.position - start, axis=1)
    assert (walked > 3.0).sum() >= 3, "substitutes warm up: some people walk their beat"
    assert np.all(np.linalg.norm(crowd.velocity, axis=1) <= 3.5)


def test_staff_are_role_other_in_non_team_clothes():
    pitch = PitchModel()
    sim = MatchSimulation(pitch, np.random.default_rng(412), fps=25.0)
    crowd = StaffCrowd(pitch, 10, np.random.default_rng(413), 25.0, sim.kit_colours, first_track_id=26)
    assert [a.track_id for a in crowd.athletes] == list(range(26, 36))
    kits = [np.asarray(c, float) for c in sim.kit_colours.values()]
    for athlete in crowd.athletes:
        assert (athlete.role, athlete.team, athlete.jersey) == (ROLE_OTHER, -1, -1)
        # Long sleeves or trousers: not a football kit.
        assert athlete.legs is not None
    tops = [np.asarray(a.shirt, float) for a in crowd.athletes if a.sleeves is not None and a.shirt != a.sleeves]
    assert tops, "bibs and high-vis over dark clothes"
    assert all(min(np.linalg.norm(top - kit) for kit in kits) >= 60 for top in tops)


def test_no_staff_is_an_empty_crowd():
    pitch = PitchModel()
    crowd = StaffCrowd(pitch, 0, np.random.default_rng(0), 25.0, {}, first_track_id=1)
    crowd.step()
    assert crowd.athletes == [] and crowd.position.shape == (0, 2)
