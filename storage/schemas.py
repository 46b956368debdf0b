"""Arrow schemas of curated shards: the tables one clip's curation produces.

Every table but ``clips`` is keyed by ``match_id``, ``clip_id``, ``frame_index`` (the frame's index
in the SOURCE video, not in the clip) and ``timestamp_s`` (source time in seconds), so curated rows
join ground truth (``storage/groundtruth.py``) and each other on the same keys. Boxes are xyxy in
pixels of the full source frame; pitch positions are metres in the SoccerNet world frame (origin at
the centre mark, x towards the right goal, y towards the near touchline).

Columns listed in ``STABLE_COLUMNS`` are the contract analysts and the model's data loader rely on:
renaming one or changing its type needs a new ``SHARD_SCHEMA_VERSION`` (a test pins them). Other
columns may still change while the curation stages settle.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "SHARD_SCHEMA_VERSION",
    "READABLE_SHARD_SCHEMA_VERSIONS",
    "ADDED_COLUMNS",
    "columns_added_after",
    "SHARD_SCHEMAS",
    "SHARD_TABLES",
    "KEY_FIELDS",
    "STABLE_COLUMNS",
    "empty_table",
    "table_schema",
    "table_from_columns",
    "conform_table",
    "example_shard_tables",
]

# 2: views per frame and shot (frames/cameras/clips.view), kit colours and sides (clips), role and
# flag reasons (athletes). Shards of version 1 are named and skipped by ``catalog rebuild``.
# 3: athletes.shirt_colour and shirt_crops (version 2 had the tracklet's shirt colour only as a
# "[shirt #rrggbb over N crops]" clause inside role_reason, where nothing should parse it).
# 4: athletes.appearance, the ReID embedding of the row's crop (the per-match shot linker's evidence).
SHARD_SCHEMA_VERSION = "4"
#: Manifest schema versions this code can catalogue (a shard of another version is quarantined, not
#: read as if it were this one). A version-2 shard lacks only :data:`ADDED_COLUMNS` of version 3,
#: which read as null (:func:`columns_added_after`).
READABLE_SHARD_SCHEMA_VERSIONS: tuple[str, ...] = (SHARD_SCHEMA_VERSION, "3", "2")
#: Version -> table -> the columns that version added (all nullable): what an older shard lacks.
ADDED_COLUMNS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "3": {"athletes": ("shirt_colour", "shirt_crops")}, "4": {"athletes": ("appearance",)},
}


def columns_added_after(table: str, version: str) -> tuple[str, ...]:
    """Columns of ``SHARD_SCHEMAS[table]`` a shard written with readable schema ``version`` lacks
    (they read as null); ``()`` for the current version."""
    return tuple(c for v, added in ADDED_COLUMNS.items() if int(v) > int(version) for c in added.get(table, ()))

#: Row keys shared by every per-frame table, curated or ground truth, so they join on them.
KEY_FIELDS = [
    pa.field("match_id", pa.string(), nullable=False),
    pa.field("clip_id", pa.string(), nullable=False),
    pa.field("frame_index", pa.int64(), nullable=False),  # index in the source video
    pa.field("timestamp_s", pa.float64(), nullable=False),  # source time
]


def _floats(names: Sequence[str], nullable: bool) -> list[pa.Field]:
    return [pa.field(name, pa.float32(), nullable=nullable) for name in names]


def table_schema(name: str, fields: Sequence[pa.Field], doc: str, version: str = SHARD_SCHEMA_VERSION) -> pa.Schema:
    """An Arrow schema carrying the table's name, schema version and description as metadata."""
    return pa.schema(
        list(fields),
        metadata={
            "soccerfactory.table": name,
            "soccerfactory.schema_version": version,
            "soccerfactory.doc": doc,
        },
    )


# Plain lists, not fixed-size ones: pyarrow cannot read back a null fixed-size list from Parquet.
# The lengths are checked on write instead (_LIST_LENGTHS).
_MATRIX9 = pa.list_(pa.float64())
_VECTOR3 = pa.list_(pa.float64())
_LIST_LENGTHS = {("cameras", "homography"): 9, ("cameras", "rotation"): 9, ("cameras", "position"): 3}

