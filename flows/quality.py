"""Measured quality of the detection and tracking stages, as ``make bench`` and ``soccerfactory quality`` report it.

* :func:`detector_quality`: COCO AP@50 per class and for all persons merged, and ball recall at
  IoU 0.3, on a labelled YOLO split of real broadcast frames (``../shared/data/football-players/valid``
  by default), for one or more inference sizes, with and without the ball slices.
* :func:`ball_quality`: ball recall and precision of the ball slicing settings on held-out
  synthetic clips, where the ``detect.ball_*`` defaults are chosen (never on the real split).
* :func:`tracking_quality`: HOTA, DetA, AssA, IDF1 (trackeval) of detection + tracking + clean-up
  on held-out synthetic clips rendered here (seeds the default detector never trained on), for
  several tracker settings over the *same* detections, plus detector-only and detector + tracker
  throughput measured in the same run.

Both run the functions the ``curate`` flow runs (the detector and ``annotate_spatial`` with the
run's config); the tracking comparison replays one detection pass per clip to every tracker, so
the trackers differ in nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.curation.ball import best_ball_per_frame
from soccerfactory.curation.metrics import ball_recall, detection_ap50, load_yolo_split, tracking_scores
from soccerfactory.curation.types import BALL, CLASS_NAMES, Detections, Frames, Tracks
from soccerfactory.flows.config import CurateConfig

__all__ = ["DEFAULT_TRACKERS", "ReplayDetector", "ball_quality", "detector_quality", "plot_tracking", "tracking_quality"]

DEFAULT_SPLIT = DEFAULT_DATA_ROOT / "football-players" / "valid"

#: Tracker settings compared by :func:`tracking_quality`: name -> ``--set``-style overrides.
DEFAULT_TRACKERS: dict[str, dict[str, Any]] = {
    "bytetrack": {"track.backend": "bytetrack"},
    "bytetrack-no-cmc": {"track.backend": "bytetrack", "track.params": {"cmc": "none"}},
    "bytetrack-no-cleanup": {"track.backend": "bytetrack", "track.min_track_s": 0.0, "track.stitch_max_gap_s": 0.0},
    "bytetrack-no-jersey-link": {"track.backend": "bytetrack", "vote.link_by_jersey": False},
    "strongsort": {"track.backend": "strongsort"},
    "strongsort-no-cmc": {"track.backend": "strongsort", "track.params": {"cmc": "none"}},
    "strongsort-ecc": {"track.backend": "strongsort", "track.params": {"cmc": "ecc"}},
    "ocsort": {"track.backend": "ocsort"},
}


# --------------------------------------------------------------------------- detection


def detector_quality(
    split_dir: str | Path = DEFAULT_SPLIT,
    config: CurateConfig | None = None,
    imgsz: Sequence[int] | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """AP@50 and ball recall of the configured detector on a labelled split.

    AP uses every box down to confidence 0.01 (the COCO protocol ranks them); ball recall uses
    the pipeline's operating point: the most confident ball at ``detect.conf`` or above per frame,
    and, when ``detect.ball_slices`` > 0, the slices' ball where the full frame had none.

    Args:
        split_dir: A YOLO split (``images/``, ``labels/``) of 1920x1080 frames (any stretch).
        config: The curation config whose ``detect`` section is measured (default: defaults).
        imgsz: Inference sizes to compare (default: the config's).
        limit: Only the first ``limit`` images.
        progress: Called with a line of text after each size.

    Returns:
        ``{"images", "runs": [{"imgsz", "ap50": {...}, "ball_full_frame": {...},
        "ball_with_slices": {...}, "ms_per_image", "ms_per_image_slices"}], ...}``.
    """
    from soccerfactory.curation.detect import BallSlicer, build_detector

    config = config or CurateConfig()
    detect = config.detect
    images = load_yolo_split(split_dir, limit=limit)
    if not images:
        raise FileNotFoundError(f"no labelled images in {split_dir}")
    truth = Detections.merge([image.labels for image in images])
    pixels = [image.load() for image in images]
    runs = []
    for size in imgsz or [detect.imgsz]:
        detector = build_detector(
            detect.backend, weights=detect.resolved_weights(), imgsz=size, conf=0.01, iou=detect.iou, device=detect.device
        )
        started = time.perf_counter()
        found = []
        for position, image in enumerate(pixels):
            found.extend(detector.detect_each([image], [position]))
        ms = 1000 * (time.perf_counter() - started) / len(pixels)
        predictions = Detections.merge(found)
        ap = detection_ap50(truth, predictions, image_ids=np.arange(len(images)))
        at_operating_point = predictions[predictions.confidence >= detect.conf]
        best_ball = best_ball_per_frame(at_operating_point)
        run = {
            "imgsz": size,
            "ap50": {name: round(value, 4) for name, value in ap.items()},
            "ball_full_frame": _rounded(ball_recall(truth, best_ball)),
            "ms_per_image": round(ms, 1),
        }
        if detect.ball_slices:
            # Every labelled image is sliced when its ball is missing: ``ball_slice_every`` thins
            # slicing over a video's frames, not over independent images.
            slicer = BallSlicer(
                detector, slices=detect.ball_slices, overlap=detect.ball_slice_overlap, conf=detect.ball_slice_conf, imgsz=size,
                retry_below=detect.ball_slice_retry_below,
            )
            started = time.perf_counter()
            sliced = []
            for position, image in enumerate(pixels):
                frame = Frames(
                    images=image[None], frame_index=np.array([position]), timestamp_s=np.array([0.0]), fps=25.0, source=str(images[position].path)
                )
                sliced.append(slicer(frame, at_operating_point.for_frame(position)))
            run["ms_per_image_slices"] = round(1000 * (time.perf_counter() - started) / len(pixels), 1)
            with_slices = best_ball_per_frame(Detections.merge(sliced))
            run["ball_with_slices"] = _rounded(ball_recall(truth, with_slices))
            run["frames_sliced"] = int(len(pixels) - len(np.unique(best_ball.frame_index)))
        runs.append(run)
        if progress is not None:
            progress(f"imgsz {size}: person AP50 {run['ap50'].get('person')}, ball recall {run.get('ball_with_slices', run['ball_full_frame'])['recall']}")
    counts = {name: int((truth.class_id == i).sum()) for i, name in enumerate(CLASS_NAMES)}
    return {
        "split": str(split_dir),
        "images": len(images),
        "labelled_boxes": counts,
        "image_size": list(images[0].size),
        "weights": str(detect.resolved_weights()),
        "conf_operating_point": detect.conf,
        "ball_iou": 0.3,
        "runs": runs,
    }


def ball_quality(
    work_dir: str | Path,
    seeds: Sequence[int] = (201, 202, 203, 204, 205),
    seconds: float = 30.0,
    every: int = 25,
    config: CurateConfig | None = None,
    slices: Sequence[int] | None = None,
    slice_conf: Sequence[float] = (0.05, 0.1, 0.15, 0.25),
    retry_below: Sequence[float] = (0.0, 0.25, 0.5, 0.75),
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Ball recall and precision at IoU 0.3 of the ball slicing settings, on held-out synthetic clips.

    This is where the ``detect.ball_*`` defaults are chosen, so that the real ``valid`` split
    :func:`detector_quality` reports on is never tuned on. Every ``every``-th frame of each clip
    (rendered into ``work_dir/seed-N`` as for :func:`tracking_quality`) is run once through the
    full-frame detector at the config's operating point and once through every slice grid at the
    lowest ``slice_conf``; each (grid, slice confidence, retry threshold) is then scored from those
    candidates exactly as :class:`~soccerfactory.curation.detect.BallSlicer` followed by
    :func:`~soccerfactory.curation.ball.best_ball_per_frame` would decide, without re-detecting.

    Args:
        work_dir: Folder of the rendered clips (shared with :func:`tracking_quality`).
        seeds, seconds: The clips (seeds the bundled detector never trained on).
        every: Frame stride (consecutive frames are near-duplicates).
        config: Curation config whose ``detect`` section is the baseline (default: defaults).
        slices: Slice grids to compare (default: the config's).
        slice_conf, retry_below: Values of ``detect.ball_slice_conf`` and
            ``detect.ball_slice_retry_below`` to compare.
        progress: Called with a line of text after each step.

    Returns:
        ``{"frames", "labelled", "full_frame": {...}, "configured": {...}, "grid": [{"slices",
        "slice_conf", "retry_below", "recall", "precision", ...}], "ms_per_frame_slices": {...}}``.
    """
    import pyarrow.parquet as pq

    from soccerfactory.curation.detect import BallSlicer, build_detector
    from soccerfactory.curation.video import read_frames

    say = progress or (lambda line: None)
    detect = (config or CurateConfig()).detect
    grids = list(slices or [detect.ball_slices or 3])
    detector = build_detector(
        detect.backend, weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf, iou=detect.iou, device=detect.device
    )
    images, truths = [], []
    for seed in seeds:
        clip_dir = _held_out_clip(Path(work_dir), seed, seconds, say)
        labels = pq.read_table(clip_dir / "gt" / "ball.parquet", columns=["frame_index", "x1", "y1", "x2", "y2", "visible"]).to_pandas()
        labels = labels[labels.visible & labels.x1.notna()].set_index("frame_index")
        for batch in read_frames(_clip_of(clip_dir), batch_size=every):
            for image, frame in zip(batch.images, batch.frame_index.tolist()):
                if frame % every:
                    continue
                if frame in labels.index:
                    row = labels.loc[frame]
                    box = np.array([[row.x1, row.y1, row.x2, row.y2]], dtype=np.float32)
                    truths.append(Detections(box, np.ones(1, np.float32), np.array([BALL]), np.array([len(images)])))
                images.append(image.copy())  # a view would pin the whole decoded batch
    truth = Detections.merge(truths)
    positions = np.arange(len(images))
    full = Detections.merge([detector.detect_each([image], [i])[0] for i, image in zip(positions, images)])
    full = full[full.class_id == BALL]
    say(f"full-frame pass over {len(images)} frames: ball recall {ball_recall(truth, best_ball_per_frame(full))['recall']:.3f}")
    candidates, slice_ms = {}, {}
    for grid in grids:
        # retry_below=1 slices every frame; the policies below decide which of them would have been.
        slicer = BallSlicer(detector, slices=grid, overlap=detect.ball_slice_overlap, conf=min(slice_conf), imgsz=detect.imgsz, retry_below=1.0)
        started = time.perf_counter()
        found = []
        for position, image in zip(positions, images):
            frame = Frames(images=image[None], frame_index=np.array([position]), timestamp_s=np.array([0.0]), fps=25.0, source=f"frame {position}")
            found.append(slicer(frame, Detections.empty()))
        slice_ms[str(grid)] = round(1000 * (time.perf_counter() - started) / len(images), 1)
        candidates[grid] = Detections.merge(found)
        say(f"{grid}x{grid} slices: {slice_ms[str(grid)]} ms per frame")
    rows = []
    for grid in grids:
        for conf in slice_conf:
            for retry in retry_below:
                chosen = _slicing_policy(full, candidates[grid], conf, retry)
                scores = _rounded(ball_recall(truth, chosen))
                rows.append({"slices": grid, "slice_conf": conf, "retry_below": retry, **scores, "frames_sliced": _frames_sliced(full, retry, len(images))})
    configured = None
    if detect.ball_slices in candidates and detect.ball_slice_conf >= min(slice_conf):
        chosen = _slicing_policy(full, candidates[detect.ball_slices], detect.ball_slice_conf, detect.ball_slice_retry_below)
        configured = {
            "slices": detect.ball_slices, "slice_conf": detect.ball_slice_conf, "retry_below": detect.ball_slice_retry_below,
            **_rounded(ball_recall(truth, chosen)),
        }
    return {
        "seeds": list(seeds),
        "every": every,
        "frames": len(images),
        "labelled": int(len(truth)),
        "ball_iou": 0.3,
        "weights": str(detect.resolved_weights()),
        "imgsz": detect.imgsz,
        "full_frame": _rounded(ball_recall(truth, best_ball_per_frame(full))),
        "configured": configured,
        "grid": rows,
        "ms_per_frame_slices": slice_ms,
    }


def _slicing_policy(full: Detections, sliced: Detections, slice_conf: float, retry_below: float) -> Detections:
    """The ball per frame that :class:`BallSlicer` (``slice_conf``, ``retry_below``) then
    :func:`best_ball_per_frame` would keep, from full-frame balls and every frame's slice balls."""
    confident = full.frame_index[full.confidence >= retry_below]
    extra = sliced[(sliced.class_id == BALL) & (sliced.confidence >= slice_conf) & ~np.isin(sliced.frame_index, confident)]
    return best_ball_per_frame(Detections.merge([full, extra]))


def _frames_sliced(full: Detections, retry_below: float, frames: int) -> int:
    return frames - len(np.unique(full.frame_index[full.confidence >= retry_below]))


def _rounded(values: Mapping[str, float]) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in values.items()}


