"""Repairing the catalog from the files: ``rebuild_catalog`` recreates it, ``verify_catalog`` checks it.

* ``rebuild_catalog`` (``soccerfactory catalog rebuild``): a new catalog from the shard manifests
  and run records under a root, moved over the old one; the model tables and analysts' views are
  carried over.
* ``verify_catalog`` (``soccerfactory catalog verify``): the full check of every registered shard
  against its manifest; the bad are quarantined, quarantined shards that are sound again are put
  back (``storage/quarantine.py`` says when the other checks run).

``storage/sync.py`` is the cheap, everyday counterpart (keys only, no file is read). This module
sits on top of the catalog modules (``catalog``, ``views``, ``quarantine``, ``catalog_sql``).
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any, Mapping

import duckdb

from soccerfactory.storage.catalog import CatalogLockedError, connect, create_tables, insert_run, insert_shard, register_filesystem
from soccerfactory.storage.catalog_sql import CATALOG_TABLES, MODEL_TABLES, quote
from soccerfactory.storage.fs import is_local_url, resolve_url
from soccerfactory.storage.locations import GROUND_TRUTH_KEY, Locator, ensure_root, get_meta, read_locator, set_meta
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.quarantine import check_shards, quarantine_shard, shard_problem
from soccerfactory.storage.run_records import scan_run_records
from soccerfactory.storage.runs import mark_interrupted_runs
from soccerfactory.storage.shards import read_manifest, scan_manifests
from soccerfactory.storage.views import AGGREGATE_VIEWS, DATA_VIEWS, TRUTH_VIEWS, refresh_views

__all__ = ["rebuild_catalog", "verify_catalog"]


# ---------------------------------------------------------------------------------------------
# Rebuild


_MANAGED_VIEWS = set(DATA_VIEWS) | set(AGGREGATE_VIEWS) | set(TRUTH_VIEWS)


def _user_objects(connection: duckdb.DuckDBPyConnection) -> tuple[list[tuple[str, str]], list[str]]:
    """Views the catalog does not manage (gt_* and analysts' own), and other tables."""
    views = connection.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND NOT temporary AND schema_name = 'main' ORDER BY view_oid"
    ).fetchall()
    tables = connection.execute("SELECT table_name FROM duckdb_tables() WHERE NOT internal AND NOT temporary AND schema_name = 'main'").fetchall()
    kept = [(name, sql) for name, sql in views if name not in _MANAGED_VIEWS]
    others = [name for (name,) in tables if name not in CATALOG_TABLES]
    return kept, others


def _restore_views(connection: duckdb.DuckDBPyConnection, views: list[tuple[str, str]], problems: list[str]) -> list[str]:
    pending, restored = list(views), []
    # Views may depend on each other; retry until a pass makes no progress.
    while pending:
        failed = []
        for name, sql in pending:
            try:
                connection.execute(sql)
                restored.append(name)
            except duckdb.Error as error:
                failed.append((name, sql, str(error).splitlines()[0]))
        if len(failed) == len(pending):
            problems.extend(f"view {name} was not carried over: {reason}" for name, _, reason in failed)
            break
        pending = [(name, sql) for name, sql, _ in failed]
    return restored


def _ground_truth_files(connection: duckdb.DuckDBPyConnection, path: Path) -> dict[str, list[str]]:
    """gt table -> the files its view reads, from an old catalog's meta (absolute, to re-store)."""
    locator = read_locator(connection, path)
    stored = json.loads(get_meta(connection, GROUND_TRUTH_KEY) or "{}")
    return {table: [locator.resolve(f) for f in files] for table, files in stored.items()}