SHARD_SCHEMAS: dict[str, pa.Schema] = {
    "clips": table_schema(
        "clips",
        [
            pa.field("match_id", pa.string(), nullable=False),
            pa.field("clip_id", pa.string(), nullable=False),
            pa.field("source_url", pa.string(), nullable=False),
            pa.field("start_frame", pa.int64(), nullable=False),
            pa.field("stop_frame", pa.int64(), nullable=False),  # exclusive
            pa.field("start_s", pa.float64(), nullable=False),
            pa.field("end_s", pa.float64(), nullable=False),
            pa.field("fps", pa.float64(), nullable=False),
            pa.field("width", pa.int32(), nullable=False),
            pa.field("height", pa.int32(), nullable=False),
            pa.field("n_frames", pa.int64(), nullable=False),  # frames curated (after any stride)
            pa.field("content_hash", pa.string(), nullable=False),  # of the source bytes of this clip
            pa.field("config_hash", pa.string(), nullable=False),
            pa.field("code_version", pa.string(), nullable=False),
            pa.field("shard_key", pa.string(), nullable=False),
            pa.field("view", pa.string()),  # the shot's view: main / zoomed / close-up / other (most frames)
            pa.field("view_reason", pa.string()),  # the frame counts that decided it
            pa.field("team_a_colour", pa.string()),  # "#rrggbb", team A's shirt; null when no teams were found
            pa.field("team_b_colour", pa.string()),
            pa.field("team_a_side", pa.string()),  # the goal A defends: left (pitch x < 0) / right; null unknown
        ],
        "One row: the clip this shard covers, source frames [start_frame, stop_frame).",
    ),
    "frames": table_schema(
        "frames",
        KEY_FIELDS
        + [
            pa.field("width", pa.int32(), nullable=False),
            pa.field("height", pa.int32(), nullable=False),
            pa.field("n_athletes", pa.int32(), nullable=False),
            pa.field("ball_detected", pa.bool_(), nullable=False),
            pa.field("semantic_sample", pa.bool_(), nullable=False),  # used for team/jersey sampling
            pa.field("valid_camera", pa.bool_(), nullable=False),
            pa.field("view", pa.string()),  # main / zoomed / close-up / other; null when not classified
        ],
        "One row per curated frame.",
    ),
    "athletes": table_schema(
        "athletes",
        KEY_FIELDS
        + _floats(("x1", "y1", "x2", "y2"), nullable=False)  # source pixels, xyxy
        + [
            pa.field("confidence", pa.float32(), nullable=False),
            pa.field("class", pa.string(), nullable=False),  # detector class: player / goalkeeper / referee
            pa.field("track_id", pa.int64(), nullable=False),  # one athlete in the clip (tracklets joined by team + jersey)
            pa.field("tracklet_id", pa.int64(), nullable=False),  # the tracker's own id (continuous sighting)
            pa.field("team", pa.string()),  # "A" / "B"; null for referees or when undecided
            pa.field("role", pa.string(), nullable=False),  # tracklet consensus: player / goalkeeper / referee / other
            pa.field("jersey", pa.int32()),  # null when no legible consensus
            pa.field("pitch_x", pa.float32()),  # metres; null without a valid camera
            pa.field("pitch_y", pa.float32()),
            pa.field("pitch_sigma_m", pa.float32()),  # one-sigma radius of pitch_x/y, grows with distance
            pa.field("mask_rle", pa.string()),  # COCO uncompressed RLE as JSON, column-major
        ]
        + _floats(("refined_x1", "refined_y1", "refined_x2", "refined_y2"), nullable=True)  # box of the mask
        + [
            pa.field("mask_score", pa.float32()),
            # Fraction of the tracklet's votes that agree with its consensus label.
            pa.field("team_agreement", pa.float32()),
            pa.field("role_agreement", pa.float32()),
            pa.field("jersey_agreement", pa.float32()),
            pa.field("jersey_votes", pa.int32(), nullable=False),  # legible jersey reads in the tracklet
            pa.field("track_length", pa.int32(), nullable=False),  # rows in the tracklet
            pa.field("role_reason", pa.string()),  # what decided the role (class votes, kit, position)
            pa.field("flags", pa.string()),  # comma-separated: duplicate, off-pitch, role-kit, short; null = none
            pa.field("flag_reason", pa.string()),  # one clause per flag, with the evidence
            pa.field("shirt_colour", pa.string()),  # tracklet's median shirt colour "#rrggbb"; null without
            pa.field("shirt_crops", pa.int32()),  # crops that median is over; 0 without
            # Unit ReID embedding (curation/tracking/reid.py) of this row's team/jersey crop; null on
            # rows without a crop. A track's mean tells teammates apart for the shot linker.
            pa.field("appearance", pa.list_(pa.float32())),
        ],
        "One row per tracked athlete per frame; labels are the tracklet's consensus.",
    ),
    "ball": table_schema(
        "ball",
        KEY_FIELDS
        + _floats(("x1", "y1", "x2", "y2"), nullable=True)
        + [
            pa.field("confidence", pa.float32()),
            pa.field("pitch_x", pa.float32()),
            pa.field("pitch_y", pa.float32()),
            pa.field("detected", pa.bool_(), nullable=False),  # the detector found it in this frame
            pa.field("interpolated", pa.bool_(), nullable=False),  # box filled in over a short gap
        ],
        "One row per curated frame; box is null when the ball was neither detected nor interpolated.",
    ),
    "cameras": table_schema(
        "cameras",
        KEY_FIELDS
        + [
            pa.field("valid_camera", pa.bool_(), nullable=False),
            pa.field("homography", _MATRIX9),  # row-major, pitch metres (z=0) -> source pixels
            pa.field("fx", pa.float64()),
            pa.field("fy", pa.float64()),
            pa.field("cx", pa.float64()),
            pa.field("cy", pa.float64()),
            pa.field("rotation", _MATRIX9),  # world -> camera, row-major
            pa.field("position", _VECTOR3),  # camera centre, metres
            pa.field("dist", pa.list_(pa.float64())),  # OpenCV k1, k2, p1, p2[, k3]
            pa.field("reprojection_error_px", pa.float32()),
            pa.field("n_keypoints", pa.int32(), nullable=False),
            pa.field("n_lines", pa.int32(), nullable=False),
            pa.field("invalid_reason", pa.string()),  # why the frame has no camera; null when valid
            pa.field("view", pa.string()),  # main / zoomed / close-up / other; null when not classified
            pa.field("view_reason", pa.string()),  # the evidence that decided the view
            pa.field("visible_pitch_m2", pa.float32()),  # pitch area the camera shows; null without camera
        ],
        "One row per curated frame: the fitted camera; calibration fields are null when invalid.",
    ),
    "events": table_schema(
        "events",
        KEY_FIELDS
        + [
            pa.field("event", pa.string(), nullable=False),  # e.g. clip_start, shot_boundary
            pa.field("detail", pa.string()),
        ],
        "Things that happen at a frame: clip boundaries, shot cuts.",
    ),
}

