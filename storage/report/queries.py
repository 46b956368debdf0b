"""What the report shows, read from the catalog: one read-only connection, SQL aggregates only.

Every query is restricted to the report's :class:`Scope` (a match, a run's clips, or the whole
catalog) and aggregates in DuckDB, so a catalog of many hours returns a few thousand numbers: time
series come in bins of source time, histograms as counts per bin.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import duckdb

from soccerfactory.storage.locations import read_locator

__all__ = [
    "Scope", "Table", "Series", "Histogram", "ThumbnailRequest", "TruthData", "ReportData", "read_report_data",
    "MAX_PLOTTED_MATCHES", "ROLES", "VIEWS",
]

ROLES: tuple[str, ...] = ("player", "goalkeeper", "referee", "other")
VIEWS: tuple[str, ...] = ("main", "zoomed", "close-up", "other", "unclassified")
#: Time-series plots get one panel per match; more panels than this are unreadable on one page.
MAX_PLOTTED_MATCHES = 4
#: Bins per match timeline: ~120 keeps a 90-minute match at 45 s a bin and an 8 s clip at its frame rate.
_TIME_BINS = 120
_HIST_BINS = 20  # of [0, 1] scores: 0.05 wide
# The config hash is 64 hex digits; 12 tell runs apart on a page (the full one is a query away).
_RUN_COLUMNS = ("run_id, started_at, finished_at, source, output, left(config_hash, 12) AS config, status, "
                "n_clips, n_curated, n_skipped, n_failed")


@dataclass(frozen=True)
class Scope:
    """Which part of the catalog a report covers; both None is the whole catalog."""

    match_id: str | None = None
    run_id: str | None = None

    def title(self) -> str:
        parts = [f"match {self.match_id}" if self.match_id else "", f"run {self.run_id}" if self.run_id else ""]
        return ", ".join(p for p in parts if p) or "whole catalog"

    def clip_filter(self, alias: str = "", per_match: bool = False) -> tuple[str, list[Any]]:
        """A SQL condition on a relation with ``match_id`` and ``clip_id`` columns, and its parameters.

        Args:
            alias: The relation's alias with its dot (``"c."``), or "" for unqualified columns.
            per_match: Keep every row of a match that has a clip in scope (for per-match views
                without ``clip_id``).
        """
        conditions, params = ["true"], []
        if self.match_id is not None:
            conditions.append(f"{alias}match_id = ?")
            params.append(self.match_id)
        if self.run_id is not None:
            if per_match:
                conditions.append(f"{alias}match_id IN (SELECT match_id FROM shards WHERE run_id = ?)")
            else:
                conditions.append(f"({alias}match_id, {alias}clip_id) IN (SELECT match_id, clip_id FROM shards WHERE run_id = ?)")
            params.append(self.run_id)
        return " AND ".join(conditions), params


@dataclass(frozen=True)
class Table:
    """Rows to show as an HTML table."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True)
class Series:
    """One match's time series: ``t`` the start of each bin (seconds of source time), a value per name per bin."""

    match_id: str
    t: tuple[float, ...]
    values: dict[str, tuple[float | None, ...]]


@dataclass(frozen=True)
class Histogram:
    """Counts per bin: ``edges`` has one more entry than ``counts``."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class ThumbnailRequest:
    """Frames of one clip to draw: its shard's manifest (a path or URL to read) and source frame indices."""

    match_id: str
    clip_id: str
    manifest_url: str
    frame_indices: tuple[int, ...]


