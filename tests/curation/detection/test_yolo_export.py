"""The detector on ONNX Runtime and OpenVINO: the same boxes as torch on real frames, the class mapping
kept, the export cached and reused, threads set, and a short clip curated with ``detect.runtime=onnx``.

One export per runtime for the module, into a temporary cache (``$SOCCERFACTORY_RUNTIME_CACHE``),
never next to the bundled weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.detection.detector import build_detector
from soccerfactory.curation.detection.roles import box_iou
from soccerfactory.curation.detection.yolo_export import export_yolo
from soccerfactory.curation.testing import exported_runtimes_under_test
from soccerfactory.curation.runtimes import CACHE_ENV, MANIFEST
from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.types import CLASS_NAMES

ROOT = Path(__file__).resolve().parents[3]
VALID = DEFAULT_DATA_ROOT / "football-players" / "valid" / "images"
EXPORTED = exported_runtimes_under_test()  # onnx; openvino only in its own process (curation/testing.py)
WITH_OPENVINO = "openvino" in EXPORTED


@pytest.fixture(scope="module")
def cache(runtime_cache):
    """This module's private export cache (tests/conftest.py)."""
    return runtime_cache


@pytest.fixture(scope="module")
def detectors(cache):
    return {runtime: build_detector("yolov8", imgsz=768, conf=0.25, runtime=runtime) for runtime in ("torch", *EXPORTED)}


@pytest.fixture(scope="module")
def frames():
    """Four real broadcast frames, unstretched to 1280x720."""
    paths = sorted(VALID.glob("*.jpg"))[:4]
    if len(paths) < 4:
        pytest.skip(f"real frames not found in {VALID}")
    return [cv2.resize(cv2.imread(str(path)), (1280, 720), interpolation=cv2.INTER_AREA) for path in paths]


def _assert_same_boxes(reference, other) -> None:
    for ref, out in zip(reference, other, strict=True):
        assert len(ref) == len(out) > 0
        order_ref, order_out = np.argsort(-ref.confidence, kind="stable"), np.argsort(-out.confidence, kind="stable")
        ious = np.diag(box_iou(ref.xyxy[order_ref], out.xyxy[order_out]))
        assert ious.min() > 0.99
        np.testing.assert_allclose(out.confidence[order_out], ref.confidence[order_ref], atol=2e-3)
        assert np.array_equal(out.class_id[order_out], ref.class_id[order_ref])


@pytest.mark.parametrize("runtime", EXPORTED)
def test_exported_detector_finds_the_boxes_torch_finds(detectors, frames, runtime):
    index = list(range(len(frames)))
    _assert_same_boxes(detectors["torch"].detect_each(frames, index), detectors[runtime].detect_each(frames, index))


@pytest.mark.parametrize("runtime", EXPORTED)
def test_slices_run_at_their_own_size_as_with_torch(detectors, frames, runtime):
    """The ball slicer's crops (smaller than imgsz, another aspect) letterbox like torch's: dynamic shapes."""
    crops = [np.ascontiguousarray(frame[100:496, 300:1004]) for frame in frames[:3]]  # 704x396, a 3x3 slice of 1080p
    reference = detectors["torch"].detect_each(crops, [0, 0, 0], imgsz=704, conf=0.1)
    _assert_same_boxes(reference, detectors[runtime].detect_each(crops, [0, 0, 0], imgsz=704, conf=0.1))


@pytest.mark.parametrize("runtime", EXPORTED)
def test_class_mapping_and_version_follow_the_weights(detectors, runtime):
    detector = detectors[runtime]
    assert detector._model.names == detectors["torch"]._model.names == {0: "ball", 1: "goalkeeper", 2: "player", 3: "referee"}
    assert [CLASS_NAMES[i] for i in detector._lookup] == ["ball", "goalkeeper", "player", "referee"]
    assert detector.version == f"{detectors['torch'].version}+{runtime}"


@pytest.mark.parametrize("runtime", EXPORTED)
def test_the_export_is_reused_by_the_next_detector(detectors, cache, runtime):
    export = export_yolo(bundled_weights("detector.pt"), runtime, 768)
    assert export.reused and export.directory.parent == cache
    entries, stamp = sorted(cache.iterdir()), (export.directory / MANIFEST).stat().st_mtime_ns
    again = build_detector("yolov8", imgsz=768, runtime=runtime, threads=1)
    assert sorted(cache.iterdir()) == entries and (export.directory / MANIFEST).stat().st_mtime_ns == stamp
    backend = again._model.predictor.model.backend
    if runtime == "onnx":
        options = backend.session.get_session_options()
        assert options.intra_op_num_threads == 1 and options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    else:
        assert backend.ov_compiled_model.get_property("INFERENCE_NUM_THREADS") == 1
    manifest = json.loads((export.directory / MANIFEST).read_text())
    assert manifest["meta"]["names"] == {"0": "ball", "1": "goalkeeper", "2": "player", "3": "referee"}
    assert manifest["settings"]["dynamic"] is True and manifest["versions"]["ultralytics"]


