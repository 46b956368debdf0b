"""``make faults``: kill ``soccerfactory curate`` at every failpoint, resume it, check nothing is lost.

For each point of ``storage/failpoints.py`` a real CLI run curating three short clips (three
sources, one clip each, one clip at a time so the N-th hit of a point is always the same moment)
is SIGKILLed there, then a second ``soccerfactory curate`` of the same sources finishes the job.
The root must then be what one clean run leaves:

* the catalog equals the clean run's: the same shards (clip, shard key, sha256 of every file,
  rows per table) and the same row count in every table and view, every view showing exactly the
  rows of the registered shards;
* the catalog's ``runs`` agree with the run records, the resumed run ``completed``, the killed
  one ``interrupted`` (or ``completed`` when it was killed after its final record; no record
  at all when it was killed before writing one);
* nothing is left over: no temporary files, no lock or claim files, no shard folder without a
  manifest, no Parquet file its manifest does not name.

Usage: python -m soccerfactory.flows.bench_faults [--out bench/faults.json] [--work DIR] [--points a,b]
Writes {"points": [{"point", "ok", "problems", "killed_s", "resume_s"}], ...} as JSON and exits 1
when a point fails. All runs report to one Prefect API server started once (a server per run
would double the time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["POINTS", "FAST_POINTS", "run_faults", "catalog_snapshot", "leftovers", "curate_command", "render_sources", "main"]

#: (point, what the process has done when it dies); `:N` = the N-th hit (see storage/failpoints.py).
POINTS: tuple[tuple[str, str], ...] = (
    ("run:locked", "run start: lock taken, no run record yet"),
    ("atomic-write:before-replace:1", "run start: the first run record half-written (temporary file)"),
    ("run:started", "run start: record `running`, catalog not touched"),
    ("write-shard:after-parquet:1", "clip 1: between its first and second Parquet file"),
    ("atomic-write:before-replace:4", "clip 1: a Parquet file written under its temporary name"),
    ("write-shard:before-manifest", "clip 1: every Parquet file in place, no manifest"),
    ("write-shard:after-manifest", "clip 1: manifest committed, not registered"),
    ("register-shards:in-transaction:2", "clip 1: inside the DuckDB transaction registering it"),
    ("register-shards:after-commit:3", "clip 2: registration committed, views not refreshed"),
    ("run:between-clips:1", "between clip 1 and clip 2"),
    ("write-shard:after-parquet:9", "clip 2: between its third and fourth Parquet file"),
    ("run:between-clips:2", "between clip 2 and clip 3"),
    ("write-shard:before-manifest:3", "clip 3: every Parquet file in place, no manifest"),
    ("run:before-end-record", "run end: every shard registered, final record not written"),
    ("run:after-end-record", "run end: final record written, catalog's runs row not updated"),
)
#: The subset the fast test runs: a committed but unregistered shard, and a torn registration.
FAST_POINTS = ("write-shard:after-manifest", "register-shards:in-transaction:2")

_OVERRIDES = ("detect.imgsz=640", "detect.ball_slices=0", "run.max_parallel_clips=1")
_VIEWS = ("frames", "athletes", "ball", "cameras", "events", "tracks", "quality", "quality_match")
_DATA_TABLES = ("frames", "athletes", "ball", "cameras", "events")


def render_sources(folder: Path, n: int = 3, seconds: float = 0.8) -> Path:
    """``n`` tiny synthetic clips as ``folder/src/clipK.mp4`` (one source and one clip each)."""
    import shutil

    from soccerfactory.curation.synth import SynthConfig, render_clip

    source = folder / "src"
    source.mkdir(parents=True, exist_ok=True)
    for k in range(1, n + 1):
        if not (source / f"clip{k}.mp4").exists():
            render_clip(SynthConfig(seconds=seconds, width=320, height=180, seed=300 + k), folder / f"render{k}")
            shutil.copy(folder / f"render{k}" / "video.mp4", source / f"clip{k}.mp4")
    return source


def curate_command(source: Path | Sequence[Path], root: Path, *extra: str) -> list[str]:
    """The CLI call the harness (and the crash tests) run: small clips, one at a time."""
    sources = [str(source)] if isinstance(source, (str, Path)) else [str(s) for s in source]
    overrides = [arg for value in _OVERRIDES for arg in ("--set", value)]
    return [sys.executable, "-m", "soccerfactory.flows.cli", "curate", *sources, "--output", str(root), *overrides, *extra]


def _run(command: list[str], env: dict[str, str], timeout: float = 600) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    # Own session: a killed run's children (an ephemeral Prefect server, when one was started)
    # would outlive it; the whole group is ended after it.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if process.poll() is None:
            process.wait()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), time.perf_counter() - started


def catalog_snapshot(catalog: Path) -> dict[str, Any]:
    """What two catalogs of the same footage must agree on (run ids and times aside)."""
    import duckdb

    with duckdb.connect(str(catalog), read_only=True) as db:
        shards = db.execute(
            "SELECT match_id, clip_id, shard_key, files, " + ", ".join(f"rows_{t}" for t in ("clips", *_DATA_TABLES))
            + " FROM shards ORDER BY match_id, clip_id"
        ).fetchall()
        counts = {name: db.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in ("shards", "clips", "failures", *_VIEWS)}
        # Every view shows exactly the registered shards' rows: nothing unregistered, nothing lost.
        visible = {t: db.execute(f"SELECT coalesce(sum(rows_{t}), 0) FROM shards").fetchone()[0] == counts[t] for t in _DATA_TABLES}
        runs = sorted(status for (status,) in db.execute("SELECT status FROM runs").fetchall())
    return {
        "shards": [
            [m, c, key, {table: entry["sha256"] for table, entry in json.loads(files).items()}, *rows]
            for m, c, key, files, *rows in shards
        ],
        "counts": counts,
        "views_match_shards": visible,
        "runs": runs,
    }


def leftovers(root: Path) -> list[str]:
    """Files a finished run would not leave: temporary files, locks, claims, uncommitted or
    unreferenced shard files."""
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if relative.parts[0] == ".prefect":
            continue
        if ".tmp-" in path.name or ".rebuild-" in path.name:
            found.append(f"temporary file {relative}")
        elif path.suffix == ".lock" or relative.parts[0] == "claims":
            found.append(f"lock or claim {relative}")
    for clip_dir in (root / "shards").glob("match_id=*/clip_id=*"):
        manifest = clip_dir / "manifest.json"
        if not manifest.is_file():
            found.append(f"shard folder without a manifest {clip_dir.relative_to(root)}")
            continue
        named = {entry["path"] for entry in json.loads(manifest.read_text())["files"].values()}
        found += [f"file its manifest does not name {p.relative_to(root)}" for p in clip_dir.iterdir() if p.name not in named | {"manifest.json"}]
    for match_dir in (root / "shards").glob("match_id=*"):
        if not any(match_dir.iterdir()):
            found.append(f"empty folder {match_dir.relative_to(root)}")
    return sorted(found)


def _records(root: Path) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["status"] for p in (root / "runs").glob("*.json")}


def _run_id(output: str) -> str | None:
    found = re.search(r"^run (\S+):", output, flags=re.MULTILINE)
    return found.group(1) if found else None


def check_resumed(root: Path, reference: dict[str, Any], resumed_id: str | None, killed_after_end: bool) -> list[str]:
    """Problems with a root after a killed run and its resume (empty when it is as it should be)."""
    problems = leftovers(root)
    snapshot = catalog_snapshot(root / "catalog.duckdb")
    for key in ("shards", "counts", "views_match_shards"):
        if snapshot[key] != reference[key]:
            problems.append(f"catalog {key} differ from the clean run's: {snapshot[key]} != {reference[key]}")
    records = _records(root)
    if sorted(records.values()) != snapshot["runs"]:
        problems.append(f"catalog runs {snapshot['runs']} disagree with the run records {sorted(records.values())}")
    if records.pop(resumed_id, None) != "completed":
        problems.append(f"the resumed run {resumed_id} is not completed")
    wanted = {"completed"} if killed_after_end else {"interrupted"}
    if len(records) > 1 or any(status not in wanted for status in records.values()):
        problems.append(f"killed run recorded as {records}, expected one of {sorted(wanted)} (or no record)")
    return problems


def run_faults(work: Path, points: Sequence[str] | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the clean reference once, then kill-and-resume at every point; the figures as a dict."""
    chosen = [p for p, _ in POINTS] if points is None else list(points)
    unknown = sorted(set(chosen) - {p for p, _ in POINTS})
    if unknown:
        raise ValueError(f"unknown failpoints {unknown}; choose from {[p for p, _ in POINTS]}")
    env = dict(os.environ if env is None else env)
    env.pop("SOCCERFACTORY_FAILPOINT", None)
    source = render_sources(work)
    started = time.perf_counter()
    clean, clean_s = _run(curate_command(source, work / "clean"), env)
    if clean.returncode != 0:
        raise RuntimeError(f"the clean run failed ({clean.returncode}): {clean.stderr[-2000:]}")
    reference = catalog_snapshot(work / "clean" / "catalog.duckdb")
    results = []
    for point in chosen:
        root = work / re.sub(r"[^A-Za-z0-9]+", "-", point)
        killed, killed_s = _run(curate_command(source, root), {**env, "SOCCERFACTORY_FAILPOINT": point})
        problems = []
        if killed.returncode != -signal.SIGKILL or f"failpoint {re.sub(r':[0-9]+$', '', point)}:" not in killed.stderr:
            problems.append(f"the run was not killed at {point} (exit {killed.returncode}): {killed.stderr[-500:]}")
        resumed, resume_s = _run(curate_command(source, root), env)
        if resumed.returncode != 0:
            problems.append(f"the resumed run exited {resumed.returncode}: {resumed.stderr[-1000:]}")
        if "Traceback" in resumed.stderr:
            problems.append("the resumed run printed a traceback")
        if not problems:
            problems = check_resumed(root, reference, _run_id(resumed.stdout), point.startswith("run:after-end-record"))
        results.append({"point": point, "ok": not problems, "problems": problems, "killed_s": round(killed_s, 1), "resume_s": round(resume_s, 1)})
        print(f"{point}: {'ok' if not problems else 'FAILED'} (killed after {killed_s:.0f} s, resumed in {resume_s:.0f} s)"
              + "".join(f"\n  {p}" for p in problems), flush=True)
    return {
        "benchmark": "faults",
        # Seconds depend on the machine and on what else runs on it; the pass/fail does not.
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "load_1min": round(os.getloadavg()[0], 1)},
        "command": " ".join(curate_command("SOURCES", "ROOT")[3:]),
        "clips": 3,
        "clean_run_s": round(clean_s, 1),
        "points": results,
        "passed": sum(r["ok"] for r in results),
        "failed": sum(not r["ok"] for r in results),
        "total_s": round(time.perf_counter() - started, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench/faults.json"), help="Where the figures go (JSON).")
    parser.add_argument("--work", type=Path, default=None, help="Folder for the runs (default: a temporary one, deleted).")
    parser.add_argument("--points", default=None, help="Comma-separated subset of the points (default: all).")
    args = parser.parse_args(argv)
    from soccerfactory.flows.prefect_env import apply_env, hermetic_prefect_env

    with tempfile.TemporaryDirectory(prefix="soccerfactory-faults-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        with apply_env(hermetic_prefect_env(work / ".prefect-home")):
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()
            server.start()
            try:
                points = args.points.split(",") if args.points else None
                figures = run_faults(work, points, {**os.environ, "PREFECT_API_URL": server.api_url})
            finally:
                server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{figures['passed']}/{len(figures['points'])} failpoints passed in {figures['total_s']:.0f} s; figures in {args.out}")
    return 0 if figures["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
