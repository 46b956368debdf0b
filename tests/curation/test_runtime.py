"""The vision runtime shims: torchvision's NMS in pure torch, and ultralytics kept offline.

Import order is what these shims are about, so everything that depends on it runs in a fresh
interpreter (``sys.executable -c``); the NMS arithmetic is checked in-process against a greedy
reference that follows torchvision's CPU kernel operation by operation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from soccerfactory.curation import runtime
from soccerfactory.curation.runtime import (
    configure_offline_ultralytics,
    register_torchvision_cpu_ops,
    torchvision_ops_are_native,
)

# --------------------------------------------------------------------------------------------------
# Fresh-interpreter helpers
# --------------------------------------------------------------------------------------------------

_RESULT_MARKER = "RESULT_JSON="

# Any attempt to open a connection is recorded and refused. The record is printed even when the
# code under test swallows the refusal, which is what libraries probing for the network do.
_NETWORK_GUARD = """
import json as _json, socket as _socket
_network_calls = []

def _refuse(name):
    def refuse(*args, **kwargs):
        shown = args[1:] if name.startswith("socket.socket.") else args
        _network_calls.append(f"{name}{shown!r}"[:300])
        raise OSError(f"network disabled by the test: {name}")
    return refuse

_socket.socket.connect = _refuse("socket.socket.connect")
_socket.socket.connect_ex = _refuse("socket.socket.connect_ex")
_socket.create_connection = _refuse("socket.create_connection")
_socket.getaddrinfo = _refuse("socket.getaddrinfo")
result = {}
"""


def run_python(code: str, *, cwd: Path, env: dict[str, str] | None = None, guard: bool = False, timeout: float = 120):
    """Run ``code`` in a new interpreter; returns (completed process, the dict it left in ``result``)."""
    body = textwrap.dedent(code)
    if guard:
        body = (
            textwrap.dedent(_NETWORK_GUARD)
            + "try:\n"
            + textwrap.indent(body, "    ")
            + "\nfinally:\n"
            + "    result['network_calls'] = _network_calls\n"
            + f"    print({_RESULT_MARKER!r} + _json.dumps(result, default=str), flush=True)\n"
        )
    else:
        body = (
            "import json as _json\nresult = {}\n"
            + body
            + f"\nprint({_RESULT_MARKER!r} + _json.dumps(result, default=str), flush=True)\n"
        )
    completed = subprocess.run(
        [sys.executable, "-c", body],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    reported = {}
    for line in completed.stdout.splitlines():
        if line.startswith(_RESULT_MARKER):
            reported = json.loads(line[len(_RESULT_MARKER) :])
    return completed, reported


def _explain(completed: subprocess.CompletedProcess) -> str:
    return f"exit {completed.returncode}\nstdout:\n{completed.stdout[-3000:]}\nstderr:\n{completed.stderr[-3000:]}"


# --------------------------------------------------------------------------------------------------
# torchvision import order
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shimmed_interpreter(tmp_path_factory):
    """What a fresh interpreter sees when it registers the shim before ``import torchvision``."""
    completed, result = run_python(
        """
        from soccerfactory.curation.runtime import register_torchvision_cpu_ops, torchvision_ops_are_native
        result["registered"] = register_torchvision_cpu_ops()
        result["registered_again"] = register_torchvision_cpu_ops()
        result["native"] = torchvision_ops_are_native()
        import torch, torchvision
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
        scores = torch.tensor([0.9, 0.8, 0.7])
        result["keep"] = torchvision.ops.nms(boxes, scores, 0.5).tolist()
        result["batched"] = torchvision.ops.batched_nms(boxes, scores, torch.tensor([0, 1, 0]), 0.5).tolist()
        """,
        cwd=tmp_path_factory.mktemp("shim"),
    )
    assert completed.returncode == 0, _explain(completed)
    return result


def test_import_torchvision_fails_without_the_shim(shimmed_interpreter, tmp_path):
    if shimmed_interpreter["native"]:
        pytest.skip(
            "torchvision's compiled ops load on this machine (a matching torch/torchvision build, such as "
            "the CUDA install), so a plain `import torchvision` succeeds and there is no failure to check"
        )
    completed, _ = run_python("import torchvision", cwd=tmp_path)
    assert completed.returncode != 0, "import torchvision unexpectedly worked without the shim"
    assert "RuntimeError" in completed.stderr and "torchvision::nms" in completed.stderr, _explain(completed)


def test_import_torchvision_works_after_registering_the_shim(shimmed_interpreter):
    native = shimmed_interpreter["native"]
    assert shimmed_interpreter["registered"] is (not native)
    assert shimmed_interpreter["registered_again"] is False, "a second call must be a no-op"
    assert shimmed_interpreter["keep"] == [0, 2]
    assert shimmed_interpreter["batched"] == [0, 1, 2]


# --------------------------------------------------------------------------------------------------
# NMS against a brute-force reference
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torchvision_ops():
    register_torchvision_cpu_ops()
    import torchvision

    return torchvision.ops


def reference_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy NMS one pair at a time, in the boxes' own precision like torchvision's kernel.

    Order: decreasing score, ties by lower index. A box is dropped when its IoU with a kept box,
    computed as ``inter / (area_i + area_j - inter)`` in the input dtype, is strictly greater than the
    threshold compared as a double.
    """
    dtype = boxes.dtype.type
    count = len(boxes)
    order = sorted(range(count), key=lambda index: (-float(scores[index]), index))
    areas = [(box[2] - box[0]) * (box[3] - box[1]) for box in boxes]
    suppressed = [False] * count
    keep = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for position, i in enumerate(order):
            if suppressed[i]:
                continue
            keep.append(i)
            for j in order[position + 1 :]:
                if suppressed[j]:
                    continue
                width = max(dtype(0), min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
                height = max(dtype(0), min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
                inter = width * height
                overlap = inter / (areas[i] + areas[j] - inter)
                if float(overlap) > iou_threshold:
                    suppressed[j] = True
    return keep


def random_boxes(seed: int, count: int, dtype=np.float32, integer: bool = False, tie_levels: int | None = None):
    rng = np.random.default_rng(seed)
    if integer:  # small grid: many exactly equal IoUs, including IoU exactly at the thresholds
        corner = rng.integers(0, 12, size=(count, 2))
        size = rng.integers(1, 8, size=(count, 2))
    else:  # clustered, so most boxes overlap several others
        corner = rng.uniform(0, 60, size=(count, 2))
        size = rng.uniform(4, 40, size=(count, 2))
    boxes = np.concatenate([corner, corner + size], axis=1).astype(dtype)
    scores = rng.uniform(0, 1, size=count)
    if tie_levels:
        scores = np.floor(scores * tie_levels) / tie_levels
    return boxes, scores.astype(dtype)


def check_nms(nms, boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> torch.Tensor:
    keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou_threshold)
    assert keep.dtype == torch.int64
    assert keep.tolist() == reference_nms(boxes, scores, iou_threshold)
    kept_scores = scores[keep.numpy()]
    assert np.all(np.diff(kept_scores) <= 0), "indices must come in decreasing score order"
    return keep


THRESHOLDS = (0.3, 0.5, 0.7)


@pytest.mark.parametrize("iou_threshold", THRESHOLDS)
@pytest.mark.parametrize("seed", range(4))
def test_nms_matches_reference_on_random_boxes(torchvision_ops, seed, iou_threshold):
    boxes, scores = random_boxes(seed, 120)
    check_nms(torchvision_ops.nms, boxes, scores, iou_threshold)
    check_nms(runtime._nms_keep, boxes, scores, iou_threshold)


@pytest.mark.parametrize("iou_threshold", THRESHOLDS)
@pytest.mark.parametrize("seed", range(3))
def test_nms_matches_reference_with_tied_scores_and_exact_ious(torchvision_ops, seed, iou_threshold):
    boxes, scores = random_boxes(100 + seed, 90, integer=True, tie_levels=4)
    check_nms(torchvision_ops.nms, boxes, scores, iou_threshold)


@pytest.mark.parametrize("iou_threshold", THRESHOLDS)
def test_nms_matches_reference_in_double_precision(torchvision_ops, iou_threshold):
    boxes, scores = random_boxes(7, 100, dtype=np.float64)
    check_nms(torchvision_ops.nms, boxes, scores, iou_threshold)


def test_nms_compares_the_iou_with_the_threshold_as_a_double(torchvision_ops):
    # Inter 3, union 10: the float32 IoU is float32(0.3) = 0.30000001..., above the double 0.3, so
    # torchvision drops the second box; comparing against float32(0.3) would keep it. In double
    # precision the IoU is exactly 0.3 and the box stays.
    boxes = np.array([[0, 0, 6, 1], [3, 0, 10, 1]], dtype=np.float32)
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert check_nms(torchvision_ops.nms, boxes, scores, 0.3).tolist() == [0]
    assert check_nms(torchvision_ops.nms, boxes.astype(np.float64), scores.astype(np.float64), 0.3).tolist() == [0, 1]
    # An IoU of exactly 0.5 is not "greater than" 0.5; an identical box (IoU 1) always is.
    half = np.array([[0, 0, 4, 1], [0, 0, 2, 1], [0, 0, 4, 1]], dtype=np.float32)
    half_scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    assert check_nms(torchvision_ops.nms, half, half_scores, 0.5).tolist() == [0, 1]
    assert check_nms(torchvision_ops.nms, half, half_scores, 0.49).tolist() == [0]


def test_nms_edge_cases(torchvision_ops):
    empty = torchvision_ops.nms(torch.zeros((0, 4)), torch.zeros((0,)), 0.5)
    assert empty.dtype == torch.int64 and empty.shape == (0,)
    single = torchvision_ops.nms(torch.tensor([[1.0, 2.0, 3.0, 4.0]]), torch.tensor([0.5]), 0.5)
    assert single.tolist() == [0]
    # All scores equal: the lower index wins every tie.
    same = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [20, 20, 30, 30]], dtype=np.float32)
    assert check_nms(torchvision_ops.nms, same, np.full(4, 0.5, dtype=np.float32), 0.5).tolist() == [0, 2]
    # Degenerate boxes (zero area, union 0) never suppress anything, as in the kernel (0/0 is NaN).
    flat = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 0, 10]], dtype=np.float32)
    assert check_nms(torchvision_ops.nms, flat, np.array([0.3, 0.2, 0.1], dtype=np.float32), 0.5).tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError, match="4 elements in dimension 1"):
        torchvision_ops.nms(torch.zeros((3, 5)), torch.zeros((3,)), 0.5)
    with pytest.raises(RuntimeError, match="same number of elements"):
        torchvision_ops.nms(torch.zeros((3, 4)), torch.zeros((2,)), 0.5)


