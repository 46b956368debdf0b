"""Arrow schemas and Parquet I/O for exact ground truth (the synthetic renderer's labels).

Column names follow the catalog's stable ``athletes`` / ``cameras`` columns (match_id, clip_id,
frame_index, timestamp_s, x1..y2 in source pixels, pitch_x/pitch_y in metres, homography as 9
floats row-major mapping pitch metres to source pixels), so ground truth and curated shards join
on the same keys. Boxes are xyxy in pixels with exclusive right/bottom edges (a box covering
pixel columns 10..19 has x1=10, x2=20).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from soccerfactory.storage.schemas import KEY_FIELDS, table_schema

__all__ = ["GROUND_TRUTH_SCHEMAS", "GROUND_TRUTH_SCHEMA_VERSION", "write_ground_truth", "read_ground_truth"]

# 2: cameras.view (the true view of each frame's shot); athletes.role may be "other" (off-pitch
# people). Version-1 files still read: read_ground_truth fills the missing view with null.
GROUND_TRUTH_SCHEMA_VERSION = "2"

_BOX = [pa.field(name, pa.float32()) for name in ("x1", "y1", "x2", "y2")]


def _schema(name: str, fields: Sequence[pa.Field], doc: str) -> pa.Schema:
    return table_schema(name, fields, doc, version=GROUND_TRUTH_SCHEMA_VERSION)


GROUND_TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "athletes": _schema(
        "athletes",
        KEY_FIELDS
        + _BOX
        + [
            pa.field("track_id", pa.int64(), nullable=False),
            pa.field("class", pa.string(), nullable=False),
            pa.field("team", pa.string()),  # "left" / "right" (the half defended at kick-off), null for referees and other
            pa.field("role", pa.string(), nullable=False),  # player / goalkeeper / referee / other (off-pitch people)
            pa.field("jersey", pa.int32()),  # null for referees and other
            pa.field("jersey_legible", pa.bool_(), nullable=False),
            pa.field("pitch_x", pa.float32(), nullable=False),
            pa.field("pitch_y", pa.float32(), nullable=False),
            pa.field("visible_area_px", pa.int64(), nullable=False),
            pa.field("amodal_x1", pa.float32()),
            pa.field("amodal_y1", pa.float32()),
            pa.field("amodal_x2", pa.float32()),
            pa.field("amodal_y2", pa.float32()),
            pa.field("facing_rad", pa.float32()),
            pa.field("speed_mps", pa.float32()),
            pa.field("mask_rle", pa.string(), nullable=False),  # COCO RLE counts as JSON list, column-major
        ],
        "One row per athlete per frame where any part of the athlete is visible; box = visible part.",
    ),
    "ball": _schema(
        "ball",
        KEY_FIELDS
        + _BOX
        + [
            pa.field("visible", pa.bool_(), nullable=False),
            pa.field("in_play", pa.bool_(), nullable=False),
            pa.field("pitch_x", pa.float32(), nullable=False),
            pa.field("pitch_y", pa.float32(), nullable=False),
            pa.field("pitch_z", pa.float32(), nullable=False),  # metres, negative above the grass
            pa.field("interpolated", pa.bool_(), nullable=False),
        ],
        "One row per frame; box is null when the ball is hidden or out of the image.",
    ),
    "cameras": _schema(
        "cameras",
        KEY_FIELDS
        + [
            pa.field("valid_camera", pa.bool_(), nullable=False),
            pa.field("homography", pa.list_(pa.float64(), 9), nullable=False),
            pa.field("reprojection_error_px", pa.float32(), nullable=False),
            pa.field("fx", pa.float64(), nullable=False),
            pa.field("fy", pa.float64(), nullable=False),
            pa.field("cx", pa.float64(), nullable=False),
            pa.field("cy", pa.float64(), nullable=False),
            pa.field("rotation", pa.list_(pa.float64(), 9), nullable=False),  # world->camera, row-major
            pa.field("position_x", pa.float64(), nullable=False),
            pa.field("position_y", pa.float64(), nullable=False),
            pa.field("position_z", pa.float64(), nullable=False),
            pa.field("distortion", pa.list_(pa.float64())),  # OpenCV k1, k2, p1, p2; empty = none
            pa.field("pan_deg", pa.float32(), nullable=False),
            pa.field("tilt_deg", pa.float32(), nullable=False),
            pa.field("hfov_deg", pa.float32(), nullable=False),
            pa.field("view", pa.string()),  # main / zoomed / close-up: the true view of the frame's shot; null before version 2
        ],
        "One row per frame: the exact camera (close-ups included) and the frame's true view. The homography maps "
        "pitch metres (z=0) to undistorted pixels.",
    ),
    "keypoints": _schema(
        "keypoints",
        KEY_FIELDS
        + [
            pa.field("keypoint_id", pa.int32(), nullable=False),
            pa.field("name", pa.string(), nullable=False),
            pa.field("x", pa.float32(), nullable=False),
            pa.field("y", pa.float32(), nullable=False),
            pa.field("in_image", pa.bool_(), nullable=False),
            pa.field("occluded", pa.bool_(), nullable=False),
            pa.field("pitch_x", pa.float32(), nullable=False),
            pa.field("pitch_y", pa.float32(), nullable=False),
            pa.field("pitch_z", pa.float32(), nullable=False),
        ],
        "Every named pitch keypoint in every frame, with where it lands in the image.",
    ),
    "lines": _schema(
        "lines",
        KEY_FIELDS
        + [
            pa.field("line", pa.string(), nullable=False),
            pa.field("point_index", pa.int32(), nullable=False),
            pa.field("x", pa.float32(), nullable=False),
            pa.field("y", pa.float32(), nullable=False),
            pa.field("pitch_x", pa.float32(), nullable=False),
            pa.field("pitch_y", pa.float32(), nullable=False),
            pa.field("pitch_z", pa.float32(), nullable=False),
        ],
        "Points every metre along each named pitch line, kept where they fall inside the image.",
    ),
    "events": _schema(
        "events",
        KEY_FIELDS
        + [
            pa.field("event", pa.string(), nullable=False),  # pass / shot / out / goal
            pa.field("detail", pa.string()),
            pa.field("team", pa.string()),
            pa.field("track_id", pa.int64()),
            pa.field("pitch_x", pa.float32(), nullable=False),
            pa.field("pitch_y", pa.float32(), nullable=False),
        ],
        "Ball events with the frame at which they happen.",
    ),
}


def write_ground_truth(directory: str | os.PathLike, columns: Mapping[str, Mapping[str, list]]) -> dict[str, Path]:
    """Write each table as ``<directory>/<table>.parquet``, validated against its schema.

    Args:
        directory: a local folder; each file is written under a temporary name and renamed, so a
            reader never sees a half-written file.
        columns: table name -> column name -> values (one list per column).

    Returns:
        table name -> written path.

    Raises:
        KeyError: for an unknown table name (the valid names are listed).
        pyarrow.ArrowInvalid / ArrowTypeError: when a column does not fit its schema.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for table_name, table_columns in columns.items():
        if table_name not in GROUND_TRUTH_SCHEMAS:
            raise KeyError(f"unknown ground-truth table {table_name!r}; valid: {', '.join(GROUND_TRUTH_SCHEMAS)}")
        schema = GROUND_TRUTH_SCHEMAS[table_name]
        missing = [f.name for f in schema if f.name not in table_columns]
        if missing:
            raise KeyError(f"table {table_name!r} lacks columns {missing}")
        table = pa.table({f.name: pa.array(table_columns[f.name], type=f.type) for f in schema}, schema=schema)
        path = directory / f"{table_name}.parquet"
        temporary = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, path)
        written[table_name] = path
    return written


def read_ground_truth(directory: str | os.PathLike, table: str) -> pa.Table:
    """Read one ground-truth table written by ``write_ground_truth``."""
    if table not in GROUND_TRUTH_SCHEMAS:
        raise KeyError(f"unknown ground-truth table {table!r}; valid: {', '.join(GROUND_TRUTH_SCHEMAS)}")
    path = Path(directory) / f"{table}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"no ground-truth table at {path}")
    return pq.read_table(path, schema=GROUND_TRUTH_SCHEMAS[table])
