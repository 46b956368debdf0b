"""Broadcast shot plans: contiguous shots, deterministic from the seed, broadcast-like shares."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.synth.shots import SHOT_VIEWS, Shot, plan_shots


def _plan(seed: int, frames: int = 750):
    return plan_shots(frames, 25.0, np.random.default_rng(seed))


@pytest.mark.parametrize("frames", [1, 30, 250, 750])
def test_shots_cover_every_frame_once(frames):
    for seed in range(400, 420):
        plan = _plan(seed, frames)
        assert plan[0].start == 0 and plan[-1].stop == frames
        assert all(a.stop == b.start for a, b in zip(plan, plan[1:]))
        assert all(a.view != b.view for a, b in zip(plan, plan[1:])), "a cut to the same view is no cut"


def test_same_seed_same_plan():
    assert _plan(401) == _plan(401)
    assert _plan(401) != _plan(402)


def test_shares_and_lengths_look_like_a_broadcast():
    frames = {view: 0 for view in SHOT_VIEWS}
    lengths = []
    for seed in range(400, 500):
        for shot in _plan(seed):
            frames[shot.view] += shot.stop - shot.start
            lengths.append((shot.stop - shot.start) / 25.0)
    total = sum(frames.values())
    assert 0.60 <= frames["main"] / total <= 0.70
    assert 0.15 <= frames["zoomed"] / total <= 0.25
    assert 0.10 <= frames["close-up"] / total <= 0.20
    # 2-6 s shots; the last of a clip may be cut short (>= 1.5 s) or take in a short remainder.
    assert min(lengths) >= 1.5 and max(lengths) <= 7.5 and np.median(lengths) >= 2.5


def test_bad_shot_is_refused():
    with pytest.raises(ValueError, match="one of main, zoomed, close-up"):
        Shot(0, 10, "replay")
    with pytest.raises(ValueError, match="start < stop"):
        Shot(5, 5, "main")
