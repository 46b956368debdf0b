"""Dataset builders: real frames unstretched to 16:9, synthetic frames labelled from the renderer's truth."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.training.datasets import (
    DEFAULT_DATA_ROOT,
    FLIP_IDX,
    KEYPOINT_COUNT,
    SynthFrames,
    build_detection_dataset,
    build_pitch_dataset,
    detection_labels_from_synth,
    keypoint_label_from_synth,
)
from soccerfactory.curation.training.yolo_files import label_rows
from soccerfactory.curation.types import CLASS_NAMES

DATA = DEFAULT_DATA_ROOT
needs_data = pytest.mark.skipif(not (DATA / "football-players").is_dir(), reason="real data set not present")

# One short clip shared by every test: rendering is the slow part.
TINY = SynthFrames(seeds=(3,), seconds=1.0, every=5, width=640, height=360, distortions=(-0.1,), motion_blur_every=0)


@pytest.fixture(scope="module")
def render_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("renders")
    render_clip(TINY.config(0, 3), root / "seed-3", images=True)
    return root


@pytest.fixture(scope="module")
def detection_set(tmp_path_factory, render_dir) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("det")
    frames = SynthFrames(**{**TINY.to_dict(), "seeds": (3,), "distortions": (-0.1,)}, render_dir=render_dir)
    counts = build_detection_dataset(root, DATA / "football-players", frames, real_limit=2)
    return root, counts


@pytest.fixture(scope="module")
def pitch_set(tmp_path_factory, render_dir) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("pitch")
    frames = SynthFrames(**{**TINY.to_dict(), "seeds": (3,), "distortions": (-0.1,)}, render_dir=render_dir)
    counts = build_pitch_dataset(root, DATA / "football-field", frames, size=(640, 360), real_limit=2)
    return root, counts


@needs_data
def test_detection_set_is_16_9_with_valid_labels(detection_set):
    root, counts = detection_set
    assert counts["train_real"] == 2 and counts["valid"] == 2 and counts["train_synth"] >= 3
    for split in ("train", "valid"):
        images = sorted((root / "images" / split).glob("*.jpg"))
        assert len(images) == (counts["train_real"] + counts["train_synth"] if split == "train" else counts["valid"])
        for image in images:
            height, width = cv2.imread(str(image)).shape[:2]
            expected = (360, 640) if image.name.startswith("synth-") else (720, 1280)
            assert (height, width) == expected, image.name
            rows = np.asarray(label_rows(root / "labels" / split / f"{image.stem}.txt"))
            assert rows.ndim == 2 and rows.shape[1] == 5, image.name
            assert set(rows[:, 0].astype(int)) <= set(range(len(CLASS_NAMES)))
            assert (rows[:, 1:] >= 0).all() and (rows[:, 1:] <= 1).all()
            assert (rows[:, 3:] > 0).all()
    spec = yaml.safe_load((root / "data.yaml").read_text())
    assert spec["names"] == dict(enumerate(CLASS_NAMES))
    assert (Path(spec["path"]) / spec["train"]).is_dir() and (Path(spec["path"]) / spec["val"]).is_dir()


@needs_data
def test_real_labels_are_copied_verbatim(detection_set):
    root, _ = detection_set
    for label in sorted((root / "labels" / "valid").glob("real-*.txt")):
        original = DATA / "football-players" / "valid" / "labels" / label.name.removeprefix("real-")
        assert label.read_text() == original.read_text()


@needs_data
def test_synthetic_labels_match_the_parquet_boxes(detection_set, render_dir):
    root, _ = detection_set
    clip = render_dir / "seed-3"
    athletes = pd.read_parquet(clip / "gt" / "athletes.parquet")
    ball = pd.read_parquet(clip / "gt" / "ball.parquet")
    label = root / "labels" / "train" / "synth-s3-f00010.txt"
    rows = np.asarray(label_rows(label))
    frame = athletes[athletes.frame_index == 10]
    # Every athlete with a box of at least 2 px each side appears, with its class and box.
    big = frame[((frame.x2.clip(0, 640) - frame.x1.clip(0, 640)) >= 2) & ((frame.y2.clip(0, 360) - frame.y1.clip(0, 360)) >= 2)]
    athlete_rows = rows[rows[:, 0] != 0]
    assert len(athlete_rows) == len(big) > 0
    expected_ids = big["class"].map({n: i for i, n in enumerate(CLASS_NAMES)}).to_numpy()
    np.testing.assert_array_equal(athlete_rows[:, 0].astype(int), expected_ids)
    x1, y1, x2, y2 = (big[c].clip(0, lim).to_numpy() for c, lim in (("x1", 640), ("y1", 360), ("x2", 640), ("y2", 360)))
    expected = np.stack([(x1 + x2) / 1280, (y1 + y2) / 720, (x2 - x1) / 640, (y2 - y1) / 360], axis=1)
    np.testing.assert_allclose(athlete_rows[:, 1:], expected, atol=1e-5)
    balls = ball[(ball.frame_index == 10) & ball.visible]
    balls = balls[((balls.x2.clip(0, 640) - balls.x1.clip(0, 640)) >= 2) & ((balls.y2.clip(0, 360) - balls.y1.clip(0, 360)) >= 2)]
    assert (rows[:, 0] == 0).sum() == len(balls)
    # The labelled frame is the rendered one (img1 counts from 1).
    image = cv2.imread(str(root / "images" / "train" / "synth-s3-f00010.jpg"))
    np.testing.assert_array_equal(image, cv2.imread(str(clip / "img1" / "000011.jpg")))


def test_detection_labels_drop_slivers_and_clip_to_the_image():
    athletes = pd.DataFrame(
        {
            "frame_index": [0, 0, 0, 1],
            "class": ["player", "referee", "goalkeeper", "player"],
            "x1": [10.0, 100.0, -20.0, 0.0],
            "y1": [10.0, 50.0, 30.0, 0.0],
            "x2": [30.0, 101.0, 40.0, 10.0],
            "y2": [60.0, 90.0, 80.0, 10.0],
        }
    )
    ball = pd.DataFrame({"frame_index": [0], "x1": [np.nan], "y1": [np.nan], "x2": [np.nan], "y2": [np.nan], "visible": [True]})
    rows = detection_labels_from_synth(athletes, ball, 0, 200, 100)
    np.testing.assert_array_equal(rows[:, 0], [2, 1])  # the 1 px wide referee and the NaN ball are dropped
    np.testing.assert_allclose(rows[1, 1:], [20 / 200, 55 / 100, 40 / 200, 50 / 100])
    with pytest.raises(ValueError, match="coach"):
        detection_labels_from_synth(athletes.assign(**{"class": "coach"}), ball, 0, 200, 100)


@needs_data
def test_pitch_set_has_32_keypoints_and_flip_index(pitch_set, render_dir):
    root, counts = pitch_set
    assert counts["train_real"] == 2 and counts["train_synth"] >= 1
    spec = yaml.safe_load((root / "data.yaml").read_text())
    assert spec["kpt_shape"] == [KEYPOINT_COUNT, 3]
    assert spec["flip_idx"] == list(FLIP_IDX)
    # A flip is an involution: flipping twice maps every keypoint back to itself.
    assert [FLIP_IDX[FLIP_IDX[k]] for k in range(KEYPOINT_COUNT)] == list(range(KEYPOINT_COUNT))
    for split in ("train", "valid"):
        for label in (root / "labels" / split).glob("*.txt"):
            rows = label_rows(label)
            assert len(rows) == 1 and len(rows[0]) == 5 + 3 * KEYPOINT_COUNT, label.name
            values = np.asarray(rows[0])
            coordinates = np.concatenate([values[1:5], values[5:].reshape(-1, 3)[:, :2].ravel()])
            assert values[0] == 0 and (coordinates >= 0).all() and (coordinates <= 1).all(), label.name
            assert set(values[7::3]) <= {0.0, 1.0, 2.0}
        for image in (root / "images" / split).glob("*.jpg"):
            assert cv2.imread(str(image)).shape[:2] == (360, 640)


@needs_data
def test_synthetic_keypoints_match_the_parquet_pixels(pitch_set, render_dir):
    root, _ = pitch_set
    clip = render_dir / "seed-3"
    keypoints = pd.read_parquet(clip / "gt" / "keypoints.parquet")
    label = next(iter(sorted((root / "labels" / "train").glob("synth-*.txt"))))
    frame_index = int(label.stem.split("-f")[1])
    values = np.asarray(label_rows(label)[0])[5:].reshape(KEYPOINT_COUNT, 3)
    truth = keypoints[(keypoints.frame_index == frame_index) & (keypoints.keypoint_id < KEYPOINT_COUNT)].set_index("keypoint_id")
    inside = truth.in_image & truth.x.between(0, 640, inclusive="left") & truth.y.between(0, 360, inclusive="left")
    np.testing.assert_array_equal(values[:, 2] > 0, inside.reindex(range(KEYPOINT_COUNT)).to_numpy())
    shown = inside[inside].index.to_numpy()
    np.testing.assert_allclose(values[shown, 0] * 640, truth.loc[shown, "x"], atol=1e-3)
    np.testing.assert_allclose(values[shown, 1] * 360, truth.loc[shown, "y"], atol=1e-3)
    # The pitch box holds every labelled keypoint.
    cx, cy, w, h = np.asarray(label_rows(label)[0])[1:5]
    xy = values[values[:, 2] > 0, :2]
    assert (xy[:, 0] >= cx - w / 2 - 1e-3).all() and (xy[:, 0] <= cx + w / 2 + 1e-3).all()
    assert (xy[:, 1] >= cy - h / 2 - 1e-3).all() and (xy[:, 1] <= cy + h / 2 + 1e-3).all()


def test_keypoint_label_needs_four_points_in_view():
    keypoints = pd.DataFrame(
        {"keypoint_id": [0, 1, 2], "x": [10.0, 20.0, 30.0], "y": [10.0, 20.0, 30.0], "in_image": True, "occluded": False}
    )
    assert keypoint_label_from_synth(keypoints, None, 640, 360) is None


def test_synth_frames_refuse_bad_settings():
    with pytest.raises(ValueError, match="every"):
        SynthFrames(every=0)
    with pytest.raises(ValueError, match="seeds"):
        SynthFrames(seeds=(-1,))


@pytest.mark.skipif(not (DATA / "football-players").is_dir(), reason="needs ../shared/data")
def test_native_slices_keep_whole_balls_and_valid_labels(tmp_path):
    from soccerfactory.curation.training.datasets import write_native_slices

    source = tmp_path / "src"
    (source / "images").mkdir(parents=True)
    (source / "labels").mkdir()
    real = DATA / "football-players" / "train"
    for image in sorted((real / "images").iterdir())[:3]:
        (source / "images" / image.name).symlink_to(image)
        (source / "labels" / f"{image.stem}.txt").symlink_to(real / "labels" / f"{image.stem}.txt")
    written = write_native_slices(source, tmp_path / "images", tmp_path / "labels", other_every=0)
    balls_in_source = sum(1 for p in (source / "labels").iterdir() for line in p.read_text().splitlines() if line.startswith("0 "))
    assert written >= balls_in_source >= 1  # other_every=0: only slices with a ball
    for label in (tmp_path / "labels").iterdir():
        rows = np.loadtxt(label, ndmin=2)
        assert (rows[:, 1:] >= 0).all() and (rows[:, 1:] <= 1).all()
        assert (rows[:, 0] == 0).any()
        image = cv2.imread(str(tmp_path / "images" / f"{label.stem}.jpg"))
        assert image.shape == (594, 1056, 3)  # a 2x2 slice of 1920x1080 with 10 % overlap
        ball = rows[rows[:, 0] == 0]
        assert (ball[:, 3] * 1056 < 40).all()  # a ball at native scale: ~10 px, not cut