@dataclass(frozen=True)
class TruthData:
    """The grades of the ``truth_*`` views for the scope's matches and clips."""

    per_match: Table  # truth_quality_match rows
    per_clip: Table  # truth_quality rows
    camera_error: list[Series]  # truth_cameras: camera_error_px per bin, valid frames only


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows; empty tables and lists where the catalog has nothing."""

    catalog: str
    scope: Scope
    bin_s: float  # width of the time bins
    overview: dict[str, Any]
    clips: Table
    runs: Table
    failures: Table
    quarantine: Table
    label_counts: list[Series]  # rows per frame per role
    calibration: list[Series]  # valid_share, reprojection_error_px
    views: list[Series]  # share of frames per view
    confidence: Histogram
    agreement: dict[str, Histogram]  # team / role / jersey: per track
    track_seconds: tuple[float, ...]
    team_balance: Table  # per clip: tracks A, B, without team; rows per frame A, B
    jersey: Table  # per clip: player/goalkeeper tracks, with a jersey, coverage
    thumbnails: tuple[ThumbnailRequest, ...]
    truth: TruthData | None
    n_matches_total: int = 0  # matches in scope (time series show MAX_PLOTTED_MATCHES)
    notes: list[str] = field(default_factory=list)


def _table(connection: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> Table:
    cursor = connection.execute(sql, list(params))
    return Table(tuple(d[0] for d in cursor.description), tuple(tuple(r) for r in cursor.fetchall()))


def _views(connection: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}


def check_scope(connection: duckdb.DuckDBPyConnection, scope: Scope) -> None:
    """Refuse a match or run the catalog does not know, naming a few it does.

    Raises:
        ValueError: one line naming the unknown id and what exists.
    """
    if scope.match_id is not None:
        known = [m for (m,) in connection.execute("SELECT DISTINCT match_id FROM clips ORDER BY 1").fetchall()]
        if scope.match_id not in known:
            listed = ", ".join(known[:8]) + (" ..." if len(known) > 8 else "") if known else "none yet"
            raise ValueError(f"--match {scope.match_id!r} is not in the catalog; its matches: {listed}")
    if scope.run_id is not None:
        known = [r for (r,) in connection.execute("SELECT run_id FROM runs ORDER BY started_at DESC NULLS LAST").fetchall()]
        if scope.run_id not in known:
            listed = ", ".join(known[:5]) + (" ..." if len(known) > 5 else "") if known else "none yet"
            raise ValueError(f"--run {scope.run_id!r} is not in the catalog's runs; latest runs: {listed}")


def _bin_width(connection: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> float:
    span, fps = connection.execute(
        f"SELECT max(end_s - start_s), max(fps) FROM (SELECT match_id, min(start_s) AS start_s, max(end_s) AS end_s, max(fps) AS fps "
        f"FROM clips WHERE {where} GROUP BY match_id)", params,
    ).fetchone()
    frame = 1.0 / fps if fps else 0.04
    if not span:
        return frame
    # A whole number of frames per bin, so each bin holds the same count of frames.
    return max(1, math.ceil(span / _TIME_BINS / frame)) * frame


def _series(rows: Sequence[tuple], names: Sequence[str] | None = None, missing: float | None = None) -> list[Series]:
    """``(match_id, t, name, value)`` rows into one Series per match, every name on every bin of the
    match (``missing`` where a bin has no row of that name: 0 for counts, None for means)."""
    by_match: dict[str, dict[float, dict[str, float | None]]] = {}
    for match_id, t, name, value in rows:
        by_match.setdefault(match_id, {}).setdefault(float(t), {})
        if name is not None:
            by_match[match_id][float(t)][name] = None if value is None else float(value)
    out = []
    for match_id in sorted(by_match):
        bins = by_match[match_id]
        times = sorted(bins)
        keys = list(names) if names is not None else sorted({k for b in bins.values() for k in b})
        out.append(Series(match_id, tuple(times), {k: tuple(bins[t].get(k, missing) for t in times) for k in keys}))
    return out


def _histogram(connection: duckdb.DuckDBPyConnection, column: str, relation: str, where: str, params: list[Any]) -> Histogram:
    rows = dict(connection.execute(
        f"SELECT least(floor({column} * {_HIST_BINS}), {_HIST_BINS - 1})::INTEGER AS b, count(*) FROM {relation} "
        f"WHERE {where} AND {column} IS NOT NULL GROUP BY b", params,
    ).fetchall())
    return Histogram(tuple(k / _HIST_BINS for k in range(_HIST_BINS + 1)), tuple(int(rows.get(k, 0)) for k in range(_HIST_BINS)))


def _time_series(connection: duckdb.DuckDBPyConnection, where: str, params: list[Any], width: float) -> tuple[list[Series], ...]:
    b = f"floor(timestamp_s / {width!r}) * {width!r}"
    labels = connection.execute(
        f"""WITH f AS (SELECT match_id, {b} AS t, count(*) AS n FROM frames WHERE {where} GROUP BY ALL),
        a AS (SELECT match_id, {b} AS t, role, count(*) AS n FROM athletes WHERE {where} GROUP BY ALL)
        SELECT f.match_id, f.t, a.role, coalesce(a.n, 0) / f.n FROM f LEFT JOIN a USING (match_id, t) ORDER BY 1, 2""",
        params + params,
    ).fetchall()
    present = {r[2] for r in labels if r[2] is not None}
    roles = [r for r in ROLES if r in present] + sorted(present - set(ROLES))
    calibration = connection.execute(
        f"""SELECT match_id, {b} AS t, avg(valid_camera::DOUBLE) AS valid_share,
        avg(reprojection_error_px) FILTER (WHERE valid_camera) AS reprojection_error_px
        FROM cameras WHERE {where} GROUP BY ALL ORDER BY 1, 2""", params,
    ).fetchall()
    calibration_rows = [(m, t, k, v) for m, t, share, error in calibration for k, v in (("valid_share", share), ("reprojection_error_px", error))]
    views = connection.execute(
        f"""SELECT match_id, t, view, n / sum(n) OVER (PARTITION BY match_id, t) FROM (
        SELECT match_id, {b} AS t, coalesce(view, 'unclassified') AS view, count(*)::DOUBLE AS n FROM frames WHERE {where} GROUP BY ALL
        ) ORDER BY 1, 2""", params,
    ).fetchall()
    return (
        _series(labels, roles, missing=0.0),
        _series(calibration_rows, ("valid_share", "reprojection_error_px")),
        _series(views, [v for v in VIEWS if any(r[2] == v for r in views)], missing=0.0),
    )


def _thumbnails(connection: duckdb.DuckDBPyConnection, catalog: str | os.PathLike, where: str, params: list[Any], count: int) -> tuple[ThumbnailRequest, ...]:
    """``count`` curated frames spread evenly over the scope's frames (busiest frame of each stretch), grouped by clip."""
    if count < 1:
        return ()
    rows = connection.execute(
        f"""WITH f AS (
            SELECT match_id, clip_id, frame_index, n_athletes, ntile({count}) OVER (ORDER BY match_id, frame_index) AS part
            FROM frames WHERE {where}
        ) SELECT f.match_id, f.clip_id, arg_max(f.frame_index, f.n_athletes * 1e9 - f.frame_index) AS frame_index, any_value(s.manifest_url)
        FROM f JOIN shards s USING (match_id, clip_id) GROUP BY f.part, f.match_id, f.clip_id ORDER BY 1, 3""", params,
    ).fetchall()
    locator = read_locator(connection, catalog)
    grouped: dict[tuple[str, str], list[int]] = {}
    urls: dict[tuple[str, str], str] = {}
    for match_id, clip_id, frame, url in rows[:count]:
        grouped.setdefault((match_id, clip_id), []).append(int(frame))
        urls[(match_id, clip_id)] = locator.resolve(url)
    return tuple(ThumbnailRequest(m, c, urls[(m, c)], tuple(sorted(set(frames)))) for (m, c), frames in grouped.items())


