"""Measured quality of detection + tracking, as ``make bench`` and ``soccerfactory quality tracking`` report it.

:func:`tracking_quality`: HOTA, DetA, AssA, IDF1 (trackeval) of detection + tracking + clean-up
on held-out synthetic clips rendered here (seeds the default detector never trained on), for
several tracker settings over the *same* detections, plus detector-only and detector + tracker
throughput measured in the same run.

It runs the functions the ``curate`` flow runs (the detector and ``annotate_spatial`` with the
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

from soccerfactory.curation.config import CurateConfig, DecodeConfig
from soccerfactory.curation.quality.clips import HELD_OUT_SEEDS, clip_of, held_out_clip
from soccerfactory.curation.quality.metrics import tracking_scores
from soccerfactory.curation.types import CLASS_NAMES, Detections, Frames, Tracks
from soccerfactory.storage.groundtruth import read_ground_truth

__all__ = ["DEFAULT_TRACKERS", "ReplayDetector", "plot_tracking", "tracking_quality"]

#: Tracker settings compared by :func:`tracking_quality`: name -> ``--set``-style overrides.
DEFAULT_TRACKERS: dict[str, dict[str, Any]] = {
    "bytetrack": {"track.backend": "bytetrack"},
    "bytetrack-no-cmc": {"track.backend": "bytetrack", "track.params": {"cmc": "none"}},
    "bytetrack-no-cleanup": {"track.backend": "bytetrack", "track.min_track_s": 0.0, "track.stitch_max_gap_s": 0.0},
    "bytetrack-no-jersey-link": {"track.backend": "bytetrack", "vote.link_by_jersey": False},
    "strongsort": {"track.backend": "strongsort"},
    "strongsort-colour": {"track.backend": "strongsort", "track.params": {"appearance": "colour"}},
    "strongsort-no-cmc": {"track.backend": "strongsort", "track.params": {"cmc": "none"}},
    "strongsort-ecc": {"track.backend": "strongsort", "track.params": {"cmc": "ecc"}},
    "ocsort": {"track.backend": "ocsort"},
}


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
    table = read_ground_truth(clip_dir / "gt", "athletes").select(["frame_index", "x1", "y1", "x2", "y2", "track_id", "class"])
    rows = table.to_pandas()
    rows = rows[rows.x1.notna()]
    return Tracks(
        xyxy=rows[["x1", "y1", "x2", "y2"]].to_numpy(np.float32),
        confidence=np.ones(len(rows), dtype=np.float32),
        class_id=np.array([CLASS_NAMES.index(c) for c in rows["class"]], dtype=np.int64),
        frame_index=rows.frame_index.to_numpy(np.int64),
        track_id=rows.track_id.to_numpy(np.int64),
    )


def _detect_clip(clip, stages, batch_size: int) -> tuple[Detections, float, int]:
    from soccerfactory.curation.video.decode import read_frames

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
    seeds: Sequence[int] = HELD_OUT_SEEDS,
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
    from soccerfactory.curation.stages import load_stages

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
        clip_dir = held_out_clip(work_dir, seed, seconds, say)
        clip = clip_of(clip_dir)
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
    from soccerfactory.curation.layout import tracks_from_table
    from soccerfactory.curation.pipeline import annotate_spatial, attribute_clip, layout_clip, vote_clip
    from soccerfactory.curation.stages import pitch_of

    # Every frame, as the tracking ground truth has them (the figures were measured so).
    spatial = annotate_spatial(clip, stages, config.decode.model_copy(update={"spatial_stride": 1}), calibrate=config.calibrate)
    attributes = attribute_clip(spatial, stages, config.attribute)
    labels = vote_clip(spatial, attributes, config.attribute, config.vote, pitch=pitch_of(config))
    return tracks_from_table(layout_clip(spatial, labels)["athletes"])


def _detect_key(stages, config: CurateConfig) -> str:
    detect = config.detect.model_dump(mode="json", exclude={"weights", "device"})
    text = json.dumps({"detector": stages.versions.get("detector"), "detect": detect}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _throughput(clip, config: CurateConfig, frames: int) -> dict:
    """Frames per second of the detector alone, detector + ball slices, and detector + slices +
    tracker + clean-up, over the same ``frames`` frames of ``clip``, one after the other."""
    from soccerfactory.curation.pipeline import annotate_spatial
    from soccerfactory.curation.stages import load_stages

    short = clip.head(frames)
    stages = load_stages(config)
    no_slices = dataclasses.replace(stages, ball_slicer=None)
    _, detector_s, n = _detect_clip(short, no_slices, config.decode.batch_size)
    _, sliced_s, _ = _detect_clip(short, stages, config.decode.batch_size)
    # Every frame at the source rate whatever the config samples: this is the detect+track speed.
    spatial = annotate_spatial(short, stages, DecodeConfig(batch_size=config.decode.batch_size), calibrate=config.calibrate)
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
