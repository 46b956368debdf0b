"""The DuckDB catalog: one local file that analysts query with plain SQL.

It catalogues synthetic ground truth (``gt_*`` views) and curated shards. Views read the Parquet
files in place (nothing is copied), so the Parquet stays the truth and ``rebuild_catalog`` can
always recreate the file from the shard manifests and run records.

Tables (the catalog's own state):
    runs       one row per curation run (from run records)
    failures   what failed in a run: source_url, clip_id (null = the whole source), stage, reason
    shards     one row per registered shard (clip): key, manifest URL, rows per table, files
    clips      the ``clips`` row of every registered shard

Views over the Parquet of registered shards only (explicit file lists, rewritten on every
registration): ``frames``, ``athletes``, ``ball``, ``cameras``, ``events``; aggregates ``tracks``
(one row per tracklet), ``quality`` (per clip) and ``quality_match`` (per match). Read any view's
SQL with ``SELECT view_name, sql FROM duckdb_views() WHERE NOT internal``.

Shards on a non-local root (``memory://``, ``s3://``): the view SQL names fsspec URLs, and DuckDB
can only read them through an fsspec filesystem registered on the connection. This module
remembers the filesystem of every such root it registered and ``connect`` registers them on each
new connection, so the views work in the process that registered the shards. A fresh process must
call ``register_filesystem`` with the same filesystem (for ``memory://`` the data is gone anyway).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import duckdb
import fsspec
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from soccerfactory.storage.event_labels import EVENT_LABEL_COLUMNS
from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMAS
from soccerfactory.storage.schemas import SHARD_SCHEMAS
from soccerfactory.storage.shards import (
    CorruptShardError,
    ShardManifest,
    is_local_url,
    read_shard,
    resolve_url,
    scan_manifests,
    scan_run_records,
    shard_file_urls,
    validate_run_record,
)

__all__ = [
    "register_ground_truth",
    "connect",
    "CatalogLockedError",
    "ensure_catalog",
    "register_shards",
    "record_run",
    "rebuild_catalog",
    "register_filesystem",
    "DATA_VIEWS",
    "AGGREGATE_VIEWS",
    "CATALOG_TABLES",
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
    _FILESYSTEMS[_protocol(fs)] = fs


def _register_filesystems(connection: duckdb.DuckDBPyConnection) -> None:
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
    given to ``register_filesystem`` are registered on the connection.
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
        _register_filesystems(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def register_ground_truth(catalog: str | os.PathLike, root: str | os.PathLike) -> dict[str, int]:
    """Create or refresh ``gt_<table>`` views over every ``<root>/**/gt/<table>.parquet``.

    Returns:
        table name -> number of rows the view now shows.
    """
    root = Path(root).resolve()
    counts: dict[str, int] = {}
    with connect(catalog) as connection:
        for table in GROUND_TRUTH_SCHEMAS:
            files = sorted(root.glob(f"**/gt/{table}.parquet"))
            if not files:
                continue
            listing = ", ".join("'" + str(path).replace("'", "''") + "'" for path in files)
            connection.execute(f"CREATE OR REPLACE VIEW gt_{table} AS SELECT * FROM read_parquet([{listing}], union_by_name = true)")
            counts[table] = connection.execute(f"SELECT count(*) FROM gt_{table}").fetchone()[0]
    return counts


# ---------------------------------------------------------------------------------------------
# Schema of the catalog


DATA_VIEWS: tuple[str, ...] = ("frames", "athletes", "ball", "cameras", "events")
AGGREGATE_VIEWS: tuple[str, ...] = ("tracks", "quality", "quality_match")
CATALOG_TABLES: tuple[str, ...] = ("runs", "failures", "shards", "clips", "training_runs", "evaluations", "event_labels")
#: Tables whose rows exist only in the catalog (written by the train / evaluate flows); a rebuild
#: copies them from the old catalog instead of re-deriving them from files.
MODEL_TABLES: tuple[str, ...] = ("training_runs", "evaluations", "event_labels")


def _sql_type(data_type: pa.DataType) -> str:
    """The DuckDB type a Parquet column of this Arrow type reads back as."""
    simple = {
        pa.string(): "VARCHAR",
        pa.int64(): "BIGINT",
        pa.int32(): "INTEGER",
        pa.float64(): "DOUBLE",
        pa.float32(): "FLOAT",
        pa.bool_(): "BOOLEAN",
    }
    if data_type in simple:
        return simple[data_type]
    if pa.types.is_list(data_type) or pa.types.is_fixed_size_list(data_type):
        return _sql_type(data_type.value_type) + "[]"
    raise TypeError(f"no DuckDB type mapped for {data_type}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_SHARD_ROW_COLUMNS = ", ".join(f"rows_{table} BIGINT" for table in SHARD_SCHEMAS)

_CLIPS_COLUMNS = ",\n    ".join(
    f"{_quote(f.name)} {_sql_type(f.type)}{'' if f.nullable else ' NOT NULL'}" for f in SHARD_SCHEMAS["clips"]
)

_TABLES_DDL = f"""
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    source VARCHAR,
    output VARCHAR,
    config_hash VARCHAR,
    status VARCHAR,
    n_clips INTEGER,
    n_curated INTEGER,
    n_skipped INTEGER,
    n_failed INTEGER,
    flow_run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS failures (
    run_id VARCHAR NOT NULL,
    source_url VARCHAR NOT NULL,
    clip_id VARCHAR,  -- null: the whole source failed before it was cut into clips
    stage VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS shards (
    match_id VARCHAR NOT NULL,
    clip_id VARCHAR NOT NULL,
    shard_key VARCHAR NOT NULL,
    manifest_url VARCHAR NOT NULL,
    schema_version VARCHAR NOT NULL,
    config_hash VARCHAR,
    code_version VARCHAR,
    created_at TIMESTAMPTZ,
    run_id VARCHAR,
    {_SHARD_ROW_COLUMNS},
    bytes BIGINT,
    files JSON,
    PRIMARY KEY (match_id, clip_id)
);
CREATE TABLE IF NOT EXISTS clips (
    {_CLIPS_COLUMNS},
    PRIMARY KEY (match_id, clip_id)
);
CREATE TABLE IF NOT EXISTS training_runs (
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    status VARCHAR NOT NULL,
    data_query VARCHAR,
    data_snapshot VARCHAR,
    n_windows INTEGER,
    config JSON,
    code_version VARCHAR,
    checkpoint_url VARCHAR,
    steps INTEGER,
    resumed_from INTEGER,
    first_losses JSON,
    last_losses JSON,
    flow_run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS event_labels (
    match_id VARCHAR NOT NULL,
    half INTEGER,
    timestamp_s DOUBLE NOT NULL,
    label VARCHAR NOT NULL,
    team VARCHAR,
    visible BOOLEAN,
    source VARCHAR
);
CREATE TABLE IF NOT EXISTS evaluations (
    checkpoint_url VARCHAR NOT NULL,
    checkpoint_sha256 VARCHAR NOT NULL,
    data_snapshot VARCHAR NOT NULL,
    task VARCHAR NOT NULL,
    metric VARCHAR NOT NULL,
    value DOUBLE,
    n_windows INTEGER,
    training_run_id VARCHAR,
    evaluated_at TIMESTAMPTZ,
    PRIMARY KEY (checkpoint_sha256, data_snapshot, task, metric)
);
"""


def _data_view_sql(table: str, urls: Sequence[str]) -> str:
    if urls:
        listing = ",\n    ".join(_literal(url) for url in urls)
        # hive_partitioning off: the match_id=/clip_id= folders must not shadow the file's columns.
        return (
            f"CREATE OR REPLACE VIEW {table} AS\nSELECT * FROM read_parquet([\n    {listing}\n], union_by_name = true, hive_partitioning = false)"
        )
    # No shard yet: the same columns and types, zero rows, so queries written today keep binding.
    columns = ",\n    ".join(f"CAST(NULL AS {_sql_type(f.type)}) AS {_quote(f.name)}" for f in SHARD_SCHEMAS[table])
    return f"CREATE OR REPLACE VIEW {table} AS\nSELECT\n    {columns}\nWHERE false"


_TRACKS_SQL = """
CREATE OR REPLACE VIEW tracks AS
SELECT
    match_id,
    clip_id,
    track_id,
    min(frame_index) AS first_frame,
    max(frame_index) AS last_frame,
    min(timestamp_s) AS start_s,
    max(timestamp_s) AS end_s,
    count(*) AS n_rows,
    mode("class") AS "class",
    mode(team) AS team,
    mode(role) AS role,
    mode(jersey) AS jersey,
    avg(team_agreement) AS team_agreement,
    avg(role_agreement) AS role_agreement,
    avg(jersey_agreement) AS jersey_agreement,
    max(jersey_votes) AS jersey_votes,
    avg(confidence) AS mean_confidence,
    avg(pitch_x) AS mean_pitch_x,
    avg(pitch_y) AS mean_pitch_y
FROM athletes
GROUP BY match_id, clip_id, track_id
"""


def _quality_sql(view: str, keys: Sequence[str]) -> str:
    group = ", ".join(keys)
    using = f"USING ({group})"
    if "clip_id" in keys:
        # A clip's failures: same source and clip id (e.g. an earlier attempt that failed).
        failure_join = "JOIN clips c ON f.source_url = c.source_url AND f.clip_id = c.clip_id"
        clip_count = ""
    else:
        # A match's failures: any failure of a source that any of its clips came from,
        # whole-source failures (clip_id null) included.
        failure_join = "JOIN (SELECT DISTINCT match_id, source_url FROM clips) c ON f.source_url = c.source_url"
        clip_count = "\n    clip_list.n_clips,"
    prefixed = ", ".join(f"c.{key}" for key in keys)
    return f"""
CREATE OR REPLACE VIEW {view} AS
WITH frame_stats AS (
    SELECT {group}, count(*) AS n_frames, avg(ball_detected::DOUBLE) AS ball_detected_fraction
    FROM frames GROUP BY {group}
), athlete_stats AS (
    SELECT {group}, count(*) AS n_athlete_rows
    FROM athletes GROUP BY {group}
), track_stats AS (
    SELECT
        {group},
        count(*) AS n_tracks,
        avg(team_agreement) AS mean_team_agreement,
        avg(role_agreement) AS mean_role_agreement,
        avg(jersey_agreement) AS mean_jersey_agreement,
        -- players and goalkeepers wear numbers; referees do not count
        avg(CASE WHEN role IN ('player', 'goalkeeper') THEN (jersey IS NOT NULL)::DOUBLE END) AS jersey_coverage
    FROM tracks GROUP BY {group}
), camera_stats AS (
    SELECT
        {group},
        avg(valid_camera::DOUBLE) AS calibrated_fraction,
        avg(reprojection_error_px) FILTER (WHERE valid_camera) AS mean_reprojection_error_px,
        median(reprojection_error_px) FILTER (WHERE valid_camera) AS median_reprojection_error_px
    FROM cameras GROUP BY {group}
), failure_stats AS (
    SELECT {prefixed}, count(*) AS n_failures
    FROM failures f {failure_join}
    GROUP BY {prefixed}
), clip_list AS (
    SELECT {group}, count(*) AS n_clips
    FROM clips GROUP BY {group}
)
SELECT
    {group},{clip_count}
    coalesce(frame_stats.n_frames, 0) AS n_frames,
    coalesce(athlete_stats.n_athlete_rows, 0) AS n_athlete_rows,
    coalesce(athlete_stats.n_athlete_rows, 0) / nullif(frame_stats.n_frames, 0) AS athletes_per_frame,
    coalesce(track_stats.n_tracks, 0) AS n_tracks,
    camera_stats.calibrated_fraction,
    camera_stats.mean_reprojection_error_px,
    camera_stats.median_reprojection_error_px,
    track_stats.mean_team_agreement,
    track_stats.mean_role_agreement,
    track_stats.mean_jersey_agreement,
    track_stats.jersey_coverage,
    frame_stats.ball_detected_fraction,
    coalesce(failure_stats.n_failures, 0) AS n_failures
FROM clip_list
LEFT JOIN frame_stats {using}
LEFT JOIN athlete_stats {using}
LEFT JOIN track_stats {using}
LEFT JOIN camera_stats {using}
LEFT JOIN failure_stats {using}
ORDER BY {group}
"""


_COMMENTS = {
    "runs": "One row per curation run (from ROOT/runs/<run_id>.json).",
    "failures": "What failed in a run; clip_id is null when the whole source failed.",
    "shards": "One row per registered shard (clip): key, manifest URL, rows per table, files.",
    "clips": "The clips row of every registered shard: source frames [start_frame, stop_frame).",
    "event_labels": "Event labels imported from other datasets (SoccerNet-v2 Labels-v2.json): match, half, seconds into the source video, label.",
    "training_runs": "One row per model training run: data query and snapshot, resolved config, code version, checkpoint, losses.",
    "evaluations": "One row per checkpoint, data snapshot, task and metric (value null when the data has no such labels).",
    "frames": "One row per curated frame of the registered shards.",
    "athletes": "One row per tracked athlete per frame; xyxy source pixels, pitch metres, tracklet consensus labels.",
    "ball": "One row per curated frame; box null when the ball was not detected.",
    "cameras": "One row per curated frame: homography (9 floats, row-major, pitch metres -> source pixels) and intrinsics.",
    "events": "Clip boundaries, shot cuts and other per-frame events.",
    "tracks": "One row per tracklet (match_id, clip_id, track_id): span, consensus labels, agreements, mean confidence and pitch position.",
    "quality": "Per clip: frames, athletes per frame, tracks, calibration, reprojection error, label agreement, jersey coverage, ball detection, failures.",
    "quality_match": "The quality view rolled up per match (computed from the rows, not by averaging clips).",
}


def _comment(connection: duckdb.DuckDBPyConnection, kind: str, name: str) -> None:
    connection.execute(f"COMMENT ON {kind} {name} IS {_literal(_COMMENTS[name])}")


def _vanished(owners: Mapping[str, tuple[str, str]], storage_options: Mapping[str, Any] | None) -> dict[tuple[str, str], str]:
    gone: dict[tuple[str, str], str] = {}
    for url, owner in owners.items():
        if owner in gone:
            continue
        fs, path = resolve_url(url, storage_options)
        try:
            if not fs.exists(path):
                gone[owner] = url
        except OSError:
            gone[owner] = url
    return gone


def _refresh_views(connection: duckdb.DuckDBPyConnection, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Recreate every view over the files of the registered shards.

    Runs outside a transaction: DuckDB reads each file's footer when it binds a view, and a file
    that vanished (its clip was re-curated and the new shard not registered yet, or a memory://
    shard in a new process) fails the bind. Those shards are dropped from the catalog (the next
    registration or a rebuild brings them back) and the views are created again.

    Returns:
        one line per shard dropped.
    """
    dropped: list[str] = []
    while True:
        urls: dict[str, list[str]] = {table: [] for table in DATA_VIEWS}
        owners: dict[str, tuple[str, str]] = {}
        listing = connection.execute("SELECT match_id, clip_id, manifest_url, files FROM shards ORDER BY match_id, clip_id").fetchall()
        for match_id, clip_id, manifest_url, files in listing:
            base = manifest_url.rsplit("/", 1)[0]
            for table, entry in json.loads(files).items():
                if table in urls:
                    url = f"{base}/{entry['path']}"
                    urls[table].append(url)
                    owners[url] = (match_id, clip_id)
        try:
            for table in DATA_VIEWS:
                connection.execute(_data_view_sql(table, urls[table]))
            connection.execute(_TRACKS_SQL)
            connection.execute(_quality_sql("quality", ("match_id", "clip_id")))
            connection.execute(_quality_sql("quality_match", ("match_id",)))
            for view in DATA_VIEWS + AGGREGATE_VIEWS:
                _comment(connection, "VIEW", view)
            return dropped
        except duckdb.IOException:
            gone = _vanished(owners, storage_options)
            if not gone:
                raise
            for (match_id, clip_id), url in gone.items():
                connection.execute("DELETE FROM shards WHERE match_id = ? AND clip_id = ?", [match_id, clip_id])
                connection.execute("DELETE FROM clips WHERE match_id = ? AND clip_id = ?", [match_id, clip_id])
                dropped.append(f"{match_id}/{clip_id}: {url} is missing; the shard was dropped from the catalog")
                log.warning("catalog: %s", dropped[-1])


def _create_tables(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(_TABLES_DDL)
    for table in CATALOG_TABLES:
        _comment(connection, "TABLE", table)


@contextmanager
def _write_transaction(path: str | os.PathLike, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection inside one transaction on a catalog whose tables exist: committed when the
    block ends, rolled back (nothing half-written) when it raises."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with connect(path, wait_s=wait_s) as connection:
        connection.execute("BEGIN TRANSACTION")
        try:
            _create_tables(connection)
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
        _create_tables(connection)
        connection.execute("COMMIT")
        _refresh_views(connection)


# ---------------------------------------------------------------------------------------------
# Registration


def _load_clip_rows(manifests: Iterable[ShardManifest], storage_options: Mapping[str, Any] | None) -> list[tuple[ShardManifest, pa.Table]]:
    """Each manifest with its verified clips row; every data file is checked to exist with its size."""
    loaded = []
    for manifest in manifests:
        if not isinstance(manifest, ShardManifest):
            raise TypeError(f"register_shards takes ShardManifest objects, got {type(manifest).__name__}")
        missing = [table for table in list(DATA_VIEWS) + ["clips"] if table not in manifest.files]
        if missing:
            raise ValueError(f"shard manifest {manifest.url} lacks table(s) {missing}")
        for table, url in shard_file_urls(manifest).items():
            fs, path = resolve_url(url, storage_options)
            try:
                size = fs.size(path)
            except FileNotFoundError:
                raise CorruptShardError(url, "the file is missing") from None
            if size != manifest.files[table]["bytes"]:
                raise CorruptShardError(url, f"{size} bytes, the manifest says {manifest.files[table]['bytes']}")
        clips = read_shard(manifest, ["clips"], verify=True, storage_options=storage_options)["clips"]
        row = clips.to_pylist()
        if len(row) != 1 or (row[0]["match_id"], row[0]["clip_id"]) != (manifest.match_id, manifest.clip_id):
            raise CorruptShardError(shard_file_urls(manifest)["clips"], f"does not hold exactly the one row of {manifest.match_id}/{manifest.clip_id}")
        if not is_local_url(manifest.url):
            register_filesystem(resolve_url(manifest.url, storage_options)[0])
        loaded.append((manifest, clips))
    return loaded


def _insert_shard(connection: duckdb.DuckDBPyConnection, manifest: ShardManifest, clips: pa.Table, run_id: str | None) -> None:
    rows = manifest.rows
    run_id = run_id if run_id is not None else manifest.metadata.get("run_id")
    row_names = [f"rows_{table}" for table in SHARD_SCHEMAS]
    columns = ["match_id", "clip_id", "shard_key", "manifest_url", "schema_version", "config_hash", "code_version", "created_at", "run_id"]
    values = [
        manifest.match_id,
        manifest.clip_id,
        manifest.shard_key,
        manifest.url,
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


def register_shards(
    path: str | os.PathLike,
    manifests: Iterable[ShardManifest],
    run_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    wait_s: float = 30.0,
) -> dict[str, Any]:
    """Add or replace shards in the catalog and point the views at the registered files.

    Registering the same manifest again changes nothing; a newer manifest of the same clip replaces
    the row. ``run_id`` defaults to ``manifest.metadata["run_id"]`` when present. Files are checked
    before the catalog is opened, so the write lock is held only for the inserts.

    Returns:
        {"registered": shards given, "shards": shards in the catalog now, "dropped": a line per
        registered shard whose files vanished, which was removed (see ``_refresh_views``)}.

    Raises:
        CorruptShardError: a referenced file is missing, has the wrong size, or its clips table
            does not verify.
        CatalogLockedError: another writer held the catalog for more than ``wait_s``.
    """
    loaded = _load_clip_rows(manifests, storage_options)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with connect(path, wait_s=wait_s) as connection:
        connection.execute("BEGIN TRANSACTION")
        try:
            _create_tables(connection)
            for manifest, clips in loaded:
                _insert_shard(connection, manifest, clips, run_id)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        dropped = _refresh_views(connection, storage_options)
        total = connection.execute("SELECT count(*) FROM shards").fetchone()[0]
    return {"registered": len(loaded), "shards": total, "dropped": dropped}


def _insert_run(connection: duckdb.DuckDBPyConnection, record: Mapping[str, Any]) -> int:
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
    """Upsert a run (see ``shards.validate_run_record`` for the fields) and replace its failures.

    ``n_failed`` defaults to the number of failures listed.

    Raises:
        ValueError: the record is malformed (names the field).
    """
    record = validate_run_record(record)
    with _write_transaction(path, wait_s) as connection:
        _insert_run(connection, record)


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
    columns = ["checkpoint_url", "checkpoint_sha256", "data_snapshot", "task", "metric", "value", "n_windows", "training_run_id", "evaluated_at"]
    for row in rows:
        missing = [c for c in columns[:5] if not row.get(c)]
        if missing:
            raise ValueError(f"evaluation row lacks {missing}: {dict(row)}")
    with _write_transaction(path, wait_s) as connection:
        for row in rows:
            connection.execute(
                "DELETE FROM evaluations WHERE checkpoint_sha256 = ? AND data_snapshot = ? AND task = ? AND metric = ?",
                [row["checkpoint_sha256"], row["data_snapshot"], row["task"], row["metric"]],
            )
            connection.execute("INSERT INTO evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS TIMESTAMPTZ))", [row.get(c) for c in columns])
    return len(rows)


def record_event_labels(path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], wait_s: float = 30.0) -> int:
    """Replace the ``event_labels`` of every (match, source) in ``rows`` with ``rows``; returns how many."""
    with _write_transaction(path, wait_s) as connection:
        for match_id, source in {(r["match_id"], r.get("source")) for r in rows}:
            connection.execute("DELETE FROM event_labels WHERE match_id = ? AND source IS NOT DISTINCT FROM ?", [match_id, source])
        connection.executemany(f"INSERT INTO event_labels VALUES ({', '.join('?' * len(EVENT_LABEL_COLUMNS))})",
                               [[r.get(c) for c in EVENT_LABEL_COLUMNS] for r in rows])
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Rebuild


_MANAGED_VIEWS = set(DATA_VIEWS) | set(AGGREGATE_VIEWS)


def _user_objects(connection: duckdb.DuckDBPyConnection) -> tuple[list[tuple[str, str]], list[str]]:
    """Views this module does not manage (gt_* and analysts' own), and other tables."""
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
    one's write lock is held, so a reader sees the old catalog or the new one. Views this module
    does not manage (``gt_*``, analysts' own) are carried over when they still bind; other tables
    are not (they are listed in problems).

    Returns:
        {"shards", "clips", "runs", "failures": row counts, "views_kept": names,
         "problems": one line per manifest, run record, view or table that was left out}.
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
        manifests, manifest_problems = scan_manifests(root, storage_options)
        problems += manifest_problems
        records, run_problems = scan_run_records(root, storage_options)
        problems += run_problems
        loaded = []
        for manifest in manifests:
            try:
                loaded.extend(_load_clip_rows([manifest], storage_options))
            except (CorruptShardError, ValueError) as error:
                problems.append(f"{manifest.url}: {error}")
        kept_views, other_tables = _user_objects(old) if old is not None else ([], [])
        problems += [f"table {name} was not carried over (only the catalog's own tables are rebuilt)" for name in other_tables]

        with closing(connect(temporary, wait_s=0)) as connection:
            connection.execute("BEGIN TRANSACTION")
            _create_tables(connection)
            for manifest, clips in loaded:
                _insert_shard(connection, manifest, clips, None)
            n_failures = sum(_insert_run(connection, record) for record in records)
            if old is not None:
                for table in MODEL_TABLES:
                    try:
                        rows = old.execute(f"SELECT * FROM {table}").fetchall()
                    except duckdb.Error:
                        continue  # a catalog from before the table existed
                    if rows:
                        connection.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
            connection.execute("COMMIT")
            problems += _refresh_views(connection, storage_options)
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
