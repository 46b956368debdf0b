"""The one codec between the typed currency and shard rows.

Encoding (the curate flow writes these): :func:`shard_tables` lays one clip out as the six Arrow
tables of :data:`soccerfactory.storage.schemas.SHARD_SCHEMAS` (``clips``, ``frames``,
``athletes``, ``ball``, ``cameras``, ``events``) from the clip, its tracks and their voted labels,
the ball track and the per-frame calibrations, and stamps the shard's identity
(:class:`ShardIdentity`) into the ``clips`` row, once. :func:`camera_row` and
:func:`homography_row` encode one frame's camera and homography.

Decoding (preview, the model's datasets, the quality measurements read these):
:func:`camera_from_row`, :func:`homography_matrix` / :func:`row_homography`,
:func:`tracks_from_table` (the ``athletes`` table back to :class:`Tracks`) and
:func:`clip_from_manifest` (a committed shard's manifest back to the :class:`ClipSpec` it was
curated from).

Conventions of the rows: Arrow nulls, not NaN, mean "unknown" (:func:`nullable`, and
:func:`finite_or_none` reading them back); homographies and rotations are 9 floats, row-major.

A curation stage module (layer 3): it imports the curation base (``types``, ``camera``), its
sibling stages' currency (``video.clips``, ``vote``) and ``storage``, never anything above.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from soccerfactory.curation.attribute.kits import TeamKits
from soccerfactory.curation.calibration.view import shot_view
from soccerfactory.curation.camera import Camera
from soccerfactory.curation.types import CLASS_NAMES, Detections, Tracks
from soccerfactory.curation.video.clips import ClipSpec, clip_hash
from soccerfactory.curation.video.sources import VIDEO_EXTENSIONS
from soccerfactory.curation.vote import AthleteLabels
from soccerfactory.storage.schemas import table_from_columns

if TYPE_CHECKING:
    from soccerfactory.curation.calibration.results import CalibrationResult
    from soccerfactory.curation.calibration.view import FrameViews
    from soccerfactory.storage.manifest import ShardManifest

__all__ = [
    "CAMERA_FIELDS",
    "ShardIdentity",
    "camera_columns",
    "camera_from_row",
    "camera_row",
    "clip_from_manifest",
    "clips_columns",
    "finite_or_none",
    "homography_matrix",
    "homography_row",
    "nullable",
    "row_homography",
    "shard_tables",
    "swap_team_letters",
    "tracks_from_table",
]

#: The columns of a ``cameras`` row that hold the camera itself (see :func:`camera_row`).
CAMERA_FIELDS = ("fx", "fy", "cx", "cy", "rotation", "position", "dist")


@dataclasses.dataclass(frozen=True)
class ShardIdentity:
    """Which shard a clip's tables are laid out for, stamped into its ``clips`` row.

    ``write_shard`` checks the same three values against the row when it commits the shard.

    Attributes:
        config_hash: Hash of the curation config that made the shard.
        code_version: Version of the code that made it.
        shard_key: The shard's cache key (content hash, config hash and code version).
    """

    config_hash: str
    code_version: str
    shard_key: str


# --------------------------------------------------------------------------- cells


def nullable(values: np.ndarray) -> list[Any]:
    """Float array -> list with None for NaN (Arrow nulls, not NaN, mean 'unknown')."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def finite_or_none(value: Any) -> float | None:
    """A finite float, or None for null / NaN / missing values."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _keys(clip: ClipSpec, frame_index: np.ndarray) -> dict[str, Any]:
    n = len(frame_index)
    return {
        "match_id": [clip.match_id] * n,
        "clip_id": [clip.clip_id] * n,
        "frame_index": frame_index.astype(np.int64),
        "timestamp_s": frame_index.astype(np.float64) / clip.fps,
    }


# --------------------------------------------------------------------------- cameras


def homography_row(homography: np.ndarray) -> list[float]:
    """A ``(3, 3)`` homography (pitch metres -> pixels) as its stored 9 floats, row-major."""
    return np.asarray(homography, dtype=np.float64).reshape(9).tolist()


def homography_matrix(homography: Any) -> np.ndarray | None:
    """A finite, invertible 3x3 matrix from 9 numbers (row-major) or a 3x3 array; None otherwise."""
    if homography is None:
        return None
    try:
        matrix = np.asarray([finite_or_none(v) for v in np.asarray(homography, dtype=object).reshape(-1)], dtype=object)
    except (TypeError, ValueError):
        return None
    if matrix.size != 9 or any(v is None for v in matrix):
        return None
    matrix = matrix.astype(np.float64).reshape(3, 3)
    scale = np.abs(matrix).max()
    if scale == 0 or abs(np.linalg.det(matrix / scale)) < 1e-12:
        return None
    return matrix


def row_homography(row: Mapping[str, Any] | None) -> np.ndarray | None:
    """The homography of a ``cameras`` row (a dict or a pandas row), None when the camera is
    invalid or the stored homography is null or degenerate (see :func:`homography_matrix`)."""
    if row is None or not row.get("valid_camera"):
        return None
    return homography_matrix(row.get("homography"))


def camera_row(camera: Camera | None) -> dict[str, Any]:
    """The :data:`CAMERA_FIELDS` cells of one frame's camera (all None without a camera).

    The intrinsics are stored as ``fx, fy, cx, cy`` (the cameras of curation have no skew), the
    rotation (world -> camera) as 9 floats row-major, the centre as 3 floats and the OpenCV
    distortion as its ``k`` coefficients (empty: none).
    """
    if camera is None:
        return dict.fromkeys(CAMERA_FIELDS)
    return {
        "fx": float(camera.K[0, 0]),
        "fy": float(camera.K[1, 1]),
        "cx": float(camera.K[0, 2]),
        "cy": float(camera.K[1, 2]),
        "rotation": camera.R.reshape(9).tolist(),
        "position": camera.position.tolist(),
        "dist": camera.dist.tolist(),
    }


def camera_from_row(row: Mapping[str, Any] | None, width: int, height: int) -> Camera | None:
    """The full camera of a cameras row, or None when a field is missing or inconsistent."""
    if row is None or not row.get("valid_camera"):
        return None
    fx, fy, cx, cy = (finite_or_none(row.get(k)) for k in ("fx", "fy", "cx", "cy"))
    if None in (fx, fy, cx, cy) or row.get("rotation") is None or row.get("position") is None:
        return None
    try:
        return Camera(
            K=np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]),
            R=np.asarray(row["rotation"], dtype=np.float64).reshape(3, 3),
            position=np.asarray(row["position"], dtype=np.float64).reshape(3),
            image_size=(width, height),
            dist=np.asarray(row.get("dist") or [], dtype=np.float64),
        )
    except (ValueError, TypeError):
        return None


def _view_columns(frames: np.ndarray, views: FrameViews | None) -> dict[str, list[Any]]:
    """``view``, ``view_reason`` and ``visible_pitch_m2`` of every frame (null without views)."""
    n = len(frames)
    if views is None:
        return {"view": [None] * n, "view_reason": [None] * n, "visible_pitch_m2": [None] * n}
    slot = {f: i for i, f in enumerate(views.frame_index.tolist())}
    rows = [slot.get(f) for f in frames.tolist()]
    area = views.visible_pitch_m2
    return {
        "view": [None if r is None else views.view[r] for r in rows],
        "view_reason": [None if r is None else views.reason[r] for r in rows],
        "visible_pitch_m2": [None if r is None or not np.isfinite(area[r]) else float(area[r]) for r in rows],
    }


def camera_columns(
    clip: ClipSpec, frames: np.ndarray, calibrations: Sequence[CalibrationResult], views: FrameViews | None = None
) -> dict[str, Any]:
    """The ``cameras`` columns: one row per processed frame, ``calibrations`` aligned with
    ``frames`` (empty: calibration was off, and every row says so), with each frame's view."""
    by_frame = dict(zip(frames.tolist(), calibrations)) if calibrations else {}
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "valid_camera", "homography", *CAMERA_FIELDS, "reprojection_error_px", "n_keypoints", "n_lines", "invalid_reason",
        )
    }
    for frame in frames.tolist():
        result = by_frame.get(frame)
        camera = result.camera if result is not None and result.valid else None
        columns["valid_camera"].append(bool(result is not None and result.valid))
        columns["homography"].append(
            None if result is None or not result.valid or result.homography is None else homography_row(result.homography)
        )
        for name, value in camera_row(camera).items():
            columns[name].append(value)
        error = None if result is None else result.reprojection_error_px
        columns["reprojection_error_px"].append(None if error is None or not np.isfinite(error) else float(error))
        columns["n_keypoints"].append(0 if result is None else int(result.n_keypoints))
        columns["n_lines"].append(0 if result is None else int(result.n_lines))
        columns["invalid_reason"].append(
            "calibration off" if result is None else (None if result.valid else (result.reason or "invalid"))
        )
    return {**_keys(clip, frames), **columns, **_view_columns(frames, views)}


