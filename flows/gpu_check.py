"""``make gpu-check``: the prepared device check of a GPU worker, written as one JSON file.

Usage::

    python -m soccerfactory.flows.gpu_check --device cuda --out bench/gpu-check.json
    python -m soccerfactory.flows.gpu_check --device cpu --seconds 2 --backbone tiny --batches 2,4   # verification on a CPU

One synthetic 720p clip (seed 400, ``--seconds`` long, 10 by default) is rendered on the CPU
first; then four parts run, each in its own process with its own time limit, so a part that
fails, hangs or runs out of memory is recorded with its error and the others still run (the JSON
is rewritten after every part):

* ``curate``: the clip curated on the device, detect, calibrate and refine set to it (fp16
  detector and keypoints, bfloat16 SAM 2 on CUDA). Twice: through the pipeline functions the
  ``curate`` flow's tasks call (``fps_end_to_end``: scan, decode, every stage, attribution, vote
  and tables, as ``make bench`` measures it, model loading and one warm-up batch excluded), and
  through the real ``soccerfactory curate`` command (``cli_wall_s``: Prefect start-up, the
  catalog and the shard included). ``fps_end_to_end`` is set against ``goal_fps_720p`` (60).
  On CUDA ``decode.batch_size`` is 32 (``--decode-batch``) and the torch runtimes are used.
* ``detect``: detector-only throughput at 720p (frames per second, pre- and post-processing
  included) at each batch size of ``--batches`` (8, 16, 32), fp16 on CUDA.
* ``refine``: SAM 2.1 tiny on the clip's ground-truth athlete boxes (random weights unless
  ``--sam2-checkpoint``: speed does not depend on the weights' values), frames per second.
* ``train``: training steps per second of the project's multi-task model
  (:func:`soccerfactory.model.train.measure_step`: forward, backward, clipping, AdamW) at the
  ``model.size`` of ``--backbone`` (``vit-large`` = ViT-L/16 at 512x288 with the size's 8-frame
  windows, 2 windows a step as ``make bench``'s model_scale; ``tiny`` for a CPU), fp32 and, on
  CUDA, also under bfloat16 autocast (which ``train`` itself does not use yet).

Every part reports its peak GPU memory (``torch.cuda.max_memory_allocated``) on CUDA and its
peak resident memory on any device. Exit status: 0 when every part ran, 1 when one failed, 2 for
bad arguments (one line).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["GOAL_FPS_720P", "PARTS", "gpu_check", "main"]

PARTS = ("curate", "detect", "refine", "train")
GOAL_FPS_720P = 60.0
#: Seconds each part may take on CUDA: 430 in all, so the check ends within 8 minutes on one H100
#: with rendering and start-up. On a CPU every limit is multiplied by ``_CPU_SLOWER``.
_LIMITS_S = {"curate": 200.0, "detect": 80.0, "refine": 50.0, "train": 100.0}
_CPU_SLOWER = 6.0
_SEED = 400  # a development seed (400-499); held-out seeds are never used for tuning or checks
_WIDTH, _HEIGHT = 1280, 720


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit 2), as every project command does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m soccerfactory.flows.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu [default: cuda]")
    parser.add_argument("--out", type=Path, default=Path("bench/gpu-check.json"), help="JSON written here (atomically)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the 720p clip curated [default: 10]")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--batches", default="8,16,32", help="detector batch sizes [default: 8,16,32]")
    parser.add_argument("--decode-batch", type=int, default=None, help="decode.batch_size for curate [default: 32 on CUDA, the config's on CPU]")
    parser.add_argument("--backbone", default="vit-large", help="model.size of the train part: vit-large or tiny [default: vit-large]")
    parser.add_argument("--train-steps", type=int, default=None, help="timed training steps [default: 10 on CUDA, 2 on CPU]")
    parser.add_argument("--train-batch", type=int, default=2, help="windows per training step [default: 2]")
    parser.add_argument("--sam2-checkpoint", type=Path, default=None, help="SAM 2.1 tiny checkpoint: curate with refine.backend=sam2 too")
    parser.add_argument("--part-limit-s", type=float, default=None, help="time limit of every part, seconds [default: per part, see the module]")
    parser.add_argument("--part", choices=PARTS, help=argparse.SUPPRESS)  # internal: run one part in this process
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser


def _checked(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the lists parsed; ValueError (one line, naming the option) when one is bad."""
    from soccerfactory.curation.devices import check_device, torch_device

    check_device(args.device, "--device")
    args.device = torch_device(args.device)
    if not 0 < args.seconds <= 60:
        raise ValueError(f"--seconds must be in (0, 60], got {args.seconds:g}")
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown or not args.parts:
        raise ValueError(f"--parts {','.join(unknown) or '(none)'}: choose from {','.join(PARTS)}")
    try:
        args.batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        raise ValueError(f"--batches must be comma-separated integers, got {args.batches!r}") from None
    if not args.batches or min(args.batches) < 1 or max(args.batches) > 256:
        raise ValueError(f"--batches must be in [1, 256], got {args.batches}")
    if args.backbone not in ("tiny", "vit-large"):
        raise ValueError(f"--backbone must be tiny or vit-large (model.size), got {args.backbone!r}")
    for name in ("decode_batch", "train_steps", "train_batch"):
        value = getattr(args, name)
        if value is not None and not 1 <= value <= 256:
            raise ValueError(f"--{name.replace('_', '-')} must be in [1, 256], got {value}")
    if args.part_limit_s is not None and args.part_limit_s <= 0:
        raise ValueError(f"--part-limit-s must be > 0, got {args.part_limit_s:g}")
    if args.sam2_checkpoint is not None and not args.sam2_checkpoint.is_file():
        raise ValueError(f"--sam2-checkpoint {args.sam2_checkpoint} not found: pass a SAM 2.1 tiny checkpoint (sam2.1_hiera_tiny.pt) or leave it out")
    return args