def test_nms_handles_half_precision_like_float(torchvision_ops):
    boxes, scores = random_boxes(11, 60)
    half = torchvision_ops.nms(torch.from_numpy(boxes).half(), torch.from_numpy(scores).half(), 0.5)
    expected = reference_nms(
        torch.from_numpy(boxes).half().float().numpy(), torch.from_numpy(scores).half().float().numpy(), 0.5
    )
    if torchvision_ops_are_native():
        pytest.skip("the compiled CPU kernel has no half-precision implementation")
    assert half.tolist() == expected


def reference_batched(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> set[int]:
    kept: set[int] = set()
    for label in np.unique(classes):
        members = np.flatnonzero(classes == label)
        kept.update(int(members[i]) for i in reference_nms(boxes[members], scores[members], iou_threshold))
    return kept


@pytest.mark.parametrize("iou_threshold", THRESHOLDS)
def test_batched_nms_matches_per_class_reference(torchvision_ops, iou_threshold):
    boxes, scores = random_boxes(21, 150)
    classes = np.random.default_rng(21).integers(0, 4, size=len(boxes))
    keep = torchvision_ops.batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou_threshold
    )
    assert keep.dtype == torch.int64
    assert set(keep.tolist()) == reference_batched(boxes, scores, classes, iou_threshold)
    assert np.all(np.diff(scores[keep.numpy()]) <= 0)