# --------------------------------------------------------------------------- tracking


class ReplayDetector:
    """A detector that returns the boxes another detector found earlier for the same frames.

    Lets several trackers run on one detection pass (the expensive part on a CPU), so that a
    comparison of trackers differs in the tracker only.
    """

    name = "replay"

    def __init__(self, detections: Detections, version: str) -> None:
        self._detections = detections
        self.version = version

    def __call__(self, frames: Frames) -> Detections:
        return self._detections[np.isin(self._detections.frame_index, frames.frame_index)]


def _truth_tracks(clip_dir: Path) -> Tracks:
    import pyarrow.parquet as pq

    table = pq.read_table(clip_dir / "gt" / "athletes.parquet", columns=["frame_index", "x1", "y1", "x2", "y2", "track_id", "class"])
    rows = table.to_pandas()
    rows = rows[rows.x1.notna()]
    return Tracks(
        xyxy=rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32),
        confidence=np.ones(len(rows), dtype=np.float32),
        class_id=np.array([CLASS_NAMES.index(c) for c in rows["class"]], dtype=np.int64),
        frame_index=rows.frame_index.to_numpy(np.int64),
        track_id=rows.track_id.to_numpy(np.int64),
    )


def _held_out_clip(work_dir: Path, seed: int, seconds: float, say: Callable[[str], None]) -> Path:
    """``work_dir/seed-N``: a 720p clip rendered once and reused by every later measurement."""
    from soccerfactory.curation.synth import SynthConfig, render_clip

    clip_dir = Path(work_dir) / f"seed-{seed}"
    if not (clip_dir / "clip.json").is_file():
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=1280, height=720), clip_dir)
        say(f"rendered seed {seed}")
    return clip_dir


