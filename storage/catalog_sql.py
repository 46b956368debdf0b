"""SQL of the catalog's own tables, the lowest catalog module: DDL, comments, quoting, the shards read.

DDL of the catalog's own tables (``runs``, ``failures``, ``shards``, ``clips``, the model tables),
the comments on every table and view, the quoting helpers every statement built in ``storage/``
uses, and the read of the registered shards that both ``storage/quarantine.py`` and
``storage/views.py`` need. Imports no other catalog module.

The ``quarantine`` and ``catalog_meta`` tables are declared beside the code that fills them
(``storage/quarantine.py``, ``storage/locations.py``).
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pyarrow as pa

from soccerfactory.storage.locations import Locator
from soccerfactory.storage.schemas import SHARD_SCHEMAS

__all__ = [
    "CATALOG_TABLES", "MODEL_TABLES", "TABLES_DDL", "sql_type", "quote", "literal", "comment", "comment_columns", "registered_shards",
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
    "runs", "failures", "shards", "clips", "training_runs", "evaluations", "event_labels", "quarantine", "catalog_meta",
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
    PRIMARY KEY (checkpoint_sha256, data_snapshot, task, metric)
);
"""


_COMMENTS = {
    "runs": "One row per curation run (from ROOT/runs/<run_id>.json).",
    "failures": "What failed in a run; clip_id is null when the whole source failed.",
    "shards": "One row per registered shard (clip): key, manifest URL, rows per table, files.",
    "clips": "The clips row of every registered shard: source frames [start_frame, stop_frame).",
    "event_labels": "Event labels imported from other datasets (SoccerNet-v2 Labels-v2.json): match, half, seconds into the source video, label.",
    "training_runs": "One row per model training run: data query and snapshot, resolved config, code version, checkpoint, losses.",
    "evaluations": "One row per checkpoint, data snapshot, task and metric (value null when the data has no such labels).",
    "quarantine": "Shards left out of the views because a file failed its check (size or sha256 against the manifest, schema): which file, why, when.",
    "catalog_meta": "Where the catalog's files are: the shards root (relative to the catalog's folder when local), ground-truth files.",
    "frames": "One row per curated frame of the registered shards.",
    "athletes": "One row per tracked athlete per frame; xyxy source pixels, pitch metres, tracklet consensus labels.",
    "ball": "One row per curated frame; box null when the ball was not detected.",
    "cameras": "One row per curated frame: homography (9 floats, row-major, pitch metres -> source pixels) and intrinsics.",
    "events": "Clip boundaries, shot cuts and other per-frame events.",
    "tracks": "One row per tracklet (match_id, clip_id, track_id): span, consensus labels, agreements, mean confidence and pitch position.",
    "quality": "Per clip: frames, athletes per frame, tracks, calibration, reprojection error, label agreement, jersey coverage, ball detection, failures.",
    "quality_match": "The quality view rolled up per match (computed from the rows, not by averaging clips).",
    "track_flags": "One row per track (match_id, clip_id, track_id): the shard's flags and reasons plus flags derived in SQL "
    "(short, off-pitch, duplicate); flags is null when the track has none, reason says why for each flag.",
    "truth_matches": "Where ground truth exists: per frame, curated athlete rows matched one to one to true visible boxes "
    "(greedy by IoU >= 0.5); status matched / false_positive (curated, no truth) / missed (truth, no curated row). "
    "Joined on (match_id, frame_index): curated and true clip ids differ.",
    "truth_team_map": "Per curated clip: which true team (left / right: the half defended at kick-off) curated teams A and B "
    "are, by the reading most matched rows agree with; and the per-match reading.",
    "truth_tracks": "Per curated track: the true athlete most of its matched rows belong to, purity, and whether role, team "
    "(through truth_team_map) and the voted jersey equal the truth.",
    "truth_cameras": "Per curated frame with a true camera: valid_camera, curated and true view, and the mean distance in px "
    "between curated and true homography projections of a pitch grid (valid curated cameras only).",
    "truth_camera_refusals": "Refused curated cameras (valid_camera false) per clip, true view and reason (numbers replaced by N).",
    "truth_quality": "Per curated clip graded by ground truth: detection recall/precision (rows), identity, role, team and jersey "
    "accuracy per track, position error (m), camera error (px), valid cameras per true view, refusal reasons.",
    "truth_quality_match": "truth_quality per match, from the rows; team accuracy through the per-match team mapping.",
}

