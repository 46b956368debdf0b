"""Curated shards: every table of one clip as Parquet, committed by a manifest, over any fsspec URL.

Layout under a root URL (a local path, ``file://``, ``memory://``, ``s3://`` with s3fs installed)::

    ROOT/shards/match_id=<m>/clip_id=<c>/<table>-<key16>.parquet
    ROOT/shards/match_id=<m>/clip_id=<c>/manifest.json      <- written last: the commit point
    ROOT/runs/<run_id>.json                                  <- one record per curation run

``key16`` is the first 16 hex characters of the shard key (the hash of everything that decides
the shard's content). Data files are written under a temporary name and moved into place, then the
manifest is replaced the same way, then files the new manifest does not reference are deleted. A
crash at any point leaves either the old manifest with its old files or the new one with its new
files; a manifest never names a missing file. Files an interrupted write left behind are deleted by
the next write of that clip. One writer per clip at a time: two processes writing the same clip
concurrently can delete each other's files (the flows give each clip to one task).

On local disks the moves are ``os.replace`` (atomic) and the data is fsynced; on object stores
``fs.mv`` is a copy and a delete, which is still safe because readers only follow the manifest.

Beside this module: the manifest type and its JSON codec (``storage/manifest.py``), URLs and
atomic writes (``storage/fs.py``), run records (``storage/run_records.py``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import posixpath
from typing import Any, Iterable, Mapping

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from soccerfactory.storage.failpoints import failpoint
from soccerfactory.storage.fields import SAFE_ID, check_id, utc_now
from soccerfactory.storage.fs import TEMP_MARK, resolve_url, to_url, write_bytes_atomic
from soccerfactory.storage.manifest import MANIFEST_NAME, ShardManifest, check_shard_key, clip_content_hash
from soccerfactory.storage.schemas import READABLE_SHARD_SCHEMA_VERSIONS, SHARD_SCHEMA_VERSION, SHARD_SCHEMAS, columns_added_after, conform_table

__all__ = [
    "CorruptShardError",
    "ShardCollisionError",
    "write_shard",
    "rewrite_shard",
    "read_manifest",
    "find_manifest",
    "find_manifests_by_prefix",
    "list_manifests",
    "scan_manifests",
    "read_shard",
    "delete_shard",
    "shard_file_urls",
    "shard_dir_url",
    "verify_shard",
    "check_shard_files",
    "is_stale_shard_file",
]

log = logging.getLogger(__name__)


class CorruptShardError(Exception):
    """A shard file is missing, has the wrong size or checksum, or is not readable Parquet."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"corrupt shard file {path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self):  # keep it picklable for Prefect/Dask workers
        return (type(self), (self.path, self.reason))


class ShardCollisionError(ValueError):
    """A committed shard holds another clip's content under the id being written; it is kept.

    Attributes:
        manifest_url: The committed shard's manifest.
        existing_source: Source URL of the committed clip (manifest ``metadata.clip.url``), if known.
        existing_hash, expected_hash: Clip content hashes of the committed shard and of the write.
    """

    def __init__(self, manifest_url: str, existing_source: str | None, existing_hash: str, expected_hash: str):
        super().__init__(
            f"shard {manifest_url} holds clip content {existing_hash[:12]} from {existing_source or 'an unknown source'}, "
            f"not {expected_hash[:12]}; it is not replaced"
        )
        self.manifest_url, self.existing_source = manifest_url, existing_source
        self.existing_hash, self.expected_hash = existing_hash, expected_hash

    def __reduce__(self):  # keep it picklable for Prefect/Dask workers
        return (type(self), (self.manifest_url, self.existing_source, self.existing_hash, self.expected_hash))


# ---------------------------------------------------------------------------------------------
# Finding manifests


