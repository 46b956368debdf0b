"""The detector on ONNX Runtime or OpenVINO: exported once from its ``.pt`` file, cached, loaded by ultralytics.

:func:`export_yolo` exports an ultralytics YOLOv8 ``.pt`` file with ultralytics' own exporter into
the shared export cache (:func:`~soccerfactory.curation.runtimes.cached_export`: keyed by the
weights' sha256, these settings and the library versions). :func:`load_exported_yolo` loads the
export with ``ultralytics.YOLO(path)``, so letterboxing, NMS and the ``Results`` are ultralytics'
own, exactly as for the ``.pt`` file, then replaces the session ultralytics opened with one whose
threads (and, for OpenVINO, precision) are set here.

Why dynamic input shapes: ultralytics letterboxes a frame to the smallest multiple of 32 around
it (a 1280x720 frame runs at 768x448) only for models that take any shape; a static export runs
every frame at its export size (768x768 for 720p: 1.7x the pixels), and the ball slices, which
run at their own native size, would be enlarged to it and see other pixels than with torch. A
dynamic graph also takes any batch (the decoder's 8 frames, a short last batch, 8 slices).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.runtimes import Export, cached_export, library_versions, onnx_session, openvino_model

__all__ = ["OPSET", "export_yolo", "load_exported_yolo"]

#: ONNX opset of the export: supported by the onnxruntime and OpenVINO the project pins, and
#: fixed so the export (and its cache key) does not follow ultralytics' choice of the day.
OPSET = 17
KIND = "detector"


@contextlib.contextmanager
def _keeping_torch_threads() -> Iterator[None]:
    """Undo ultralytics' ``select_device``, which sets the process's torch to cpu_count - 1 threads
    (1 on a 2-core machine) whenever it exports or builds a predictor."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _options(runtime: str, imgsz: int) -> dict[str, Any]:
    """ultralytics ``export`` arguments (its OpenVINO exporter converts from torch: no opset, no onnxslim)."""
    options = {"format": runtime, "imgsz": int(imgsz), "dynamic": True, "half": False, "batch": 1}
    if runtime == "onnx":
        options.update(opset=OPSET, simplify=True)
    return options


def export_yolo(weights: str | os.PathLike, runtime: str, imgsz: int = 768, cache_dir: str | os.PathLike | None = None) -> Export:
    """The cached ONNX or OpenVINO export of an ultralytics ``.pt`` detector (made now when missing).

    Args:
        weights: Local ``.pt`` file; loaded through
            :func:`~soccerfactory.curation.safe_load.load_yolo` (checked, ``weights_only``).
        runtime: ``"onnx"`` or ``"openvino"``.
        imgsz: Size the graph is traced at; the graph takes any size (see the module doc).
        cache_dir: Cache folder (default :func:`~soccerfactory.curation.runtimes.cache_root`).

    Returns:
        The entry; ``entry`` is the ``.onnx`` file or the ``*_openvino_model`` folder, ``meta``
        holds ``names`` (class id -> name) and ``stride``.
    """
    if runtime not in ("onnx", "openvino"):
        raise ValueError(f"detector export runtime must be 'onnx' or 'openvino', got {runtime!r}")

    def export(copy: Path, out: Path) -> tuple[str, dict]:
        from soccerfactory.curation.runtime import configure_offline_openvino, configure_offline_ultralytics_exports
        from soccerfactory.curation.safe_load import load_yolo

        configure_offline_openvino()
        configure_offline_ultralytics_exports()
        model = load_yolo(copy, "detector weights", task="detect")
        names = {int(k): str(v) for k, v in model.names.items()}
        with _keeping_torch_threads():
            produced = model.export(**_options(runtime, imgsz), device="cpu", verbose=False)
        if not produced:
            raise RuntimeError(f"ultralytics could not export {copy.name} to {runtime} (see its log above)")
        return Path(produced).resolve().relative_to(out.resolve()).as_posix(), {"names": names}

    versions = library_versions(runtime, extra=("ultralytics", "onnxslim"))
    return cached_export(weights, KIND, runtime, _options(runtime, imgsz), export, versions=versions, cache_dir=cache_dir)


def load_exported_yolo(
    weights: str | os.PathLike,
    runtime: str,
    imgsz: int = 768,
    threads: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Any:
    """An ``ultralytics.YOLO`` running the cached export of ``weights`` (see :func:`export_yolo`).

    The ``.pt`` file is unpickled (safely) only when the export is made; a cached export is
    loaded as data. Class names are checked against those recorded at export time, so the
    project's class mapping is the ``.pt`` file's.

    Args:
        weights: Local ``.pt`` file.
        runtime: ``"onnx"`` or ``"openvino"``.
        imgsz: As for :func:`export_yolo`.
        threads: Intra-op threads (default: half the CPUs this process may use).
        cache_dir: Cache folder.

    Raises:
        RuntimeError: the installed ultralytics keeps its session elsewhere (it changed), or the
            export's class names differ from the weights'.
    """
    from soccerfactory.curation.runtime import configure_offline_ultralytics_exports, prepare_vision_runtime

    export = export_yolo(weights, runtime, imgsz, cache_dir)
    prepare_vision_runtime()
    configure_offline_ultralytics_exports()  # its ONNX / OpenVINO loaders check requirements too
    from ultralytics import YOLO

    model = YOLO(str(export.entry), task="detect")
    # Ultralytics opens its session when it builds the predictor, on the first predict: build it
    # now (one 64x64 image), then swap in a session configured here. Its own has default threads
    # and, for OpenVINO on a CPU with AVX512-BF16/AMX, bf16 precision.
    with _keeping_torch_threads():
        model.predict(np.zeros((64, 64, 3), dtype=np.uint8), imgsz=64, device="cpu", verbose=False)
    backend = getattr(getattr(model.predictor, "model", None), "backend", None)
    if runtime == "onnx" and hasattr(backend, "session"):
        backend.session = onnx_session(export.entry, threads)
    elif runtime == "openvino" and hasattr(backend, "ov_compiled_model"):
        backend.ov_compiled_model = openvino_model(next(Path(export.entry).glob("*.xml")), threads)
    else:
        import ultralytics

        raise RuntimeError(
            f"ultralytics {ultralytics.__version__} keeps its {runtime} session elsewhere; the detector cannot set its threads "
            "(use detect.runtime=torch, or the ultralytics version in constraints.txt)"
        )
    names = {int(k): str(v) for k, v in model.names.items()}
    expected = {int(k): v for k, v in export.meta["names"].items()}
    if names != expected:
        raise RuntimeError(f"the {runtime} export {export.entry} names classes {names}, its weights {expected}; delete {export.directory}")
    return model
