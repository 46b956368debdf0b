"""Run liveness, clip claims, leftovers of killed writers and failpoints: real flocks held by real
processes, killed with a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from soccerfactory.storage.repair import rebuild_catalog
from soccerfactory.storage.run_records import scan_run_records, write_run_record
from soccerfactory.storage.runs import RunLock, claim_clip, mark_interrupted_runs, owner_info, run_is_alive, tidy_shards
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import scan_manifests, write_shard

# A process that starts a run the way curate does (lock, then record), says so, and waits.
_RUN = textwrap.dedent(
    """
    import sys, time
    from soccerfactory.storage.runs import RunLock, owner_info
    from soccerfactory.storage.run_records import write_run_record
    root, run_id = sys.argv[1], sys.argv[2]
    lock = RunLock(root, run_id)
    write_run_record(root, run_id, {"run_id": run_id, "started_at": "2026-01-01T00:00:00+00:00", "status": "running", **owner_info()})
    print("running", flush=True)
    time.sleep(120)
    """
)


def _start_run(root: Path, run_id: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _RUN, str(root), run_id], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "running"
    return process


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _status(root: Path) -> dict[str, str]:
    return {r["run_id"]: r["status"] for r in scan_run_records(root)[0]}


def test_a_killed_run_is_marked_interrupted_and_a_live_one_is_left_running(tmp_path):
    root = tmp_path / "out"
    alive, killed = _start_run(root, "run-alive"), _start_run(root, "run-killed")
    try:
        _kill(killed)
        records = {r["run_id"]: r for r in scan_run_records(root)[0]}
        assert run_is_alive(root, records["run-alive"]) is True
        assert run_is_alive(root, records["run-killed"]) is False

        changed = mark_interrupted_runs(root)
        assert [r["run_id"] for r in changed] == ["run-killed"]
        assert _status(root) == {"run-alive": "running", "run-killed": "interrupted"}
        # The dead run's lock file is gone; the live one's stays, held.
        assert sorted(p.name for p in (root / "runs").glob("*.lock")) == ["run-alive.lock"]
        assert mark_interrupted_runs(root) == []  # idempotent

        # A rebuild never brings a dead run back as running.
        _kill(alive)
        report = rebuild_catalog(root, root / "catalog.duckdb")
        assert report["runs"] == 2
        with duckdb.connect(str(root / "catalog.duckdb"), read_only=True) as db:
            assert dict(db.execute("SELECT run_id, status FROM runs").fetchall()) == {"run-alive": "interrupted", "run-killed": "interrupted"}
        assert not list((root / "runs").glob("*.lock")) and not list((root / "runs").glob(".*"))
    finally:
        for process in (alive, killed):
            if process.poll() is None:
                _kill(process)


def test_a_run_that_finished_is_never_rewritten(tmp_path):
    root = tmp_path / "out"
    lock = RunLock(root, "run-1")
    record = {"run_id": "run-1", "started_at": "2026-01-01T00:00:00+00:00", "status": "running", **owner_info()}
    write_run_record(root, "run-1", record)
    assert run_is_alive(root, record) is True  # a second open file description of this process
    assert mark_interrupted_runs(root) == []
    write_run_record(root, "run-1", {**record, "status": "completed"})
    lock.release()
    assert mark_interrupted_runs(root) == [] and _status(root) == {"run-1": "completed"}
    assert not (root / "runs" / "run-1.lock").exists()


def test_remote_roots_decide_by_pid_on_this_host_and_leave_other_hosts_alone(tmp_path):
    root = "memory://runs-liveness"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    base = {"started_at": "2026-01-01T00:00:00+00:00", "status": "running"}
    write_run_record(root, "run-dead", {**base, "run_id": "run-dead", **owner_info(), "pid": dead.pid, "pid_start": "1"})
    write_run_record(root, "run-here", {**base, "run_id": "run-here", **owner_info()})
    write_run_record(root, "run-elsewhere", {**base, "run_id": "run-elsewhere", "host": "another-host", "pid": 1, "pid_start": "1"})
    assert [r["run_id"] for r in mark_interrupted_runs(root)] == ["run-dead"]
    assert _status(root) == {"run-dead": "interrupted", "run-here": "running", "run-elsewhere": "running"}


_HOLD_CLAIM = textwrap.dedent(
    """
    import sys, time
    from soccerfactory.storage.runs import claim_clip
    with claim_clip(sys.argv[1], "m", "c", "run-other"):
        print("claimed", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_a_second_claim_on_a_clip_waits_for_the_first_and_says_whose(tmp_path):
    root = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_CLAIM, str(root), "1.5"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        waited_for = []
        started = time.monotonic()
        with claim_clip(root, "m", "c", "run-me", on_wait=waited_for.append):
            waited = time.monotonic() - started
        assert waited_for == ["run-other"] and waited > 1.0  # we only got it once the other let go (1.5 s)
        assert not (root / "claims").exists()  # released claims leave nothing behind
    finally:
        if holder.poll() is None:
            _kill(holder)


def _key(n: int) -> str:
    return f"{n:016x}" + "c" * 48


def _write(root: Path, clip_id: str, n: int = 1):
    key = _key(n)
    return write_shard(root, "m", clip_id, key, example_shard_tables("m", clip_id, key), config_hash="config-0", code_version="test",
                       metadata={"run_id": "run-1"})


def test_tidy_deletes_what_killed_writers_left_unless_a_live_run_claims_the_clip(tmp_path):
    root = tmp_path / "out"
    committed = _write(root, "clip-ok")
    clip_dir = Path(committed.dir_url)
    (clip_dir / "athletes-0000000000000009.parquet").write_bytes(b"an old version's file")
    (clip_dir / ".frames-x.parquet.tmp-0123456789ab").write_bytes(b"half")
    half = root / "shards" / "match_id=m" / "clip_id=clip-half"
    half.mkdir()
    (half / "frames-0000000000000001.parquet").write_bytes(b"never committed")
    busy = root / "shards" / "match_id=m" / "clip_id=clip-busy"
    busy.mkdir()
    (busy / ".frames-x.parquet.tmp-0123456789ab").write_bytes(b"being written")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CLAIM.replace('"m", "c"', '"m", "clip-busy"'), str(root), "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "claimed"
        manifests = {(m.match_id, m.clip_id): m for m in scan_manifests(root)[0]}
        removed = tidy_shards(root, manifests)
        assert len(removed) == 4, removed  # old file, temp file, the uncommitted file and its folder
        assert not half.exists() and sorted(p.name for p in busy.iterdir()) == [".frames-x.parquet.tmp-0123456789ab"]
        assert sorted(p.name for p in clip_dir.iterdir()) == sorted(["manifest.json", *(e["path"] for e in committed.files.values())])
        _kill(holder)  # the claim of a killed run is stale: the next tidy takes it and cleans up
        removed = tidy_shards(root, manifests)
        assert not busy.exists() and not (root / "claims").exists(), removed
    finally:
        if holder.poll() is None:
            _kill(holder)


def test_a_failpoint_kills_at_its_nth_hit_and_is_inert_otherwise(tmp_path):
    script = "from soccerfactory.storage.failpoints import failpoint\nfor i in range(3):\n    print(i, flush=True)\n    failpoint('p:q')\n"
    env = {**os.environ, "SOCCERFACTORY_FAILPOINT": "p:q:2"}
    killed = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert killed.returncode == -signal.SIGKILL and killed.stdout.split() == ["0", "1"]
    assert "failpoint p:q:2: SIGKILL" in killed.stderr
    env.pop("SOCCERFACTORY_FAILPOINT")
    inert = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert inert.returncode == 0 and inert.stdout.split() == ["0", "1", "2"]


def test_interrupted_records_stay_valid_json(tmp_path):
    root = tmp_path / "out"
    process = _start_run(root, "run-x")
    _kill(process)
    mark_interrupted_runs(root)
    record = json.loads((root / "runs" / "run-x.json").read_text())
    assert record["status"] == "interrupted" and record["interrupted_found_at"] and record["pid"] == process.pid


@pytest.fixture(autouse=True)
def _clean_memory_fs():
    import fsspec

    fs = fsspec.filesystem("memory")
    if fs.exists("memory://runs-liveness"):
        fs.rm("memory://runs-liveness", recursive=True)
    yield
