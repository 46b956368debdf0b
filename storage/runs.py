"""Which curation runs are alive, which clips are being curated, and what dead runs left behind.

A run record saying ``running`` does not mean the run is: a SIGKILL, an OOM kill or a power cut
leaves it that way. Several runs may write into one root at once, so "running" is decided by
liveness, never by age:

* **Local roots** (a path or ``file://``): every run holds an exclusive ``fcntl.flock`` on
  ``ROOT/runs/<run_id>.lock`` for its whole life, taken *before* its first record is written and
  dropped only *after* its last. The kernel releases the lock when the process dies, however it
  dies, so a ``running`` record whose lock can be taken (or whose lock file is gone) belongs to a
  dead run. ``flock`` works across hosts on NFS (Linux emulates it with POSIX locks there).
* **Remote roots** (``s3://``, ``memory://``...): there is nothing to lock, so each record carries
  ``host``, ``pid`` and ``pid_start`` (the process's start time, so a reused pid is not taken for
  the run). A run on this host whose process is gone is dead; a run started on another host is
  left alone (we cannot see its processes), so it stays ``running`` until a sync on its own host.

``mark_interrupted_runs`` rewrites the record of every dead ``running`` run as ``interrupted``
(atomically, while holding the dead run's lock, after reading the record again under it, so a
run that just finished is never overwritten) and removes the lock files and record temp files
that dead runs left.

Clip claims: on local roots a run curates a clip only while it holds
``ROOT/claims/match_id=<m>,clip_id=<c>.lock`` (see ``claim_clip``). A second run that reaches the
same clip waits for the first, then finds its committed shard and skips it, instead of writing
the same shard concurrently (``write_shard`` allows one writer per clip). ``tidy_shards`` uses
the same claims to clean shard folders that a killed writer left half-written: a folder whose
claim nobody holds is not being written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import posixpath
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from soccerfactory.storage.fields import utc_now
from soccerfactory.storage.fs import TEMP_MARK, is_local_url, resolve_url
from soccerfactory.storage.manifest import MANIFEST_NAME, ShardManifest
from soccerfactory.storage.run_records import scan_run_records, write_run_record
from soccerfactory.storage.shards import is_stale_shard_file, read_manifest

__all__ = [
    "HeldLock",
    "RunLock",
    "owner_info",
    "run_is_alive",
    "mark_interrupted_runs",
    "claim_clip",
    "tidy_shards",
]

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# flock on a path


class HeldLock:
    """An exclusive ``flock`` held on one file; ``release`` deletes the file and drops the lock."""

    def __init__(self, path: Path, descriptor: int):
        self.path = path
        self._fd: int | None = descriptor

    def write(self, text: str) -> None:
        """Replace the file's content (who holds it, for the messages of those who wait)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def release(self, unlink: bool = True) -> None:
        """Drop the lock; with ``unlink`` (the default) delete the file first, while still holding
        it, so no lock file outlives its holder. Safe to call twice."""
        if self._fd is None:
            return
        try:
            if unlink:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock(path: Path, blocking: bool, create: bool = True) -> HeldLock | None:
    """Take an exclusive flock on ``path``; None when another holds it (``blocking=False``) or the
    file does not exist (``create=False``)."""
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
        except FileNotFoundError:
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            return None
        # The previous holder may have deleted the file between our open and our lock (release
        # unlinks); a lock on a deleted file guards nothing, so open the current one again.
        try:
            current = os.stat(path)
            held = os.fstat(descriptor)
            if (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
                return HeldLock(path, descriptor)
        except FileNotFoundError:
            pass
        os.close(descriptor)
        if not create:
            return None


# ---------------------------------------------------------------------------------------------
# Runs


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses, so count from its end.
    fields = text[text.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def owner_info() -> dict[str, Any]:
    """``host``, ``pid`` and ``pid_start`` of this process, stored in every run record."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _process_start(os.getpid())}


def _local_root(root: str | os.PathLike, storage_options: Mapping[str, Any] | None) -> Path | None:
    if not is_local_url(root):
        return None
    return Path(resolve_url(root, storage_options)[1])


def _lock_path(root_path: Path, run_id: str) -> Path:
    return root_path / "runs" / f"{run_id}.lock"


class RunLock:
    """The liveness lock of one run: taken before its first record, released after its last.

    On a remote root there is no file to lock and this holds nothing; liveness then comes from the
    record's host and pid (see the module docstring).
    """

    def __init__(self, root: str | os.PathLike, run_id: str, storage_options: Mapping[str, Any] | None = None):
        root_path = _local_root(root, storage_options)
        self._held = None
        if root_path is not None:
            # Blocking: a sync in another process may be probing this brand-new file for a moment
            # (run ids carry a random part, so nobody else ever holds it for longer).
            held = _lock(_lock_path(root_path, run_id), blocking=True)
            held.write(f"{run_id} {socket.gethostname()} {os.getpid()}\n")
            self._held = held

    def release(self) -> None:
        """Drop the lock (and delete the lock file); call after the run's last record is written."""
        if self._held is not None:
            self._held.release()
            self._held = None


def _pid_alive(record: Mapping[str, Any]) -> bool | None:
    """True/False for a run of this host by its pid and start time; None when it ran elsewhere."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return None
    started = _process_start(record["pid"])
    if started is None:
        try:
            os.kill(record["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return record.get("pid_start") is None  # a live pid we cannot date: trust it only without a date
    return record.get("pid_start") in (None, started)


def run_is_alive(root: str | os.PathLike, record: Mapping[str, Any], storage_options: Mapping[str, Any] | None = None) -> bool | None:
    """Whether the run of ``record`` is still alive: True, False, or None when it cannot be told
    (a remote root written from another host)."""
    root_path = _local_root(root, storage_options)
    if root_path is None:
        return _pid_alive(record)
    held = _lock(_lock_path(root_path, record["run_id"]), blocking=False, create=False)
    if held is not None:
        held.release(unlink=False)
        return False
    return _lock_path(root_path, record["run_id"]).exists()


def _read_record(root: str | os.PathLike, run_id: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    fs, path = resolve_url(root, storage_options)
    try:
        return json.loads(fs.cat_file(posixpath.join(path, "runs", f"{run_id}.json")))
    except (FileNotFoundError, ValueError):
        return None


def _interrupt(root, record: Mapping[str, Any], storage_options) -> dict[str, Any]:
    updated = {
        **record,
        "status": "interrupted",
        # When the run died is unknown; when it was found dead is not.
        "interrupted_found_at": utc_now(),
        "interrupted_found_by": f"{socket.gethostname()}:{os.getpid()}",
    }
    write_run_record(root, record["run_id"], updated, storage_options=storage_options)
    log.warning("run %s died without finishing (its process is gone); its record now says interrupted", record["run_id"])
    return updated


def mark_interrupted_runs(root: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rewrite every dead ``running`` run record under ``root`` as ``interrupted``.

    Also deletes what dead runs left in ``ROOT/runs``: their lock files and the temporary files of
    record writes they did not finish. Live runs and runs whose liveness cannot be told (another
    host's, on a remote root) are left alone.

    Returns:
        the records rewritten (status ``interrupted``).
    """
    records, _ = scan_run_records(root, storage_options)
    root_path = _local_root(root, storage_options)
    changed = []
    for record in records:
        if record["status"] != "running":
            continue
        if root_path is None:
            if _pid_alive(record) is False:
                current = _read_record(root, record["run_id"], storage_options)
                if current and current.get("status") == "running":
                    changed.append(_interrupt(root, current, storage_options))
            continue
        lock_path = _lock_path(root_path, record["run_id"])
        held = _lock(lock_path, blocking=False, create=False)
        if held is None and lock_path.exists():
            continue  # alive: its process holds the lock
        try:
            # Read again now that no one can be holding the lock: the run may have written its
            # final record and released the lock since the scan.
            current = _read_record(root, record["run_id"], storage_options)
            if current and current.get("status") == "running":
                changed.append(_interrupt(root, current, storage_options))
        finally:
            if held is not None:
                held.release()
    if root_path is not None:
        _remove_dead_leftovers(root_path)
    return changed


def _remove_dead_leftovers(root_path: Path) -> None:
    runs = root_path / "runs"
    for lock_path in runs.glob("*.lock"):
        held = _lock(lock_path, blocking=False, create=False)
        if held is not None:
            held.release()  # nobody holds it: the run is gone
    for temporary in runs.glob(f".*.json{TEMP_MARK}*"):
        run_id = temporary.name[1 : temporary.name.index(f".json{TEMP_MARK}")]
        lock_path = _lock_path(root_path, run_id)
        held = _lock(lock_path, blocking=False, create=False)
        if held is None and lock_path.exists():
            continue  # the run is alive and may be writing that file right now
        try:
            temporary.unlink(missing_ok=True)
        finally:
            if held is not None:
                held.release()


# ---------------------------------------------------------------------------------------------
# Clip claims and half-written shards


def _claim_path(root_path: Path, match_id: str, clip_id: str) -> Path:
    # One flat folder (ids never hold a comma), so a released claim leaves no empty folder behind.
    return root_path / "claims" / f"match_id={match_id},clip_id={clip_id}.lock"


def _release_claim(held: HeldLock) -> None:
    held.release()
    # The folder goes with its last claim; a claimant racing with this recreates it (see _lock).
    with contextlib.suppress(OSError):
        held.path.parent.rmdir()


@contextlib.contextmanager
def claim_clip(
    root: str | os.PathLike,
    match_id: str,
    clip_id: str,
    holder: str,
    storage_options: Mapping[str, Any] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the claim on one clip while curating it; waits while another run holds it.

    On a remote root this claims nothing (there is no lock to take): runs writing the same clips
    of a remote root at the same time must be avoided by the caller.

    Args:
        holder: who claims (the run id), written into the claim for the messages of others.
        on_wait: called with the current holder's text before waiting for it.
    """
    root_path = _local_root(root, storage_options)
    if root_path is None:
        yield
        return
    path = _claim_path(root_path, match_id, clip_id)
    held = _lock(path, blocking=False)
    if held is None:
        if on_wait is not None:
            try:
                other = path.read_text().strip() or "another run"
            except OSError:
                other = "another run"
            on_wait(other)
        held = _lock(path, blocking=True)
    try:
        held.write(f"{holder}\n")
        yield
    finally:
        _release_claim(held)


def tidy_shards(
    root: str | os.PathLike,
    manifests: Mapping[tuple[str, str], ShardManifest],
    storage_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Delete what killed writers left in shard folders nobody is writing (local roots only).

    A folder whose claim is free and that has no manifest is a shard that was never committed: it
    is deleted. In a committed folder, temporary files and Parquet files the manifest does not
    name (the previous version's, when the writer died before removing them) are deleted. Stale
    claim files are deleted too. Folders whose manifest is unreadable are left for the caller.

    Args:
        manifests: the committed manifests by (match_id, clip_id), as ``scan_manifests`` found them.

    Returns:
        one line per file or folder deleted.
    """
    root_path = _local_root(root, storage_options)
    if root_path is None:
        return []
    removed: list[str] = []
    for clip_dir in sorted((root_path / "shards").glob("match_id=*/clip_id=*")):
        if not clip_dir.is_dir():
            continue
        match_id = clip_dir.parent.name.removeprefix("match_id=")
        clip_id = clip_dir.name.removeprefix("clip_id=")
        # A cheap look with the scanned manifest first; most folders are clean.
        if not _stale_files(clip_dir, manifests.get((match_id, clip_id)), set(os.listdir(clip_dir))):
            continue
        held = _lock(_claim_path(root_path, match_id, clip_id), blocking=False)
        if held is None:
            continue  # a live run is writing this clip
        try:
            # Look again under the claim: a run may have committed a new version since the scan.
            try:
                manifest = read_manifest(str(clip_dir / MANIFEST_NAME))
            except FileNotFoundError:
                manifest = None
            except ValueError:
                continue  # a manifest that does not validate: not ours to delete
            stale = _stale_files(clip_dir, manifest, set(os.listdir(clip_dir)))
            for name in sorted(stale - {""}):
                (clip_dir / name).unlink(missing_ok=True)
                removed.append(str(clip_dir / name))
            if manifest is None and not any(clip_dir.iterdir()):
                clip_dir.rmdir()
                removed.append(f"{clip_dir}/ (a shard that was never committed)")
                with contextlib.suppress(OSError):  # only when the match has no other clip
                    clip_dir.parent.rmdir()
        finally:
            _release_claim(held)
    for claim in sorted((root_path / "claims").glob("match_id=*,clip_id=*.lock")):
        held = _lock(claim, blocking=False, create=False)
        if held is not None:  # nobody holds it: its run died
            _release_claim(held)
            removed.append(str(claim))
    return removed


def _stale_files(clip_dir: Path, manifest: ShardManifest | None, names: set[str]) -> set[str]:
    """Files of ``clip_dir`` a finished writer would not have left: temporary files, and Parquet
    files the manifest does not name (all of them without a manifest); ``{""}`` for an empty
    folder without a manifest. A folder with an unreadable manifest gives nothing."""
    if manifest is None and MANIFEST_NAME in names:
        return set()  # the scan skipped it as unreadable: not ours to delete
    keep = {entry["path"] for entry in manifest.files.values()} if manifest else set()
    stale = {name for name in names if is_stale_shard_file(name, keep)}
    if manifest is None and not names:
        stale.add("")
    return stale
