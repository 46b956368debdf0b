"""Loading model checkpoints without running code from them.

A ``.pt`` file is a pickle, and an unrestricted load (``torch.load(weights_only=False)``, what
ultralytics does by default) calls whatever the pickle names: ``--set detect.weights=evil.pt``
could run any command. Every checkpoint this project reads therefore goes through two gates:

1. :func:`check_checkpoint` reads the pickle's opcodes without executing them
   (torch's own opcode scan, against torch's default allow-list only) and refuses the file unless every
   global it names is on the allow-list of its kind. It also refuses what is not a ``torch.save``
   zip archive at all (truncated, random bytes, a legacy pickle). It reads the pickle, not the
   tensors, so ``curation.stages.check_config`` runs it on every configured model before any video
   is decoded.
2. The load itself is ``torch.load(weights_only=True)``: torch's restricted unpickler, which only
   rebuilds tensors, plain containers and explicitly allowed classes, so a file that changes
   between the scan and the load still runs nothing. Ultralytics checkpoints are loaded by
   ultralytics in its own documented safe mode (``ULTRALYTICS_SAFE_LOAD``, switched on in
   :mod:`soccerfactory.curation.runtime`), which is the same ``weights_only=True`` load against an
   allow-list of model classes; :func:`load_yolo` refuses to call it when that mode is off.

The allow-lists (found by scanning the shipped ``detector.pt``, the checkpoints a one-epoch
``train-detector`` run writes (``last.pt``, ``best.pt``, the exported ``detector.pt``), a saved
YOLOv8-pose model, the heatmap keypoint model and the multi-task model's checkpoints):

* :data:`STATE_DICT`, for the project's own files (heatmap keypoints, multi-task model and its
  backbone) and SAM 2: nothing beyond torch's ``weights_only`` defaults (tensors, ``OrderedDict``,
  numbers, strings, lists, tuples, dicts). They hold tensors and plain metadata only.
* :data:`YOLO_MODEL`, for ultralytics ``.pt`` files, which pickle the whole ``nn.Module`` tree:
  ``ultralytics.nn.tasks.DetectionModel`` and ``PoseModel`` (the two tasks the project runs), and
  layers: classes that subclass ``torch.nn.Module`` and are defined in ``torch.nn.modules.*`` or
  ``ultralytics.nn.modules.*`` (except ``TorchVision``, whose constructor downloads weights).
  Rebuilding one calls only ``cls.__new__`` and ``nn.Module.__setstate__``. No builtins or numpy
  reconstructors: none of the files above needs one (ultralytics' own list adds
  ``builtins.getattr``, numpy scalars and ``pathlib`` paths for other model families; a file that
  needs them is refused, naming them).
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import zipfile
from pathlib import Path
from typing import Any

__all__ = [
    "STATE_DICT",
    "YOLO_MODEL",
    "UnsafeCheckpointError",
    "check_checkpoint",
    "checkpoint_globals",
    "load_state",
    "load_yolo",
]

#: Kind of checkpoint: tensors and plain containers only.
STATE_DICT = "state_dict"
#: Kind of checkpoint: a pickled ultralytics model (``torch.nn.Module`` tree).
YOLO_MODEL = "yolo"

# Packages whose nn.Module subclasses (layers) an ultralytics checkpoint may rebuild. Looked up
# in sys.modules only: a checkpoint naming a module makes nothing get imported.
_YOLO_PACKAGES = ("torch.nn.modules", "ultralytics.nn.modules")
# The whole-model classes: the two tasks this project runs (detect, pose), nothing else.
_YOLO_MODELS = frozenset({"ultralytics.nn.tasks.DetectionModel", "ultralytics.nn.tasks.PoseModel"})
# weights_only lets a pickle *call* an allowed class with arguments of its choosing, not only
# rebuild it; this layer's constructor downloads torchvision weights, so it is never allowed.
_YOLO_DENIED = frozenset({"ultralytics.nn.modules.block.TorchVision"})

_NOT_A_CHECKPOINT = (
    "is not a readable PyTorch checkpoint (truncated, corrupted, or not a file written by torch.save); "
    "replace it with an intact copy of the model file"
)


class UnsafeCheckpointError(ValueError):
    """A checkpoint that is refused before loading: unreadable, or it would run code."""


def checkpoint_globals(source: str | os.PathLike | bytes) -> list[str]:
    """The globals (``module.name``) a ``torch.save`` file's pickle references, beyond torch's safe defaults.

    Reads the pickle opcodes only; nothing named is imported or called.

    Args:
        source: Path of the file, or its bytes.

    Raises:
        RuntimeError: this torch cannot scan checkpoints (needs torch >= 2.6).
        ValueError / RuntimeError / OSError: from torch or the file system when the file is not a
            readable ``torch.save`` zip archive (see :func:`check_checkpoint` for a clean message).
    """
    import torch

    unpickler = getattr(torch, "_weights_only_unpickler", None)
    if not hasattr(unpickler, "get_globals_in_pkl") or not hasattr(unpickler, "_get_allowed_globals"):
        raise RuntimeError(f"torch {torch.__version__} cannot check checkpoints before loading them; install torch >= 2.6")
    # Not torch.serialization.get_unsafe_globals_in_checkpoint: it also leaves out every global
    # that code in this process registered with add_safe_globals, and ultralytics' safe mode
    # registers each model class it loads for the life of the process. After one detector load, a
    # "state dict" naming nn.Module classes would pass that scan (seen in the test suite), so the
    # answer would depend on what ran before. This is the same opcode scan (torch's own
    # get_globals_in_pkl over the archive's data.pkl) against torch's defaults only.
    with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else Path(source)) as archive:
        names = archive.namelist()
        if any(n.endswith("/constants.pkl") for n in names):
            raise ValueError("a TorchScript archive, not a torch.save checkpoint")
        pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError("no data.pkl record: not a torch.save checkpoint")
        found = unpickler.get_globals_in_pkl(io.BytesIO(archive.read(pickles[0])))
    return sorted(set(found) - set(unpickler._get_allowed_globals()))


def _allowed_yolo_global(name: str) -> bool:
    import torch

    module_name, _, attribute = name.rpartition(".")
    if name in _YOLO_DENIED:
        return False
    if name not in _YOLO_MODELS and not any(module_name == p or module_name.startswith(p + ".") for p in _YOLO_PACKAGES):
        return False
    module = sys.modules.get(module_name)
    obj = getattr(module, attribute, None) if module is not None else None
    # Only a class's own name (where it is defined) passes: packages re-export classes, and an
    # alias such as ``ultralytics.nn.modules.TorchVision`` would slip past a deny-list of names.
    canonical = isinstance(obj, type) and obj.__module__ == module_name and obj.__qualname__ == attribute
    return canonical and issubclass(obj, torch.nn.Module)


def _refused(names: list[str], kind: str) -> list[str]:
    if kind == STATE_DICT:
        return names
    if kind == YOLO_MODEL:
        if any(n.startswith("ultralytics.") for n in names):
            # The modules the allow-list looks classes up in; importing them runs only installed
            # code, after the offline settings that must precede any ultralytics import.
            from soccerfactory.curation.runtime import prepare_vision_runtime

            prepare_vision_runtime()
            import ultralytics.nn.tasks  # noqa: F401
        return [n for n in names if not _allowed_yolo_global(n)]
    raise ValueError(f"unknown checkpoint kind {kind!r}; expected {STATE_DICT!r} or {YOLO_MODEL!r}")


def check_checkpoint(
    source: str | os.PathLike | bytes, what: str, kind: str = STATE_DICT, name: str | None = None
) -> str | os.PathLike | bytes:
    """Refuse a checkpoint that cannot be read or would run code when loaded; return ``source``.

    Args:
        source: Path of the file, or its bytes.
        what: What the file is for, e.g. ``"detect.weights (detector)"``; starts the message.
        kind: :data:`STATE_DICT` or :data:`YOLO_MODEL`: which allow-list applies.
        name: How to name the file in messages (default: the path).

    Raises:
        UnsafeCheckpointError: one line naming the file, what is wrong and what to do.
    """
    label = name or str(source if not isinstance(source, bytes) else "<bytes>")
    if kind == YOLO_MODEL and not isinstance(source, bytes) and Path(source).suffix != ".pt":
        # ultralytics treats any other suffix as an exported model (ONNX, TorchScript, a Triton
        # URL, ...) and hands it to another runtime instead of a weights_only load.
        raise UnsafeCheckpointError(f"{what} {label} must be an ultralytics .pt checkpoint; got a {Path(source).suffix or 'suffix-less'} file")
    try:
        names = checkpoint_globals(source)
    except OSError as error:
        raise UnsafeCheckpointError(f"{what} {label} cannot be read ({error.strerror or error}); check the path and its permissions") from None
    except RuntimeError as error:
        if "torch >= 2.6" in str(error):
            raise
        raise UnsafeCheckpointError(f"{what} {label} {_NOT_A_CHECKPOINT}") from None
    except Exception:  # noqa: BLE001  (a malformed pickle fails in many ways; all mean the same to the user)
        raise UnsafeCheckpointError(f"{what} {label} {_NOT_A_CHECKPOINT}") from None
    refused = _refused(names, kind)
    if refused:
        shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        allowed = "tensors and plain containers" if kind == STATE_DICT else "torch.nn / ultralytics.nn model classes"
        raise UnsafeCheckpointError(
            f"{what} {label} is refused: loading it would call {shown}, and only {allowed} are allowed; "
            "use a model file from a trusted source (or re-save just its state_dict)"
        )
    return source


def load_state(
    source: str | os.PathLike | bytes, what: str, map_location: Any = "cpu", name: str | None = None, mmap: bool = False
) -> Any:
    """:func:`check_checkpoint` (kind :data:`STATE_DICT`), then ``torch.load(weights_only=True)``.

    Args:
        source: Path of the file, or its bytes.
        what: What the file is for; starts error messages.
        map_location: As for ``torch.load``.
        name: How to name the file in messages (default: the path).
        mmap: Map the tensors instead of reading them (local files only): cheap when only the
            metadata is needed.

    Raises:
        UnsafeCheckpointError: the file is unreadable, refused, or torch's restricted load fails.
    """
    import torch

    check_checkpoint(source, what, STATE_DICT, name=name)
    label = name or str(source if not isinstance(source, bytes) else "<bytes>")
    target = io.BytesIO(source) if isinstance(source, bytes) else Path(source)
    try:
        return torch.load(target, map_location=map_location, weights_only=True, mmap=mmap and not isinstance(source, bytes))
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UnsafeCheckpointError(f"{what} {label} could not be loaded safely ({first[:200]}); replace it with an intact, trusted copy") from None


def load_yolo(weights: str | os.PathLike, what: str, task: str):
    """An ultralytics ``YOLO`` from ``weights``, checked by :func:`check_checkpoint` and loaded ``weights_only``.

    Args:
        weights: Local ``.pt`` file (already known to exist).
        what: What the file is for; starts error messages.
        task: ``"detect"`` or ``"pose"``.

    Raises:
        UnsafeCheckpointError: the file is unreadable or refused.
        RuntimeError: ultralytics' safe mode is off in this process (it would load unrestricted).
    """
    path = Path(check_checkpoint(weights, what, YOLO_MODEL))
    from soccerfactory.curation.runtime import prepare_vision_runtime, ultralytics_loads_safely

    prepare_vision_runtime()
    if not ultralytics_loads_safely():
        raise RuntimeError("ultralytics is not in weights_only mode (ULTRALYTICS_SAFE_LOAD); refusing to load " + str(path))
    from ultralytics import YOLO

    try:
        return YOLO(str(path), task=task)
    except (TypeError, pickle.UnpicklingError, EOFError) as error:
        # ultralytics reports a refused or damaged file as a TypeError whose text starts with an emoji banner.
        first = str(error).strip().splitlines()[0].replace("ERROR ❌️ ", "") if str(error).strip() else type(error).__name__
        raise UnsafeCheckpointError(f"{what} {path} could not be loaded safely: {first[:300]}") from None