# --------------------------------------------------------------------------- tables


def _athlete_columns(clip: ClipSpec, tracks: Tracks, labels: AthleteLabels) -> dict[str, Any]:
    n = len(tracks)
    nan4 = np.full((n, 4), np.nan, dtype=np.float32)
    refined = np.asarray(tracks.data.get("refined_xyxy", nan4), dtype=np.float32)
    mask_score = np.asarray(tracks.data.get("mask_score", np.full(n, np.nan)), dtype=np.float32)
    mask_rle = tracks.data.get("mask_rle", np.full(n, None, dtype=object))
    pitch = np.asarray(tracks.data.get("pitch_xy", np.full((n, 2), np.nan)), dtype=np.float32)
    pitch_sigma = np.asarray(tracks.data.get("pitch_sigma_m", np.full(n, np.nan)), dtype=np.float32)
    return {
        **_keys(clip, tracks.frame_index),
        "x1": tracks.xyxy[:, 0], "y1": tracks.xyxy[:, 1], "x2": tracks.xyxy[:, 2], "y2": tracks.xyxy[:, 3],
        "confidence": tracks.confidence,
        "class": [CLASS_NAMES[c] for c in tracks.class_id.tolist()],
        "track_id": labels.track_id,
        "tracklet_id": labels.tracklet_id,
        "team": list(labels.team),
        "role": [r if r is not None else CLASS_NAMES[c] for r, c in zip(labels.role, tracks.class_id.tolist())],
        "jersey": [None if j is None else int(j) for j in labels.jersey],
        "pitch_x": nullable(pitch[:, 0]), "pitch_y": nullable(pitch[:, 1]), "pitch_sigma_m": nullable(pitch_sigma),
        "mask_rle": [None if m is None else (m if isinstance(m, str) else json.dumps(m)) for m in mask_rle],
        "refined_x1": nullable(refined[:, 0]), "refined_y1": nullable(refined[:, 1]),
        "refined_x2": nullable(refined[:, 2]), "refined_y2": nullable(refined[:, 3]),
        "mask_score": nullable(mask_score),
        "team_agreement": nullable(labels.team_agreement), "role_agreement": nullable(labels.role_agreement),
        "jersey_agreement": nullable(labels.jersey_agreement),
        "jersey_votes": labels.jersey_votes,
        "track_length": labels.track_length,
        "role_reason": list(labels.role_reason), "flags": list(labels.flags), "flag_reason": list(labels.flag_reason),
        "shirt_colour": list(labels.shirt_colour), "shirt_crops": labels.shirt_crops,
        "appearance": _embedding_rows(tracks.data.get("reid"), n),
    }


