"""track_flags over a real catalog (real DuckDB file, real shard Parquet): the shard's flags and the
ones SQL derives (short, off-pitch, duplicate), each with its reason."""

from __future__ import annotations

import pyarrow as pa
import pytest

from soccerfactory.storage.catalog import connect, register_shards
from soccerfactory.storage.examples import example_key
from soccerfactory.storage.schemas import SHARD_SCHEMAS, example_shard_tables
from soccerfactory.storage.shards import write_shard
from soccerfactory.storage.views import AGGREGATE_VIEWS


def _flagged_shard(root):
    """Five tracks over four frames at 2.5 fps (1.6 s): 1 and 2 on one person (2 is 1's box 1 px
    right, IoU 0.9), 3 seen on two frames (0.8 s) with shard flags, 4 clean, 5 a referee 17.5 m
    beyond the goal line (its last frame has no camera, so no position)."""
    tables = example_shard_tables("match-1", "clip-0", example_key(1), n_frames=4, n_tracks=5, fps=2.5)
    rows = tables["athletes"].to_pylist()
    first = {r["frame_index"]: r for r in rows if r["track_id"] == 1}
    kept = []
    for row in rows:
        if row["track_id"] == 2:
            box = first[row["frame_index"]]
            row.update(x1=box["x1"] + 1, x2=box["x2"] + 1, y1=box["y1"], y2=box["y2"])
        if row["track_id"] == 3:
            if row["frame_index"] > 101:
                continue
            row.update(flags="short,role-kit", flag_reason="kit of neither team nor a referee")
        if row["track_id"] == 5 and row["pitch_x"] is not None:
            row.update(pitch_x=70.0)
        kept.append(row)
    tables["athletes"] = pa.Table.from_pylist(kept, schema=SHARD_SCHEMAS["athletes"])
    return write_shard(root, "match-1", "clip-0", example_key(1), tables, config_hash="config-0", code_version="test", metadata={"run_id": "run-1"})


def test_track_flags_combine_the_shard_flags_with_sql_checks(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    register_shards(catalog, [_flagged_shard(tmp_path / "out")])
    assert "track_flags" in AGGREGATE_VIEWS
    with connect(catalog, read_only=True) as connection:
        flags = {row["track_id"]: row for row in connection.sql("SELECT * FROM track_flags").to_arrow_table().to_pylist()}
        comment = connection.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'track_flags'").fetchone()[0]
        documented = connection.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'track_flags' AND comment IS NOT NULL").fetchone()[0]
    assert comment and documented >= 10
    assert sorted(flags) == [1, 2, 3, 4, 5]

    assert flags[4]["flags"] is None and flags[4]["reason"] is None and flags[4]["span_s"] == pytest.approx(1.6)
    assert flags[1]["flags"] == flags[2]["flags"] == "duplicate"
    assert (flags[1]["duplicate_of"], flags[2]["duplicate_of"], flags[1]["n_duplicate_rows"]) == (2, 1, 4)
    assert flags[1]["reason"] == "overlaps track 2 at IoU >= 0.8 on 4 of 4 rows"
    # The shard's flags are sorted and merged with the derived ones; its reason comes first.
    short = flags[3]
    assert (short["shard_flags"], short["derived_flags"], short["flags"]) == ("role-kit,short", "short", "role-kit,short")
    assert short["span_s"] == pytest.approx(0.8)
    assert short["reason"] == "kit of neither team nor a referee; spans 0.80 s (under 1 s)"
    referee = flags[5]
    assert referee["flags"] == "off-pitch" and referee["role"] == "referee"
    assert (referee["n_positioned_rows"], referee["off_pitch_share"]) == (3, 1.0)
    assert referee["reason"] == "role referee: 3 of 3 positioned rows more than 2 m + 2 sigma outside the pitch"


def test_track_flags_of_an_empty_catalog_bind_and_are_empty(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    register_shards(catalog, [])
    with connect(catalog, read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM track_flags").fetchone() == (0,)
