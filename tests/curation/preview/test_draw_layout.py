"""Where the radar goes (asked corner, off, away from labels) and the ball's fading trail."""

from __future__ import annotations

import numpy as np
import pytest

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.preview.compose import annotate_frame
from soccerfactory.curation.preview.radar import choose_corner, corner_rect, radar_size
from soccerfactory.curation.preview.style import BALL_COLOUR, PreviewOptions
from soccerfactory.curation.preview.trail import TrailPoint, ball_trail, draw_trail

SIZE = (1280, 720)
RADAR = radar_size(SIZE, PitchModel())
GRASS = (40, 110, 40)
RADAR_GRASS = (40, 120, 40)  # the radar's pitch colour, blended at 85 % over the frame


def _frame() -> np.ndarray:
    image = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
    image[:] = (90, 90, 90)  # grey, so the radar's green is unmistakable
    return image


def _athlete(track: int, x: float, y: float) -> dict:
    return {"track_id": track, "x1": x, "y1": y, "x2": x + 24, "y2": y + 60, "team": "A", "role": "player",
            "jersey": None, "pitch_x": 0.0, "pitch_y": 0.0}


def _radar_in(image: np.ndarray, corner: str) -> bool:
    x0, y0, x1, y1 = corner_rect(SIZE, RADAR, corner, 8, 40)
    region = image[y0:y1, x0:x1]
    return (np.abs(region.astype(int) - np.array(RADAR_GRASS)).max(axis=-1) <= 20).mean() > 0.3


@pytest.mark.parametrize("corner", ["bottom-right", "bottom-left", "top-right", "top-left"])
def test_radar_goes_to_the_asked_corner(corner):
    composed = annotate_frame(_frame(), [_athlete(1, 600, 300)], None, options=PreviewOptions(radar=corner, legend=False), header="h")
    assert composed.radar_corner == corner
    assert [c for c in ("bottom-right", "bottom-left", "top-right", "top-left") if _radar_in(composed.image, c)] == [corner]


def test_radar_off_leaves_the_corner_untouched():
    image = _frame()
    composed = annotate_frame(image, [_athlete(1, 600, 300)], None, options=PreviewOptions(radar="off", legend=False))
    assert composed.radar_corner is None
    x0, y0, x1, y1 = corner_rect(SIZE, RADAR, "bottom-right", 0)
    assert np.array_equal(composed.image[y0:, x0:], image[y0:, x0:])
    shown = annotate_frame(image, [_athlete(1, 600, 300)], None, options=PreviewOptions(legend=False))
    assert not np.array_equal(shown.image[y0:, x0:], image[y0:, x0:]), "the default draws it there"


def test_radar_moves_away_from_labels_and_stays_while_free():
    x0, y0, x1, y1 = corner_rect(SIZE, RADAR, "bottom-right", 8)
    # An athlete whose feet and label fall inside the bottom-right radar's rectangle.
    under = _athlete(7, (x0 + x1) / 2, y0 + 20)
    composed = annotate_frame(_frame(), [under], None, options=PreviewOptions(legend=False), header="h")
    assert composed.radar_corner == "bottom-left" and not composed.requested_free
    assert _radar_in(composed.image, "bottom-left") and not _radar_in(composed.image, "bottom-right")
    # The label is drawn whole in its kit colour (blue team A) where the radar would have been.
    region = composed.image[y0:y1, x0:x1]
    assert (np.abs(region.astype(int) - np.array((235, 140, 30))).max(axis=-1) <= 10).sum() > 300
    # Next frame the corner is free again, but the radar stays where it went: no hopping.
    calm = annotate_frame(_frame(), [_athlete(7, 600, 300)], None, options=PreviewOptions(legend=False), previous_corner="bottom-left")
    assert calm.radar_corner == "bottom-left" and calm.requested_free, "the renderer moves it back after a second"