def _embedding_rows(embeddings: Any, n: int) -> list[list[float] | None]:
    """``athletes.appearance``: each row's ReID embedding (``tracks.data["reid"]``, ``float32``
    ``(N, D)``, NaN on rows without a crop) as a list, None where it has none."""
    if embeddings is None:
        return [None] * n
    embeddings = np.asarray(embeddings, dtype=np.float32)
    return [row.tolist() if np.isfinite(row).all() else None for row in embeddings]


def _ball_columns(clip: ClipSpec, frames: np.ndarray, ball: Detections) -> dict[str, Any]:
    ball_pitch = np.asarray(ball.data.get("pitch_xy", np.full((len(ball), 2), np.nan)), dtype=np.float32)
    interpolated = np.asarray(ball.data.get("interpolated", np.zeros(len(ball), dtype=bool)), dtype=bool)
    ball_by_frame = {f: i for i, f in enumerate(ball.frame_index.tolist())}
    rows = [ball_by_frame.get(f) for f in frames.tolist()]

    def ball_column(values: np.ndarray) -> list[Any]:
        return [None if r is None or not np.isfinite(values[r]) else float(values[r]) for r in rows]

    return {
        **_keys(clip, frames),
        "x1": ball_column(ball.xyxy[:, 0]), "y1": ball_column(ball.xyxy[:, 1]),
        "x2": ball_column(ball.xyxy[:, 2]), "y2": ball_column(ball.xyxy[:, 3]),
        "confidence": ball_column(ball.confidence),
        "pitch_x": ball_column(ball_pitch[:, 0]), "pitch_y": ball_column(ball_pitch[:, 1]),
        "detected": [r is not None and not interpolated[r] for r in rows],
        "interpolated": [r is not None and bool(interpolated[r]) for r in rows],
    }


