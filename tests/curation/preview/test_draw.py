"""Drawing one preview frame over a real shard's rows: boxes, masks, ball, pitch lines, minimap."""

from __future__ import annotations

import cv2
import numpy as np
import pyarrow as pa
import pytest

from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.preview.draw import (
    PITCH_LINE_COLOUR,
    REFEREE_COLOUR,
    TEAM_COLOURS,
    UNASSIGNED_COLOUR,
    athlete_colour,
    draw_frame,
    draw_minimap,
    project_pitch_lines,
)
from soccerfactory.curation.testing import make_camera


def test_athlete_box_outline_is_drawn_in_its_team_colour_in_box_style(source_frame, changed):
    image, athletes, _, _ = source_frame
    drawn = draw_frame(image, athletes, None, None, PitchModel(), style="box")
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert not np.shares_memory(drawn, image)
    teams = [r for r in athletes if r["team"] in TEAM_COLOURS and r["x2"] - r["x1"] > 8 and r["y2"] - r["y1"] > 8]
    assert teams, "the synthetic frame has team players in view"
    row = max(teams, key=lambda r: (r["x2"] - r["x1"]) * (r["y2"] - r["y1"]))
    x1, y1, x2, y2 = (int(round(row[k])) for k in ("x1", "y1", "x2", "y2"))
    # The left edge of the box, below where labels could sit.
    ys = np.arange(y1 + (y2 - y1) // 2, min(y2, image.shape[0]))
    edge = drawn[ys, np.clip(x1, 0, image.shape[1] - 1)]
    assert changed(edge[None], image[ys, np.clip(x1, 0, image.shape[1] - 1)][None]).mean() > 0.5
    expected = np.array(TEAM_COLOURS[row["team"]])
    assert (np.abs(edge.astype(int) - expected).max(axis=1) <= 60).mean() > 0.5


def test_pitch_lines_are_overlaid_along_the_projected_line(source_frame, changed):
    image, _, _, camera = source_frame
    pitch = PitchModel()
    without = draw_frame(image, [], None, None, pitch)
    assert np.array_equal(without, image), "no homography, no athletes: nothing drawn"
    with_lines = draw_frame(image, [], None, camera["homography"], pitch)
    segments = project_pitch_lines(camera["homography"], pitch, (image.shape[1], image.shape[0]))
    assert segments, "the synthetic camera sees pitch markings"
    # Sample points along the projected segments with the homography directly.
    h = np.asarray(camera["homography"]).reshape(3, 3)
    samples = np.concatenate([line for name, line in pitch.sample_lines(0.25).items() if not name.startswith("Goal")])
    projected = np.column_stack([samples[:, :2], np.ones(len(samples))]) @ h.T
    pixels = np.rint(projected[:, :2] / projected[:, 2:]).astype(int)
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < image.shape[1]) & (pixels[:, 1] >= 0) & (pixels[:, 1] < image.shape[0])
    pixels = pixels[inside]
    assert len(pixels) > 20
    on_line = with_lines[pixels[:, 1], pixels[:, 0]]
    assert changed(on_line[None], image[pixels[:, 1], pixels[:, 0]][None]).mean() > 0.8
    magenta = np.abs(on_line.astype(int) - np.array(PITCH_LINE_COLOUR)).max(axis=1) <= 80
    assert magenta.mean() > 0.8
    # Away from every line the image is untouched.
    mask = np.zeros(image.shape[:2], np.uint8)
    for a, b in segments:
        cv2.line(mask, a, b, 255, 5)
    assert np.array_equal(with_lines[mask == 0], image[mask == 0])


def test_invalid_homography_draws_no_lines(source_frame):
    image = source_frame[0]
    for bad in ([0.0] * 9, [None] * 9, [1.0, 2.0], [float("nan")] + [1.0] * 8):
        assert np.array_equal(draw_frame(image, [], None, bad, PitchModel()), image)


def test_ball_and_mask_outline_change_pixels(source_frame, changed):
    image, athletes, ball, _ = source_frame
    assert ball["detected"]
    drawn = draw_frame(image, [], ball, None, PitchModel())
    cx, cy = int((ball["x1"] + ball["x2"]) / 2), int((ball["y1"] + ball["y2"]) / 2)
    window = (slice(max(cy - 15, 0), cy + 16), slice(max(cx - 15, 0), cx + 16))
    assert changed(drawn[window], image[window]).any()
    assert np.array_equal(drawn[:, : max(cx - 20, 0)], image[:, : max(cx - 20, 0)])
    # With masks, pixels outside the box outline but on the mask's contour change too.
    with_masks = draw_frame(image, athletes, None, None, PitchModel(), masks=True)
    without_masks = draw_frame(image, athletes, None, None, PitchModel(), masks=False)
    assert changed(with_masks, without_masks).any()


def test_colours_by_team_and_role():
    assert athlete_colour({"team": "A", "role": "player"}) == TEAM_COLOURS["A"]
    assert athlete_colour({"team": "B", "role": "goalkeeper"}) == TEAM_COLOURS["B"]
    assert athlete_colour({"team": None, "role": "player"}) == UNASSIGNED_COLOUR
    assert athlete_colour({"team": None, "role": "referee"}) == REFEREE_COLOUR


