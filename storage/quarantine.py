"""Quarantine: a shard whose files fail their check leaves the views, with the reason in the catalog.

When the checks run:

* every view refresh (a registration, a rebuild, ``ensure_catalog``, a write connection to a
  moved catalog): each registered shard's files must exist with their manifest's size. Cheap
  (one metadata call per file), and it catches what breaks DuckDB: a truncated or deleted file.
* registration (``register_shards``, ``rebuild_catalog``, a restore by ``verify_catalog``): the
  full check of that shard: a schema version this code reads, every table and stable column,
  every file's size and sha256, the one clips row.
* ``soccerfactory catalog verify`` (``repair.verify_catalog``): the full check of every registered
  shard; quarantined shards are checked again and put back when their shard is sound now.

A quarantined clip's rows leave ``shards`` and ``clips`` (so no view shows it) and one
``quarantine`` row names the file and the reason. Registering the clip again (``curate``
re-curates a damaged shard) clears the row.

This module sits below the views (a view refresh quarantines through it) and the catalog; the
repairs that open the catalog themselves (``verify_catalog``, ``rebuild_catalog``) are in
``storage/repair.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from soccerfactory.storage.catalog_sql import registered_shards
from soccerfactory.storage.fs import is_local_url, resolve_url
from soccerfactory.storage.locations import Locator, shards_root_of
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.schemas import READABLE_SHARD_SCHEMA_VERSIONS, SHARD_SCHEMAS, columns_added_after
from soccerfactory.storage.shards import CorruptShardError, check_shard_files, read_shard, shard_file_urls

__all__ = ["QUARANTINE_DDL", "Rejected", "shard_problem", "check_shards", "quarantine_shard", "check_registered"]

log = logging.getLogger(__name__)

QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    match_id VARCHAR NOT NULL,
    clip_id VARCHAR NOT NULL,
    shard_key VARCHAR,
    manifest_url VARCHAR,  -- stored like shards.manifest_url (relative to the root when local)
    file VARCHAR NOT NULL,  -- the file that failed (or the manifest), stored the same way
    reason VARCHAR NOT NULL,
    detected_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (match_id, clip_id)
);
"""


@dataclass(frozen=True)
class Rejected:
    """A shard that failed its check: which file and why."""

    manifest: ShardManifest
    file: str
    reason: str

    @property
    def line(self) -> str:
        return f"{self.manifest.match_id}/{self.manifest.clip_id}: {self.file}: {self.reason}"


def _columns_problem(manifest: ShardManifest, storage_options: Mapping[str, Any] | None) -> tuple[str, str] | None:
    # Only the footer is read. A missing column would otherwise read back as NULLs through the
    # views' union_by_name, silently.
    urls = shard_file_urls(manifest)
    for table, schema in SHARD_SCHEMAS.items():
        fs, path = resolve_url(urls[table], storage_options)
        try:
            with fs.open(path, "rb") as handle:
                names = set(pq.read_schema(handle).names)
        except (pa.ArrowException, OSError) as error:
            return urls[table], f"not readable Parquet: {str(error).splitlines()[0]}"
        older = columns_added_after(table, manifest.schema_version)  # an older readable version's: read as null
        lacking = [name for name in schema.names if name not in names and name not in older]
        if lacking:
            return urls[table], f"lacks column(s) {lacking} of the {table!r} schema version {manifest.schema_version}"
    return None


def shard_problem(manifest: ShardManifest, full: bool = True, storage_options: Mapping[str, Any] | None = None) -> tuple[str, str] | None:
    """(file, reason) when a shard cannot be catalogued, else None.

    Args:
        full: schema version, tables, sizes, sha256 and columns; otherwise schema version,
            tables and sizes only (no file is read).
    """
    if manifest.schema_version not in READABLE_SHARD_SCHEMA_VERSIONS:
        return manifest.url, (
            f"schema version {manifest.schema_version!r} is not one this code reads ({', '.join(READABLE_SHARD_SCHEMA_VERSIONS)}); "
            "re-curate the clip, or catalogue it with the SoccerFactory version that wrote it"
        )
    missing = [table for table in SHARD_SCHEMAS if table not in manifest.files]
    if missing:
        return manifest.url, f"lacks table(s) {missing}"
    problem = check_shard_files(manifest.dir_url, manifest.files, full=full, storage_options=storage_options)
    if problem is None and full:
        problem = _columns_problem(manifest, storage_options)
    return problem


