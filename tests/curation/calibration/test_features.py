"""The pitch feature detector contract and the yolo-pose backend (an untrained 32-keypoint model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from soccerfactory.curation.calibration.builders import build_calibrator, build_feature_detector
from soccerfactory.curation.calibration.observations import PitchObservations
from soccerfactory.curation.pitch import PitchModel
from soccerfactory.curation.testing import make_frames
from soccerfactory.curation.types import Frames

PITCH = PitchModel()
WIDTH, HEIGHT = 640, 360


def test_yolo_pose_missing_weights_says_how_to_get_them(tmp_path):
    missing = tmp_path / "pitch-keypoints.pt"
    with pytest.raises(FileNotFoundError, match="pitch-keypoints.pt") as error:
        build_feature_detector("yolo-pose", weights=missing)
    assert "soccerfactory.curation.training.yolo pitch-keypoints" in str(error.value)
    with pytest.raises(FileNotFoundError, match="pitch-keypoints.pt"):
        build_calibrator("yolo-pose", weights=missing)


@pytest.fixture(scope="module")
def random_pose_weights(tmp_path_factory) -> Path:
    """A YOLOv8n-pose model with 32 keypoints and untrained weights, saved as a checkpoint."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    import torch
    import ultralytics
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("pose32")
    config = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8-pose.yaml").read_text())
    config["kpt_shape"] = [32, 3]
    config_path = folder / "yolov8n-pitch.yaml"  # the 'n' picks the nano scale
    config_path.write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    model = YOLO(str(config_path), task="pose")
    path = folder / "pitch-keypoints.pt"
    model.save(str(path))
    return path


def _detector(name: str, weights: Path):
    if name == "yolo-pose":
        return build_feature_detector(name, weights=weights, imgsz=320, conf=1e-4, keypoint_conf=0.5)
    return build_feature_detector(name)


@pytest.mark.parametrize("name", ["yolo-pose", "lines-classic"])
def test_feature_detector_contract(name, random_pose_weights, clip):
    detector = _detector(name, random_pose_weights)
    assert detector(Frames.empty(HEIGHT, WIDTH, 25.0, "empty")) == []
    frames = clip.frames[:2]
    observations = detector(frames)
    assert len(observations) == len(frames)
    for obs in observations:
        assert isinstance(obs, PitchObservations)
        assert ((obs.keypoint_ids >= 0) & (obs.keypoint_ids < 32)).all()
        assert ((obs.keypoints >= 0) & (obs.keypoints <= (WIDTH, HEIGHT))).all()
        assert (obs.keypoint_confidence >= 0.5).all()
    if name == "yolo-pose":
        # Other frame sizes pass through as they are.
        assert len(detector(make_frames(n=1, height=90, width=160))) == 1


def test_yolo_pose_keeps_the_best_instance_and_its_confident_keypoints(random_pose_weights):
    """How one ultralytics pose result becomes observations (an untrained model finds nothing)."""
    import torch
    from ultralytics.engine.results import Results

    detector = _detector("yolo-pose", random_pose_weights)
    rng = np.random.default_rng(0)
    keypoints = np.zeros((2, 32, 3), np.float32)
    keypoints[:, :, 0] = rng.uniform(1, WIDTH - 1, (2, 32))
    keypoints[:, :, 1] = rng.uniform(1, HEIGHT - 1, (2, 32))
    keypoints[:, :, 2] = 0.9
    keypoints[1, [3, 8], 2] = 0.2  # unsure
    keypoints[1, 12, :2] = (0.0, 100.0)  # clamped to the border: somewhere outside the image
    boxes = torch.tensor([[0, 0, WIDTH, HEIGHT, 0.4, 0], [0, 0, WIDTH, HEIGHT, 0.8, 0]], dtype=torch.float32)
    result = Results(np.zeros((HEIGHT, WIDTH, 3), np.uint8), "frame", {0: "pitch"}, boxes=boxes,
                     keypoints=torch.from_numpy(keypoints))
    obs = detector._observations(result, WIDTH, HEIGHT)
    expected = np.setdiff1d(np.arange(32), [3, 8, 12])
    np.testing.assert_array_equal(obs.keypoint_ids, expected)
    np.testing.assert_allclose(obs.keypoints, keypoints[1, expected, :2])
    np.testing.assert_allclose(obs.keypoint_confidence, 0.9)
    empty = Results(np.zeros((HEIGHT, WIDTH, 3), np.uint8), "frame", {0: "pitch"}, boxes=torch.zeros((0, 6)),
                    keypoints=torch.zeros((0, 32, 3)))
    assert len(detector._observations(empty, WIDTH, HEIGHT)) == 0


def test_yolo_pose_calibrator_contract(random_pose_weights, clip):
    calibrator = build_calibrator("yolo-pose", weights=random_pose_weights, imgsz=320, conf=1e-4, pitch=PITCH,
                                  line_search=False)
    results = calibrator(clip.frames[:2])
    assert len(results) == 2
    # The untrained model finds no keypoints: invalid, with a reason.
    assert all(not r.valid and r.reason for r in results)
    assert calibrator(Frames.empty(HEIGHT, WIDTH, 25.0, "empty")) == []
