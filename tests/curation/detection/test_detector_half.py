"""fp16 detection follows the device: on for CUDA devices, off on the CPU (where results stay fp32)."""

from __future__ import annotations

import pytest
import torch

from soccerfactory.curation.detection.detector import build_detector


@pytest.fixture(scope="module")
def detector():
    return build_detector("yolov8")  # the bundled model; loading does not touch the device


@pytest.mark.parametrize("device, half", [("cpu", False), ("cuda", True), ("cuda:1", True), ("0", True)])
def test_half_defaults_to_the_device(detector, device, half):
    assert build_detector("yolov8", weights=detector.weights, device=device).half is half


def test_an_explicit_half_wins(detector):
    assert build_detector("yolov8", weights=detector.weights, device="cuda:0", half=False).half is False


def test_cpu_detection_runs_in_fp32(detector):
    import numpy as np

    detector.detect_each([np.zeros((96, 160, 3), np.uint8)], [0])
    backend = detector._model.predictor.model  # ultralytics' AutoBackend: what ran
    assert backend.fp16 is False
    assert {p.dtype for p in backend.model.parameters()} == {torch.float32}
