"""The heatmap keypoint model on ONNX Runtime and OpenVINO: the bundled model's outputs match torch on real
frames, the export is reused, retrained weights are exported again, and ``calibrate.runtime`` reaches it."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

from soccerfactory.curation.calibration.heatmap import INPUT_SIZE, HeatmapKeypointDetector, load_keypoint_net, prepare_input
from soccerfactory.curation.calibration.heatmap_runtime import ExportedKeypointNet, export_keypoint_net
from soccerfactory.curation.testing import exported_runtimes_under_test
from soccerfactory.curation.runtimes import MANIFEST
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

FIELD = DEFAULT_DATA_ROOT / "football-field" / "valid" / "images"
EXPORTED = exported_runtimes_under_test()  # onnx; openvino only in its own process (curation/testing.py)
WITH_OPENVINO = "openvino" in EXPORTED


@pytest.fixture(scope="module")
def cache(runtime_cache):
    """This module's private export cache (tests/conftest.py)."""
    return runtime_cache


@pytest.fixture(scope="module")
def detectors(cache):
    return {runtime: HeatmapKeypointDetector(runtime=runtime) for runtime in ("torch", *EXPORTED)}


@pytest.fixture(scope="module")
def field_frames():
    """Three real frames (a batch of 3: the batch axis of the export is free), at 960x540."""
    paths = sorted(FIELD.glob("*.jpg"))[:3]
    if len(paths) < 3:
        pytest.skip(f"real frames not found in {FIELD}")
    return [cv2.resize(cv2.imread(str(path)), (960, 540), interpolation=cv2.INTER_AREA) for path in paths]


@pytest.mark.parametrize("runtime", EXPORTED)
def test_exported_heatmaps_match_torch_on_real_frames(detectors, field_frames, runtime):
    import torch

    with torch.inference_mode():
        heat, vis = (t.numpy() for t in detectors["torch"].net(prepare_input(field_frames)))
    from soccerfactory.curation.calibration.heatmap import prepare_array

    heat_x, vis_x = detectors[runtime].net(prepare_array(field_frames))
    assert heat_x.shape == heat.shape == (3, 32, INPUT_SIZE[1] // 4, INPUT_SIZE[0] // 4) and vis_x.shape == (3, 32)
    np.testing.assert_allclose(heat_x, heat, atol=1e-3)  # logits of magnitude ~10-30; measured 4e-5
    np.testing.assert_allclose(vis_x, vis, atol=1e-3)
    for (xy, visible, peak), (xy_x, visible_x, peak_x) in zip(detectors["torch"].predict(field_frames), detectors[runtime].predict(field_frames)):
        np.testing.assert_allclose(xy_x, xy, atol=0.01)  # pixels of the 960x540 frame
        np.testing.assert_allclose(visible_x, visible, atol=1e-4)
        np.testing.assert_allclose(peak_x, peak, atol=1e-4)


@pytest.mark.parametrize("runtime", EXPORTED)
def test_the_observations_are_torch_s(detectors, field_frames, runtime):
    from soccerfactory.curation.types import Frames

    images = np.stack(field_frames)
    frames = Frames(images=images, frame_index=np.arange(3), timestamp_s=np.zeros(3), fps=25.0, source="field")
    for ours, theirs in zip(detectors[runtime](frames), detectors["torch"](frames)):
        assert np.array_equal(ours.keypoint_ids, theirs.keypoint_ids) and len(ours.keypoint_ids) > 4
        np.testing.assert_allclose(ours.keypoints, theirs.keypoints, atol=0.01)
    assert detectors[runtime].version == f"{detectors['torch'].version}+{runtime}"


def _random_weights(path, seed: int):
    import torch

    from soccerfactory.curation.calibration.heatmap_net import PitchKeypointNet

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    net = PitchKeypointNet(32, width=8)
    torch.save({"state_dict": net.state_dict(), "n_keypoints": 32, "width": 8, "input_size": list(INPUT_SIZE)}, path)
    return path


@pytest.mark.skipif(not WITH_OPENVINO, reason="openvino runs in its own pytest process (SOCCERFACTORY_TEST_OPENVINO=1)")
def test_export_is_reused_and_retrained_weights_are_exported_again(tmp_path):
    weights = _random_weights(tmp_path / "w" / "kp.pt", seed=0)
    cache = tmp_path / "cache"
    first = export_keypoint_net(weights, "openvino", load_keypoint_net, INPUT_SIZE, cache)  # makes the ONNX entry too
    stamp = (first.directory / MANIFEST).stat().st_mtime_ns
    again = ExportedKeypointNet(weights, "openvino", load_keypoint_net, INPUT_SIZE, threads=1, cache_dir=cache)
    assert not first.reused and again.export.reused and (again.export.directory / MANIFEST).stat().st_mtime_ns == stamp
    assert sorted(p.name.split("-")[-2] for p in cache.iterdir() if not p.name.startswith(".")) == ["onnx", "openvino"]
    assert again.meta["n_keypoints"] == 32 and again.meta["width"] == 8
    x = np.random.default_rng(0).random((2, 3, INPUT_SIZE[1], INPUT_SIZE[0]), dtype=np.float32)
    before = again(x)[0]

    _random_weights(weights, seed=1)  # retrained: same file, other tensors
    retrained = ExportedKeypointNet(weights, "openvino", load_keypoint_net, INPUT_SIZE, cache_dir=cache)
    assert not retrained.export.reused and retrained.export.directory != first.directory
    assert not first.directory.exists()  # the stale entries of this file are gone
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 2
    assert np.abs(retrained(x)[0] - before).max() > 1e-3  # the new weights run


def test_calibrate_runtime_reaches_the_keypoint_model(cache):
    from soccerfactory.curation.calibration.builders import build_calibrator
    from soccerfactory.curation.config import CurateConfig

    config = CurateConfig().with_values({"calibrate.runtime": "onnx"})
    calibrator = build_calibrator(config.calibrate.backend, **config.calibrate.calibrator_params())
    assert calibrator.detector.runtime == "onnx" and calibrator.detector.version.endswith("+onnx")
    assert config.config_hash() != CurateConfig().with_values({"calibrate.runtime": "torch"}).config_hash()
    lines = CurateConfig().with_values({"calibrate.runtime": "onnx", "calibrate.backend": "lines"})
    assert "runtime" not in lines.calibrate.calibrator_params()  # no keypoint model to run
    # A GPU device runs torch whatever the (CPU) runtime says.
    gpu = CurateConfig().with_values({"calibrate.runtime": "onnx", "calibrate.device": "cuda", "detect.device": "cuda:0"})
    assert gpu.calibrate.calibrator_params()["runtime"] == "torch" and gpu.detect.device_runtime() == "torch"
    assert CurateConfig().detect.device_runtime() == CurateConfig().detect.runtime
