"""Benchmark of the CPU inference runtimes (``detect.runtime``, ``calibrate.runtime``): speed and quality.

:func:`bench_runtimes` measures, for ``torch``, ``onnx``, ``openvino`` and (the detector only)
``onnx-int8``:

* detector milliseconds per frame: 8 real 1280x720 frames (football-players ``valid``, unstretched
  to 16:9) in one batch of 8 (``decode.batch_size``), at ``detect.imgsz``; every runtime on the
  same frames, the arms interleaved round by round so a busy machine slows them alike; the
  median of the rounds;
* pitch keypoint model milliseconds per frame (the whole ``predict``: resize, network, decode),
  8 frames a batch, interleaved the same way;
* ONNX Runtime / OpenVINO on every core against the default (half of them), torch on one thread
  against its default (every core), and ONNX
  Runtime with its idle threads spinning (ORT's own default; off in the project);
* quality: person AP50 and ball recall (full frame + the default 3x3 slices) on the real valid
  split (:func:`~soccerfactory.curation.quality.detection.detector_quality`, the same code as
  ``soccerfactory quality detector``) and the camera reprojection error on the real
  football-field valid split (:func:`~soccerfactory.curation.quality.calibration.real_calibration_quality`,
  as ``soccerfactory quality calibration``);
* the choice: the fastest runtime whose person AP50 and ball recall are within 0.005 of torch's
  and whose calibration figures are unchanged (same solved frames, median reprojection equal at
  0.01 px), per stage; torch when none is. Runtimes within 5 % of the fastest tie, and a tie goes
  to the first of torch, onnx, openvino.

Optionally (``curate_seconds``) the end-to-end curation of one synthetic 720p clip with the torch
runtimes, the chosen ones (the defaults without quality) and each detector runtime with the fp32
``onnx`` keypoint model, in this process, the arms interleaved over ``curate_rounds`` rounds (the
best round of each arm counts: on a shared machine the slowest rounds measure the neighbours).

Run: ``nice -n 10 python -m soccerfactory.flows.bench_runtimes [--no-quality] [--curate-seconds 4]
[--runtimes torch onnx onnx-int8]`` (writes ``bench/runtimes.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

__all__ = ["bench_runtimes", "choose_runtime", "main"]

RUNTIMES = ("torch", "onnx", "openvino", "onnx-int8")
#: The runtimes of the pitch keypoint model (``calibrate.runtime``): no int8 model of it.
KEYPOINT_RUNTIMES = ("torch", "onnx", "openvino")
#: Largest drop of person AP50 / ball recall against torch that still counts as the same quality.
TOLERANCE = 0.005
#: Relative speed difference below which two runtimes count as equally fast.
NOISE = 0.05


def _real_frames(count: int = 8, size: tuple[int, int] = (1280, 720)) -> list[np.ndarray]:
    import cv2

    from soccerfactory.curation.quality.detection import DEFAULT_SPLIT

    paths = sorted((Path(DEFAULT_SPLIT) / "images").glob("*.jpg"))[:count]
    if len(paths) < count:
        raise FileNotFoundError(f"need {count} images in {DEFAULT_SPLIT}/images (the real football-players valid split)")
    return [cv2.resize(cv2.imread(str(path)), size, interpolation=cv2.INTER_AREA) for path in paths]


def _interleaved(arms: dict[str, Callable[[], object]], rounds: int, frames: int) -> dict[str, float]:
    """Median ms per frame of each arm, one call of every arm per round (after one warm-up call each)."""
    for call in arms.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(rounds):
        for name, call in arms.items():
            started = time.perf_counter()
            call()
            times[name].append(1000 * (time.perf_counter() - started) / frames)
    return {name: round(statistics.median(values), 1) for name, values in times.items()}


def _torch_threads(threads: int, call: Callable[[], object]) -> Callable[[], object]:
    """``call`` with torch on ``threads`` threads (restored after)."""
    import torch

    def run() -> object:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return call()
        finally:
            torch.set_num_threads(before)

    return run


def _speed(runtimes: Sequence[str], rounds: int, imgsz: int) -> dict:
    import torch

    from soccerfactory.curation.calibration.heatmap import HeatmapKeypointDetector
    from soccerfactory.curation.detection.detector import build_detector

    frames = _real_frames()
    index = list(range(len(frames)))
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    detectors, started = {}, {}
    for runtime in runtimes:
        begin = time.perf_counter()
        detectors[runtime] = build_detector("yolov8", imgsz=imgsz, runtime=runtime)
        started[runtime] = round(time.perf_counter() - begin, 2)
    threads = {}
    for runtime in runtimes:
        if runtime != "torch":
            threads[f"{runtime}, {cpus} threads"] = build_detector("yolov8", imgsz=imgsz, runtime=runtime, threads=cpus)
    arms = {name: (lambda d=d: d.detect_each(frames, index)) for name, d in {**detectors, **threads}.items()}
    if "torch" in runtimes:  # what the torch detector ran on before issue 17: ultralytics set 1 thread on 2 cores
        arms["torch, 1 thread"] = _torch_threads(1, arms["torch"])
    if "onnx" in runtimes:
        from soccerfactory.curation.detection.yolo_export import export_yolo
        from soccerfactory.curation.runtimes import onnx_session

        spin = build_detector("yolov8", imgsz=imgsz, runtime="onnx")
        exported = export_yolo(spin.weights, "onnx", imgsz)  # cached: the file spin runs
        spin._model.predictor.model.backend.session = onnx_session(exported.entry, spinning=True)
        arms["onnx, spinning"] = lambda: spin.detect_each(frames, index)
    detector_ms = _interleaved(arms, rounds, len(frames))
    keypoint_runtimes = [runtime for runtime in runtimes if runtime in KEYPOINT_RUNTIMES]
    keypoints = {runtime: HeatmapKeypointDetector(runtime=runtime) for runtime in keypoint_runtimes}
    keypoint_arms = {name: (lambda k=k: k.predict(frames)) for name, k in keypoints.items()}
    if "torch" in keypoint_arms:
        keypoint_arms["torch, 1 thread"] = _torch_threads(1, keypoint_arms["torch"])
    for runtime in keypoint_runtimes:
        if runtime != "torch":
            every_core = HeatmapKeypointDetector(runtime=runtime, threads=cpus)
            keypoint_arms[f"{runtime}, {cpus} threads"] = lambda k=every_core: k.predict(frames)
    keypoint_ms = _interleaved(keypoint_arms, rounds, len(frames))
    return {
        "frames": f"{len(frames)} real football-players valid frames at 1280x720, one batch of {len(frames)}",
        "detector_imgsz": imgsz,
        "rounds": rounds,
        "detector_ms_per_frame": {runtime: detector_ms[runtime] for runtime in runtimes},
        "detector_threads_ms_per_frame": {name: ms for name, ms in detector_ms.items() if name not in runtimes},
        "detector_load_s": started,
        "keypoints_ms_per_frame": {runtime: keypoint_ms[runtime] for runtime in keypoint_runtimes},
        "keypoints_threads_ms_per_frame": {name: ms for name, ms in keypoint_ms.items() if name not in runtimes},
        "torch_threads": torch.get_num_threads(),
    }


def _quality(runtimes: Sequence[str], limit: int | None) -> dict:
    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.quality.calibration import real_calibration_quality
    from soccerfactory.curation.quality.detection import detector_quality

    figures = {}
    for runtime in runtimes:
        keypoints = runtime in KEYPOINT_RUNTIMES
        config = CurateConfig().with_values({"detect.runtime": runtime, "calibrate.runtime": runtime if keypoints else "onnx"})
        detection = detector_quality(config=config, limit=limit)["runs"][0]
        figures[runtime] = {
            "person_ap50": detection["ap50"].get("person"),
            "ap50": detection["ap50"],
            "ball_recall": detection.get("ball_with_slices", detection["ball_full_frame"])["recall"],
            "ball_recall_full_frame": detection["ball_full_frame"]["recall"],
            "balls_found": detection.get("ball_with_slices", detection["ball_full_frame"])["found"],
        }
        if not keypoints:
            continue
        calibration = real_calibration_quality(config=config, limit=limit)
        figures[runtime].update({
            "keypoints": calibration.get("keypoints"),
            "calibration": {
                name: {key: variant[key] for key in ("solved", "median_reprojection_px", "mean_reprojection_px", "keypoints_within_5px")}
                for name, variant in calibration["variants"].items()
            },
        })
    return figures


def _same_calibration(a: dict, b: dict) -> bool:
    for name, ours in a["calibration"].items():
        theirs = b["calibration"].get(name, {})
        if ours["solved"] != theirs.get("solved"):
            return False
        if ours["median_reprojection_px"] is None or theirs.get("median_reprojection_px") is None:
            if ours["median_reprojection_px"] != theirs.get("median_reprojection_px"):
                return False
        elif abs(ours["median_reprojection_px"] - theirs["median_reprojection_px"]) > 0.01 + 1e-9:
            return False
    return True


def choose_runtime(speed_ms: dict[str, float], quality: dict[str, dict], stage: str) -> tuple[str, str]:
    """The fastest runtime of ``stage`` (``"detect"`` or ``"calibrate"``) that keeps torch's quality, and why.

    Detect: person AP50 and ball recall no more than :data:`TOLERANCE` below torch's.
    Calibrate: the same solved frames and median reprojection (0.01 px) in every variant.
    """
    reference = quality["torch"]
    keeps = {}
    for runtime, figures in quality.items():
        if runtime not in speed_ms:  # not a runtime of this stage (onnx-int8 for calibrate)
            continue
        if stage == "detect":
            keeps[runtime] = (
                figures["person_ap50"] >= reference["person_ap50"] - TOLERANCE
                and figures["ball_recall"] >= reference["ball_recall"] - TOLERANCE
            )
        else:
            keeps[runtime] = _same_calibration(figures, reference)
    candidates = {runtime: ms for runtime, ms in speed_ms.items() if keeps.get(runtime)}
    if not candidates:
        return "torch", "no runtime keeps torch's quality"
    if stage == "detect":
        # How far each runtime is from torch, so a near miss reads as one (ball recall moves in
        # steps of 1/45 on the real valid split: one ball).
        margins = {
            runtime: {"person_ap50": round(figures["person_ap50"] - reference["person_ap50"], 4),
                      "ball_recall": round(figures["ball_recall"] - reference["ball_recall"], 4)}
            for runtime, figures in quality.items() if runtime in speed_ms and runtime != "torch"
        }
    else:
        margins = {}
    # Within NOISE of the fastest is a tie (interleaved medians on a shared machine move by more
    # than that between runs); a tie goes to the earlier of RUNTIMES (torch, then onnx: the
    # simpler runtime, with the faster load).
    fastest = min(candidates.values())
    best = next(runtime for runtime in RUNTIMES if runtime in candidates and candidates[runtime] <= fastest * (1 + NOISE))
    ms = candidates[best]
    dropped = [runtime for runtime in speed_ms if not keeps.get(runtime)]
    why = f"fastest that keeps quality: {ms} ms/frame against torch's {speed_ms['torch']} ({speed_ms['torch'] / ms:.2f}x)"
    if dropped:
        why += "; lost quality: " + ", ".join(
            f"{runtime} ({', '.join(f'{key} {value:+.4f}' for key, value in margins.get(runtime, {}).items())})" if margins.get(runtime) else runtime
            for runtime in dropped
        )
    return best, why


def _curate(config, clip, decode) -> dict:
    from soccerfactory.curation.pipeline import annotate_spatial, attribute_clip
    from soccerfactory.curation.stages import load_stages

    stages = load_stages(config)
    started = time.perf_counter()
    spatial = annotate_spatial(clip, stages, decode, calibrate=config.calibrate)
    attribute_clip(spatial, stages, config.attribute)
    seconds = time.perf_counter() - started
    return {
        "fps": round(spatial.n_frames / seconds, 2),
        "ms_per_frame_by_stage": {stage: round(1000 * sec / spatial.n_frames, 1) for stage, sec in spatial.stage_seconds.items()},
    }


def _curate_ratio(detect: str, calibrate: str, seconds: float, seed: int = 1, detect_runtimes: Sequence[str] = (), rounds: int = 1) -> dict:
    """Curate one rendered clip with the torch runtimes, the ``chosen`` ones and each of
    ``detect_runtimes`` (with the ``onnx`` keypoint model), interleaved over ``rounds``; fps of the
    best round of each arm and its ratio to torch's."""
    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.video.clips import split_clips
    from soccerfactory.curation.video.discover import discover_sources
    from soccerfactory.curation.video.scan import scan_video

    base = CurateConfig()
    runtimes = {"torch": ("torch", "torch"), "chosen": (detect, calibrate)}
    runtimes.update({f"detect {runtime}": (runtime, "onnx") for runtime in detect_runtimes if runtime != "torch"})
    arms = {name: base.with_values({"detect.runtime": d, "calibrate.runtime": c}) for name, (d, c) in runtimes.items()}
    with tempfile.TemporaryDirectory() as folder:
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=1280, height=720), folder)
        (clip,) = split_clips(scan_video(discover_sources(str(Path(folder) / "video.mp4"))[0]), max_clip_seconds=seconds + 1)
        every: dict[str, list[dict]] = {name: [] for name in arms}
        for _ in range(max(1, rounds)):
            for name, config in arms.items():
                every[name].append(_curate(config, clip, config.decode))
    runs = {name: max(results, key=lambda run: run["fps"]) for name, results in every.items()}
    for name, results in every.items():
        runs[name]["fps_rounds"] = [run["fps"] for run in results]
    return {
        "case": f"720p synthetic clip, {seconds:g} s, seed {seed}: annotate_spatial + attribute_clip, models loaded before timing, "
                f"arms interleaved over {max(1, rounds)} round(s), best round each",
        "chosen": {"detect.runtime": detect, "calibrate.runtime": calibrate},
        "arms": {name: {"detect.runtime": d, "calibrate.runtime": c} for name, (d, c) in runtimes.items()},
        "runs": runs,
        "speedup": round(runs["chosen"]["fps"] / runs["torch"]["fps"], 2),
        "speedup_by_arm": {name: round(run["fps"] / runs["torch"]["fps"], 2) for name, run in runs.items()},
    }


