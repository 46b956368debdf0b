"""Read-only, offline queries: what ``soccerfactory query`` may run against the catalog.

Three layers, each checked against duckdb 2.0.1:

1. Statements. Only queries run: SELECT (DESCRIBE, SHOW, SUMMARIZE, FROM and VALUES parse as
   SELECT), EXPLAIN [ANALYZE] of a query, and PRAGMA or CALL of a read-only pragma. COPY, EXPORT,
   ATTACH, DETACH, INSTALL, LOAD, SET, USE, CHECKPOINT (a CALL), CREATE... are refused before the
   catalog is opened.
2. A private database. The catalog is ATTACHed READ_ONLY to a fresh in-memory DuckDB: settings
   are per database instance, so locking this one down never changes another connection of the
   process to the same file (two ``duckdb.connect`` of one file share their settings).
3. Settings, then locked. ``enable_external_access = false`` with ``allowed_paths`` = exactly the
   files the views read (``allowed_directories`` would also expose the manifests and any file
   later written under them), extension autoinstall and autoload off, ``lock_configuration =
   true``. DuckDB itself then refuses ``read_text('/etc/shadow')``, ``read_csv``, ``glob``, an
   ``http://`` path (which would otherwise download the httpfs extension), ``PRAGMA
   import_database`` (it runs a ``COPY ... TO``), and every ``SET``.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any, Sequence

import duckdb

from soccerfactory.storage.catalog import CatalogLockedError, register_known_filesystems
from soccerfactory.storage.locations import duckdb_spellings, read_locator
from soccerfactory.storage.views import follow_location, view_files

__all__ = ["ReadOnlyQueryError", "UnreadableShardError", "check_read_only", "open_read_only", "explain_failure"]


class ReadOnlyQueryError(ValueError):
    """A statement that would change something, or read outside the catalog, where only reading is allowed."""


class UnreadableShardError(ValueError):
    """A query hit a shard file that is damaged or gone; the message names it and what to run."""


#: Pragmas that only report. PRAGMA/CALL of anything else is refused (some write files:
#: import_database runs a COPY; others change settings).
READ_ONLY_PRAGMAS = frozenset({
    "show_tables", "show_tables_expanded", "show_databases", "table_info", "show", "database_size", "database_list",
    "storage_info", "metadata_info", "version", "platform", "user_agent", "collations", "functions",
})

_ALLOWED = "SELECT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, or a reporting PRAGMA such as table_info"
_PRAGMA_NAME = re.compile(r"\s*(?:PRAGMA|CALL)\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
# DuckDB 2.0.1's wording for a truncated, damaged or missing Parquet file.
_UNREADABLE = re.compile(r"(?:No magic bytes found at end of file|Failed to read file|No files found that match the pattern) ['\"]([^'\"]+\.parquet)['\"]")
_EXPLAINED = re.compile(r"\s*EXPLAIN\s+(.*)", re.IGNORECASE | re.DOTALL)
# What may follow EXPLAIN: plain EXPLAIN only plans. ANALYZE (in any spelling, or inside the
# parenthesised options) runs the statement it explains, so it is refused outright.
_EXPLAIN_OPTIONS = re.compile(r"\(|ANALY[SZ]E\b", re.IGNORECASE)


def _kind(statement: Any) -> Any:
    try:
        return statement.type
    except ValueError:  # a statement type the Python API has no name for (UPDATE EXTENSIONS in 2.0.1)
        return None


def _refuse(statement: Any, why: str = "") -> ReadOnlyQueryError:
    text = " ".join(statement.query.split())[:80]
    kind = _kind(statement)
    return ReadOnlyQueryError(f"the query must be read-only ({_ALLOWED}); refused {kind.name if kind else 'a'} statement {text!r}{why}")


def _without_comments(query: str) -> str:
    """``query`` with every comment replaced by a space, by DuckDB's own tokenizer: a regex cannot
    tell a ``)`` or ``--`` inside a comment from one outside (``EXPLAIN (ANALYZE /* ) SELECT 1 -- */)
    COPY ... TO ...`` once passed a check that read it as ``EXPLAIN SELECT 1``)."""
    tokens = duckdb.tokenize(query)
    parts = []
    for i, (start, kind) in enumerate(tokens):
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(query)
        parts.append(" " if kind == duckdb.token_type.comment else query[start:end])
    return "".join(parts)


def _pragma_allowed(query: str, call: bool) -> bool:
    match = _PRAGMA_NAME.match(query)
    if not match:
        return False
    name = match.group(1).lower()
    if call:
        # CALL runs table functions: pragma_<name>() and the duckdb_*() catalog listings only.
        return name.startswith("duckdb_") or (name.startswith("pragma_") and name[len("pragma_"):] in READ_ONLY_PRAGMAS)
    return name in READ_ONLY_PRAGMAS


def check_read_only(statements: Sequence[Any]) -> None:
    """Refuse every statement that is not a query (see the module docstring).

    Raises:
        ReadOnlyQueryError: naming the first statement refused and what is allowed.
    """
    for statement in statements:
        kind = _kind(statement)
        if kind in (duckdb.StatementType.SELECT, duckdb.StatementType.RELATION):
            continue
        if kind == duckdb.StatementType.EXPLAIN:
            match = _EXPLAINED.match(_without_comments(statement.query))
            if match is None or _EXPLAIN_OPTIONS.match(match.group(1).lstrip()):
                raise _refuse(statement, ": EXPLAIN ANALYZE and EXPLAIN options run or change the statement; use plain EXPLAIN")
            try:
                inner = duckdb.extract_statements(match.group(1))
            except (duckdb.Error, ValueError):
                inner = []
            if len(inner) != 1:
                raise _refuse(statement, ": cannot tell what it explains")
            check_read_only(inner)
            continue
        if kind in (duckdb.StatementType.PRAGMA, duckdb.StatementType.CALL) and _pragma_allowed(statement.query, kind == duckdb.StatementType.CALL):
            continue
        raise _refuse(statement)


def _attach(connection: duckdb.DuckDBPyConnection, path: Path, alias: str, wait_s: float) -> None:
    # A writer (curate) holds the file's lock for seconds at a time: wait for it, as connect does.
    deadline, delay = time.monotonic() + wait_s, 0.1
    while True:
        try:
            connection.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS \"{alias}\" (READ_ONLY)")
            return
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() >= deadline:
                raise CatalogLockedError(f"catalog {path} is locked by another process; retry when it finishes") from None
            time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
            delay = min(delay * 2, 2.0)


def _allowed(files: Sequence[str]) -> list[str]:
    return [spelling for url in files for spelling in duckdb_spellings(url)]


def open_read_only(catalog_path: str | os.PathLike, wait_s: float = 30.0) -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """A locked-down connection to the catalog, and the files its views may read.

    Raises:
        FileNotFoundError: no catalog at ``catalog_path``.
        CatalogLockedError: a writer held the catalog for more than ``wait_s``.
        duckdb.Error: the catalog cannot be opened, or (a moved catalog) a shard file cannot be bound.
    """
    path = Path(catalog_path)
    if not path.is_file():
        raise FileNotFoundError(f"no catalog at {path}: run `soccerfactory demo` or `soccerfactory curate` first")
    # One fixed name: a file's stem may be one DuckDB reserves (main, temp, memory, pg_catalog ...).
    alias = "catalog"
    connection = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        _attach(connection, path, alias, wait_s)
        connection.execute(f'USE "{alias}"')
        register_known_filesystems(connection)
        follow_location(connection, path, read_only=True)  # TEMP views when the catalog has moved
        files = view_files(connection, read_locator(connection, path))
        connection.execute("SET allowed_paths = ?", [_allowed(files)])
        connection.execute("SET enable_external_access = false")
        connection.execute("SET lock_configuration = true")
    except BaseException:
        connection.close()
        raise
    return connection, files


def explain_failure(error: duckdb.Error, files: Sequence[str], catalog_path: str | os.PathLike) -> ValueError | None:
    """A one-line error for a failure of a read-only query that the user can act on, or None.

    A refused file access becomes a ReadOnlyQueryError; a registered shard file that DuckDB cannot
    read (truncated, damaged, deleted since it was registered) becomes an UnreadableShardError
    naming the file and the command that quarantines it.
    """
    message = str(error).splitlines()[0]
    if isinstance(error, duckdb.PermissionException):
        return ReadOnlyQueryError(f"the query may read only the catalog's tables and views, nothing else; DuckDB refused: {message}")
    named = [url for url in files if any(spelling in message for spelling in duckdb_spellings(url))]
    if not named:
        # Before the file list is known (TEMP views of a moved catalog), DuckDB's own wording says it.
        match = _UNREADABLE.search(message)
        named = [match.group(1)] if match else []
    if named:
        return UnreadableShardError(
            f"shard file {named[0]} cannot be read ({message}); run `soccerfactory catalog verify --catalog {catalog_path}` "
            "to quarantine it (the next `soccerfactory curate` of its source re-creates it)"
        )
    return None