# --------------------------------------------------------------------------- the device and memory


def _device_info(device: str) -> dict:
    import torch

    info: dict[str, Any] = {
        "device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(), "python": platform.python_version(),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(name=props.name, memory_gb=round(props.total_memory / 2**30, 1), capability=f"{props.major}.{props.minor}")
    else:
        info["name"] = f"CPU ({info['processor']}, {info['cpus']} logical cores)"
    return info


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def _peaks(device: str) -> dict:
    """Peak GPU memory since :func:`_reset_peak` (CUDA) and the process's peak resident memory."""
    peaks = {"peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
        peaks["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return peaks


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def _first_frames(clip: Path, n: int):
    """The first ``n`` frames of ``clip`` as one :class:`~soccerfactory.curation.types.Frames` batch."""
    import cv2
    import numpy as np

    from soccerfactory.curation.types import Frames

    capture, images = cv2.VideoCapture(str(clip)), []
    while len(images) < n:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    capture.release()
    if not images:
        raise ValueError(f"{clip}: no frame could be decoded")
    index = np.arange(len(images))
    return Frames(np.stack(images), index, index / 25.0, 25.0, str(clip))


# --------------------------------------------------------------------------- the parts


def _curate_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from soccerfactory.curation.config import CalibrateConfig, DetectConfig

    values: dict[str, Any] = {"detect.device": args.device, "calibrate.device": args.device, "refine.device": args.device}
    if args.device.startswith("cuda"):
        # The exported runtimes (onnx, openvino) are CPU-only: a GPU runs the torch models.
        values.update({f"{section}.runtime": "torch" for section, model in (("detect", DetectConfig), ("calibrate", CalibrateConfig))
                       if "runtime" in model.model_fields})
    batch = args.decode_batch or (32 if args.device.startswith("cuda") else None)
    if batch:
        values["decode.batch_size"] = batch
    if args.sam2_checkpoint is not None:
        values.update({"refine.backend": "sam2", "refine.sam2_checkpoint": str(args.sam2_checkpoint)})
    return values


def part_curate(args: argparse.Namespace) -> dict:
    """The clip through the pipeline functions (throughput) and through ``soccerfactory curate`` (wall)."""
    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.pipeline import annotate_spatial, attribute_clip, layout_clip, vote_clip
    from soccerfactory.curation.stages import load_stages, pitch_of
    from soccerfactory.curation.video.clips import split_clips
    from soccerfactory.curation.video.discover import discover_sources
    from soccerfactory.curation.video.scan import scan_video

    overrides = _curate_overrides(args)
    config = CurateConfig().with_values(overrides)
    started = time.perf_counter()
    stages = load_stages(config)
    # One warm-up batch through each model (CUDA context, kernel choice, lazy set-up): a worker
    # pays it once per process, not once per clip. The calibrator is a throw-away one.
    warm = _first_frames(args.clip, config.decode.batch_size)
    detections = stages.detector(warm)
    if stages.new_calibrator is not None:
        stages.new_calibrator()(warm[:1])
    if stages.refiner is not None:
        stages.refiner(warm, detections)
    _sync(args.device)
    load_s = time.perf_counter() - started
    _reset_peak(args.device)
    started = time.perf_counter()
    scan = scan_video(discover_sources(str(args.clip))[0])
    (clip,) = split_clips(scan, max_clip_seconds=args.seconds + 1)
    scan_s = time.perf_counter() - started
    spatial = annotate_spatial(clip, stages, config.decode, calibrate=config.calibrate)
    attributes = attribute_clip(spatial, stages, config.attribute)
    started = time.perf_counter()
    tables = layout_clip(spatial, vote_clip(spatial, attributes, config.attribute, config.vote, pitch=pitch_of(config)))
    vote_s = time.perf_counter() - started
    _sync(args.device)
    frames = spatial.n_frames
    total = scan_s + spatial.seconds + attributes.seconds + vote_s
    figures: dict[str, Any] = {
        "how": "pipeline functions the curate flow's tasks call (scan, annotate_spatial, attribute_clip, vote_clip, layout_clip)",
        "config": overrides, "frames": frames, "load_and_warmup_s": round(load_s, 2), "scan_s": round(scan_s, 2),
        "spatial_s": round(spatial.seconds, 2), "attribute_s": round(attributes.seconds, 2), "vote_and_tables_s": round(vote_s, 2),
        "fps_end_to_end": round(frames / total, 2),
        "ms_per_frame_by_stage": {stage: round(1000 * s / frames, 1) for stage, s in spatial.stage_seconds.items()},
        "athlete_rows": tables["athletes"].num_rows,
        **_peaks(args.device),
    }
    figures["cli"] = _curate_cli(args, overrides, frames)
    return figures


def _curate_cli(args: argparse.Namespace, overrides: dict[str, Any], frames: int) -> dict:
    """The same clip through ``soccerfactory curate`` in a fresh process: what a user waits for."""
    with tempfile.TemporaryDirectory(prefix="gpu-check-curate-") as folder:
        sets = [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]
        command = [sys.executable, "-m", "soccerfactory.flows.cli", "curate", str(args.clip), "--output", folder, *sets]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=_child_env())
        wall = time.perf_counter() - started
    figures = {"command": "soccerfactory curate CLIP " + " ".join(sets), "exit_code": done.returncode, "cli_wall_s": round(wall, 2),
               "fps_cli_wall": round(frames / wall, 2), "note": "a fresh process: Python, model loading and Prefect start-up included"}
    if done.returncode != 0:
        figures["error"] = _last_line(done.stderr or done.stdout)
    return figures


def part_detect(args: argparse.Namespace) -> dict:
    """Detector-only frames per second at 720p for each batch size."""
    from soccerfactory.curation.config import DetectConfig
    from soccerfactory.curation.detection.detector import build_detector

    detect = DetectConfig()
    detector = build_detector(detect.backend, weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf,
                              iou=detect.iou, device=args.device)
    frames = _first_frames(args.clip, max(args.batches))
    cuda = args.device.startswith("cuda")
    detector(frames[:1])  # loads the predictor onto the device
    _reset_peak(args.device)
    runs = []
    for batch in args.batches:
        images = [frames.images[i % len(frames)] for i in range(batch)]
        index = list(range(batch))
        if cuda:
            detector.detect_each(images, index)  # a warm-up per batch shape
            _sync(args.device)
        calls, started = 0, time.perf_counter()
        # At least 2 s of calls on CUDA (a single call is milliseconds); one call on the CPU.
        while calls == 0 or (cuda and time.perf_counter() - started < 2.0):
            detector.detect_each(images, index)
            calls += 1
        _sync(args.device)
        elapsed = time.perf_counter() - started
        runs.append({"batch": batch, "calls": calls, "fps": round(batch * calls / elapsed, 1)})
    return {"imgsz": detect.imgsz, "frame_size": [frames.width, frames.height], "half": detector.half, "runs": runs,
            "best_fps": max(run["fps"] for run in runs), **_peaks(args.device)}


def part_refine(args: argparse.Namespace) -> dict:
    """SAM 2.1 tiny masks for the ground-truth athletes of the clip's first frames."""
    import numpy as np
    import pandas as pd

    from soccerfactory.curation.types import PLAYER, Detections

    refiner, weights = _sam2_refiner(args)
    cuda = args.device.startswith("cuda")
    frames = _first_frames(args.clip, 16 if cuda else 2)
    gt = pd.read_parquet(args.clip.parent / "gt" / "athletes.parquet")
    gt = gt[gt.frame_index < len(frames)]
    detections = Detections(gt[["x1", "y1", "x2", "y2"]].to_numpy(np.float32), np.full(len(gt), 0.9, np.float32),
                            np.full(len(gt), PLAYER), gt.frame_index.to_numpy())
    refiner(frames[:1], detections[detections.frame_index == 0])  # warm-up
    _sync(args.device)
    _reset_peak(args.device)
    started = time.perf_counter()
    out = refiner(frames, detections)
    _sync(args.device)
    elapsed = time.perf_counter() - started
    return {"model": "sam2.1_hiera_tiny", "weights": weights, "frames": len(frames), "boxes": len(detections),
            "masks": int(sum(m is not None for m in out.data["mask_rle"])), "batch_size": refiner.batch_size,
            "on_device": refiner.on_device, "fps": round(len(frames) / elapsed, 2), "boxes_per_s": round(len(detections) / elapsed, 1),
            **_peaks(args.device)}


def _sam2_refiner(args: argparse.Namespace):
    from soccerfactory.curation.refine import Sam2Refiner, build_sam2_refiner

    config = "configs/sam2.1/sam2.1_hiera_t.yaml"
    if args.sam2_checkpoint is not None:
        return build_sam2_refiner(config, args.sam2_checkpoint, device=args.device), str(args.sam2_checkpoint)
    from soccerfactory.curation.runtime import prepare_vision_runtime

    prepare_vision_runtime()
    from sam2.build_sam import build_sam2
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    model = build_sam2(config, ckpt_path=None, device=args.device, mode="eval")
    return Sam2Refiner(SAM2ImagePredictor(model)), "random init (no checkpoint given): speed only, the masks mean nothing"


def part_train(args: argparse.Namespace) -> dict:
    """Training steps per second of the multi-task model at ``--backbone``'s size."""
    import torch

    from soccerfactory.model.config import ModelConfig, ModelSection
    from soccerfactory.model.train import measure_step

    # model.size picks the network (ModelSection.build); its windows are the size's own (8 frames
    # for ViT-L, the paper's), 2 windows a batch as `make bench`'s model_scale times ViT-L.
    sized = ModelConfig.vit_large() if args.backbone == "vit-large" else ModelConfig.tiny()
    model_config, batch = ModelSection(size=args.backbone, window=sized.window).build(), args.train_batch
    cuda = args.device.startswith("cuda")
    steps = args.train_steps or (10 if cuda else 2)
    figures: dict[str, Any] = {"backbone": args.backbone, "how": f"--set model.size={args.backbone} model.window={sized.window}, "
                               f"{batch} windows a step, {model_config.image_size[1]}x{model_config.image_size[0]}",
                               "timed_steps": steps, "first_step_excluded": True}
    arms = [("fp32", None)] + ([("bf16_autocast", torch.bfloat16)] if cuda else [])
    for name, dtype in arms:
        _reset_peak(args.device)
        with torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext():
            measured = measure_step(model_config, batch_size=batch, device=args.device, steps=steps + 1)
        measured["steps_per_s"] = round(1.0 / measured["seconds_per_step"], 3)
        measured.pop("losses", None)
        figures[name] = {**measured, **_peaks(args.device)}
    return figures


_RUN = {"curate": part_curate, "detect": part_detect, "refine": part_refine, "train": part_train}


# --------------------------------------------------------------------------- running the parts


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    for key, value in {"YOLO_OFFLINE": "1", "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}.items():
        env.setdefault(key, value)
    return env


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:500] if lines else "(no output)"


def _run_part(name: str, args: argparse.Namespace, clip: Path, limit_s: float) -> dict:
    """One part in a child process, killed with its process group after ``limit_s``."""
    with tempfile.TemporaryDirectory(prefix=f"gpu-check-{name}-") as folder:
        result = Path(folder) / "result.json"
        command = [sys.executable, "-m", "soccerfactory.flows.gpu_check", "--part", name, "--clip", str(clip), "--result", str(result),
                   "--device", args.device, "--seconds", str(args.seconds), "--batches", ",".join(map(str, args.batches)),
                   "--backbone", args.backbone, "--train-batch", str(args.train_batch)]
        for option, value in (("--decode-batch", args.decode_batch), ("--train-steps", args.train_steps), ("--sam2-checkpoint", args.sam2_checkpoint)):
            if value is not None:
                command += [option, str(value)]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env(), start_new_session=True)
        try:
            stdout, stderr = process.communicate(timeout=limit_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            try:  # the part's children too (the curate CLI and its Prefect server)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if timed_out:
                stdout, stderr = process.communicate()
        seconds = round(time.perf_counter() - started, 1)
        if timed_out:
            return {"ok": False, "seconds": seconds, "limit_s": limit_s, "error": f"timed out after {limit_s:g} s (--part-limit-s)"}
        if process.returncode != 0 or not result.exists():
            return {"ok": False, "seconds": seconds, "limit_s": limit_s,
                    "error": f"exit {process.returncode}: {_last_line(stderr or stdout)}"}
        return {"ok": True, "seconds": seconds, "limit_s": limit_s, **json.loads(result.read_text())}


def _write(path: Path, report: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(temporary, path)


def _summary(report: dict) -> dict:
    parts = report["parts"]
    curate = parts.get("curate", {})
    fps = curate.get("fps_end_to_end") if curate.get("ok") else None
    train = parts.get("train", {})
    best_train = max((arm["steps_per_s"] for arm in (train.get("fp32"), train.get("bf16_autocast")) if arm), default=None)
    return {
        "goal_fps_720p": GOAL_FPS_720P,
        "fps_720p_end_to_end": fps,
        "meets_goal": None if fps is None else fps >= GOAL_FPS_720P,
        "share_of_goal": None if fps is None else round(fps / GOAL_FPS_720P, 3),
        "fps_720p_cli_wall": curate.get("cli", {}).get("fps_cli_wall") if curate.get("ok") else None,
        "detector_only_fps_720p": parts.get("detect", {}).get("best_fps"),
        "sam2_tiny_fps": parts.get("refine", {}).get("fps"),
        "train_steps_per_s": best_train,
        "parts_failed": sorted(name for name, part in parts.items() if not part.get("ok")),
    }


def gpu_check(args: argparse.Namespace, say=print) -> dict:
    """Render the clip, run the selected parts, write ``args.out`` after each; the report dict."""
    from soccerfactory.curation.synth import SynthConfig, render_clip

    report: dict[str, Any] = {
        "check": "gpu-check",
        "command": "python -m soccerfactory.flows.gpu_check " + " ".join(args.argv),
        "device": _device_info(args.device),
        "clip": {"seconds": args.seconds, "width": _WIDTH, "height": _HEIGHT, "seed": _SEED, "synthetic": True},
        "parts": {},
    }
    if not args.device.startswith("cuda"):
        report["note"] = "run on a CPU: verification of the check, not GPU figures"
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        started = time.perf_counter()
        render_clip(SynthConfig(seconds=args.seconds, seed=_SEED, width=_WIDTH, height=_HEIGHT), folder)
        report["clip"]["render_s"] = round(time.perf_counter() - started, 1)
        clip = Path(folder) / "video.mp4"
        for name in args.parts:
            limit = args.part_limit_s or _LIMITS_S[name] * (1.0 if args.device.startswith("cuda") else _CPU_SLOWER)
            say(f"gpu-check: {name} on {args.device} (limit {limit:g} s) ...")
            report["parts"][name] = _run_part(name, args, clip, limit)
            say(f"gpu-check: {name} {'ok' if report['parts'][name]['ok'] else 'FAILED: ' + report['parts'][name]['error']}")
            report["summary"] = _summary(report)
            _write(args.out, report)
    report["summary"] = _summary(report)
    _write(args.out, report)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    try:
        args = _checked(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.part:  # a child: one part, its figures to --result
        figures = _RUN[args.part](args)
        _write(args.result, figures)
        return 0
    report = gpu_check(args)
    print(json.dumps(report["summary"], indent=2))
    print(f"written: {args.out}")
    return 0 if not report["summary"]["parts_failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