#: Column comments of the views whose columns are not the shard's own (read them in
#: ``duckdb_columns().comment``).
_COLUMN_COMMENTS: dict[str, dict[str, str]] = {
    "track_flags": {
        "span_s": "Seconds from the first to the last frame of the track (source frames / clips.fps).",
        "role": "The track's most common role.",
        "team": "The track's most common team letter.",
        "n_positioned_rows": "Rows with a pitch position.",
        "off_pitch_share": "Share of positioned rows whose feet are more than 2 m + 2 pitch_sigma_m outside the 105 x 68 m pitch.",
        "duplicate_of": "The other track of the clip overlapping this one at IoU >= 0.8 on the most frames.",
        "n_duplicate_rows": "Frames on which duplicate_of overlaps this track at IoU >= 0.8.",
        "shard_flags": "Flags the curation wrote on the track's rows (comma-separated, sorted); null when none.",
        "derived_flags": "Flags derived here: short (spans under 1 s), off-pitch (off_pitch_share > 0.5), duplicate (n_duplicate_rows >= half the rows).",
        "flags": "Union of shard_flags and derived_flags (comma-separated, sorted); null when none.",
        "reason": "The shard's flag reasons and one clause per derived flag, with the evidence; null when no flag.",
    },
    "truth_matches": {
        "clip_id": "The curated clip (the one holding the frame, for missed rows).",
        "status": "matched, false_positive (curated row with no true box) or missed (true box with no curated row).",
        "gt_clip_id": "The ground truth's own clip id (differs from the curated one).",
        "gt_track_id": "The true athlete's track id (within gt_clip_id).",
        "iou": "IoU of the curated box (x1..y2) and the true visible box (gt_x1..gt_y2); null unless matched.",
        "gt_team": "The true team: left / right, the half it defends at kick-off; null for referees and staff.",
        "gt_jersey_legible": "Whether the true number is legible in this frame.",
        "position_error_m": "Distance in metres between curated and true pitch positions; null when either is missing.",
    },
    "truth_team_map": {
        "a_is": "The true team (left / right) curated team A is in this clip.",
        "b_is": "The true team curated team B is in this clip.",
        "n_rows_agreeing": "Matched rows with a team on both sides that agree with the mapping.",
        "n_rows": "Matched rows with a curated team A/B and a true team left/right.",
        "agreement": "n_rows_agreeing / n_rows.",
        "match_a_is": "The true team A is over all clips of the match.",
        "match_b_is": "The true team B is over all clips of the match.",
        "consistent_with_match": "The clip's mapping equals the match's.",
    },
    "truth_tracks": {
        "n_rows": "Curated rows of the track in frames with ground truth.",
        "n_matched_rows": "Rows matched to a true box.",
        "gt_track_id": "The true athlete most matched rows belong to; null when no row matched.",
        "n_rows_on_gt_track": "Matched rows on gt_track_id.",
        "purity": "n_rows_on_gt_track / n_matched_rows.",
        "matched_share": "n_matched_rows / n_rows.",
        "team_as_gt": "The curated team translated to left / right through the clip's truth_team_map row.",
        "match_team_as_gt": "The curated team translated through the match's mapping.",
        "gt_jersey_legible": "The true number is legible on at least one matched frame of the track.",
        "role_correct": "role equals the true athlete's; null when the track matched nobody.",
        "team_correct": "team_as_gt equals the true team (null = null is right: referees); null when the track matched nobody.",
        "match_team_correct": "As team_correct, through the match's mapping.",
        "jersey_correct": "The voted jersey equals the true number; null without a voted number or a match.",
    },
    "truth_cameras": {
        "view": "The curated view of the frame.",
        "gt_view": "The true view (main / zoomed / close-up); null when the ground truth has none.",
        "camera_error_px": "Mean distance between curated and true projections of the pitch grid points the true camera sees "
        "(15 x 11 points, 7.5 x 6.8 m apart); a point the curated camera puts behind it or beyond the image diagonal counts "
        "as one diagonal. Null for invalid curated cameras or when no grid point is in view.",
        "n_grid_points": "Grid points averaged in camera_error_px.",
    },
    "truth_camera_refusals": {
        "reason": "invalid_reason with every number replaced by N.",
        "n_frames": "Refused frames with this reason.",
        "example": "One full invalid_reason of them.",
    },
}
_QUALITY_COLUMNS = {
    "n_clips": "Curated clips of the match with ground truth.",
    "n_rows": "Curated athlete rows in frames with ground truth.",
    "n_gt_rows": "True visible athlete rows in the curated frames.",
    "n_matched_rows": "Rows matched one to one at IoU >= 0.5.",
    "detection_recall": "n_matched_rows / n_gt_rows.",
    "detection_precision": "n_matched_rows / n_rows.",
    "n_tracks": "Curated tracks (per clip).",
    "n_gt_athletes": "True athletes seen (per clip).",
    "tracks_per_athlete": "n_tracks / n_gt_athletes.",
    "ids_per_athlete": "Mean number of curated tracks matched to one true athlete in a clip (1 is ideal).",
    "main_track_coverage": "Share of true athletes' rows covered by their main curated track (the one with most of their matched rows).",
    "n_matched_tracks": "Curated tracks matched to a true athlete.",
    "role_accuracy": "Share of matched tracks whose role equals the truth.",
    "referee_recall": "Share of tracks of true referees voted referee.",
    "referee_precision": "Share of matched tracks voted referee that are referees.",
    "goalkeeper_recall": "Share of tracks of true goalkeepers voted goalkeeper.",
    "goalkeeper_precision": "Share of matched tracks voted goalkeeper that are goalkeepers.",
    "other_as_player_tracks": "Tracks of true off-pitch people (role other) voted player or goalkeeper.",
    "team_accuracy": "Share of matched tracks of athletes with a true team whose team maps to it (truth_team_map).",
    "team_map_consistent": "Every clip's team mapping equals the match's.",
    "jersey_precision": "Voted numbers that are right / voted numbers, over matched tracks.",
    "jersey_coverage": "Tracks with a voted number / tracks whose true number is legible on a matched frame.",
    "n_positioned_rows": "Matched rows with both pitch positions.",
    "position_error_median_m": "Median distance between curated and true pitch positions (m).",
    "position_error_p90_m": "90th percentile of that distance (m).",
    "n_camera_frames": "Curated frames with a true camera.",
    "calibrated_fraction": "Share of those frames with a valid curated camera.",
    "camera_error_mean_px": "Mean of truth_cameras.camera_error_px over valid curated cameras.",
    "camera_error_median_px": "Median of it.",
    "valid_camera_share_main": "Share of frames whose true view is main with a valid curated camera.",
    "valid_camera_share_zoomed": "The same for zoomed frames.",
    "valid_camera_share_close_up": "The same for close-up frames (should read 0).",
    "valid_camera_share_other": "The same for other frames.",
    "n_refused_frames": "Frames with a refused curated camera.",
    "refusal_reasons": "Refusal reason (numbers as N) -> frames, most frequent first.",
}
_COLUMN_COMMENTS["truth_quality"] = {k: v for k, v in _QUALITY_COLUMNS.items() if k not in ("team_map_consistent", "n_clips")}
_COLUMN_COMMENTS["truth_quality_match"] = {
    **_QUALITY_COLUMNS, "team_accuracy": "As in truth_quality, through the match's team mapping (letters must mean one kit per match).",
}


def comment(connection: duckdb.DuckDBPyConnection, kind: str, name: str) -> None:
    """Set the comment of table or view ``name`` (``kind``: "TABLE" or "VIEW") from ``_COMMENTS``."""
    connection.execute(f"COMMENT ON {kind} {name} IS {literal(_COMMENTS[name])}")


def comment_columns(connection: duckdb.DuckDBPyConnection, view: str) -> None:
    """Comment the columns of ``view`` listed in ``_COLUMN_COMMENTS`` (none for other views)."""
    for column, text in _COLUMN_COMMENTS.get(view, {}).items():
        connection.execute(f"COMMENT ON COLUMN {view}.{quote(column)} IS {literal(text)}")


def registered_shards(connection: duckdb.DuckDBPyConnection, locator: Locator) -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """(match_id, clip_id, shard_key, manifest URL to read, files) of every registered shard."""
    rows = connection.execute("SELECT match_id, clip_id, shard_key, manifest_url, files FROM shards ORDER BY match_id, clip_id").fetchall()
    return [(m, c, k, locator.resolve(url), json.loads(files)) for m, c, k, url, files in rows]
