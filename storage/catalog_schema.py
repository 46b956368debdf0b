"""DDL of the catalog's own tables (``runs``, ``failures``, ``shards``, ``clips``, the model tables).

The ``quarantine`` and ``catalog_meta`` tables are declared beside the code that fills them
(``storage/quarantine.py``, ``storage/locations.py``).
"""

from __future__ import annotations

from soccerfactory.storage.schemas import SHARD_SCHEMAS
from soccerfactory.storage.views import _quote, _sql_type

__all__ = ["_TABLES_DDL"]

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
