"""Views that grade the curated labels against ground truth, in plain SQL.

Where ground truth is catalogued (``gt_athletes``, ``gt_cameras``: the renderer's ``gt/*.parquet``
or imported labels, see ``storage/groundtruth.py``) the ``truth_*`` views compare every curated
field with it, per row, per track, per clip and per match; without ``gt_athletes`` they do not
exist. (``track_flags``, in ``storage/views.py``, needs no truth.)

Join keys. Curated rows and ground truth join on ``(match_id, frame_index)``: both carry the
source video's frame index, and the curate flow takes match ids from the sources manifest (the
demo and bench map ``synth-N/video.mp4`` to ``synth-N``, the renderer's match id), but it names
clips ``<source>-<start>-<stop>`` while the renderer names its one clip ``synth-N-clip0``, so clip
ids never match. A truth row is graded under the curated clip holding its frame (``frames``), and
only frames that have ground truth (a ``gt_cameras`` or ``gt_athletes`` row) are graded: real
footage in the same catalog is left out, not counted as all false positives.

Matching. Per frame, curated boxes (``athletes`` x1..y2) and true visible boxes are matched one
to one by IoU >= ``MATCH_IOU``, greedily by descending IoU. The greedy matching is computed
exactly by a recursive CTE: each round keeps the pairs that are each other's best (highest IoU,
ties by row order) among the pairs still open, then drops the pairs that touch a matched row;
the globally best open pair is always mutual, so every round matches one pair at least, and a
pair mutual in some round is one greedy would take.

Curated team letters A/B are mapped onto the truth's left/right (the half a team defends at
kick-off) per clip by the mapping most matched rows with a team on both sides agree with (``truth_team_map``); the
per-match mapping (all clips of the match together) grades ``truth_quality_match``, so team letters
that change meaning between clips of one match show as team errors there.

Teams refused. A curated track with no team (the curation refused one: evidence too weak, or it
was given a role without a team) counts as wrong in ``team_accuracy``, which so measures labels
that are there and right. Refusing is what the curation should do when it cannot tell, so the
quality views also say the two apart: ``team_accuracy_decided`` grades only the tracks that carry
a team (how far a team label can be trusted) and ``team_refused_share`` is the share of matched
tracks of athletes with a true team that carry none (what refusing costs in coverage).
"""

from __future__ import annotations

import logging

import duckdb

from soccerfactory.storage.catalog_sql import comment, comment_columns

__all__ = ["TRUTH_VIEWS", "MATCH_IOU", "truth_views_sql", "create_truth_views", "drop_truth_views", "iou_sql", "overlap_sql"]

log = logging.getLogger(__name__)

#: In creation order (each reads the ones before it).
TRUTH_VIEWS: tuple[str, ...] = (
    "truth_matches", "truth_team_map", "truth_tracks", "truth_cameras", "truth_camera_refusals", "truth_quality", "truth_quality_match",
)

#: The IoU a curated box needs with a true box to be the same person: the usual detection
#: threshold (COCO AP50, MOTA, HOTA's base), so recall/precision here read like those.
MATCH_IOU = 0.5

# Columns the truth views need, and the ones they read when present (typed NULL otherwise: imported
# labels may have no jersey or legibility, and the renderer's ``gt_cameras.view`` is recent).
_GT_ATHLETES_REQUIRED = ("match_id", "frame_index", "track_id", "x1", "y1", "x2", "y2")
_GT_ATHLETES_OPTIONAL = {
    "clip_id": "VARCHAR", "role": "VARCHAR", "team": "VARCHAR", "jersey": "INTEGER", "jersey_legible": "BOOLEAN",
    "pitch_x": "DOUBLE", "pitch_y": "DOUBLE",
}
_GT_CAMERAS_REQUIRED = ("match_id", "frame_index", "homography")
_CURATED_VIEWS = ("athletes", "frames", "cameras")  # and the clips table


