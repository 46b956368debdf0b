"""The catalog's views: SQL over the registered shards' Parquet, and keeping it pointed at healthy files.

The data views (``DATA_VIEWS``) read the Parquet in place through explicit file lists: only the
files of registered, non-quarantined shards, never a file that merely lies under the root (a
glob would also open unregistered shards, debris of killed writes and the damaged files of
quarantined shards, and DuckDB reads the first file of a glob to bind it; checked with duckdb
2.0.1). Each view is one line, ``SELECT * FROM registered_<table>()``; the list is in that table
macro (read it with ``SELECT macro_definition FROM duckdb_functions() WHERE function_name LIKE
'registered_%'``). The lists name absolute paths for the place the catalog was last opened for
writing (see ``storage/locations.py``); a read-only connection to a catalog that has moved since
gets TEMP views with the lists for where it is now, which shadow the stored ones (DuckDB looks in
``temp`` first, and the stored aggregate views then read the TEMP data views too).

What a registration costs hardly grows with the catalog (``flows/bench_catalog.py``): it rewrites
the five macros (one path per file: the only part that grows), binds each view once (the macros
select their columns by name, so binding reads only the first file's footer, not every file's as
``union_by_name`` did: 5,000 footers at 1,000 shards, at every registration and every query) and
computes the new shard's ``shard_stats`` row (``storage/catalog_stats.py``); the views, aggregate
and truth views are late-bound SQL and stay as they are, comments included. A full refresh
(``ensure_catalog``, rebuild, verify, sync, a moved catalog) also reads every registered file's
footer and recreates every view.

Aggregates (``AGGREGATE_VIEWS``): ``tracks``, ``quality``, ``quality_match`` (the last two over
``shard_stats``, so they add up one row per shard), ``track_flags`` (per-track flags and their
reasons) and ``identities`` / ``athlete_identities`` (athletes across shots, ``storage/identities.py``). Where ground truth is catalogued, the ``truth_*`` views grading the curated labels
against it (``storage/truth_views.py``).
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any, Mapping, Sequence

import duckdb
import pyarrow as pa

from soccerfactory.storage.catalog_sql import literal, quote, registered_shards, sql_type
from soccerfactory.storage.catalog_stats import quality_sql, refresh_stats
from soccerfactory.storage.comments import apply_comments
from soccerfactory.storage.identities import IDENTITY_VIEWS, identity_file_urls, refresh_identity_views
from soccerfactory.storage.locations import (
    GROUND_TRUTH_KEY, VIEWS_BASE_KEY, Locator, duckdb_spellings, get_meta, read_locator, set_meta,
)
from soccerfactory.storage.quarantine import check_registered, quarantine_shard
from soccerfactory.storage.schemas import SHARD_SCHEMA_VERSION, SHARD_SCHEMAS, columns_added_after
from soccerfactory.storage.truth_views import TRUTH_VIEWS, create_truth_views, iou_sql, overlap_sql

__all__ = [
    "DATA_VIEWS", "AGGREGATE_VIEWS", "view_files", "ground_truth_urls", "ground_truth_view_sql", "create_views", "refresh_views",
    "follow_location", "TRUTH_VIEWS", "SHORT_TRACK_S", "OFF_PITCH_MARGIN_M", "DUPLICATE_IOU", "DUPLICATE_SHARE",
]

log = logging.getLogger(__name__)

DATA_VIEWS: tuple[str, ...] = ("frames", "athletes", "ball", "cameras", "events")
AGGREGATE_VIEWS: tuple[str, ...] = ("tracks", "quality", "quality_match", "track_flags") + IDENTITY_VIEWS


def _null_column(field: pa.Field) -> str:
    """A column of NULLs with the type and name of ``field`` (a column its files lack)."""
    return f"CAST(NULL AS {sql_type(field.type)}) AS {quote(field.name)}"


def _rows_sql(table: str, urls: Sequence[str], versions: Mapping[str, str] | None = None) -> str:
    """The SELECT of a data view's rows: its columns from the files ``urls`` (``versions``: url ->
    its shard's schema version, when not the current one)."""
    if urls:
        # The schema's columns by name: binding reads the first file's footer only (union_by_name
        # read every file's: 5,000 footers at 1,000 shards, at every bind of every query), and a
        # column a later file adds is left out instead of failing the scan. Every registered file
        # has every column of its schema version (quarantine.shard_problem checks it); the files of
        # an older version are read apart, the columns added since as NULL. hive_partitioning off:
        # the match_id=/clip_id= folders must not shadow the file's columns.
        groups: dict[tuple[str, ...], list[str]] = {}
        for url in urls:
            groups.setdefault(columns_added_after(table, (versions or {}).get(url, SHARD_SCHEMA_VERSION)), []).append(url)
        selects = []
        for lacking, files in sorted(groups.items(), key=lambda item: len(item[0])):
            listing = ",\n    ".join(literal(url) for url in files)
            columns = ", ".join(
                _null_column(f) if f.name in lacking else quote(f.name) for f in SHARD_SCHEMAS[table]
            )
            selects.append(f"SELECT {columns}\nFROM read_parquet([\n    {listing}\n], hive_partitioning = false)")
        return "\nUNION ALL\n".join(selects)
    # No shard yet: the same columns and types, zero rows, so queries written today keep binding.
    columns = ",\n    ".join(_null_column(f) for f in SHARD_SCHEMAS[table])
    return f"SELECT\n    {columns}\nWHERE false"