def test_with_no_free_corner_the_radar_stays_and_labels_are_drawn_over_it():
    rects = {c: corner_rect(SIZE, RADAR, c, 8, 30) for c in ("bottom-right", "bottom-left", "top-right", "top-left")}
    crowd = [_athlete(i, (r[0] + r[2]) / 2, (r[1] + r[3]) / 2 - 40) for i, r in enumerate(rects.values())]
    composed = annotate_frame(_frame(), crowd, None, options=PreviewOptions(legend=False), header="h")
    assert composed.radar_corner == "bottom-right"
    x0, y0, x1, y1 = rects["bottom-right"]
    region = composed.image[y0:y1, x0:x1]
    assert (np.abs(region.astype(int) - np.array((235, 140, 30))).max(axis=-1) <= 10).sum() > 300, "the label is on top"
    assert choose_corner(SIZE, (2000, 100), [], "bottom-right") is None, "a radar wider than the frame goes nowhere"


def test_ball_trail_fades_behind_the_ball():
    image = np.zeros((200, 400, 3), np.uint8)
    points = [TrailPoint(frame=f, x=50 + 12 * f, y=100) for f in range(25)]
    draw_trail(image, points, frame=24, window=25, thickness=2)
    row = image[100]
    orange = np.abs(row.astype(int) - np.array(BALL_COLOUR)).max(axis=-1)
    assert orange[50 + 12 * 24] <= 20, "the newest point is drawn in full"
    old, new = row[50 + 12 * 3].astype(int), row[50 + 12 * 21].astype(int)
    assert 0 < old.sum() < new.sum(), "older points are fainter"
    assert (row[: 50 - 4] == 0).all(), "nothing before the oldest point"
    # A gap of more than a quarter of the window is not bridged by a line.
    gap = np.zeros((200, 400, 3), np.uint8)
    draw_trail(gap, [TrailPoint(10, 50, 100), TrailPoint(24, 350, 100)], frame=24, window=25)
    assert gap[100, 150:250].sum() == 0


def test_trail_is_carried_into_the_current_frame_with_the_camera_motion():
    centres = {f: (100.0 + f, 50.0) for f in range(10)}
    # The camera pans: frame f's image is shifted 5 px per frame to the left of frame 0's.
    def homography(frame):
        return np.array([[1.0, 0.0, 300.0 - 5 * frame], [0.0, 1.0, 200.0], [0.0, 0.0, 1.0]])

    points = ball_trail(centres, 9, 5, homography)
    assert [p.frame for p in points] == [5, 6, 7, 8, 9]
    assert points[-1].x == pytest.approx(109.0)
    assert points[0].x == pytest.approx(105.0 - 5 * 4), "seen 4 frames ago, before the camera panned 20 px"
    raw = ball_trail(centres, 9, 5)
    assert [p.x for p in raw] == [105.0, 106.0, 107.0, 108.0, 109.0]
    assert ball_trail({9: (1.0, 2.0)}, 9, 5, lambda f: None if f == 9 else homography(f))[0].x == 1.0


def test_trail_is_drawn_in_a_composed_frame():
    image = _frame()
    trail = [TrailPoint(f, 300 + 10 * f, 400) for f in range(20)]
    ball = {"x1": 490.0, "y1": 395.0, "x2": 500.0, "y2": 405.0, "detected": True, "pitch_x": None, "pitch_y": None}
    with_trail = annotate_frame(image, [], ball, options=PreviewOptions(radar="off", legend=False), trail=trail, frame=19, trail_frames=25)
    without = annotate_frame(image, [], ball, options=PreviewOptions(radar="off", legend=False))
    changed = np.abs(with_trail.image.astype(int) - without.image.astype(int)).max(axis=-1) > 30
    assert changed[395:406, 330:470].any(axis=0).mean() > 0.9, "a continuous line behind the ball"


def test_preview_options_refuse_unknown_values():
    with pytest.raises(ValueError, match="style must be one of ellipse, box"):
        PreviewOptions(style="circle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="radar must be one of"):
        PreviewOptions(radar="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trail_s"):
        PreviewOptions(trail_s=-1)
