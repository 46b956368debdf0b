"""YOLO export: the frames and labels of the renderer's truth, read back by ultralytics (and trained on).

Frames are decoded here with plain OpenCV from the rendered video (the CLI's reader, which goes
through ``curation.video``, is tested in ``tests/flows/test_cli_export.py``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from soccerfactory.curation.types import CLASS_NAMES
from soccerfactory.storage.formats.yolo import DETECTOR_CLASSES, export_yolo


def _video_frames(path: str) -> list[np.ndarray]:
    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def _video_reader(clip, frame_indices):
    frames = _video_frames(clip.row["source_url"])
    return [(f, frames[f]) for f in frame_indices]


def _blank_reader(clip, frame_indices):
    return [(f, np.zeros((clip.row["height"], clip.row["width"], 3), np.uint8)) for f in frame_indices]


def test_labels_use_the_project_detectors_class_ids():
    assert DETECTOR_CLASSES == CLASS_NAMES


@pytest.fixture(scope="module")
def exported(truth, tmp_path_factory):
    catalog, clip, gt = truth
    out = tmp_path_factory.mktemp("yolo-export")
    return out, export_yolo(catalog, None, out, _video_reader, every=3)


def test_frames_and_labels_are_the_truths(truth, exported):
    _, clip, gt = truth
    out, summary = exported
    frames = list(range(clip.start_frame, clip.stop_frame, 3))
    images = sorted((out / "images" / "train").glob("*.jpg"))
    assert summary.images == len(images) == len(frames)
    assert images[1].name == f"{clip.clip_id}-000004.jpg"  # 1-based: source frame 3
    video = _video_frames(clip.url)
    written = cv2.imread(str(images[1]))
    # The image is source frame 3 (JPEG-close), not a neighbour.
    assert np.abs(written.astype(int) - video[3]).mean() < np.abs(written.astype(int) - video[4]).mean()
    assert np.abs(written.astype(int) - video[3]).mean() < 2.0
    rows = [r for r in gt.to_pylist() if r["frame_index"] == 3]
    lines = (out / "labels" / "train" / f"{clip.clip_id}-000004.txt").read_text().splitlines()
    got = sorted(tuple(float(v) for v in line.split()) for line in lines)
    want = sorted(
        (float(CLASS_NAMES.index(r["role"])), (r["x1"] + r["x2"]) / 2 / clip.width, (r["y1"] + r["y2"]) / 2 / clip.height,
         (r["x2"] - r["x1"]) / clip.width, (r["y2"] - r["y1"]) / clip.height)
        for r in rows
    )
    balls = [g for g in got if g[0] == CLASS_NAMES.index("ball")]
    assert len(balls) <= 1
    np.testing.assert_allclose(np.array(sorted(g for g in got if g[0] != CLASS_NAMES.index("ball"))), np.array(want), atol=1e-6)


def test_ultralytics_reads_the_dataset(exported):
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    out, summary = exported
    data = check_det_dataset(str(out / "data.yaml"))
    assert data["names"] == dict(enumerate(CLASS_NAMES)) and data["nc"] == 4
    labels = YOLODataset(img_path=data["train"], data=data, task="detect", imgsz=160, augment=False).get_labels()
    assert len(labels) == summary.images and sum(len(label["cls"]) for label in labels) == summary.labels


def test_ultralytics_trains_one_epoch_on_the_export(exported, tmp_path):
    # 6 s on the shared 2-core CPU at imgsz 160 (9 images): not a slow test.
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics import YOLO

    out, _ = exported
    model = YOLO("yolov8n.yaml")  # architecture only: random weights, nothing downloaded
    model.train(
        data=str(out / "data.yaml"), epochs=1, imgsz=160, batch=4, workers=0, device="cpu", amp=False, plots=False, val=False,
        project=str(tmp_path), name="run", exist_ok=True, verbose=False, cache=False,
    )
    assert (tmp_path / "run" / "weights" / "last.pt").is_file()
    losses = model.trainer.tloss
    assert model.trainer.epoch == 0 and losses and all(np.isfinite(float(v)) for v in losses.values()), losses


def test_val_holds_whole_clips_and_data_yaml_names_the_splits(examples, tmp_path):
    out = tmp_path / "yolo"
    summary = export_yolo(examples, None, out, _blank_reader, val_where="clip_id = 'clip-1'")
    assert sorted(p.name for p in (out / "images" / "val").iterdir()) == [f"match-1.clip-1-{n:06d}.jpg" for n in (1, 2, 3, 4)]
    assert len(list((out / "images" / "train").iterdir())) == 8 and summary.images == 12
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert (data["train"], data["val"], data["names"]) == ("images/train", "images/val", dict(enumerate(CLASS_NAMES)))
    # The example's referee is a referee; players are players; the ball is seen on even frames.
    assert summary.labels == 12 * 3 + 6
    same = export_yolo(examples, None, tmp_path / "no-val", _blank_reader)
    assert yaml.safe_load((tmp_path / "no-val" / "data.yaml").read_text())["val"] == "images/train" and same.images == 12
    assert "val is the training images" in (tmp_path / "no-val" / "data.yaml").read_text()


def test_refusals_name_the_input(examples, tmp_path):
    with pytest.raises(ValueError, match="selects none of the exported clips"):
        export_yolo(examples, "match_id = 'match-2'", tmp_path / "a", _blank_reader, val_where="match_id = 'match-1'")
    with pytest.raises(ValueError, match="selects every exported clip"):
        export_yolo(examples, None, tmp_path / "b", _blank_reader, val_where="true")
    with pytest.raises(ValueError, match="could not be decoded"):
        export_yolo(examples, None, tmp_path / "c", lambda clip, frames: _blank_reader(clip, frames[:-1]))
    with pytest.raises(ValueError, match="decoded at"):
        export_yolo(examples, None, tmp_path / "d", lambda clip, frames: [(f, np.zeros((4, 4, 3), np.uint8)) for f in frames])
    with pytest.raises(ValueError, match="--every"):
        export_yolo(examples, None, tmp_path / "e", _blank_reader, every=0)
    export_yolo(examples, None, tmp_path / "f", _blank_reader)
    with pytest.raises(ValueError, match="already holds a YOLO dataset"):  # its frames would be trained on too
        export_yolo(examples, "match_id = 'match-2'", tmp_path / "f", _blank_reader)


def test_role_other_and_interpolated_balls_are_left_out(tmp_path):
    import pyarrow as pa

    from .conftest import write_examples

    def change(tables):
        athletes, ball = tables["athletes"], tables["ball"]
        roles = ["other" if r["track_id"] == 2 else r["role"] for r in athletes.to_pylist()]
        athletes = athletes.set_column(athletes.schema.get_field_index("role"), "role", pa.array(roles, pa.string()))
        seen = ball.column("detected").to_pylist()
        ball = ball.set_column(ball.schema.get_field_index("detected"), "detected", pa.array([False] * len(seen)))
        ball = ball.set_column(ball.schema.get_field_index("interpolated"), "interpolated", pa.array(seen))
        return {**tables, "athletes": athletes, "ball": ball}

    summary = export_yolo(write_examples(tmp_path, change), "match_id = 'match-2'", tmp_path / "yolo", _blank_reader)
    assert summary.skipped == {"role other (no detector class)": 4, "interpolated ball (not seen)": 2}
    assert summary.labels == 4 * 2
    assert Path(tmp_path / "yolo" / "labels" / "train" / "clip-0-000001.txt").read_text().count("\n") == 2