def test_draw_frame_takes_a_pyarrow_slice_and_rejects_bad_images(shard, source_frame):
    _, _, tables = shard
    image, athletes, _, _ = source_frame
    frame = athletes[0]["frame_index"]
    table = tables["athletes"]
    slice_ = table.filter(pa.compute.equal(table.column("frame_index"), frame))
    assert np.array_equal(draw_frame(image, slice_, None, None), draw_frame(image, athletes, None, None))
    with pytest.raises(ValueError, match="uint8"):
        draw_frame(image.astype(np.float32), athletes)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        draw_frame(image[..., 0], athletes)


def test_minimap_places_dots_at_pitch_positions(changed):
    pitch = PitchModel()
    empty = draw_minimap([], None, pitch, size=(222, 150))
    assert empty.shape == (150, 222, 3) and empty.dtype == np.uint8
    row = {"pitch_x": 20.0, "pitch_y": -10.0, "team": "B", "role": "player"}
    dotted = draw_minimap([row, {"pitch_x": None, "pitch_y": None, "team": "A"}], {"pitch_x": -30.0, "pitch_y": 5.0}, pitch, size=(222, 150))
    changed = np.argwhere(changed(dotted, empty))
    scale = min(222 / (pitch.length + 6), 150 / (pitch.width + 6))
    dot = np.array([75 + (-10.0) * scale, 111 + 20.0 * scale])  # (row, col)
    ball = np.array([75 + 5.0 * scale, 111 - 30.0 * scale])
    assert (np.linalg.norm(changed - dot, axis=1) <= 4).any()
    assert (np.linalg.norm(changed - ball, axis=1) <= 4).any()
    assert np.linalg.norm(changed - dot, axis=1).min() <= 4 and all(
        min(np.linalg.norm(p - dot), np.linalg.norm(p - ball)) <= 6 for p in changed
    ), "only the two dots change the map"
    assert tuple(dotted[int(dot[0]), int(dot[1])]) == pytest.approx(TEAM_COLOURS["B"], abs=40)


@pytest.mark.parametrize(
    "position, target",
    [
        ((0.0, 59.0, -22.0), (0.0, 0.0, 0.0)),  # main camera: the whole pitch is in front
        ((0.0, 0.0, -6.0), (40.0, 0.0, 0.0)),  # on the centre mark facing the right goal: the left half is behind
        ((-60.0, 0.0, -4.0), (0.0, 10.0, 0.0)),  # low behind the left goal
    ],
)
def test_points_behind_the_camera_are_not_drawn(position, target, changed):
    camera = make_camera(position=position, target=target, focal_px=900.0, image_size=(1280, 720))
    pitch = PitchModel()
    from_homography = project_pitch_lines(camera.homography.reshape(-1), pitch, (1280, 720))
    from_depth = project_pitch_lines(camera.homography, pitch, (1280, 720), camera=camera)
    assert from_depth and from_homography == from_depth
    image = np.zeros((720, 1280, 3), np.uint8)
    drawn = draw_frame(image, [], None, camera.homography, pitch)
    # Every drawn pixel lies near a projection of a pitch point in front of the camera.
    points = np.concatenate([line[:, :2] for name, line in pitch.sample_lines(0.01).items() if not name.startswith("Goal")])
    pixels = np.rint(camera.project(points[camera.depth(points) > 0]))
    pixels = pixels[(pixels[:, 0] >= 0) & (pixels[:, 0] < 1280) & (pixels[:, 1] >= 0) & (pixels[:, 1] < 720)].astype(int)
    near = np.zeros((720, 1280), np.uint8)
    near[pixels[:, 1], pixels[:, 0]] = 255
    near = cv2.dilate(near, np.ones((7, 7), np.uint8))
    assert changed(drawn, image).any()
    assert not (changed(drawn, image) & (near == 0)).any()


def test_lens_distortion_bends_the_overlay_like_the_camera():
    camera = make_camera(image_size=(1280, 720), dist=(-0.2, 0.05, 0.0, 0.0))
    pitch = PitchModel()
    segments = project_pitch_lines(camera.homography, pitch, (1280, 720), camera=camera)
    straight = project_pitch_lines(camera.homography, pitch, (1280, 720))
    assert segments and segments != straight
    ends = np.array([p for segment in segments for p in segment], dtype=float)
    points = np.concatenate([line[:, :2] for name, line in pitch.sample_lines(0.02).items() if not name.startswith("Goal")])
    truth = np.rint(camera.project(points[camera.depth(points) > 0]))
    truth = truth[(truth[:, 0] >= 0) & (truth[:, 0] < 1280) & (truth[:, 1] >= 0) & (truth[:, 1] < 720)].astype(int)
    off_line = np.full((720, 1280), 255, np.uint8)
    off_line[truth[:, 1], truth[:, 0]] = 0
    distance = cv2.distanceTransform(off_line, cv2.DIST_L2, 5)
    # Each drawn end point lies on the distorted projection (clipped ends lie on the border).
    border = (ends[:, 0] <= 0) | (ends[:, 0] >= 1279) | (ends[:, 1] <= 0) | (ends[:, 1] >= 719)
    inner = ends[~border].astype(int)
    assert len(inner) > 20 and np.percentile(distance[inner[:, 1], inner[:, 0]], 95) <= 1.5
    undistorted = np.array([p for segment in straight for p in segment], dtype=int)
    assert np.percentile(distance[undistorted[:, 1].clip(0, 719), undistorted[:, 0].clip(0, 1279)], 95) > 3
