"""Per-shard summary rows: what the ``quality`` and ``quality_match`` views add up instead of 10 M rows.

One ``shard_stats`` row per registered shard, computed from that shard's own Parquet (frames,
athletes, cameras) when it is registered: counts, the sums and counts the agreement means are made
of, and the reprojection errors of its calibrated frames (a list: a median cannot be added up, but
a few hundred floats per clip are cheap to unnest). The quality views then sum 1,000 rows where
they used to aggregate every athlete row of every shard: ``quality_match`` over 10 M athlete rows in
1,000 shards went from 11.6 s to 0.13 s (``flows/bench_catalog.py``, 2 busy cores).

The rows are derived, like the views: ``insert_shard`` deletes the clip's row whenever its shard is
(re-)registered, and every view refresh (``views.refresh_views``) computes the rows the registered
shards lack, in one statement per batch, and deletes the rows of clips no longer registered. The
quality views join the rows on ``clips`` (same shard key), so a row can never outlive its shard
in them. A catalog from before this table gets its rows at its first refresh.

Values equal those of the old views over the data (the same SQL per track: ``mode(role)``,
``mode(jersey)``, ``avg`` of the agreements), up to the order floating-point sums are added in.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import duckdb

from soccerfactory.storage.catalog_sql import literal
from soccerfactory.storage.comments import apply_comments
from soccerfactory.storage.locations import Locator, duckdb_spellings
from soccerfactory.storage.quarantine import quarantine_shard

__all__ = ["SHARD_STATS_DDL", "STATS_BATCH", "refresh_stats", "quality_sql"]

log = logging.getLogger(__name__)

SHARD_STATS_DDL = """
CREATE TABLE IF NOT EXISTS shard_stats (
    match_id VARCHAR NOT NULL,
    clip_id VARCHAR NOT NULL,
    shard_key VARCHAR NOT NULL,
    n_frames BIGINT NOT NULL,
    n_ball_detected BIGINT NOT NULL,
    n_athlete_rows BIGINT NOT NULL,
    n_tracks BIGINT NOT NULL,
    team_agreement_sum DOUBLE,
    team_agreement_tracks BIGINT NOT NULL,
    role_agreement_sum DOUBLE,
    role_agreement_tracks BIGINT NOT NULL,
    jersey_agreement_sum DOUBLE,
    jersey_agreement_tracks BIGINT NOT NULL,
    numbered_tracks BIGINT NOT NULL,
    numberable_tracks BIGINT NOT NULL,
    n_cameras BIGINT NOT NULL,
    n_valid_cameras BIGINT NOT NULL,
    reprojection_errors_px FLOAT[],
    PRIMARY KEY (match_id, clip_id)
);
"""

#: Shards summarised per statement: one statement reads 3 files per shard; 256 keeps the SQL
#: under ~100 kB and lets a culprit file cost one batch's retry, not the whole backfill's.
STATS_BATCH = 256

_STATS_TABLES = ("frames", "athletes", "cameras")


def _stats_sql(pending: Sequence[tuple[str, str, str]], files: Mapping[str, Sequence[str]]) -> str:
    """INSERT of the summary rows of ``pending`` (match_id, clip_id, shard_key) from their ``files``."""
    keys = ", ".join(f"({literal(m)}, {literal(c)}, {literal(k)})" for m, c, k in pending)
    lists = {table: "[" + ", ".join(literal(url) for url in files[table]) + "]" for table in _STATS_TABLES}
    return f"""
