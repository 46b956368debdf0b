"""SQL of the catalog's own tables, the lowest catalog module but one: DDL, quoting, the shards read.

DDL of the catalog's own tables (``runs``, ``failures``, ``shards``, ``clips``, the model tables),
the quoting helpers every statement built in ``storage/`` uses, and the read of the registered
shards that both ``storage/quarantine.py`` and ``storage/views.py`` need. The comments on every
table, view and column are ``storage/comments.py``'s (``comment`` and ``comment_columns`` are
re-exported here for the view modules). Imports no other catalog module but that one.

The ``quarantine``, ``catalog_meta`` and ``shard_stats`` tables are declared beside the code that
fills them (``storage/quarantine.py``, ``storage/locations.py``, ``storage/catalog_stats.py``).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from soccerfactory.storage.comment_text_views import VIEW_COLUMNS
from soccerfactory.storage.comments import column_comments, comment, comment_columns
from soccerfactory.storage.locations import Locator
from soccerfactory.storage.schemas import SHARD_SCHEMAS

__all__ = [
    "CATALOG_TABLES", "MIGRATIONS_SQL", "MODEL_TABLES", "TABLES_DDL", "sql_type", "quote", "literal", "comment", "comment_columns", "registered_shards",
]


def sql_type(data_type: pa.DataType) -> str:
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
        return sql_type(data_type.value_type) + "[]"
    raise TypeError(f"no DuckDB type mapped for {data_type}")


def quote(name: str) -> str:
    """``name`` as a DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """``text`` as a DuckDB string literal in single quotes."""
    return "'" + text.replace("'", "''") + "'"


CATALOG_TABLES: tuple[str, ...] = (
    "runs", "failures", "shards", "clips", "training_runs", "evaluations", "event_labels", "quarantine", "catalog_meta", "shard_stats",
)
#: Tables whose rows exist only in the catalog (written by the train / evaluate flows); a rebuild
#: copies them from the old catalog instead of re-deriving them from files.
MODEL_TABLES: tuple[str, ...] = ("training_runs", "evaluations", "event_labels")


_SHARD_ROW_COLUMNS = ", ".join(f"rows_{table} BIGINT" for table in SHARD_SCHEMAS)

_CLIPS_COLUMNS = ",\n    ".join(
    f"{quote(f.name)} {sql_type(f.type)}{'' if f.nullable else ' NOT NULL'}" for f in SHARD_SCHEMAS["clips"]
)

TABLES_DDL = f"""
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
    split VARCHAR,  -- last: where ALTER TABLE puts it in a catalog from before it (MIGRATIONS_SQL)
    PRIMARY KEY (checkpoint_sha256, data_snapshot, task, metric)
);
"""

#: Columns added since a table was first created, for catalogs made before them: ``create_tables``
#: runs these after ``TABLES_DDL`` (a no-op where the column exists). A new column goes last in
#: its ``CREATE TABLE`` too, so old and new catalogs have the same column order.
MIGRATIONS_SQL = """
ALTER TABLE evaluations ADD COLUMN IF NOT EXISTS split VARCHAR;
"""


#: Column comments of the aggregate and truth views, by view (kept for the truth-view tests; the
#: text is in ``storage/comment_text_views.py``, applied by ``storage/comments.py``).
_COLUMN_COMMENTS: dict[str, dict[str, str]] = {view: dict(column_comments(view)) for view in VIEW_COLUMNS}


def registered_shards(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """(match_id, clip_id, shard_key, manifest URL to read, files) of every registered shard."""
    rows = connection.execute("SELECT match_id, clip_id, shard_key, manifest_url, files FROM shards ORDER BY match_id, clip_id").fetchall()
    return [(m, c, k, locator.resolve(url), json.loads(files)) for m, c, k, url, files in rows]
