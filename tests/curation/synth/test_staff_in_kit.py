"""The opt-in ``staff_in_kit`` renderer option: substitutes warming up in their team's kit colour,
drawn as without it but about 2 m beyond a touchline, everyone else unchanged (so the default clips stay byte for byte what they were)."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.synth.config import SynthConfig
from soccerfactory.curation.synth.staff import StaffCrowd
from soccerfactory.curation.synth.world import ROLE_OTHER, MatchSimulation


def _crowd(in_kit: int) -> tuple[StaffCrowd, dict]:
    pitch = PitchModel()
    sim = MatchSimulation(pitch, np.random.default_rng(406), 25.0, 3)
    crowd = StaffCrowd(pitch, 10, np.random.default_rng([406, 15_001]), 25.0, sim.kit_colours, 26, in_kit=in_kit)
    for _ in range(50):
        crowd.step()
    return crowd, sim.kit_colours


def test_substitutes_in_kit_wear_their_team_colour_and_nothing_else_changes():
    plain, _ = _crowd(0)
    dressed, kits = _crowd(2)
    substitutes = [k for k, kind in enumerate(plain.kinds) if kind == "substitute"]
    assert len(substitutes) == 3
    for k, (a, b) in enumerate(zip(plain.athletes, dressed.athletes)):
        if k in substitutes[:2]:
            assert b.shirt == tuple(kits[f"team{k % 2}"]) and b.shirt != a.shirt
            assert (b.role, b.team, b.jersey) == (ROLE_OTHER, -1, -1)
            assert b.sleeves == a.sleeves and b.legs == a.legs  # a team shirt over the tracksuit
        else:
            assert b == a
    others = [k for k in range(len(plain.athletes)) if k not in substitutes[:2]]
    assert np.array_equal(plain.position[others], dressed.position[others])
    # The dressed ones stand about 2 m beyond a line (the held-out person's distance), walking along it.
    outside = StaffCrowd.outside_m(dressed.pitch, dressed.position[substitutes[:2]])
    assert ((outside >= 2.0) & (outside <= 2.8)).all(), outside


def test_staff_in_kit_is_opt_in_and_bounded_by_staff():
    assert "staff_in_kit" not in SynthConfig(staff=10).to_dict()  # clips rendered before keep their manifest
    assert SynthConfig(staff=10, staff_in_kit=3).to_dict()["staff_in_kit"] == 3
    with pytest.raises(ValueError, match="staff_in_kit"):
        SynthConfig(staff=2, staff_in_kit=3)
