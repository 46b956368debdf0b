"""A shard written with an older readable schema version (2: no ``athletes.shirt_colour`` /
``shirt_crops``) still registers, reads and sits in the views beside current shards, its missing
columns null; real shards, real Parquet, real DuckDB."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq

from soccerfactory.storage.catalog import connect, ensure_catalog, register_shards
from soccerfactory.storage.schemas import ADDED_COLUMNS, SHARD_SCHEMA_VERSION, columns_added_after, example_shard_tables
from soccerfactory.storage.shards import read_manifest, read_shard, shard_file_urls, write_shard


def _write(root, clip_id, n):
    key = f"{n:016x}" + "e" * 48
    tables = example_shard_tables("match-1", clip_id, key)
    return write_shard(root, "match-1", clip_id, key, tables, config_hash="config-0", code_version="test", metadata={"run_id": "run-1"})


def _as_version_2(manifest):
    """The shard as version 2 wrote it: its athletes file without the columns version 3 added."""
    path = Path(shard_file_urls(manifest)["athletes"])
    pq.write_table(pq.ParquetFile(path).read().drop_columns(list(columns_added_after("athletes", "2"))), path)
    data = json.loads(Path(manifest.url).read_text())
    data["schema_version"] = "2"
    data["files"]["athletes"].update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    Path(manifest.url).write_text(json.dumps(data))
    return read_manifest(manifest.url)


def test_columns_added_after_names_what_an_older_version_lacks():
    assert SHARD_SCHEMA_VERSION == "4"
    assert columns_added_after("athletes", "2") == ("shirt_colour", "shirt_crops", "appearance")
    assert columns_added_after("athletes", "3") == ("appearance",) and ADDED_COLUMNS["4"] == {"athletes": ("appearance",)}
    assert columns_added_after("athletes", "4") == () and columns_added_after("clips", "2") == ()


def test_a_version_2_shard_registers_and_reads_beside_a_current_one(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    old = _as_version_2(_write(root, "clip-0", 1))
    # A catalog that holds the old shard first, then gets a current one (its views were bound to the old file).
    assert register_shards(catalog, [old])["registered"] == 1
    result = register_shards(catalog, [_write(root, "clip-1", 2)])
    assert result["registered"] == 1 and result["quarantined"] == []
    ensure_catalog(catalog)  # a full refresh checks every registered file's columns again
    with connect(catalog, read_only=True) as connection:
        rows = connection.execute(
            "SELECT clip_id, count(*), count(shirt_colour), count(shirt_crops), count(role_reason) FROM athletes GROUP BY clip_id ORDER BY clip_id"
        ).fetchall()
        assert connection.execute("SELECT count(*) FROM quarantine").fetchall() == [(0,)]
        assert connection.execute("SELECT count(*) FROM tracks").fetchall()[0][0] > 0
    (_, n_old, colour_old, crops_old, reason_old), (_, n_new, colour_new, crops_new, _) = rows
    assert (colour_old, crops_old) == (0, 0) and reason_old == n_old  # the old rows: every other column, no shirt
    assert colour_new > 0 and crops_new == n_new
    athletes = read_shard(old, ["athletes"])["athletes"]
    assert athletes.column("shirt_colour").null_count == athletes.num_rows and athletes.num_rows == n_old


def test_a_version_2_shard_missing_a_column_it_had_is_still_quarantined(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    old = _as_version_2(_write(root, "clip-0", 1))
    path = Path(shard_file_urls(old)["athletes"])
    pq.write_table(pq.ParquetFile(path).read().drop_columns(["role_reason"]), path)
    data = json.loads(Path(old.url).read_text())
    data["files"]["athletes"].update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    Path(old.url).write_text(json.dumps(data))
    result = register_shards(catalog, [read_manifest(old.url)])
    assert result["registered"] == 0 and "lacks column(s) ['role_reason']" in result["quarantined"][0]
