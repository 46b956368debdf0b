"""The detector on ONNX Runtime or OpenVINO: exported once from its ``.pt`` file, cached, loaded by ultralytics.

``onnx-int8`` is the ``onnx`` export quantized to int8, cached as an entry of its own that names
the fp32 entry it came from. It is built by an explicit command,
``python -m soccerfactory.curation.training.quantize`` (:mod:`~soccerfactory.curation.training.quantize`:
calibration needs the real ``train`` split and a synthetic render, and takes minutes); this
module only finds it by its cache key (:func:`int8_key`) and names that command when it is
missing. Calibration batches are letterboxed exactly as ultralytics' predictor letterboxes
(:func:`letterboxed`) and the box decoding stays fp32 (:func:`float_nodes`).

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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.runtimes import (
    ONNX_RUNTIMES, Export, cached_export, cache_root, find_export, library_versions, onnx_session, openvino_model,
)

__all__ = [
    "BUNDLED_INT8", "BUNDLED_INT8_MANIFEST", "FLOAT_PARTS", "INT8", "INT8_COMMAND", "INT8_NAME", "KIND", "OPSET", "QuantizeSettings",
    "bundled_int8", "bundled_int8_settings", "export_yolo", "float_nodes", "int8_key", "letterboxed", "load_exported_yolo",
]

#: ONNX opset of the export: supported by the onnxruntime and OpenVINO the project pins, and
#: fixed so the export (and its cache key) does not follow ultralytics' choice of the day.
OPSET = 17
KIND = "detector"
INT8 = "onnx-int8"
#: File name of the int8 model inside its cache entry.
INT8_NAME = "detector-int8.onnx"
#: The command that builds the int8 detector (``--help`` says what it does).
INT8_COMMAND = "python -m soccerfactory.curation.training.quantize"
#: Which nodes stay fp32 in the int8 detector; part of the cache key (bump it when ``float_nodes`` changes).
_FLOAT_RULE = "head-decode+last-convs"
#: What :attr:`QuantizeSettings.keep_float` may name (see :func:`float_nodes`).
FLOAT_PARTS = ("last-convs", "class-branch", "head")
#: An int8 detector shipped beside ``detector.pt`` (``curation/weights/``) and its manifest, so
#: ``detect.runtime=onnx-int8`` needs neither the real train split nor a build step on a fresh
#: clone or an air-gapped machine. Written by ``INT8_COMMAND --bundle``; none ships while no int8
#: model keeps torch's ball recall on the real valid split.
BUNDLED_INT8 = "detector-int8.onnx"
BUNDLED_INT8_MANIFEST = "detector-int8.json"


@dataclass(frozen=True)
class QuantizeSettings:
    """How the int8 detector is quantized (JSON-able: part of its cache key).

    Attributes:
        train_frames: Real frames from the ``train`` split (whole frames).
        slice_frames: Further real ``train`` frames whose ball-search slices are calibrated too
            (half of them at 1280x720, half at 1920x1080: the slices run at their native size, 480
            and 704 px).
        synthetic_frames: Frames of a rendered synthetic broadcast clip.
        synthetic_seed: Seed of that clip (the dev range 400-499, never a held-out seed).
        seed: Which ``train`` frames are drawn.
        batch: Frames per calibration batch.
        per_channel: One weight scale per output channel (per tensor loses the small filters).
        method: ``onnxruntime`` calibration method. MinMax: Percentile and Entropy keep a histogram
            of every activation of every batch (the 64-frame calibration of the detector went out
            of memory at 20 GB with Percentile).
        keep_float: Which of the head's convolution branches stay fp32 besides the box decoding
            (:data:`FLOAT_PARTS`, :func:`float_nodes`).
    """

    train_frames: int = 48
    slice_frames: int = 8
    synthetic_frames: int = 16
    synthetic_seed: int = 470
    seed: int = 0
    batch: int = 4
    per_channel: bool = True
    method: str = "MinMax"
    keep_float: str = "last-convs"

    def __post_init__(self) -> None:
        if min(self.train_frames, self.slice_frames, self.synthetic_frames) < 0 or self.train_frames + self.synthetic_frames < 1:
            raise ValueError(f"calibration needs at least one whole frame, got {self}")
        if self.batch < 1:
            raise ValueError(f"batch must be at least 1, got {self.batch}")
        if not 400 <= self.synthetic_seed <= 499:
            raise ValueError(f"synthetic_seed must be a dev seed (400-499), got {self.synthetic_seed}")
        if self.method != "MinMax":
            raise ValueError(f"method must be 'MinMax' (the others hold every activation in memory), got {self.method!r}")
        if self.keep_float not in FLOAT_PARTS:
            raise ValueError(f"keep_float must be one of {', '.join(FLOAT_PARTS)}, got {self.keep_float!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def export_yolo(
    weights: str | os.PathLike, runtime: str, imgsz: int = 768, cache_dir: str | os.PathLike | None = None, quantization: Any = None,
) -> Export:
    """The cached ONNX or OpenVINO export of an ultralytics ``.pt`` detector (made now when missing).

    Args:
        weights: Local ``.pt`` file; loaded through
            :func:`~soccerfactory.curation.safe_load.load_yolo` (checked, ``weights_only``).
        runtime: ``"onnx"``, ``"openvino"`` or ``"onnx-int8"``.
        imgsz: Size the graph is traced at; the graph takes any size (see the module doc).
        cache_dir: Cache folder (default :func:`~soccerfactory.curation.runtimes.cache_root`).
        quantization: ``onnx-int8`` only: the :class:`QuantizeSettings` it was built with
            (default: their defaults, what ``detect.runtime=onnx-int8`` runs).

    Returns:
        The entry; ``entry`` is the ``.onnx`` file or the ``*_openvino_model`` folder, ``meta``
        holds ``names`` (class id -> name) and ``stride``; for ``onnx-int8`` also
        ``calibration`` (the train files and synthetic seed it was calibrated on).

    Raises:
        FileNotFoundError: ``onnx-int8`` not built yet (one line naming :data:`INT8_COMMAND`):
            it is never quantized here.
    """
    if runtime == INT8:
        return _find_int8(weights, imgsz, cache_dir, quantization)
    if runtime not in ("onnx", "openvino"):
        raise ValueError(f"detector export runtime must be 'onnx', 'openvino' or '{INT8}', got {runtime!r}")

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
        runtime: ``"onnx"``, ``"openvino"`` or ``"onnx-int8"``.
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
    if runtime in ONNX_RUNTIMES and hasattr(backend, "session"):
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


def letterboxed(images: list[np.ndarray], imgsz: int, stride: int = 32) -> np.ndarray:
    """The detector's input for ``images`` as ultralytics' predictor makes it for a dynamic graph.

    Args:
        images: ``uint8`` ``(H, W, 3)`` BGR images.
        imgsz: Inference size (long side).
        stride: The model's largest stride.

    Returns:
        ``float32`` ``(N, 3, h, w)`` RGB in [0, 1]; images of one shape keep their aspect (``h``,
        ``w`` multiples of ``stride``), mixed shapes are padded to ``imgsz x imgsz``.
    """
    from ultralytics.data.augment import LetterBox

    same = len({image.shape for image in images}) == 1
    letterbox = LetterBox((int(imgsz), int(imgsz)), auto=same, stride=stride)
    batch = np.stack([letterbox(image=image) for image in images])[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / 255.0


def float_nodes(graph: Any, keep: str = "last-convs") -> list[str]:
    """The nodes of an ultralytics YOLOv8 detector graph that stay fp32 in its int8 version.

    The head (the module that writes the output) concatenates decoded boxes, pixels up to
    ``imgsz``, with class scores in [0, 1] into one tensor: one uint8 scale cannot hold both, so
    everything of the head after its convolution branches stays fp32 (distribution focal loss,
    anchors, sigmoid, concatenations), and so do the last 1x1 convolution of each branch (the box
    distributions and class logits). Measured on the real valid split (49 frames, 45 balls, one
    run each): quantizing those last convolutions too found 31 balls with slices against torch's
    33; keeping them fp32, 32.

    ``keep="class-branch"`` keeps the whole class branch (``cv3``, every scale) fp32 too, and
    ``keep="head"`` every branch: experiments, not the default. On 200 real train frames with a ball
    (outside the calibration set, the best ball per frame at ``detect.conf``, one run) they found 59
    balls, like fp32, against 64 for ``last-convs`` (none of fp32's lost), at 1.3x / 1.4x its time.

    Args:
        graph: ``onnx.GraphProto`` of the (pre-processed) fp32 export.
        keep: One of :data:`FLOAT_PARTS`.
    """
    import re

    if keep not in FLOAT_PARTS:
        raise ValueError(f"keep must be one of {', '.join(FLOAT_PARTS)}, got {keep!r}")
    producer = {output: node for node in graph.node for output in node.output}
    head = producer[graph.output[0].name].name.rsplit("/", 1)[0] + "/"  # "/model.22/"
    branch = re.compile(re.escape(head) + r"cv[23]\.\d+/")
    last_conv = re.compile(re.escape(head) + r"cv[23]\.\d+/cv[23]\.\d+\.2/Conv")
    whole = {"last-convs": None, "class-branch": re.compile(re.escape(head) + r"cv3\.\d+/"), "head": branch}[keep]
    return [
        node.name for node in graph.node
        if node.name.startswith(head)
        and (not branch.match(node.name) or last_conv.fullmatch(node.name) or (whole is not None and whole.match(node.name)))
    ]


def int8_key(
    weights: str | os.PathLike, imgsz: int, cache_dir: str | os.PathLike | None = None, quantization: QuantizeSettings | None = None,
) -> tuple[Export, dict[str, Any], dict[str, Any]]:
    """The cache key of the int8 detector: ``(fp32 entry, settings, versions)``, where ``settings``
    and ``versions`` are what :func:`~soccerfactory.curation.runtimes.cached_export` keys the
    entry by (with the weights' sha256). One place for the key: the command that builds the entry
    and :func:`export_yolo` that finds it both call this.

    Args:
        weights: Local ``.pt`` file.
        imgsz: Size the fp32 graph was traced at.
        cache_dir: Cache folder.
        quantization: How it is quantized (default :class:`QuantizeSettings`).

    Returns:
        The cached fp32 ``onnx`` entry it is quantized from (exported now when missing), the
        settings (export options, that entry's name, the quantization, the float-node rule) and
        the library versions.
    """
    fp32 = export_yolo(weights, "onnx", imgsz, cache_dir)
    quantization = quantization or QuantizeSettings()
    settings = {**_options("onnx", imgsz), "from": fp32.directory.name, "quantization": quantization.to_dict(), "float": _FLOAT_RULE}
    return fp32, settings, library_versions(INT8, extra=("ultralytics", "onnxslim"))


def bundled_int8_settings(imgsz: int, quantization: QuantizeSettings | None = None) -> dict[str, Any]:
    """What a bundled int8 detector must have been built with to stand for ``(imgsz, quantization)``:
    the trace size, the calibration and quantization settings and the float-node rule (the library
    versions are not part of it: the file is plain ONNX, read by any onnxruntime of the pins)."""
    return {"imgsz": int(imgsz), "quantization": (quantization or QuantizeSettings()).to_dict(), "float": _FLOAT_RULE}


def bundled_int8(
    weights: str | os.PathLike, imgsz: int = 768, quantization: QuantizeSettings | None = None, folder: str | os.PathLike | None = None,
) -> Export | None:
    """The shipped int8 detector when it was quantized from ``weights`` with these settings, else None.

    It is found by its manifest (:data:`BUNDLED_INT8_MANIFEST` in ``folder``, default the package's
    ``curation/weights``): the sha256 of the ``.pt`` it was quantized from, and
    :func:`bundled_int8_settings`. Nothing is read from ``../shared`` and nothing is built.

    Args:
        weights: The detector ``.pt`` file the config names.
        imgsz: ``detect.imgsz``.
        quantization: The settings looked up (default :class:`QuantizeSettings`).
        folder: Where the bundled files are (tests).

    Returns:
        An :class:`~soccerfactory.curation.runtimes.Export` whose ``entry`` is the bundled ``.onnx``
        and whose ``manifest`` is its manifest (``meta.names`` holds the class names), or None when
        no bundled model matches (other weights or settings: the export cache is looked up then).

    Raises:
        FileNotFoundError: the manifest matches but the model file is missing (a partial checkout or
            a stripped wheel), in one line naming the file and the command that rebuilds it.
        RuntimeError: the model file is not the one the manifest vouches for (its sha256 differs).
    """
    import json

    from soccerfactory.curation.bundled import WEIGHTS_DIR
    from soccerfactory.curation.hashing import sha256_file

    folder = Path(folder) if folder is not None else WEIGHTS_DIR
    try:
        manifest = json.loads((folder / BUNDLED_INT8_MANIFEST).read_text())
    except FileNotFoundError:
        return None
    if manifest.get("settings") != bundled_int8_settings(imgsz, quantization):
        return None
    if manifest.get("weights", {}).get("sha256") != sha256_file(Path(weights)):
        return None
    model = folder / manifest["file"]
    if not model.is_file():
        raise FileNotFoundError(
            f"bundled int8 detector not found: {model} (its manifest {folder / BUNDLED_INT8_MANIFEST} is there); restore it from "
            f"the repository, or rebuild it (minutes; needs the real train split) with: {INT8_COMMAND} --bundle, "
            "or use detect.runtime=onnx"
        )
    if sha256_file(model) != manifest["sha256"]:
        raise RuntimeError(
            f"{model} is not the int8 detector its manifest vouches for (sha256 differs); restore it or rebuild it with {INT8_COMMAND} --bundle"
        )
    return Export(folder, model, manifest, reused=True)


def _find_int8(weights: str | os.PathLike, imgsz: int, cache_dir: str | os.PathLike | None, quantization: QuantizeSettings | None) -> Export:
    """The shipped or built int8 detector, else a one-line FileNotFoundError naming the command that builds it."""
    shipped = bundled_int8(weights, imgsz, quantization)
    if shipped is not None:
        return shipped
    fp32, settings, versions = int8_key(weights, imgsz, cache_dir, quantization)
    found = find_export(weights, KIND, INT8, settings, versions=versions, cache_dir=cache_dir)
    if found is not None:
        return found
    options = f" --imgsz {int(imgsz)}" if int(imgsz) != 768 else ""
    default = QuantizeSettings().to_dict()
    for name, value in (quantization or QuantizeSettings()).to_dict().items():
        if value != default[name]:
            flag = name.replace("_", "-")
            options += f" --{flag} {value}" if not isinstance(value, bool) else f" --{'' if value else 'no-'}{flag}"
    raise FileNotFoundError(
        f"int8 detector of {Path(weights).resolve()} not built (cache {cache_root(weights, cache_dir)}); build it once "
        f"(minutes; needs the real train split) with: {INT8_COMMAND} --weights {Path(weights).resolve()}{options}, "
        "or use detect.runtime=onnx"
    )
