"""SynthConfig refuses settings it cannot render, naming what is accepted."""

from __future__ import annotations

import pytest

from soccerfactory.curation.synth import SynthConfig
from soccerfactory.curation.synth.config import SHOTS


def test_defaults_add_no_shots_and_no_staff():
    config = SynthConfig()
    assert (config.shots, config.staff) == ("main", 0)
    assert {"shots", "staff"} <= set(config.to_dict())


def test_bad_shots_value_names_the_valid_ones():
    with pytest.raises(ValueError) as error:
        SynthConfig(shots="replay")
    message = str(error.value)
    assert "'replay'" in message and all(name in message for name in SHOTS)


@pytest.mark.parametrize("staff", [-1, 41, 2.5])
def test_bad_staff_count_is_refused(staff):
    with pytest.raises(ValueError, match="staff must be an integer in \\[0, 40\\]"):
        SynthConfig(staff=staff)


def test_broadcast_settings_are_accepted():
    config = SynthConfig(shots="broadcast", staff=12)
    assert config.to_dict()["shots"] == "broadcast" and config.to_dict()["staff"] == 12
