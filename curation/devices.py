"""Compute devices of the model stages: checked before a model loads, and the precision each runs at.

A config names a device per model stage (``detect.device``, ``calibrate.device``,
``refine.device``, ``model.device``). :func:`check_device` refuses, in one line naming the config
key and what to do, a device this process cannot use: a misspelt one, ``cuda`` where torch has no
CUDA (a CPU-only wheel, or no driver), or a GPU index past the visible ones. Without it the first
clip fails deep inside torch with a traceback, after decoding has started.

On CUDA the stages run reduced precision (:func:`autocast`): fp16 for the detector and the
keypoint heatmaps, bfloat16 for SAM 2 (its authors run it so; fp16 overflows in its attention).
On the CPU nothing changes: fp32, as the figures in the README were measured.

Accepted device strings: ``cpu``, ``mps``, ``cuda``, ``cuda:N`` and, for the detector only
(ultralytics' own form), ``N`` or ``N,M``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

__all__ = ["autocast", "check_device", "is_cuda", "torch_device"]

_CUDA = re.compile(r"^cuda(:\d+)?$")
_INDICES = re.compile(r"^\d+(,\d+)*$")


def is_cuda(device: object) -> bool:
    """Whether ``device`` (``"cuda"``, ``"cuda:1"``, ``"0"``, a ``torch.device``) names a CUDA GPU."""
    text = str(device).strip().lower()
    return bool(_CUDA.match(text) or _INDICES.match(text))


def torch_device(device: object) -> str:
    """``device`` as torch spells it: ultralytics' bare ``"0"`` becomes ``"cuda:0"``; others unchanged."""
    text = str(device).strip().lower()
    return f"cuda:{text}" if text.isdigit() else str(device)


def _indices(text: str) -> list[int]:
    if _INDICES.match(text):
        return [int(part) for part in text.split(",")]
    return [int(text.split(":")[1])] if ":" in text else [0]


def check_device(device: object, key: str, *, allow_index: bool = False) -> None:
    """Refuse a device this process cannot run on, before any model loads.

    Args:
        device: The configured device string.
        key: The config key it came from (``"detect.device"``): every message starts with it.
        allow_index: Accept ultralytics' bare GPU indices (``"0"``, ``"0,1"``): the detector only;
            torch stages need ``cuda:N``.

    Raises:
        ValueError: one line naming ``key``, the value and what to set instead.
    """
    text = str(device).strip().lower()
    if text == "cpu":
        return  # no torch import: checking the default costs nothing
    forms = "cpu, cuda or cuda:N" + (" (or a bare GPU index N)" if allow_index else "")
    if text.isdigit() and not allow_index:
        raise ValueError(f"{key}={device!r} is ultralytics' GPU index form; this stage runs torch: set {key}=cuda:{text}")
    if not (text == "mps" or _CUDA.match(text) or (allow_index and _INDICES.match(text))):
        raise ValueError(f"{key}={device!r} is not a device: set {key} to one of {forms}")
    import torch

    if text == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{key}=mps but this machine has no Apple GPU (MPS) that torch can use: set {key}=cpu")
        return
    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + (" is a CPU-only build" if torch.version.cuda is None else " sees no CUDA GPU (driver or CUDA_VISIBLE_DEVICES?)")
        raise ValueError(
            f"{key}={device!r} but {build}: set {key}=cpu here, or run on a GPU worker with a CUDA build of torch "
            "(pip install torch from the PyTorch CUDA index)"
        )
    count = torch.cuda.device_count()
    past = [index for index in _indices(text) if index >= count]
    if past:
        raise ValueError(f"{key}={device!r} names GPU {past[0]} but {count} GPU(s) are visible: use cuda:0 to cuda:{count - 1}")


@contextlib.contextmanager
def autocast(device: object, dtype: str = "float16") -> Iterator[None]:
    """Mixed precision for inference on CUDA; nothing at all elsewhere (the CPU stays fp32).

    Args:
        device: The stage's device.
        dtype: ``"float16"`` (detector-style convolution nets) or ``"bfloat16"`` (SAM 2).
    """
    if not is_cuda(device):
        yield
        return
    import torch

    with torch.autocast("cuda", dtype=getattr(torch, dtype)):
        yield