def _optional(alias: str, columns: set[str], name: str, sql_type: str) -> str:
    return f"CAST({alias}.{name} AS {sql_type})" if name in columns else f"CAST(NULL AS {sql_type})"


def iou_sql(a: str, b: str) -> str:
    """IoU of xyxy boxes ``a`` and ``b`` (aliases), for pairs already known to overlap."""
    inter = (
        f"((least({a}.x2, {b}.x2) - greatest({a}.x1, {b}.x1))::DOUBLE * (least({a}.y2, {b}.y2) - greatest({a}.y1, {b}.y1)))"
    )
    areas = f"(({a}.x2 - {a}.x1)::DOUBLE * ({a}.y2 - {a}.y1) + ({b}.x2 - {b}.x1)::DOUBLE * ({b}.y2 - {b}.y1))"
    return f"{inter} / nullif({areas} - {inter}, 0)"


def overlap_sql(a: str, b: str) -> str:
    """The join condition that boxes ``a`` and ``b`` overlap (exclusive right/bottom edges): it
    lets DuckDB drop most pairs of a frame before computing any IoU."""
    return f"{a}.x1 < {b}.x2 AND {b}.x1 < {a}.x2 AND {a}.y1 < {b}.y2 AND {b}.y1 < {a}.y2"


# ---------------------------------------------------------------------------------------------
# The truth views


def _matches_sql(gt: set[str], has_gt_cameras: bool) -> str:
    g = {name: _optional("g", gt, name, sql_type) for name, sql_type in _GT_ATHLETES_OPTIONAL.items()}
    # Frames with ground truth: every frame has a gt_cameras row; without that table, a gt_athletes row.
    gt_frames = "SELECT match_id, frame_index FROM gt_athletes"
    if has_gt_cameras:
        gt_frames = "SELECT match_id, frame_index FROM gt_cameras UNION " + gt_frames
    return f"""
CREATE OR REPLACE VIEW truth_matches AS
WITH RECURSIVE graded_frames AS MATERIALIZED (
    SELECT DISTINCT f.match_id, f.clip_id, f.frame_index
    FROM frames f SEMI JOIN ({gt_frames}) t ON f.match_id = t.match_id AND f.frame_index = t.frame_index
), curated AS MATERIALIZED (
    SELECT
        row_number() OVER (ORDER BY a.match_id, a.clip_id, a.frame_index, a.track_id, a.tracklet_id, a.x1, a.y1) AS curated_row,
        a.match_id, a.clip_id, a.frame_index, a.track_id, a.tracklet_id, a.x1, a.y1, a.x2, a.y2,
        a.role, a.team, a.jersey, a.pitch_x, a.pitch_y
    FROM athletes a SEMI JOIN graded_frames f USING (match_id, clip_id, frame_index)
), truth AS MATERIALIZED (
    SELECT
        row_number() OVER (ORDER BY f.match_id, f.clip_id, f.frame_index, g.gt_clip_id, g.track_id) AS truth_row,
        f.clip_id, g.*
    FROM (
        SELECT
            g.match_id, {g["clip_id"]} AS gt_clip_id, g.frame_index, g.track_id, g.x1, g.y1, g.x2, g.y2,
            {g["role"]} AS role, {g["team"]} AS team, {g["jersey"]} AS jersey, {g["jersey_legible"]} AS jersey_legible,
            {g["pitch_x"]} AS pitch_x, {g["pitch_y"]} AS pitch_y
        FROM gt_athletes g
        WHERE g.x1 IS NOT NULL AND g.y1 IS NOT NULL AND g.x2 > g.x1 AND g.y2 > g.y1
    ) g
    JOIN graded_frames f ON f.match_id = g.match_id AND f.frame_index = g.frame_index
), pairs AS (
    SELECT curated_row, truth_row, iou
    FROM (
        SELECT c.curated_row, t.truth_row, {iou_sql("c", "t")} AS iou
        FROM curated c JOIN truth t
          ON c.match_id = t.match_id AND c.clip_id = t.clip_id AND c.frame_index = t.frame_index AND {overlap_sql("c", "t")}
    )
    WHERE iou >= {MATCH_IOU}
), greedy(curated_row, truth_row, iou, matched) AS (
    SELECT curated_row, truth_row, iou, false FROM pairs
    UNION ALL
    -- one round: match the mutual best of the open pairs, keep open the pairs touching neither
    SELECT curated_row, truth_row, iou, mutual
    FROM (
        SELECT
            *,
            bool_or(mutual) OVER (PARTITION BY curated_row) AS curated_taken,
            bool_or(mutual) OVER (PARTITION BY truth_row) AS truth_taken
        FROM (
            SELECT
                curated_row, truth_row, iou,
                row_number() OVER (PARTITION BY curated_row ORDER BY iou DESC, truth_row) = 1
                AND row_number() OVER (PARTITION BY truth_row ORDER BY iou DESC, curated_row) = 1 AS mutual
            FROM greedy WHERE NOT matched
        )
    )
    WHERE mutual OR NOT (curated_taken OR truth_taken)
)
SELECT
    coalesce(c.match_id, t.match_id) AS match_id,
    coalesce(c.clip_id, t.clip_id) AS clip_id,
    coalesce(c.frame_index, t.frame_index) AS frame_index,
    CASE WHEN m.truth_row IS NOT NULL THEN 'matched' WHEN c.curated_row IS NOT NULL THEN 'false_positive' ELSE 'missed' END AS status,
    c.track_id, c.tracklet_id, t.gt_clip_id, t.track_id AS gt_track_id, m.iou,
    c.role, t.role AS gt_role, c.team, t.team AS gt_team, c.jersey, t.jersey AS gt_jersey, t.jersey_legible AS gt_jersey_legible,
    c.pitch_x, c.pitch_y, t.pitch_x AS gt_pitch_x, t.pitch_y AS gt_pitch_y,
    sqrt(pow(c.pitch_x - t.pitch_x, 2) + pow(c.pitch_y - t.pitch_y, 2)) AS position_error_m,
    c.x1, c.y1, c.x2, c.y2, t.x1 AS gt_x1, t.y1 AS gt_y1, t.x2 AS gt_x2, t.y2 AS gt_y2
FROM curated c
LEFT JOIN (SELECT curated_row, truth_row, iou FROM greedy WHERE matched) m ON m.curated_row = c.curated_row
FULL JOIN truth t ON t.truth_row = m.truth_row
"""


