"""Bring the catalog in line with the files, cheaply, and register shards when the catalog lets us.

The shards and run records are the truth; the catalog is an index that can fall behind: a
notebook holding ``duckdb.connect(catalog, read_only=True)`` open blocks every writer (DuckDB
allows readers or one writer), and a run killed between committing a shard and registering it
leaves the shard unregistered. Two tools close the gap:

* ``sync_catalog``: marks dead runs ``interrupted`` (``storage.runs``), deletes what killed writers
  left (temporary files, half-written shard folders), registers committed shards the catalog
  lacks or holds in another version (the full check of ``register_shards`` quarantines a damaged
  one), unregisters shards whose manifest is gone, and records run
  records the catalog lacks or holds with another status. It compares keys, not content, so it
  costs a listing of the manifests and two small queries. ``curate`` runs it at start;
  ``soccerfactory catalog sync`` runs it on demand.
* ``DeferredRegistration``: what ``curate`` uses to register each clip's shard. When the catalog
  is locked for longer than the wait, the shard is kept in a pending list and retried after the
  next clip (without waiting again) and at the end of the run (with the wait); whatever is still
  pending then is left for the next ``curate`` or ``catalog sync``, and said so.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from soccerfactory.storage.catalog import CatalogLockedError, connect, record_run, register_shards
from soccerfactory.storage.runs import mark_interrupted_runs, tidy_shards
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.run_records import scan_run_records
from soccerfactory.storage.shards import CorruptShardError, find_manifest, scan_manifests

__all__ = ["SyncReport", "sync_catalog", "DeferredRegistration", "lock_holder"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SyncReport:
    """What one ``sync_catalog`` did.

    Attributes:
        catalog: the catalog file.
        registered: shards added or replaced (a newer version of the clip).
        unregistered: shards removed because their manifest is gone (or unreadable).
        runs_recorded: run records added to ``runs`` or updated there (status changed).
        interrupted: ids of the dead runs whose records were rewritten ``interrupted``.
        tidied: one line per leftover file or folder deleted.
        problems: one line per manifest, run record or shard that could not be used.
        shards, runs: rows in ``shards`` and ``runs`` afterwards.
    """

    catalog: str
    registered: int = 0
    unregistered: int = 0
    runs_recorded: int = 0
    interrupted: list[str] = dataclasses.field(default_factory=list)
    tidied: list[str] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    shards: int = 0
    runs: int = 0

    def line(self) -> str:
        """The one-line summary ``soccerfactory catalog sync`` prints."""
        return (
            f"synced {self.catalog}: {self.registered} shards registered, {self.unregistered} unregistered, "
            f"{self.runs_recorded} runs recorded, {len(self.interrupted)} interrupted runs marked, "
            f"{len(self.tidied)} leftover files removed, {len(self.problems)} problems; "
            f"now {self.shards} shards and {self.runs} runs"
        )


def lock_holder(error: BaseException) -> str:
    """The process DuckDB names as the lock holder of a ``CatalogLockedError`` ("PID 1234"), or ""."""
    text = str(error.__cause__ or error)
    found = re.search(r"held in (\S+) \(PID (\d+)\)", text)
    return f" ({Path(found.group(1)).name}, PID {found.group(2)})" if found else ""


def sync_catalog(
    root: str | os.PathLike,
    catalog: str | os.PathLike,
    storage_options: Mapping[str, Any] | None = None,
    wait_s: float = 30.0,
) -> SyncReport:
    """Make the catalog agree with the shards and run records under ``root`` (see the module doc).

    Everything on the files side (marking dead runs, deleting leftovers) happens before the
    catalog is opened, so it is done even when the catalog turns out to be locked.

    Raises:
        CatalogLockedError: another process held the catalog for more than ``wait_s``.
    """
    report = SyncReport(catalog=str(catalog))
    report.interrupted = [record["run_id"] for record in mark_interrupted_runs(root, storage_options)]
    # Damaged files are not checked here: a shard whose manifest exists stays registered, and the
    # view refresh (size check) or `catalog verify` quarantines it with its reason.
    manifests, problems = scan_manifests(root, storage_options, check_files=False)
    report.problems += problems
    by_clip = {(m.match_id, m.clip_id): m for m in manifests}
    report.tidied = tidy_shards(root, by_clip, storage_options)
    records, problems = scan_run_records(root, storage_options)
    report.problems += problems

    # One short write connection decides what differs and removes what vanished; registration
    # then uses the catalog's own API (which checks every file before it takes the lock, creates
    # the tables of a new catalog and refreshes the views).
    Path(catalog).parent.mkdir(parents=True, exist_ok=True)
    with connect(catalog, wait_s=wait_s) as connection:
        tables = connection.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('shards', 'runs')").fetchone()[0]
        registered, recorded, vanished = _differences(connection, by_clip, root, storage_options) if tables == 2 else ({}, {}, [])
    report.unregistered = len(vanished)
    missing = _current([m for clip, m in by_clip.items() if registered.get(clip) != (m.shard_key, _files_json(m))],
                       registered, root, storage_options)
    report.registered, problems = _register(catalog, missing, storage_options, wait_s)
    report.problems += problems
    for record in records:
        if recorded.get(record["run_id"]) != record["status"]:
            record_run(catalog, record, wait_s=wait_s)
            report.runs_recorded += 1
    with connect(catalog, read_only=True, wait_s=wait_s) as connection:
        report.shards, report.runs = connection.execute("SELECT (SELECT count(*) FROM shards), (SELECT count(*) FROM runs)").fetchone()
    return report


def _differences(connection, by_clip: Mapping[tuple[str, str], ShardManifest], root: str, storage_options: Mapping[str, Any] | None):
    """(registered shards: clip -> (key, files JSON), recorded runs: id -> status, clips whose
    shard vanished), deleting the vanished ones' rows in one transaction."""
    registered = {
        (match_id, clip_id): (key, files)
        for match_id, clip_id, key, files in connection.execute("SELECT match_id, clip_id, shard_key, files FROM shards").fetchall()
    }
    recorded = dict(connection.execute("SELECT run_id, status FROM runs").fetchall())
    # The manifests were listed before this connection took the lock: a run curating into the same
    # root may have committed and registered a clip since. Look again (under the lock, so no one
    # registers meanwhile) before calling a registered clip vanished.
    vanished = [clip for clip in registered if clip not in by_clip and _manifest_now(root, clip, storage_options) is None]
    if vanished:
        connection.execute("BEGIN TRANSACTION")
        for match_id, clip_id in vanished:
            connection.execute("DELETE FROM shards WHERE match_id = ? AND clip_id = ?", [match_id, clip_id])
            connection.execute("DELETE FROM clips WHERE match_id = ? AND clip_id = ?", [match_id, clip_id])
        connection.execute("COMMIT")
    return registered, recorded, vanished


