"""Athlete identities across the shots of a match: one Parquet file per match, and its catalog views.

The ``curate`` flow cuts a source into one clip per shot and the tracker starts afresh in each,
so a clip's ``track_id`` names an athlete inside that clip only. The flow's per-match step
(``flows/curate_teams.py``, after the team letters are aligned) links the tracks of consecutive
shots into identities (the curation's shot linker) and stores them here, one file per match::

    ROOT/identities/match_id=<match_id>/identities.parquet

one row per ``(clip_id, track_id)`` of the match's clips (``IDENTITY_SCHEMA``): the ``identity``
(unique within the match; a track nothing links to an earlier one starts an identity of its own),
and how the track joined its identity: ``link_kind`` (``jersey``, ``goalkeeper``, ``position``;
null for the first track of an identity), the track it was linked to (its parent in the
identity's tree of links rooted at the first track: usually the earlier track of the link), the
link's cost and its reason. Each row carries the ``shard_key`` of the clip it was computed from, so a clip
curated again since (a new shard) drops out of the views instead of lending its new tracks an
old athlete's identity. The file is written whole and moved into place (``write_bytes_atomic``):
a reader sees the previous identities or the new ones. Its footer records the schema version,
the linker's version and a fingerprint of the inputs (the clips' shard keys and athletes files),
so the flow recomputes it only when one of them changed.

Catalog: ``catalog_meta`` key ``identity_files`` lists the file of each match (stored relative to
the root like shard paths); the views ``identities`` (the rows of clips whose shard is the one
registered) and ``athlete_identities`` (every ``athletes`` row with its identity) read them in
place. Where nothing is listed the views exist and are empty / null. Files are found by
:func:`refresh_identity_views` with ``discover`` (one existence check per registered match: a
full view refresh, ``catalog.register_identities`` at the end of a run, a rebuild).

Stored columns only; no curation code is imported (layer 1).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import posixpath
from typing import Any, Iterable, Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from soccerfactory.storage.catalog_sql import literal, quote, sql_type
from soccerfactory.storage.fields import check_id
from soccerfactory.storage.fs import is_local_url, local_path, resolve_url, to_url, write_bytes_atomic
from soccerfactory.storage.locations import Locator, get_meta, set_meta, shards_root_of

__all__ = [
    "IDENTITY_FILES_KEY", "IDENTITY_SCHEMA", "IDENTITY_SCHEMA_VERSION", "IDENTITY_VIEWS", "LINK_KINDS", "identities_table",
    "identities_url", "identity_file_urls", "identity_fingerprint", "read_identities", "read_identities_info", "refresh_identity_views", "write_identities",
]

log = logging.getLogger(__name__)

IDENTITY_SCHEMA_VERSION = "1"
#: How a track joined the identity of an earlier one (the shot linker's link kinds).
LINK_KINDS: tuple[str, ...] = ("jersey", "goalkeeper", "position", "appearance")
#: ``catalog_meta`` key: ``{match_id: stored path}`` of the identity files the views read.
IDENTITY_FILES_KEY = "identity_files"
IDENTITY_VIEWS: tuple[str, ...] = ("identities", "athlete_identities")
FILE_NAME = "identities.parquet"
_META_KEY = b"soccerfactory.identities"

IDENTITY_SCHEMA = pa.schema([
    pa.field("match_id", pa.string(), nullable=False),
    pa.field("clip_id", pa.string(), nullable=False),
    pa.field("track_id", pa.int64(), nullable=False),
    pa.field("shard_key", pa.string(), nullable=False),  # the clip's shard the identity was computed from
    pa.field("identity", pa.int64(), nullable=False),  # unique within the match
    pa.field("link_kind", pa.string()),  # jersey / goalkeeper / position / appearance; null: the identity's first track
    pa.field("linked_to_clip", pa.string()),
    pa.field("linked_to_track", pa.int64()),
    pa.field("link_cost", pa.float64()),  # d / gate for position links, 1 - cosine for appearance links, 0 for label links
    pa.field("link_reason", pa.string()),
    pa.field("linker_version", pa.string(), nullable=False),
])


def identities_url(root: str | os.PathLike, match_id: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """URL of a match's identity file under the shards root ``root``."""
    check_id("match_id", match_id)
    fs, path = resolve_url(root, storage_options)
    return to_url(fs, posixpath.join(path, "identities", f"match_id={match_id}", FILE_NAME))


