"""The DuckDB catalog: one local file that analysts query with plain SQL.

It catalogues synthetic ground truth (``gt_*`` views) and curated shards. Views read the Parquet
files in place (nothing is copied), so the Parquet stays the truth and ``rebuild_catalog`` can
always recreate the file from the shard manifests and run records.

This module opens the catalog and writes its rows. Below it: the SQL of its tables
(``storage/catalog_sql.py``), quarantine (``storage/quarantine.py``) and the views
(``storage/views.py``); above it: ``rebuild_catalog`` and ``verify_catalog``
(``storage/repair.py``) and ``sync_catalog`` (``storage/sync.py``).

Tables (the catalog's own state):
    runs       one row per curation run (from run records)
    failures   what failed in a run: source_url, clip_id (null = the whole source), stage, reason
    shards     one row per registered shard (clip): key, manifest URL, rows per table, files
    clips      the ``clips`` row of every registered shard
    quarantine shards left out of the views because a file failed its check, and why
               (``storage/quarantine.py``)
    catalog_meta  where the files are: the root, relative to the catalog's folder when local
    shard_stats   one summary row per registered shard, from its own Parquet, that the quality
               views add up (``storage/catalog_stats.py``)

Local paths are stored relative to the root, so a root copied or moved with its catalog reads its
own files (``storage/locations.py``); the views are regenerated for where the catalog is opened
(``storage/views.py``).

Views over the Parquet of registered shards only (explicit file lists, in a ``registered_<table>()``
macro per view; a registration rewrites these and reads only the new shard's files):
``frames``, ``athletes``, ``ball``, ``cameras``, ``events``; aggregates ``tracks`` (one row per
tracklet), ``quality`` (per clip), ``quality_match`` (per match; both over ``shard_stats``) and ``track_flags``;
where ground truth is catalogued, the ``truth_*`` views grading the shards against it
(``storage/truth_views.py``). Read any view's SQL with ``SELECT view_name, sql FROM duckdb_views()
WHERE NOT internal``. Every table, view and column carries a comment (units, frames, meaning:
``storage/comments.py``), set wherever they are (re)created; read them in ``duckdb_columns()``.

Shards on a non-local root (``memory://``, ``s3://``): the view SQL names fsspec URLs, and DuckDB
can only read them through an fsspec filesystem registered on the connection. This module
remembers the filesystem of every such root it registered and ``connect`` registers them on each
new connection, so the views work in the process that registered the shards. A fresh process must
call ``register_filesystem`` with the same filesystem (for ``memory://`` the data is gone anyway).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import duckdb
import fsspec
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from soccerfactory.storage.catalog_sql import CATALOG_TABLES, MIGRATIONS_SQL, TABLES_DDL
from soccerfactory.storage.catalog_stats import SHARD_STATS_DDL
from soccerfactory.storage.comments import apply_comments
from soccerfactory.storage.event_labels import EVENT_LABEL_COLUMNS
from soccerfactory.storage.failpoints import failpoint
from soccerfactory.storage.fs import is_local_url, resolve_url
from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMAS
from soccerfactory.storage.identities import IDENTITY_VIEWS, refresh_identity_views
from soccerfactory.storage.locations import GROUND_TRUTH_KEY, META_DDL, Locator, ensure_root, get_meta, read_locator, set_meta, shards_root_of
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.quarantine import QUARANTINE_DDL, check_shards, quarantine_shard
from soccerfactory.storage.run_records import validate_run_record
from soccerfactory.storage.schemas import SHARD_SCHEMAS
from soccerfactory.storage.truth_views import create_truth_views
from soccerfactory.storage.views import follow_location, ground_truth_view_sql, refresh_views

__all__ = [
    "CatalogLockedError",
    "register_filesystem",
    "register_known_filesystems",
    "connect",
    "register_ground_truth",
    "register_identities",
    "create_tables",
    "ensure_catalog",
    "insert_shard",
    "register_shards",
    "insert_run",
    "record_run",
    "record_training_run",
    "record_evaluations",
    "record_event_labels",
]

log = logging.getLogger(__name__)


class CatalogLockedError(RuntimeError):
    """Another process holds the catalog's write lock for longer than we were willing to wait."""


