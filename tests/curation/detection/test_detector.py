"""The detection stage: bundled default model on real frames, class mapping, contract, errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.detection.detector import build_detector
from soccerfactory.curation.testing import make_frames
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import BALL, CLASS_NAMES, PLAYER, Detections, Frames

PLAYERS = DEFAULT_DATA_ROOT / "football-players"


def _tiny_model(path: Path, names: dict[int, str]) -> Path:
    """A real ultralytics checkpoint with random weights and the given class names."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov8n.yaml", nc=len(names), verbose=False)
    model.names = names
    torch.save({"model": model, "train_args": {"imgsz": 160}}, path)
    return path


@pytest.fixture(scope="module")
def football_model(tmp_path_factory) -> Path:
    names = {0: "football", 1: "goalkeeper", 2: "player", 3: "referee"}
    return _tiny_model(tmp_path_factory.mktemp("det") / "football.pt", names)


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match=r"unknown detector 'yolo9'.*yolov8"):
        build_detector("yolo9")


def test_missing_weights_name_the_file_and_how_to_get_one(tmp_path):
    missing = tmp_path / "nowhere" / "detector.pt"
    with pytest.raises(FileNotFoundError) as error:
        build_detector("yolov8", weights=missing)
    message = str(error.value)
    assert str(missing) in message
    assert "soccerfactory.curation.training.yolo detector" in message
    assert "nothing is downloaded" in message


def test_empty_batch_in_empty_detections_out(football_model):
    detector = build_detector("yolov8", weights=football_model, imgsz=160)
    empty = Frames.empty(height=90, width=160, fps=25.0, source="x")
    out = detector(empty)
    assert len(out) == 0 and out.class_names == CLASS_NAMES


def test_rows_carry_the_frame_index_of_their_image(football_model):
    detector = build_detector("yolov8", weights=football_model, imgsz=160, conf=0.0)
    frames = make_frames(n=3, height=90, width=160, seed=1, start=7)
    out = detector(frames)
    assert out.class_names == CLASS_NAMES
    assert set(out.frames.tolist()) <= {7, 8, 9}
    assert (out.xyxy[:, 2] <= 160 + 1e-3).all() and (out.xyxy[:, 3] <= 90 + 1e-3).all()


def test_foreign_class_names_need_a_map(tmp_path):
    weights = _tiny_model(tmp_path / "fall.pt", {0: "Normal", 1: "Fall"})
    with pytest.raises(ValueError, match=r"\['Fall', 'Normal'\].*class_map"):
        build_detector("yolov8", weights=weights, imgsz=160)
    detector = build_detector("yolov8", weights=weights, imgsz=160, conf=0.0, class_map={"normal": "player", "fall": "ignore"})
    out = detector(make_frames(n=1, height=90, width=160, seed=2))
    assert set(out.class_id.tolist()) <= {PLAYER}


def _labels(path: Path, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.loadtxt(path, ndmin=2)
    cls, cx, cy, w, h = rows.T
    xyxy = np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)
    return cls.astype(int), xyxy


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def test_bundled_detector_finds_real_athletes_on_held_out_frames():
    """The default model on real broadcast frames it never trained on (football-players/valid)."""
    detector = build_detector("yolov8", weights=bundled_weights("detector.pt"))
    images = sorted((PLAYERS / "valid" / "images").glob("*.jpg"))[:4]
    assert images, f"no validation frames under {PLAYERS}"
    found = total = 0
    for k, image_path in enumerate(images):
        # Undo the dataset's square stretch: the detector runs on 16:9 broadcast frames.
        image = cv2.resize(cv2.imread(str(image_path)), (1280, 720), interpolation=cv2.INTER_AREA)
        frames = Frames(images=image[None], frame_index=[k], timestamp_s=[k / 25], fps=25.0, source=str(image_path))
        detections = detector(frames)
        cls, truth = _labels(PLAYERS / "valid" / "labels" / f"{image_path.stem}.txt", 1280, 720)
        athletes = truth[cls != BALL]
        mine = detections[detections.class_id != BALL]
        if len(mine):
            found += int((_iou(athletes, mine.xyxy).max(1) >= 0.5).sum())
        total += len(athletes)
    recall = found / total
    assert recall >= 0.8, f"bundled detector recall {recall:.2f} on {total} labelled athletes"


