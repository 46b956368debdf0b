"""Process-wide runtime settings that the vision backends need, kept in one place.

Two things must happen before ultralytics, boxmot or sam2 are imported:

* ``register_torchvision_cpu_ops`` gives torchvision the ``nms`` / ``qnms`` operators when the
  installed torchvision wheel was built against CUDA and its compiled extension cannot load next to
  a CPU-only torch. Without them ``import torchvision`` itself fails.
* ``configure_offline_ultralytics`` stops ultralytics from reaching the network: no hub checks,
  no font download (it wants ``Arial.ttf`` in its config dir before plotting or training), and a
  project-local config dir so nothing is written to the user's home.

``prepare_vision_runtime`` does both and is what every backend loader calls first. It also
switches ultralytics to weights_only checkpoint loading (``ULTRALYTICS_SAFE_LOAD``, see
:mod:`soccerfactory.curation.safe_load`) and turns off onnxruntime's telemetry
(``configure_offline_onnxruntime``), whose uploader otherwise resolves a Microsoft host name.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = [
    "configure_offline_onnxruntime",
    "configure_offline_openvino",
    "configure_offline_ultralytics_exports",
    "configure_offline_ultralytics",
    "default_yolo_config_dir",
    "enable_safe_ultralytics_loading",
    "prepare_vision_runtime",
    "register_torchvision_cpu_ops",
    "torchvision_ops_are_native",
    "ultralytics_loads_safely",
]

_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
_registered_library = None  # keeps the torch.library.Library alive: dropping it unregisters the ops


def _op_exists(qualified_name: str) -> bool:
    import torch

    namespace, name = qualified_name.split("::")
    try:
        getattr(getattr(torch.ops, namespace), name)
    except (AttributeError, RuntimeError):
        return False
    return True


def torchvision_ops_are_native() -> bool:
    """Whether torchvision's compiled extension provided ``nms`` (True) or this module did (False)."""
    return _registered_library is None and _op_exists("torchvision::nms")


def _nms_keep(boxes, scores, iou_threshold: float):
    """Greedy non-maximum suppression, identical in result to torchvision's CPU kernels.

    Args:
        boxes: float or quantised tensor (N, 4), xyxy.
        scores: float or quantised tensor (N,).
        iou_threshold: boxes overlapping a kept box by IoU strictly greater than this are dropped.

    Returns:
        int64 tensor of kept indices, in decreasing score order (ties: lower index first).
    """
    import torch

    # The kernel's argument checks, so a malformed call fails here as it does on a GPU install.
    if boxes.dim() != 2:
        raise RuntimeError(f"boxes should be a 2d tensor, got {boxes.dim()}D")
    if boxes.shape[1] != 4:
        raise RuntimeError(f"boxes should have 4 elements in dimension 1, got {boxes.shape[1]}")
    if scores.dim() != 1:
        raise RuntimeError(f"scores should be a 1d tensor, got {scores.dim()}D")
    if boxes.shape[0] != scores.shape[0]:
        raise RuntimeError(
            "boxes and scores should have same number of elements in dimension 0, "
            f"got {boxes.shape[0]} and {scores.shape[0]}"
        )
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    # Quantised tensors (torchvision's QuantizedCPU kernel is registered under ``nms`` too) refuse
    # ``.to(float)``. That kernel works on the integer representation, in float: scale and zero
    # point cancel out of the IoU, and the score order is the order of the integers.
    if boxes.is_quantized:
        boxes = boxes.int_repr()
    if scores.is_quantized:
        scores = scores.int_repr()
    order = torch.argsort(scores, descending=True, stable=True)
    # The kernel works in the input's precision (float or double) and compares the IoU against the
    # threshold as a double. Half precision has no CPU kernel; it is computed in float32 here.
    dtype = torch.float64 if boxes.dtype == torch.float64 else torch.float32
    ordered = boxes[order].to(dtype)
    threshold = _threshold_in(dtype, iou_threshold, boxes.device)
    x1, y1, x2, y2 = ordered.unbind(1)
    # Same formulas and operation order as the kernel (no clamping of degenerate areas), so
    # rounding, and the NaN/inf of zero-area unions, decide exactly as it does.
    areas = (x2 - x1) * (y2 - y1)
    count = ordered.shape[0]
    suppressed = torch.zeros(count, dtype=torch.bool, device=boxes.device)
    keep = []
    # One vectorised IoU row per kept box: O(kept * N) work, no N x N matrix, so the
    # 30k-candidate worst case of ultralytics stays within memory.
    for i in range(count):
        if suppressed[i]:
            continue
        keep.append(i)
        if i + 1 == count:
            break
        rest = slice(i + 1, count)
        inter_w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
        inter_h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
        inter = inter_w * inter_h
        iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest] |= iou > threshold
    return order[torch.as_tensor(keep, dtype=torch.int64, device=boxes.device)]


