"""What the catalog's tables and data views mean: the text of their DuckDB comments.

Pure data, read by ``storage/comments.py`` (which applies it to the catalog and renders the README
reference); the aggregate and truth views are in ``storage/comment_text_views.py``. A column added
to a schema or a view without a line here fails ``tests/storage/test_comments.py``.

Conventions every text follows (so a reader can trust them without the code):

* frame_index is the frame's index in the SOURCE video (not in the clip); timestamp_s is source
  time in seconds. Curated and true rows join on (match_id, frame_index).
* Boxes are xyxy in pixels of the full source frame, right/bottom edges exclusive.
* Pitch positions are metres in the SoccerNet world frame: origin at the centre mark, x along the
  touchlines towards the right-hand goal (as seen from the main camera), y across the pitch towards
  the near touchline, z down into the ground; the pitch spans x in [-52.5, 52.5], y in [-34, 34].
"""

from __future__ import annotations

__all__ = ["KEY_COLUMNS", "OBJECT_COMMENTS", "SHARD_COLUMNS", "GROUND_TRUTH_COLUMNS", "TABLE_COLUMNS"]

_PITCH_FRAME = "metres from the centre mark (SoccerNet frame)"

#: The row keys of every per-frame table, curated or true.
KEY_COLUMNS: dict[str, str] = {
    "match_id": "The match: the sources manifest's match id (synthetic renders: synth-N).",
    "clip_id": "The curated clip, named <source>-<start frame>-<stop frame>.",
    "frame_index": "Index of the frame in the source video (not in the clip); joins curated and true rows with match_id.",
    "timestamp_s": "Source-video time of the frame, in seconds.",
}

#: One line per table and view (the COMMENT ON TABLE / VIEW text).
OBJECT_COMMENTS: dict[str, str] = {
    "runs": "One row per curation run (from ROOT/runs/<run_id>.json).",
    "failures": "What failed in a run; clip_id is null when the whole source failed.",
    "shards": "One row per registered shard (clip): key, manifest URL, rows per table, files.",
    "clips": "The clips row of every registered shard: source frames [start_frame, stop_frame), fps, size, view, kits.",
    "event_labels": "Event labels imported from other datasets (SoccerNet-v2 Labels-v2.json): match, half, seconds into the source video, label.",
    "training_runs": "One row per model training run: data query and snapshot, resolved config, code version, checkpoint, losses.",
    "evaluations": "One row per checkpoint, data snapshot, task and metric (value null when the data has no such labels).",
    "quarantine": "Shards left out of the views because a file failed its check (size or sha256 against the manifest, schema): which file, why, when.",
    "catalog_meta": "Where the catalog's files are: the shards root (relative to the catalog's folder when local), ground-truth files.",
    "shard_stats": "One summary row per registered shard, computed from its own Parquet when it is registered: what the quality views add up.",
    "frames": "One row per curated frame of the registered shards.",
    "athletes": "One row per tracked athlete per frame; boxes xyxy in source pixels, pitch positions in metres, tracklet consensus labels.",
    "ball": "One row per curated frame; box null when the ball was neither detected nor interpolated.",
    "cameras": "One row per curated frame: homography (9 floats, row-major, pitch metres -> source pixels) and intrinsics; null when invalid.",
    "events": "Clip boundaries, shot cuts and other per-frame events.",
    "gt_athletes": "Ground truth: one row per athlete per frame where any part of them is visible; box = the visible part (xyxy, source pixels).",
    "gt_ball": "Ground truth: the ball in every frame; box null when it is hidden or out of the image.",
    "gt_cameras": "Ground truth: the exact camera of every frame (close-ups included) and the frame's true view.",
    "gt_keypoints": "Ground truth: every named pitch keypoint in every frame and where it lands in the image.",
    "gt_lines": "Ground truth: points every metre along each named pitch line, kept where they fall inside the image.",
    "gt_events": "Ground truth: ball events (pass, shot, out, goal) at the frame they happen.",
}

_BOX = {
    "x1": "Left edge of the box, source pixels.",
    "y1": "Top edge of the box, source pixels.",
    "x2": "Right edge of the box (exclusive), source pixels.",
    "y2": "Bottom edge of the box (exclusive), source pixels.",
}
_VIEW = "The frame's view: main / zoomed / close-up / other; null when not classified."