def clips_columns(
    clip: ClipSpec,
    n_frames: int,
    identity: ShardIdentity | None,
    *,
    views: FrameViews | None = None,
    kits: TeamKits | None = None,
) -> dict[str, list[Any]]:
    """The one ``clips`` row: the clip, how many frames were processed, and the shard's identity
    (empty strings when ``identity`` is None: tables laid out for measuring, not for writing),
    the shot's view (:func:`~soccerfactory.curation.calibration.view.shot_view`) and the kits."""
    info = dataclasses.asdict(identity) if identity is not None else {}
    view, view_reason = shot_view(views) if views is not None else (None, None)
    kits = kits or TeamKits()
    return {
        "match_id": [clip.match_id], "clip_id": [clip.clip_id], "source_url": [clip.url],
        "start_frame": [clip.start_frame], "stop_frame": [clip.stop_frame],
        "start_s": [clip.start_frame / clip.fps], "end_s": [clip.stop_frame / clip.fps],
        "fps": [clip.fps], "width": [clip.width], "height": [clip.height], "n_frames": [n_frames],
        "content_hash": [clip.content_hash], "config_hash": [info.get("config_hash", "")],
        "code_version": [info.get("code_version", "")], "shard_key": [info.get("shard_key", "")],
        "view": [view], "view_reason": [view_reason],
        "team_a_colour": [TeamKits.hex(kits.colour_a)], "team_b_colour": [TeamKits.hex(kits.colour_b)],
        "team_a_side": [kits.side_a],
    }


