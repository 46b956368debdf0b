"""What the catalog's aggregate and truth views mean: the text of their DuckDB comments.

Pure data beside ``storage/comment_text.py`` (tables and data views; its docstring states the
units and frames every text uses). The views' SQL is in ``storage/views.py`` (``tracks``,
``quality``, ``quality_match``, ``track_flags``) and ``storage/truth_views.py`` (``truth_*``); a
column added there without a line here fails ``tests/storage/test_comments.py``.
"""

from __future__ import annotations

from soccerfactory.storage.comment_text import KEY_COLUMNS

__all__ = ["VIEW_COMMENTS", "VIEW_COLUMNS"]


def _keys(*names: str) -> dict[str, str]:
    return {name: KEY_COLUMNS[name] for name in names}


#: One line per view.
VIEW_COMMENTS: dict[str, str] = {
    "tracks": "One row per track (match_id, clip_id, track_id): span, consensus labels, agreements, mean confidence and pitch position.",
    "quality": "Per clip: frames, athletes per frame, tracks, calibration, reprojection error, label agreement, jersey coverage, "
    "ball detection, failures (self-agreement of the votes, not accuracy: see truth_quality).",
    "quality_match": "The quality view rolled up per match (computed from the rows, not by averaging clips).",
    "track_flags": "One row per track (match_id, clip_id, track_id): the shard's flags and reasons plus flags derived in SQL "
    "(short, off-pitch, duplicate); flags is null when the track has none, reason says why for each flag.",
    "identities": "One row per track (match_id, clip_id, track_id) whose match was linked: its athlete identity across the "
    "shots of the match and the link that joined it to an earlier track (storage/identities.py); empty before any link.",
    "athlete_identities": "The athletes view with each row's identity across shots (null where the match was not linked): "
    "follow one athlete with WHERE match_id = ? AND identity = ?.",
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

_TRACK_SPAN = {
    "first_frame": "First source frame of the track.",
    "last_frame": "Last source frame of the track.",
}

_QUALITY = {
    **_keys("match_id", "clip_id"),
    "n_clips": "Clips of the match.",
    "n_frames": "Curated frames.",
    "n_athlete_rows": "Athlete rows.",
    "athletes_per_frame": "n_athlete_rows / n_frames.",
    "n_tracks": "Tracks (per clip).",
    "calibrated_fraction": "Share of frames with a valid camera.",
    "mean_reprojection_error_px": "Mean reprojection error of the valid cameras, pixels.",
    "median_reprojection_error_px": "Median reprojection error of the valid cameras, pixels.",
    "mean_team_agreement": "Mean over tracks of their team agreement (share of votes agreeing with the consensus).",
    "mean_role_agreement": "Mean over tracks of their role agreement.",
    "mean_jersey_agreement": "Mean over tracks of their jersey agreement.",
    "jersey_coverage": "Share of player and goalkeeper tracks with a voted number.",
    "ball_detected_fraction": "Share of frames in which the detector found the ball.",
    "n_failures": "Failures recorded for the clip's source and clip id (per match: for its sources, whole-source failures included).",
}

_TRUTH_QUALITY = {
    **_keys("match_id", "clip_id"),
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
    "team_accuracy": "Share of matched tracks of athletes with a true team whose team maps to it (truth_team_map); a refused team counts as wrong.",
    "team_accuracy_decided": "team_accuracy over the tracks that carry a team only: how far a team label can be trusted.",
    "team_refused_share": "Share of matched tracks of athletes with a true team that carry no team (refused): what refusing costs in coverage.",
    "team_accuracy_decided": "team_accuracy over the tracks that carry a team: how far a team label can be trusted (refusals left out).",
    "team_refused_share": "Share of matched tracks of athletes with a true team that carry no team (refused, or given a role without one).",
    "team_map_consistent": "Every clip's team mapping equals the match's.",
    "jersey_precision": "Voted numbers that are right / voted numbers, over matched tracks.",
    "jersey_coverage": "Tracks with a voted number / tracks whose true number is legible on a matched frame.",
    "n_positioned_rows": "Matched rows with both pitch positions.",
    "position_error_median_m": "Median distance between curated and true pitch positions, metres.",
    "position_error_p90_m": "90th percentile of that distance, metres.",
    "n_camera_frames": "Curated frames with a true camera.",
    "calibrated_fraction": "Share of those frames with a valid curated camera.",
    "camera_error_mean_px": "Mean of truth_cameras.camera_error_px over valid curated cameras, pixels.",
    "camera_error_median_px": "Median of it, pixels.",
    "valid_camera_share_main": "Share of frames whose true view is main with a valid curated camera.",
    "valid_camera_share_zoomed": "The same for zoomed frames.",
    "valid_camera_share_close_up": "The same for close-up frames (should read 0: no pitch to calibrate on).",
    "valid_camera_share_other": "The same for other frames.",
    "n_refused_frames": "Frames with a refused curated camera.",
    "refusal_reasons": "MAP: refusal reason (numbers as N) -> frames, most frequent first.",
}

#: Column -> meaning, per view, in the view's column order.
VIEW_COLUMNS: dict[str, dict[str, str]] = {
    "tracks": {
        **_keys("match_id", "clip_id"),
        "track_id": "The athlete in the clip (athletes.track_id).",
        **_TRACK_SPAN,
        "start_s": "Source time of the first row, seconds.",
        "end_s": "Source time of the last row, seconds.",
        "n_rows": "Athlete rows of the track.",
        "class": "The track's most common detector class.",
        "team": "The track's most common team letter (A / B); null when none.",
        "role": "The track's most common role.",
        "jersey": "The track's most common voted number; null when none.",
        "team_agreement": "Mean of athletes.team_agreement over its rows.",
        "role_agreement": "Mean of athletes.role_agreement over its rows.",
        "jersey_agreement": "Mean of athletes.jersey_agreement over its rows.",
        "jersey_votes": "Most legible jersey reads of any of its tracklets.",
        "mean_confidence": "Mean detector confidence, 0-1.",
        "mean_pitch_x": "Mean pitch_x over the rows with a position, metres from the centre mark along the touchlines.",
        "mean_pitch_y": "Mean pitch_y over the rows with a position, metres from the centre mark across the pitch.",
    },
    "identities": {
        **_keys("match_id", "clip_id"),
        "track_id": "The athlete in the clip (athletes.track_id).",
        "identity": "The athlete across the match's shots: tracks with one identity are one athlete; unique within the match.",
        "link_kind": "How the track joined its identity: jersey (same team letter and number), goalkeeper (a team's "
        "goalkeeper), position (within a run's reach in pitch space across a cut); null: the identity's first track.",
        "linked_to_clip": "The clip of the track it joined the identity through (usually an earlier shot); null for the first track.",
        "linked_to_track": "The track it joined the identity through (its track_id in linked_to_clip); null for the first track.",
        "link_cost": "The link's cost: distance / gate (0-1) for a position link, 0 for a label link; null when not linked.",
        "link_reason": "The evidence of the link in words (distance, gap, gate, margin over the next best assignment).",
        "linker_version": "The version of the shot linker that computed the identity (identities are recomputed when it changes).",
    },
    "athlete_identities": {
        "identity": "identities.identity of the row's track: one athlete across the match's shots; null where not linked.",
        "link_kind": "identities.link_kind of the row's track.",
        "link_reason": "identities.link_reason of the row's track.",
    },
    "quality": {k: v for k, v in _QUALITY.items() if k != "n_clips"},
    "quality_match": {
        **{k: v for k, v in _QUALITY.items() if k != "clip_id"}, "n_tracks": "Tracks of the match's clips (a track is per clip).",
    },
    "track_flags": {
        **_keys("match_id", "clip_id"),
        "track_id": "The athlete in the clip (athletes.track_id).",
        "n_rows": "Athlete rows of the track.",
        **_TRACK_SPAN,
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
        **_keys("match_id"),
        "clip_id": "The curated clip (the one holding the frame, for missed rows).",
        **_keys("frame_index"),
        "status": "matched, false_positive (curated row with no true box) or missed (true box with no curated row).",
        "track_id": "The curated track (athletes.track_id); null for missed rows.",
        "tracklet_id": "The curated tracklet (athletes.tracklet_id); null for missed rows.",
        "gt_clip_id": "The ground truth's own clip id (differs from the curated one).",
        "gt_track_id": "The true athlete's track id (within gt_clip_id).",
        "iou": "IoU of the curated box (x1..y2) and the true visible box (gt_x1..gt_y2); null unless matched.",
        "role": "Curated role.",
        "gt_role": "True role: player / goalkeeper / referee / other.",
        "team": "Curated team letter (A / B).",
        "gt_team": "The true team: left / right, the half it defends at kick-off; null for referees and staff.",
        "jersey": "Curated voted number.",
        "gt_jersey": "True shirt number.",
        "gt_jersey_legible": "Whether the true number is legible in this frame.",
        "pitch_x": "Curated pitch_x, metres from the centre mark along the touchlines.",
        "pitch_y": "Curated pitch_y, metres from the centre mark across the pitch.",
        "gt_pitch_x": "True pitch_x, metres.",
        "gt_pitch_y": "True pitch_y, metres.",
        "position_error_m": "Distance in metres between curated and true pitch positions; null when either is missing.",
        "x1": "Curated box left edge, source pixels.",
        "y1": "Curated box top edge, source pixels.",
        "x2": "Curated box right edge (exclusive), source pixels.",
        "y2": "Curated box bottom edge (exclusive), source pixels.",
        "gt_x1": "True visible box left edge, source pixels.",
        "gt_y1": "True visible box top edge, source pixels.",
        "gt_x2": "True visible box right edge (exclusive), source pixels.",
        "gt_y2": "True visible box bottom edge (exclusive), source pixels.",
    },
    "truth_team_map": {
        **_keys("match_id", "clip_id"),
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
        **_keys("match_id", "clip_id"),
        "track_id": "The curated track (athletes.track_id).",
        "n_rows": "Curated rows of the track in frames with ground truth.",
        "n_matched_rows": "Rows matched to a true box.",
        **_TRACK_SPAN,
        "gt_clip_id": "The ground truth's clip id of gt_track_id.",
        "gt_track_id": "The true athlete most matched rows belong to; null when no row matched.",
        "n_rows_on_gt_track": "Matched rows on gt_track_id.",
        "purity": "n_rows_on_gt_track / n_matched_rows.",
        "matched_share": "n_matched_rows / n_rows.",
        "role": "The track's most common curated role.",
        "gt_role": "The true athlete's role.",
        "team": "The track's most common curated team letter.",
        "team_as_gt": "The curated team translated to left / right through the clip's truth_team_map row.",
        "match_team_as_gt": "The curated team translated through the match's mapping.",
        "gt_team": "The true athlete's team: left / right; null for referees and other.",
        "jersey": "The track's most common voted number.",
        "gt_jersey": "The true athlete's number.",
        "gt_jersey_legible": "The true number is legible on at least one matched frame of the track.",
        "role_correct": "role equals the true athlete's; null when the track matched nobody.",
        "team_correct": "team_as_gt equals the true team (null = null is right: referees); null when the track matched nobody.",
        "match_team_correct": "As team_correct, through the match's mapping.",
        "jersey_correct": "The voted jersey equals the true number; null without a voted number or a match.",
    },
    "truth_cameras": {
        **_keys("match_id", "clip_id", "frame_index"),
        "valid_camera": "The curated camera was accepted.",
        "view": "The curated view of the frame.",
        "gt_view": "The true view (main / zoomed / close-up); null when the ground truth has none.",
        "invalid_reason": "Why the curated camera was refused; null when valid.",
        "reprojection_error_px": "The curated camera's own reprojection error, pixels.",
        "camera_error_px": "Mean distance between curated and true projections of the pitch grid points the true camera sees "
        "(15 x 11 points, 7.5 x 6.8 m apart); a point the curated camera puts behind it or beyond the image diagonal counts "
        "as one diagonal. Null for invalid curated cameras or when no grid point is in view.",
        "n_grid_points": "Grid points averaged in camera_error_px.",
    },
    "truth_camera_refusals": {
        **_keys("match_id", "clip_id"),
        "gt_view": "The true view of the refused frames.",
        "reason": "invalid_reason with every number replaced by N.",
        "n_frames": "Refused frames with this reason.",
        "example": "One full invalid_reason of them.",
    },
    "truth_quality": {k: v for k, v in _TRUTH_QUALITY.items() if k not in ("team_map_consistent", "n_clips")},
    "truth_quality_match": {
        **{k: v for k, v in _TRUTH_QUALITY.items() if k != "clip_id"},
        "team_accuracy": "As in truth_quality, through the match's team mapping (letters must mean one kit per match).",
        "team_accuracy_decided": "As in truth_quality, through the match's team mapping.",
    },
}
