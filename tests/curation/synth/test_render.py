"""The renderer's labels must agree with its pixels: checked on the files it writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from soccerfactory.curation.camera import Camera
from soccerfactory.curation.masks import rle_decode
from soccerfactory.curation.pitch import KEYPOINT_NAMES, PitchModel
from soccerfactory.curation.synth import SynthConfig, render_clip


def _cameras(clip: Path) -> dict[int, Camera]:
    table = pq.read_table(clip / "gt" / "cameras.parquet").to_pylist()
    cameras = {}
    for row in table:
        K = np.array([[row["fx"], 0, row["cx"]], [0, row["fy"], row["cy"]], [0, 0, 1]])
        cameras[row["frame_index"]] = Camera(
            K=K, R=np.reshape(row["rotation"], (3, 3)), position=[row["position_x"], row["position_y"], row["position_z"]],
            image_size=(1280, 720), dist=row["distortion"] or np.zeros(0),
        )
    return cameras


def _occupied(clip: Path, frame_index: int, shape: tuple[int, int], grow: int = 7) -> np.ndarray:
    """Pixels covered by an athlete or the ball (and their shadows), grown by ``grow`` pixels."""
    mask = np.zeros(shape, np.uint8)
    athletes = pq.read_table(clip / "gt" / "athletes.parquet", filters=[("frame_index", "=", frame_index)]).to_pylist()
    for row in athletes:
        rle = {"size": list(shape), "counts": json.loads(row["mask_rle"])}
        mask |= rle_decode(rle).astype(np.uint8)
    ball = pq.read_table(clip / "gt" / "ball.parquet", filters=[("frame_index", "=", frame_index)]).to_pylist()[0]
    if ball["visible"]:
        cv2.rectangle(mask, (int(ball["x1"]), int(ball["y1"])), (int(ball["x2"]), int(ball["y2"])), 1, -1)
    kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
    return cv2.dilate(mask, kernel) > 0


def _line_white_share(clip: Path, shift_px: tuple[float, float] = (0.0, 0.0), frames=range(0, 25, 6)) -> float:
    """Share of projected pitch-line samples that land on line-white pixels, occluders excluded."""
    pitch = PitchModel()
    samples = np.concatenate([np.column_stack([p, np.zeros(len(p))]) for p in _dense_markings(pitch)])
    cameras = _cameras(clip)
    hits = total = 0
    for frame_index in frames:
        image = cv2.imread(str(clip / "img1" / f"{frame_index + 1:06d}.jpg"))
        height, width = image.shape[:2]
        camera = cameras[frame_index]
        pixels = camera.project(samples) + np.asarray(shift_px)
        inside = (camera.depth(samples) > 0) & (pixels[:, 0] >= 3) & (pixels[:, 0] < width - 3) & (pixels[:, 1] >= 3) & (pixels[:, 1] < height - 3)
        pixels = pixels[inside]
        occupied = _occupied(clip, frame_index, (height, width))
        ix, iy = np.round(pixels).astype(int).T
        free = ~occupied[iy, ix]
        ix, iy = ix[free], iy[free]
        grey = image.mean(axis=2)
        grass = np.median(grey)
        # A line pixel is clearly brighter than the grass and nearly colourless; allow one pixel of
        # slack for anti-aliasing and compression.
        brightest = cv2.dilate(grey.astype(np.float32), np.ones((3, 3), np.uint8))
        spread = cv2.erode((image.max(axis=2) - image.min(axis=2)).astype(np.float32), np.ones((3, 3), np.uint8))
        white = (brightest[iy, ix] > grass + 35) & (spread[iy, ix] < 70)
        hits += int(white.sum())
        total += len(ix)
    assert total > 200, f"too few visible line samples ({total}) for the check to mean anything"
    return hits / total


def _dense_markings(pitch: PitchModel):
    from soccerfactory.curation.pitch import GOAL_LINE_NAMES

    names = tuple(name for name in pitch.lines if name not in GOAL_LINE_NAMES)
    return [points[:, :2] for points in pitch.sample_lines(0.25, names).values()]


@pytest.mark.parametrize("clip_fixture", ["rendered_clip", "distorted_clip"])
def test_projected_pitch_lines_land_on_white_pixels(clip_fixture, request):
    clip = request.getfixturevalue(clip_fixture)
    assert _line_white_share(clip) >= 0.95


def test_a_wrong_camera_is_caught(rendered_clip):
    """Control: the same check with the camera's image off by 5 px must fail clearly."""
    assert _line_white_share(rendered_clip, shift_px=(5.0, 5.0)) < 0.5


def test_homography_agrees_with_full_camera(rendered_clip):
    cameras = _cameras(rendered_clip)
    table = pq.read_table(rendered_clip / "gt" / "cameras.parquet").to_pylist()
    keypoints = pq.read_table(rendered_clip / "gt" / "keypoints.parquet").to_pylist()
    ground = [row for row in keypoints if row["pitch_z"] == 0.0]
    for row in table:
        H = np.reshape(row["homography"], (3, 3))
        camera = cameras[row["frame_index"]]
        np.testing.assert_allclose(H / H[2, 2], camera.homography, rtol=1e-9, atol=1e-9)
        points = [r for r in ground if r["frame_index"] == row["frame_index"]]
        pitch_xy = np.array([[r["pitch_x"], r["pitch_y"], 1.0] for r in points])
        mapped = pitch_xy @ H.T
        mapped = mapped[:, :2] / mapped[:, 2:]
        stored = np.array([[r["x"], r["y"]] for r in points])
        np.testing.assert_allclose(mapped, stored, atol=0.02)  # float32 storage