def _threshold_in(dtype, iou_threshold: float, device):
    """The threshold as a 0-d tensor of ``dtype`` such that ``iou > it`` equals ``double(iou) > iou_threshold``.

    Comparing a float32 tensor with a Python float rounds the float to float32 (to nearest), which
    disagrees with the kernel's double comparison when the threshold is not representable (0.3, 0.7):
    an IoU equal to ``float32(0.3)`` is above 0.3 yet not above ``float32(0.3)``. Rounding the
    threshold down instead is exact, as no float32 lies strictly between the two neighbours of it.
    """
    import torch

    exact = torch.tensor(float(iou_threshold), dtype=torch.float64, device=device)
    rounded = exact.to(dtype)
    if dtype != torch.float64 and bool(rounded.to(torch.float64) > exact):
        rounded = torch.nextafter(rounded, torch.tensor(float("-inf"), dtype=dtype, device=device))
    return rounded


def register_torchvision_cpu_ops() -> bool:
    """Register ``torchvision::nms`` and ``torchvision::qnms`` in pure torch when they are missing.

    ``nms`` takes float and quantised tensors, like torchvision's CPU and QuantizedCPU kernels;
    ``qnms`` is the same function under a second name.

    Call before the first ``import torchvision``. A no-op when the real compiled operators exist
    (a matching torchvision build, or a CUDA machine), so a GPU install keeps its fast kernels.

    Returns:
        True when this call registered the operators, False when nothing was needed.
    """
    global _registered_library
    if _registered_library is not None:
        return False
    import torch

    if "torchvision" not in sys.modules:
        # Importing the extension module alone loads the compiled ops when they are loadable,
        # without running torchvision/__init__ (which is what fails when they are not).
        try:
            import importlib.util

            spec = importlib.util.find_spec("torchvision")
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            _try_load_native_extension(Path(spec.origin).parent)
    if _op_exists("torchvision::nms"):
        return False

    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")

    def nms(dets, scores, iou_threshold):
        return _nms_keep(dets, scores, iou_threshold)

    def qnms(dets, scores, iou_threshold):
        # Kept for callers of the name; torchvision itself routes quantised tensors through ``nms``.
        return _nms_keep(dets, scores, iou_threshold)

    library.impl("nms", nms, "CompositeExplicitAutograd")
    library.impl("qnms", qnms, "CompositeExplicitAutograd")
    _registered_library = library

    import torchvision.extension

    if not torchvision.extension._has_ops():
        # torchvision.ops.nms refuses to run unless the extension reports itself loaded; the ops it
        # checks for are now registered, and any other missing op still fails with a clear
        # "operator does not exist" error naming it.
        torchvision.extension._has_ops = lambda: True
    return True


def _try_load_native_extension(package_dir: Path) -> None:
    import torch

    for candidate in sorted(package_dir.glob("_C*.so")):
        try:
            torch.ops.load_library(str(candidate))
        except (OSError, RuntimeError):
            return
        return


