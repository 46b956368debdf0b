"""Where a catalog's files are: stored relative to its root, resolved where the catalog is opened.

The catalog's tables name local files relative to the catalog's root (the shards root it was
first filled from), and the ``catalog_meta`` table records that root relative to the catalog
file's folder. A root copied or moved together with its catalog therefore reads its own files,
never the original's. (A catalog file copied alone, with no root at the relative place, falls
back to the root's absolute path as recorded.) Remote roots (``memory://``, ``s3://``) are
absolute URLs and stay so.

DuckDB views must name real paths, so they hold absolute paths as of the place the catalog was
last opened for writing (``views_base`` in ``catalog_meta``); ``catalog.connect`` regenerates
them when a write connection finds the catalog elsewhere, and gives a read-only connection TEMP
views with the paths of the current place (see ``views.follow_location``).

Why not DuckDB's ``file_search_path`` with relative paths in the views: DuckDB 2.0.1 resolves a
relative path against the working directory first, so a query run from inside another copy of
the root would silently read that copy's files (checked with duckdb 2.0.1).
"""

from __future__ import annotations

import functools
import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any

import duckdb

from soccerfactory.storage.fs import is_local_url, local_path, resolve_url

__all__ = ["Locator", "META_DDL", "read_locator", "ensure_root", "get_meta", "set_meta", "shards_root_of", "duckdb_spellings"]

META_DDL = """
CREATE TABLE IF NOT EXISTS catalog_meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
"""

#: The shards root: relative to the catalog file's folder when local, an absolute URL when remote.
ROOT_KEY = "root"
#: The local root's absolute path when it was recorded: used only when the relative one is not a
#: folder, i.e. the catalog file alone was copied elsewhere (its root never moved).
ROOT_ABSOLUTE_KEY = "root_absolute"
#: The absolute local folder the stored views' paths were generated for.
VIEWS_BASE_KEY = "views_base"
#: JSON {gt table: [ground-truth Parquet files, stored like shard paths]}.
GROUND_TRUTH_KEY = "ground_truth"


def duckdb_spellings(url: str) -> tuple[str, ...]:
    """How DuckDB may write ``url`` in a setting it checks or an error it raises: as given, and for
    an fsspec URL also with three slashes (``memory:///x`` for ``memory://x``)."""
    return (url,) if is_local_url(url) else (url, url.replace("://", ":///", 1))


def _absolute_local(url: str | os.PathLike) -> str:
    # fsspec's local paths: absolute, posix, symlinks kept (as manifest URLs are written).
    return resolve_url(os.fspath(url))[1]


@dataclass(frozen=True)
class Locator:
    """Turns stored paths into paths to read, for a catalog opened from ``catalog_dir``.

    Attributes:
        catalog_dir: absolute folder of the catalog file, as opened now.
        root: ``catalog_meta.root``; None while nothing has been registered.
        root_absolute: ``catalog_meta.root_absolute``, the local root as it was recorded.
    """

    catalog_dir: str
    root: str | None = None
    root_absolute: str | None = None

    @functools.cached_property
    def base(self) -> str:
        """The absolute local folder stored relative paths are resolved against: the root when it
        is local, else the catalog's folder.

        The root relative to where the catalog is now wins whenever it holds shards (a root copied
        or moved with its catalog reads its own files); only when it does not (the catalog file was
        copied alone: the usual root "." is then just the folder it was copied to) is the recorded
        absolute root used, if it still holds them.
        """
        if self.root is None or not is_local_url(self.root):
            return self.catalog_dir
        relative = os.path.normpath(os.path.join(self.catalog_dir, local_path(self.root) or self.root))
        if _holds_shards(relative) or not self.root_absolute or not _holds_shards(self.root_absolute):
            return relative
        return self.root_absolute

    def store(self, url: str) -> str:
        """How the catalog records ``url``: relative to ``base`` when local, unchanged when remote."""
        if not is_local_url(url):
            return url
        return os.path.relpath(_absolute_local(url), self.base).replace(os.sep, "/")

    def resolve(self, stored: str) -> str:
        """The path or URL to read for a stored value (absolute values, from catalogs written
        before paths were relative, are returned as they are)."""
        if not is_local_url(stored):
            return stored
        path = local_path(stored) or stored
        return path if os.path.isabs(path) else posixpath.normpath(posixpath.join(self.base, path))


def _holds_shards(folder: str) -> bool:
    return os.path.isdir(os.path.join(folder, "shards"))


def catalog_dir(catalog_path: str | os.PathLike) -> str:
    """The absolute folder of a catalog file."""
    return os.path.dirname(os.path.abspath(os.fspath(catalog_path)))


def shards_root_of(manifest_url: str) -> str:
    """The root of a shard from its manifest URL (``ROOT/shards/match_id=m/clip_id=c/manifest.json``)."""
    return manifest_url.rsplit("/", 4)[0]


def get_meta(connection: duckdb.DuckDBPyConnection, key: str) -> str | None:
    """One ``catalog_meta`` value; None when unset or the catalog predates the table."""
    try:
        # fetchall, not fetchone: DuckDB 2 refuses a later relation on a connection whose last
        # result was not read to the end.
        rows = connection.execute("SELECT value FROM catalog_meta WHERE key = ?", [key]).fetchall()
    except duckdb.CatalogException:
        return None
    return rows[0][0] if rows else None


def set_meta(connection: duckdb.DuckDBPyConnection, key: str, value: Any) -> None:
    """Upsert one ``catalog_meta`` value (non-strings are stored as JSON)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    connection.execute("INSERT OR REPLACE INTO catalog_meta VALUES (?, ?)", [key, text])


def read_locator(connection: duckdb.DuckDBPyConnection, catalog_path: str | os.PathLike) -> Locator:
    """The locator of a catalog opened from ``catalog_path``."""
    return Locator(catalog_dir(catalog_path), get_meta(connection, ROOT_KEY), get_meta(connection, ROOT_ABSOLUTE_KEY))


def ensure_root(connection: duckdb.DuckDBPyConnection, catalog_path: str | os.PathLike, root: str | os.PathLike | None) -> Locator:
    """Record the catalog's root unless one is recorded already, and return the locator.

    The root is fixed once recorded: stored relative paths depend on it. Shards of another root
    are stored relative to this one (``../other/shards/...``) or, when remote, as URLs.

    Args:
        root: the shards root URL; None records the catalog's own folder.
    """
    locator = read_locator(connection, catalog_path)
    if locator.root is not None:
        return locator
    absolute = None
    if root is None or is_local_url(root):
        absolute = locator.catalog_dir if root is None else _absolute_local(root)
        stored = os.path.relpath(absolute, locator.catalog_dir).replace(os.sep, "/")
        set_meta(connection, ROOT_ABSOLUTE_KEY, absolute)
    else:
        stored = os.fspath(root).rstrip("/")
    set_meta(connection, ROOT_KEY, stored)
    return Locator(locator.catalog_dir, stored, absolute)