def _manifest_now(root: str, clip: tuple[str, str], storage_options: Mapping[str, Any] | None) -> ShardManifest | None:
    try:
        return find_manifest(root, clip[0], clip[1], storage_options=storage_options)
    except ValueError:  # an unreadable manifest counts as none, as in the listing (scan_manifests)
        return None


def _current(
    manifests: list[ShardManifest], registered: Mapping[tuple[str, str], tuple[str, str]], root: str,
    storage_options: Mapping[str, Any] | None,
) -> list[ShardManifest]:
    """The committed manifest of each clip now, leaving out those the catalog already holds: a run
    may have re-curated a clip since the listing, and registering the listed (stale) manifest, whose
    files that run has replaced, would quarantine the good row it registered."""
    current = []
    for manifest in manifests:
        clip = (manifest.match_id, manifest.clip_id)
        latest = _manifest_now(root, clip, storage_options) or manifest
        if registered.get(clip) != (latest.shard_key, _files_json(latest)):
            current.append(latest)
    return current


def _files_json(manifest: ShardManifest) -> str:
    # As the catalog stores it (register_shards: json.dumps(manifest.files, sort_keys=True)).
    return json.dumps(manifest.files, sort_keys=True)


def _register(
    catalog: str | os.PathLike, manifests: list[ShardManifest], storage_options: Mapping[str, Any] | None, wait_s: float,
    check_registered: bool = True,
) -> tuple[int, list[str]]:
    """Register ``manifests`` in one go; when one is corrupt, one at a time so the rest still land.
    Always refreshes the views (also after ``sync_catalog`` deleted rows); ``check_registered``:
    a full refresh (sizes and footers of every registered file, every view made again), what the
    start of a run wants; otherwise only the new shards are read."""
    try:
        return register_shards(
            catalog, manifests, storage_options=storage_options, wait_s=wait_s, check_registered=check_registered,
            full_refresh=check_registered,
        )["registered"], []
    except (CorruptShardError, ValueError) as error:
        if len(manifests) <= 1:
            return 0, [f"{manifests[0].url}: {error}"] if manifests else [str(error)]
    done, problems = 0, []
    for manifest in manifests:
        try:
            done += register_shards(
                catalog, [manifest], storage_options=storage_options, wait_s=wait_s, check_registered=check_registered,
                full_refresh=check_registered,
            )["registered"]
        except (CorruptShardError, ValueError) as error:
            problems.append(f"{manifest.url}: {error}")
    return done, problems


