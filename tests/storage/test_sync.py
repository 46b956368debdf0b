"""Catalog sync and deferred registration: real shards, a real DuckDB file, and a real reader
process holding it open."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from soccerfactory.flows.cli import app
from soccerfactory.storage.catalog import ensure_catalog, register_shards
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.run_records import write_run_record
from soccerfactory.storage.shards import write_shard
from soccerfactory.storage.sync import DeferredRegistration, sync_catalog

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


def _reader(catalog: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", _READER, str(catalog)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "open"
    return process


def _close(process: subprocess.Popen) -> None:
    process.stdin.close()
    process.wait(timeout=30)


def _write(root: Path, clip_id: str, n: int = 1):
    key = f"{n:016x}" + "c" * 48
    return write_shard(root, "m", clip_id, key, example_shard_tables("m", clip_id, key), config_hash="config-0", code_version="test",
                       metadata={"run_id": "run-1"})


def _rows(catalog: Path, sql: str):
    with duckdb.connect(str(catalog), read_only=True) as db:
        return db.execute(sql).fetchall()


RUN = {"run_id": "run-1", "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:01:00+00:00", "status": "completed"}


def test_sync_registers_the_missing_unregisters_the_vanished_and_records_runs(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    kept, gone, late = _write(root, "clip-kept"), _write(root, "clip-gone"), _write(root, "clip-late")
    register_shards(catalog, [kept, gone])
    shutil.rmtree(Path(gone.dir_url))
    newer = _write(root, "clip-kept", n=2)  # re-curated: the catalog holds the old version
    write_run_record(root, "run-1", RUN)
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    # A run that died without its lock file (a record from before run locks, or its lock deleted).
    write_run_record(root, "run-2", {**RUN, "run_id": "run-2", "status": "running", "finished_at": None, "pid": killed.pid})

    report = sync_catalog(root, catalog)
    assert (report.registered, report.unregistered, report.runs_recorded, report.interrupted) == (2, 1, 2, ["run-2"]), report
    assert (report.shards, report.runs) == (2, 2) and not report.problems
    assert report.line().startswith(f"synced {catalog}: 2 shards registered, 1 unregistered, 2 runs recorded, 1 interrupted")
    assert _rows(catalog, "SELECT clip_id, shard_key FROM shards ORDER BY 1") == [("clip-kept", newer.shard_key), ("clip-late", late.shard_key)]
    assert _rows(catalog, "SELECT run_id, status FROM runs ORDER BY 1") == [("run-1", "completed"), ("run-2", "interrupted")]
    assert _rows(catalog, "SELECT count(*) FROM frames") == [(8,)]

    again = sync_catalog(root, catalog)
    assert (again.registered, again.unregistered, again.runs_recorded, again.interrupted, again.tidied) == (0, 0, 0, [], [])


def test_registration_is_deferred_while_a_reader_holds_the_catalog_and_lands_after(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    ensure_catalog(catalog)
    registry = DeferredRegistration(str(catalog), str(root), wait_s=0.5)
    reader = _reader(catalog)
    try:
        assert registry.add([_write(root, "clip-1")]) is False
        assert registry.add([_write(root, "clip-2")]) is False  # no wait once refused
        assert registry.flush() is False and registry.record_run(RUN) is False
        message = registry.message(str(root))
        assert f"catalog {catalog} is locked by another process" in message and "PID" in message
        assert "2 shards are written" in message and "catalog sync" in message and "\n" not in message
    finally:
        _close(reader)
    assert registry.flush() is True and registry.record_run(RUN) is True and not registry.deferred
    assert _rows(catalog, "SELECT count(*) FROM shards") == [(2,)]


def test_cli_sync_prints_one_line_and_says_clearly_when_the_catalog_is_locked(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    _write(root, "clip-1")
    result = CliRunner().invoke(app, ["catalog", "sync", "--output", str(root)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [f"synced {catalog}: 1 shards registered, 0 unregistered, 0 runs recorded, "
                                                  "0 interrupted runs marked, 0 leftover files removed, 0 problems; now 1 shards and 0 runs"]
    reader = _reader(catalog)
    try:
        locked = CliRunner().invoke(app, ["catalog", "sync", "--output", str(root), "--wait", "0.3"])
    finally:
        _close(reader)
    assert locked.exit_code == 1 and "Traceback" not in locked.output
    assert locked.output.startswith(f"error: catalog {catalog} is locked by another process (") and len(locked.output.splitlines()) == 1
    missing = CliRunner().invoke(app, ["catalog", "sync", "--output", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no shard root at" in missing.output


def test_sync_keeps_what_a_concurrent_run_registered_after_its_listing(tmp_path, monkeypatch):
    """A run's start syncs while another run curates into the same root: what that run commits and
    registers between sync's listing of the manifests and its catalog write (injected right there,
    through the tidy-up step sync runs in between) must survive: a new clip is not "vanished", and
    a re-curated clip's new row is not replaced by the stale manifest listed before."""
    import soccerfactory.storage.sync as sync

    tidy = sync.tidy_shards
    for case in ("new clip", "new version"):
        root = tmp_path / case.replace(" ", "-")
        catalog = root / "catalog.duckdb"
        register_shards(catalog, [_write(root, "c0", 1)])

        def other_run(*args, **kwargs):
            register_shards(catalog, [_write(root, "c1", 2) if case == "new clip" else _write(root, "c0", 3)])
            return tidy(*args, **kwargs)

        monkeypatch.setattr(sync, "tidy_shards", other_run)
        report = sync_catalog(root, catalog)
        monkeypatch.setattr(sync, "tidy_shards", tidy)
        with duckdb.connect(str(catalog), read_only=True) as db:
            shards = db.execute("SELECT clip_id, shard_key[:16] FROM shards ORDER BY ALL").fetchall()
            quarantined = db.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        expected = [("c0", f"{1:016x}"), ("c1", f"{2:016x}")] if case == "new clip" else [("c0", f"{3:016x}")]
        assert shards == expected, (case, report.line())
        assert quarantined == 0 and report.unregistered == 0 and not report.problems, (case, report.line())