def _truth(connection: duckdb.DuckDBPyConnection, scope: Scope, width: float) -> TruthData | None:
    if not {"truth_quality", "truth_quality_match", "truth_cameras"} <= _views(connection):
        return None
    where, params = scope.clip_filter()
    per_clip = _table(connection, f"SELECT * FROM truth_quality WHERE {where} ORDER BY match_id, clip_id", params)
    if not per_clip.rows:  # truth of other footage only
        return None
    match_where, match_params = scope.clip_filter(per_match=True)
    per_match = _table(connection, f"SELECT * FROM truth_quality_match WHERE {match_where} ORDER BY match_id", match_params)
    camera_where, _ = scope.clip_filter("t.")
    b = f"floor(t.frame_index / c.fps / {width!r}) * {width!r}"
    errors = connection.execute(
        f"""SELECT t.match_id, {b} AS t, 'camera_error_px', avg(t.camera_error_px) FILTER (WHERE t.valid_camera)
        FROM truth_cameras t JOIN clips c USING (match_id, clip_id) WHERE {camera_where} GROUP BY ALL ORDER BY 1, 2""", params,
    ).fetchall()
    return TruthData(per_match, per_clip, _series(errors, ("camera_error_px",)))


def _runs_and_failures(connection: duckdb.DuckDBPyConnection, scope: Scope) -> tuple[Table, Table]:
    """The scope's runs and their failures: a run's own; a match's, those of its sources (as ``quality_match`` counts them)."""
    failure_columns = "run_id, source_url, clip_id, stage, reason"
    if scope.run_id is not None:
        return (_table(connection, f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", [scope.run_id]),
                _table(connection, f"SELECT {failure_columns} FROM failures WHERE run_id = ? ORDER BY recorded_at", [scope.run_id]))
    if scope.match_id is None:
        return (_table(connection, f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY started_at"),
                _table(connection, f"SELECT {failure_columns} FROM failures ORDER BY recorded_at"))
    of_match = "source_url IN (SELECT source_url FROM clips WHERE match_id = ?)"
    failures = _table(connection, f"SELECT {failure_columns} FROM failures WHERE {of_match} ORDER BY recorded_at", [scope.match_id])
    runs = _table(connection, f"""SELECT {_RUN_COLUMNS} FROM runs
        WHERE run_id IN (SELECT run_id FROM shards WHERE match_id = ?) OR run_id IN (SELECT run_id FROM failures WHERE {of_match})
        ORDER BY started_at""", [scope.match_id, scope.match_id])
    return runs, failures


def read_report_data(
    connection: duckdb.DuckDBPyConnection, catalog: str | os.PathLike, scope: Scope, thumbnails: int = 4,
) -> ReportData:
    """Read everything the report shows for ``scope`` over an open (read-only) catalog connection.

    Args:
        connection: From :func:`soccerfactory.storage.readonly.open_read_only` (or ``connect(read_only=True)``).
        catalog: The catalog file's path (resolves the shards' stored manifest paths).
        scope: The match and/or run to report; the whole catalog when both are None.
        thumbnails: How many annotated frames to ask for (0: none).

    Raises:
        ValueError: the scope names a match or run the catalog does not know.
    """
    check_scope(connection, scope)
    where, params = scope.clip_filter()
    width = _bin_width(connection, where, params)
    counts = connection.execute(
        f"""SELECT count(DISTINCT match_id), count(*), coalesce(sum(end_s - start_s), 0),
        (SELECT count(*) FROM frames WHERE {where}), (SELECT count(*) FROM athletes WHERE {where}),
        (SELECT count(*) FROM tracks WHERE {where}) FROM clips WHERE {where}""", params * 4,
    ).fetchone()
    overview = dict(zip(("matches", "clips", "footage_s", "frames", "athlete_rows", "tracks"), counts))
    clips = _table(connection, f"""SELECT c.match_id, c.clip_id, c.start_s, c.end_s, c.n_frames, c.view, s.run_id,
        q.calibrated_fraction, q.athletes_per_frame, q.n_tracks
        FROM clips c LEFT JOIN shards s USING (match_id, clip_id) LEFT JOIN quality q USING (match_id, clip_id)
        WHERE {scope.clip_filter("c.")[0]} ORDER BY 1, 3""", params)
    runs, failures = _runs_and_failures(connection, scope)
    quarantine = _table(connection, f"SELECT match_id, clip_id, file, reason, detected_at FROM quarantine WHERE {where} ORDER BY detected_at", params)
    label_counts, calibration, views = _time_series(connection, where, params, width)
    agreement = {name: _histogram(connection, f"{name}_agreement", "tracks", where, params) for name in ("team", "role", "jersey")}
    track_seconds = tuple(float(s) for (s,) in connection.execute(
        f"SELECT t.end_s - t.start_s + 1 / c.fps FROM tracks t JOIN clips c USING (match_id, clip_id) "
        f"WHERE {scope.clip_filter('t.')[0]}", params,
    ).fetchall())
    team_balance = _table(connection, f"""WITH t AS (SELECT match_id, clip_id,
            count(*) FILTER (WHERE team = 'A') AS tracks_a, count(*) FILTER (WHERE team = 'B') AS tracks_b,
            count(*) FILTER (WHERE team IS NULL AND role IN ('player', 'goalkeeper')) AS tracks_no_team
            FROM tracks WHERE {where} GROUP BY ALL),
        r AS (SELECT match_id, clip_id, count(*) FILTER (WHERE team = 'A') AS rows_a, count(*) FILTER (WHERE team = 'B') AS rows_b
            FROM athletes WHERE {where} GROUP BY ALL)
        SELECT match_id, clip_id, tracks_a, tracks_b, tracks_no_team,
            round(rows_a / nullif(q.n_frames, 0), 2) AS rows_per_frame_a, round(rows_b / nullif(q.n_frames, 0), 2) AS rows_per_frame_b
        FROM t JOIN r USING (match_id, clip_id) JOIN quality q USING (match_id, clip_id) ORDER BY 1, 2""", params + params)
    jersey = _table(connection, f"""SELECT match_id, clip_id, count(*) AS player_tracks, count(jersey) AS with_jersey,
        count(jersey) / nullif(count(*), 0) AS coverage, avg(jersey_agreement) AS mean_jersey_agreement
        FROM tracks WHERE {where} AND role IN ('player', 'goalkeeper') GROUP BY ALL ORDER BY 1, 2""", params)
    n_matches = len(label_counts)
    data = ReportData(
        catalog=os.fspath(catalog), scope=scope, bin_s=width, overview=overview, clips=clips, runs=runs, failures=failures,
        quarantine=quarantine, label_counts=label_counts[:MAX_PLOTTED_MATCHES], calibration=calibration[:MAX_PLOTTED_MATCHES],
        views=views[:MAX_PLOTTED_MATCHES], confidence=_histogram(connection, "confidence", "athletes", where, params),
        agreement=agreement, track_seconds=track_seconds, team_balance=team_balance, jersey=jersey,
        thumbnails=_thumbnails(connection, catalog, where, params, thumbnails), truth=_truth(connection, scope, width),
        n_matches_total=n_matches,
    )
    if n_matches > MAX_PLOTTED_MATCHES:
        data.notes.append(f"time series show the first {MAX_PLOTTED_MATCHES} of {n_matches} matches; pass --match for another")
    return data