def _team_map_sql(source: str) -> str:
    """SELECT of the team mapping rows from ``source`` (truth_matches rows): shared by
    ``truth_team_map`` and ``truth_tracks``, which reads it off its own rows so the matching runs once."""
    return f"""
WITH votes AS (
    SELECT
        match_id, clip_id,
        count(*) FILTER (WHERE (team = 'A' AND gt_team = 'left') OR (team = 'B' AND gt_team = 'right')) AS n_direct,
        count(*) FILTER (WHERE (team = 'A' AND gt_team = 'right') OR (team = 'B' AND gt_team = 'left')) AS n_swapped
    FROM {source}
    WHERE status = 'matched' AND team IN ('A', 'B') AND gt_team IN ('left', 'right')
    GROUP BY match_id, clip_id
), per_match AS (
    SELECT match_id, sum(n_direct) AS match_direct, sum(n_swapped) AS match_swapped FROM votes GROUP BY match_id
)
SELECT
    match_id, clip_id,
    -- a tie keeps the direct reading (A = left); n_rows_agreeing = n_rows / 2 shows it
    CASE WHEN n_direct >= n_swapped THEN 'left' ELSE 'right' END AS a_is,
    CASE WHEN n_direct >= n_swapped THEN 'right' ELSE 'left' END AS b_is,
    greatest(n_direct, n_swapped) AS n_rows_agreeing,
    n_direct + n_swapped AS n_rows,
    greatest(n_direct, n_swapped) / (n_direct + n_swapped) AS agreement,
    CASE WHEN match_direct >= match_swapped THEN 'left' ELSE 'right' END AS match_a_is,
    CASE WHEN match_direct >= match_swapped THEN 'right' ELSE 'left' END AS match_b_is,
    (n_direct >= n_swapped) = (match_direct >= match_swapped) AS consistent_with_match
FROM votes JOIN per_match USING (match_id)
"""