def _data_view_sql(table: str, urls: Sequence[str], temporary: bool = False, versions: Mapping[str, str] | None = None) -> str:
    """A data view: in the catalog, over its ``registered_<table>()`` macro (one line, whatever
    the catalog holds; ``_macro_sql`` holds the file list); TEMP (a moved read-only catalog): the
    rows of ``urls`` themselves."""
    if temporary:
        return f"CREATE OR REPLACE TEMP VIEW {table} AS\n{_rows_sql(table, urls, versions)}"
    return f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM registered_{table}()"


def _macro_sql(table: str, urls: Sequence[str], versions: Mapping[str, str] | None = None) -> str:
    """The table macro ``registered_<table>()`` the data view reads: what a registration rewrites.
    A macro, not the view itself: a view made again loses its 30 column comments, and DuckDB
    rewrites a commented view's whole SQL (every path) once per COMMENT, so a registration cost
    grew with the catalog (0.3 s of 1.1 s at 1,000 shards, measured)."""
    return f"CREATE OR REPLACE MACRO registered_{table}() AS TABLE\n{_rows_sql(table, urls, versions)}"


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


#: Catalog-side checks of the curated rows (they grade the curation, so they are not its
#: settings). A track spanning under a second cannot carry a jersey read agreed over several
#: frames; the curation drops tracks under ``tracking.min_track_s`` (0.4 s) already.
SHORT_TRACK_S = 1.0
#: Feet further outside the 105 x 68 m pitch than this plus two sigma of the position are off it:
#: a player on the touchline stays on it, the stewards and benches the issue saw (> 5 m) do not.
OFF_PITCH_MARGIN_M = 2.0
#: Two tracks overlapping at IoU >= 0.8 (the four tracks on one athlete the issue saw) on at least
#: half of a track's rows are one person tracked twice.
DUPLICATE_IOU = 0.8
DUPLICATE_SHARE = 0.5
_HALF_LENGTH_M, _HALF_WIDTH_M = 52.5, 34.0


# ---------------------------------------------------------------------------------------------
# Per-track flags: the shard's, and those SQL can derive (no truth needed)

