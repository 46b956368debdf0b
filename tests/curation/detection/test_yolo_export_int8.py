"""The int8 detector (``detect.runtime=onnx-int8``): built by an explicit command
(:mod:`soccerfactory.curation.training.quantize`) from the onnx export, calibrated on the real train
split (never valid) and a synthetic render, cached by its settings, the box decoding kept fp32, and
boxes close to the fp32 model's on real valid frames; the detector only looks it up.

The fast tests quantize nothing; the slow ones quantize with a small calibration set into a private
cache, and the slowest builds the detector the config runs (the default calibration: minutes on 2 cores).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.config import CurateConfig
from soccerfactory.curation.detection.detector import BallSlicer, build_detector
from soccerfactory.curation.detection.roles import box_iou
from soccerfactory.curation.detection.yolo_export import INT8, INT8_COMMAND, QuantizeSettings, export_yolo, float_nodes, letterboxed
from soccerfactory.curation.runtimes import MANIFEST, cache_root, onnx_session
from soccerfactory.curation.training.quantize import build_int8_detector, calibration_frames, main
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

PLAYERS = DEFAULT_DATA_ROOT / "football-players"
SMALL = QuantizeSettings(train_frames=4, slice_frames=2, synthetic_frames=2)
SMALL_FLAGS = ["--train-frames", "4", "--slice-frames", "2", "--synthetic-frames", "2"]

pytestmark = pytest.mark.skipif(not (PLAYERS / "train" / "images").is_dir(), reason=f"real frames not found in {PLAYERS}")


@pytest.fixture(scope="module")
def cache(runtime_cache):
    """This module's private export cache (tests/conftest.py)."""
    return runtime_cache


@pytest.fixture(scope="module")
def small(cache, tmp_path_factory):
    """The fp32 export and its int8 version with a small calibration set, built by the command's
    function from a working directory of its own (which it must leave as it found it)."""
    weights = bundled_weights("detector.pt")
    fp32 = export_yolo(weights, "onnx", 768)
    workdir = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        int8 = build_int8_detector(weights, 768, quantization=SMALL)
    assert not int8.reused
    assert not list(workdir.iterdir()), "the quantizer left files in the working directory"
    assert not [path.name for path in cache.iterdir() if path.name.startswith(".tmp-")]
    return fp32, int8


@pytest.fixture(scope="module")
def frames():
    paths = sorted((PLAYERS / "valid" / "images").glob("*.jpg"))[:4]
    return [cv2.resize(cv2.imread(str(path)), (1280, 720), interpolation=cv2.INTER_AREA) for path in paths]


