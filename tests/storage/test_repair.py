"""Repairing the catalog (``storage/repair.py``): rebuild it from the files, verify every shard."""

from __future__ import annotations

from pathlib import Path

from soccerfactory.storage.catalog import connect, register_shards
from soccerfactory.storage.repair import rebuild_catalog, verify_catalog
from soccerfactory.storage.run_records import write_run_record
from soccerfactory.storage.shards import delete_shard, list_manifests, shard_file_urls
from soccerfactory.storage.examples import EXAMPLE_RUN, catalog_values, damage_data_page, write_example_shard


def _count(catalog, sql):
    return catalog_values(catalog, sql)[0]


def _file(manifest, table) -> Path:
    return Path(shard_file_urls(manifest)[table])




def test_rebuild_recreates_everything_from_the_shards_and_run_records(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    manifests = [write_example_shard(root, "match-1", "clip-0", n=1), write_example_shard(root, "match-1", "clip-1", n=2), write_example_shard(root, "match-2", "clip-0", n=3)]
    write_run_record(root, "run-1", EXAMPLE_RUN)
    register_shards(catalog, manifests[:1])  # the catalog lags behind the shards
    with connect(catalog) as connection:
        connection.execute("CREATE VIEW gt_demo AS SELECT 42 AS answer")
        connection.execute("CREATE VIEW busy_clips AS SELECT clip_id FROM quality WHERE n_athlete_rows > 5")
        connection.execute("CREATE TABLE scratch AS SELECT 1 AS x")
    bad = root / "shards" / "match_id=match-3" / "clip_id=clip-0" / "manifest.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{ truncated")
    delete_shard(root, "match-2", "clip-0")

    report = rebuild_catalog(root, catalog)
    assert report["shards"] == 2 and report["runs"] == 1 and report["failures"] == 3
    assert sorted(report["views_kept"]) == ["busy_clips", "gt_demo"]
    assert any(str(bad) in problem for problem in report["problems"])
    assert any("table scratch" in problem for problem in report["problems"])
    assert catalog_values(
        catalog,
        "SELECT count(*) FROM shards",
        "SELECT count(*) FROM athletes",
        "SELECT count(*) FROM failures",
        "SELECT answer FROM gt_demo",
        "SELECT count(*) FROM busy_clips",
    ) == [2, 24, 3, 42, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.duckdb", "out"]  # no temporary file left

    # Rebuilding again gives the same catalog.
    again = rebuild_catalog(root, catalog)
    assert (again["shards"], again["runs"], again["failures"]) == (2, 1, 3)
    assert [m.clip_id for m in list_manifests(root)] == ["clip-0", "clip-1"]


def test_rebuild_replaces_a_damaged_catalog(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    write_example_shard(root, "match-1", "clip-0", n=1)
    catalog.write_bytes(b"this is not a duckdb file" * 100)
    report = rebuild_catalog(root, catalog)
    assert report["shards"] == 1
    assert any("could not be opened" in problem for problem in report["problems"])
    assert _count(catalog, "SELECT count(*) FROM frames") == 4


def test_verify_finds_what_the_size_check_cannot_and_restores_a_repaired_shard(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    damaged = write_example_shard(root, "match-1", "clip-0", n=1)
    register_shards(catalog, [damaged, write_example_shard(root, "match-1", "clip-1", n=2)])
    damage_data_page(_file(damaged, "cameras"))

    quick = verify_catalog(catalog, full=False)
    assert (quick["checked"], quick["quarantined"], quick["in_quarantine"]) == (2, [], [])
    report = verify_catalog(catalog)
    assert report["checked"] == 2 and len(report["quarantined"]) == 1 and report["shards"] == 1
    assert report["quarantined"][0].startswith(f"match-1/clip-0: {_file(damaged, 'cameras')}: sha256 ")
    assert report["in_quarantine"] == report["quarantined"]
    assert catalog_values(catalog, "SELECT count(*) FROM cameras", "SELECT count(*) FROM quality") == [4, 1]

    # A rewrite with the same key replaces the damaged file (same size: the bytes are compared);
    # verify then finds the shard sound and puts it back.
    write_example_shard(root, "match-1", "clip-0", n=1)
    restored = verify_catalog(catalog)
    assert len(restored["restored"]) == 1 and restored["in_quarantine"] == [] and restored["shards"] == 2
    assert catalog_values(catalog, "SELECT count(*) FROM cameras", "SELECT count(*) FROM quarantine") == [8, 0]