def default_yolo_config_dir() -> Path:
    """The ultralytics config dir: ``$YOLO_CONFIG_DIR``, else ``soccerfactory/ultralytics`` in the
    user's cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``).

    Never the working folder: a ``.yolo/`` appearing wherever a command was typed is litter (the
    Makefile points it at the checkout's own ``.yolo`` for the tests).
    """
    configured = os.environ.get("YOLO_CONFIG_DIR")
    if configured:
        return Path(configured).resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return (Path(cache) / "soccerfactory" / "ultralytics").resolve()


def _bundled_ttf() -> Path | None:
    """A TrueType font that ships inside an installed wheel (matplotlib's DejaVu Sans)."""
    try:
        import matplotlib
    except ImportError:
        return None
    font = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return font if font.is_file() else None


def configure_offline_ultralytics(config_dir: str | os.PathLike | None = None) -> Path:
    """Make ultralytics run with no network access; call before importing ultralytics.

    Sets ``YOLO_OFFLINE=1`` and ``YOLO_CONFIG_DIR``, writes settings that turn off hub sync, and
    places a TrueType font under the names ultralytics looks up so plotting and training never try
    to download ``Arial.ttf``.

    Args:
        config_dir: where ultralytics keeps its settings; defaults to
            :func:`default_yolo_config_dir`.

    Returns:
        The resolved config dir.

    Raises:
        RuntimeError: when no font can be found to install (matplotlib missing).
    """
    directory = Path(config_dir).resolve() if config_dir else default_yolo_config_dir()
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(directory)
    # Quiet unless asked: ultralytics logs its settings banner, layer tables and "Overriding
    # model.yaml nc=80 with nc=4" at INFO on every model it builds. Read once, at import; the
    # trainers (train-detector) and `-v` set it to True before that.
    os.environ.setdefault("YOLO_VERBOSE", "False")
    # Ultralytics' documented opt-in: checkpoints load with torch.load(weights_only=True) against an
    # allow-list of model classes instead of an unrestricted unpickle that runs whatever the file
    # names. Read once, when ultralytics is imported; see enable_safe_ultralytics_loading for later.
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    # Ultralytics nests its files in a sub folder named after itself when it is imported with
    # YOLO_CONFIG_DIR set; fonts are looked up in that folder.
    for folder in (directory, directory / "Ultralytics"):
        folder.mkdir(parents=True, exist_ok=True)
        for name in _FONT_NAMES:
            target = folder / name
            if target.is_file() and target.stat().st_size > 0:
                continue
            font = _bundled_ttf()
            if font is None:
                raise RuntimeError(
                    f"No TrueType font to place at {target}: install matplotlib (it ships DejaVu Sans) "
                    "or copy any .ttf file there, so ultralytics does not try to download Arial.ttf."
                )
            shutil.copyfile(font, target)
    if "ultralytics" in sys.modules:
        _disable_ultralytics_sync()
    return directory


def _disable_ultralytics_sync() -> None:
    from ultralytics.utils import SETTINGS

    # Only keys this ultralytics version knows: its SettingsManager.update raises KeyError on any
    # other (8.4 has "sync" but no "hub"), which would make every backend loader fail.
    known = getattr(SETTINGS, "defaults", SETTINGS)
    wanted = {key: value for key, value in {"sync": False, "hub": False}.items() if key in known}
    if any(SETTINGS.get(key) != value for key, value in wanted.items()):
        SETTINGS.update(wanted)


def enable_safe_ultralytics_loading() -> None:
    """Make sure ultralytics loads checkpoints ``weights_only`` in this process.

    ``ULTRALYTICS_SAFE_LOAD=1`` (set by :func:`configure_offline_ultralytics`) is read when
    ultralytics is first imported. When something imported it earlier, the flag it read is turned
    on here: this is the one place the project touches ultralytics' loading, and it only selects
    ultralytics' own safe path (``torch_safe_load(..., safe_only=True)``), it replaces no code.
    """
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
    import ultralytics.nn.tasks as tasks
    import ultralytics.utils as utils

    if not tasks.SAFE_LOAD:
        utils.SAFE_LOAD = tasks.SAFE_LOAD = True


