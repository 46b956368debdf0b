"""The DuckDB catalog over real shards: real DuckDB files, real Parquet, a real second process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import fsspec
import pytest

from soccerfactory.storage.catalog import CatalogLockedError, connect, ensure_catalog, record_run, register_shards
from soccerfactory.storage.catalog_sql import CATALOG_TABLES
from soccerfactory.storage.fs import resolve_url
from soccerfactory.storage.repair import rebuild_catalog
from soccerfactory.storage.schemas import SHARD_SCHEMAS
from soccerfactory.storage.shards import list_manifests, shard_file_urls
from soccerfactory.storage.views import AGGREGATE_VIEWS, DATA_VIEWS
from soccerfactory.storage.examples import EXAMPLE_RUN, catalog_values, write_example_shard


def _count(catalog, sql):
    return catalog_values(catalog, sql)[0]


def _describe(catalog):
    with connect(catalog, read_only=True) as connection:
        return {view: connection.execute(f"DESCRIBE {view}").fetchall() for view in DATA_VIEWS}


def test_fresh_catalog_has_tables_and_typed_empty_views(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    ensure_catalog(catalog)
    ensure_catalog(catalog)  # idempotent
    with connect(catalog, read_only=True) as connection:
        tables = {name for (name,) in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {name for (name,) in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
        assert set(CATALOG_TABLES) <= tables
        assert set(DATA_VIEWS) | set(AGGREGATE_VIEWS) <= views
        for view in DATA_VIEWS:
            assert connection.execute(f"SELECT count(*) FROM {view}").fetchone()[0] == 0
            assert [row[0] for row in connection.execute(f"DESCRIBE {view}").fetchall()] == SHARD_SCHEMAS[view].names
        assert connection.execute("SELECT count(*) FROM quality").fetchone()[0] == 0
        # Analysts can read every view's SQL.
        sql = dict(connection.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
        assert "FROM athletes" in sql["tracks"] and "clip_list" in sql["quality"]
        comments = dict(connection.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
        assert all(comments[view] for view in DATA_VIEWS + AGGREGATE_VIEWS)


def test_register_shards_points_views_at_registered_files_only(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    ensure_catalog(catalog)
    empty_types = _describe(catalog)
    first = write_example_shard(root, "match-1", "clip-0", n=1, n_frames=4, n_tracks=3)
    write_example_shard(root, "match-1", "clip-1", n=2, n_frames=6, n_tracks=2)  # written, not registered

    assert register_shards(catalog, [first]) == {"registered": 1, "shards": 1, "quarantined": [], "dropped": []}
    counts = catalog_values(catalog, *(f"SELECT count(*) FROM {view}" for view in DATA_VIEWS), "SELECT count(DISTINCT clip_id) FROM athletes")
    assert counts == [first.rows[view] for view in DATA_VIEWS] + [1]
    # The same columns and types before and after the first shard.
    assert _describe(catalog) == empty_types

    with connect(catalog, read_only=True) as connection:
        shard = connection.execute("SELECT shard_key, manifest_url, rows_athletes, run_id, files FROM shards").fetchall()
        clip = connection.execute("SELECT match_id, clip_id, start_frame, stop_frame, shard_key, source_url FROM clips").fetchall()
    # Stored relative to the root (tmp_path/out, recorded relative to the catalog's folder).
    assert shard[0][:4] == (first.shard_key, "shards/match_id=match-1/clip_id=clip-0/manifest.json", 12, "run-1")
    assert clip == [("match-1", "clip-0", 100, 104, first.shard_key, "file:///videos/match-1.mp4")]


def test_registering_twice_changes_nothing_and_a_new_version_replaces_the_row(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    manifests = [write_example_shard(root, "match-1", "clip-0", n=1), write_example_shard(root, "match-2", "clip-0", n=1)]
    register_shards(catalog, manifests)
    tables = ("shards", "clips", "athletes", "frames", "tracks", "quality")
    snapshot = catalog_values(catalog, *(f"SELECT count(*) FROM {table}" for table in tables))
    register_shards(catalog, manifests)
    register_shards(catalog, manifests[:1])
    assert catalog_values(catalog, *(f"SELECT count(*) FROM {table}" for table in tables)) == snapshot == [2, 2, 24, 8, 6, 2]

    # Re-curating a clip with another key deletes its old files; the view must follow.
    newer = write_example_shard(root, "match-1", "clip-0", n=5, n_frames=2, n_tracks=1)
    register_shards(catalog, [newer])
    assert catalog_values(
        catalog,
        "SELECT count(*) FROM shards",
        "SELECT count(*) FROM athletes WHERE match_id = 'match-1'",
        f"SELECT count(*) FROM clips WHERE shard_key = '{newer.shard_key}'",
    ) == [2, 2, 1]


def test_a_registered_shard_whose_files_vanished_is_dropped_instead_of_blocking_the_catalog(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    register_shards(catalog, [write_example_shard(root, "match-1", "clip-0", n=1), write_example_shard(root, "match-1", "clip-1", n=2)])
    write_example_shard(root, "match-1", "clip-0", n=3)  # re-curated: its old files are gone, the new shard is not registered yet
    result = register_shards(catalog, [write_example_shard(root, "match-2", "clip-0", n=4)])
    assert result["shards"] == 2
    assert len(result["dropped"]) == 1 and result["dropped"][0].startswith("match-1/clip-0: ")
    assert catalog_values(catalog, "SELECT count(*) FROM athletes", "SELECT count(*) FROM clips WHERE clip_id = 'clip-0'") == [24, 1]
    # Registering the new version brings the clip back.
    register_shards(catalog, list_manifests(root))
    assert catalog_values(catalog, "SELECT count(*) FROM shards", "SELECT count(*) FROM athletes") == [3, 36]


def test_tracks_and_quality_from_known_shards(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    register_shards(catalog, [write_example_shard(root, "match-1", "clip-0", n=1), write_example_shard(root, "match-1", "clip-1", n=2, start_frame=200)])
    record_run(catalog, EXAMPLE_RUN)
    with connect(catalog, read_only=True) as connection:
        tracks = connection.execute(
            "SELECT track_id, first_frame, last_frame, n_rows, role, team, jersey, team_agreement, jersey_votes "
            "FROM tracks WHERE clip_id = 'clip-0' ORDER BY track_id"
        ).fetchall()
        quality = connection.sql("SELECT * FROM quality ORDER BY clip_id").to_arrow_table().to_pylist()
        match = connection.sql("SELECT * FROM quality_match").to_arrow_table().to_pylist()
    assert tracks == [
        (1, 100, 103, 4, "player", "A", 7, 0.75, 2),
        (2, 100, 103, 4, "player", "B", None, 0.75, 0),
        (3, 100, 103, 4, "referee", None, None, None, 0),
    ]
    clip0 = quality[0]
    assert (clip0["match_id"], clip0["clip_id"]) == ("match-1", "clip-0")
    assert clip0["n_frames"] == 4 and clip0["n_athlete_rows"] == 12 and clip0["athletes_per_frame"] == 3.0
    assert clip0["n_tracks"] == 3
    assert clip0["calibrated_fraction"] == 0.75  # the last frame has no valid camera
    assert clip0["mean_reprojection_error_px"] == pytest.approx(1.5)  # 1.0, 1.5, 2.0 over valid frames
    assert clip0["median_reprojection_error_px"] == pytest.approx(1.5)
    assert clip0["jersey_coverage"] == 0.5  # two player tracks, one with a jersey; the referee does not count
    assert clip0["mean_team_agreement"] == pytest.approx(0.75)
    assert clip0["ball_detected_fraction"] == 0.5
    assert clip0["n_failures"] == 1 and quality[1]["n_failures"] == 0
    assert len(match) == 1
    assert match[0]["n_clips"] == 2 and match[0]["n_frames"] == 8 and match[0]["n_tracks"] == 6
    assert match[0]["n_failures"] == 2  # the clip failure and the whole-source failure


def test_record_run_upserts_the_run_and_replaces_its_failures(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    record_run(catalog, EXAMPLE_RUN)
    record_run(catalog, {**EXAMPLE_RUN, "status": "completed", "failures": EXAMPLE_RUN["failures"][:1]})
    with connect(catalog, read_only=True) as connection:
        runs = connection.execute("SELECT run_id, status, n_clips, n_failed, flow_run_id, started_at::VARCHAR FROM runs").fetchall()
        failures = connection.execute("SELECT run_id, source_url, clip_id, stage, reason, recorded_at::VARCHAR FROM failures").fetchall()
    assert runs == [("run-1", "completed", 3, 1, "f-1", "2024-05-01 10:00:00+00")]
    assert failures == [("run-1", "file:///videos/match-1.mp4", "clip-0", "calibrate", "no keypoints", "2024-05-01 10:05:00+00")]
    with pytest.raises(ValueError, match="status"):
        record_run(catalog, {"run_id": "run-2", "started_at": "2024-05-01T10:00:00Z"})


def test_register_quarantines_a_shard_with_a_missing_file_and_registers_the_rest(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    good = write_example_shard(root, "match-1", "clip-0", n=1)
    register_shards(catalog, [good])
    broken = write_example_shard(root, "match-1", "clip-1", n=2)
    url = shard_file_urls(broken)["ball"]
    fs, path = resolve_url(url)
    fs.rm(path)
    result = register_shards(catalog, [broken, write_example_shard(root, "match-2", "clip-0", n=3)])
    assert result["registered"] == 1 and result["shards"] == 2
    assert result["quarantined"] == [f"match-1/clip-1: {url}: the file is missing"]
    assert catalog_values(catalog, "SELECT count(*) FROM shards", "SELECT count(*) FROM ball", "SELECT count(*) FROM quarantine WHERE clip_id = 'clip-1'") == [
        2, 2 * good.rows["ball"], 1
    ]


def test_memory_root_shards_are_queryable_in_this_process(tmp_path):
    fs = fsspec.filesystem("memory")
    root = f"memory://catalog-test-{uuid.uuid4().hex[:8]}"
    try:
        manifests = [write_example_shard(root, "match-1", "clip-0", n=1), write_example_shard(root, "match-1", "clip-1", n=2)]
        catalog = tmp_path / "catalog.duckdb"
        register_shards(catalog, manifests)
        assert manifests[0].url.startswith("memory://")
        assert catalog_values(catalog, "SELECT count(*) FROM athletes", "SELECT count(*) FROM quality") == [24, 2]
        report = rebuild_catalog(root, catalog)
        assert report["shards"] == 2 and report["problems"] == []
        assert _count(catalog, "SELECT count(*) FROM cameras") == 8
    finally:
        fs.store.clear()
        fs.pseudo_dirs.clear()
        fs.pseudo_dirs.append("")


_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    import duckdb
    connection = duckdb.connect(sys.argv[1])
    connection.execute("CREATE TABLE IF NOT EXISTS held (x INTEGER)")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    connection.close()
    print("released", time.time(), flush=True)
    """
)


def test_a_second_writer_waits_for_the_lock_then_fails_clearly_or_succeeds(tmp_path):
    catalog = tmp_path / "catalog.duckdb"
    ensure_catalog(catalog)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(catalog), "2.0"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CatalogLockedError, match=str(catalog)):
            connect(catalog, wait_s=0.3)
        # A patient writer gets in once the other process lets go.
        register_shards(catalog, [write_example_shard(tmp_path / "out", n=1)], wait_s=20)
        done = time.time()
        word, released = holder.stdout.readline().split()
        assert word == "released" and float(released) <= done
        assert _count(catalog, "SELECT count(*) FROM shards") == 1
    finally:
        holder.kill()
        holder.wait()