def shard_tables(
    clip: ClipSpec,
    *,
    frame_index: np.ndarray,
    tracks: Tracks,
    labels: AthleteLabels,
    ball: Detections,
    calibrations: Sequence[CalibrationResult],
    semantic_frame_index: np.ndarray,
    identity: ShardIdentity | None = None,
    views: FrameViews | None = None,
) -> dict[str, pa.Table]:
    """Lay one curated clip out as the shard's tables.

    Args:
        clip: The clip.
        frame_index: ``int64`` ``(F,)`` every processed frame: one row each in ``frames``,
            ``ball`` and ``cameras``.
        tracks: The athlete rows (xyxy in source pixels); ``data`` may hold ``refined_xyxy``,
            ``mask_score``, ``mask_rle``, ``pitch_xy`` and ``pitch_sigma_m`` (null columns
            without).
        labels: The voted labels of ``tracks``' rows.
        ball: At most one ball per frame; ``data`` may hold ``pitch_xy`` and ``interpolated``.
        calibrations: One result per processed frame, or none when calibration is off.
        semantic_frame_index: Frames sampled for attribution (``frames.semantic_sample``).
        identity: The shard's identity for the ``clips`` row (see :func:`clips_columns`).
        views: The view of every processed frame (``frames.view``, ``cameras.view*``, the shot's
            view in ``clips``); null columns without.

    Returns:
        ``clips``, ``frames``, ``athletes``, ``ball``, ``cameras`` and ``events`` tables, matching
        :data:`soccerfactory.storage.schemas.SHARD_SCHEMAS`.
    """
    frames = frame_index
    athletes = _athlete_columns(clip, tracks, labels)
    ball_table = _ball_columns(clip, frames, ball)
    cameras = camera_columns(clip, frames, calibrations, views)
    per_frame_athletes = np.zeros(len(frames), dtype=np.int32)
    if len(frames):
        position = {f: i for i, f in enumerate(frames.tolist())}
        np.add.at(per_frame_athletes, [position[f] for f in tracks.frame_index.tolist()], 1)
    semantic = set(semantic_frame_index.tolist())
    frames_table = {
        **_keys(clip, frames),
        "width": [clip.width] * len(frames), "height": [clip.height] * len(frames),
        "n_athletes": per_frame_athletes,
        "ball_detected": ball_table["detected"],
        "semantic_sample": [f in semantic for f in frames.tolist()],
        "valid_camera": cameras["valid_camera"],
        "view": cameras["view"],
    }
    start = np.array([clip.start_frame], dtype=np.int64)
    events = {**_keys(clip, start), "event": ["clip_start"], "detail": [json.dumps({"source": clip.url})]}
    return {
        "clips": table_from_columns("clips", clips_columns(clip, len(frames), identity, views=views, kits=labels.kits)),
        "frames": table_from_columns("frames", frames_table),
        "athletes": table_from_columns("athletes", athletes),
        "ball": table_from_columns("ball", ball_table),
        "cameras": table_from_columns("cameras", cameras),
        "events": table_from_columns("events", events),
    }


def tracks_from_table(athletes: pa.Table) -> Tracks:
    """The athlete rows of an ``athletes`` table as :class:`Tracks` (box, confidence, class,
    frame and the table's ``track_id``, i.e. after tracklets of one athlete were joined)."""
    columns = athletes.select(["frame_index", "x1", "y1", "x2", "y2", "confidence", "class", "track_id"]).to_pydict()
    return Tracks(
        xyxy=np.column_stack([columns[k] for k in ("x1", "y1", "x2", "y2")]).reshape(-1, 4),
        confidence=np.asarray(columns["confidence"], dtype=np.float32),
        class_id=np.array([CLASS_NAMES.index(c) for c in columns["class"]], dtype=np.int64),
        frame_index=np.asarray(columns["frame_index"], dtype=np.int64),
        track_id=np.asarray(columns["track_id"], dtype=np.int64),
    )


# --------------------------------------------------------------------------- manifest -> clip


