"""Shard schemas: the stable contract, conversions that are allowed, and inputs that are refused."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from soccerfactory.storage.schemas import (
    SHARD_SCHEMA_VERSION,
    SHARD_SCHEMAS,
    STABLE_COLUMNS,
    conform_table,
    empty_table,
    example_shard_tables,
    table_from_columns,
)

# The contract analysts and the data loader rely on. Changing any of it needs a new
# SHARD_SCHEMA_VERSION and a migration note, not an edit of this dict.
PINNED = {
    "athletes": {
        "match_id": "string",
        "clip_id": "string",
        "frame_index": "int64",
        "timestamp_s": "double",
        "x1": "float",
        "y1": "float",
        "x2": "float",
        "y2": "float",
        "confidence": "float",
        "class": "string",
        "track_id": "int64",
        "team": "string",
        "role": "string",
        "jersey": "int32",
        "pitch_x": "float",
        "pitch_y": "float",
    },
    "cameras": {
        "match_id": "string",
        "clip_id": "string",
        "frame_index": "int64",
        "valid_camera": "bool",
        "homography": "list<item: double>",
        "reprojection_error_px": "float",
    },
}


def test_stable_columns_keep_their_names_and_types():
    assert SHARD_SCHEMA_VERSION == "4"
    for table, columns in PINNED.items():
        assert set(columns) <= set(STABLE_COLUMNS[table]), f"{table}: a pinned column left STABLE_COLUMNS"
        schema = SHARD_SCHEMAS[table]
        assert {name: str(schema.field(name).type) for name in columns} == columns
    for table, columns in STABLE_COLUMNS.items():
        assert set(columns) <= set(SHARD_SCHEMAS[table].names), f"{table}: STABLE_COLUMNS names a column the schema lacks"


def test_every_table_has_keys_and_metadata():
    assert set(SHARD_SCHEMAS) == {"clips", "frames", "athletes", "ball", "cameras", "events"}
    for name, schema in SHARD_SCHEMAS.items():
        assert schema.metadata[b"soccerfactory.table"] == name.encode()
        assert schema.metadata[b"soccerfactory.schema_version"] == SHARD_SCHEMA_VERSION.encode()
        assert schema.metadata[b"soccerfactory.doc"]
        keys = ["match_id", "clip_id"] if name == "clips" else ["match_id", "clip_id", "frame_index", "timestamp_s"]
        assert schema.names[: len(keys)] == keys
        assert not any(schema.field(key).nullable for key in keys)


def test_empty_table_has_the_exact_schema_and_unknown_names_list_the_valid_ones():
    table = empty_table("ball")
    assert table.num_rows == 0 and table.schema.equals(SHARD_SCHEMAS["ball"], check_metadata=True)
    with pytest.raises(ValueError, match="valid: clips, frames"):
        empty_table("balls")


def _camera_columns(n: int = 2) -> dict:
    return {
        "match_id": ["m"] * n,
        "clip_id": ["c"] * n,
        "frame_index": np.arange(n),
        "timestamp_s": np.arange(n) / 25.0,
        "valid_camera": np.array([True] * (n - 1) + [False]),
        "homography": np.tile(np.eye(3).reshape(1, 9), (n, 1)),
        "fx": [1000.0] * (n - 1) + [None],
        "fy": np.array([1000.0] * (n - 1) + [np.nan]),
        "cx": [640] * n,
        "cy": [360.0] * n,
        "rotation": [[1.0, 0, 0, 0, 1, 0, 0, 0, 1]] * (n - 1) + [None],
        "position": [[0.0, 40.0, -15.0]] * (n - 1) + [None],
        "dist": [[0.1, 0.0]] * (n - 1) + [[]],
        "reprojection_error_px": np.array([0.5] * (n - 1) + [np.nan]),
        "n_keypoints": np.array([6] * n, dtype=np.int64),
        "n_lines": [2] * n,
        "invalid_reason": [None] * n,
        "view": ["main"] * n,
        "view_reason": ["wide view"] * n,
        "visible_pitch_m2": [2400.0] * n,
    }


def test_table_from_columns_casts_numpy_lists_and_nulls():
    table = table_from_columns("cameras", _camera_columns())
    assert table.schema.equals(SHARD_SCHEMAS["cameras"], check_metadata=True)
    rows = table.to_pylist()
    assert rows[0]["homography"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert rows[0]["cx"] == 640.0 and rows[0]["n_keypoints"] == 6
    # NaN in a nullable float column is stored as null so SQL aggregates skip it.
    assert rows[1]["fy"] is None and rows[1]["reprojection_error_px"] is None and rows[1]["fx"] is None
    assert rows[1]["rotation"] is None and rows[1]["dist"] == []


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("n_lines", ["a", "b"], "column 'n_lines': expected int32, got string"),
        ("n_lines", [1.5, 2.0], "column 'n_lines': cannot convert double to int32"),
        ("n_lines", [2**40, 1], "column 'n_lines': cannot convert int64 to int32"),
        ("match_id", [1, 2], "column 'match_id': expected string, got int64"),
        ("valid_camera", [1, 0], "column 'valid_camera': expected bool"),
        ("frame_index", [None, 1], "column 'frame_index': 1 null value"),
        ("timestamp_s", [0.0, float("nan")], "column 'timestamp_s': NaN in a non-nullable column"),
        ("reprojection_error_px", [1e40, 1.0], "column 'reprojection_error_px': values out of range for float"),
        ("homography", [[1.0] * 8, None], "column 'homography': 1 row\\(s\\) have \\[8\\] values instead of 9"),
        ("position", np.zeros((2, 2)), "column 'position': 2 row\\(s\\) have \\[2\\] values instead of 3"),
        ("cx", [1.0], "different lengths"),
    ],
)
def test_table_from_columns_names_the_table_and_bad_column(column, values, message):
    columns = _camera_columns()
    columns[column] = values
    with pytest.raises(ValueError, match=message) as error:
        table_from_columns("cameras", columns)
    assert "cameras" in str(error.value)


def test_missing_and_extra_columns_are_named():
    columns = _camera_columns()
    del columns["n_lines"]
    with pytest.raises(ValueError, match=r"shard table 'cameras' lacks column\(s\) \['n_lines'\]"):
        table_from_columns("cameras", columns)
    columns = {**_camera_columns(), "speed": [1.0, 2.0]}
    with pytest.raises(ValueError, match=r"shard table 'cameras' has unknown column\(s\) \['speed'\]"):
        table_from_columns("cameras", columns)


def test_conform_table_reorders_and_recasts_an_arrow_table():
    events = example_shard_tables()["events"]
    shuffled = pa.table({name: events.column(name) for name in reversed(events.column_names)})
    wider = shuffled.set_column(shuffled.column_names.index("frame_index"), "frame_index", shuffled.column("frame_index").cast(pa.int32()))
    conformed = conform_table("events", wider)
    assert conformed.schema.equals(SHARD_SCHEMAS["events"], check_metadata=True)
    assert conformed.equals(events)


def test_example_shard_tables_are_valid_and_consistent():
    tables = example_shard_tables("m", "c", "ab" * 32, n_frames=5, n_tracks=4)
    for name, table in tables.items():
        assert table.schema.equals(SHARD_SCHEMAS[name], check_metadata=True)
        assert set(table.column("match_id").to_pylist()) <= {"m"}
    assert tables["athletes"].num_rows == 5 * 4
    assert tables["frames"].column("frame_index").to_pylist() == tables["cameras"].column("frame_index").to_pylist()
    assert tables["clips"].column("shard_key").to_pylist() == ["ab" * 32]