def bench_runtimes(
    runtimes: Sequence[str] = RUNTIMES,
    rounds: int = 5,
    quality: bool = True,
    limit: int | None = None,
    curate_seconds: float | None = None,
    curate_rounds: int = 1,
    on_progress: Callable[[dict], None] | None = None,
) -> dict:
    """Speed and quality of every runtime, and the runtime each stage should default to.

    Args:
        runtimes: Runtimes to compare (``torch`` must be one: it is the reference).
        rounds: Timed rounds per arm (after a warm-up call).
        quality: Also measure quality (minutes: the valid splits, with the ball slices); without
            it there is no choice.
        limit: Only the first ``limit`` images of each valid split (a smoke run; not comparable).
        curate_seconds: Also curate a synthetic 720p clip of this length with torch, with the
            chosen runtimes and with each detector runtime, and report the ratios.
        curate_rounds: Interleaved rounds of that curation (the best of each arm counts).
        on_progress: Called with the figures so far after the speed and after the quality part
            (``main`` writes the file each time: a failure later keeps what was measured).

    Returns:
        JSON-able figures: ``speed``, ``quality``, ``choice`` (per stage: runtime and why),
        ``curate`` (when asked).
    """
    if "torch" not in runtimes:
        raise ValueError(f"runtimes must include 'torch' (the reference), got {list(runtimes)}")
    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.runtimes import default_threads

    figures: dict = {
        "benchmark": "runtimes",
        "command": "python -m soccerfactory.flows.bench_runtimes",
        "threads_default": default_threads(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    if "onnx-int8" in runtimes:
        # The int8 detector is built by an explicit step (the detector only looks it up): build it
        # here, once, so its minutes of calibration are not timed as a detector load.
        from soccerfactory.curation.training.quantize import build_int8_detector

        int8 = build_int8_detector(imgsz=CurateConfig().detect.imgsz)
        figures["int8_build_s"] = None if int8.reused else int8.manifest.get("export_s")
    figures["speed"] = _speed(runtimes, rounds, CurateConfig().detect.imgsz)
    progress = on_progress or (lambda _figures: None)
    progress(figures)
    if quality:
        figures["quality"] = _quality(runtimes, limit)
        progress(figures)
        detect = choose_runtime(figures["speed"]["detector_ms_per_frame"], figures["quality"], "detect")
        calibrate = choose_runtime(figures["speed"]["keypoints_ms_per_frame"], figures["quality"], "calibrate")
        figures["choice"] = {"detect.runtime": {"runtime": detect[0], "why": detect[1]}, "calibrate.runtime": {"runtime": calibrate[0], "why": calibrate[1]}}
        if curate_seconds:
            figures["curate"] = _curate_ratio(detect[0], calibrate[0], curate_seconds, detect_runtimes=runtimes, rounds=curate_rounds)
    elif curate_seconds:
        default = CurateConfig()
        figures["curate"] = _curate_ratio(
            default.detect.runtime, default.calibrate.runtime, curate_seconds, detect_runtimes=runtimes, rounds=curate_rounds
        )
    figures["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("bench"), help="folder for runtimes.json")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-quality", action="store_true", help="speed only (no choice)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N valid images (smoke run)")
    parser.add_argument("--curate-seconds", type=float, default=None, help="also curate a synthetic clip this long, torch vs chosen")
    parser.add_argument("--curate-rounds", type=int, default=1, help="interleaved rounds of that curation (best of each arm)")
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES), help="runtimes to compare (torch is required)")
    args = parser.parse_args(argv)
    from soccerfactory.flows.bench import write_figures

    figures = bench_runtimes(
        runtimes=args.runtimes, rounds=args.rounds, quality=not args.no_quality, limit=args.limit, curate_seconds=args.curate_seconds,
        curate_rounds=args.curate_rounds, on_progress=lambda partial: write_figures(args.output / "runtimes.json", partial),
    )
    write_figures(args.output / "runtimes.json", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