INSERT OR REPLACE INTO shard_stats
WITH pending(match_id, clip_id, shard_key) AS (VALUES {keys}),
f AS (
    SELECT match_id, clip_id, count(*) AS n_frames, count(*) FILTER (WHERE ball_detected) AS n_ball_detected
    FROM read_parquet({lists["frames"]}, hive_partitioning = false) GROUP BY match_id, clip_id
), per_track AS (
    -- as the tracks view makes a track (mode of the role and jersey, mean of each agreement)
    SELECT
        match_id, clip_id, track_id, count(*) AS n_rows, mode(role) AS role, mode(jersey) AS jersey,
        avg(team_agreement) AS team_agreement, avg(role_agreement) AS role_agreement, avg(jersey_agreement) AS jersey_agreement
    FROM read_parquet({lists["athletes"]}, hive_partitioning = false) GROUP BY match_id, clip_id, track_id
), a AS (
    SELECT
        match_id, clip_id, sum(n_rows)::BIGINT AS n_athlete_rows, count(*) AS n_tracks,
        sum(team_agreement) AS team_agreement_sum, count(team_agreement) AS team_agreement_tracks,
        sum(role_agreement) AS role_agreement_sum, count(role_agreement) AS role_agreement_tracks,
        sum(jersey_agreement) AS jersey_agreement_sum, count(jersey_agreement) AS jersey_agreement_tracks,
        count(*) FILTER (WHERE role IN ('player', 'goalkeeper') AND jersey IS NOT NULL) AS numbered_tracks,
        count(*) FILTER (WHERE role IN ('player', 'goalkeeper')) AS numberable_tracks
    FROM per_track GROUP BY match_id, clip_id
), c AS (
    SELECT
        match_id, clip_id, count(*) AS n_cameras, count(*) FILTER (WHERE valid_camera) AS n_valid_cameras,
        list(reprojection_error_px ORDER BY frame_index) FILTER (WHERE valid_camera AND reprojection_error_px IS NOT NULL) AS errors
    FROM read_parquet({lists["cameras"]}, hive_partitioning = false) GROUP BY match_id, clip_id
)
SELECT
    p.match_id, p.clip_id, p.shard_key,
    coalesce(f.n_frames, 0), coalesce(f.n_ball_detected, 0), coalesce(a.n_athlete_rows, 0), coalesce(a.n_tracks, 0),
    a.team_agreement_sum, coalesce(a.team_agreement_tracks, 0), a.role_agreement_sum, coalesce(a.role_agreement_tracks, 0),
    a.jersey_agreement_sum, coalesce(a.jersey_agreement_tracks, 0), coalesce(a.numbered_tracks, 0), coalesce(a.numberable_tracks, 0),
    coalesce(c.n_cameras, 0), coalesce(c.n_valid_cameras, 0), coalesce(c.errors, []::FLOAT[])