def test_boxes_are_exactly_the_visible_masks(rendered_clip):
    athletes = pq.read_table(rendered_clip / "gt" / "athletes.parquet").to_pylist()
    assert len(athletes) > 25 * 10, "expected many visible athletes in one second of play"
    by_frame: dict[int, np.ndarray] = {}
    for row in athletes:
        mask = rle_decode({"size": [720, 1280], "counts": json.loads(row["mask_rle"])})
        rows, cols = np.nonzero(mask)
        assert mask.sum() == row["visible_area_px"] > 0
        assert (row["x1"], row["y1"], row["x2"], row["y2"]) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        # The visible box lies inside the whole-body box (up to the amodal box's sub-pixel edges).
        assert row["x1"] >= np.floor(row["amodal_x1"]) - 1 and row["x2"] <= np.ceil(row["amodal_x2"]) + 1
        occupancy = by_frame.setdefault(row["frame_index"], np.zeros((720, 1280), np.int32))
        occupancy += mask
    assert max(int(o.max()) for o in by_frame.values()) == 1, "two athletes own the same pixel"


def test_labels_carry_roles_teams_and_jerseys(rendered_clip):
    athletes = pq.read_table(rendered_clip / "gt" / "athletes.parquet").to_pylist()
    roles = {row["role"] for row in athletes}
    assert {"player", "referee"} <= roles
    for row in athletes:
        if row["role"] == "referee":
            assert row["team"] is None and row["jersey"] is None and not row["jersey_legible"]
        else:
            assert row["team"] in {"left", "right"} and 1 <= row["jersey"] <= 30
    # A track keeps its identity and attributes through the clip.
    identity = {}
    for row in athletes:
        key = (row["team"], row["role"], row["jersey"])
        assert identity.setdefault(row["track_id"], key) == key


def test_gamestate_json_matches_parquet(rendered_clip):
    labels = json.loads((rendered_clip / "Labels-GameState.json").read_text())
    assert {c["name"] for c in labels["categories"]} >= {"player", "goalkeeper", "referee", "ball", "pitch", "camera"}
    assert len(labels["images"]) == 25 and labels["info"]["seq_length"] == 25
    people = [a for a in labels["annotations"] if a["supercategory"] == "object" and a["category_id"] != 4]
    athletes = pq.read_table(rendered_clip / "gt" / "athletes.parquet")
    assert len(people) == athletes.num_rows
    first = people[0]
    assert set(first["bbox_image"]) == {"x", "y", "x_center", "y_center", "w", "h"}
    assert set(first["attributes"]) == {"role", "team", "jersey"}
    pitch = [a for a in labels["annotations"] if a["supercategory"] == "pitch"]
    assert len(pitch) == 25 and all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for a in pitch for pts in a["lines"].values() for p in pts)
    # bbox_pitch comes from the box bottom through the homography: near the true feet when unoccluded.
    errors = [
        np.hypot(a["bbox_pitch"]["x_bottom_middle"] - a["pitch_position"]["x"], a["bbox_pitch"]["y_bottom_middle"] - a["pitch_position"]["y"])
        for a in people
    ]
    assert np.median(errors) < 0.5


def test_keypoints_cover_the_dataset_order(rendered_clip):
    keypoints = pq.read_table(rendered_clip / "gt" / "keypoints.parquet").to_pylist()
    first = [row for row in keypoints if row["frame_index"] == 0]
    assert [row["name"] for row in first] == list(KEYPOINT_NAMES)
    for row in keypoints:
        if row["in_image"]:
            assert 0 <= row["x"] < 1280 and 0 <= row["y"] < 720


def test_image_sequence_matches_video(rendered_clip):
    frames = sorted((rendered_clip / "img1").glob("*.jpg"))
    assert [f.name for f in frames[:2]] == ["000001.jpg", "000002.jpg"] and len(frames) == 25
    capture = cv2.VideoCapture(str(rendered_clip / "video.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 25
    ok, first = capture.read()
    assert ok and first.shape == (720, 1280, 3)
    assert np.abs(first.astype(int) - cv2.imread(str(frames[0])).astype(int)).mean() < 6


def test_manifest_lists_files_with_checksums(rendered_clip):
    manifest = json.loads((rendered_clip / "clip.json").read_text())
    assert manifest["frames"] == 25 and manifest["config"]["seed"] == 1
    for entry in manifest["files"].values():
        assert hashlib.sha256((rendered_clip / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert not list(rendered_clip.glob(".synth-*")), "staging folder left behind"


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(tmp_path):
    config = SynthConfig(seconds=0.4, seed=5, width=640, height=360)
    render_clip(config, tmp_path / "a", images=True)
    render_clip(config, tmp_path / "b", images=True)
    render_clip(SynthConfig(seconds=0.4, seed=6, width=640, height=360), tmp_path / "c")
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert first == second and len(first) > 10
    assert _digests(tmp_path / "c")["video.mp4"] != first["video.mp4"]


def test_rerender_replaces_previous_clip(tmp_path):
    render_clip(SynthConfig(seconds=0.4, seed=1, width=640, height=360), tmp_path, images=True)
    render_clip(SynthConfig(seconds=0.2, seed=2, width=640, height=360), tmp_path)
    manifest = json.loads((tmp_path / "clip.json").read_text())
    assert manifest["frames"] == 5 and manifest["config"]["seed"] == 2
    assert pq.read_table(tmp_path / "gt" / "cameras.parquet").num_rows == 5