def check_shards(
    manifests: Iterable[ShardManifest], storage_options: Mapping[str, Any] | None = None, full: bool = True
) -> tuple[list[tuple[ShardManifest, pa.Table]], list[Rejected]]:
    """Split shards into those fit to register (each with its verified clips row) and the rejected.

    Raises:
        TypeError: something other than a ShardManifest was given (a caller's bug, not bad data).
    """
    accepted, rejected = [], []
    for manifest in manifests:
        if not isinstance(manifest, ShardManifest):
            raise TypeError(f"register_shards takes ShardManifest objects, got {type(manifest).__name__}")
        problem = shard_problem(manifest, full, storage_options)
        clips = None
        if problem is None:
            try:
                clips = read_shard(manifest, ["clips"], verify=not full, storage_options=storage_options)["clips"]
            except CorruptShardError as error:
                problem = (error.path, error.reason)
            else:
                row = clips.to_pylist()
                if len(row) != 1 or (row[0]["match_id"], row[0]["clip_id"]) != (manifest.match_id, manifest.clip_id):
                    problem = (shard_file_urls(manifest)["clips"], f"does not hold exactly the one row of {manifest.match_id}/{manifest.clip_id}")
        if problem is None:
            accepted.append((manifest, clips))
        else:
            rejected.append(Rejected(manifest, *problem))
            log.warning("catalog: quarantining %s", rejected[-1].line)
    return accepted, rejected


def quarantine_shard(
    connection: duckdb.DuckDBPyConnection,
    locator: Locator,
    match_id: str,
    clip_id: str,
    file: str,
    reason: str,
    manifest: ShardManifest | None = None,
) -> str:
    """Take a clip out of ``shards`` and ``clips`` (so out of every view) and record why.

    Args:
        file: the URL of the file that failed (or of the manifest).
        manifest: the shard that failed; default: the one registered for the clip.

    Returns:
        the line that says so ("match/clip: FILE: reason").
    """
    if manifest is not None:
        shard_key, manifest_url = manifest.shard_key, locator.store(manifest.url)
    else:
        rows = connection.execute("SELECT shard_key, manifest_url FROM shards WHERE match_id = ? AND clip_id = ?", [match_id, clip_id]).fetchall()
        shard_key, manifest_url = rows[0] if rows else (None, None)
    for table in ("shards", "clips"):
        connection.execute(f"DELETE FROM {table} WHERE match_id = ? AND clip_id = ?", [match_id, clip_id])
    connection.execute(
        "INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?, ?, ?, now())",
        [match_id, clip_id, shard_key, manifest_url, locator.store(file), reason],
    )
    line = f"{match_id}/{clip_id}: {file}: {reason}"
    log.warning("catalog: quarantined %s", line)
    return line



def _remote_sizes(urls: Iterable[str], storage_options: Mapping[str, Any] | None) -> dict[str, int]:
    """Stripped path -> size of every file under the shards folders of these remote URLs: one
    recursive listing per root (a few requests per thousand files) instead of a request per file."""
    sizes: dict[str, int] = {}
    for root in sorted({shards_root_of(url) for url in urls}):  # a data file sits where its manifest does
        fs, path = resolve_url(f"{root}/shards", storage_options)
        try:
            listing = fs.find(path, detail=True)
        except (FileNotFoundError, OSError):
            continue  # every file under it is reported missing
        sizes.update({fs._strip_protocol(name): info.get("size") for name, info in listing.items()})
    return sizes


def check_registered(
    connection: duckdb.DuckDBPyConnection, locator: Locator, storage_options: Mapping[str, Any] | None = None
) -> list[str]:
    """The size check of every registered shard: quarantine those whose files are missing or
    differ in size from the manifest (no file is read).

    Returns:
        one line per shard quarantined.
    """
    shards = registered_shards(connection, locator)
    remote = [f"{url.rsplit('/', 1)[0]}/{entry['path']}" for *_, url, files in shards for entry in files.values() if not is_local_url(url)]
    sizes = _remote_sizes(remote, storage_options) if remote else {}
    lines = []
    for match_id, clip_id, _, manifest_url, files in shards:
        directory = manifest_url.rsplit("/", 1)[0]
        if is_local_url(manifest_url):
            problem = check_shard_files(directory, files, full=False, storage_options=storage_options)
        else:
            problem = None
            for entry in files.values():
                url = f"{directory}/{entry['path']}"
                fs, path = resolve_url(url, storage_options)
                size = sizes.get(fs._strip_protocol(path))
                if size != entry["bytes"]:
                    problem = (url, "the file is missing" if size is None else f"{size} bytes, the manifest says {entry['bytes']} (truncated or overwritten)")
                    break
        if problem is not None:
            lines.append(quarantine_shard(connection, locator, match_id, clip_id, *problem))
    return lines