def _clip_of(clip_dir: Path):
    from soccerfactory.curation.video import discover_sources, scan_video, split_clips

    scan = scan_video(discover_sources(str(clip_dir / "video.mp4"))[0])
    clips = split_clips(scan, max_clip_seconds=scan.frame_count / scan.fps + 1)
    if len(clips) != 1:
        raise RuntimeError(f"{clip_dir}: expected one shot, found {len(clips)}")
    return clips[0]


def _detect_clip(clip, stages, batch_size: int) -> tuple[Detections, float, int]:
    from soccerfactory.curation.video import read_frames

    parts, seconds, frames = [], 0.0, 0
    for batch in read_frames(clip, batch_size=batch_size):
        started = time.perf_counter()
        found = stages.detector(batch)
        if stages.ball_slicer is not None:
            found = stages.ball_slicer(batch, found)
        seconds += time.perf_counter() - started
        frames += len(batch)
        parts.append(found)
    return Detections.merge(parts), seconds, frames


def tracking_quality(
    work_dir: str | Path,
    seeds: Sequence[int] = (201, 202, 203, 204, 205),
    seconds: float = 30.0,
    config: CurateConfig | None = None,
    trackers: Mapping[str, Mapping[str, Any]] | None = None,
    throughput_frames: int = 250,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """HOTA and friends of detection + tracking on rendered clips, for several tracker settings.

    Clips are rendered at 720p, 25 fps into ``work_dir/seed-N`` (kept, with the detections as
    ``detections-<key>.npz`` keyed by detector version and detect settings, so a rerun with other
    trackers skips the rendering and the detector). Calibration, mask refinement and the ball
    slices are off: they change neither athlete boxes nor ids (track clean-up falls back to image
    positions without a camera). The throughput figures keep the ball slices as configured.

    Args:
        work_dir: Folder for the clips and cached detections.
        seeds: Renderer seeds (the default detector trained on seeds 100-109; keep these apart).
        seconds: Length of each clip.
        config: Base curation config (``detect`` and ``track`` sections are used).
        trackers: ``name -> overrides`` of ``track.*`` (and ``detect.*``) keys; default
            :data:`DEFAULT_TRACKERS`.
        throughput_frames: Frames of the first clip timed for detector-only and detector +
            tracker throughput (0 = skip).
        progress: Called with a line of text after each step.
    """
    from soccerfactory.flows.backends import load_stages

    say = progress or (lambda line: None)
    work_dir = Path(work_dir)
    # Calibration and refinement change neither boxes nor ids; the ball is not an athlete track.
    timed = (config or CurateConfig()).with_values({"calibrate.enabled": False, "refine.enabled": False})
    base = timed.with_values({"detect.ball_slices": 0})
    trackers = dict(trackers or DEFAULT_TRACKERS)
    stages = load_stages(base)
    detect_key = _detect_key(stages, base)
    sequences: dict[str, list[tuple[Tracks, Tracks, np.ndarray]]] = {name: [] for name in trackers}
    detect_seconds = detect_frames = 0
    clips = []
    for seed in seeds:
        clip_dir = _held_out_clip(work_dir, seed, seconds, say)
        clip = _clip_of(clip_dir)
        cache = clip_dir / f"detections-{detect_key}.npz"
        if cache.is_file():
            with np.load(cache) as saved:
                detections = Detections(saved["xyxy"], saved["confidence"], saved["class_id"], saved["frame_index"])
        else:
            detections, spent, frames = _detect_clip(clip, stages, base.decode.batch_size)
            detect_seconds += spent
            detect_frames += frames
            np.savez(cache, xyxy=detections.xyxy, confidence=detections.confidence, class_id=detections.class_id, frame_index=detections.frame_index)
            say(f"detected seed {seed}: {frames} frames in {spent:.0f} s")
        truth = _truth_tracks(clip_dir)
        frames_all = np.arange(clip.start_frame, clip.stop_frame)
        clips.append((clip, clip_dir))
        for name, overrides in trackers.items():
            variant = base.with_values(overrides)
            replay = dataclasses.replace(load_stages(variant), detector=ReplayDetector(detections, detect_key), ball_slicer=None)
            sequences[name].append((truth, _curated_tracks(clip, replay, variant), frames_all))
        say(f"tracked seed {seed} with {len(trackers)} trackers")

    results = {name: tracking_scores(seqs) for name, seqs in sequences.items()}
    summary: dict[str, Any] = {
        "clips": [{"seed": seed, "frames": clip.stop_frame - clip.start_frame} for seed, (clip, _) in zip(seeds, clips)],
        "seconds_per_clip": seconds,
        "resolution": "1280x720",
        "detector": stages.versions.get("detector"),
        "detect": base.detect.model_dump(mode="json", exclude={"weights"}),
        "trackers": {name: {"overrides": trackers[name], **results[name]} for name in trackers},
    }
    if detect_frames:
        summary["detector_fps_during_caching"] = round(detect_frames / detect_seconds, 2)
    if throughput_frames and clips:
        summary["throughput"] = _throughput(clips[0][0], timed, throughput_frames)
        say(f"throughput: {summary['throughput']}")
    return summary


def _curated_tracks(clip, stages, config: CurateConfig) -> Tracks:
    """The athlete rows a curated shard would hold: tracked, cleaned up, attributed and voted
    (``track_id`` after tracklets of one athlete are joined by team and jersey)."""
    from soccerfactory.curation.pipeline import annotate_spatial, attribute_clip, vote_clip

    spatial = annotate_spatial(clip, stages, batch_size=config.decode.batch_size, semantic_fps=config.decode.semantic_fps)
    attributes = attribute_clip(spatial, stages, max_crops_per_track=config.attribute.max_crops_per_track)
    athletes = vote_clip(
        spatial, attributes, jersey_min_confidence=config.attribute.jersey_min_confidence,
        min_votes=config.vote.min_votes, link_by_jersey=config.vote.link_by_jersey,
    )["athletes"]
    columns = athletes.select(["frame_index", "x1", "y1", "x2", "y2", "confidence", "class", "track_id"]).to_pydict()
    return Tracks(
        xyxy=np.column_stack([columns[k] for k in ("x1", "y1", "x2", "y2")]).reshape(-1, 4),
        confidence=np.asarray(columns["confidence"], dtype=np.float32),
        class_id=np.array([CLASS_NAMES.index(c) for c in columns["class"]], dtype=np.int64),
        frame_index=np.asarray(columns["frame_index"], dtype=np.int64),
        track_id=np.asarray(columns["track_id"], dtype=np.int64),
    )


def _detect_key(stages, config: CurateConfig) -> str:
    detect = config.detect.model_dump(mode="json", exclude={"weights", "device"})
    text = json.dumps({"detector": stages.versions.get("detector"), "detect": detect}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _throughput(clip, config: CurateConfig, frames: int) -> dict:
    """Frames per second of the detector alone, detector + ball slices, and detector + slices +
    tracker + clean-up, over the same ``frames`` frames of ``clip``, one after the other."""
    from soccerfactory.curation.pipeline import annotate_spatial
    from soccerfactory.flows.backends import load_stages

    short = clip.head(frames)
    stages = load_stages(config)
    no_slices = dataclasses.replace(stages, ball_slicer=None)
    _, detector_s, n = _detect_clip(short, no_slices, config.decode.batch_size)
    _, sliced_s, _ = _detect_clip(short, stages, config.decode.batch_size)
    spatial = annotate_spatial(short, stages, batch_size=config.decode.batch_size)
    tracked_s = sum(spatial.stage_seconds.get(k, 0.0) for k in ("detect", "ball_slices", "track", "postprocess", "ball_track"))
    return {
        "frames": n,
        "detector_fps": round(n / detector_s, 2),
        "detector_with_ball_slices_fps": round(n / sliced_s, 2),
        "detect_track_fps": round(n / tracked_s, 2),
        "detect_track_fps_with_decode": round(n / spatial.seconds, 2),
        "ms_per_frame_by_stage": {k: round(1000 * v / n, 1) for k, v in spatial.stage_seconds.items()},
        "tracker": config.track.backend,
    }


def plot_tracking(figures: Mapping[str, Any], path: str | Path) -> Path:
    """Bar chart of HOTA, DetA, AssA and IDF1 per tracker setting (combined over the clips), as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(figures["trackers"])
    metrics = ("HOTA", "DetA", "AssA", "IDF1")
    figure, axes = plt.subplots(figsize=(1.6 + 1.3 * len(names), 4.2), dpi=110)
    width = 0.8 / len(metrics)
    for k, metric in enumerate(metrics):
        values = [figures["trackers"][name]["combined"][metric] for name in names]
        bars = axes.bar(np.arange(len(names)) + (k - 1.5) * width, values, width, label=metric)
        if metric == "HOTA":
            axes.bar_label(bars, fmt="%.1f", fontsize=7)
    axes.axhline(80, color="grey", linestyle="--", linewidth=0.8)
    axes.set_xticks(np.arange(len(names)), names, rotation=20, ha="right", fontsize=8)
    axes.set_ylim(0, 112)  # headroom for the legend above the bars
    axes.set_ylabel("score (%)")
    seeds = ", ".join(str(c["seed"]) for c in figures.get("clips", []))
    axes.set_title(f"Detection + tracking on held-out synthetic clips (seeds {seeds})", fontsize=9)
    axes.legend(fontsize=8, ncols=4, loc="upper right")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(temporary)
    plt.close(figure)
    temporary.replace(path)
    return path