#: Curated shard tables (the data views of the same name, and the clips table): column -> meaning.
SHARD_COLUMNS: dict[str, dict[str, str]] = {
    "clips": {
        "source_url": "The source video the clip was cut from.",
        "start_frame": "First source frame of the clip.",
        "stop_frame": "Source frame after the clip's last (exclusive).",
        "start_s": "Source time of start_frame, seconds.",
        "end_s": "Source time of stop_frame, seconds.",
        "fps": "Frames per second of the source video.",
        "width": "Source frame width, pixels.",
        "height": "Source frame height, pixels.",
        "n_frames": "Frames curated (after any stride).",
        "content_hash": "sha256 of the clip's source bytes.",
        "config_hash": "Hash of the resolved curation config that made the shard.",
        "code_version": "Version of the code that made the shard.",
        "shard_key": "The shard's key (content, config and code together); a different key is a different shard.",
        "view": "The shot's view: main / zoomed / close-up / other, the view of most of its frames.",
        "view_reason": "The frame counts that decided view.",
        "team_a_colour": "Team A's shirt colour, #rrggbb (median of its players). A is the darker kit of the first clips of a match; later clips are aligned to it after each run (see the run record's team_alignment). Null when no teams were found.",
        "team_b_colour": "Team B's shirt colour, #rrggbb; null when no teams were found.",
        "team_a_side": "The goal team A defends in this clip: left (pitch x < 0) or right; null when unknown.",
    },
    "frames": {
        "width": "Frame width, pixels.",
        "height": "Frame height, pixels.",
        "n_athletes": "Athlete rows of the frame.",
        "ball_detected": "The detector found the ball in this frame.",
        "semantic_sample": "The frame was sampled for team and jersey attribution.",
        "valid_camera": "A camera was fitted and accepted for this frame (see cameras).",
        "view": _VIEW,
    },
    "athletes": {
        **_BOX,
        "confidence": "Detector confidence of the box, 0-1.",
        "class": "Detector class of the box: player / goalkeeper / referee.",
        "track_id": "One athlete in the clip: tracklets with the same voted team and jersey that are never on screen together are joined.",
        "tracklet_id": "The tracker's own id: one continuous sighting.",
        "team": "Voted team, A or B (one kit across the clips of a match; see clips.team_a_colour); null for referees, other or when undecided.",
        "role": "Tracklet consensus role: player / goalkeeper / referee / other (people off the pitch; never counts as a player).",
        "jersey": "Voted shirt number; null without agreeing legible reads on several frames.",
        "pitch_x": f"Feet position (bottom-centre of the box on the grass) along the touchlines, {_PITCH_FRAME}, + towards the right goal; null without a valid main-view camera.",
        "pitch_y": f"Feet position across the pitch, {_PITCH_FRAME}, + towards the near touchline; null without a valid main-view camera.",
        "pitch_sigma_m": "One-sigma radius of (pitch_x, pitch_y) in metres; grows with the distance from the camera.",
        "mask_rle": "Segmentation mask: COCO uncompressed RLE as JSON, column-major, over the full source frame; null when not refined.",
        "refined_x1": "Left edge of the mask's box, source pixels; null without a mask.",
        "refined_y1": "Top edge of the mask's box, source pixels; null without a mask.",
        "refined_x2": "Right edge of the mask's box (exclusive), source pixels; null without a mask.",
        "refined_y2": "Bottom edge of the mask's box (exclusive), source pixels; null without a mask.",
        "mask_score": "How much to trust the mask, 0-1; null without a mask.",
        "team_agreement": "Share of the tracklet's team votes that agree with team; null without votes.",
        "role_agreement": "Share of the tracklet's role votes that agree with role.",
        "jersey_agreement": "Share of the tracklet's jersey reads that agree with jersey; null without reads.",
        "jersey_votes": "Legible jersey reads in the tracklet.",
        "track_length": "Rows in the tracklet.",
        "role_reason": "What decided the role: kit distances, position, the detector's class votes.",
        "flags": "Comma-separated flags the curation raised on the track: duplicate, off-pitch, role-kit, short; null when none.",
        "flag_reason": "One clause per flag, with the evidence; null when no flag.",
        "shirt_colour": "The tracklet's median shirt colour over its crops, #rrggbb (what the match's kits are fitted from); null when no crop had one.",
        "shirt_crops": "Crops of the tracklet that shirt_colour is the median of; 0 when none had a colour.",
        "appearance": "Unit ReID embedding (64 floats, curation/weights/reid.pt) of this row's team/jersey crop; null on rows without a crop. "
        "The per-match shot linker compares the mean of a track's rows with other tracks' (cosine).",
    },
    "ball": {
        **{k: v.replace("the box", "the ball's box") + " Null when there is no ball." for k, v in _BOX.items()},
        "confidence": "Detector confidence, 0-1; null when there is no ball.",
        "pitch_x": f"Ball position along the touchlines, {_PITCH_FRAME} (the box's bottom-centre assumed on the grass); null without a camera or ball.",
        "pitch_y": f"Ball position across the pitch, {_PITCH_FRAME}; null without a camera or ball.",
        "detected": "The detector found the ball in this frame.",
        "interpolated": "The box was filled in over a short gap between two detections (detect.ball_max_gap_s).",
    },
    "cameras": {
        "valid_camera": "A camera was fitted and accepted; the calibration columns are null when false.",
        "homography": "3x3 matrix as 9 floats, row-major: pitch metres (x, y, 1) on the grass -> source pixels (undistorted).",
        "fx": "Focal length along x, pixels.",
        "fy": "Focal length along y, pixels.",
        "cx": "Principal point x, source pixels.",
        "cy": "Principal point y, source pixels.",
        "rotation": "World -> camera rotation, 3x3 as 9 floats, row-major.",
        "position": f"Camera centre (x, y, z), {_PITCH_FRAME}; z is negative above the grass.",
        "dist": "OpenCV distortion coefficients k1, k2, p1, p2[, k3].",
        "reprojection_error_px": "Mean distance between the fitted camera's projections and the detected keypoints/lines, pixels.",
        "n_keypoints": "Pitch keypoints used in the fit.",
        "n_lines": "Pitch lines used in the fit.",
        "invalid_reason": "Why the frame has no camera; null when valid.",
        "view": _VIEW,
        "view_reason": "The evidence that decided view.",
        "visible_pitch_m2": "Pitch area the camera shows, square metres; null without a camera.",
    },
    "events": {
        "event": "What happens: clip_start, shot_boundary, ...",
        "detail": "More about it (JSON or text); null when nothing more.",
    },
}

