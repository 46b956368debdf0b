"""Nothing foreign runs: every checkpoint is scanned against an allow-list, then loaded weights_only.

Real files throughout: pickles whose payload would create a marker file, a truncated copy of the
shipped detector, random bytes, and the shipped models themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from soccerfactory.curation.bundled import bundled_weights
from soccerfactory.curation.safe_load import (
    STATE_DICT,
    YOLO_MODEL,
    UnsafeCheckpointError,
    check_checkpoint,
    load_state,
    load_yolo,
)


class _Payload:
    """Unpickled unrestricted, this runs a shell command (what a hostile .pt file does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _GetattrGadget:
    """Unpickled, calls ``getattr(torch.nn.Module, "__init__")``: harmless itself, but ``getattr``
    chains are how payloads reach ``os`` through allowed classes, so the global must be refused."""

    def __reduce__(self):
        return (getattr, (torch.nn.Module, "__init__"))


def evil_checkpoint(path: Path, marker: Path) -> Path:
    """A torch.save file whose unrestricted load runs ``touch marker``."""
    torch.save({"model": _Payload(marker), "note": "looks like a checkpoint"}, path)
    return path


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "payload-ran"
    yield path
    assert not path.exists(), "the pickled payload ran"


def test_shipped_models_pass_their_allow_lists():
    check_checkpoint(bundled_weights("detector.pt"), "detector", YOLO_MODEL)
    check_checkpoint(bundled_weights("pitch-keypoints-heatmap.pt"), "keypoints", STATE_DICT)
    state = load_state(bundled_weights("pitch-keypoints-heatmap.pt"), "keypoints")
    assert "state_dict" in state


@pytest.mark.parametrize("kind", [YOLO_MODEL, STATE_DICT])
def test_a_pickled_payload_is_refused_before_anything_runs(tmp_path, marker, kind):
    path = evil_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(UnsafeCheckpointError) as error:
        check_checkpoint(path, "detect.weights (detector)", kind)
    message = str(error.value)
    assert str(path) in message and "system" in message and "\n" not in message
    with pytest.raises(UnsafeCheckpointError, match="evil.pt"):
        load_state(path, "checkpoint")


def test_getattr_is_not_allowed_even_for_ultralytics_files(tmp_path):
    path = tmp_path / "gadget.pt"
    torch.save({"model": _GetattrGadget()}, path)
    with pytest.raises(UnsafeCheckpointError, match="builtins.getattr"):
        check_checkpoint(path, "detector", YOLO_MODEL)


class _CallsAllowedLookingClass:
    """Unpickled, *calls* a class by name with chosen arguments (weights_only permits calling any
    allowed global), which for these two would download weights or a text model."""

    def __init__(self, target) -> None:
        self.target = target

    def __reduce__(self):
        return (self.target, ("resnet18", "DEFAULT"))


@pytest.mark.parametrize("name", ["ultralytics.nn.modules.block.TorchVision", "ultralytics.nn.tasks.WorldModel"])
def test_only_the_needed_ultralytics_classes_are_allowed(tmp_path, name):
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    import importlib

    module, _, attribute = name.rpartition(".")
    path = tmp_path / "calls.pt"
    torch.save({"model": _CallsAllowedLookingClass(getattr(importlib.import_module(module), attribute))}, path)
    with pytest.raises(UnsafeCheckpointError, match=name.replace(".", r"\.")):
        check_checkpoint(path, "detector", YOLO_MODEL)


def test_a_state_dict_may_not_carry_model_classes():
    # The detector pickles nn.Module objects: fine for ultralytics, not for a plain weights file.
    with pytest.raises(UnsafeCheckpointError, match="torch.nn.modules"):
        check_checkpoint(bundled_weights("detector.pt"), "calibrate.weights", STATE_DICT)


@pytest.mark.parametrize("damage", ["truncated", "random", "legacy", "empty"])
def test_damaged_or_foreign_files_are_refused_by_name(tmp_path, damage):
    path = tmp_path / f"{damage}.pt"
    if damage == "truncated":
        data = bundled_weights("detector.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        path.write_bytes(os.urandom(4096))
    elif damage == "legacy":  # pre-1.6 format: not a zip archive, no scan possible
        torch.save({"w": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(b"")
    with pytest.raises(UnsafeCheckpointError, match=f"{damage}.pt is not a readable PyTorch checkpoint"):
        check_checkpoint(path, "detect.weights (detector)", YOLO_MODEL)


def test_ultralytics_files_must_be_pt(tmp_path):
    # Other suffixes make ultralytics pick another runtime (ONNX, TorchScript, Triton) instead.
    path = tmp_path / "detector.onnx"
    shutil.copyfile(bundled_weights("detector.pt"), path)
    with pytest.raises(UnsafeCheckpointError, match=r"must be an ultralytics \.pt checkpoint"):
        load_yolo(path, "detector", task="detect")


def test_shipped_detector_loads_through_the_safe_path():
    model = load_yolo(bundled_weights("detector.pt"), "detector", task="detect")
    assert sorted(model.names.values()) == ["ball", "goalkeeper", "player", "referee"]


def test_ultralytics_itself_loads_weights_only_when_the_scan_is_bypassed(tmp_path):
    """The second gate alone: ultralytics' own loader, called directly in a fresh interpreter."""
    marker = tmp_path / "payload-ran"
    path = evil_checkpoint(tmp_path / "evil.pt", marker)
    code = textwrap.dedent(
        f"""
        from soccerfactory.curation.runtime import prepare_vision_runtime, ultralytics_loads_safely
        prepare_vision_runtime({str(tmp_path / "yolo")!r})
        assert ultralytics_loads_safely()
        from ultralytics import YOLO
        try:
            YOLO({str(path)!r}, task="detect")
        except Exception as error:
            print("refused:", type(error).__name__)
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "ULTRALYTICS_SAFE_LOAD"}
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "refused:" in completed.stdout
    assert not marker.exists(), "ultralytics ran the pickled payload"


def test_safe_mode_is_switched_on_even_when_ultralytics_was_imported_first(tmp_path):
    code = textwrap.dedent(
        f"""
        import os
        os.environ.pop("ULTRALYTICS_SAFE_LOAD", None)
        os.environ["YOLO_CONFIG_DIR"] = {str(tmp_path / "yolo")!r}
        os.environ["YOLO_OFFLINE"] = "1"
        import ultralytics.nn.tasks as tasks
        before = tasks.SAFE_LOAD
        from soccerfactory.curation.runtime import prepare_vision_runtime, ultralytics_loads_safely
        prepare_vision_runtime({str(tmp_path / "yolo")!r})
        print(before, ultralytics_loads_safely())
        """
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split()[-2:] == ["False", "True"]


def test_the_scan_does_not_depend_on_what_this_process_loaded_before():
    # ultralytics' safe mode registers every class it loads with torch.serialization.add_safe_globals
    # for the life of the process; torch's public scan would then stop reporting them, and a
    # state-dict file carrying nn.Module classes would pass once any detector had been loaded.
    from soccerfactory.curation.safe_load import load_yolo

    load_yolo(bundled_weights("detector.pt"), "detect.weights (detector)", "detect")
    with pytest.raises(UnsafeCheckpointError, match="torch.nn.modules"):
        check_checkpoint(bundled_weights("detector.pt"), "calibrate.weights", STATE_DICT)


@pytest.mark.parametrize("alias", [False, True])
def test_a_denied_layer_is_refused_under_its_re_exported_name_too(tmp_path, alias):
    # ultralytics.nn.modules re-exports TorchVision, whose constructor downloads weights; a pickle
    # naming it by the package's alias once passed the deny-list of (canonical) names.
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics.nn.modules.block import TorchVision

    class Payload:
        def __reduce__(self):
            return (TorchVision, ("resnet18", "DEFAULT"))

    path, module = tmp_path / "layer.pt", TorchVision.__module__
    if alias:
        TorchVision.__module__ = "ultralytics.nn.modules"
    try:
        torch.save({"model": Payload()}, path)
    finally:
        TorchVision.__module__ = module
    with pytest.raises(UnsafeCheckpointError, match="TorchVision"):
        check_checkpoint(path, "detect.weights (detector)", YOLO_MODEL)
