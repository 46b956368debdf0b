"""Positions against the pitch lines, short tracks, and the flags columns."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.attribute.flags import flag_columns, metres_outside, penalty_area_side, short_tracks
from soccerfactory.curation.pitch import PitchModel


def test_metres_outside_the_lines():
    xy = np.array([[0, 0], [0, 35], [53.5, 0], [55.5, 38], [np.nan, 0]], np.float32)
    out = metres_outside(xy, PitchModel())
    assert np.allclose(out[:4], [0, 1, 1, 5], atol=1e-4) and np.isnan(out[4])


def test_penalty_area_side_with_margin():
    xy = np.array([[-50, 0], [45, 10], [33, 0], [-40, 25], [50, 33], [np.nan, 0]], np.float32)
    assert penalty_area_side(xy, PitchModel(), margin_m=2.0).tolist() == [-1, 1, 0, 0, 0, 0]


def test_short_tracks():
    track = np.array([1] * 10 + [2] * 30)
    frames = np.r_[np.arange(10), np.arange(30)]
    assert short_tracks(track, frames, fps=25, min_s=1.0) == {1: "short: 0.40 s, under 1 s"}
    assert short_tracks(track, frames, fps=25, min_s=0) == {}
    with pytest.raises(ValueError, match="fps"):
        short_tracks(track, frames, fps=0, min_s=1)


def test_flag_columns_sorted_with_one_clause_each():
    tracklet = np.array([1, 1, 2, 3])
    track = np.array([1, 1, 1, 3])
    flags, reasons = flag_columns(
        {"short": track, "role-kit": tracklet, "duplicate": tracklet},
        {"short": {3: "short: 0.4 s"}, "role-kit": {2: "role-kit: x"}, "duplicate": {2: "duplicate: y", 3: "duplicate: z"}},
    )
    assert flags.tolist() == [None, None, "duplicate,role-kit", "duplicate,short"]
    assert reasons.tolist() == [None, None, "duplicate: y; role-kit: x", "duplicate: z; short: 0.4 s"]
    with pytest.raises(ValueError, match="unknown flags"):
        flag_columns({"odd": track}, {"odd": {}})
    with pytest.raises(ValueError, match="no row ids"):
        flag_columns({}, {"short": {}})