# fsspec filesystems (by protocol) that catalogued shards live on; registered on every connection.
_FILESYSTEMS: dict[str, fsspec.AbstractFileSystem] = {}


def _protocol(fs: fsspec.AbstractFileSystem) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def register_filesystem(fs: fsspec.AbstractFileSystem) -> None:
    """Make ``fs`` available to every catalog connection this process opens from now on, so views
    over shards on it (``memory://``, ``s3://``...) can be queried. Local filesystems are ignored:
    DuckDB reads local paths itself."""
    if isinstance(fs, LocalFileSystem):
        return
    _answer_modified(fs)
    _FILESYSTEMS[_protocol(fs)] = fs


def _answer_modified(fs: fsspec.AbstractFileSystem) -> None:
    """DuckDB asks a registered filesystem for each file's modification time (``fs.modified``),
    which s3fs does not implement ("s3: modified() is not implemented" on every read of a shard on
    S3); answer it from ``info()`` (``LastModified``, or ``mtime``) on this instance."""
    if type(fs).modified is not fsspec.AbstractFileSystem.modified:
        return

    def modified(path: str) -> dt.datetime:
        info = fs.info(path)
        value = info.get("LastModified", info.get("mtime", info.get("created")))
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, (int, float)):
            return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)
        raise NotImplementedError(f"{_protocol(fs)}: no modification time in info() of {path}")

    fs.modified = modified  # type: ignore[method-assign]


def register_known_filesystems(connection: duckdb.DuckDBPyConnection) -> None:
    """Register on ``connection`` every filesystem given to ``register_filesystem`` (``connect``
    and ``readonly.open_read_only`` call it on each connection they open)."""
    if not _FILESYSTEMS:
        return
    # Registration is per database instance, which connections to the same file share.
    present = set(connection.list_filesystems())
    for name, fs in _FILESYSTEMS.items():
        if name not in present:
            try:
                connection.register_filesystem(fs)
            except duckdb.InvalidInputException as error:
                # DuckDB may list a multi-protocol filesystem under another of its names.
                if "already been registered" not in str(error):
                    raise


