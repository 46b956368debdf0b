"""Benchmark of data-parallel training: steps per second of 1 process against 2 (DDP, gloo) on
this machine's CPUs, at the same global batch, measured in one run and returned as JSON.

Usage: python -m soccerfactory.flows.bench_train [--steps 8] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

__all__ = ["bench_ddp", "main"]


def bench_ddp(steps: int = 8, batch_size: int = 4, repeats: int = 1, seed: int = 400) -> dict:
    """Training steps per second of the tiny model (2-frame windows) on one process with
    ``batch_size`` samples a step, and on 2 processes with half as many each (the same global
    batch, so the same samples and nearly the same losses), arms interleaved ``repeats`` times.

    ``steps_per_s`` is the steady rate (first step excluded: model build, first allocations);
    ``wall_s`` includes the start-up of the processes (spawn, importing torch in each), which
    on a CPU is most of a short run. On 2 cores, 2 processes of 1 thread each do the work one
    process with 2 threads does, so a ratio near 1 is the honest expectation on a quiet machine;
    on a busy one the single process's 2 intra-op threads wait on each other and the ratio says
    more about that than about DDP. DDP pays off with one GPU per process.

    Returns:
        ``{"benchmark": "train-ddp", "runs": [{"processes", "steps_per_s", "wall_s", "losses"}],
        "ratio_2_to_1", "max_loss_rel_diff", "machine": {...}}``.
    """
    import torch

    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.model.config import ModelConfig
    from soccerfactory.model.data import ShardWindowDataset, select_windows
    from soccerfactory.model.train import TrainConfig, train
    from soccerfactory.storage.catalog import register_shards
    from soccerfactory.storage.shards import list_manifests

    if batch_size % 2:
        raise ValueError(f"batch_size must be even (2 processes share it); got {batch_size}")
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        render_clip(SynthConfig(seconds=2.0, seed=seed, width=640, height=360), base / "clip")
        groundtruth_shard(base / "clip", base / "shards", match_id="bench")
        register_shards(base / "catalog.duckdb", list_manifests(base / "shards"))
        dataset = ShardWindowDataset(select_windows(base / "catalog.duckdb", window=2, step=2), ModelConfig.tiny(window=2))
        dataset[0]  # decoded here, once: both arms start from the decoded clip
        for repeat in range(repeats):
            for processes in (1, 2):
                config = TrainConfig(steps=steps, batch_size=batch_size // processes, processes=processes, warmup_steps=1,
                                     checkpoint_every=steps)
                started = time.perf_counter()
                result = train(dataset, dataset.config, config, str(base / f"run-{repeat}-{processes}" / "checkpoint.pt"))
                wall = time.perf_counter() - started
                history = result["history"]
                steady = (history[-1]["seconds"] - history[0]["seconds"]) / max(1, len(history) - 1)
                # Threads per process: torch's default (every core) in this one; the launcher
                # gives each of N processes cores // N, so both arms use every core.
                threads = torch.get_num_threads() if processes == 1 else max(1, (os.cpu_count() or 1) // processes)
                runs.append({"processes": processes, "threads_per_process": threads, "batch_per_process": batch_size // processes, "steps": steps,
                             "steps_per_s": round(1 / steady, 3) if steady > 0 else None, "wall_s": round(wall, 2),
                             "losses": [round(r["loss"], 5) for r in history]})
    one = [r for r in runs if r["processes"] == 1]
    two = [r for r in runs if r["processes"] == 2]
    rate = lambda arm: sum(r["steps_per_s"] or 0 for r in arm) / len(arm)  # noqa: E731
    diffs = [abs(a - b) / abs(a) for r1, r2 in zip(one, two) for a, b in zip(r1["losses"], r2["losses"])]
    return {
        "benchmark": "train-ddp",
        "command": f"python -m soccerfactory.flows.bench_train --steps {steps} --repeats {repeats}",
        "global_batch": batch_size,
        "runs": runs,
        "ratio_2_to_1": round(rate(two) / rate(one), 2) if rate(one) else None,
        "wall_ratio_2_to_1": round(sum(r["wall_s"] for r in two) / sum(r["wall_s"] for r in one), 2),
        "max_loss_rel_diff": float(f"{max(diffs):.2g}") if diffs else None,
        "machine": {"cpus": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()]},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args(argv)
    figures = bench_ddp(steps=args.steps, repeats=args.repeats)
    text = json.dumps(figures, indent=2)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.output.with_name(args.output.name + ".tmp")
        temporary.write_text(text + "\n")
        temporary.replace(args.output)  # a reader never sees half of the figures
    print(text)


if __name__ == "__main__":
    main()