def test_the_process_torch_threads_survive_ultralytics(cache, frames):
    """Ultralytics' select_device sets torch to cpu_count - 1 threads on export, load and first predict."""
    import torch

    before, wanted = torch.get_num_threads(), (os.cpu_count() or 1) + 1
    torch.set_num_threads(wanted)
    try:
        for runtime in ("torch", "onnx"):
            build_detector("yolov8", imgsz=768, runtime=runtime).detect_each(frames[:1], [0])
            assert torch.get_num_threads() == wanted, runtime
    finally:
        torch.set_num_threads(before)


def test_exported_runtimes_refuse_a_gpu_device(cache):
    with pytest.raises(ValueError, match="runs on the CPU"):
        build_detector("yolov8", runtime="onnx", device="cuda:0")
    with pytest.raises(ValueError, match="runtime must be"):
        build_detector("yolov8", runtime="tensorrt")


def test_a_short_clip_is_curated_with_the_onnx_detector(detectors, cache, tmp_path):
    """``detect.runtime=onnx`` through load_stages and annotate_spatial: the same tracks as torch."""
    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.pipeline import annotate_spatial
    from soccerfactory.curation.quality.clips import clip_of
    from soccerfactory.curation.stages import load_stages
    from soccerfactory.curation.synth import SynthConfig, render_clip

    render_clip(SynthConfig(seconds=0.8, seed=401, width=640, height=360), tmp_path)
    clip = clip_of(tmp_path)
    base = CurateConfig().with_values({"calibrate.enabled": False, "refine.enabled": False, "detect.ball_slices": 0})
    assert base.with_values({"detect.runtime": "torch"}).config_hash() != base.with_values({"detect.runtime": "onnx"}).config_hash()
    runs = {}
    for runtime in ("torch", "onnx"):
        config = base.with_values({"detect.runtime": runtime})
        stages = load_stages(config)
        assert ("+onnx" in stages.detector.version) == (runtime == "onnx")  # then "+roles:..." when the role classifier runs
        runs[runtime] = annotate_spatial(clip, stages, config.decode, calibrate=config.calibrate)
    torch_tracks, onnx_tracks = runs["torch"].tracks, runs["onnx"].tracks
    assert len(onnx_tracks) == len(torch_tracks) > 0
    assert np.array_equal(onnx_tracks.frame_index, torch_tracks.frame_index)
    assert np.abs(onnx_tracks.xyxy - torch_tracks.xyxy).max() < 0.5


@pytest.mark.slow
def test_export_and_load_never_touch_the_network_or_pip(tmp_path):
    """A fresh interpreter exports and runs both runtimes with sockets refused and subprocesses recorded."""
    code = textwrap.dedent("""
        import json, socket, subprocess
        calls, commands = [], []
        def refuse(name):
            def refuse(*args, **kwargs):
                calls.append(name)
                raise OSError("network disabled by the test")
            return refuse
        socket.socket.connect = refuse("connect")
        socket.create_connection = refuse("create_connection")
        socket.getaddrinfo = refuse("getaddrinfo")
        for name in ("run", "check_output", "check_call", "Popen"):
            original = getattr(subprocess, name)
            def record(*args, _original=original, **kwargs):
                commands.append(str(args[0] if args else kwargs.get("args"))[:200])
                return _original(*args, **kwargs)
            setattr(subprocess, name, record)
        import numpy as np
        from soccerfactory.curation.detection.detector import build_detector
        found = {}
        for runtime in ("onnx", "openvino"):
            detector = build_detector("yolov8", imgsz=320, runtime=runtime)
            found[runtime] = len(detector.detect_each([np.zeros((360, 640, 3), np.uint8)], [0]))
        pip = [c for c in commands if "pip" in c or "uv" in c.split()]
        print(json.dumps({"calls": calls, "pip": pip, "found": found}))
    """)
    env = {**os.environ, CACHE_ENV: str(tmp_path / "cache"), "HOME": str(tmp_path / "home"), "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}
    (tmp_path / "home").mkdir()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["calls"] == [] and result["pip"] == [] and set(result["found"]) == {"onnx", "openvino"}
    assert not (tmp_path / "home" / "intel").exists()
    assert len(list((tmp_path / "cache").glob("detector-*"))) == 2
