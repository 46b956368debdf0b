"""The heatmap pitch keypoint network on ONNX Runtime or OpenVINO (``calibrate.runtime``).

:func:`export_keypoint_net` exports :class:`~soccerfactory.curation.calibration.heatmap_net.PitchKeypointNet`
from its ``state_dict`` file (loaded with ``weights_only=True`` by
:func:`~soccerfactory.curation.calibration.heatmap.load_keypoint_net`) into the shared export cache
(:func:`~soccerfactory.curation.runtimes.cached_export`): ONNX with ``torch.onnx.export``, and
OpenVINO IR converted from that ONNX file. :class:`ExportedKeypointNet` runs it.

The graph takes a fixed 288x512 input (:data:`~soccerfactory.curation.calibration.heatmap.INPUT_SIZE`,
every frame is resized to it) and any batch size (the detector's batches of 8 keyframes, and the
short last one).

This module does not import :mod:`~soccerfactory.curation.calibration.heatmap` (which builds
:class:`ExportedKeypointNet` for ``runtime != "torch"``): the loader and the input size come in as
arguments, so the two modules form no import cycle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.runtimes import Export, cached_export, library_versions, load_session, onnx_to_openvino

__all__ = ["OPSET", "ExportedKeypointNet", "export_keypoint_net"]

#: ONNX opset of the export (fixed: part of the cache key).
OPSET = 17
KIND = "pitch-keypoints"
_ONNX_NAME, _IR_NAME = "pitch-keypoints.onnx", "pitch-keypoints.xml"


def _json_safe(meta: dict) -> dict:
    """The entries of the checkpoint's metadata that JSON can hold (the manifest records them)."""
    safe = {}
    for key, value in meta.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        safe[str(key)] = value
    return safe


#: ``load_net(path, device) -> (PitchKeypointNet, metadata)``: :func:`~soccerfactory.curation.calibration.heatmap.load_keypoint_net`.
NetLoader = Callable[[Path, str], tuple[Any, dict]]


def _to_onnx(copy: Path, out: Path, load_net: NetLoader, input_size: tuple[int, int]) -> tuple[str, dict]:
    import torch

    net, meta = load_net(copy, "cpu")  # checked, weights_only
    width, height = input_size
    example = torch.zeros(1, 3, height, width)
    # The TorchScript-based exporter (dynamo=False): one traced graph, no external data file; the
    # batch dimension stays symbolic through the head's shape arithmetic.
    torch.onnx.export(
        net, (example,), str(out / _ONNX_NAME), dynamo=False, opset_version=OPSET, input_names=["images"],
        output_names=["heatmaps", "visibility"],
        dynamic_axes={"images": {0: "batch"}, "heatmaps": {0: "batch"}, "visibility": {0: "batch"}},
    )
    return _ONNX_NAME, {**_json_safe(meta), "n_keypoints": int(net.n_keypoints)}


def export_keypoint_net(
    weights: str | os.PathLike,
    runtime: str,
    load_net: NetLoader,
    input_size: tuple[int, int],
    cache_dir: str | os.PathLike | None = None,
) -> Export:
    """The cached ``onnx`` or ``openvino`` export of a heatmap keypoint weights file (made now when missing).

    The OpenVINO entry is converted from the ONNX entry (made first when missing too), so both
    runtimes run the same graph.

    Args:
        weights: The heatmap keypoint ``.pt`` file (a ``state_dict``).
        runtime: ``"onnx"`` or ``"openvino"``.
        load_net: Loads the network from the file (only when exporting).
        input_size: ``(width, height)`` of the network's input.
        cache_dir: Export cache folder (default :func:`~soccerfactory.curation.runtimes.cache_root`).
    """
    settings = {"input_size": list(input_size), "opset": OPSET, "dynamic_batch": True}

    def to_onnx(copy: Path, out: Path) -> tuple[str, dict]:
        return _to_onnx(copy, out, load_net, tuple(input_size))

    onnx_export = cached_export(weights, KIND, "onnx", settings, to_onnx, versions=library_versions("onnx"), cache_dir=cache_dir)
    if runtime == "onnx":
        return onnx_export
    if runtime != "openvino":
        raise ValueError(f"keypoint export runtime must be 'onnx' or 'openvino', got {runtime!r}")

    def to_ir(_copy: Path, out: Path) -> tuple[str, dict]:
        onnx_to_openvino(onnx_export.entry, out / _IR_NAME)
        return _IR_NAME, onnx_export.meta

    settings = {**settings, "from": onnx_export.directory.name, "compress_to_fp16": False}
    return cached_export(weights, KIND, "openvino", settings, to_ir, versions=library_versions("openvino"), cache_dir=cache_dir)


class ExportedKeypointNet:
    """``net(batch) -> (heatmaps, visibility)`` on ONNX Runtime or OpenVINO.

    Args:
        weights: The heatmap keypoint ``.pt`` file.
        runtime: ``"onnx"`` or ``"openvino"``.
        load_net, input_size: As for :func:`export_keypoint_net`.
        threads: Intra-op threads (default: half the CPUs this process may use).
        cache_dir: Export cache folder.
    """

    def __init__(
        self,
        weights: str | os.PathLike,
        runtime: str,
        load_net: NetLoader,
        input_size: tuple[int, int],
        threads: int | None = None,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        self.export = export_keypoint_net(weights, runtime, load_net, input_size, cache_dir)
        self.runtime = runtime
        self.meta: dict[str, Any] = self.export.meta
        self._session = load_session(runtime, self.export.entry, threads)

    def __call__(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``float32`` ``(B, 3, 288, 512)`` RGB in [0, 1] -> logits ``(B, K, 72, 128)`` and ``(B, K)``."""
        heatmaps, visibility = self._session(batch)
        return heatmaps, visibility
