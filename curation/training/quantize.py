"""Build the int8 detector (``detect.runtime=onnx-int8``): ONNX Runtime static int8 quantization.

Run once, before curating with ``detect.runtime=onnx-int8``::

    python -m soccerfactory.curation.training.quantize [--weights detector.pt] [--imgsz 768]

:func:`build_int8_detector` quantizes the cached fp32 ``onnx`` export of the detector (made first
when missing) and writes the result into the same export cache
(:func:`~soccerfactory.curation.runtimes.cached_export`), under the key
:func:`~soccerfactory.curation.detection.yolo_export.int8_key` gives: the weights' sha256, the
export and :class:`~soccerfactory.curation.detection.yolo_export.QuantizeSettings`, the float-node
rule and the library versions. The detector only looks that entry up; it never quantizes.

:func:`quantize_onnx` turns an fp32 ``.onnx`` file into a QDQ int8 one with
``onnxruntime.quantization.quantize_static``: weights int8 per output channel, activations uint8
(the u8 x s8 kernels that AVX-VNNI / AVX512-VNNI run fastest), activation ranges from MinMax
calibration on frames the caller prepares. Nodes named by the caller stay fp32 (a detector's box
decoding, whose one output holds pixel coordinates up to 768 next to scores in [0, 1]: one uint8
scale cannot hold both).

:func:`calibration_frames` picks the calibration frames, always the same ones for the same
settings: frames of the real ``train`` split of ``football-players`` (never ``valid``: that split
is what the quality figures are reported on) and frames of a synthetic broadcast clip rendered
here (:mod:`~soccerfactory.curation.synth`; a dev seed). Nothing is downloaded. Quantizing takes
minutes on 2 cores (calibration runs the fp32 model over every calibration batch).

Every intermediate file (the pre-processed graph, ONNX Runtime's own temporaries) goes to a
temporary folder, never the working directory: symbolic shape inference, which writes
``sym_shape_infer_temp.onnx`` (and its ``.data``) into the working directory when it fails, is
skipped (:func:`preprocessed`).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np

from soccerfactory.curation.detection.yolo_export import (
    BUNDLED_INT8, BUNDLED_INT8_MANIFEST, FLOAT_PARTS, INT8, INT8_COMMAND, INT8_NAME, KIND, QuantizeSettings, bundled_int8_settings, float_nodes,
    int8_key, letterboxed,
)
from soccerfactory.curation.runtimes import Export, cached_export

__all__ = ["build_int8_detector", "bundle_int8", "calibration_batches", "calibration_frames", "main", "preprocessed", "quantize_onnx"]

#: Size the calibration frames are resized to: the pipeline's usual 720p input.
FRAME_SIZE = (1280, 720)


def _train_images(data_root: Path) -> list[Path]:
    folder = data_root / "football-players" / "train" / "images"
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise FileNotFoundError(
            f"int8 calibration needs the real train frames in {folder} (../shared/data, see its README); "
            "use the fp32 runtime (onnx) without them"
        )
    return paths


def _synthetic_frames(count: int, seed: int) -> list[np.ndarray]:
    """``count`` frames spread over a rendered 720p broadcast clip (cuts, zooms, close-ups)."""
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.video.decode import frames_at

    seconds = max(2.0, count / 5)  # one frame in five: neighbouring frames add little
    with tempfile.TemporaryDirectory(prefix="sf-calibration-") as folder:
        written = render_clip(SynthConfig(seconds=seconds, seed=seed, width=FRAME_SIZE[0], height=FRAME_SIZE[1], shots="broadcast", staff=6), folder).frames
        keep = np.linspace(0, written - 1, min(count, written)).round().astype(int) if written else []
        frames = [image for _, image in frames_at(Path(folder) / "video.mp4", keep)]
    if not frames:
        raise RuntimeError(f"the synthetic calibration clip (seed {seed}) could not be read back")
    return frames


def calibration_frames(settings: QuantizeSettings, data_root: str | os.PathLike | None = None) -> tuple[dict[str, list[np.ndarray]], dict]:
    """The calibration frames of ``settings``: BGR ``uint8`` images.

    Args:
        settings: How many of each.
        data_root: The shared data folder (default
            :data:`~soccerfactory.curation.training.datasets.DEFAULT_DATA_ROOT`).

    Returns:
        ``{"frames": [(720, 1280, 3)...] (train, then synthetic), "slice_frames": [...] (720p and
        1080p)}`` and what they are (train file names' sha256, counts, seed), for the manifest.

    Raises:
        FileNotFoundError: the ``train`` split is missing (one line naming the folder).
    """
    import cv2

    from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT

    paths = _train_images(Path(data_root or DEFAULT_DATA_ROOT))
    wanted = settings.train_frames + settings.slice_frames
    if len(paths) < wanted:
        raise FileNotFoundError(f"int8 calibration needs {wanted} train frames, {paths[0].parent} has {len(paths)}")
    rng = np.random.default_rng(settings.seed)
    chosen = [paths[i] for i in sorted(rng.choice(len(paths), wanted, replace=False).tolist())]
    # The published frames are stretched to 1280x1280; a resize restores the broadcast aspect.
    frames = [cv2.resize(cv2.imread(str(path)), FRAME_SIZE, interpolation=cv2.INTER_AREA) for path in chosen[: settings.train_frames]]
    slice_frames = [
        cv2.resize(cv2.imread(str(path)), FRAME_SIZE if position % 2 == 0 else (1920, 1080), interpolation=cv2.INTER_AREA)
        for position, path in enumerate(chosen[settings.train_frames:])
    ]
    frames += _synthetic_frames(settings.synthetic_frames, settings.synthetic_seed) if settings.synthetic_frames else []
    digest = hashlib.sha256()
    for path in chosen:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    described = {
        "train_split": "football-players/train",
        "train_files": [path.name for path in chosen],
        "train_sha256": digest.hexdigest(),
        "synthetic_seed": settings.synthetic_seed,
        "frames": len(frames),
        "slice_frames": len(slice_frames),
    }
    return {"frames": frames, "slice_frames": slice_frames}, described


class _Batches:
    """``onnxruntime.quantization.CalibrationDataReader`` over prepared input arrays."""

    def __init__(self, name: str, batches: Iterable[np.ndarray]) -> None:
        self._name, self._batches = name, list(batches)
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._batches):
            return None
        self._next += 1
        return {self._name: self._batches[self._next - 1]}

    def rewind(self) -> None:
        self._next = 0


def quantize_onnx(
    source: str | os.PathLike,
    target: str | os.PathLike,
    batches: Sequence[np.ndarray],
    settings: QuantizeSettings,
    keep_float: Sequence[str] = (),
) -> Path:
    """Write the int8 QDQ version of the fp32 model ``source`` to ``target``.

    Args:
        source: fp32 ``.onnx`` file with one input.
        target: Where the int8 ``.onnx`` goes (its folder must exist).
        batches: ``float32`` model inputs (any batch size and, for dynamic graphs, any spatial
            size) the activation ranges are measured on.
        settings: ``per_channel`` and ``method`` are used here.
        keep_float: Names of nodes of the *pre-processed* graph that stay fp32 (see
            :func:`preprocessed`).

    Returns:
        ``target``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from soccerfactory.curation.runtime import configure_offline_onnxruntime

    configure_offline_onnxruntime()
    target = Path(target)
    name = onnx.load(str(source), load_external_data=False).graph.input[0].name
    quantize_static(
        str(source), str(target), _Batches(name, batches), quant_format=QuantFormat.QDQ, per_channel=settings.per_channel,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=list(keep_float),
        calibrate_method=getattr(CalibrationMethod, settings.method),
        # Not CalibMaxIntermediateOutputs: onnxruntime 1.32's MinMax calibrator drops the batches
        # it collected when that count is reached, without merging their ranges.
    )
    return target


def preprocessed(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """``source`` after ONNX Runtime's quantization pre-processing (shape inference, constant
    folding, Conv+BatchNorm fusion): what :func:`quantize_onnx` should start from.

    Symbolic shape inference is skipped: it cannot finish on a graph with a dynamic height and width
    (ultralytics' detector: "Incomplete symbolic shape inference"), ONNX's own pass suffices, and
    when it fails onnxruntime 1.32 saves ``sym_shape_infer_temp.onnx`` and its external ``.data``
    into the working directory (a fixed relative path: no option moves it). The other passes
    write their intermediate files into a temporary folder of their own.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
    return Path(target)


def calibration_batches(frames: dict[str, list[np.ndarray]], imgsz: int, batch: int, slices: int, overlap: float) -> list[np.ndarray]:
    """The detector's calibration inputs: whole frames at ``imgsz`` and, per slice frame, its
    ball-search slices at their native size (as
    :class:`~soccerfactory.curation.detection.detector.BallSlicer` runs them).

    Args:
        frames: :func:`calibration_frames`' frames.
        imgsz: The detector's inference size.
        batch: Whole frames per batch.
        slices: Ball-search slices per side (``detect.ball_slices``).
        overlap: Their overlap (``detect.ball_slice_overlap``).

    Returns:
        ``float32`` ``(N, 3, h, w)`` batches (:func:`~soccerfactory.curation.detection.yolo_export.letterboxed`).
    """
    from soccerfactory.curation.detection.detector import slice_grid

    whole = frames["frames"]
    batches = [letterboxed(whole[start:start + batch], imgsz) for start in range(0, len(whole), batch)]
    for image in frames["slice_frames"]:
        height, width = image.shape[:2]
        windows = slice_grid(width, height, slices, overlap)
        native = int(np.ceil(max(windows[0, 2] - windows[0, 0], windows[0, 3] - windows[0, 1]) / 32) * 32)
        crops = [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in windows.tolist()]
        batches.append(letterboxed(crops, min(int(imgsz), native)))
    return batches


def build_int8_detector(
    weights: str | os.PathLike | None = None,
    imgsz: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    quantization: QuantizeSettings | None = None,
    data_root: str | os.PathLike | None = None,
) -> Export:
    """Quantize the detector to int8 into the export cache, where ``detect.runtime=onnx-int8`` finds it.

    Nothing is done when the entry exists (``reused=True``). The ball-search slices are calibrated
    with the default curation config's ``detect.ball_slices`` and ``detect.ball_slice_overlap``.

    Args:
        weights: Detector ``.pt`` file (default: the bundled ``detector.pt``).
        imgsz: Inference size (default: ``detect.imgsz`` of the default config, 768).
        cache_dir: Export cache (default :func:`~soccerfactory.curation.runtimes.cache_root`).
        quantization: Calibration and quantization settings (default :class:`QuantizeSettings`,
            what ``detect.runtime=onnx-int8`` looks up).
        data_root: The shared data folder with ``football-players/train``.

    Returns:
        The cache entry: ``entry`` is the int8 ``.onnx`` file; its manifest's ``meta.calibration``
        lists the train files and the synthetic seed it was calibrated on.

    Raises:
        FileNotFoundError: the weights or the real ``train`` split are missing (one line each).
    """
    from soccerfactory.curation.bundled import bundled_weights
    from soccerfactory.curation.config import DetectConfig

    detect = DetectConfig()
    weights = weights or bundled_weights("detector.pt")
    imgsz = int(imgsz or detect.imgsz)
    quantization = quantization or QuantizeSettings()
    fp32, settings, versions = int8_key(weights, imgsz, cache_dir, quantization)

    def export(_copy: Path, out: Path) -> tuple[str, dict]:
        import onnx

        frames, described = calibration_frames(quantization, data_root)
        batches = calibration_batches(frames, imgsz, quantization.batch, detect.ball_slices, detect.ball_slice_overlap)
        with tempfile.TemporaryDirectory(prefix="sf-quantize-") as scratch:
            source = preprocessed(fp32.entry, Path(scratch) / "fp32-preprocessed.onnx")
            keep = float_nodes(onnx.load(str(source)).graph, quantization.keep_float)
            quantize_onnx(source, out / INT8_NAME, batches, quantization, keep_float=keep)
        return INT8_NAME, {**fp32.meta, "calibration": described, "float_nodes": len(keep)}

    return cached_export(weights, KIND, INT8, settings, export, versions=versions, cache_dir=cache_dir)


#: Whose frames the int8 detector was calibrated on (its manifest's credit).
CREDIT = (
    "football-players (train split only): German Bundesliga main-camera frames labelled and published on Roboflow Universe by "
    "workspace 'workspace1-8owu3' under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); synthetic frames rendered by "
    "SoccerFactory's own renderer"
)


def bundle_int8(
    built: Export, weights: str | os.PathLike, imgsz: int, quantization: QuantizeSettings, folder: str | os.PathLike | None = None,
) -> Path:
    """Copy a built int8 detector next to the bundled weights, with its manifest, so
    ``detect.runtime=onnx-int8`` finds it without the train split or the export cache
    (:func:`~soccerfactory.curation.detection.yolo_export.bundled_int8`).

    Args:
        built: :func:`build_int8_detector`'s entry.
        weights: The ``.pt`` it was quantized from.
        imgsz: Its trace size.
        quantization: Its settings.
        folder: Where to write (default the package's ``curation/weights``).

    Returns:
        The manifest's path. It holds the model's sha256 and size, the weights' sha256, the settings,
        the command, the calibration data (train file names and their sha256, the synthetic seed),
        its credit (CC BY 4.0), the library versions and the class names; ``metrics`` is empty
        until the quality is measured (the README's Speed section says with what).
    """
    import json
    import shutil

    from soccerfactory.curation.bundled import WEIGHTS_DIR
    from soccerfactory.curation.hashing import sha256_file

    folder = Path(folder) if folder is not None else WEIGHTS_DIR
    target = folder / BUNDLED_INT8
    shutil.copyfile(built.entry, target)
    flags = "".join(
        f" --{name.replace('_', '-')} {value}" if not isinstance(value, bool) else f" --{'' if value else 'no-'}{name.replace('_', '-')}"
        for name, value in quantization.to_dict().items() if value != QuantizeSettings().to_dict()[name]
    )
    manifest = {
        "file": BUNDLED_INT8,
        "sha256": sha256_file(target),
        "bytes": target.stat().st_size,
        "model": "detector, int8 (static QDQ: uint8 activations, int8 weights), what detect.runtime=onnx-int8 runs",
        "weights": {"file": Path(weights).name, "sha256": sha256_file(Path(weights))},
        "settings": bundled_int8_settings(imgsz, quantization),
        "command": f"{INT8_COMMAND} --bundle{flags}" + (f" --imgsz {imgsz}" if int(imgsz) != 768 else ""),
        "calibration": built.meta.get("calibration"),
        "float_nodes": built.meta.get("float_nodes"),
        "credit": CREDIT,
        "versions": built.manifest.get("versions"),
        "meta": {"names": built.meta.get("names")},
        "metrics": {},
    }
    path = folder / BUNDLED_INT8_MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=INT8_COMMAND,
        description=(
            "Build the int8 detector that detect.runtime=onnx-int8 runs: quantize the detector's onnx export (made first "
            "when missing) with ONNX Runtime's static int8 quantization, calibrated on frames of the real train split "
            "(never valid) and of a synthetic render, and store it in the export cache next to the weights (or "
            "$SOCCERFACTORY_RUNTIME_CACHE). Minutes on 2 cores, once per weights file, settings and library versions; "
            "nothing is downloaded. The defaults build what detect.runtime=onnx-int8 looks up."
        ),
        epilog="Then curate with: soccerfactory curate ... --set detect.runtime=onnx-int8 (the default stays onnx).",
    )
    parser.add_argument("--weights", type=Path, default=None, help="detector .pt file (default: the bundled detector.pt)")
    parser.add_argument("--imgsz", type=int, default=None, help="inference size, as detect.imgsz (default 768)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="export cache folder (default: next to the weights)")
    parser.add_argument("--data-root", type=Path, default=None, help="shared data folder holding football-players/train")
    parser.add_argument(
        "--bundle", action="store_true",
        help=f"also copy the model to curation/weights/{BUNDLED_INT8} with its manifest ({BUNDLED_INT8_MANIFEST}): what a fresh "
        "clone runs by default, without the train split (the bundled detector.pt only)",
    )
    group = parser.add_argument_group(
        "calibration settings",
        "part of the model's cache key: detect.runtime=onnx-int8 runs the model of the defaults; other values build an "
        "experiment's model beside it (found with export_yolo(..., quantization=QuantizeSettings(...)))",
    )
    defaults = QuantizeSettings()
    for field in fields(QuantizeSettings):
        flag, default = "--" + field.name.replace("_", "-"), getattr(defaults, field.name)
        text = f"{_SETTING_HELP[field.name]} (default %(default)s)"
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        elif field.name == "keep_float":
            group.add_argument(flag, choices=FLOAT_PARTS, default=default, help=text)
        else:
            group.add_argument(flag, type=type(default), default=default, help=text)
    return parser


#: ``--help`` of each :class:`QuantizeSettings` field (an experiment's knobs: detect.runtime=onnx-int8
#: looks up the defaults).
_SETTING_HELP = {
    "train_frames": "real train frames calibrated whole",
    "slice_frames": "further train frames calibrated as ball-search slices",
    "synthetic_frames": "frames of a synthetic broadcast render",
    "synthetic_seed": "seed of that render (a dev seed, 400-499)",
    "seed": "which train frames are drawn",
    "batch": "frames per calibration batch",
    "per_channel": "one weight scale per output channel",
    "method": "calibration method (MinMax only: the others hold every activation in memory)",
    "keep_float": "head branches kept fp32 besides the box decoding",
}


def main(argv: list[str] | None = None) -> int:
    """Command line: build (or find) the int8 detector and print where it is (``--bundle``: and ship it)."""
    from soccerfactory.curation.bundled import bundled_weights

    args = _parser().parse_args(argv)
    try:
        quantization = QuantizeSettings(**{field.name: getattr(args, field.name) for field in fields(QuantizeSettings)})
        weights = args.weights or bundled_weights("detector.pt")
        if args.bundle and Path(weights).resolve() != bundled_weights("detector.pt").resolve():
            raise ValueError(f"--bundle ships the int8 version of the bundled detector.pt only, not {weights}")
        built = build_int8_detector(weights, args.imgsz, args.cache_dir, quantization, args.data_root)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    state = "already built" if built.reused else f"built in {built.manifest.get('export_s')} s"
    print(f"int8 detector {state}: {built.entry}")
    if args.bundle:
        from soccerfactory.curation.config import DetectConfig

        print(f"bundled: {bundle_int8(built, weights, int(args.imgsz or DetectConfig().imgsz), quantization)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
