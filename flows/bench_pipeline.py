"""The source-rate pass pipelined (decode, detect-and-track, calibrate on three threads) against the
sequential loop, on the same 720p clip in one process, arms interleaved.

Run ``python -m soccerfactory.flows.bench_pipeline --seconds 4 --repeats 2`` (JSON on stdout).
Timings are only comparable within one run; on a machine other processes keep busy the overlap
has no idle core to use, and the ratio shrinks towards 1.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["bench_pipeline"]


def bench_pipeline(seconds: float = 4.0, seed: int = 1, repeats: int = 2, torch_threads: Sequence[int] | None = None) -> dict:
    """Frames per second of :func:`~soccerfactory.curation.pipeline.annotate_spatial` with
    ``pipelined`` off and on, default config, on a ``seconds`` long 720p synthetic clip.

    Args:
        seconds, seed: The clip (seed 1 is the one ``make bench``'s curate case renders).
        repeats: Rounds of (off, on), interleaved so that a change in the machine's load hits both.
        torch_threads: Also run the pipelined arm with each of these ``torch.set_num_threads``
            values (the default arms keep torch's own setting, restored after).

    Returns:
        JSON-able: per arm the best and every ``fps``, ms per frame by stage of its best run;
        ``ratio_on_to_off`` (best fps over best fps) and ``identical`` (same tracks, ball and
        cameras in every arm as in the first sequential run).
    """
    import numpy as np
    import torch

    from soccerfactory.curation.config import CurateConfig
    from soccerfactory.curation.pipeline import annotate_spatial
    from soccerfactory.curation.stages import load_stages
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.video.clips import split_clips
    from soccerfactory.curation.video.discover import discover_sources
    from soccerfactory.curation.video.scan import scan_video

    config = CurateConfig()
    stages = load_stages(config)
    default_threads = torch.get_num_threads()
    arms = [("off", None), ("on", None)] + [(f"on-torch{n}", n) for n in (torch_threads or [])]
    runs: dict[str, list] = {name: [] for name, _ in arms}
    reference, identical = None, True
    with tempfile.TemporaryDirectory() as folder:
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=1280, height=720), folder)
        (clip,) = split_clips(scan_video(discover_sources(str(Path(folder) / "video.mp4"))[0]), max_clip_seconds=seconds + 1)
        # A process's first pass differs from all later ones by ~1e-4 px in athlete boxes (the
        # detector's first call; measured: sequential vs sequential too), so a short warm-up first.
        annotate_spatial(clip.head(config.decode.batch_size), stages, config.decode, calibrate=config.calibrate, pipelined=False)
        for _ in range(repeats):
            for name, threads in arms:
                torch.set_num_threads(threads or default_threads)
                started = time.perf_counter()
                spatial = annotate_spatial(clip, stages, config.decode, calibrate=config.calibrate, pipelined=name != "off")
                wall = time.perf_counter() - started
                torch.set_num_threads(default_threads)
                runs[name].append((spatial.n_frames / wall, {k: round(1000 * v / spatial.n_frames, 1) for k, v in spatial.stage_seconds.items()}))
                if reference is None:
                    reference = spatial
                else:
                    identical &= _same(reference, spatial, np)
    figures = {
        name: {"fps": round(max(f for f, _ in rs), 3), "fps_each": [round(f, 3) for f, _ in rs], "ms_per_frame_by_stage": max(rs)[1]}
        for name, rs in runs.items()
    }
    return {
        "benchmark": "pipeline",
        "case": f"720p synthetic clip, {seconds:g} s, seed {seed}, default config; arms interleaved {repeats}x",
        "frames": reference.n_frames if reference is not None else 0,
        "torch_threads_default": default_threads,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        **figures,
        "ratio_on_to_off": round(figures["on"]["fps"] / figures["off"]["fps"], 3),
        "identical": bool(identical),
    }


def _same(a, b, np) -> bool:
    cameras = all(
        r.valid == s.valid and (r.camera is None or (np.array_equal(r.camera.K, s.camera.K) and np.array_equal(r.camera.R, s.camera.R)))
        for r, s in zip(a.calibrations, b.calibrations)
    )
    return bool(
        np.array_equal(a.tracks.xyxy, b.tracks.xyxy) and np.array_equal(a.tracks.track_id, b.tracks.track_id)
        and np.array_equal(a.ball.xyxy, b.ball.xyxy) and len(a.calibrations) == len(b.calibrations) and cameras
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="annotate_spatial pipelined vs sequential on one clip (JSON on stdout).")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--torch-threads", type=int, nargs="*", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(bench_pipeline(args.seconds, args.seed, args.repeats, args.torch_threads), indent=2))


if __name__ == "__main__":
    main()
