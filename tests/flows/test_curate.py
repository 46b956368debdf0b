"""The curate flow end to end: real Prefect runs, real Parquet shards, a real DuckDB catalog,
on footage from the project's synthetic renderer (plus deliberately broken files)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import decode_video, write_video
from soccerfactory.flows.cli import app
from soccerfactory.curation.config import load_config
from soccerfactory.flows.curate import run_curate
from soccerfactory.storage.shards import scan_manifests

# Small frames and a smaller detector input keep the suite fast; every stage still runs.
FAST = ["detect.imgsz=640", "run.max_parallel_clips=2"]


@pytest.fixture(scope="session")
def renders(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("curate-renders")
    out = {}
    for seed, seconds in ((11, 2.0), (12, 1.2), (13, 2.0)):
        # seed 12 also as an image sequence (SoccerNet layout: img1/000001.jpg ...)
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=640, height=360), root / f"seed{seed}", images=seed == 12)
        out[seed] = root / f"seed{seed}" / "video.mp4"
    return out


@pytest.fixture(scope="session")
def footage(renders, tmp_path_factory) -> Path:
    """Two good videos (one with a camera cut, so two clips), an image sequence and three bad files."""
    folder = tmp_path_factory.mktemp("footage")
    shutil.copytree(renders[12].parent / "img1", folder / "seq" / "img1")
    write_video(folder / "cut.mp4", [*decode_video(renders[11]).images, *decode_video(renders[12]).images])
    shutil.copy(renders[13], folder / "single.mp4")
    data = renders[13].read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: int(len(data) * 0.6)])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("these are my notes, not a video\n")
    return folder


def _catalog(path: Path):
    return duckdb.connect(str(path), read_only=True)


def test_curate_source_with_bad_files_then_rerun_and_repair(footage, tmp_path):
    output = tmp_path / "curated"
    config = load_config(overrides=FAST)
    summary = run_curate(str(footage), str(output), config)

    # The good clips are curated; every bad file is a failure naming the file, nothing else is.
    assert summary.count("curated") == 4, summary.clips
    bad = {Path(f["source_url"]).name: f["reason"] for f in summary.failures}
    assert sorted(bad) == ["empty.mp4", "notes.mp4", "truncated.mp4"], summary.failures
    for name, reason in bad.items():
        assert name in reason and "\n" not in reason
    assert "empty" in bad["empty.mp4"] and "truncated" in bad["truncated.mp4"]

    catalog = output / "catalog.duckdb"
    with _catalog(catalog) as db:
        clips = db.execute("SELECT match_id, clip_id, n_frames FROM clips ORDER BY clip_id").fetchall()
        assert [(m, n) for m, _, n in clips] == [("cut", 50), ("cut", 30), ("seq", 30), ("single", 50)]
        failures = db.execute("SELECT source_url, stage, reason FROM failures").fetchall()
        assert sorted(Path(url).name for url, _, _ in failures) == ["empty.mp4", "notes.mp4", "truncated.mp4"]
        athletes_per_clip = dict(db.execute("SELECT clip_id, count(*) FROM athletes GROUP BY 1").fetchall())
        # Real athletes are found: the synthetic clips show 10+ people in every frame.
        assert all(count >= 10 * n for (_, clip, n) in clips for c, count in athletes_per_clip.items() if c == clip)
        roles = dict(db.execute("SELECT role, count(DISTINCT (clip_id, track_id)) FROM athletes GROUP BY 1").fetchall())
        assert roles.get("player", 0) >= 10
        teams = db.execute("SELECT count(DISTINCT team) FROM athletes WHERE role = 'player' AND team IS NOT NULL").fetchone()[0]
        assert teams == 2
        frames_with_camera = db.execute("SELECT count(*) FROM cameras").fetchone()[0]
        assert frames_with_camera == 160
        stable = db.execute(
            "SELECT match_id, clip_id, frame_index, timestamp_s, x1, y1, x2, y2, confidence, class, track_id, "
            "team, role, jersey, pitch_x, pitch_y FROM athletes LIMIT 1"
        ).fetchall()
        assert stable
        assert db.execute("SELECT count(*) FROM tracks").fetchone()[0] > 0
        assert db.execute("SELECT count(*) FROM quality").fetchone()[0] == 4
        before = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("athletes", "ball", "cameras", "frames", "shards", "clips")}
        run = db.execute("SELECT status, n_curated, n_failed FROM runs").fetchone()
        assert run == ("completed_with_failures", 4, 3)

    # The run's table artifact lists every clip and every bad input, for the Prefect UI.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["curate-run"])))
    table = json.loads(max(artifacts, key=lambda a: a.created).data)
    assert sorted(row["status"] for row in table) == ["curated"] * 4 + ["failed (scan-source)"] * 3

    # Same source again: every clip is skipped, no row is added.
    again = run_curate(str(footage), str(output), config)
    assert again.count("skipped") == 4 and again.count("curated") == 0
    with _catalog(catalog) as db:
        after = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before}
    assert after == before

    # Delete one shard: the next run recreates exactly that one.
    manifests, problems = scan_manifests(str(output))
    assert not problems and len(manifests) == 4
    victim = manifests[0]
    shutil.rmtree(Path(victim.url).parent)
    repaired = run_curate(str(footage), str(output), config)
    curated = [c["clip"].clip_id for c in repaired.clips if c["status"] == "curated"]
    assert curated == [victim.clip_id] and repaired.count("skipped") == 3
    with _catalog(catalog) as db:
        assert {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before} == before


def test_cli_curate_exits_non_zero_when_inputs_fail(footage, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(footage / "single.mp4", source / "good.mp4")
    shutil.copy(footage / "notes.mp4", source / "notes.mp4")
    output = tmp_path / "out"
    result = CliRunner().invoke(app, ["curate", str(source), "--output", str(output), *sum((["--set", o] for o in FAST), [])])
    assert result.exit_code == 1, result.output
    assert "1 clips curated" in result.output and "1 failed" in result.output
    assert "notes.mp4" in result.output
    assert (output / "catalog.duckdb").is_file()

    queried = CliRunner().invoke(
        app, ["query", "SELECT count(DISTINCT clip_id) AS clips FROM athletes", "--catalog", str(output / "catalog.duckdb"), "--format", "csv"]
    )
    assert queried.exit_code == 0, queried.output
    assert queried.output.split() == ["clips", "1"]


def test_cli_curate_rejects_bad_config_before_work(tmp_path):
    result = CliRunner().invoke(app, ["curate", str(tmp_path), "--set", "detect.weights=/nowhere/model.pt"])
    assert result.exit_code == 2
    assert "error: detect.weights (detector) not found: /nowhere/model.pt" in result.output


def test_sigkill_mid_run_leaves_no_partial_shard_and_next_run_finishes(renders, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for seed, path in renders.items():
        shutil.copy(path, source / f"clip{seed}.mp4")
    output = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        from soccerfactory.curation.config import load_config
        from soccerfactory.flows.curate import run_curate
        run_curate({str(source)!r}, {str(output)!r}, load_config(overrides={FAST!r} + ["run.max_parallel_clips=1"]))
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shards = output / "shards"
    deadline = time.monotonic() + 240
    try:
        # Kill right after the first shard commits, while the next clip is being written.
        while time.monotonic() < deadline and process.poll() is None:
            if list(shards.glob("*/*/manifest.json")):
                break
            time.sleep(0.05)
        assert process.poll() is None, f"run ended before it could be killed: {process.stderr.read().decode()[-2000:]}"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)

    manifests, problems = scan_manifests(str(output))
    assert not problems
    assert 1 <= len(manifests) < 3
    catalog = output / "catalog.duckdb"
    if catalog.exists():  # every shard the catalog shows is complete and readable
        with _catalog(catalog) as db:
            registered = db.execute("SELECT clip_id FROM shards").fetchall()
            assert {c for (c,) in registered} <= {m.clip_id for m in manifests}
            db.execute("SELECT count(*) FROM athletes").fetchone()

    finished = run_curate(str(source), str(output), load_config(overrides=FAST))
    assert finished.count("curated") + finished.count("skipped") == 3 and finished.count("curated") >= 1
    with _catalog(catalog) as db:
        assert db.execute("SELECT count(*) FROM shards").fetchone()[0] == 3
        per_shard = db.execute("SELECT sum(rows_athletes) FROM shards").fetchone()[0]
        assert db.execute("SELECT count(*) FROM athletes").fetchone()[0] == per_shard


@pytest.mark.slow
def test_clips_run_on_a_local_dask_cluster(renders, tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(renders[12], source / "short.mp4")
    summary = run_curate(str(source), str(tmp_path / "out"), load_config(overrides=[*FAST, "run.task_runner=dask"]))
    assert summary.count("curated") == 1 and not summary.failures
    with _catalog(tmp_path / "out" / "catalog.duckdb") as db:
        assert db.execute("SELECT count(*) FROM frames").fetchone()[0] == 30


def test_shards_on_an_fsspec_url_with_a_local_catalog(renders, tmp_path):
    """Shards go through fsspec (here memory://); the catalog stays a local DuckDB file."""
    import fsspec

    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(renders[12], source / "short.mp4")
    fs = fsspec.filesystem("memory")
    root = "memory://curate-test"
    if fs.exists(root):
        fs.rm(root, recursive=True)
    catalog = tmp_path / "catalog.duckdb"
    summary = run_curate(str(source), root, load_config(overrides=FAST), catalog=str(catalog))
    assert summary.count("curated") == 1 and not summary.failures
    assert fs.glob("memory://curate-test/shards/*/*/manifest.json")
    from soccerfactory.storage.catalog import connect

    with connect(catalog, read_only=True) as db:  # same process: the memory filesystem is registered
        assert db.execute("SELECT count(*) FROM frames").fetchone()[0] == 30
        assert db.execute("SELECT manifest_url FROM shards").fetchone()[0].startswith("memory://")