_TEAM_MAP_SQL = f"CREATE OR REPLACE VIEW truth_team_map AS{_team_map_sql('truth_matches')}ORDER BY match_id, clip_id\n"


_TRACKS_SQL = f"""
CREATE OR REPLACE VIEW truth_tracks AS
WITH track_rows AS MATERIALIZED (
    SELECT * FROM truth_matches WHERE track_id IS NOT NULL
), team_map AS ({_team_map_sql("track_rows")}), curated AS (
    SELECT
        match_id, clip_id, track_id,
        count(*) AS n_rows,
        count(*) FILTER (WHERE status = 'matched') AS n_matched_rows,
        min(frame_index) AS first_frame,
        max(frame_index) AS last_frame,
        mode(role) AS role,
        mode(team) AS team,
        mode(jersey) AS jersey
    FROM track_rows GROUP BY match_id, clip_id, track_id
), main_truth AS (
    -- the true athlete most of the track's matched rows belong to
    SELECT
        match_id, clip_id, track_id, gt_clip_id, gt_track_id,
        count(*) AS n_rows_on_gt_track,
        mode(gt_role) AS gt_role,
        mode(gt_team) AS gt_team,
        mode(gt_jersey) AS gt_jersey,
        coalesce(bool_or(gt_jersey_legible), false) AS gt_jersey_legible
    FROM track_rows WHERE status = 'matched'
    GROUP BY match_id, clip_id, track_id, gt_clip_id, gt_track_id
    QUALIFY row_number() OVER (PARTITION BY match_id, clip_id, track_id ORDER BY count(*) DESC, gt_clip_id, gt_track_id) = 1
), joined AS (
    SELECT
        c.*, o.gt_clip_id, o.gt_track_id, o.n_rows_on_gt_track, o.gt_role, o.gt_team, o.gt_jersey, o.gt_jersey_legible,
        CASE c.team WHEN 'A' THEN m.a_is WHEN 'B' THEN m.b_is END AS team_as_gt,
        CASE c.team WHEN 'A' THEN m.match_a_is WHEN 'B' THEN m.match_b_is END AS match_team_as_gt
    FROM curated c
    LEFT JOIN main_truth o USING (match_id, clip_id, track_id)
    LEFT JOIN team_map m USING (match_id, clip_id)
)
SELECT
    match_id, clip_id, track_id, n_rows, n_matched_rows, first_frame, last_frame,
    gt_clip_id, gt_track_id, n_rows_on_gt_track,
    n_rows_on_gt_track / nullif(n_matched_rows, 0) AS purity,
    n_matched_rows / n_rows AS matched_share,
    role, gt_role, team, team_as_gt, match_team_as_gt, gt_team, jersey, gt_jersey, gt_jersey_legible,
    CASE WHEN gt_track_id IS NOT NULL THEN role IS NOT DISTINCT FROM gt_role END AS role_correct,
    CASE WHEN gt_track_id IS NOT NULL THEN team_as_gt IS NOT DISTINCT FROM gt_team END AS team_correct,
    CASE WHEN gt_track_id IS NOT NULL THEN match_team_as_gt IS NOT DISTINCT FROM gt_team END AS match_team_correct,
    CASE WHEN gt_track_id IS NOT NULL AND jersey IS NOT NULL THEN coalesce(jersey = gt_jersey, false) END AS jersey_correct
FROM joined
ORDER BY match_id, clip_id, track_id
"""

