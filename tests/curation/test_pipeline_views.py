"""annotate_spatial classifies every frame's view and keeps pitch positions off frames whose camera
the image does not support: a rendered main-camera clip keeps its cameras and positions; the same
clip enlarged into a close-up of one athlete keeps its boxes and identities but no camera and no
positions, even when the calibrator claims the main camera's (the failure seen on real footage)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from soccerfactory.curation.attribute.builders import build_jersey_reader, build_team_classifier
from soccerfactory.curation.calibration.builders import build_calibrator
from soccerfactory.curation.calibration.results import CalibrationResult
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.config import CalibrateConfig, DecodeConfig
from soccerfactory.curation.pipeline import ClipStages, annotate_spatial
from soccerfactory.curation.quality.clips import clip_of
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import decode_frames, write_video
from soccerfactory.curation.tracking.trackers import build_tracker
from soccerfactory.curation.types import BALL, CLASS_NAMES, Detections, Frames

WIDTH, HEIGHT = 640, 360


class TruthDetector:
    """A detector that reports the rendered boxes of each frame (athletes and the visible ball)."""

    name = version = "truth"

    def __init__(self, boxes: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        self.boxes = boxes

    def __call__(self, frames: Frames) -> Detections:
        parts = [(self.boxes[f][0], self.boxes[f][1], f) for f in frames.frame_index.tolist()]
        xyxy = np.concatenate([b for b, _, _ in parts]).astype(np.float32)
        class_id = np.concatenate([c for _, c, _ in parts])
        frame_index = np.concatenate([np.full(len(b), f) for b, _, f in parts])
        return Detections(xyxy=xyxy, confidence=np.full(len(xyxy), 0.9, np.float32), class_id=class_id, frame_index=frame_index)


class ClaimsCameras:
    """A calibrator that claims the given (valid) camera on every frame, right or wrong."""

    def __init__(self, cameras: dict[int, Camera]) -> None:
        self.cameras = cameras

    def __call__(self, frames: Frames) -> list[CalibrationResult]:
        return [dataclasses.replace(CalibrationResult.from_camera(self.cameras[f], 1.0, 8, 4), spread=0.4)
                for f in frames.frame_index.tolist()]


def _truth(root: Path) -> tuple[dict[int, tuple[np.ndarray, np.ndarray]], dict[int, np.ndarray], dict[int, Camera]]:
    athletes = pq.read_table(root / "gt" / "athletes.parquet").to_pandas()
    athletes = athletes[athletes.x1.notna()]
    ball = pq.read_table(root / "gt" / "ball.parquet").to_pandas()
    ball = ball[ball.visible & ball.x1.notna()]
    boxes, ids = {}, {}
    for f in range(int(athletes.frame_index.max()) + 1):
        a, b = athletes[athletes.frame_index == f], ball[ball.frame_index == f]
        xyxy = np.vstack([a[["x1", "y1", "x2", "y2"]].to_numpy(), b[["x1", "y1", "x2", "y2"]].to_numpy()])
        classes = np.array([CLASS_NAMES.index(c) for c in a["class"]] + [BALL] * len(b), dtype=np.int64)
        boxes[f], ids[f] = (xyxy, classes), np.concatenate([a.track_id.to_numpy(), np.full(len(b), -1)])
    cams = pq.read_table(root / "gt" / "cameras.parquet").to_pandas()
    cameras = {
        int(r.frame_index): Camera(np.array([[r.fx, 0, r.cx], [0, r.fy, r.cy], [0, 0, 1]]), np.reshape(r.rotation, (3, 3)),
                                   [r.position_x, r.position_y, r.position_z], (WIDTH, HEIGHT))
        for r in cams.itertuples()
    }
    return boxes, ids, cameras


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A 1.2 s 640x360 main-camera clip, and the same frames enlarged around one athlete (a close-up)."""
    root = tmp_path_factory.mktemp("views")
    render_clip(SynthConfig(seconds=1.2, seed=11, width=WIDTH, height=HEIGHT), root / "main")
    boxes, ids, cameras = _truth(root / "main")
    target = None
    closeup_images, closeup_boxes = [], {}
    for f, image in enumerate(decode_frames(root / "main" / "video.mp4")):
        xyxy, classes = boxes[f]
        people = classes != BALL
        if target is None:  # the tallest athlete of the first frame, followed through the clip
            target = ids[f][int(np.argmax(np.where(people, xyxy[:, 3] - xyxy[:, 1], 0)))]
        box = xyxy[ids[f] == target][0]
        scale = 0.5 * HEIGHT / (box[3] - box[1])
        x0 = np.clip((box[0] + box[2]) / 2 - WIDTH / scale / 2, 0, WIDTH - WIDTH / scale)
        y0 = np.clip((box[1] + box[3]) / 2 - HEIGHT / scale / 2, 0, HEIGHT - HEIGHT / scale)
        M = np.float32([[scale, 0, -scale * x0], [0, scale, -scale * y0]])
        closeup_images.append(cv2.warpAffine(image, M, (WIDTH, HEIGHT)))
        moved = (xyxy - [x0, y0, x0, y0]) * scale
        moved[:, [0, 2]] = moved[:, [0, 2]].clip(0, WIDTH)
        moved[:, [1, 3]] = moved[:, [1, 3]].clip(0, HEIGHT)
        inside = ((moved[:, 2] - moved[:, 0]) > 2) & ((moved[:, 3] - moved[:, 1]) > 2)
        closeup_boxes[f] = (moved[inside], classes[inside])
    write_video(root / "closeup" / "video.mp4", closeup_images)
    return clip_of(root / "main"), clip_of(root / "closeup"), boxes, closeup_boxes, cameras


