"""A catalog is portable: its paths are relative to its root, and the views follow the catalog
wherever it is opened from. Real DuckDB files, real Parquet, real copies and moves."""

from __future__ import annotations

import shutil

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from soccerfactory.storage.catalog import connect, ensure_catalog, register_ground_truth, register_shards
from soccerfactory.storage.export import run_query
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard


def _write(root, clip_id, n, **kwargs):
    key = f"{n:016x}" + "f" * 48
    tables = example_shard_tables("match-1", clip_id, key, **kwargs)
    return write_shard(root, "match-1", clip_id, key, tables, config_hash="config-0", code_version="test", metadata={})


def _frames(catalog) -> list[tuple[str, int]]:
    sql = "SELECT clip_id, count(*) AS n FROM frames GROUP BY 1 ORDER BY 1"
    return [(row["clip_id"], row["n"]) for row in run_query(catalog, sql).to_pylist()]


def test_a_copied_root_reads_its_own_files_and_outlives_the_original(tmp_path):
    original, copy = tmp_path / "original", tmp_path / "copy"
    register_shards(original / "catalog.duckdb", [_write(original, "clip-0", 1), _write(original, "clip-1", 2)])
    shutil.copytree(original, copy)

    # The copy re-curates one clip (other rows, other files): only the copy changes.
    register_shards(copy / "catalog.duckdb", [_write(copy, "clip-0", 3, n_frames=2)])
    assert _frames(copy / "catalog.duckdb") == [("clip-0", 2), ("clip-1", 4)]
    assert _frames(original / "catalog.duckdb") == [("clip-0", 4), ("clip-1", 4)]
    # A damaged file in the copy is the copy's problem only.
    next((copy / "shards").rglob("frames-0000000000000002*.parquet")).write_bytes(b"not parquet")
    assert _frames(original / "catalog.duckdb") == [("clip-0", 4), ("clip-1", 4)]

    # Another copy, then the original is deleted: the copy answers from its own files.
    again = tmp_path / "again"
    shutil.copytree(original, again)
    shutil.rmtree(original)
    assert _frames(again / "catalog.duckdb") == [("clip-0", 4), ("clip-1", 4)]
    with connect(again / "catalog.duckdb", read_only=True) as connection:  # what a notebook does
        assert connection.execute("SELECT count(*) FROM tracks").fetchall() == [(6,)]
        assert connection.execute("SELECT value FROM catalog_meta WHERE key = 'root'").fetchall() == [(".",)]


def test_a_catalog_kept_beside_its_root_moves_with_it_ground_truth_included(tmp_path):
    place = tmp_path / "place"
    root, catalog = place / "data", place / "catalogs" / "curated.duckdb"
    register_shards(catalog, [_write(root, "clip-0", 1)])
    gt = root / "synthetic" / "clip" / "gt" / "athletes.parquet"
    gt.parent.mkdir(parents=True)
    pq.write_table(pa.table({"match_id": ["m"], "frame_index": [0]}), gt)
    assert register_ground_truth(catalog, root / "synthetic") == {"athletes": 1}

    moved = tmp_path / "moved"
    shutil.move(place, moved)
    catalog = moved / "catalogs" / "curated.duckdb"
    with connect(catalog, read_only=True) as connection:
        assert connection.execute("SELECT value FROM catalog_meta WHERE key = 'root'").fetchall() == [("../data",)]
        assert connection.execute("SELECT count(*) FROM frames").fetchall() == [(4,)]
    assert run_query(catalog, "SELECT count(*) AS n FROM gt_athletes").to_pylist() == [{"n": 1}]  # the locked-down query too

    # A write connection regenerates the stored views, so a plain DuckDB connection reads the
    # moved files from then on (the README's "open it by hand").
    ensure_catalog(catalog)
    with duckdb.connect(str(catalog), read_only=True) as connection:
        # The frames view reads its registered_frames() macro, which holds the file list.
        sql = connection.execute("SELECT macro_definition FROM duckdb_functions() WHERE function_name = 'registered_frames'").fetchall()[0][0]
        assert str(moved / "data") in sql and str(place) not in sql
        assert connection.execute("SELECT count(*) FROM frames").fetchall() == [(4,)]
        assert connection.execute("SELECT count(*) FROM gt_athletes").fetchall() == [(1,)]


def test_remote_roots_keep_absolute_urls_and_the_locked_down_query_reads_them(tmp_path):
    import uuid

    import fsspec

    root = f"memory://portable-{uuid.uuid4().hex[:8]}"
    fs = fsspec.filesystem("memory")
    try:
        catalog = tmp_path / "catalog.duckdb"
        manifest = _write(root, "clip-0", 1)
        register_shards(catalog, [manifest])
        with connect(catalog, read_only=True) as connection:
            assert connection.execute("SELECT manifest_url FROM shards").fetchall() == [(manifest.url,)]
            (stored_root,) = connection.execute("SELECT value FROM catalog_meta WHERE key = 'root'").fetchall()[0]
        assert manifest.url.startswith("memory://") and stored_root == manifest.url.rsplit("/", 4)[0]
        assert _frames(catalog) == [("clip-0", 4)]  # same process: the memory filesystem is registered
    finally:
        fs.rm(root, recursive=True)


def test_ground_truth_of_a_catalog_from_before_catalog_meta_is_still_readable(tmp_path):
    gt = tmp_path / "synthetic" / "clip" / "gt" / "athletes.parquet"
    gt.parent.mkdir(parents=True)
    pq.write_table(pa.table({"match_id": ["m"]}), gt)
    catalog = tmp_path / "catalog.duckdb"
    register_ground_truth(catalog, tmp_path / "synthetic")
    with connect(catalog) as connection:
        connection.execute("DELETE FROM catalog_meta WHERE key = 'ground_truth'")  # as an older catalog has it
    assert run_query(catalog, "SELECT count(*) AS n FROM gt_athletes").to_pylist() == [{"n": 1}]


def test_a_catalog_file_copied_alone_reads_the_root_it_was_made_from(tmp_path):
    # The usual root is "." (the catalog's own folder): once it was taken as found wherever the
    # file was copied to, and the first write connection there quarantined every shard as missing.
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    register_shards(root / "catalog.duckdb", [_write(root, "clip-0", 1), _write(root, "clip-1", 2)])
    elsewhere.mkdir()
    shutil.copy(root / "catalog.duckdb", elsewhere / "catalog.duckdb")
    assert _frames(elsewhere / "catalog.duckdb") == [("clip-0", 4), ("clip-1", 4)]
    with connect(elsewhere / "catalog.duckdb") as connection:  # a write connection: views re-made, sizes checked
        assert connection.execute("SELECT count(*) FROM shards").fetchone() == (2,)
        assert connection.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