FROM pending p
LEFT JOIN f USING (match_id, clip_id)
LEFT JOIN a USING (match_id, clip_id)
LEFT JOIN c USING (match_id, clip_id)
"""


def _pending(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[tuple[str, str, str, dict[str, str]]]:
    """(match_id, clip_id, shard_key, table -> URL) of each registered shard without its summary row."""
    rows = connection.execute(
        "SELECT s.match_id, s.clip_id, s.shard_key, s.manifest_url, "
        + ", ".join(f"json_extract_string(s.files, '$.{table}.path')" for table in _STATS_TABLES)
        + " FROM shards s ANTI JOIN shard_stats t ON s.match_id = t.match_id AND s.clip_id = t.clip_id AND s.shard_key = t.shard_key"
        " ORDER BY s.match_id, s.clip_id"
    ).fetchall()
    pending = []
    for match_id, clip_id, key, manifest_url, *paths in rows:
        base = locator.resolve(manifest_url).rsplit("/", 1)[0]
        pending.append((match_id, clip_id, key, {table: f"{base}/{path}" for table, path in zip(_STATS_TABLES, paths) if path}))
    return pending


def refresh_stats(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[str]:
    """Compute the summary rows the registered shards lack; delete those of clips no longer registered.

    Runs outside a transaction (each batch is its own statement). A shard whose file DuckDB cannot
    read is quarantined (``quarantine.quarantine_shard``) and the batch is run again without it;
    a shard lacking one of the tables (not registrable, but a catalog may be older) is summarised
    from the tables it has.

    Returns:
        one line per shard quarantined.

    Raises:
        duckdb.Error: a batch fails for a reason no file of it explains.
    """
    # A catalog from before the table (opened for writing where it moved, say) gets it here.
    connection.execute(SHARD_STATS_DDL)
    apply_comments(connection, ["shard_stats"])
    connection.execute(
        "DELETE FROM shard_stats t WHERE NOT EXISTS ("
        "SELECT 1 FROM shards s WHERE s.match_id = t.match_id AND s.clip_id = t.clip_id AND s.shard_key = t.shard_key)"
    )
    lines: list[str] = []
    pending = _pending(connection, locator)
    while pending:
        batch, pending = pending[:STATS_BATCH], pending[STATS_BATCH:]
        while batch:
            files = {table: [urls[table] for *_, urls in batch if table in urls] for table in _STATS_TABLES}
            try:
                connection.execute(_stats_sql([(m, c, k) for m, c, k, _ in batch], files))
                break
            except duckdb.Error as error:
                message = str(error).splitlines()[0]
                culprit = next(
                    ((m, c, url) for m, c, _, urls in batch for url in urls.values() if any(s in message for s in duckdb_spellings(url))), None
                )
                if culprit is None:
                    raise
                match_id, clip_id, url = culprit
                lines.append(quarantine_shard(connection, locator, match_id, clip_id, url, f"DuckDB cannot read it: {message}"))
                batch = [entry for entry in batch if entry[:2] != (match_id, clip_id)]
    return lines


def quality_sql(view: str, keys: Sequence[str]) -> str:
    """The ``quality`` (keys match_id, clip_id) or ``quality_match`` (match_id) view over ``shard_stats``."""
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
WITH stats AS (
    -- one summary row per registered shard (shard_stats; the same key as its clips row)
    SELECT s.*
    FROM shard_stats s JOIN clips c ON s.match_id = c.match_id AND s.clip_id = c.clip_id AND s.shard_key = c.shard_key
), summed AS (
    SELECT
        {group},
        sum(n_frames)::BIGINT AS n_frames,
        sum(n_ball_detected)::BIGINT AS n_ball_detected,
        sum(n_athlete_rows)::BIGINT AS n_athlete_rows,
        sum(n_tracks)::BIGINT AS n_tracks,
        sum(team_agreement_sum) / nullif(sum(team_agreement_tracks), 0) AS mean_team_agreement,
        sum(role_agreement_sum) / nullif(sum(role_agreement_tracks), 0) AS mean_role_agreement,
        sum(jersey_agreement_sum) / nullif(sum(jersey_agreement_tracks), 0) AS mean_jersey_agreement,
        -- players and goalkeepers wear numbers; referees do not count
        sum(numbered_tracks)::BIGINT / nullif(sum(numberable_tracks)::BIGINT, 0) AS jersey_coverage,
        sum(n_valid_cameras)::BIGINT / nullif(sum(n_cameras)::BIGINT, 0) AS calibrated_fraction
    FROM stats GROUP BY {group}
), camera_errors AS (
    SELECT
        {group},
        avg(error_px) AS mean_reprojection_error_px,
        median(error_px) AS median_reprojection_error_px
    FROM (SELECT {group}, unnest(reprojection_errors_px) AS error_px FROM stats)
    GROUP BY {group}
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
    coalesce(summed.n_frames, 0) AS n_frames,
    coalesce(summed.n_athlete_rows, 0) AS n_athlete_rows,
    coalesce(summed.n_athlete_rows, 0) / nullif(summed.n_frames, 0) AS athletes_per_frame,
    coalesce(summed.n_tracks, 0) AS n_tracks,
    summed.calibrated_fraction,
    camera_errors.mean_reprojection_error_px,
    camera_errors.median_reprojection_error_px,
    summed.mean_team_agreement,
    summed.mean_role_agreement,
    summed.mean_jersey_agreement,
    summed.jersey_coverage,
    summed.n_ball_detected / nullif(summed.n_frames, 0) AS ball_detected_fraction,
    coalesce(failure_stats.n_failures, 0) AS n_failures
FROM clip_list
LEFT JOIN summed {using}
LEFT JOIN camera_errors {using}
LEFT JOIN failure_stats {using}
ORDER BY {group}
"""
