"""The targeted ball search (BallSlicer.for_clip): on consecutive frames it cuts only the slices
where the ball can be, finds the balls the whole grid finds, and goes back to the whole grid after
it loses the ball."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.detection.detector import BallSlicer, slice_grid
from soccerfactory.curation.types import BALL, Detections, Frames

WIDTH, HEIGHT, FPS = 640, 360, 25.0


def _coded_frames(first: int, n: int) -> Frames:
    """Frames whose pixels spell their own coordinates, so a slice tells where it was cut from."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.stack([x % 256, y % 256, x // 256 + 4 * (y // 256)], axis=-1).astype(np.uint8)
    index = np.arange(first, first + n, dtype=np.int64)
    return Frames(images=np.repeat(image[None], n, axis=0), frame_index=index, timestamp_s=index / FPS, fps=FPS, source="coded")


class BallWhere:
    """A detector that sees the ball in a slice when its box (``ball[frame]``, frame pixels) lies
    inside that slice; it counts the slices it was shown."""

    imgsz = 640

    def __init__(self, ball: dict[int, np.ndarray]) -> None:
        self.ball, self.slices, self.calls = ball, 0, 0

    def detect_each(self, images, frame_index, imgsz=None, conf=None):
        self.calls += 1
        out = []
        for image, frame in zip(images, np.asarray(frame_index).tolist()):
            self.slices += 1
            r, g, b = (int(v) for v in image[0, 0])
            x0, y0 = r + 256 * (b % 4), g + 256 * (b // 4)
            h, w = image.shape[:2]
            box = self.ball.get(frame)
            inside = box is not None and box[0] >= x0 and box[1] >= y0 and box[2] <= x0 + w and box[3] <= y0 + h
            xyxy = (box - [x0, y0, x0, y0])[None].astype(np.float32) if inside else np.zeros((0, 4), np.float32)
            out.append(Detections(xyxy, np.full(len(xyxy), 0.8, np.float32), np.full(len(xyxy), BALL), np.full(len(xyxy), frame)))
        return out


def _path(frames: range, start=(100.0, 100.0), step=(3.0, 1.0), jump_at: int | None = None) -> dict[int, np.ndarray]:
    """A 10 px ball moving ``step`` px per frame; at ``jump_at`` it is suddenly across the frame."""
    ball = {}
    for f in frames:
        x, y = start[0] + step[0] * f, start[1] + step[1] * f
        if jump_at is not None and f >= jump_at:
            x, y = WIDTH - 80.0, HEIGHT - 60.0
        ball[f] = np.array([x, y, x + 10, y + 10], np.float32)
    return ball


def _run(slicer, batches: int, size: int = 8) -> Detections:
    found = []
    for k in range(batches):
        frames = _coded_frames(k * size, size)
        out = slicer(frames, Detections.empty())
        found.append(out[out.class_id == BALL])
    return Detections.merge(found)


def test_targeted_search_finds_the_balls_of_the_whole_grid_in_fewer_slices():
    ball = _path(range(48))
    whole, targeted = BallWhere(ball), BallWhere(ball)
    full = _run(BallSlicer(whole, slices=3, every=2), 6)
    search = BallSlicer(targeted, slices=3, every=2).for_clip()
    found = _run(search, 6)
    assert sorted(set(full.frame_index.tolist())) == list(range(0, 48, 2))  # the whole grid finds every sliced ball
    assert sorted(set(found.frame_index.tolist())) == sorted(set(full.frame_index.tolist()))
    for frame in range(0, 48, 2):  # the same boxes
        assert np.allclose(found.for_frame(frame).xyxy[0], ball[frame])
    assert whole.slices == 9 * 24
    assert targeted.slices <= 9 + 2 * 23  # the whole grid once, then one or two slices around the ball
    assert search.windows_cut == targeted.slices
    assert targeted.calls <= 2 * 6  # at most two detector calls per batch: the slices of its frames together


def test_after_a_miss_the_search_cuts_the_whole_grid_again():
    ball = _path(range(40), jump_at=20)  # a cut: the ball is elsewhere from frame 20 on
    detector = BallWhere(ball)
    search = BallSlicer(detector, slices=3, every=4).for_clip()
    found = _run(search, 5)
    frames = set(found.frame_index.tolist())
    assert {0, 4, 8, 12, 16} <= frames
    assert 20 not in frames  # searched where the ball was: missed once
    assert {24, 28, 32, 36} <= frames  # then the whole grid found it, and the search follows it


def test_a_confident_full_frame_ball_nearby_anchors_the_search():
    ball = _path(range(8))
    detector = BallWhere(ball)
    search = BallSlicer(detector, slices=3, every=1, retry_below=0.5).for_clip()
    frames = _coded_frames(0, 8)
    # The full frame saw the ball confidently on frame 3 only: frames 2 and 4 are one frame away from it.
    seen = Detections(ball[3][None], np.array([0.9], np.float32), np.array([BALL]), np.array([3]))
    out = search(frames, seen)
    added = out[1:]
    assert sorted(added.frame_index.tolist()) == [0, 1, 2, 4, 5, 6, 7]
    assert detector.slices <= 2 * 7  # every frame searched near frame 3's ball, none cut whole
    grid = slice_grid(WIDTH, HEIGHT, 3, 0.1)
    assert len(grid) == 9


def test_stateless_calls_still_cut_the_whole_grid_and_bad_settings_are_refused():
    ball = _path(range(8))
    detector = BallWhere(ball)
    slicer = BallSlicer(detector, slices=3)
    slicer(_coded_frames(0, 8), Detections.empty())
    slicer(_coded_frames(8, 8), Detections.empty())
    assert detector.slices == 9 * 16  # each call stands alone (soccerfactory quality ball relies on it)
    assert BallSlicer(detector, slices=3, target=False).for_clip() is not None
    with pytest.raises(ValueError, match="search_speed"):
        BallSlicer(detector, search_speed=0)
