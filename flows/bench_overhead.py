"""What ``soccerfactory curate`` costs around the curation itself: a cold run and a fully cached one.

:func:`bench_overhead` renders a synthetic 720p clip (10 s by default), runs the real command
(``soccerfactory curate CLIP --output OUT``) twice in fresh processes on the embedded default
(every ``PREFECT_*`` variable removed, so Prefect's API server is started by the command as a
user's would be), and reads each run's record (``OUT/runs/RUN_ID.json``):

* ``wall_s``: the process's wall time, interpreter start to exit;
* ``clips_s``: seconds inside the clip's own chain (model loading, annotate, attribute, vote,
  write: the record's ``clip_times``);
* ``overhead_s`` = wall - clips: imports, Prefect's server and its task runs, the source scan,
  the shard checks, registration, the report; ``overhead_share`` = overhead / wall.

Goals (issue 17): overhead at most 5 % of the cold run; the cached re-run "in seconds" (< 10 s
on two cores). Run it with ``python -m soccerfactory.flows.bench_overhead`` (prints JSON).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["bench_overhead", "curate_in_subprocess"]

#: Heavy packages a cached run should not need; the bench reports which ones each run imported.
HEAVY = ("torch", "ultralytics", "boxmot", "sam2", "onnxruntime", "openvino")

#: Runs the CLI in this interpreter, then writes which HEAVY packages it imported to argv[1].
_PROBE = """
import atexit, json, sys
out, sys.argv = sys.argv[1], ["soccerfactory", *sys.argv[2:]]
heavy = %r
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(m for m in heavy if m in sys.modules))))
from soccerfactory.flows.cli import main
main()
""" % (HEAVY,)


def curate_in_subprocess(source: str | os.PathLike, output: str | os.PathLike, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``soccerfactory curate SOURCE --output OUTPUT [EXTRA...]`` in a fresh interpreter.

    Args:
        source: The video (or folder) to curate.
        output: The output root.
        extra: More CLI arguments (``--set detect.conf=0.3``).
        env: The child's environment; default: this one without any ``PREFECT_*`` variable (the
            embedded default a user gets).

    Returns:
        ``{"exit", "wall_s", "record", "imported", "stdout", "stderr"}``: the exit status, the
        wall time (s), the run record (None when none was written), the HEAVY packages the
        process imported, and its output.
    """
    env = dict(env) if env is not None else {k: v for k, v in os.environ.items() if not k.upper().startswith("PREFECT_")}
    env.setdefault("DO_NOT_TRACK", "1")
    output = Path(output)
    before = set((output / "runs").glob("*.json")) if (output / "runs").is_dir() else set()
    with tempfile.NamedTemporaryFile(prefix="sf-imports-", suffix=".json", delete=False) as handle:
        probe = handle.name
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, probe, "curate", str(source), "--output", str(output), *extra],
            env=env, capture_output=True, text=True,
        )
        wall = time.perf_counter() - started
        try:
            imported = json.loads(Path(probe).read_text() or "null")
        except (OSError, ValueError):
            imported = None
    finally:
        Path(probe).unlink(missing_ok=True)
    new = sorted(set((output / "runs").glob("*.json")) - before) if (output / "runs").is_dir() else []
    record = json.loads(new[-1].read_text()) if new else None
    return {"exit": done.returncode, "wall_s": wall, "record": record, "imported": imported, "stdout": done.stdout, "stderr": done.stderr}


def _arm(result: dict[str, Any]) -> dict[str, Any]:
    record = result["record"] or {}
    times = record.get("clip_times") or []
    clips = sum(t["seconds"] for t in times)
    wall = result["wall_s"]
    return {
        "exit": result["exit"],
        "wall_s": round(wall, 2),
        "clips_s": round(clips, 2),
        "overhead_s": round(wall - clips, 2),
        "overhead_share": round((wall - clips) / wall, 4) if wall > 0 else None,
        "curated": record.get("n_curated"),
        "skipped": record.get("n_skipped"),
        "failed": record.get("n_failed"),
        # Sources whose scan was read from OUT/.cache/scans instead of decoding them (the log says so).
        "scans_reused": (result["stdout"] + result["stderr"]).count("scan reused"),
        "heavy_imports": result["imported"],
    }


def bench_overhead(
    seconds: float = 10.0, width: int = 1280, height: int = 720, seed: int = 401, workdir: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Cold and fully cached ``soccerfactory curate`` of one synthetic clip, in subprocesses.

    Args:
        seconds, width, height: The clip (25 fps).
        seed: Its seed (400-499: development seeds).
        workdir: Where the clip and the output go; default a temporary folder, removed after.
        overrides: ``section.key=value`` config overrides for both runs.

    Returns:
        ``{"benchmark", "case", "command", "cold", "cached", "goal", "met", "load"}``: per arm
        the wall time, the clip's own seconds, the overhead (wall - clip) in seconds and as a share
        of the wall time, what the run curated / skipped, and the heavy packages it imported.
        ``load``: the 1-minute load average before and after (a busy machine inflates wall times).
    """
    from soccerfactory.curation.synth import SynthConfig, render_clip

    extra = [a for o in overrides or [] for a in ("--set", o)]
    with tempfile.TemporaryDirectory(prefix="sf-bench-overhead-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        render_clip(SynthConfig(seconds=seconds, width=width, height=height, seed=seed), root / "clip")
        load_before = os.getloadavg()[0]
        cold = _arm(curate_in_subprocess(root / "clip" / "video.mp4", root / "out", *extra))
        cached = _arm(curate_in_subprocess(root / "clip" / "video.mp4", root / "out", *extra))
        load_after = os.getloadavg()[0]
    met = {
        "overhead_le_5pct_of_cold": cold["overhead_share"] is not None and cold["overhead_share"] <= 0.05,
        "cached_under_10s": cached["wall_s"] < 10.0,
        "cached_skipped_all": cached["curated"] == 0 and (cached["skipped"] or 0) > 0,
        "cached_imports_no_model_stack": cached["heavy_imports"] == [],
    }
    return {
        "benchmark": "overhead",
        "case": f"synthetic {width}x{height} clip of {seconds:g} s (seed {seed}), config overrides {overrides or 'none'}, "
                f"{os.cpu_count()} CPUs",
        "command": f"python -m soccerfactory.flows.bench_overhead --seconds {seconds:g}",
        "cold": cold,
        "cached": cached,
        "goal": "overhead <= 5 % of the cold run; cached re-run < 10 s, skipping every clip, importing no model stack",
        "met": met,
        "load": {"before": round(load_before, 2), "after": round(load_after, 2)},
    }


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--seed", type=int, default=401)
    parser.add_argument("--workdir", default=None, help="keep the clip and the output here")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")
    args = parser.parse_args(argv)
    print(json.dumps(bench_overhead(args.seconds, args.width, args.height, args.seed, args.workdir, args.overrides), indent=2))


if __name__ == "__main__":
    main()