def test_batched_nms_large_input_takes_the_coordinate_trick_path(torchvision_ops):
    # Above 4000 boxes on CPU torchvision offsets each class instead of looping over classes; both
    # paths call the same nms. Integer coordinates keep the offsets exact, so the results agree.
    from torchvision.ops import boxes as box_ops

    rng = np.random.default_rng(5)
    corner = rng.integers(0, 400, size=(4500, 2))
    boxes = torch.from_numpy(np.concatenate([corner, corner + rng.integers(4, 40, size=(4500, 2))], axis=1)).float()
    scores = torch.from_numpy(rng.uniform(size=4500)).float()
    classes = torch.from_numpy(rng.integers(0, 3, size=4500))
    keep = torchvision_ops.batched_nms(boxes, scores, classes, 0.5)
    vanilla = box_ops._batched_nms_vanilla(boxes, scores, classes, 0.5)
    assert set(keep.tolist()) == set(vanilla.tolist())
    assert len(keep) > 100


def test_quantized_nms_matches_reference_on_the_integer_values(torchvision_ops):
    boxes, scores = random_boxes(31, 80, integer=True)
    with warnings.catch_warnings():
        # Quantised tensor creation is deprecated in torch 2.13 and warns; that is not under test.
        warnings.simplefilter("ignore", UserWarning)
        quantized_boxes = torch.quantize_per_tensor(torch.from_numpy(boxes * 2), 0.5, 3, torch.quint8)
        quantized_scores = torch.quantize_per_tensor(torch.from_numpy(scores), 1 / 256, 0, torch.quint8)
    int_boxes = quantized_boxes.int_repr().numpy().astype(np.float32)
    int_scores = quantized_scores.int_repr().numpy().astype(np.float32)
    for iou_threshold in THRESHOLDS:
        expected = reference_nms(int_boxes, int_scores, iou_threshold)
        # torchvision routes quantised tensors through ``nms`` (its QuantizedCPU kernel).
        assert torchvision_ops.nms(quantized_boxes, quantized_scores, iou_threshold).tolist() == expected
        if not torchvision_ops_are_native():  # ``qnms`` exists only as this module's alias
            assert torch.ops.torchvision.qnms(quantized_boxes, quantized_scores, iou_threshold).tolist() == expected