def _remove_database_file(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            candidate.unlink()
        except FileNotFoundError:
            pass


def rebuild_catalog(
    root: str | os.PathLike,
    path: str | os.PathLike,
    storage_options: Mapping[str, Any] | None = None,
    wait_s: float = 30.0,
) -> dict[str, Any]:
    """Recreate the catalog from the shard manifests and run records under ``root``.

    The new catalog is built in a temporary file next to ``path`` and moved over it while the old
    one's write lock is held, so a reader sees the old catalog or the new one. Views the catalog
    does not manage (``gt_*``, analysts' own) are carried over when they still bind; other tables
    are not (they are listed in problems).

    Every shard gets the full check (``quarantine.check_shards``); one that fails it (a schema
    version this code does not read, a missing column, a file that differs from its manifest) is
    quarantined and named in one line of problems, and the others are rebuilt.

    Returns:
        {"shards", "clips", "runs", "failures": row counts, "views_kept": names,
         "problems": one line per manifest, shard, run record, view or table that was left out}.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    old = None
    if path.exists():
        try:
            old = connect(path, wait_s=wait_s)
        except CatalogLockedError:
            raise
        except duckdb.Error as error:
            # A damaged catalog is exactly what a rebuild is for; nobody can be writing to it.
            problems.append(f"old catalog {path} could not be opened and was replaced: {str(error).splitlines()[0]}")
    temporary = path.with_name(f".{path.name}.rebuild-{uuid.uuid4().hex[:12]}")
    try:
        # Scan while holding the old catalog's lock: a registration that waits for us lands in the
        # new file, and one that finished before us has its shard on storage already.
        # Files are checked below, so a shard with a bad file is quarantined rather than unlisted.
        manifests, manifest_problems = scan_manifests(root, storage_options, check_files=False)
        problems += manifest_problems
        mark_interrupted_runs(root, storage_options)  # a dead run must not come back as `running`
        records, run_problems = scan_run_records(root, storage_options)
        problems += run_problems
        loaded, rejected = check_shards(manifests, storage_options, full=True)
        problems += [f"{r.line} (quarantined)" for r in rejected]
        for manifest, _ in loaded:
            if not is_local_url(manifest.url):
                register_filesystem(resolve_url(manifest.url, storage_options)[0])
        kept_views, other_tables = _user_objects(old) if old is not None else ([], [])
        ground_truth = _ground_truth_files(old, path) if old is not None else {}
        # gt_* views recorded in the meta are recreated from it (for where the new catalog is).
        kept_views = [(name, sql) for name, sql in kept_views if not (name.startswith("gt_") and name[3:] in ground_truth)]
        problems += [f"table {name} was not carried over (only the catalog's own tables are rebuilt)" for name in other_tables]

        with closing(connect(temporary, wait_s=0)) as connection:
            connection.execute("BEGIN TRANSACTION")
            create_tables(connection)
            locator = ensure_root(connection, temporary, root)
            for manifest, clips in loaded:
                insert_shard(connection, manifest, clips, None, locator)
            for r in rejected:
                quarantine_shard(connection, locator, r.manifest.match_id, r.manifest.clip_id, r.file, r.reason, r.manifest)
            if ground_truth:
                set_meta(connection, GROUND_TRUTH_KEY, {t: [locator.store(f) for f in files] for t, files in ground_truth.items()})
            n_failures = sum(insert_run(connection, record) for record in records)
            if old is not None:
                for table in MODEL_TABLES:
                    try:
                        cursor = old.execute(f"SELECT * FROM {table}")
                        rows, names = cursor.fetchall(), [d[0] for d in cursor.description]
                    except duckdb.Error:
                        continue  # a catalog from before the table existed
                    if rows:  # by name: an old catalog lacks the columns added since (evaluations.split)
                        connection.executemany(f"INSERT INTO {table} ({', '.join(map(quote, names))}) VALUES ({', '.join('?' * len(names))})", rows)
            connection.execute("COMMIT")
            problems += refresh_views(connection, temporary, storage_options)
            restored = _restore_views(connection, kept_views, problems)
            n_shards, n_clips = connection.execute("SELECT (SELECT count(*) FROM shards), (SELECT count(*) FROM clips)").fetchone()
            connection.execute("CHECKPOINT")
        # A WAL left next to the new file would be replayed into it: fold the old one in first
        # (or drop it with a catalog that could not be opened).
        if old is not None:
            old.execute("CHECKPOINT")
        else:
            path.with_name(path.name + ".wal").unlink(missing_ok=True)
        os.replace(temporary, path)
    except BaseException:
        _remove_database_file(temporary)
        raise
    finally:
        if old is not None:
            old.close()
    return {
        "shards": n_shards,
        "clips": n_clips,
        "runs": len(records),
        "failures": n_failures,
        "views_kept": restored,
        "problems": problems,
    }


# ---------------------------------------------------------------------------------------------
# Verify


def _registered_manifests(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[ShardManifest]:
    """The registered shards as manifests rebuilt from their catalog rows (nothing is read)."""
    rows = connection.execute(
        "SELECT match_id, clip_id, shard_key, schema_version, config_hash, code_version, created_at, manifest_url, files "
        "FROM shards ORDER BY match_id, clip_id"
    ).fetchall()
    manifests = []
    for match_id, clip_id, key, version, config_hash, code_version, created_at, url, files in rows:
        manifests.append(
            ShardManifest(
                match_id=match_id, clip_id=clip_id, shard_key=key, schema_version=version, config_hash=config_hash or "",
                code_version=code_version or "", created_at=(created_at.isoformat() if created_at else "1970-01-01T00:00:00+00:00"),
                files=json.loads(files), url=locator.resolve(url),
            )
        )
    return manifests


def verify_catalog(
    catalog: str | os.PathLike, full: bool = True, storage_options: Mapping[str, Any] | None = None, wait_s: float = 30.0
) -> dict[str, Any]:
    """Check every registered shard against its manifest; quarantine the bad, restore the repaired.

    The files are read without holding the catalog's write lock (a full check reads every byte);
    a verdict is applied only if the clip still has the shard that was checked.

    Args:
        full: sha256 and columns too (reads every file); otherwise sizes only.

    Returns:
        {"checked": shards checked, "full": full, "quarantined": a line per shard quarantined now,
         "restored": a line per quarantined shard put back, "in_quarantine": a line per shard
         still quarantined, "shards": shards registered now}.

    Raises:
        FileNotFoundError: no catalog at ``catalog``.
        CatalogLockedError: another writer held the catalog for more than ``wait_s``.
    """
    path = Path(catalog)
    if not path.is_file():
        raise FileNotFoundError(f"no catalog at {path}: pass --catalog, or run `soccerfactory curate` or `soccerfactory catalog rebuild` first")
    with connect(path, wait_s=wait_s) as connection:
        create_tables(connection)  # a catalog from before the quarantine table
        locator = read_locator(connection, path)
        registered = _registered_manifests(connection, locator)
        held = connection.execute("SELECT match_id, clip_id, manifest_url FROM quarantine ORDER BY ALL").fetchall()

    bad = [(manifest, problem) for manifest in registered if (problem := shard_problem(manifest, full, storage_options))]
    candidates = []
    for _, _, stored in held:
        try:
            candidates.append(read_manifest(locator.resolve(stored), storage_options))
        except (FileNotFoundError, ValueError, TypeError, AttributeError):
            continue  # still no sound manifest: stays quarantined
    repaired, _ = check_shards(candidates, storage_options, full=True)

    with connect(path, wait_s=wait_s) as connection:
        connection.execute("BEGIN TRANSACTION")
        try:
            quarantined = []
            for manifest, problem in bad:
                still = connection.execute(
                    "SELECT count(*) FROM shards WHERE match_id = ? AND clip_id = ? AND shard_key = ?",
                    [manifest.match_id, manifest.clip_id, manifest.shard_key],
                ).fetchone()[0]
                if still:
                    quarantined.append(quarantine_shard(connection, locator, manifest.match_id, manifest.clip_id, *problem, manifest=manifest))
            restored = []
            for manifest, clips in repaired:
                insert_shard(connection, manifest, clips, None, locator)
                restored.append(f"{manifest.match_id}/{manifest.clip_id}: {manifest.url}: sound again, back in the views")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        quarantined += refresh_views(connection, path, storage_options)
        remaining = connection.execute("SELECT match_id, clip_id, file, reason FROM quarantine ORDER BY match_id, clip_id").fetchall()
        n_shards = connection.execute("SELECT count(*) FROM shards").fetchone()[0]
    return {
        "checked": len(registered),
        "full": full,
        "quarantined": quarantined,
        "restored": restored,
        "in_quarantine": [f"{m}/{c}: {locator.resolve(f)}: {r}" for m, c, f, r in remaining],
        "shards": n_shards,
    }