# Pitch points whose projections the two homographies are compared at: every 7.5 m along the
# length and 6.8 m across (15 x 11 = 165 points), so a zoomed view still holds several.
_GRID = "(SELECT -52.5 + 7.5 * i AS px, -34.0 + 6.8 * j AS py FROM range(15) a(i), range(11) b(j))"
_EMPTY_CAMERAS = """
CREATE OR REPLACE VIEW truth_cameras AS
SELECT
    CAST(NULL AS VARCHAR) AS match_id, CAST(NULL AS VARCHAR) AS clip_id, CAST(NULL AS BIGINT) AS frame_index,
    CAST(NULL AS BOOLEAN) AS valid_camera, CAST(NULL AS VARCHAR) AS view, CAST(NULL AS VARCHAR) AS gt_view,
    CAST(NULL AS VARCHAR) AS invalid_reason, CAST(NULL AS FLOAT) AS reprojection_error_px,
    CAST(NULL AS DOUBLE) AS camera_error_px, CAST(0 AS BIGINT) AS n_grid_points
WHERE false
"""


def _cameras_sql(gt_cameras: set[str] | None) -> str:
    if gt_cameras is None:
        return _EMPTY_CAMERAS

    def project(h: str, coordinate: int) -> str:
        offset = 3 * coordinate
        return f"({h}[{offset + 1}] * px + {h}[{offset + 2}] * py + {h}[{offset + 3}])"

    gu, gv, gw = (project("gh", k) for k in range(3))
    cu, cv, cw = (project("h", k) for k in range(3))
    gt_view = _optional("g", gt_cameras, "view", "VARCHAR")
    # A point the curated camera puts behind itself, or further off than the image diagonal, counts
    # as one diagonal: a full miss, without one near-infinite projection swamping the mean.
    return f"""
CREATE OR REPLACE VIEW truth_cameras AS
WITH truth AS (
    SELECT g.match_id, g.frame_index, CAST(g.homography AS DOUBLE[]) AS gh, {gt_view} AS gt_view
    FROM gt_cameras g
    QUALIFY row_number() OVER (PARTITION BY g.match_id, g.frame_index ORDER BY g.clip_id) = 1
), cams AS MATERIALIZED (
    SELECT
        c.match_id, c.clip_id, c.frame_index, c.valid_camera, c.view, t.gt_view, c.invalid_reason, c.reprojection_error_px,
        CAST(c.homography AS DOUBLE[]) AS h, t.gh, f.width, f.height,
        sqrt(pow(f.width, 2) + pow(f.height, 2)) AS diagonal
    FROM cameras c
    JOIN truth t ON t.match_id = c.match_id AND t.frame_index = c.frame_index
    LEFT JOIN frames f ON f.match_id = c.match_id AND f.clip_id = c.clip_id AND f.frame_index = c.frame_index
), points AS (
    SELECT match_id, clip_id, frame_index, diagonal,
        {gu} / {gw} AS gu, {gv} / {gw} AS gv, {gw} AS gw, width, height,
        CASE WHEN {cw} > 0 THEN {cu} / {cw} END AS cu,
        CASE WHEN {cw} > 0 THEN {cv} / {cw} END AS cv
    FROM cams, {_GRID}
    WHERE valid_camera AND len(h) = 9 AND len(gh) = 9
), errors AS (
    SELECT
        match_id, clip_id, frame_index,
        count(*) AS n_grid_points,
        avg(coalesce(least(sqrt(pow(cu - gu, 2) + pow(cv - gv, 2)), diagonal), diagonal)) AS camera_error_px
    FROM points
    WHERE gw > 0 AND gu >= 0 AND gu < width AND gv >= 0 AND gv < height
    GROUP BY match_id, clip_id, frame_index
)
SELECT
    c.match_id, c.clip_id, c.frame_index, c.valid_camera, c.view, c.gt_view, c.invalid_reason, c.reprojection_error_px,
    e.camera_error_px, coalesce(e.n_grid_points, 0) AS n_grid_points
FROM cams c LEFT JOIN errors e USING (match_id, clip_id, frame_index)
"""