def identity_fingerprint(inputs: Iterable[tuple[str, str, str]]) -> str:
    """sha256 of the sorted ``(clip_id, shard_key, athletes file sha256)`` the identities were computed from."""
    return hashlib.sha256(json.dumps(sorted(map(list, inputs))).encode()).hexdigest()


def identities_table(match_id: str, rows: Sequence[Mapping[str, Any]], linker_version: str) -> pa.Table:
    """Validate one match's identity rows into an ``IDENTITY_SCHEMA`` table (sorted by clip, track).

    Args:
        match_id: The match; every row must name it (or leave ``match_id`` out).
        rows: Dicts with the schema's columns but ``match_id`` and ``linker_version`` (optional).
        linker_version: The linker's version, stored on every row.

    Raises:
        ValueError: a ``(clip_id, track_id)`` twice, another match, a link kind not in
            ``LINK_KINDS``, a link without the track it links to, or a missing column.
    """
    check_id("match_id", match_id)
    out, seen = [], set()
    for row in rows:
        if row.get("match_id", match_id) != match_id:
            raise ValueError(f"identity row of match {row.get('match_id')!r} in the file of match {match_id!r}")
        key = (str(row["clip_id"]), int(row["track_id"]))
        if key in seen:
            raise ValueError(f"identity of track {key} given twice")
        seen.add(key)
        kind = row.get("link_kind")
        if kind is not None and kind not in LINK_KINDS:
            raise ValueError(f"track {key}: link kind {kind!r} is not one of {', '.join(LINK_KINDS)}")
        if kind is not None and (row.get("linked_to_clip") is None or row.get("linked_to_track") is None):
            raise ValueError(f"track {key}: a {kind} link must name the track it links to")
        out.append({**row, "match_id": match_id, "linker_version": linker_version})
    out.sort(key=lambda r: (r["clip_id"], int(r["track_id"])))
    columns = {f.name: [r.get(f.name) for r in out] for f in IDENTITY_SCHEMA}
    return pa.Table.from_pydict(columns, schema=IDENTITY_SCHEMA)


def write_identities(
    root: str | os.PathLike, match_id: str, table: pa.Table, *, fingerprint: str, storage_options: Mapping[str, Any] | None = None
) -> str:
    """Write a match's identities (:func:`identities_table`) atomically, replacing the previous file.

    Returns:
        The URL written.
    """
    if table.schema.remove_metadata() != IDENTITY_SCHEMA:
        raise ValueError(f"identities of {match_id} do not have IDENTITY_SCHEMA: {table.schema}")
    versions = set(table.column("linker_version").to_pylist())
    info = {
        "schema_version": IDENTITY_SCHEMA_VERSION, "match_id": match_id, "fingerprint": fingerprint, "rows": table.num_rows,
        "linker_version": versions.pop() if len(versions) == 1 else None,
    }
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata({_META_KEY: json.dumps(info).encode()}), sink, compression="zstd")
    url = identities_url(root, match_id, storage_options)
    fs, path = resolve_url(url, storage_options)
    write_bytes_atomic(fs, path, sink.getvalue().to_pybytes())
    return url


def read_identities_info(root: str | os.PathLike, match_id: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The footer record of a match's identity file (schema_version, linker_version, fingerprint,
    rows); None when there is none or it cannot be read (it is written again then)."""
    fs, path = resolve_url(identities_url(root, match_id, storage_options), storage_options)
    try:
        with fs.open(path, "rb") as handle:
            metadata = pq.read_schema(handle).metadata or {}
        return json.loads(metadata[_META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


def read_identities(root: str | os.PathLike, match_id: str, storage_options: Mapping[str, Any] | None = None) -> pa.Table | None:
    """A match's stored identities, or None when it has none."""
    fs, path = resolve_url(identities_url(root, match_id, storage_options), storage_options)
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as handle:
        return pq.read_table(handle).cast(IDENTITY_SCHEMA)


# ---------------------------------------------------------------------------------------------
# Catalog views


def _columns_sql(prefix: str = "") -> str:
    return ", ".join(f"{prefix}{quote(f.name)}" for f in IDENTITY_SCHEMA if f.name != "shard_key")