_GT_PITCH_Z = f"Height coordinate, {_PITCH_FRAME}; z points down, so above the grass is negative."

#: Ground-truth tables (the gt_<table> views): column -> meaning.
GROUND_TRUTH_COLUMNS: dict[str, dict[str, str]] = {
    "athletes": {
        **{k: v.replace("the box", "the visible part's box") for k, v in _BOX.items()},
        "track_id": "The true athlete (within the ground truth's clip).",
        "class": "The true class: player / goalkeeper / referee / other.",
        "team": "The true team: left / right (the half it defends at kick-off); null for referees and other.",
        "role": "The true role: player / goalkeeper / referee / other (off-pitch people).",
        "jersey": "The true shirt number; null for referees and other.",
        "jersey_legible": "The number is legible in this frame (big enough, not blurred, not hidden).",
        "pitch_x": f"True feet position along the touchlines, {_PITCH_FRAME}.",
        "pitch_y": f"True feet position across the pitch, {_PITCH_FRAME}.",
        "visible_area_px": "Visible pixels of the athlete.",
        "amodal_x1": "Left edge of the whole body's box (hidden parts too), source pixels.",
        "amodal_y1": "Top edge of the whole body's box, source pixels.",
        "amodal_x2": "Right edge of the whole body's box (exclusive), source pixels.",
        "amodal_y2": "Bottom edge of the whole body's box (exclusive), source pixels.",
        "facing_rad": "Direction the chest points to, radians from the +x axis towards +y.",
        "speed_mps": "Speed over the grass, metres per second.",
        "mask_rle": "Visible mask: COCO RLE counts as a JSON list, column-major, over the full frame.",
    },
    "ball": {
        **{k: v.replace("the box", "the ball's visible box") + " Null when hidden." for k, v in _BOX.items()},
        "visible": "Some of the ball is visible in the image.",
        "in_play": "The ball is in play.",
        "pitch_x": f"Ball position along the touchlines, {_PITCH_FRAME}.",
        "pitch_y": f"Ball position across the pitch, {_PITCH_FRAME}.",
        "pitch_z": _GT_PITCH_Z,
        "interpolated": "Always false for rendered truth (kept for the curated ball's columns).",
    },
    "cameras": {
        "valid_camera": "Always true: the renderer's camera is exact.",
        "homography": "3x3 as 9 floats, row-major: pitch metres (x, y, 1) on the grass -> undistorted pixels.",
        "reprojection_error_px": "0: the camera is exact.",
        "fx": "Focal length along x, pixels.",
        "fy": "Focal length along y, pixels.",
        "cx": "Principal point x, pixels.",
        "cy": "Principal point y, pixels.",
        "rotation": "World -> camera rotation, 3x3 as 9 floats, row-major.",
        "position_x": f"Camera centre x, {_PITCH_FRAME}.",
        "position_y": f"Camera centre y, {_PITCH_FRAME}.",
        "position_z": "Camera centre z, metres; negative above the grass.",
        "distortion": "OpenCV distortion coefficients k1, k2, p1, p2; empty = none.",
        "pan_deg": "Camera pan, degrees.",
        "tilt_deg": "Camera tilt, degrees.",
        "hfov_deg": "Horizontal field of view, degrees.",
        "view": "The true view of the frame's shot: main / zoomed / close-up; null in version-1 ground truth.",
    },
    "keypoints": {
        "keypoint_id": "Index in soccerfactory.curation.pitch.KEYPOINT_NAMES (README: Pitch keypoints).",
        "name": "The keypoint's name.",
        "x": "Where it projects, source pixels (may be outside the image).",
        "y": "Where it projects, source pixels (may be outside the image).",
        "in_image": "It projects inside the image, in front of the camera.",
        "occluded": "Inside the image but hidden behind a person or the ball.",
        "pitch_x": f"Keypoint x, {_PITCH_FRAME}.",
        "pitch_y": f"Keypoint y, {_PITCH_FRAME}.",
        "pitch_z": _GT_PITCH_Z,
    },
    "lines": {
        "line": "The pitch line's SoccerNet calibration name (\"Side line top\", \"Circle central\", ...).",
        "point_index": "Index of the point along the line (one per metre).",
        "x": "Where the point projects, source pixels.",
        "y": "Where the point projects, source pixels.",
        "pitch_x": f"Point x, {_PITCH_FRAME}.",
        "pitch_y": f"Point y, {_PITCH_FRAME}.",
        "pitch_z": _GT_PITCH_Z,
    },
    "events": {
        "event": "pass / shot / out / goal.",
        "detail": "More about it; null when nothing more.",
        "team": "The team of the athlete involved: left / right; null when none.",
        "track_id": "The athlete involved (gt_athletes.track_id); null when none.",
        "pitch_x": f"Where it happens, along the touchlines, {_PITCH_FRAME}.",
        "pitch_y": f"Where it happens, across the pitch, {_PITCH_FRAME}.",
    },
}