@pytest.mark.slow
def test_the_int8_model_is_quantized_with_its_box_decoding_in_fp32(small):
    fp32, int8 = small
    graph = onnx.load(str(int8.entry)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # Weights are stored as int8: the file is about a quarter of the fp32 one.
    assert int8.entry.stat().st_size < 0.4 * fp32.entry.stat().st_size
    # The output is written by an fp32 node: no DequantizeLinear right before it, and the
    # decoding (softmax of the distribution focal loss, class sigmoid) reads fp32 tensors.
    producer = {output: node for node in graph.node for output in node.output}
    assert producer[graph.output[0].name].op_type == "Concat"
    softmax = next(node for node in graph.node if node.op_type == "Softmax")
    assert producer[softmax.input[0]].op_type != "DequantizeLinear"
    kept = float_nodes(onnx.load(str(fp32.entry)).graph)
    assert any(name.endswith("/dfl/conv/Conv") for name in kept) and not any(name.startswith("/model.0/") for name in kept)
    assert sum(name.endswith(".2/Conv") for name in kept) == 6  # box and class logits of the three scales


@pytest.mark.slow
def test_calibration_uses_train_frames_only_and_is_recorded(small):
    _, int8 = small
    manifest = json.loads((int8.directory / MANIFEST).read_text())
    calibration = manifest["meta"]["calibration"]
    train = {path.name for path in (PLAYERS / "train" / "images").glob("*.jpg")}
    valid = {path.name for path in (PLAYERS / "valid" / "images").glob("*.jpg")}
    assert len(calibration["train_files"]) == SMALL.train_frames + SMALL.slice_frames
    assert set(calibration["train_files"]) <= train and not set(calibration["train_files"]) & valid
    assert calibration["synthetic_seed"] == SMALL.synthetic_seed and calibration["frames"] == 6
    assert manifest["settings"]["quantization"] == SMALL.to_dict() and manifest["runtime"] == INT8
    assert manifest["settings"]["from"] == small[0].directory.name  # the fp32 entry it was made from
    assert manifest["meta"]["names"] == {"0": "ball", "1": "goalkeeper", "2": "player", "3": "referee"}
    assert manifest["versions"]["onnxruntime"] and "openvino" not in manifest["versions"]


@pytest.mark.slow
def test_the_int8_entry_is_reused_and_other_settings_make_another(small, cache):
    _, int8 = small
    weights = bundled_weights("detector.pt")
    # The detector's lookup finds what the command built: one key for both.
    again = export_yolo(weights, INT8, 768, quantization=SMALL)
    assert again.reused and again.directory == int8.directory
    assert build_int8_detector(weights, 768, quantization=SMALL).directory == int8.directory
    with pytest.raises(FileNotFoundError, match="--seed 1"):
        export_yolo(weights, INT8, 768, quantization=QuantizeSettings(**{**SMALL.to_dict(), "seed": 1}))
    same_frames = calibration_frames(SMALL)[1]
    assert same_frames["train_files"] == json.loads((int8.directory / MANIFEST).read_text())["meta"]["calibration"]["train_files"]


@pytest.mark.slow
def test_int8_outputs_stay_close_to_fp32_on_real_frames(small, frames):
    """Raw network outputs on real valid frames: the confident boxes of fp32 are found again."""
    fp32, int8 = small
    x = letterboxed(frames, 768)
    assert x.shape == (4, 3, 448, 768)  # 1280x720 letterboxed like ultralytics' dynamic predictor
    reference = onnx_session(fp32.entry, 1).run(None, {"images": x})[0]
    quantized = onnx_session(int8.entry, 1).run(None, {"images": x})[0]
    assert quantized.shape == reference.shape
    for ref, out in zip(reference, quantized):
        confident = ref[4:].max(axis=0) > 0.5  # anchors fp32 is sure about
        assert confident.sum() > 10
        boxes = lambda raw: np.concatenate([raw[:2] - raw[2:4] / 2, raw[:2] + raw[2:4] / 2]).T  # noqa: E731
        ious = np.diag(box_iou(boxes(ref[:, confident]), boxes(out[:, confident])))
        assert np.median(ious) > 0.9
        assert np.mean(np.abs(ref[4:, confident] - out[4:, confident])) < 0.1


def test_calibration_refuses_a_missing_train_split_and_held_out_seeds(tmp_path):
    with pytest.raises(FileNotFoundError, match="train"):
        calibration_frames(SMALL, data_root=tmp_path)
    with pytest.raises(ValueError, match="dev seed"):
        QuantizeSettings(synthetic_seed=301)


def test_a_missing_int8_detector_is_one_line_naming_the_command_that_builds_it():
    """Never quantized on the way: the lookup makes no int8 entry (settings nobody built)."""
    weights = bundled_weights("detector.pt")
    unbuilt = QuantizeSettings(seed=987654, per_channel=False)
    before = {path.name for path in cache_root(weights).iterdir()}
    with pytest.raises(FileNotFoundError) as missing:
        export_yolo(weights, INT8, 768, quantization=unbuilt)
    message = str(missing.value)
    assert "\n" not in message and INT8_COMMAND in message and str(weights.resolve()) in message
    assert "--seed 987654 --no-per-channel" in message and "--train-frames" not in message  # only what differs
    assert not [name for name in os.listdir(cache_root(weights)) if name.startswith(f"{weights.stem}-{INT8}-") and name not in before]


def test_the_build_command_explains_itself(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert INT8_COMMAND in text and "detect.runtime=onnx-int8" in text and "train split" in text and "never valid" in text
    assert all(flag in text for flag in ("--weights", "--cache-dir", "--train-frames", "--synthetic-seed", "--no-per-channel"))
    assert main(["--synthetic-seed", "301"]) == 1  # a held-out seed is refused before anything runs
    assert "dev seed" in capsys.readouterr().err


def test_unknown_runtime_names_list_onnx_int8():
    with pytest.raises(ValueError, match="onnx-int8"):
        build_detector("yolov8", runtime="int8")
    with pytest.raises(ValueError, match="onnx-int8"):
        CurateConfig().with_values({"detect.runtime": "int8"})
    assert CurateConfig().with_values({"detect.runtime": INT8}).detect.device_runtime() == INT8


@pytest.mark.slow
def test_the_configured_int8_detector_finds_the_persons_torch_finds(cache, frames):
    """``detect.runtime=onnx-int8`` with the default calibration: the persons torch finds at 0.5 and
    above are found again (IoU 0.7), with the same class for nearly all; the ball search's slices
    run on the fp32 onnx model."""
    assert main(["--cache-dir", str(cache)]) == 0  # the build command, default settings: what the config looks up
    torch_detector = build_detector("yolov8", imgsz=768, conf=0.25, runtime="torch")
    int8_detector = build_detector("yolov8", imgsz=768, conf=0.25, runtime=INT8)
    assert int8_detector.version == f"{torch_detector.version}+{INT8}"
    assert torch_detector.slice_detector is torch_detector
    assert int8_detector.slice_detector.runtime == "onnx"
    assert BallSlicer(int8_detector, slices=3).detector is int8_detector.slice_detector
    crops = [np.ascontiguousarray(frame[100:396, 300:827]) for frame in frames]  # a 3x3 slice of 720p
    slices = BallSlicer(int8_detector, slices=3).detector.detect_each(crops, [0] * 4, imgsz=544, conf=0.1)
    fp32 = build_detector("yolov8", imgsz=768, conf=0.25, runtime="onnx").detect_each(crops, [0] * 4, imgsz=544, conf=0.1)
    for ours, theirs in zip(slices, fp32):
        np.testing.assert_allclose(ours.xyxy, theirs.xyxy)
    index = list(range(len(frames)))
    matched = same_class = total = 0
    for ref, out in zip(torch_detector.detect_each(frames, index), int8_detector.detect_each(frames, index)):
        keep = ref.confidence >= 0.5
        total += int(keep.sum())
        if keep.any() and len(out):
            ious = box_iou(ref.xyxy[keep], out.xyxy)
            best = ious.argmax(axis=1)
            hit = ious.max(axis=1) > 0.7
            matched += int(hit.sum())
            same_class += int((out.class_id[best][hit] == ref.class_id[keep][hit]).sum())
    assert total > 40 and matched >= 0.95 * total and same_class >= 0.95 * matched