SHARD_TABLES: tuple[str, ...] = tuple(SHARD_SCHEMAS)

_KEY_NAMES = ("match_id", "clip_id", "frame_index", "timestamp_s")
STABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "clips": ("match_id", "clip_id", "source_url", "start_frame", "stop_frame", "fps", "width", "height"),
    "frames": _KEY_NAMES,
    "athletes": _KEY_NAMES
    + ("x1", "y1", "x2", "y2", "confidence", "class", "track_id", "team", "role", "jersey", "pitch_x", "pitch_y"),
    "ball": _KEY_NAMES + ("x1", "y1", "x2", "y2", "detected"),
    "cameras": ("match_id", "clip_id", "frame_index", "valid_camera", "homography", "reprojection_error_px"),
    "events": _KEY_NAMES + ("event",),
}


def _check_name(name: str) -> pa.Schema:
    try:
        return SHARD_SCHEMAS[name]
    except KeyError:
        raise ValueError(f"unknown shard table {name!r}; valid: {', '.join(SHARD_SCHEMAS)}") from None


def empty_table(name: str) -> pa.Table:
    """A zero-row table with exactly the schema of shard table ``name``."""
    return _check_name(name).empty_table()


def _kind(data_type: pa.DataType) -> str:
    if pa.types.is_null(data_type):
        return "null"
    if pa.types.is_dictionary(data_type):
        return _kind(data_type.value_type)
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return "string"
    if pa.types.is_boolean(data_type):
        return "bool"
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type):
        return "number"
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type) or pa.types.is_fixed_size_list(data_type):
        return "list"
    return str(data_type)