#: The catalog's own tables other than clips (whose columns are SHARD_COLUMNS["clips"]).
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "runs": {
        "run_id": "The run's id (ROOT/runs/<run_id>.json).",
        "started_at": "When the run started.",
        "finished_at": "When it finished; null while running or when it died.",
        "source": "What the run curated (the sources it was given).",
        "output": "The shards root it wrote to.",
        "config_hash": "Hash of the resolved curation config.",
        "status": "running / completed / completed_with_failures / failed / interrupted.",
        "n_clips": "Clips the run planned.",
        "n_curated": "Clips it curated.",
        "n_skipped": "Clips skipped because a sound shard of them existed.",
        "n_failed": "Failures recorded (rows in failures).",
        "flow_run_id": "The Prefect flow run; null outside Prefect.",
    },
    "failures": {
        "run_id": "The run (runs.run_id).",
        "source_url": "The source that failed.",
        "clip_id": "The clip that failed; null when the whole source failed before it was cut into clips.",
        "stage": "The stage that failed: discover-sources, scan-source, id-collision, annotate-spatial, attribute, vote, write-shard, ...",
        "reason": "Why, in one line.",
        "recorded_at": "When it failed (the run's end for records without a time).",
    },
    "shards": {
        "match_id": KEY_COLUMNS["match_id"],
        "clip_id": KEY_COLUMNS["clip_id"],
        "shard_key": "The shard's key (content, config and code together).",
        "manifest_url": "The shard's manifest: relative to the shards root when local, an absolute URL otherwise.",
        "schema_version": "Shard schema version of the manifest.",
        "config_hash": "Hash of the resolved curation config.",
        "code_version": "Version of the code that made the shard.",
        "created_at": "When the shard was written.",
        "run_id": "The run that made it (runs.run_id); null when unknown.",
        "bytes": "Total size of the shard's files, bytes.",
        "files": "JSON: table -> {path (relative to the manifest), bytes, sha256}.",
    },
    "training_runs": {
        "run_id": "The training run's id.",
        "started_at": "When it started.",
        "finished_at": "When it finished; null while running.",
        "status": "running / completed / failed.",
        "data_query": "The SQL WHERE that selected the training data.",
        "data_snapshot": "Hash of the windows (match, clip, frames) trained on: same snapshot, same data.",
        "n_windows": "Training windows (clips of consecutive frames) in the data.",
        "config": "JSON: the resolved model config.",
        "code_version": "Version of the code that trained.",
        "checkpoint_url": "Where the checkpoint was written.",
        "steps": "Optimiser steps taken.",
        "resumed_from": "Step it resumed from; null for a fresh run.",
        "first_losses": "JSON: loss per task at the first step.",
        "last_losses": "JSON: loss per task at the last step.",
        "flow_run_id": "The Prefect flow run; null outside Prefect.",
    },
    "evaluations": {
        "checkpoint_url": "The checkpoint evaluated (untrained:<url> for the untrained baseline of the same network).",
        "checkpoint_sha256": "sha256 of the checkpoint file.",
        "data_snapshot": "Hash of the windows (match, clip, frames) evaluated on.",
        "task": "The model task the metric grades: athletes, keypoints, camera, align, event.",
        "metric": "The metric, e.g. ap50, pck_cell, reprojection_px, recall@1, accuracy (model/evaluate.py).",
        "value": "The metric's value; null when the data has no such labels.",
        "n_windows": "Windows evaluated.",
        "training_run_id": "The training run that made the checkpoint (training_runs.run_id); null when unknown.",
        "evaluated_at": "When.",
        "split": "The matches scored: eval (held-out side of the split), train, or all (training data included); "
                 "null in rows written before it was recorded.",
    },
    "event_labels": {
        "match_id": "The curated match the labels belong to.",
        "half": "The half: 1 or 2 (each half is its own source video).",
        "timestamp_s": "Seconds into the half's source video (from the label's position).",
        "label": "The event: Goal, Corner, Ball out of play, ...",
        "team": "As the dataset gives it (SoccerNet: home / away / not applicable); null when absent.",
        "visible": "The event is visible on screen.",
        "source": "The file the labels came from (Labels-v2.json).",
    },
    "quarantine": {
        "match_id": KEY_COLUMNS["match_id"],
        "clip_id": KEY_COLUMNS["clip_id"],
        "shard_key": "The quarantined shard's key; null when its manifest could not be read.",
        "manifest_url": "Its manifest, stored like shards.manifest_url.",
        "file": "The file that failed (or the manifest), stored the same way.",
        "reason": "Why it failed its check.",
        "detected_at": "When.",
    },
    "catalog_meta": {
        "key": "What the row records: root, ground truth files, the place the views were made for, ...",
        "value": "Its value (text or JSON).",
    },
    "shard_stats": {
        "match_id": KEY_COLUMNS["match_id"],
        "clip_id": KEY_COLUMNS["clip_id"],
        "shard_key": "The key of the shard summarised (shards.shard_key); a row of another key is never used.",
        "n_frames": "Rows of the shard's frames.",
        "n_ball_detected": "Frames on which the ball was detected.",
        "n_athlete_rows": "Rows of the shard's athletes.",
        "n_tracks": "Tracks (distinct track_id) of the shard.",
        "team_agreement_sum": "Sum over tracks of each track's mean team_agreement (tracks.team_agreement).",
        "team_agreement_tracks": "Tracks with a team_agreement (the sum's count).",
        "role_agreement_sum": "Sum over tracks of each track's mean role_agreement.",
        "role_agreement_tracks": "Tracks with a role_agreement.",
        "jersey_agreement_sum": "Sum over tracks of each track's mean jersey_agreement.",
        "jersey_agreement_tracks": "Tracks with a jersey_agreement.",
        "numbered_tracks": "Player and goalkeeper tracks (by their most common role) with a jersey number.",
        "numberable_tracks": "Player and goalkeeper tracks (referees wear no number).",
        "n_cameras": "Rows of the shard's cameras.",
        "n_valid_cameras": "Frames with a valid camera.",
        "reprojection_errors_px": "Reprojection error of every frame with a valid camera, pixels, in frame order (medians cannot be added up).",
    },
}