_TRACK_FLAGS_SQL = f"""
CREATE OR REPLACE VIEW track_flags AS
WITH per_track AS (
    SELECT
        a.match_id, a.clip_id, a.track_id,
        count(*) AS n_rows,
        min(a.frame_index) AS first_frame,
        max(a.frame_index) AS last_frame,
        (max(a.frame_index) - min(a.frame_index) + 1) / any_value(c.fps) AS span_s,
        mode(a.role) AS role,
        mode(a.team) AS team,
        count(*) FILTER (WHERE a.pitch_x IS NOT NULL AND a.pitch_y IS NOT NULL) AS n_positioned_rows,
        count(*) FILTER (
            WHERE greatest(abs(a.pitch_x) - {_HALF_LENGTH_M}, abs(a.pitch_y) - {_HALF_WIDTH_M})
                > {OFF_PITCH_MARGIN_M} + 2 * coalesce(a.pitch_sigma_m, 0)
        ) AS n_off_pitch_rows,
        string_agg(DISTINCT a.flag_reason, '; ' ORDER BY a.flag_reason) FILTER (WHERE a.flag_reason <> '') AS shard_flag_reason
    FROM athletes a LEFT JOIN clips c USING (match_id, clip_id)
    GROUP BY a.match_id, a.clip_id, a.track_id
), shard_flags AS (
    SELECT match_id, clip_id, track_id, list_sort(list(DISTINCT flag)) AS shard_flags
    FROM (
        SELECT match_id, clip_id, track_id, trim(unnest(string_split(flags, ','))) AS flag
        FROM athletes WHERE flags IS NOT NULL
    )
    WHERE flag <> ''
    GROUP BY match_id, clip_id, track_id
), overlapping AS (
    -- frames on which another track of the clip covers this one at IoU >= {DUPLICATE_IOU}
    SELECT match_id, clip_id, track_id, other_track_id, count(DISTINCT frame_index) AS n_rows
    FROM (
        SELECT a.match_id, a.clip_id, a.track_id, b.track_id AS other_track_id, a.frame_index, {iou_sql("a", "b")} AS iou
        FROM athletes a JOIN athletes b
          ON a.match_id = b.match_id AND a.clip_id = b.clip_id AND a.frame_index = b.frame_index
         AND a.track_id <> b.track_id AND {overlap_sql("a", "b")}
    )
    WHERE iou >= {DUPLICATE_IOU}
    GROUP BY match_id, clip_id, track_id, other_track_id
), duplicates AS (
    SELECT match_id, clip_id, track_id, arg_max(other_track_id, n_rows) AS duplicate_of, max(n_rows) AS n_duplicate_rows
    FROM overlapping GROUP BY match_id, clip_id, track_id
), derived AS (
    SELECT
        p.*,
        p.n_off_pitch_rows / nullif(p.n_positioned_rows, 0) AS off_pitch_share,
        d.duplicate_of,
        coalesce(d.n_duplicate_rows, 0) AS n_duplicate_rows,
        s.shard_flags,
        p.span_s < {SHORT_TRACK_S} AS is_short,
        coalesce(p.n_off_pitch_rows / nullif(p.n_positioned_rows, 0) > 0.5, false) AS is_off_pitch,
        coalesce(d.n_duplicate_rows >= {DUPLICATE_SHARE} * p.n_rows, false) AS is_duplicate
    FROM per_track p
    LEFT JOIN duplicates d USING (match_id, clip_id, track_id)
    LEFT JOIN shard_flags s USING (match_id, clip_id, track_id)
), listed AS (
    SELECT
        *,
        list_filter([
            CASE WHEN is_duplicate THEN 'duplicate' END,
            CASE WHEN is_off_pitch THEN 'off-pitch' END,
            CASE WHEN is_short THEN 'short' END
        ], lambda flag: flag IS NOT NULL) AS derived_flags
    FROM derived
)
SELECT
    match_id, clip_id, track_id, n_rows, first_frame, last_frame, span_s, role, team,
    n_positioned_rows, off_pitch_share, duplicate_of, n_duplicate_rows,
    nullif(array_to_string(shard_flags, ','), '') AS shard_flags,
    nullif(array_to_string(derived_flags, ','), '') AS derived_flags,
    nullif(array_to_string(list_sort(list_distinct(list_concat(coalesce(shard_flags, []::VARCHAR[]), derived_flags))), ','), '') AS flags,
    nullif(concat_ws('; ',
        shard_flag_reason,
        CASE WHEN is_duplicate THEN printf('overlaps track %d at IoU >= {DUPLICATE_IOU} on %d of %d rows', duplicate_of, n_duplicate_rows, n_rows) END,
        CASE WHEN is_off_pitch THEN printf(
            'role %s: %d of %d positioned rows more than {OFF_PITCH_MARGIN_M:g} m + 2 sigma outside the pitch',
            role, n_off_pitch_rows, n_positioned_rows) END,
        CASE WHEN is_short THEN printf('spans %.2f s (under {SHORT_TRACK_S:g} s)', span_s) END
    ), '') AS reason
FROM listed
ORDER BY match_id, clip_id, track_id
"""


