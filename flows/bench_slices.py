"""The ball slices on consecutive frames: the whole grid against the targeted search, in one run.

``soccerfactory quality ball`` scores the slicing settings on independent frames a second apart,
where no search can know where the ball was; the targeted search
(:meth:`~soccerfactory.curation.detection.detector.BallSlicer.for_clip`) only pays off on a clip's
consecutive frames. :func:`bench_ball_slices` renders dev-seed clips (400-499, never the held-out
301-305), runs the full-frame detector once over every frame, then both slicers over the same
detections, batch by batch as the pipeline does, and scores the ball track each gives
(:func:`~soccerfactory.curation.detection.ball.follow_ball`, recall and precision at IoU 0.3
against the rendered ground truth) with the slices' milliseconds per frame.

Run ``python -m soccerfactory.flows.bench_slices --seeds 400 401 --seconds 6`` (JSON on stdout).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["bench_ball_slices"]


def bench_ball_slices(
    seeds: Sequence[int] = (400, 401, 402), seconds: float = 6.0, work_dir: str | Path | None = None, progress=print
) -> dict:
    """Ball recall and slice cost of the full grid and the targeted search on dev-seed 720p clips.

    Returns:
        JSON-able: per arm (``full_grid``, ``targeted``) ``recall``, ``precision`` (of the ball
        track), ``slice_ms_per_frame`` and ``windows_per_sliced_frame``; ``ratio_ms`` (targeted
        over full grid), the frames and the settings.
    """
    import numpy as np

    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.detection.ball import follow_ball
    from soccerfactory.curation.detection.detector import BallSlicer, build_detector, slice_grid
    from soccerfactory.curation.quality.clips import clip_of
    from soccerfactory.curation.quality.metrics import ball_recall, rounded
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.types import BALL, Detections
    from soccerfactory.curation.video.decode import read_frames
    from soccerfactory.storage.groundtruth import read_ground_truth

    if set(seeds) & {301, 302, 303, 304, 305}:
        raise ValueError(f"seeds {sorted(seeds)} include held-out seeds 301-305; use dev seeds 400-499")
    config = CurateConfig()
    detect = config.detect
    detector = build_detector(detect.backend, weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf, iou=detect.iou,
                              device=detect.device)
    slicer = BallSlicer(detector, slices=detect.ball_slices, overlap=detect.ball_slice_overlap, conf=detect.ball_slice_conf,
                        every=detect.ball_slice_every, retry_below=detect.ball_slice_retry_below)
    arms = {"full_grid": {"candidates": [], "seconds": 0.0, "windows": 0, "sliced": 0, "truth": []},
            "targeted": {"candidates": [], "seconds": 0.0, "windows": 0, "sliced": 0, "truth": []}}
    frames_total = 0
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(work_dir) if work_dir is not None else Path(scratch)
        for seed in seeds:
            clip_dir = root / f"dev-{seed}-{seconds:g}s"
            if not (clip_dir / "video.mp4").is_file():
                render_clip(SynthConfig(seconds=seconds, seed=seed, width=1280, height=720), clip_dir)
            clip = clip_of(clip_dir)
            labels = read_ground_truth(clip_dir / "gt", "ball").select(["frame_index", "x1", "y1", "x2", "y2", "visible"]).to_pandas()
            labels = labels[labels.visible & labels.x1.notna()]
            truth = Detections(labels[["x1", "y1", "x2", "y2"]].to_numpy(np.float32), np.ones(len(labels), np.float32),
                               np.full(len(labels), BALL), labels.frame_index.to_numpy(np.int64))
            search = slicer.for_clip()
            per_arm = {"full_grid": [], "targeted": []}
            for frames in read_frames(clip, batch_size=config.decode.batch_size):
                full = detector(frames)
                to_slice = len(slicer.to_slice(frames, full))
                for name, run in (("full_grid", slicer), ("targeted", search)):
                    started = time.perf_counter()
                    found = run(frames, full)
                    arms[name]["seconds"] += time.perf_counter() - started
                    arms[name]["sliced"] += to_slice
                    per_arm[name].append(found[found.class_id == BALL])
                frames_total += len(frames)
            arms["targeted"]["windows"] += search.windows_cut
            for name in arms:
                track = follow_ball(Detections.merge(per_arm[name]), fps=clip.fps, frame_width=clip.width,
                                    max_gap_s=detect.ball_max_gap_s, max_speed=detect.ball_max_speed)
                arms[name]["candidates"].append(track)
                arms[name]["truth"].append(truth)
            progress(f"seed {seed}: {clip.num_frames} frames")
    grid = len(slice_grid(1280, 720, detect.ball_slices, detect.ball_slice_overlap))
    arms["full_grid"]["windows"] = grid * arms["full_grid"]["sliced"]
    result = {}
    for name, arm in arms.items():
        # Frame indices restart with each clip: offset them so the clips do not mix.
        offset, truths, tracks = 0, [], []
        for truth, track in zip(arm["truth"], arm["candidates"]):
            truths.append(Detections(truth.xyxy, truth.confidence, truth.class_id, truth.frame_index + offset))
            tracks.append(Detections(track.xyxy, track.confidence, track.class_id, track.frame_index + offset))
            offset += 1_000_000
        scores = rounded(ball_recall(Detections.merge(truths), Detections.merge(tracks)))
        result[name] = {
            **scores,
            "slice_ms_per_frame": round(1000 * arm["seconds"] / max(frames_total, 1), 1),
            "windows_per_sliced_frame": round(arm["windows"] / max(arm["sliced"], 1), 2),
        }
    return {
        "benchmark": "ball_slices",
        "case": f"720p synthetic clips, dev seeds {list(seeds)}, {seconds:g} s each, every frame; the ball track scored at IoU 0.3",
        "frames": frames_total,
        "settings": {"slices": detect.ball_slices, "every": detect.ball_slice_every, "retry_below": detect.ball_slice_retry_below,
                     "slice_conf": detect.ball_slice_conf, "search_speed": slicer.search_speed, "margin": slicer.margin},
        **result,
        "ratio_ms_targeted_to_full_grid": round(result["targeted"]["slice_ms_per_frame"] / max(result["full_grid"]["slice_ms_per_frame"], 1e-9), 3),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ball slices, whole grid vs targeted search, on dev-seed clips (JSON on stdout).")
    parser.add_argument("--seeds", type=int, nargs="+", default=[400, 401, 402])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(bench_ball_slices(args.seeds, args.seconds, args.work_dir, progress=lambda s: print(s, file=sys.stderr)), indent=2))


if __name__ == "__main__":
    main()