def shard_dir_url(root: str | os.PathLike, match_id: str, clip_id: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """URL of the directory that holds clip ``match_id/clip_id`` under ``root``."""
    fs, path = resolve_url(root, storage_options)
    return to_url(fs, _shard_dir(path, match_id, clip_id))


def _shard_dir(root_path: str, match_id: str, clip_id: str) -> str:
    check_id("match_id", match_id)
    check_id("clip_id", clip_id)
    return posixpath.join(root_path, "shards", f"match_id={match_id}", f"clip_id={clip_id}")


def shard_file_urls(manifest: ShardManifest) -> dict[str, str]:
    """table -> absolute URL of its Parquet file (local files as plain paths, for DuckDB)."""
    base = manifest.dir_url
    return {table: f"{base}/{entry['path']}" for table, entry in manifest.files.items()}


def read_manifest(url: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> ShardManifest:
    """Read and validate one ``manifest.json``.

    Raises:
        FileNotFoundError: no manifest at ``url``.
        ValueError: the manifest is corrupt (message names the file).
    """
    fs, path = resolve_url(url, storage_options)
    canonical = to_url(fs, path)
    try:
        data = fs.cat_file(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no shard manifest at {canonical}") from None
    return ShardManifest.from_json(data, url=canonical)


def find_manifest(
    root: str | os.PathLike, match_id: str, clip_id: str, storage_options: Mapping[str, Any] | None = None
) -> ShardManifest | None:
    """The committed manifest of one clip, or None when the clip has none (never or not yet committed).

    Raises:
        ValueError: the manifest exists but is corrupt, or names another clip.
    """
    fs, path = resolve_url(root, storage_options)
    manifest_path = posixpath.join(_shard_dir(path, match_id, clip_id), MANIFEST_NAME)
    try:
        manifest = read_manifest(to_url(fs, manifest_path), storage_options)
    except FileNotFoundError:
        return None
    if (manifest.match_id, manifest.clip_id) != (match_id, clip_id):
        raise ValueError(f"shard manifest {manifest.url} names {manifest.match_id}/{manifest.clip_id}, not {match_id}/{clip_id}")
    return manifest


def find_manifests_by_prefix(
    root: str | os.PathLike, match_id: str, clip_prefix: str, storage_options: Mapping[str, Any] | None = None
) -> list[ShardManifest]:
    """The readable committed manifests of one match whose clip ids start with ``clip_prefix``.

    One listing, however many clips a source has: what curate uses to see whether a source id is
    already taken by other footage. Unreadable manifests are left out (``scan_manifests`` reports them).
    """
    check_id("match_id", match_id)
    if clip_prefix and not SAFE_ID.fullmatch(clip_prefix):  # safe ids hold no glob characters
        raise ValueError(f"clip_prefix {clip_prefix!r} must be characters from [A-Za-z0-9._-]")
    fs, path = resolve_url(root, storage_options)
    pattern = posixpath.join(path, "shards", f"match_id={match_id}", f"clip_id={clip_prefix}*", MANIFEST_NAME)
    manifests = []
    for manifest_path in sorted(fs.glob(pattern)):
        try:
            manifests.append(ShardManifest.from_json(fs.cat_file(manifest_path), url=to_url(fs, manifest_path)))
        except (ValueError, FileNotFoundError):
            continue
    return manifests


def scan_manifests(
    root: str | os.PathLike, storage_options: Mapping[str, Any] | None = None, *, check_files: bool = True
) -> tuple[list[ShardManifest], list[str]]:
    """Every committed manifest under ``root``, and a line per manifest that could not be used.

    Args:
        check_files: also check that each referenced file exists with the recorded size (one
            metadata call per file); shards failing that are reported, not returned.

    Returns:
        (manifests sorted by match_id, clip_id; problems, each "URL: reason").
    """
    fs, path = resolve_url(root, storage_options)
    pattern = posixpath.join(path, "shards", "match_id=*", "clip_id=*", MANIFEST_NAME)
    manifests, problems = [], []
    for manifest_path in sorted(fs.glob(pattern)):
        url = to_url(fs, manifest_path)
        try:
            manifest = ShardManifest.from_json(fs.cat_file(manifest_path), url=url)
        except (ValueError, OSError) as error:
            problems.append(f"{url}: {error}")
            continue
        clip_dir = posixpath.dirname(manifest_path)
        expected = (posixpath.basename(posixpath.dirname(clip_dir)), posixpath.basename(clip_dir))
        if expected != (f"match_id={manifest.match_id}", f"clip_id={manifest.clip_id}"):
            problems.append(f"{url}: names {manifest.match_id}/{manifest.clip_id} but lies in {'/'.join(expected)}")
            continue
        if check_files:
            problem = check_shard_files(manifest.dir_url, manifest.files, full=False, storage_options=storage_options)
            if problem:
                problems.append(f"{url}: {problem[0]}: {problem[1]}")
                continue
        manifests.append(manifest)
    manifests.sort(key=lambda m: (m.match_id, m.clip_id))
    return manifests, problems


def list_manifests(root: str | os.PathLike, storage_options: Mapping[str, Any] | None = None) -> list[ShardManifest]:
    """Every usable committed manifest under ``root``; unusable ones are logged and skipped
    (use ``scan_manifests`` to get them)."""
    manifests, problems = scan_manifests(root, storage_options)
    for problem in problems:
        log.warning("skipping shard: %s", problem)
    return manifests


# ---------------------------------------------------------------------------------------------
# Writing and reading shards


def _check_ids_in_table(name: str, table: pa.Table, match_id: str, clip_id: str) -> None:
    for column, expected in (("match_id", match_id), ("clip_id", clip_id)):
        if table.num_rows and not pc.all(pc.equal(table.column(column), expected)).as_py():
            found = sorted(set(pc.unique(table.column(column)).to_pylist()) - {expected})
            raise ValueError(f"shard table {name!r} column {column!r} holds {found[:3]}, expected only {expected!r}")


def _check_clips_row(clips: pa.Table, shard_key: str, config_hash: str, code_version: str) -> None:
    if clips.num_rows != 1:
        raise ValueError(f"shard table 'clips' must have exactly one row, got {clips.num_rows}")
    row = clips.to_pylist()[0]
    for column, expected in (("shard_key", shard_key), ("config_hash", config_hash), ("code_version", code_version)):
        if row[column] != expected:
            raise ValueError(f"shard table 'clips' column {column!r} is {row[column]!r} but the shard is written with {expected!r}")


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def write_shard(
    root: str | os.PathLike,
    match_id: str,
    clip_id: str,
    shard_key: str,
    tables: Mapping[str, pa.Table],
    *,
    config_hash: str,
    code_version: str,
    metadata: Mapping[str, Any],
    storage_options: Mapping[str, Any] | None = None,
    expected_content_hash: str | None = None,
) -> ShardManifest:
    """Write one clip's tables and commit them with a manifest, replacing any earlier version.

    Args:
        root: shard root URL (local path, file://, memory://, s3://...).
        match_id, clip_id: safe characters only ([A-Za-z0-9._-]).
        shard_key: lowercase hex, >= 16 chars; its first 16 name the files.
        tables: every table of ``SHARD_SCHEMAS``, each castable to its exact schema (see
            ``schemas.conform_table``); all rows must carry this match_id / clip_id and ``clips``
            must be one row agreeing with shard_key, config_hash and code_version.
        metadata: JSON-serialisable extras stored in the manifest.
        expected_content_hash: the clip content hash being written; an earlier version is only
            replaced when its manifest records this hash (or none), so a clip of another source
            that derived the same id never overwrites it. Checked just before writing, this also
            stops a concurrent run that raced past the caller's own check (not a lock: two writes
            in the same instant can still both pass).

    Returns:
        the committed manifest (``url`` set).

    Raises:
        ShardCollisionError: the committed shard records a different ``expected_content_hash``.
        ValueError: a bad id or key, a missing/unknown table, a column that does not fit (the
            message names table and column), non-JSON metadata.
    """
    check_id("match_id", match_id)
    check_id("clip_id", clip_id)
    check_shard_key(shard_key)
    missing = [name for name in SHARD_SCHEMAS if name not in tables]
    unknown = [name for name in tables if name not in SHARD_SCHEMAS]
    if missing or unknown:
        raise ValueError(f"a shard needs exactly the tables {list(SHARD_SCHEMAS)}; missing {missing}, unknown {unknown}")
    try:
        metadata = json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"shard metadata is not JSON-serialisable: {error}") from None
    conformed = {name: conform_table(name, tables[name]) for name in SHARD_SCHEMAS}
    for name, table in conformed.items():
        _check_ids_in_table(name, table, match_id, clip_id)
    _check_clips_row(conformed["clips"], shard_key, config_hash, code_version)

    fs, root_path = resolve_url(root, storage_options)
    clip_dir = _shard_dir(root_path, match_id, clip_id)
    manifest_path = posixpath.join(clip_dir, MANIFEST_NAME)
    manifest_url = to_url(fs, manifest_path)
    try:
        previous = read_manifest(manifest_url, storage_options)
    except (FileNotFoundError, ValueError):
        previous = None
    _refuse_other_content(previous, manifest_url, expected_content_hash)
    # A file name the committed manifest points at is never overwritten with different bytes, so
    # the old manifest stays valid until the new one replaces it.
    committed = {entry["path"]: entry["sha256"] for entry in previous.files.values()} if previous else {}

    key16 = shard_key[:16]
    files: dict[str, dict[str, Any]] = {}
    for name, table in conformed.items():
        data = _parquet_bytes(table)
        digest = hashlib.sha256(data).hexdigest()
        file_name = f"{name}-{key16}.parquet"
        same = [path for path, sha in committed.items() if sha == digest and path.startswith(f"{name}-{key16}")]
        if same:
            file_name = same[0]  # unchanged since the last write: keep the committed file
        elif file_name in committed:
            file_name = f"{name}-{key16}-{digest[:16]}.parquet"
        file_path = posixpath.join(clip_dir, file_name)
        # The bytes on storage are compared, not just the size: a damaged file of the right size
        # (the reason a shard with this key is being written again) must be replaced.
        unchanged = committed.get(file_name) == digest and _sha256_or_none(fs, file_path, len(data)) == digest
        if not unchanged:
            write_bytes_atomic(fs, file_path, data)
        files[name] = {"path": file_name, "rows": table.num_rows, "bytes": len(data), "sha256": digest}
        failpoint("write-shard:after-parquet")

    manifest = ShardManifest(
        match_id=match_id,
        clip_id=clip_id,
        shard_key=shard_key,
        schema_version=SHARD_SCHEMA_VERSION,
        config_hash=config_hash,
        code_version=code_version,
        created_at=utc_now(),
        files=files,
        metadata=metadata,
        url=manifest_url,
    )
    if expected_content_hash is not None:
        # Again just before the commit: another run may have committed this id since the read
        # above (writing the tables takes seconds); the window left is the commit itself.
        try:
            latest = read_manifest(manifest_url, storage_options)
        except (FileNotFoundError, ValueError):
            latest = None
        _refuse_other_content(latest, manifest_url, expected_content_hash)
    failpoint("write-shard:before-manifest")
    write_bytes_atomic(fs, manifest_path, (manifest.to_json() + "\n").encode("utf-8"))
    failpoint("write-shard:after-manifest")
    _remove_unreferenced(fs, clip_dir, {entry["path"] for entry in files.values()})
    return manifest


def rewrite_shard(
    manifest: ShardManifest,
    tables: Mapping[str, pa.Table] | None,
    metadata: Mapping[str, Any],
    storage_options: Mapping[str, Any] | None = None,
) -> ShardManifest:
    """Commit a new version of a committed shard under the same key: new table contents and/or metadata.

    The shard keeps its key, config hash and code version (what decides whether a later run
    re-curates it), and is written by :func:`write_shard`: new files under new names, the
    manifest last, so a crash leaves the old version whole. A changed table lands in a new file,
    so the catalog (which compares the files) registers the new version.

    Args:
        manifest: The committed manifest being replaced; it must still be the committed one.
        tables: Replacement tables (a subset of ``SHARD_SCHEMAS``; the others are kept as they
            are), or None to change only the metadata.
        metadata: The new manifest metadata (replaces the old one entirely).

    Returns:
        The new committed manifest.

    Raises:
        ValueError: the shard was replaced since ``manifest`` was read (another run re-curated
            it), a table is unknown, or the metadata is not JSON.
        CorruptShardError: a kept file no longer matches the manifest.
    """
    tables = dict(tables or {})
    unknown = sorted(set(tables) - set(SHARD_SCHEMAS))
    if unknown:
        raise ValueError(f"rewrite_shard: unknown table(s) {unknown}; a shard has {list(SHARD_SCHEMAS)}")
    current = read_manifest(manifest.url, storage_options)
    if (current.shard_key, current.files) != (manifest.shard_key, manifest.files):
        raise ValueError(f"shard {manifest.url} was replaced since it was read; not rewritten (read it again)")
    if not tables:
        # Metadata only: the files stay as they are (checked whole first), the manifest is replaced.
        problem = check_shard_files(manifest.dir_url, manifest.files, full=True, storage_options=storage_options)
        if problem is not None:
            raise CorruptShardError(*problem)
        try:
            metadata = json.loads(json.dumps(dict(metadata), allow_nan=False))
        except (TypeError, ValueError) as error:
            raise ValueError(f"shard metadata is not JSON-serialisable: {error}") from None
        updated = dataclasses.replace(manifest, metadata=metadata, url=current.url)
        fs, path = resolve_url(current.url, storage_options)
        write_bytes_atomic(fs, path, (updated.to_json() + "\n").encode("utf-8"))
        return updated
    kept = read_shard(manifest, [name for name in SHARD_SCHEMAS if name not in tables], storage_options=storage_options)
    root = manifest.url.rsplit("/", 4)[0]  # ROOT/shards/match_id=m/clip_id=c/manifest.json
    return write_shard(
        root, manifest.match_id, manifest.clip_id, manifest.shard_key, {**kept, **tables},
        config_hash=manifest.config_hash, code_version=manifest.code_version, metadata=metadata,
        storage_options=storage_options, expected_content_hash=clip_content_hash(manifest),
    )


def _refuse_other_content(previous: ShardManifest | None, manifest_url: str, expected: str | None) -> None:
    existing = clip_content_hash(previous) if previous is not None else None
    if expected is not None and existing not in (None, expected):
        clip = previous.metadata.get("clip", {})
        raise ShardCollisionError(manifest_url, clip.get("url"), existing, expected)


def _size_or_none(fs: fsspec.AbstractFileSystem, path: str) -> int | None:
    try:
        return fs.size(path)
    except FileNotFoundError:
        return None


def is_stale_shard_file(name: str, keep: set[str]) -> bool:
    """Whether a file of a shard folder is debris to delete: a Parquet file its manifest does not
    name (``keep``), or a temporary file of an atomic write. The manifest itself is never stale."""
    return name != MANIFEST_NAME and name not in keep and (name.endswith(".parquet") or TEMP_MARK in name)


def _remove_unreferenced(fs: fsspec.AbstractFileSystem, clip_dir: str, keep: set[str]) -> None:
    # The manifest is committed; failing to tidy up must not fail the write.
    try:
        entries = fs.ls(clip_dir, detail=False)
    except FileNotFoundError:
        return
    for entry in entries:
        name = posixpath.basename(entry.rstrip("/"))
        if is_stale_shard_file(name, keep):
            try:
                fs.rm(entry)
            except (FileNotFoundError, OSError) as error:
                log.warning("could not delete stale shard file %s: %s", to_url(fs, entry), error)


def read_shard(
    manifest: ShardManifest,
    tables: Iterable[str] | None = None,
    verify: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> dict[str, pa.Table]:
    """Read tables of a committed shard.

    Args:
        tables: which tables (default: all in the manifest).
        verify: check each file's size and sha256 against the manifest before parsing.

    Raises:
        CorruptShardError: a file is missing, differs from the manifest or is not Parquet (names the file).
        ValueError: a requested table is not in the manifest.
    """
    names = list(manifest.files) if tables is None else list(tables)
    unknown = [name for name in names if name not in manifest.files]
    if unknown:
        raise ValueError(f"shard {manifest.url} has no table(s) {unknown}; it has {list(manifest.files)}")
    urls = shard_file_urls(manifest)
    result = {}
    for name in names:
        entry, url = manifest.files[name], urls[name]
        fs, path = resolve_url(url, storage_options)
        try:
            data = fs.cat_file(path)
        except FileNotFoundError:
            raise CorruptShardError(url, "the file is missing") from None
        if verify:
            if len(data) != entry["bytes"]:
                raise CorruptShardError(url, f"{len(data)} bytes, the manifest says {entry['bytes']}")
            digest = hashlib.sha256(data).hexdigest()
            if digest != entry["sha256"]:
                raise CorruptShardError(url, f"sha256 {digest[:16]}... does not match the manifest's {entry['sha256'][:16]}...")
        try:
            table = pq.read_table(pa.BufferReader(data))
        except (pa.ArrowException, OSError) as error:
            raise CorruptShardError(url, f"not readable Parquet: {error}") from None
        if table.num_rows != entry["rows"]:
            raise CorruptShardError(url, f"{table.num_rows} rows, the manifest says {entry['rows']}")
        schema = SHARD_SCHEMAS.get(name)
        if manifest.schema_version in READABLE_SHARD_SCHEMA_VERSIONS and schema is not None:
            # An older readable version lacks the columns added since: null, as the views read them.
            for column in columns_added_after(name, manifest.schema_version):
                if column not in table.column_names:
                    table = table.append_column(schema.field(column), pa.nulls(table.num_rows, schema.field(column).type))
            # Parquet renames list children ("item" -> "element"); cast back to the exact schema.
            try:
                table = table.cast(schema)
            except (ValueError, pa.ArrowException) as error:
                raise CorruptShardError(url, f"does not match the {name!r} schema version {SHARD_SCHEMA_VERSION}: {error}") from None
        result[name] = table
    return result


def _sha256_or_none(fs: fsspec.AbstractFileSystem, path: str, size: int) -> str | None:
    """sha256 of the file at ``path`` when it exists with ``size`` bytes, else None (no read)."""
    if _size_or_none(fs, path) != size:
        return None
    try:
        return hashlib.sha256(fs.cat_file(path)).hexdigest()
    except FileNotFoundError:
        return None


def check_shard_files(
    dir_url: str, files: Mapping[str, Mapping[str, Any]], *, full: bool = True, storage_options: Mapping[str, Any] | None = None
) -> tuple[str, str] | None:
    """The first file of a shard that differs from what its manifest records, and why.

    Args:
        dir_url: the shard directory (the manifest's folder).
        files: the manifest's ``files`` (table -> {path, rows, bytes, sha256}).
        full: also read every file and compare its sha256 (otherwise: existence and size only,
            one metadata call per file).

    Returns:
        (file URL, reason) for the first bad file, or None when every file checks out.
    """
    for table, entry in files.items():
        url = f"{dir_url.rstrip('/')}/{entry['path']}"
        fs, path = resolve_url(url, storage_options)
        try:
            size = fs.size(path)
        except (FileNotFoundError, NotADirectoryError):
            return url, "the file is missing"
        if size != entry["bytes"]:
            return url, f"{size} bytes, the manifest says {entry['bytes']} (truncated or overwritten)"
        if full:
            try:
                digest = hashlib.sha256(fs.cat_file(path)).hexdigest()
            except FileNotFoundError:
                return url, "the file is missing"
            if digest != entry["sha256"]:
                return url, f"sha256 {digest[:16]}... does not match the manifest's {entry['sha256'][:16]}... (damaged)"
    return None


def verify_shard(manifest: ShardManifest, full: bool = True, storage_options: Mapping[str, Any] | None = None) -> str | None:
    """Why a committed shard cannot be trusted, or None when every file matches its manifest.

    Args:
        full: compare each file's sha256 too (reads every byte); otherwise sizes only.

    Returns:
        one line naming the bad file and what is wrong with it, or None.
    """
    problem = check_shard_files(manifest.dir_url, manifest.files, full=full, storage_options=storage_options)
    return None if problem is None else f"{problem[0]}: {problem[1]}"


def delete_shard(root: str | os.PathLike, match_id: str, clip_id: str, storage_options: Mapping[str, Any] | None = None) -> bool:
    """Delete one clip's shard: the manifest first (so it stops existing at once), then its files.

    Returns:
        whether there was anything to delete.
    """
    fs, path = resolve_url(root, storage_options)
    clip_dir = _shard_dir(path, match_id, clip_id)
    if not fs.exists(clip_dir):
        return False
    manifest_path = posixpath.join(clip_dir, MANIFEST_NAME)
    if fs.exists(manifest_path):
        fs.rm(manifest_path)
    fs.rm(clip_dir, recursive=True)
    return True