def test_in_process_registration_is_reported(torchvision_ops):
    # Either the compiled ops loaded (native) or this module registered its own, never neither.
    assert torchvision_ops_are_native() is (runtime._registered_library is None)
    assert register_torchvision_cpu_ops() is False


# --------------------------------------------------------------------------------------------------
# ultralytics offline
# --------------------------------------------------------------------------------------------------


def _is_truetype(path: Path) -> bool:
    return path.read_bytes()[:4] in (b"\x00\x01\x00\x00", b"true")


def test_configure_offline_ultralytics_sets_env_and_places_fonts(tmp_path, monkeypatch):
    # configure_offline_ultralytics writes os.environ; monkeypatch puts the session's values back.
    monkeypatch.setenv("YOLO_OFFLINE", os.environ.get("YOLO_OFFLINE", ""))
    monkeypatch.setenv("YOLO_CONFIG_DIR", os.environ.get("YOLO_CONFIG_DIR", ""))
    directory = configure_offline_ultralytics(tmp_path / "yolo")
    assert directory == (tmp_path / "yolo").resolve()
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_CONFIG_DIR"] == str(directory)
    # ultralytics' USER_CONFIG_DIR is $YOLO_CONFIG_DIR/Ultralytics.
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        font = directory / "Ultralytics" / name
        assert font.is_file() and _is_truetype(font), font
    # Calling again keeps what is there.
    stamp = (directory / "Ultralytics" / "Arial.ttf").stat().st_mtime_ns
    configure_offline_ultralytics(tmp_path / "yolo")
    assert (directory / "Ultralytics" / "Arial.ttf").stat().st_mtime_ns == stamp