def _stages(boxes, new_calibrator) -> ClipStages:
    return ClipStages(
        detector=TruthDetector(boxes),
        new_tracker=lambda fps: build_tracker("bytetrack", fps=fps),
        new_calibrator=new_calibrator,
        refiner=None,
        team_classifier=build_team_classifier("kmeans-color"),
        jersey_reader=build_jersey_reader("none"),
    )


def test_a_main_camera_clip_is_main_and_keeps_its_cameras_and_positions(rendered):
    main, _, boxes, _, cameras = rendered
    calibrator = build_calibrator("lines-classic", initial_camera=cameras[0]).fresh
    head = main.head(12)
    spatial = annotate_spatial(head, _stages(boxes, calibrator), DecodeConfig(batch_size=8), calibrate=CalibrateConfig())
    assert spatial.views is not None and len(spatial.views) == spatial.n_frames == head.num_frames
    assert set(spatial.views.view) == {"main"}
    valid = np.array([r.valid for r in spatial.calibrations])
    assert valid.mean() >= 0.9, [r.reason for r in spatial.calibrations if not r.valid]
    on_valid = np.isin(spatial.tracks.frame_index, spatial.frame_index[valid])
    assert np.isfinite(spatial.tracks.data["pitch_xy"][on_valid]).all()
    assert "views" in spatial.stage_seconds


@pytest.mark.parametrize("non_main_positions", ["drop", "keep"])
def test_a_closeup_keeps_boxes_and_identities_but_no_camera_and_no_positions(rendered, non_main_positions):
    _, closeup, _, boxes, cameras = rendered
    calibrate = CalibrateConfig(non_main_positions=non_main_positions)
    stages = _stages(boxes, lambda: ClaimsCameras(cameras))  # the main camera's cameras: wrong here
    spatial = annotate_spatial(closeup, stages, DecodeConfig(batch_size=8), calibrate=calibrate)
    assert set(spatial.views.view) == {"close-up"}
    assert not any(r.valid for r in spatial.calibrations)
    expected = "camera refused: view close-up" if non_main_positions == "drop" else "camera refused: an athlete is"
    assert all(r.reason.startswith(expected) for r in spatial.calibrations), spatial.calibrations[0].reason
    assert len(spatial.tracks) > 0 and (spatial.tracks.track_id >= 0).all()
    assert np.isnan(spatial.tracks.data["pitch_xy"]).all() and np.isnan(spatial.tracks.data["pitch_sigma_m"]).all()
    assert np.isnan(spatial.crop_pitch_x).all()
    assert np.isnan(spatial.views.visible_pitch_m2).all()
    if len(spatial.ball):
        assert np.isnan(spatial.ball.data["pitch_xy"]).all()


def test_without_calibration_views_come_from_grass_and_boxes(rendered):
    main, closeup, boxes, closeup_boxes, _ = rendered
    spatial = annotate_spatial(main, _stages(boxes, None), DecodeConfig(batch_size=8), calibrate=CalibrateConfig())
    assert set(spatial.views.view) == {"main"} and spatial.calibrations == ()
    assert "no calibration" in spatial.views.reason[0]
    spatial = annotate_spatial(closeup, _stages(closeup_boxes, None), DecodeConfig(batch_size=8), calibrate=CalibrateConfig())
    assert set(spatial.views.view) == {"close-up"}