_REFUSALS_SQL = """
CREATE OR REPLACE VIEW truth_camera_refusals AS
SELECT
    match_id, clip_id, gt_view,
    -- numbers out, so "too few keypoints (1, need 4)" and "(2, need 4)" count as one reason
    coalesce(regexp_replace(invalid_reason, '[0-9]+([.][0-9]+)?', 'N', 'g'), '(no reason given)') AS reason,
    count(*) AS n_frames,
    min(invalid_reason) AS example
FROM truth_cameras
WHERE NOT valid_camera
GROUP BY ALL
ORDER BY match_id, clip_id, n_frames DESC, reason
"""


def _quality_sql(view: str, keys: tuple[str, ...]) -> str:
    group = ", ".join(keys)
    team_correct = "team_correct" if "clip_id" in keys else "match_team_correct"
    consistency = "" if "clip_id" in keys else (
        ", consistency AS (\n    SELECT match_id, bool_and(consistent_with_match) AS team_map_consistent\n"
        f"    FROM ({_team_map_sql('matches')}) GROUP BY match_id\n)"
    )
    consistency_columns = "" if "clip_id" in keys else "\n    consistency.team_map_consistent,"
    clip_count = "" if "clip_id" in keys else "\n    graded.n_clips,"
    consistency_join = "" if "clip_id" in keys else f"\nLEFT JOIN consistency USING ({group})"
    view_shares = ",\n        ".join(
        f"avg(valid_camera::DOUBLE) FILTER (WHERE gt_view = '{name}') AS valid_camera_share_{name.replace('-', '_')}"
        for name in ("main", "zoomed", "close-up", "other")
    )
    return f"""
CREATE OR REPLACE VIEW {view} AS
WITH matches AS MATERIALIZED (
    SELECT * FROM truth_matches
), graded AS (
    SELECT {group}, count(DISTINCT clip_id) AS n_clips
    FROM (SELECT match_id, clip_id FROM matches UNION SELECT match_id, clip_id FROM truth_cameras)
    GROUP BY {group}
), detection AS (
    SELECT
        {group},
        count(*) FILTER (WHERE status <> 'missed') AS n_rows,
        count(*) FILTER (WHERE status <> 'false_positive') AS n_gt_rows,
        count(*) FILTER (WHERE status = 'matched') AS n_matched_rows,
        count(position_error_m) AS n_positioned_rows,
        median(position_error_m) AS position_error_median_m,
        quantile_cont(position_error_m, 0.9) AS position_error_p90_m
    FROM matches GROUP BY {group}
), on_athlete AS (
    -- per clip, true athlete and curated track (null: the athlete's missed rows)
    SELECT match_id, clip_id, gt_clip_id, gt_track_id, track_id, count(*) AS n
    FROM matches WHERE status <> 'false_positive'
    GROUP BY match_id, clip_id, gt_clip_id, gt_track_id, track_id
), per_athlete AS (
    SELECT
        match_id, clip_id, gt_clip_id, gt_track_id,
        sum(n) AS n_gt_rows,
        count(track_id) AS n_ids,
        coalesce(max(n) FILTER (WHERE track_id IS NOT NULL), 0) AS n_main_track_rows
    FROM on_athlete GROUP BY match_id, clip_id, gt_clip_id, gt_track_id
), identity AS (
    SELECT
        {group},
        count(*) AS n_gt_athletes,
        avg(n_ids) FILTER (WHERE n_ids > 0) AS ids_per_athlete,
        sum(n_main_track_rows) / nullif(sum(n_gt_rows), 0) AS main_track_coverage
    FROM per_athlete GROUP BY {group}
), labels AS (
    SELECT
        {group},
        count(*) AS n_tracks,
        count(gt_track_id) AS n_matched_tracks,
        avg(role_correct::DOUBLE) AS role_accuracy,
        avg((role = 'referee')::DOUBLE) FILTER (WHERE gt_role = 'referee') AS referee_recall,
        avg((gt_role = 'referee')::DOUBLE) FILTER (WHERE role = 'referee' AND gt_track_id IS NOT NULL) AS referee_precision,
        avg((role = 'goalkeeper')::DOUBLE) FILTER (WHERE gt_role = 'goalkeeper') AS goalkeeper_recall,
        avg((gt_role = 'goalkeeper')::DOUBLE) FILTER (WHERE role = 'goalkeeper' AND gt_track_id IS NOT NULL) AS goalkeeper_precision,
        count(*) FILTER (WHERE gt_role = 'other' AND role IN ('player', 'goalkeeper')) AS other_as_player_tracks,
        avg({team_correct}::DOUBLE) FILTER (WHERE gt_team IS NOT NULL) AS team_accuracy,
        avg({team_correct}::DOUBLE) FILTER (WHERE gt_team IS NOT NULL AND team IS NOT NULL) AS team_accuracy_decided,
        avg((team IS NULL)::DOUBLE) FILTER (WHERE gt_team IS NOT NULL AND gt_track_id IS NOT NULL) AS team_refused_share,
        avg(jersey_correct::DOUBLE) AS jersey_precision,
        avg((jersey IS NOT NULL)::DOUBLE) FILTER (WHERE gt_jersey_legible AND gt_jersey IS NOT NULL) AS jersey_coverage
    FROM truth_tracks GROUP BY {group}
), camera AS (
    SELECT
        {group},
        count(*) AS n_camera_frames,
        avg(valid_camera::DOUBLE) AS calibrated_fraction,
        avg(camera_error_px) AS camera_error_mean_px,
        median(camera_error_px) AS camera_error_median_px,
        {view_shares},
        count(*) FILTER (WHERE NOT valid_camera) AS n_refused_frames
    FROM truth_cameras GROUP BY {group}
), refusals AS (
    SELECT {group}, map(list(reason ORDER BY n DESC, reason), list(n ORDER BY n DESC, reason)) AS refusal_reasons
    FROM (SELECT {group}, reason, sum(n_frames)::BIGINT AS n FROM truth_camera_refusals GROUP BY {group}, reason)
    GROUP BY {group}
){consistency}
SELECT
    {group},{clip_count}
    coalesce(detection.n_rows, 0) AS n_rows,
    coalesce(detection.n_gt_rows, 0) AS n_gt_rows,
    coalesce(detection.n_matched_rows, 0) AS n_matched_rows,
    detection.n_matched_rows / nullif(detection.n_gt_rows, 0) AS detection_recall,
    detection.n_matched_rows / nullif(detection.n_rows, 0) AS detection_precision,
    coalesce(labels.n_tracks, 0) AS n_tracks,
    coalesce(identity.n_gt_athletes, 0) AS n_gt_athletes,
    labels.n_tracks / nullif(identity.n_gt_athletes, 0) AS tracks_per_athlete,
    identity.ids_per_athlete,
    identity.main_track_coverage,
    coalesce(labels.n_matched_tracks, 0) AS n_matched_tracks,
    labels.role_accuracy,
    labels.referee_recall,
    labels.referee_precision,
    labels.goalkeeper_recall,
    labels.goalkeeper_precision,
    coalesce(labels.other_as_player_tracks, 0) AS other_as_player_tracks,
    labels.team_accuracy,
    labels.team_accuracy_decided,
    labels.team_refused_share,{consistency_columns}
    labels.jersey_precision,
    labels.jersey_coverage,
    coalesce(detection.n_positioned_rows, 0) AS n_positioned_rows,
    detection.position_error_median_m,
    detection.position_error_p90_m,
    coalesce(camera.n_camera_frames, 0) AS n_camera_frames,
    camera.calibrated_fraction,
    camera.camera_error_mean_px,
    camera.camera_error_median_px,
    camera.valid_camera_share_main,
    camera.valid_camera_share_zoomed,
    camera.valid_camera_share_close_up,
    camera.valid_camera_share_other,
    coalesce(camera.n_refused_frames, 0) AS n_refused_frames,
    refusals.refusal_reasons
FROM graded
LEFT JOIN detection USING ({group})
LEFT JOIN identity USING ({group})
LEFT JOIN labels USING ({group})
LEFT JOIN camera USING ({group})
LEFT JOIN refusals USING ({group}){consistency_join}
ORDER BY {group}
"""