def _conform_column(table_name: str, field: pa.Field, column: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], type=column.type)
    where = f"shard table {table_name!r} column {field.name!r}"
    source_kind, target_kind = _kind(column.type), _kind(field.type)
    # pyarrow would happily turn numbers into strings or ints into bools; those are bugs upstream.
    if source_kind not in ("null", target_kind):
        raise ValueError(f"{where}: expected {field.type}, got {column.type}")
    try:
        cast = column.cast(field.type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
        raise ValueError(f"{where}: cannot convert {column.type} to {field.type}: {error}") from None
    if pa.types.is_floating(field.type) and len(cast):
        if pa.types.is_floating(column.type):
            # float64 -> float32 turns out-of-range values into inf without complaint.
            if pc.sum(pc.is_inf(cast)).as_py() != pc.sum(pc.is_inf(column)).as_py():
                raise ValueError(f"{where}: values out of range for {field.type}")
            nan = pc.is_nan(cast)
            if pc.any(nan).as_py():
                if not field.nullable:
                    raise ValueError(f"{where}: NaN in a non-nullable column")
                # Stored as null so SQL aggregates skip it instead of returning NaN.
                cast = pc.if_else(nan, pa.scalar(None, field.type), cast)
    length = _LIST_LENGTHS.get((table_name, field.name))
    if length is not None and len(cast):
        lengths = pc.list_value_length(cast)
        wrong = pc.sum(pc.not_equal(lengths, length)).as_py() or 0
        if wrong:
            found = sorted(set(pc.unique(lengths).to_pylist()) - {length, None})
            raise ValueError(f"{where}: {wrong} row(s) have {found} values instead of {length}")
    if not field.nullable and cast.null_count:
        raise ValueError(f"{where}: {cast.null_count} null value(s) in a non-nullable column")
    return cast


def conform_table(name: str, table: pa.Table) -> pa.Table:
    """Cast ``table`` to the exact schema of shard table ``name`` (column order, types, metadata).

    Numbers convert between widths when no value changes (ints must fit, floats must be whole to
    become ints); other kind changes (number -> string, int -> bool) are refused. NaN in a nullable
    float column becomes null; NaN or null in a non-nullable column is an error.

    Raises:
        ValueError: naming the table and the column that is missing, extra or does not convert.
    """
    schema = _check_name(name)
    names = table.column_names
    if len(set(names)) != len(names):
        duplicated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"shard table {name!r}: duplicated column(s) {duplicated}")
    missing = [f.name for f in schema if f.name not in names]
    if missing:
        raise ValueError(f"shard table {name!r} lacks column(s) {missing}")
    extra = [n for n in names if schema.get_field_index(n) < 0]
    if extra:
        raise ValueError(f"shard table {name!r} has unknown column(s) {extra}; valid: {schema.names}")
    columns = [_conform_column(name, field, table.column(field.name)) for field in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _to_arrow(table_name: str, field: pa.Field, values: Sequence | np.ndarray) -> pa.Array:
    where = f"shard table {table_name!r} column {field.name!r}"
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values
    try:
        if isinstance(values, np.ndarray):
            if values.ndim == 2:
                # (N, k) matrix rows -> fixed-size lists of k values.
                flat = pa.array(np.ascontiguousarray(values).reshape(-1))
                return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
            if values.ndim != 1:
                raise ValueError(f"{where}: expected a 1-D (or (N, k) for lists) array, got shape {values.shape}")
            return pa.array(values)
        values = list(values)
        if all(v is None for v in values):
            return pa.nulls(len(values), type=field.type)
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as error:
        raise ValueError(f"{where}: cannot build an array: {error}") from None


def table_from_columns(name: str, columns: Mapping[str, Sequence | np.ndarray]) -> pa.Table:
    """Build shard table ``name`` from column values.

    Args:
        name: a key of ``SHARD_SCHEMAS``.
        columns: column name -> values: a list (None for null), a 1-D numpy array, a pyarrow
            array, or for list columns (homography, rotation, position) an (N, k) numpy array or a
            list of lists. Every column of the schema must be given, and no other.

    Returns:
        A table with exactly ``SHARD_SCHEMAS[name]`` (see ``conform_table`` for the conversions).

    Raises:
        ValueError: naming the table and column that is missing, extra, ragged or does not convert.
    """
    schema = _check_name(name)
    missing = [f.name for f in schema if f.name not in columns]
    if missing:
        raise ValueError(f"shard table {name!r} lacks column(s) {missing}")
    extra = [n for n in columns if schema.get_field_index(n) < 0]
    if extra:
        raise ValueError(f"shard table {name!r} has unknown column(s) {extra}; valid: {schema.names}")
    arrays = {field.name: _to_arrow(name, field, columns[field.name]) for field in schema}
    lengths = {n: len(a) for n, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"shard table {name!r}: columns have different lengths {lengths}")
    return conform_table(name, pa.table(arrays))


def example_shard_tables(
    match_id: str = "match-1",
    clip_id: str = "clip-0",
    shard_key: str = "0" * 64,
    *,
    n_frames: int = 4,
    n_tracks: int = 3,
    start_frame: int = 100,
    fps: float = 25.0,
    config_hash: str = "config-0",
    code_version: str = "test",
    seed: int = 0,
) -> dict[str, pa.Table]:
    """A small, valid, deterministic shard (every table of ``SHARD_SCHEMAS``) for tests and docs.

    Every track is in every frame; the last track is a referee (no team, no jersey), the others
    alternate teams A/B and the second has no jersey consensus. The ball is detected on even
    frames; the camera is valid on all frames but the last (when ``n_frames > 1``).
    """
    rng = np.random.default_rng(seed)
    width, height = 1280, 720
    frames = np.arange(start_frame, start_frame + n_frames, dtype=np.int64)
    times = frames / fps
    valid = np.array([i < n_frames - 1 or n_frames == 1 for i in range(n_frames)])
    detected = np.arange(n_frames) % 2 == 0
    homography = [[2.0, 0.0, width / 2, 0.0, 2.0, height / 2, 0.0, 0.0, 1.0] if v else None for v in valid]

    athletes: dict[str, list] = {f.name: [] for f in SHARD_SCHEMAS["athletes"]}
    for track in range(n_tracks):
        referee = track == n_tracks - 1 and n_tracks > 1
        for i, frame in enumerate(frames):
            x, y = 100.0 + 50 * track + 2 * i + float(rng.uniform(0, 1)), 300.0 + 3 * track
            row = {
                "match_id": match_id, "clip_id": clip_id, "frame_index": int(frame), "timestamp_s": float(times[i]),
                "x1": x, "y1": y, "x2": x + 20, "y2": y + 60, "confidence": 0.9 - 0.1 * track / max(n_tracks, 1),
                "class": "referee" if referee else "player", "track_id": track + 1, "tracklet_id": track + 1,
                "team": None if referee else "AB"[track % 2], "role": "referee" if referee else "player",
                "jersey": None if referee or track == 1 else 7 + track,
                "pitch_x": (x - width / 2) / 12 if valid[i] else None, "pitch_y": (y - height / 2) / 10 if valid[i] else None,
                "pitch_sigma_m": 0.3 + 0.01 * (height - y) if valid[i] else None,
                "mask_rle": '{"size": [720, 1280], "counts": [0]}' if i % 2 == 0 else None,
                "refined_x1": x + 1, "refined_y1": y + 1, "refined_x2": x + 19, "refined_y2": y + 59, "mask_score": 0.8,
                "team_agreement": None if referee else 0.75, "role_agreement": 1.0,
                "jersey_agreement": None if referee or track == 1 else 0.5,
                "jersey_votes": 0 if referee or track == 1 else 2, "track_length": n_frames,
                "role_reason": "detector class votes", "flags": None, "flag_reason": None,
                "shirt_colour": None if referee else ("#202080", "#e0e0e0")[track % 2], "shirt_crops": 0 if referee else n_frames,
                "appearance": [float(v) for v in np.eye(8, dtype=np.float32)[track % 8]] if i % 2 == 0 else None,
            }
            for name, value in row.items():
                athletes[name].append(value)
    keys = {"match_id": [match_id] * n_frames, "clip_id": [clip_id] * n_frames, "frame_index": frames, "timestamp_s": times}
    return {
        "clips": table_from_columns("clips", {
            "match_id": [match_id], "clip_id": [clip_id], "source_url": [f"file:///videos/{match_id}.mp4"],
            "start_frame": [int(start_frame)], "stop_frame": [int(start_frame + n_frames)],
            "start_s": [start_frame / fps], "end_s": [(start_frame + n_frames) / fps], "fps": [fps],
            "width": [width], "height": [height], "n_frames": [n_frames], "content_hash": ["c" * 64],
            "config_hash": [config_hash], "code_version": [code_version], "shard_key": [shard_key],
            "view": ["main"], "view_reason": [f"main on 100% of {n_frames} frames (main {n_frames})"],
            "team_a_colour": ["#202080"], "team_b_colour": ["#e0e0e0"], "team_a_side": ["left"],
        }),
        "frames": table_from_columns("frames", {
            **keys, "width": [width] * n_frames, "height": [height] * n_frames, "n_athletes": [n_tracks] * n_frames,
            "ball_detected": detected, "semantic_sample": np.arange(n_frames) % 2 == 1, "valid_camera": valid,
            "view": ["main"] * n_frames,
        }),
        "athletes": table_from_columns("athletes", athletes),
        "ball": table_from_columns("ball", {
            **keys,
            **{name: [float(v + 4 * i) if d else None for i, d in enumerate(detected)]
               for name, v in (("x1", 600), ("y1", 400), ("x2", 608), ("y2", 408))},
            "confidence": [0.6 if d else None for d in detected],
            "pitch_x": [1.0 if d and v else None for d, v in zip(detected, valid)],
            "pitch_y": [2.0 if d and v else None for d, v in zip(detected, valid)],
            "detected": detected,
            "interpolated": [False] * n_frames,
        }),
        "cameras": table_from_columns("cameras", {
            **keys, "valid_camera": valid, "homography": homography,
            **{name: [value if v else None for v in valid] for name, value in (("fx", 1000.0), ("fy", 1000.0), ("cx", 640.0), ("cy", 360.0))},
            "rotation": [[1.0, 0, 0, 0, 1, 0, 0, 0, 1] if v else None for v in valid],
            "position": [[0.0, 40.0, -15.0] if v else None for v in valid],
            "dist": [[0.0, 0.0, 0.0, 0.0] if v else None for v in valid],
            "reprojection_error_px": [1.0 + 0.5 * i if v else None for i, v in enumerate(valid)],
            "n_keypoints": [8 if v else 1 for v in valid], "n_lines": [3 if v else 0 for v in valid],
            "invalid_reason": [None if v else "too few keypoints on the pitch plane (1, need 4)" for v in valid],
            "view": ["main"] * n_frames, "view_reason": ["wide view of the pitch"] * n_frames,
            "visible_pitch_m2": [2500.0 if v else None for v in valid],
        }),
        "events": table_from_columns("events", {
            "match_id": [match_id], "clip_id": [clip_id], "frame_index": [int(start_frame)],
            "timestamp_s": [start_frame / fps], "event": ["clip_start"], "detail": [None],
        }),
    }