def ultralytics_loads_safely() -> bool:
    """Whether ultralytics in this process loads checkpoints with ``weights_only=True``."""
    import torch
    import ultralytics.nn.tasks as tasks

    # Ultralytics degrades its safe mode to a plain load on torch < 2.6 (no checkpoint scan there).
    return bool(tasks.SAFE_LOAD) and hasattr(torch.serialization, "get_unsafe_globals_in_checkpoint")


def configure_offline_onnxruntime() -> None:
    """Turn off onnxruntime's telemetry; call before ``import onnxruntime``.

    onnxruntime (1.2x+ Linux wheels) ships Microsoft's 1DS telemetry client. From the moment the
    library is loaded it tries to upload to ``mobile.events.data.microsoft.com``: a background
    thread resolves that name (DNS queries on port 53) at once and again after about 5 and 14 s,
    even though the project never enables telemetry events (``onnxruntime.disable_telemetry_events()``
    does not stop it). ``ORT_DISABLE_TELEMETRY=1`` is the library's switch; it is read when the
    library loads, so setting it after ``import onnxruntime`` is too late.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"


def configure_offline_openvino() -> None:
    """Keep OpenVINO from sending telemetry (and from writing ``~/intel``); call before ``import openvino``.

    ``import openvino`` imports its model converter (``openvino.tools.ovc``), which starts the
    ``openvino_telemetry`` client at once: with no consent file it counts as consent (the converter
    passes ``enable_opt_in_dialog=False``), writes ``~/intel/openvino_ga_cid`` and ``stats`` and
    queues Google Analytics events ("import", then every ``convert_model``; seen on openvino
    2026.4 with openvino-telemetry 2025.2). The library's only switch is that consent file in the
    user's home (``opt_in_out --opt_out``), which a curation run must not write. Each OpenVINO
    module that uses the client falls back to its own no-op stub
    (``openvino.tools.ovc.telemetry_stub``) when ``import openvino_telemetry`` fails, so that import
    is made to fail; modules loaded before this call get the stub directly.
    """
    os.environ["OPENVINO_TELEMETRY_OPT_OUT"] = "1"  # not read by 2025.2; documents the intent for later clients
    sys.modules["openvino_telemetry"] = None  # type: ignore[assignment]  # `import` now raises ImportError
    if "openvino.tools.ovc" not in sys.modules:
        return
    import importlib

    stub = importlib.import_module("openvino.tools.ovc.telemetry_stub")
    for name, module in list(sys.modules.items()):
        if name.startswith("openvino.tools.ovc") and module is not None and getattr(module, "tm", stub) is not stub:
            module.tm = stub


def configure_offline_ultralytics_exports() -> None:
    """Keep ultralytics' exporter and exported-model loaders from installing packages.

    Its ONNX and OpenVINO paths call ``check_requirements`` (``onnx``, ``onnxslim``,
    ``onnxruntime``, ``openvino``), which pip-installs (``uv pip install`` when uv is on the path)
    whatever is missing or older than it wants unless ``YOLO_AUTOINSTALL`` is false. The project
    declares those packages itself; a missing one must fail with ultralytics' warning, not change
    the environment. ``YOLO_OFFLINE=1`` already skips the install attempt, this makes it not even
    be tried. The flag is read at import, so a loaded ultralytics gets it set in place too.
    """
    os.environ["YOLO_AUTOINSTALL"] = "False"
    for name in ("ultralytics.utils", "ultralytics.utils.checks"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "AUTOINSTALL", False):
            module.AUTOINSTALL = False


def prepare_vision_runtime(config_dir: str | os.PathLike | None = None) -> None:
    """Everything a vision backend needs before it imports its library; cheap to call again."""
    configure_offline_ultralytics(config_dir)
    configure_offline_onnxruntime()
    configure_offline_openvino()
    register_torchvision_cpu_ops()
    import ultralytics  # noqa: F401  (import after the environment is set, then pin its settings)

    _disable_ultralytics_sync()
    enable_safe_ultralytics_loading()
