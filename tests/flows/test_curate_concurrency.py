"""Readers and concurrent runs never cost a shard or a run: a notebook's read-only DuckDB
connection held open in another process during a CLI curate, and two CLI curates into one root at
once (same and different sources). Real subprocesses, real DuckDB files, real Parquet."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app
from soccerfactory.flows.bench_faults import catalog_snapshot, curate_command, leftovers, render_sources
from soccerfactory.storage.shards import scan_manifests

_OVERRIDES = ["--set", "detect.imgsz=640", "--set", "detect.ball_slices=0", "--set", "run.max_parallel_clips=1"]

# A notebook: a read-only connection held open until stdin closes.
_READER = textwrap.dedent(
    """
    import sys, duckdb
    connection = duckdb.connect(sys.argv[1], read_only=True)
    print("open", flush=True)
    sys.stdin.read()
    connection.close()
    """
)


class _Reader:
    def __init__(self, catalog: Path):
        self.process = subprocess.Popen([sys.executable, "-c", _READER, str(catalog)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "open"

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=30)


def _curate(source, root: Path, *extra: str):
    return CliRunner().invoke(app, ["curate", str(source), "--output", str(root), *_OVERRIDES, *extra])


def _sync(root: Path):
    return CliRunner().invoke(app, ["catalog", "sync", "--output", str(root)])


def _same_data(root: Path, reference: dict) -> None:
    snapshot = catalog_snapshot(root / "catalog.duckdb")
    assert {k: snapshot[k] for k in ("shards", "counts", "views_match_shards")} == {k: reference[k] for k in ("shards", "counts", "views_match_shards")}
    assert not leftovers(root)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    """Two tiny clips, one source each."""
    return render_sources(tmp_path_factory.mktemp("concurrency-footage"), n=2)


@pytest.fixture(scope="module")
def clean(footage, tmp_path_factory) -> dict:
    """The catalog one undisturbed run leaves: what every scenario below must end at."""
    root = tmp_path_factory.mktemp("clean") / "out"
    result = _curate(footage, root)
    assert result.exit_code == 0, result.output
    snapshot = catalog_snapshot(root / "catalog.duckdb")
    assert snapshot["runs"] == ["completed"] and snapshot["counts"]["shards"] == 2
    return snapshot


def test_a_reader_holding_the_catalog_defers_registration_and_sync_or_the_next_run_completes_it(footage, clean, tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    assert _sync(root).exit_code == 0  # creates the (empty) catalog a notebook can open
    catalog = root / "catalog.duckdb"
    reader = _Reader(catalog)
    try:
        result = _curate(footage, root, "--set", "run.catalog_wait_s=1")
    finally:
        reader.close()
    # The run did all its work and says, in one line, what is behind and how to catch up.
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "2 clips curated" in result.output
    behind = [line for line in result.output.splitlines() if line.startswith("catalog behind:")]
    assert len(behind) == 1, result.output
    assert f"catalog {catalog} is locked by another process (" in behind[0] and "PID" in behind[0]
    assert f"2 shards are written under {root} but not registered yet" in behind[0]
    assert f"soccerfactory catalog sync --output {root} --catalog {catalog}" in behind[0]
    assert len(scan_manifests(root)[0]) == 2
    with duckdb.connect(str(catalog), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM shards").fetchone()[0] == 0

    # The same state twice: one is caught up by `catalog sync`, the other by the next curate.
    again = tmp_path / "again"
    shutil.copytree(root, again, ignore=shutil.ignore_patterns(".prefect"))

    synced = _sync(root)
    assert synced.exit_code == 0, synced.output
    assert synced.output.startswith(f"synced {catalog}: 2 shards registered, 0 unregistered, 1 runs recorded")
    _same_data(root, clean)
    assert catalog_snapshot(catalog)["runs"] == ["completed"]

    rerun = _curate(footage, again)
    assert rerun.exit_code == 0, rerun.output
    assert "0 clips curated, 2 already done" in rerun.output
    _same_data(again, clean)
    assert catalog_snapshot(again / "catalog.duckdb")["runs"] == ["completed", "completed"]


def _subprocess_env() -> dict[str, str]:
    """This session's Prefect API for the child runs (one server, not one per run)."""
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    return {**os.environ, "PREFECT_API_URL": server.api_url}


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=600)
    return process.returncode, stdout, stderr


def _no_duplicates(catalog: Path) -> None:
    with duckdb.connect(str(catalog), read_only=True) as db:
        for table, key in (("shards", "match_id, clip_id"), ("clips", "match_id, clip_id"), ("frames", "match_id, clip_id, frame_index"),
                           ("ball", "match_id, clip_id, frame_index"), ("cameras", "match_id, clip_id, frame_index"),
                           ("athletes", "match_id, clip_id, frame_index, tracklet_id"), ("runs", "run_id")):
            twice = db.execute(f"SELECT count(*) FROM (SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
            assert twice == 0, f"{table} has duplicate rows"


def test_two_runs_of_the_same_sources_at_once_curate_each_clip_once(footage, clean, tmp_path):
    root = tmp_path / "out"
    env = _subprocess_env()
    first, second = _start(curate_command(footage, root), env), _start(curate_command(footage, root), env)
    outcomes = [_finish(first), _finish(second)]
    for code, stdout, stderr in outcomes:
        assert code == 0, stderr[-3000:]
        assert "Traceback" not in stderr
    # Each clip is curated by one run; the other waits for its claim, then skips it.
    done = [re.search(r"^run \S+: (\d+) clips curated, (\d+) already done", out, re.MULTILINE) for _, out, _ in outcomes]
    assert all(done), outcomes
    assert sum(int(m.group(1)) for m in done) == 2 and sum(int(m.group(2)) for m in done) == 2, [m.group(0) for m in done]
    _no_duplicates(root / "catalog.duckdb")
    _same_data(root, clean)
    assert catalog_snapshot(root / "catalog.duckdb")["runs"] == ["completed", "completed"]


def test_two_runs_of_different_sources_with_a_reader_open_lose_nothing(footage, clean, tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    assert _sync(root).exit_code == 0
    env = _subprocess_env()
    reader = _Reader(root / "catalog.duckdb")
    try:
        runs = [_start(curate_command(footage / f"clip{k}.mp4", root, "--set", "run.catalog_wait_s=1"), env) for k in (1, 2)]
        outcomes = [_finish(process) for process in runs]
    finally:
        reader.close()
    for code, stdout, stderr in outcomes:
        assert code == 1 and "Traceback" not in stderr, stderr[-3000:]
        assert "1 shards are written" in stderr and "catalog sync" in stderr
    synced = _sync(root)
    assert synced.exit_code == 0 and "2 shards registered" in synced.output and "2 runs recorded" in synced.output, synced.output
    _no_duplicates(root / "catalog.duckdb")
    _same_data(root, clean)
    assert catalog_snapshot(root / "catalog.duckdb")["runs"] == ["completed", "completed"]