def clip_from_manifest(manifest: ShardManifest, clips: pa.Table | None = None) -> ClipSpec:
    """Rebuild the :class:`ClipSpec` a shard was curated from.

    Shards written by the curate flow keep it in ``manifest.metadata["clip"]``. Without it, the
    ``clips`` row gives the source URL, frame range, fps and size; its ``content_hash`` cannot be
    re-derived without the source's hash, so that spec's ``source_hash`` / ``content_hash`` are
    stand-ins, good for decoding frames but not as a cache key.

    Raises:
        ValueError: neither is available, they disagree on the frame range, or a field is invalid.
    """
    where = f"shard {manifest.match_id}/{manifest.clip_id}"
    stored = manifest.metadata.get("clip")
    row = clips.slice(0, 1).to_pylist()[0] if clips is not None and clips.num_rows else None
    if isinstance(stored, Mapping):
        names = {f.name for f in dataclasses.fields(ClipSpec)}
        try:
            clip = ClipSpec(**{k: v for k, v in stored.items() if k in names})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: metadata.clip is not a valid clip: {error}") from None
        if (clip.match_id, clip.clip_id) != (manifest.match_id, manifest.clip_id):
            raise ValueError(f"{where}: metadata.clip names {clip.match_id}/{clip.clip_id}")
        if row is not None and (int(row["start_frame"]), int(row["stop_frame"])) != (clip.start_frame, clip.stop_frame):
            raise ValueError(
                f"{where}: metadata.clip covers frames [{clip.start_frame}, {clip.stop_frame}) "
                f"but the clips row [{row['start_frame']}, {row['stop_frame']})"
            )
        return clip
    if row is None:
        raise ValueError(f"{where} has neither metadata.clip nor a clips row: cannot tell which footage it covers")
    url = row["source_url"]
    stand_in = hashlib.sha256(f"preview:{url}".encode()).hexdigest()
    kind = "video" if posixpath.splitext(url.split("?")[0])[1].lower() in VIDEO_EXTENSIONS else "images"
    start, stop = int(row["start_frame"]), int(row["stop_frame"])
    try:
        return ClipSpec(
            match_id=manifest.match_id, clip_id=manifest.clip_id, url=url, kind=kind,
            start_frame=start, stop_frame=stop, fps=row["fps"], width=row["width"], height=row["height"],
            # ClipSpec's own rule (video.clips.clip_hash), over the stand-in source hash.
            content_hash=clip_hash(stand_in, start, stop), source_hash=stand_in,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: the clips row is not a valid clip: {error}") from None


# --------------------------------------------------------------------------- team letters

# A team letter standing alone in a reason ("team A's kit", "team A/B", "voted A"): the reasons
# name letters only this way, and no other word of theirs is a lone capital A or B.
_LETTER = re.compile(r"(?<![A-Za-z0-9_])([AB])(?![A-Za-z0-9_])")
_SWAPPED_SIDE = {"left": "right", "right": "left"}


def _swap_letters(values: list[Any]) -> list[Any]:
    return [v if v is None else _LETTER.sub(lambda m: "B" if m.group(1) == "A" else "A", v) for v in values]


def swap_team_letters(tables: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    """A shard's tables with team letters ``A`` and ``B`` exchanged (the match-level alignment,
    :mod:`~soccerfactory.curation.attribute.match_teams`, decided this clip names the kits the other way).

    Every column that holds a letter changes: ``athletes.team``; the letters inside
    ``athletes.role_reason`` and ``flag_reason`` (so ``kit d=1.2/5.3 spreads from team A/B``
    becomes ``... team B/A``, still true); ``clips.team_a_colour`` and ``team_b_colour`` trade
    places and ``clips.team_a_side`` flips (the new A defends the other goal). Nothing else does.

    Args:
        tables: At least ``athletes`` and ``clips`` of one shard.

    Returns:
        The two changed tables, ``{"athletes": ..., "clips": ...}``, with their schemas.
    """
    athletes, clips = tables["athletes"], tables["clips"]
    team = [{"A": "B", "B": "A"}.get(v, v) if v is not None else None for v in athletes.column("team").to_pylist()]
    out = athletes.set_column(athletes.schema.get_field_index("team"), athletes.schema.field("team"), pa.array(team, pa.string()))
    for name in ("role_reason", "flag_reason"):
        index = out.schema.get_field_index(name)
        out = out.set_column(index, out.schema.field(name), pa.array(_swap_letters(out.column(name).to_pylist()), pa.string()))
    row = clips.to_pylist()
    colour_a, colour_b = [r["team_a_colour"] for r in row], [r["team_b_colour"] for r in row]
    side = [_SWAPPED_SIDE.get(r["team_a_side"], r["team_a_side"]) for r in row]
    new_clips = clips
    for name, values in (("team_a_colour", colour_b), ("team_b_colour", colour_a), ("team_a_side", side)):
        index = new_clips.schema.get_field_index(name)
        new_clips = new_clips.set_column(index, new_clips.schema.field(name), pa.array(values, pa.string()))
    return {"athletes": out, "clips": new_clips}