def _identities_sql(urls: Sequence[str], temporary: bool) -> str:
    create = "CREATE OR REPLACE TEMP VIEW" if temporary else "CREATE OR REPLACE VIEW"
    if not urls:
        empty = ", ".join(f"CAST(NULL AS {sql_type(f.type)}) AS {quote(f.name)}" for f in IDENTITY_SCHEMA if f.name != "shard_key")
        return f"{create} identities AS SELECT {empty} WHERE false"
    listing = ",\n    ".join(literal(url) for url in urls)
    # Only rows computed from the shard registered now: a clip curated again has new tracks.
    return (
        f"{create} identities AS\nSELECT {_columns_sql('i.')}\n"
        f"FROM read_parquet([\n    {listing}\n], hive_partitioning = false) i\n"
        "JOIN shards s ON s.match_id = i.match_id AND s.clip_id = i.clip_id AND s.shard_key = i.shard_key"
    )


def _athlete_identities_sql(temporary: bool) -> str:
    create = "CREATE OR REPLACE TEMP VIEW" if temporary else "CREATE OR REPLACE VIEW"
    return (
        f"{create} athlete_identities AS\n"
        "SELECT a.*, i.identity, i.link_kind, i.link_reason\n"
        "FROM athletes a LEFT JOIN identities i ON i.match_id = a.match_id AND i.clip_id = a.clip_id AND i.track_id = a.track_id"
    )


def _listed(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    text = get_meta(connection, IDENTITY_FILES_KEY)
    return json.loads(text) if text else {}


def identity_file_urls(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[str]:
    """The identity files the views read (to allow them on a locked-down read-only connection)."""
    return [locator.resolve(path) for _, path in sorted(_listed(connection).items())]


def _discover(connection: duckdb.DuckDBPyConnection, locator: Locator, storage_options: Mapping[str, Any] | None) -> dict[str, str]:
    """``{match_id: url}`` of the identity files that exist for the registered matches (one
    existence check each, under the root of the match's first shard)."""
    rows = connection.execute("SELECT match_id, any_value(manifest_url) FROM shards GROUP BY match_id ORDER BY match_id").fetchall()
    found = {}
    for match_id, manifest_url in rows:
        try:
            url = identities_url(shards_root_of(locator.resolve(manifest_url)), match_id, storage_options)
            if _exists(connection, url, storage_options):
                found[match_id] = url
        except Exception as error:  # noqa: BLE001 - a remote store raises its own errors (botocore's); a registration must not fail for a side table
            log.warning("catalog: identities of %s not looked for: %s", match_id, str(error).splitlines()[0] if str(error) else type(error).__name__)
    return found


def _exists(connection: duckdb.DuckDBPyConnection, url: str, storage_options: Mapping[str, Any] | None) -> bool:
    """Whether ``url`` exists: on disk, else through the filesystem the connection reads the
    views with (the catalog registers the shards' fsspec filesystem on it; credentials included)."""
    if is_local_url(url):
        return os.path.exists(local_path(url) or url)
    if storage_options is not None:
        fs, path = resolve_url(url, storage_options)
        return bool(fs.exists(path))
    return bool(connection.execute("SELECT count(*) FROM glob(?)", [url]).fetchone()[0])


def refresh_identity_views(
    connection: duckdb.DuckDBPyConnection, locator: Locator, *, temporary: bool = False, discover: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> int:
    """(Re)create ``identities`` and ``athlete_identities`` over the listed identity files.

    Args:
        temporary: TEMP views for this connection (a read-only or moved catalog); the list is read, never written.
        discover: First list the files that exist for the registered matches (and drop the
            entries of files gone), in ``catalog_meta``.

    Returns:
        How many matches' identity files the views read.
    """
    listed = _listed(connection)
    if discover and not temporary:
        found = _discover(connection, locator, storage_options)
        stored = {match_id: locator.store(url) for match_id, url in found.items()}
        if stored != listed:
            set_meta(connection, IDENTITY_FILES_KEY, stored)
        listed = stored
    urls = [locator.resolve(path) for _, path in sorted(listed.items())]
    try:
        connection.execute(_identities_sql(urls, temporary))
    except duckdb.Error as error:  # a listed file that no longer reads: the views stay, empty, until a refresh finds it again
        log.warning("catalog: identities left empty: %s", str(error).splitlines()[0])
        connection.execute(_identities_sql([], temporary))
        urls = []
    connection.execute(_athlete_identities_sql(temporary))
    return len(urls)