def connect(path: str | os.PathLike, read_only: bool = False, wait_s: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the catalog, waiting for another writer to finish instead of failing at once.

    DuckDB allows one writing process per file; a second one gets a lock error. We retry for up
    to ``wait_s`` seconds, then raise ``CatalogLockedError`` saying which file is busy. Filesystems
    given to ``register_filesystem`` are registered on the connection, extension autoinstall and
    autoload are off, and the views read the files of the root beside the catalog where it is
    opened from now (``views.follow_location``: a write connection rewrites them after a move or
    copy, a read-only one gets TEMP views).
    """
    path = Path(path)
    if read_only and not path.is_file():
        raise FileNotFoundError(f"no catalog at {path}: run `soccerfactory demo` or `soccerfactory curate` first")
    deadline = time.monotonic() + wait_s
    delay = 0.1
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                if "lock" in str(error).lower():
                    raise CatalogLockedError(f"catalog {path} is locked by another process; retry when it finishes") from error
                raise
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
            delay = min(delay * 2, 2.0)
    try:
        # Nothing a catalog connection runs may download or load a DuckDB extension (an http://
        # path would otherwise fetch httpfs). Instance-wide settings: every connection sets them.
        connection.execute("SET autoinstall_known_extensions = false")
        connection.execute("SET autoload_known_extensions = false")
        register_known_filesystems(connection)
        follow_location(connection, path, read_only)
    except BaseException:
        connection.close()
        raise
    return connection


def register_ground_truth(catalog: str | os.PathLike, root: str | os.PathLike) -> dict[str, int]:
    """Create or refresh ``gt_<table>`` views over every ``<root>/**/gt/<table>.parquet``, and the
    ``truth_*`` views grading the registered shards against them (``storage/truth_views.py``).

    Returns:
        table name -> number of rows the view now shows.
    """
    root = Path(os.path.abspath(root))  # not resolve(): stored paths are relative to the catalog's unresolved folder
    counts: dict[str, int] = {}
    Path(catalog).parent.mkdir(parents=True, exist_ok=True)
    with connect(catalog) as connection:
        create_tables(connection)
        locator = ensure_root(connection, catalog, None)
        stored = json.loads(get_meta(connection, GROUND_TRUTH_KEY) or "{}")
        for table in GROUND_TRUTH_SCHEMAS:
            files = sorted(str(path) for path in root.glob(f"**/gt/{table}.parquet"))
            if not files:
                continue
            stored[table] = [locator.store(path) for path in files]
            connection.execute(ground_truth_view_sql(table, files))
            counts[table] = connection.execute(f"SELECT count(*) FROM gt_{table}").fetchone()[0]
        set_meta(connection, GROUND_TRUTH_KEY, stored)
        apply_comments(connection, [f"gt_{table}" for table in counts])
        # The views grading the shards against it (made once shards are registered too).
        create_truth_views(connection)
    return counts


# ---------------------------------------------------------------------------------------------
# The catalog's tables


def create_tables(connection: duckdb.DuckDBPyConnection) -> None:
    """Create the catalog's tables that are missing (its own, ``quarantine``, ``catalog_meta``, ``shard_stats``), add
    the columns a catalog from an older version lacks (``MIGRATIONS_SQL``), and comment them and
    their columns (``storage/comments.py``; only what differs is written)."""
    connection.execute(TABLES_DDL + QUARANTINE_DDL + META_DDL + SHARD_STATS_DDL + MIGRATIONS_SQL)
    apply_comments(connection, CATALOG_TABLES)


@contextmanager
def _write_transaction(path: str | os.PathLike, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection inside one transaction on a catalog whose tables exist: committed when the
    block ends, rolled back (nothing half-written) when it raises."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with connect(path, wait_s=wait_s) as connection:
        connection.execute("BEGIN TRANSACTION")
        try:
            create_tables(connection)
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def ensure_catalog(path: str | os.PathLike, wait_s: float = 30.0) -> None:
    """Create the catalog's tables (if missing) and (re)create its views; safe to call any time."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with connect(path, wait_s=wait_s) as connection:
        connection.execute("BEGIN TRANSACTION")
        create_tables(connection)
        connection.execute("COMMIT")
        refresh_views(connection, path)


# ---------------------------------------------------------------------------------------------
# Registration


def insert_shard(connection: duckdb.DuckDBPyConnection, manifest: ShardManifest, clips: pa.Table, run_id: str | None, locator: Locator) -> None:
    """Upsert one checked shard's ``shards`` row and its ``clips`` row, and clear its ``quarantine`` row.

    Runs inside the caller's transaction. ``run_id`` None: the manifest's ``metadata.run_id``.
    """
    rows = manifest.rows
    run_id = run_id if run_id is not None else manifest.metadata.get("run_id")
    row_names = [f"rows_{table}" for table in SHARD_SCHEMAS]
    columns = ["match_id", "clip_id", "shard_key", "manifest_url", "schema_version", "config_hash", "code_version", "created_at", "run_id"]
    values = [
        manifest.match_id,
        manifest.clip_id,
        manifest.shard_key,
        locator.store(manifest.url),
        manifest.schema_version,
        manifest.config_hash,
        manifest.code_version,
        manifest.created_at,
        run_id if isinstance(run_id, str) else None,
    ]
    values += [rows.get(table) for table in SHARD_SCHEMAS]
    values += [sum(entry["bytes"] for entry in manifest.files.values()), json.dumps(manifest.files, sort_keys=True)]
    names = columns + row_names + ["bytes", "files"]
    placeholders = ", ".join("CAST(? AS TIMESTAMPTZ)" if name == "created_at" else "?" for name in names)
    connection.execute(f"INSERT OR REPLACE INTO shards ({', '.join(names)}) VALUES ({placeholders})", values)
    # The clips row is cast to the current schema's columns; a future version's extra columns are dropped.
    clip_columns = [f.name for f in SHARD_SCHEMAS["clips"]]
    connection.register("incoming_clip", clips.select([c for c in clip_columns if c in clips.column_names]))
    try:
        connection.execute("INSERT OR REPLACE INTO clips BY NAME SELECT * FROM incoming_clip")
    finally:
        connection.unregister("incoming_clip")
    # A sound shard of the clip is registered: whatever was quarantined for it is history.
    connection.execute("DELETE FROM quarantine WHERE match_id = ? AND clip_id = ?", [manifest.match_id, manifest.clip_id])
    # Its summary is computed again from these files by the view refresh after the commit
    # (catalog_stats.refresh_stats): a rewritten shard keeps its key but not its tables.
    connection.execute("DELETE FROM shard_stats WHERE match_id = ? AND clip_id = ?", [manifest.match_id, manifest.clip_id])


def register_shards(
    path: str | os.PathLike,
    manifests: Iterable[ShardManifest],
    run_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    wait_s: float = 30.0,
    check_registered: bool = True,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """Add or replace shards in the catalog and point the views at the registered files.

    Registering the same manifest again changes nothing; a newer manifest of the same clip replaces
    the row. ``run_id`` defaults to ``manifest.metadata["run_id"]`` when present. Each shard gets
    the full check (``quarantine.check_shards``: schema version, columns, size and sha256 of every
    file) before the catalog is opened, so the write lock is held only for the inserts. A shard
    failing it is quarantined (out of the views, reason in ``quarantine``); the others register.
    ``check_registered=False`` skips the size check of the shards registered earlier (see
    ``views.refresh_views``), for a run registering clip after clip. Either way the cost does not
    grow with the catalog but for that size check and the file lists: the data views' macros
    are rewritten (binding reads one footer per view) and the new shards' ``shard_stats`` rows
    are computed from their own files. ``full_refresh`` also reads every registered file's footer and recreates every view
    (what ``sync_catalog`` asks for at the start of a run).

    Returns:
        {"registered": shards registered, "shards": shards in the catalog now, "quarantined": a
        line per shard quarantined (given here, or registered earlier and failing the size check
        of the view refresh), "dropped": the latter lines only}.

    Raises:
        CatalogLockedError: another writer held the catalog for more than ``wait_s``.
    """
    manifests = list(manifests)
    loaded, rejected = check_shards(manifests, storage_options, full=True)
    for manifest, _ in loaded:
        if not is_local_url(manifest.url):
            register_filesystem(resolve_url(manifest.url, storage_options)[0])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with connect(path, wait_s=wait_s) as connection:
        connection.execute("BEGIN TRANSACTION")
        try:
            create_tables(connection)
            # The first shards registered fix the root; a call with none (a refresh) must not.
            locator = ensure_root(connection, path, shards_root_of(manifests[0].url)) if manifests else read_locator(connection, path)
            for manifest, clips in loaded:
                insert_shard(connection, manifest, clips, run_id, locator)
            quarantined = [quarantine_shard(connection, locator, r.manifest.match_id, r.manifest.clip_id, r.file, r.reason, r.manifest) for r in rejected]
            failpoint("register-shards:in-transaction")
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        failpoint("register-shards:after-commit")
        dropped = refresh_views(connection, path, storage_options, check_sizes=check_registered, full=full_refresh)
        total = connection.execute("SELECT count(*) FROM shards").fetchone()[0]
    return {"registered": len(loaded), "shards": total, "quarantined": quarantined + dropped, "dropped": dropped}


def insert_run(connection: duckdb.DuckDBPyConnection, record: Mapping[str, Any]) -> int:
    """Upsert one validated run record's ``runs`` row and replace its ``failures`` rows; returns how many failures."""
    failures = record.get("failures", [])
    n_failed = record.get("n_failed")
    values = [
        record["run_id"],
        record["started_at"],
        record.get("finished_at"),
        record.get("source"),
        record.get("output"),
        record.get("config_hash"),
        record["status"],
        record.get("n_clips"),
        record.get("n_curated"),
        record.get("n_skipped"),
        len(failures) if n_failed is None else n_failed,
        record.get("flow_run_id"),
    ]
    connection.execute(
        "INSERT OR REPLACE INTO runs VALUES (?, CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ), ?, ?, ?, ?, ?, ?, ?, ?, ?)", values
    )
    connection.execute("DELETE FROM failures WHERE run_id = ?", [record["run_id"]])
    # A failure's time defaults to the run's end, so rebuilding from the records gives the same rows.
    default_time = record.get("finished_at") or record["started_at"]
    rows = [
        [record["run_id"], f["source_url"], f.get("clip_id"), f["stage"], f["reason"], f.get("recorded_at") or default_time]
        for f in failures
    ]
    if rows:
        connection.executemany("INSERT INTO failures VALUES (?, ?, ?, ?, ?, CAST(? AS TIMESTAMPTZ))", rows)
    return len(rows)


def record_run(path: str | os.PathLike, record: Mapping[str, Any], wait_s: float = 30.0) -> None:
    """Upsert a run (see ``run_records.validate_run_record`` for the fields) and replace its failures.

    ``n_failed`` defaults to the number of failures listed.

    Raises:
        ValueError: the record is malformed (names the field).
    """
    record = validate_run_record(record)
    with _write_transaction(path, wait_s) as connection:
        insert_run(connection, record)
    register_identities(path, wait_s=wait_s)  # the identity files the run's per-match step wrote


def register_identities(path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None, wait_s: float = 30.0) -> int:
    """Point the ``identities`` views at the identity files of the registered matches
    (``storage/identities.py``: one existence check per match); returns how many they read.
    Never raises for a file or root it cannot reach (logged; the next refresh looks again)."""
    with connect(path, wait_s=wait_s) as connection:
        try:
            count = refresh_identity_views(connection, read_locator(connection, path), discover=True, storage_options=storage_options)
        except (duckdb.Error, OSError, ValueError) as error:
            log.warning("catalog: identities not refreshed: %s", str(error).splitlines()[0])
            return 0
        apply_comments(connection, IDENTITY_VIEWS)
    return count


def record_training_run(path: str | os.PathLike, record: Mapping[str, Any], wait_s: float = 30.0) -> None:
    """Upsert one ``training_runs`` row (keys: the table's columns; ``run_id`` and ``status`` required)."""
    columns = ["run_id", "started_at", "finished_at", "status", "data_query", "data_snapshot", "n_windows", "config", "code_version",
               "checkpoint_url", "steps", "resumed_from", "first_losses", "last_losses", "flow_run_id"]
    unknown = set(record) - set(columns)
    if unknown or not record.get("run_id") or not record.get("status"):
        raise ValueError(f"training run record needs run_id and status and only {columns}; got {sorted(record)}")
    values = [json.dumps(record[c]) if c in ("config", "first_losses", "last_losses") and record.get(c) is not None else record.get(c) for c in columns]
    with _write_transaction(path, wait_s) as connection:
        connection.execute("DELETE FROM training_runs WHERE run_id = ?", [record["run_id"]])
        connection.execute(f"INSERT INTO training_runs VALUES ({', '.join('?' * len(columns))})", values)


def record_evaluations(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], wait_s: float = 30.0) -> int:
    """Upsert ``evaluations`` rows (one per checkpoint, data snapshot, task, metric); returns how many."""
    columns = ["checkpoint_url", "checkpoint_sha256", "data_snapshot", "task", "metric", "value", "n_windows", "training_run_id", "evaluated_at",
               "split"]
    for row in rows:
        missing = [c for c in columns[:5] if not row.get(c)]
        if missing:
            raise ValueError(f"evaluation row lacks {missing}: {dict(row)}")
        if row.get("split") not in (None, "eval", "train", "all"):
            raise ValueError(f"evaluation row split must be eval, train or all; got {row.get('split')!r}")
    with _write_transaction(path, wait_s) as connection:
        for row in rows:
            connection.execute(
                "DELETE FROM evaluations WHERE checkpoint_sha256 = ? AND data_snapshot = ? AND task = ? AND metric = ?",
                [row["checkpoint_sha256"], row["data_snapshot"], row["task"], row["metric"]],
            )
            # Named columns: the statement does not depend on the order of the table's columns.
            connection.execute(f"INSERT INTO evaluations ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMPTZ), ?)",
                               [row.get(c) for c in columns])
    return len(rows)


def record_event_labels(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], wait_s: float = 30.0) -> int:
    """Replace the ``event_labels`` of every (match, source) in ``rows`` with ``rows``; returns how many."""
    with _write_transaction(path, wait_s) as connection:
        for match_id, source in {(r["match_id"], r.get("source")) for r in rows}:
            connection.execute("DELETE FROM event_labels WHERE match_id = ? AND source IS NOT DISTINCT FROM ?", [match_id, source])
        connection.executemany(f"INSERT INTO event_labels VALUES ({', '.join('?' * len(EVENT_LABEL_COLUMNS))})",
                               [[r.get(c) for c in EVENT_LABEL_COLUMNS] for r in rows])
    return len(rows)
