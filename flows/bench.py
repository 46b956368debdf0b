"""``make bench``: speed figures, measured in one run and saved as JSON.

Timed tests are flaky on shared machines; figures live here instead, each with the machine it was
measured on. Ratios measured in the same run are the numbers to quote.

Usage: python -m soccerfactory.flows.bench [--output bench] [--only synth]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

__all__ = ["bench_synth", "main"]


def _machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def bench_synth(seconds: float = 10.0, seed: int = 1) -> dict:
    """Render speed of ``soccerfactory synth OUT --seconds 10 --seed 1`` at 720p and 1080p.

    The goal (issue 2) is 25 frames per second or faster at 720p on 2 cores, video encoding and
    ground truth included; the image sequence is measured separately because JPEG encoding of
    every frame is optional.
    """
    from soccerfactory.curation.synth import SynthConfig, render_clip

    runs = []
    for label, width, height, images in (("720p", 1280, 720, False), ("720p+images", 1280, 720, True), ("1080p", 1920, 1080, False)):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = render_clip(SynthConfig(seconds=seconds, seed=seed, width=width, height=height), folder, images=images)
            elapsed = time.perf_counter() - started
        runs.append({"case": label, "frames": result.frames, "seconds": round(elapsed, 3), "fps": round(result.frames / elapsed, 2)})
    fps_720 = runs[0]["fps"]
    return {
        "benchmark": "synth",
        "command": f"soccerfactory synth OUT --seconds {seconds:g} --seed {seed}",
        "runs": runs,
        "goal_fps_720p": 25.0,
        "meets_goal": fps_720 >= 25.0,
        "ratio_720p_to_1080p": round(fps_720 / runs[2]["fps"], 2),
    }


BENCHMARKS = {"synth": bench_synth}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("bench"), help="folder for the JSON figures")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these benchmarks")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for name in args.only or sorted(BENCHMARKS):
        figures = BENCHMARKS[name]()
        figures["machine"] = _machine()
        figures["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        path = args.output / f"{name}.json"
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(figures, indent=2))
        os.replace(temporary, path)
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
