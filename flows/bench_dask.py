"""Benchmark: the same clips curated on a local Dask cluster of 1 worker process and of 2.

Both arms run in this one process, one after the other, on the same rendered clips, each into a
fresh shard root (nothing skipped), under one Prefect API server started before either (so neither
pays its start-up). Each arm's wall time includes its own cluster start and each worker's model
loading: what a user waits for. The ratio ``one_worker_s / two_workers_s`` is the figure to quote;
absolute seconds depend on how busy the machine is.

Usage: python -m soccerfactory.flows.bench_dask [--seconds 2] [--clips 4] [--output bench]
(the lead wires ``bench_dask`` into ``make bench``; it must run as a script or under
``if __name__ == "__main__"``: Dask starts its workers by re-importing the main module).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["bench_dask", "main"]

#: Development seeds (400-499): never the held-out 301-305.
SEEDS = (410, 411, 412, 413, 414, 415, 416, 417)


def _render(folder: Path, clips: int, seconds: float, width: int, height: int) -> Path:
    from soccerfactory.curation.synth import SynthConfig, render_clip

    source = folder / "source"
    source.mkdir(parents=True)
    for seed in SEEDS[:clips]:
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=width, height=height), folder / f"render-{seed}")
        shutil.copy(folder / f"render-{seed}" / "video.mp4", source / f"synth-{seed}.mp4")
    return source


def _arm(source: Path, output: Path, workers: int, overrides: list[str]) -> dict:
    from soccerfactory.curation.config import load_config
    from soccerfactory.flows.curate import run_curate
    from soccerfactory.flows.task_runners import worker_threads

    config = load_config(overrides=[*overrides, "run.task_runner=dask", f"run.max_parallel_clips={workers}"])
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    summary = run_curate(str(source), str(output), config)
    wall = time.perf_counter() - started
    if summary.failures or summary.count("curated") != len(summary.clips):
        raise RuntimeError(f"the {workers}-worker arm did not curate every clip: {summary.failures}")
    clip_seconds = [c.get("seconds") or 0.0 for c in summary.clips]
    return {
        "workers": workers,
        "threads_per_worker": worker_threads(workers),
        "wall_s": round(wall, 1),
        "clips": len(summary.clips),
        "sum_clip_s": round(sum(clip_seconds), 1),
        "load_average_before": round(load_before, 2),
    }


def bench_dask(seconds: float = 2.0, clips: int = 4, width: int = 1280, height: int = 720, overrides: list[str] | None = None) -> dict:
    """Curate ``clips`` rendered ``width``x``height`` clips of ``seconds`` each with 1 Dask worker
    process and then with 2, the same clips and config; returns the JSON-able figures.

    Args:
        seconds: Length of each synthetic clip, seconds (25 fps: 2.0 -> 50 frames).
        clips: How many clips (4 by default: 2 per worker in the 2-worker arm).
        width, height: Frame size, pixels.
        overrides: ``--set`` values for the curate config (default config when None).

    Returns:
        ``{"case", "one_worker", "two_workers", "speedup", "goal", ...}``: each arm's wall time
        (seconds, cluster start and model loading included) and ``speedup`` =
        one_worker wall / two_workers wall.
    """
    from soccerfactory.flows.prefect_env import embedded_prefect

    overrides = list(overrides or [])
    with tempfile.TemporaryDirectory(prefix="sf-bench-dask-") as tmp:
        root = Path(tmp)
        source = _render(root, clips, seconds, width, height)
        with embedded_prefect(root):
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:  # the API server up before either arm
                client.api_healthcheck()
            one = _arm(source, root / "out-1", 1, overrides)
            two = _arm(source, root / "out-2", 2, overrides)
    frames = int(round(seconds * 25)) * clips
    return {
        "benchmark": "dask",
        "case": f"{clips} synthetic {width}x{height} clips of {seconds:g} s ({frames} frames in all), config overrides {overrides or 'none'}",
        "command": f"python -m soccerfactory.flows.bench_dask --seconds {seconds:g} --clips {clips}",
        "one_worker": one,
        "two_workers": two,
        "speedup": round(one["wall_s"] / two["wall_s"], 2),
        "goal": ">= 1.7x",
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_after": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each clip, seconds")
    parser.add_argument("--clips", type=int, default=4, help="number of clips")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="curate config override, e.g. detect.imgsz=640")
    parser.add_argument("--output", type=Path, default=Path("bench"), help="folder for dask.json")
    args = parser.parse_args(argv)
    figures = bench_dask(args.seconds, args.clips, overrides=args.overrides)
    from soccerfactory.flows.bench import write_figures

    write_figures(args.output / "dask.json", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