def truth_views_sql(gt_athletes: set[str], gt_cameras: set[str] | None) -> list[tuple[str, str]]:
    """(view, CREATE statement) of every truth view, in ``TRUTH_VIEWS`` order.

    Args:
        gt_athletes: the columns ``gt_athletes`` has (it must have ``_GT_ATHLETES_REQUIRED``).
        gt_cameras: the columns ``gt_cameras`` has, or None without one (``truth_cameras`` is then
            empty and the camera columns of the quality views null).
    """
    statements = {
        "truth_matches": _matches_sql(gt_athletes, gt_cameras is not None),
        "truth_team_map": _TEAM_MAP_SQL,
        "truth_tracks": _TRACKS_SQL,
        "truth_cameras": _cameras_sql(gt_cameras),
        "truth_camera_refusals": _REFUSALS_SQL,
        "truth_quality": _quality_sql("truth_quality", ("match_id", "clip_id")),
        "truth_quality_match": _quality_sql("truth_quality_match", ("match_id",)),
    }
    return [(view, statements[view]) for view in TRUTH_VIEWS]


def drop_truth_views(connection: duckdb.DuckDBPyConnection) -> None:
    """Drop every stored truth view (they are only made where ground truth is catalogued)."""
    for view in reversed(TRUTH_VIEWS):
        connection.execute(f"DROP VIEW IF EXISTS main.{view}")