# ---------------------------------------------------------------------------------------------
# Which files the views read


def _data_urls(connection: duckdb.DuckDBPyConnection, locator: Locator) -> tuple[dict[str, list[str]], dict[str, tuple[str, str]]]:
    urls: dict[str, list[str]] = {table: [] for table in DATA_VIEWS}
    owners: dict[str, tuple[str, str]] = {}
    for match_id, clip_id, _, manifest_url, files in registered_shards(connection, locator):
        base = manifest_url.rsplit("/", 1)[0]
        for table, entry in files.items():
            if table in urls:
                url = f"{base}/{entry['path']}"
                urls[table].append(url)
                owners[url] = (match_id, clip_id)
    return urls, owners


def _older_versions(connection: duckdb.DuckDBPyConnection, owners: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """File URL -> its shard's schema version, for the files of shards written with an older one."""
    rows = connection.execute("SELECT match_id, clip_id, schema_version FROM shards WHERE schema_version <> ?", [SHARD_SCHEMA_VERSION]).fetchall()
    older = {(m, c): v for m, c, v in rows}
    return {url: older[owner] for url, owner in owners.items() if owner in older}


def ground_truth_urls(connection: duckdb.DuckDBPyConnection, locator: Locator) -> dict[str, list[str]]:
    """gt table -> the ground-truth Parquet files its ``gt_<table>`` view reads."""
    text = get_meta(connection, GROUND_TRUTH_KEY)
    return {table: [locator.resolve(p) for p in paths] for table, paths in json.loads(text).items()} if text else {}


def view_files(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[str]:
    """Every file the catalog's views read (registered shards' data files, identity files, ground truth)."""
    urls, _ = _data_urls(connection, locator)
    files = [url for table in DATA_VIEWS for url in urls[table]] + identity_file_urls(connection, locator)
    if get_meta(connection, GROUND_TRUTH_KEY) is None:
        # A catalog from before ground truth was recorded in catalog_meta: its gt_* views name
        # their (absolute) files in their SQL.
        rows = connection.execute("SELECT sql FROM duckdb_views() WHERE NOT internal AND starts_with(view_name, 'gt_')").fetchall()
        return files + [found.replace("''", "'") for (sql,) in rows for found in re.findall(r"'((?:[^']|'')*\.parquet)'", sql)]
    return files + [url for paths in ground_truth_urls(connection, locator).values() for url in paths]


def ground_truth_view_sql(table: str, urls: Sequence[str], temporary: bool = False) -> str:
    listing = ", ".join(literal(url) for url in urls)
    create = "CREATE OR REPLACE TEMP VIEW" if temporary else "CREATE OR REPLACE VIEW"
    return f"{create} gt_{table} AS SELECT * FROM read_parquet([{listing}], union_by_name = true)"


# ---------------------------------------------------------------------------------------------
# Creating and refreshing


def _views_current(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether every stored view exists as this code makes it (data views over their macros,
    ``quality_match`` over ``shard_stats``: a catalog from before either read the files in its
    views), and the truth views exist where ``gt_athletes`` does."""
    views = dict(connection.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND NOT temporary").fetchall())
    if not set(DATA_VIEWS + AGGREGATE_VIEWS) <= set(views) or "shard_stats" not in views["quality_match"]:
        return False
    if any(f"registered_{table}()" not in views[table] for table in DATA_VIEWS):
        return False
    return "gt_athletes" not in views or set(TRUTH_VIEWS) <= set(views)


def create_views(
    connection: duckdb.DuckDBPyConnection, locator: Locator, *, temporary: bool = False, data_only: bool = False
) -> dict[str, tuple[str, str]]:
    """(Re)create the data views (and ``gt_*``) over the registered files, as resolved by ``locator``.

    Args:
        temporary: TEMP views for this connection only (a read-only connection); otherwise the
            data views' macros, the stored views, the aggregates, the truth views (where
            ``gt_athletes`` can grade the shards; ``truth_views.create_truth_views``) and their
            comments too.
        data_only: only the five ``registered_<table>()`` macros (what a registration changes),
            each bound once through its view (reading its first file's footer); the views are
            made only when missing or out of date (they are late-bound SQL, so they need no
            rewrite, and keep their comments).

    Returns:
        file URL -> (match_id, clip_id) of the shard it belongs to.

    Raises:
        duckdb.Error: a view's first file cannot be bound (missing, not Parquet); the message names it.
    """
    urls, owners = _data_urls(connection, locator)
    versions = _older_versions(connection, owners)
    if not temporary:
        for table in DATA_VIEWS:
            connection.execute(_macro_sql(table, urls[table], versions))
        if data_only and _views_current(connection):
            for table in DATA_VIEWS:  # a macro is bound where it is used: bind it now (the first file's footer)
                connection.execute(f"SELECT * FROM {table} LIMIT 0").fetchall()
            return owners
    for table in DATA_VIEWS:
        connection.execute(_data_view_sql(table, urls[table], temporary, versions))
    for table, files in ground_truth_urls(connection, locator).items():
        try:
            connection.execute(ground_truth_view_sql(table, files, temporary))
        except duckdb.Error as error:
            # Ground truth is a side dish: a deleted gt folder must not stop shard registration.
            log.warning("catalog: gt_%s left as it was: %s", table, str(error).splitlines()[0])
    # Athlete identities across shots (storage/identities.py); a stored refresh looks for new files.
    refresh_identity_views(connection, locator, temporary=temporary, discover=not temporary)
    if not temporary:
        connection.execute(_TRACKS_SQL)
        connection.execute(quality_sql("quality", ("match_id", "clip_id")))
        connection.execute(quality_sql("quality_match", ("match_id",)))
        connection.execute(_TRACK_FLAGS_SQL)
        # CREATE OR REPLACE dropped their comments: every view and column gets its text again.
        apply_comments(connection, DATA_VIEWS + AGGREGATE_VIEWS + tuple(f"gt_{table}" for table in ground_truth_urls(connection, locator)))
        # Only where ground truth is catalogued; its errors are logged, never raised.
        create_truth_views(connection)
    return owners


def _culprit(message: str, owners: Mapping[str, tuple[str, str]]) -> tuple[str, tuple[str, str]] | None:
    # DuckDB names the file it failed on; fsspec URLs may come back with three slashes.
    for url, owner in owners.items():
        if any(spelling in message for spelling in duckdb_spellings(url)):
            return url, owner
    return None


#: Footers read per statement by the full refresh's check (a culprit costs one batch's re-read).
_FOOTER_BATCH = 500


def _check_footers(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[str]:
    """Read the footer of every registered data file; quarantine each shard whose footer DuckDB
    cannot read (same size, damaged bytes: what the size check misses and binding a view with
    ``union_by_name`` used to find). Returns one line per shard quarantined."""
    lines = []
    _, owners = _data_urls(connection, locator)
    pending = list(owners)
    while pending:
        batch = pending[:_FOOTER_BATCH]
        try:
            connection.execute(f"SELECT count(*) FROM parquet_file_metadata([{', '.join(literal(url) for url in batch)}])").fetchall()
        except duckdb.Error as error:
            message = str(error).splitlines()[0]
            culprit = _culprit(message, {url: owners[url] for url in batch})
            if culprit is None:
                raise
            url, (match_id, clip_id) = culprit
            lines.append(quarantine_shard(connection, locator, match_id, clip_id, url, f"DuckDB cannot read it: {message}"))
            pending = [u for u in pending if owners[u] != (match_id, clip_id)]
            continue
        pending = pending[_FOOTER_BATCH:]
    return lines


def refresh_views(
    connection: duckdb.DuckDBPyConnection, catalog_path: str | os.PathLike, storage_options: Mapping[str, Any] | None = None,
    check_sizes: bool = True, full: bool = True,
) -> list[str]:
    """Point the stored views at the files of the registered shards that pass a size check, and
    compute the ``shard_stats`` rows the registered shards lack.

    Runs outside a transaction. With ``check_sizes`` every registered shard's files are first
    checked to exist with their manifest's size (one metadata call per file); a shard failing it
    is quarantined (``storage/quarantine.py``). With ``full`` every file's footer is read too
    (``_check_footers``) and every view is recreated; otherwise (a registration) only the data
    views are (``create_views(data_only=True)``). A file that fails DuckDB (footer, binding,
    summary) quarantines its shard, and the views are created again, so one bad file never takes
    the others down.

    ``check_sizes=False`` skips the size check (DuckDB still reads the first footer of each view):
    a run registering its clips one at a time would otherwise stat every registered file after
    every clip, a cost that grows with the square of the clips; the run's start
    (``sync_catalog``, a full refresh) did the check.

    Returns:
        one line per shard quarantined ("match/clip: FILE: reason").

    Raises:
        duckdb.Error: a view cannot be created for a reason no registered file explains.
    """
    locator = read_locator(connection, catalog_path)
    lines = check_registered(connection, locator, storage_options) if check_sizes else []
    if full:
        lines += _check_footers(connection, locator)
    # Before the views: a shard whose summary cannot be read is quarantined, so the views leave it out.
    lines += refresh_stats(connection, locator)
    while True:
        try:
            create_views(connection, locator, data_only=not full)
        except duckdb.Error as error:
            message = str(error).splitlines()[0]
            culprit = _culprit(message, _data_urls(connection, locator)[1])
            if culprit is None:
                raise
            url, (match_id, clip_id) = culprit
            lines.append(quarantine_shard(connection, locator, match_id, clip_id, url, f"DuckDB cannot read it: {message}"))
            continue
        set_meta(connection, VIEWS_BASE_KEY, locator.base)
        return lines


def follow_location(
    connection: duckdb.DuckDBPyConnection, catalog_path: str | os.PathLike, read_only: bool, storage_options: Mapping[str, Any] | None = None
) -> None:
    """Point the views at the files where the catalog is opened from now, if it has moved.

    A write connection regenerates the stored views (and size-checks the shards); a read-only one
    creates TEMP views for itself. Nothing happens when the catalog is where its views were made,
    or predates ``catalog_meta``.
    """
    made_for = get_meta(connection, VIEWS_BASE_KEY)
    locator = read_locator(connection, catalog_path)
    if made_for is None or made_for == locator.base:
        return
    if read_only:
        create_views(connection, locator, temporary=True)
    else:
        refresh_views(connection, catalog_path, storage_options)