# --------------------------------------------------------------------------- ball slices


@pytest.mark.parametrize("width,height,slices", [(1920, 1080, 2), (1280, 720, 3), (640, 360, 1)])
def test_slice_grid_covers_the_frame_with_overlap(width, height, slices):
    from soccerfactory.curation.detection.detector import slice_grid

    windows = slice_grid(width, height, slices, overlap=0.1)
    assert len(windows) == slices**2
    assert (windows[:, :2] >= 0).all() and (windows[:, 2] <= width).all() and (windows[:, 3] <= height).all()
    covered = np.zeros((height, width), dtype=bool)
    for x0, y0, x1, y1 in windows:
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    sizes = {(x1 - x0, y1 - y0) for x0, y0, x1, y1 in windows}
    assert len(sizes) == 1  # one size, so one rectangular inference shape
    if slices > 1:
        (w, h), = sizes
        assert w * slices > width and h * slices > height  # neighbours overlap


@pytest.mark.skipif(not PLAYERS.is_dir(), reason="needs ../shared/data/football-players")
def test_ball_slicer_adds_only_balls_on_frames_without_one():
    from soccerfactory.curation.detection.detector import BallSlicer
    from soccerfactory.curation.quality.metrics import ball_recall, load_yolo_split

    images = load_yolo_split(PLAYERS / "valid", limit=4)
    pixels = np.stack([image.load() for image in images])
    frames = Frames(images=pixels, frame_index=np.arange(4), timestamp_s=np.arange(4) / 25.0, fps=25.0, source="valid")
    detector = build_detector("yolov8", weights=bundled_weights("detector.pt"))
    full = detector(frames)
    # Pretend the full frame found no ball anywhere but frame 0, so every other frame is sliced.
    given = full[(full.class_id != BALL) | (full.frame_index == 0)]
    out = BallSlicer(detector, slices=2, conf=0.05)(frames, given)
    assert np.array_equal(out.xyxy[: len(given)], given.xyxy)  # input rows first, unchanged
    added = out[len(given):]
    assert (added.class_id == BALL).all() and not np.isin(0, added.frame_index)
    assert (added.xyxy[:, 2] <= 1920).all() and (added.xyxy[:, 3] <= 1080).all()
    labelled = Detections.merge([image.labels for image in images[1:]])
    assert ball_recall(labelled, added)["found"] >= 1  # slices find balls the full frame was denied
    # every=2 slices only even frame indices.
    thinned = BallSlicer(detector, slices=2, conf=0.05, every=2)(frames, given)
    assert set(thinned[len(given):].frame_index.tolist()) <= {2}


@pytest.mark.skipif(not PLAYERS.is_dir(), reason="needs ../shared/data/football-players")
def test_ball_slicer_retries_frames_whose_ball_is_weak():
    from soccerfactory.curation.detection.detector import BallSlicer

    from soccerfactory.curation.quality.metrics import load_yolo_split

    images = load_yolo_split(PLAYERS / "valid", limit=2)
    frames = Frames(images=np.stack([image.load() for image in images]), frame_index=np.arange(2), timestamp_s=np.zeros(2), fps=25.0, source="valid")
    detector = build_detector("yolov8", weights=bundled_weights("detector.pt"))
    # A weak fake ball in the top-left corner of both frames: the old rule would not slice them.
    fake = Detections(np.array([[0, 0, 8, 8]] * 2, np.float32), np.array([0.3, 0.9], np.float32), np.array([BALL, BALL]), np.arange(2))
    untouched = BallSlicer(detector, slices=2, conf=0.05)(frames, fake)
    assert len(untouched) == 2
    retried = BallSlicer(detector, slices=2, conf=0.01, retry_below=0.5)(frames, fake)
    added = retried[2:]
    assert len(added) >= 1 and set(added.frame_index.tolist()) == {0}  # only the weak frame is sliced
    with pytest.raises(ValueError, match="retry_below"):
        BallSlicer(detector, retry_below=1.5)