def _columns(connection: duckdb.DuckDBPyConnection, view: str) -> set[str]:
    return {row[0] for row in connection.execute(f"DESCRIBE {view}").fetchall()}


def create_truth_views(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """(Re)create the truth views, with their comments, where ground truth can grade the shards.

    Made when ``gt_athletes`` exists with ``_GT_ATHLETES_REQUIRED`` and the curated views exist;
    dropped otherwise (a warning names the missing columns or the error). Run outside a
    transaction: a view that fails to bind (a deleted gt folder) must not abort the caller's.

    Returns:
        the views created (``TRUTH_VIEWS``), or [] when there is no truth to grade against.
    """
    present = {name for (name,) in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    if "gt_athletes" not in present or not set(_CURATED_VIEWS) <= present:
        drop_truth_views(connection)
        return []
    try:
        gt_athletes = _columns(connection, "gt_athletes")
        missing = [name for name in _GT_ATHLETES_REQUIRED if name not in gt_athletes]
        if missing:
            log.warning("catalog: no truth views: gt_athletes lacks %s", ", ".join(missing))
            drop_truth_views(connection)
            return []
        gt_cameras = _columns(connection, "gt_cameras") if "gt_cameras" in present else None
        if gt_cameras is not None and not set(_GT_CAMERAS_REQUIRED) <= gt_cameras:
            log.warning("catalog: truth views without cameras: gt_cameras lacks %s", ", ".join(sorted(set(_GT_CAMERAS_REQUIRED) - gt_cameras)))
            gt_cameras = None
        for view, sql in truth_views_sql(gt_athletes, gt_cameras):
            connection.execute(sql)
            comment(connection, "VIEW", view)
            comment_columns(connection, view)
    except duckdb.Error as error:
        # Ground truth is a side dish: unreadable truth must not stop shard registration.
        log.warning("catalog: no truth views: %s", str(error).splitlines()[0])
        drop_truth_views(connection)
        return []
    return list(TRUTH_VIEWS)
