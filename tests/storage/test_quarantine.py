"""Quarantine over real shards and real DuckDB files: a damaged shard leaves the views, with the
reason in the catalog, and the healthy shards keep being served."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from soccerfactory.storage.catalog import connect, ensure_catalog, register_shards
from soccerfactory.storage.examples import damage_data_page
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import read_manifest, shard_file_urls, verify_shard, write_shard


def _write(root, clip_id, n, match_id="match-1", **kwargs):
    key = f"{n:016x}" + "d" * 48
    tables = example_shard_tables(match_id, clip_id, key, **kwargs)
    return write_shard(root, match_id, clip_id, key, tables, config_hash="config-0", code_version="test", metadata={"run_id": "run-1"})


def _counts(catalog, *sqls):
    with connect(catalog, read_only=True) as connection:
        return [connection.execute(sql).fetchall()[0][0] for sql in sqls]


def _file(manifest, table) -> Path:
    return Path(shard_file_urls(manifest)[table])


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])




VIEWS = ("SELECT count(*) FROM athletes", "SELECT count(*) FROM tracks", "SELECT count(*) FROM quality", "SELECT count(*) FROM shards")


def test_a_truncated_file_leaves_the_views_and_the_healthy_shards_stay(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    damaged, healthy = _write(root, "clip-0", 1), _write(root, "clip-1", 2)
    register_shards(catalog, [damaged, healthy])
    _truncate(_file(damaged, "athletes"))
    # The defect: a view over the truncated file fails for every clip...
    with pytest.raises(duckdb.Error, match="athletes-"):
        _counts(catalog, "SELECT count(*) FROM athletes WHERE clip_id = 'clip-1'")

    ensure_catalog(catalog)  # ...until the next refresh of the views (every registration, rebuild, curate start)
    assert _counts(catalog, *VIEWS) == [12, 3, 1, 1]
    with connect(catalog, read_only=True) as connection:
        rows = connection.execute("SELECT match_id, clip_id, shard_key, manifest_url, file, reason, detected_at FROM quarantine").fetchall()
    assert len(rows) == 1
    match_id, clip_id, key, manifest_url, file, reason, detected_at = rows[0]
    assert (match_id, clip_id, key) == ("match-1", "clip-0", damaged.shard_key)
    assert manifest_url == "shards/match_id=match-1/clip_id=clip-0/manifest.json"  # stored relative to the root
    assert file == f"shards/match_id=match-1/clip_id=clip-0/{_file(damaged, 'athletes').name}"
    assert "bytes, the manifest says" in reason and detected_at is not None

    # Re-curating the clip (same key) replaces the damaged file; registering it clears the row.
    again = _write(root, "clip-0", 1)
    assert verify_shard(again) is None
    assert register_shards(catalog, [again])["quarantined"] == []
    assert _counts(catalog, *VIEWS, "SELECT count(*) FROM quarantine") == [24, 6, 2, 2, 0]


def test_registration_checks_every_byte_and_quarantines_only_the_bad_shard(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    good, bad = _write(root, "clip-0", 1), _write(root, "clip-1", 2)
    damage_data_page(_file(bad, "frames"))
    assert verify_shard(bad, full=False) is None  # same size: only the sha256 sees it
    assert "sha256" in verify_shard(bad) and str(_file(bad, "frames")) in verify_shard(bad)
    result = register_shards(catalog, [good, bad])
    assert result["registered"] == 1 and len(result["quarantined"]) == 1
    assert result["quarantined"][0].startswith(f"match-1/clip-1: {_file(bad, 'frames')}: sha256 ")
    assert _counts(catalog, "SELECT count(*) FROM frames", "SELECT count(*) FROM clips", "SELECT clip_id FROM quarantine") == [4, 1, "clip-1"]


def _edit_manifest(manifest, **changes) -> None:
    path = Path(manifest.url)
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_registration_refuses_a_schema_version_this_code_does_not_read(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    future = _write(root, "clip-0", 1)
    _edit_manifest(future, schema_version="99")
    result = register_shards(catalog, [read_manifest(future.url), _write(root, "clip-1", 2)])
    assert result["registered"] == 1
    assert result["quarantined"] == [f"match-1/clip-0: {future.url}: schema version '99' is not one this code reads (4, 3, 2); "
                                     "re-curate the clip, or catalogue it with the SoccerFactory version that wrote it"]
    assert _counts(catalog, "SELECT count(*) FROM shards", "SELECT count(*) FROM quarantine") == [1, 1]


def test_a_file_whose_footer_is_damaged_is_quarantined_when_duckdb_cannot_bind_it(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    damaged = _write(root, "clip-0", 1)
    register_shards(catalog, [damaged, _write(root, "clip-1", 2)])
    path = _file(damaged, "ball")
    path.write_bytes(path.read_bytes()[:-4] + b"XXXX")  # same size, no Parquet magic at the end
    assert ensure_catalog(catalog) is None
    with connect(catalog, read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM ball").fetchall() == [(4,)]
        (reason,) = connection.execute("SELECT reason FROM quarantine WHERE clip_id = 'clip-0'").fetchall()[0]
    assert reason.startswith("DuckDB cannot read it: ") and "magic" in reason
