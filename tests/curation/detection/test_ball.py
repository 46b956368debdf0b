"""The ball track: one ball per frame, teleports dropped, short gaps filled and flagged."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.detection.ball import follow_ball
from soccerfactory.curation.types import BALL, PLAYER, Detections


def _balls(frames, xs, conf=0.9, cls=BALL):
    xs = np.asarray(xs, dtype=np.float32)
    return Detections(
        xyxy=np.column_stack([xs, np.full_like(xs, 300), xs + 10, np.full_like(xs, 310)]),
        confidence=np.full(len(xs), conf), class_id=np.full(len(xs), cls), frame_index=frames,
    )


def test_empty_in_empty_out():
    out = follow_ball(Detections.empty(), fps=25, frame_width=1280)
    assert len(out) == 0 and out.data["interpolated"].dtype == bool


def test_short_gap_is_interpolated_and_flagged():
    # Seen on frames 0-2 and 8-9, moving 10 px per frame: frames 3-7 are filled on the line.
    frames = [0, 1, 2, 8, 9]
    out = follow_ball(_balls(frames, [100 + 10 * f for f in frames]), fps=25, frame_width=1280, max_gap_s=0.4)
    assert out.frame_index.tolist() == list(range(10))
    np.testing.assert_allclose(out.xyxy[:, 0], [100 + 10 * f for f in range(10)], atol=1e-3)
    assert out.data["interpolated"].tolist() == [False] * 3 + [True] * 5 + [False] * 2


def test_long_gap_and_impossible_jump_are_left_empty():
    long_gap = follow_ball(_balls([0, 30], [100, 110]), fps=25, frame_width=1280, max_gap_s=0.4)
    assert long_gap.frame_index.tolist() == [0, 30]
    # 1000 px in 3 frames at 25 fps is 8 frame widths per second: not one ball.
    jump = follow_ball(_balls([0, 3], [0, 1000]), fps=25, frame_width=1280, max_speed=1.5)
    assert jump.frame_index.tolist() == [0, 3] and not jump.data["interpolated"].any()


def test_teleporting_detection_between_agreeing_neighbours_is_dropped():
    frames = list(range(7))
    xs = [100, 105, 110, 900, 120, 125, 130]  # frame 3: a white sock far away
    out = follow_ball(_balls(frames, xs), fps=25, frame_width=1280)
    assert out.frame_index.tolist() == frames  # frame 3 refilled from its neighbours
    assert out.data["interpolated"].tolist() == [False, False, False, True, False, False, False]
    assert out.xyxy[3, 0] == pytest.approx(115, abs=1e-3)


def test_most_confident_ball_per_frame_and_other_classes_ignored():
    candidates = Detections.merge([
        _balls([0, 0, 1], [100, 500, 104], conf=0.5),
        Detections([[500, 300, 510, 310]], [0.95], [BALL], [0]),
        _balls([2], [700], cls=PLAYER),
    ])
    out = follow_ball(candidates, fps=25, frame_width=1280)
    assert out.frame_index.tolist() == [0, 1]
    assert out.xyxy[0, 0] == 500 and (out.class_id == BALL).all()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="fps"):
        follow_ball(Detections.empty(), fps=0, frame_width=1280)