def test_check_font_finds_the_local_font_without_network(tmp_path):
    config_dir = tmp_path / "yolo"
    completed, result = run_python(
        f"""
        from soccerfactory.curation.runtime import configure_offline_ultralytics, register_torchvision_cpu_ops
        configure_offline_ultralytics({str(config_dir)!r})
        register_torchvision_cpu_ops()
        from ultralytics.utils import USER_CONFIG_DIR
        from ultralytics.utils.checks import check_font
        result["user_config_dir"] = str(USER_CONFIG_DIR)
        result["arial"] = str(check_font("Arial.ttf"))
        result["unicode"] = str(check_font("Arial.Unicode.ttf"))
        """,
        cwd=tmp_path,
        env={"YOLO_CONFIG_DIR": str(config_dir), "MPLCONFIGDIR": str(tmp_path / "mpl")},
        guard=True,
    )
    assert completed.returncode == 0, _explain(completed)
    assert result["network_calls"] == []
    font_dir = config_dir.resolve() / "Ultralytics"
    assert result["user_config_dir"] == str(font_dir)
    assert result["arial"] == str(font_dir / "Arial.ttf")
    assert result["unicode"] == str(font_dir / "Arial.Unicode.ttf")
    assert _is_truetype(Path(result["arial"]))


def test_yolo_from_yaml_predicts_offline_end_to_end(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    completed, result = run_python(
        f"""
        import time
        started = time.perf_counter()
        from soccerfactory.curation.runtime import prepare_vision_runtime, torchvision_ops_are_native
        prepare_vision_runtime({str(tmp_path / "yolo")!r})
        import numpy as np
        from ultralytics import YOLO
        from ultralytics.utils import SETTINGS

        model = YOLO("yolov8n.yaml")  # architecture only: random weights, nothing to download
        image = np.random.default_rng(0).integers(0, 255, size=(320, 320, 3), dtype=np.uint8)
        predictions = model.predict(image, imgsz=320, verbose=False)
        result["predictions"] = len(predictions)
        result["boxes_shape"] = list(predictions[0].boxes.data.shape)
        result["sync"] = SETTINGS["sync"]
        result["native_ops"] = torchvision_ops_are_native()
        result["seconds"] = time.perf_counter() - started
        """,
        cwd=tmp_path,
        # A throwaway HOME: nothing may be written to the user's home either.
        env={"HOME": str(home), "MPLCONFIGDIR": str(tmp_path / "mpl")},
        guard=True,
        timeout=180,
    )
    assert completed.returncode == 0, _explain(completed)
    assert result["network_calls"] == [], result["network_calls"]
    assert result["predictions"] == 1
    assert result["boxes_shape"][1] == 6  # xyxy, confidence, class
    assert result["sync"] is False
    assert sorted(path.name for path in home.iterdir()) == [], "wrote to HOME"
    assert not (tmp_path / "yolov8n.pt").exists()


def test_loading_the_backends_is_quiet_and_leaves_no_yolo_folder_in_the_working_folder(tmp_path):
    """A user's first curate: no ultralytics banner or `nc` override line, no tracker settings
    block, and the ultralytics config lands in the user cache, not where the command was typed."""
    env = {k: v for k, v in os.environ.items() if k not in ("YOLO_CONFIG_DIR", "YOLO_VERBOSE", "SOCCERFACTORY_VERBOSE")}
    env.update(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    code = textwrap.dedent(
        """
        from soccerfactory.curation.config import CurateConfig
        from soccerfactory.curation.stages import load_stages
        stages = load_stages(CurateConfig())
        stages.new_tracker(fps=25.0)
        print("built")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert output.strip() == "built", output
    assert not (work / ".yolo").exists() and list(work.iterdir()) == []
    assert (tmp_path / "cache" / "soccerfactory" / "ultralytics" / "Arial.ttf").is_file()
