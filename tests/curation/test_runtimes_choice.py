"""bench_runtimes' choice of a stage's default runtime with onnx-int8 among the candidates."""

from __future__ import annotations

from soccerfactory.flows.bench_runtimes import choose_runtime

TORCH = {"person_ap50": 0.9672, "ball_recall": 0.7333, "calibration": {"real": {"solved": 34, "median_reprojection_px": 2.44}}}


def test_a_faster_int8_detector_that_loses_a_ball_is_not_chosen_and_the_margin_is_said():
    speed = {"torch": 500.0, "onnx": 270.0, "onnx-int8": 107.0}
    quality = {"torch": TORCH, "onnx": dict(TORCH), "onnx-int8": {"person_ap50": 0.9669, "ball_recall": 0.7111}}
    runtime, why = choose_runtime(speed, quality, "detect")
    assert runtime == "onnx"
    assert "onnx-int8 (person_ap50 -0.0003, ball_recall -0.0222)" in why


def test_int8_within_tolerance_wins_the_detector_and_is_ignored_for_calibration():
    speed = {"torch": 500.0, "onnx": 270.0, "onnx-int8": 107.0}
    quality = {"torch": TORCH, "onnx": dict(TORCH), "onnx-int8": {"person_ap50": 0.9669, "ball_recall": 0.7333}}
    assert choose_runtime(speed, quality, "detect")[0] == "onnx-int8"
    # The keypoint model has no int8 version: its speed table has no onnx-int8 and no calibration figures.
    assert choose_runtime({"torch": 300.0, "onnx": 60.0}, quality, "calibrate")[0] == "onnx"
