"""Ground-truth Parquet: schema-checked writes, and reads of files from older schema versions."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMA_VERSION, GROUND_TRUTH_SCHEMAS, read_ground_truth, write_ground_truth


def _camera_row(view):
    row = {field.name: None for field in GROUND_TRUTH_SCHEMAS["cameras"]}
    row.update(
        match_id="m", clip_id="c", frame_index=0, timestamp_s=0.0, valid_camera=True, homography=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        reprojection_error_px=0.0, fx=1000.0, fy=1000.0, cx=640.0, cy=360.0, rotation=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        position_x=0.0, position_y=50.0, position_z=-20.0, distortion=[], pan_deg=0.0, tilt_deg=20.0, hfov_deg=40.0, view=view,
    )
    return row


def test_cameras_carry_the_true_view(tmp_path):
    assert GROUND_TRUTH_SCHEMA_VERSION == "2"
    assert GROUND_TRUTH_SCHEMAS["cameras"].field("view").type == pa.string()
    rows = [_camera_row("main"), {**_camera_row("close-up"), "frame_index": 1}]
    write_ground_truth(tmp_path, {"cameras": {k: [r[k] for r in rows] for k in rows[0]}})
    table = read_ground_truth(tmp_path, "cameras")
    assert table.column("view").to_pylist() == ["main", "close-up"]
    assert table.schema.metadata[b"soccerfactory.schema_version"] == b"2"


def test_version_1_files_read_with_a_null_view(tmp_path):
    """Clips rendered before the view column still read: their view is null, not an error."""
    row = _camera_row(None)
    old = GROUND_TRUTH_SCHEMAS["cameras"].remove(GROUND_TRUTH_SCHEMAS["cameras"].get_field_index("view"))
    pq.write_table(pa.table({f.name: [row[f.name]] for f in old}, schema=old), tmp_path / "cameras.parquet")
    table = read_ground_truth(tmp_path, "cameras")
    assert table.column("view").to_pylist() == [None] and table.column("fx").to_pylist() == [1000.0]


def test_unknown_table_and_missing_column_are_named(tmp_path):
    with pytest.raises(KeyError, match="valid: athletes"):
        write_ground_truth(tmp_path, {"people": {}})
    row = _camera_row("main")
    del row["view"]
    with pytest.raises(KeyError, match="lacks columns \\['view'\\]"):
        write_ground_truth(tmp_path, {"cameras": {k: [v] for k, v in row.items()}})
