"""Roles from detector classes."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.attribute.roles import role_from_class
from soccerfactory.curation.types import BALL, GOALKEEPER, PLAYER, REFEREE


def test_role_from_class():
    roles = role_from_class(np.array([PLAYER, GOALKEEPER, REFEREE, BALL]))
    assert roles.dtype == object
    assert roles.tolist() == ["player", "goalkeeper", "referee", None]
    assert role_from_class(np.zeros(0, np.int64)).shape == (0,)
    with pytest.raises(ValueError, match="CLASS_NAMES"):
        role_from_class(np.array([7]))
