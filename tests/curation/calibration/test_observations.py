"""PitchObservations: what a feature detector saw of one frame, validated and read-only."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.pitch import KEYPOINT_NAMES


def test_observations_validate_their_inputs():
    ok = dict(keypoints=np.zeros((2, 2)), keypoint_ids=[0, 5], keypoint_confidence=[0.9, 1.0])
    obs = PitchObservations(**ok, lines=(("Side line top", [[1.0, 2.0]]),))
    assert obs.keypoints.dtype == np.float32 and obs.keypoint_ids.dtype == np.int64
    assert obs.line_names == ("Side line top",) and obs.n_line_pixels == 1 and len(obs) == 2
    assert not obs.keypoints.flags.writeable
    bad = [
        dict(ok, keypoints=np.zeros((2, 3))),
        dict(ok, keypoint_ids=[0, len(KEYPOINT_NAMES)]),
        dict(ok, keypoint_ids=[3, 3]),
        dict(ok, keypoint_confidence=[0.5]),
        dict(ok, keypoint_confidence=[0.5, 1.5]),
        dict(ok, keypoints=[[0.0, np.nan], [1.0, 1.0]]),
    ]
    for fields in bad:
        with pytest.raises(ValueError, match="PitchObservations"):
            PitchObservations(**fields)
    with pytest.raises(ValueError, match="unknown line 'Side line up'"):
        PitchObservations(**ok, lines=(("Side line up", [[1.0, 2.0]]),))
    with pytest.raises(ValueError, match="no pixels"):
        PitchObservations(**ok, lines=(("Middle line", np.zeros((0, 2))),))
    with pytest.raises(ValueError, match="twice"):
        PitchObservations(**ok, lines=(("Middle line", [[1, 1]]), ("Middle line", [[2, 2]])))
    assert len(PitchObservations.empty()) == 0 and PitchObservations.empty().lines == ()