class DeferredRegistration:
    """The shards one run wrote, registered when the catalog lets us, remembered when it does not.

    Args:
        catalog: the DuckDB file.
        root: the shard root (to re-read a pending clip's current manifest before registering it).
        wait_s: how long one attempt waits for the catalog's lock. Once an attempt has failed,
            the attempts after later clips do not wait (a reader that held the catalog for
            ``wait_s`` is likely to hold it longer; the run must not crawl); ``flush`` waits again.
    """

    def __init__(self, catalog: str, root: str, storage_options: Mapping[str, Any] | None = None, wait_s: float = 30.0):
        self.catalog, self.root, self.storage_options, self.wait_s = catalog, root, storage_options, wait_s
        self.pending: dict[tuple[str, str], ShardManifest] = {}
        self.locked: str | None = None  # the last lock message, while the catalog is behind

    @property
    def deferred(self) -> bool:
        """Whether the catalog is behind this run (shards pending, or the last attempt was refused)."""
        return bool(self.pending) or self.locked is not None

    def defer(self, error: CatalogLockedError) -> None:
        """Remember that the catalog refused us (e.g. at the start of the run)."""
        self.locked = f"catalog {self.catalog} is locked by another process{lock_holder(error)}"
        log.warning("%s; registration is deferred", self.locked)

    def add(self, manifests: Iterable[ShardManifest]) -> bool:
        """Queue ``manifests`` and try to register everything queued; True when the catalog took it."""
        for manifest in manifests:
            self.pending[(manifest.match_id, manifest.clip_id)] = manifest
        return self._attempt(0.0 if self.locked else self.wait_s)

    def flush(self) -> bool:
        """The end-of-run attempt, with the full wait; True when nothing is left pending."""
        return self._attempt(self.wait_s)

    def record_run(self, record: Mapping[str, Any]) -> bool:
        """Upsert the run's row, unless shards are still pending (the catalog refused the flush
        just now; waiting again would only double the delay). True when recorded."""
        if self.pending:
            return False
        try:
            record_run(self.catalog, record, wait_s=self.wait_s)
        except CatalogLockedError as error:
            self.defer(error)
            return False
        self.locked = None
        return True

    def _attempt(self, wait_s: float) -> bool:
        if not self.pending:
            return True
        current = []
        for (match_id, clip_id), manifest in list(self.pending.items()):
            # Register what is committed now: another run may have replaced this shard since.
            try:
                latest = find_manifest(self.root, match_id, clip_id, storage_options=self.storage_options)
            except ValueError:
                latest = manifest
            if latest is not None:
                current.append(latest)
        try:
            # The run's start checked every registered shard; each clip's own shards get the full check.
            _, problems = _register(self.catalog, current, self.storage_options, wait_s, check_registered=False)
        except CatalogLockedError as error:
            self.defer(error)
            return False
        for problem in problems:  # a shard that does not verify is not retried; `catalog sync` reports it
            log.warning("not registered: %s", problem)
        self.pending.clear()
        self.locked = None
        return True

    def message(self, root: str) -> str:
        """What a user needs to know while the catalog is behind: which file, how many shards,
        and what registers them."""
        reason = self.locked or f"catalog {self.catalog} could not be updated"
        return (
            f"{reason}: {len(self.pending)} shards are written under {root} but not registered yet, nor is this run's record. "
            f"Close the other connection; the next `soccerfactory curate` into {root}, or "
            f"`soccerfactory catalog sync --output {root} --catalog {self.catalog}`, registers them."
        )
