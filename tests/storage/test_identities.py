"""Athlete identities across shots in the catalog: one Parquet file per match, the ``identities``
and ``athlete_identities`` views, and the game-state export reading them (real Parquet, real DuckDB)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from soccerfactory.storage.catalog import connect, ensure_catalog, record_run, register_identities, register_shards
from soccerfactory.storage.gamestate import catalog_gamestate
from soccerfactory.storage.identities import (
    IDENTITY_SCHEMA, identities_table, identities_url, identity_fingerprint, read_identities, read_identities_info, write_identities,
)
from soccerfactory.storage.repair import rebuild_catalog
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard

MATCH = "match-1"


def _key(n: int) -> str:
    return f"{n:016x}" + "b" * 48


def _shards(root, clips=(("clip-0", 0), ("clip-1", 1))):
    manifests = []
    for clip_id, n in clips:
        tables = example_shard_tables(MATCH, clip_id, _key(n), n_frames=3, n_tracks=2, start_frame=100 * n)
        manifests.append(write_shard(root, MATCH, clip_id, _key(n), tables, config_hash="config-0", code_version="test", metadata={}))
    return manifests


def _rows(key0: str = _key(0), key1: str = _key(1)) -> list[dict]:
    """clip-1's track 1 is clip-0's track 1 (same number); the referees joined by position."""
    return [
        {"clip_id": "clip-0", "track_id": 1, "shard_key": key0, "identity": 1},
        {"clip_id": "clip-0", "track_id": 2, "shard_key": key0, "identity": 2},
        {"clip_id": "clip-1", "track_id": 1, "shard_key": key1, "identity": 1, "link_kind": "jersey", "linked_to_clip": "clip-0",
         "linked_to_track": 1, "link_cost": 0.0, "link_reason": "both team A number 7"},
        {"clip_id": "clip-1", "track_id": 2, "shard_key": key1, "identity": 2, "link_kind": "position", "linked_to_clip": "clip-0",
         "linked_to_track": 2, "link_cost": 0.4, "link_reason": "1.2 m apart after 0.04 s (gate 3.0 m)"},
    ]


def test_identity_files_are_validated_written_atomically_and_versioned(tmp_path):
    table = identities_table(MATCH, _rows(), "linker-1")
    assert table.schema == IDENTITY_SCHEMA and table.column("match_id").to_pylist() == [MATCH] * 4
    url = write_identities(str(tmp_path), MATCH, table, fingerprint=identity_fingerprint([("clip-0", _key(0), "x")]))
    assert url == identities_url(str(tmp_path), MATCH) and url.endswith("identities/match_id=match-1/identities.parquet")
    assert read_identities(str(tmp_path), MATCH).equals(table)
    info = read_identities_info(str(tmp_path), MATCH)
    assert info["linker_version"] == "linker-1" and info["rows"] == 4 and info["schema_version"] == "1"
    assert read_identities_info(str(tmp_path), "match-2") is None and read_identities(str(tmp_path), "match-2") is None
    # Replaced whole; no temporary file is left beside it.
    write_identities(str(tmp_path), MATCH, identities_table(MATCH, _rows()[:2], "linker-2"), fingerprint="f2")
    assert read_identities(str(tmp_path), MATCH).num_rows == 2 and read_identities_info(str(tmp_path), MATCH)["fingerprint"] == "f2"
    assert [p.name for p in (tmp_path / "identities" / f"match_id={MATCH}").iterdir()] == ["identities.parquet"]
    with pytest.raises(ValueError, match="given twice"):
        identities_table(MATCH, _rows() + _rows()[:1], "v")
    with pytest.raises(ValueError, match="not one of"):
        identities_table(MATCH, [{**_rows()[2], "link_kind": "colour"}], "v")
    with pytest.raises(ValueError, match="must name the track"):
        identities_table(MATCH, [{**_rows()[2], "linked_to_track": None}], "v")
    with pytest.raises(ValueError, match="match"):
        identities_table(MATCH, [{**_rows()[0], "match_id": "other"}], "v")


def test_the_catalog_views_follow_one_athlete_across_shots(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    register_shards(catalog, _shards(root))
    with connect(catalog, read_only=True) as db:  # before any identity file: the views exist, empty / null
        assert db.execute("SELECT count(*) FROM identities").fetchone() == (0,)
        assert db.execute("SELECT count(*), count(identity) FROM athlete_identities").fetchone() == (12, 0)
    write_identities(str(root), MATCH, identities_table(MATCH, _rows(), "linker-1"), fingerprint="f")
    assert register_identities(catalog) == 1
    with connect(catalog, read_only=True) as db:
        rows = db.execute(
            "SELECT clip_id, track_id, link_kind, linked_to_clip, linked_to_track FROM identities ORDER BY clip_id, track_id"
        ).fetchall()
        assert rows == [("clip-0", 1, None, None, None), ("clip-0", 2, None, None, None), ("clip-1", 1, "jersey", "clip-0", 1),
                        ("clip-1", 2, "position", "clip-0", 2)]
        # The analyst's question: where is the athlete of clip-0's track 1 in every shot?
        followed = db.execute(
            "SELECT clip_id, track_id, count(*) FROM athlete_identities WHERE match_id = ? AND identity = "
            "(SELECT identity FROM identities WHERE match_id = ? AND clip_id = 'clip-0' AND track_id = 1) GROUP BY ALL ORDER BY ALL",
            [MATCH, MATCH],
        ).fetchall()
        assert followed == [("clip-0", 1, 3), ("clip-1", 1, 3)]
        comments = dict(db.execute("SELECT view_name, comment FROM duckdb_views() WHERE view_name IN ('identities', 'athlete_identities')").fetchall())
        assert all(comments.values()) and len(comments) == 2
    # The exporter reads them: one track id for each pair of tracks, whatever the caller passes.
    (document,) = catalog_gamestate(catalog, f"match_id = '{MATCH}'", frames="source", unplaced="keep",
                                    identities=lambda a, c: pytest.fail("stored identities cover the sequence")).values()
    assert document["info"]["track_ids"] == "joined by the stored identities" and document["info"]["n_track_ids"] == 2
    (apart,) = catalog_gamestate(catalog, f"match_id = '{MATCH}'", frames="source", unplaced="keep", stored_identities=False).values()
    assert apart["info"]["n_track_ids"] == 4 and apart["info"]["track_ids"] == "per clip (no identities)"


def test_a_clip_curated_again_drops_out_of_the_views_and_the_end_of_a_run_finds_new_files(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    register_shards(catalog, _shards(root))
    # Identities computed from an older shard of clip-1: its rows must not name the new tracks.
    write_identities(str(root), MATCH, identities_table(MATCH, _rows(key1=_key(7)), "linker-1"), fingerprint="f")
    record_run(catalog, {"run_id": "run-1", "status": "ok", "started_at": "2026-12-07T13:00:00+00:00", "source": "x", "output": str(root)})
    with connect(catalog, read_only=True) as db:
        assert db.execute("SELECT DISTINCT clip_id FROM identities").fetchall() == [("clip-0",)]
        assert db.execute("SELECT count(identity) FROM athlete_identities WHERE clip_id = 'clip-1'").fetchone() == (0,)
    (document,) = catalog_gamestate(catalog, f"match_id = '{MATCH}'", frames="source", unplaced="keep").values()
    assert "2 track(s) without one keep their own" in document["info"]["track_ids"]


def test_rebuild_and_an_old_catalog_keep_identities_working(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "catalog.duckdb"
    register_shards(catalog, _shards(root))
    write_identities(str(root), MATCH, identities_table(MATCH, _rows(), "linker-1"), fingerprint="f")
    # A rebuild from the files finds the identity file (discovered at its full refresh).
    rebuild_catalog(root, catalog)
    with connect(catalog, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM identities").fetchone() == (4,)
    # An identity file gone: a refresh drops it, the views stay (empty).
    shutil.rmtree(root / "identities")
    ensure_catalog(catalog)
    with connect(catalog, read_only=True) as db:
        assert db.execute("SELECT count(*), count(identity) FROM athlete_identities").fetchone() == (12, 0)
    # A catalog from before identities (no views): the export reads it, each clip's tracks apart.
    with duckdb.connect(str(catalog)) as db:
        db.execute("DROP VIEW athlete_identities")
        db.execute("DROP VIEW identities")
    (document,) = catalog_gamestate(catalog, f"match_id = '{MATCH}'", frames="source", unplaced="keep").values()
    assert document["info"]["n_track_ids"] == 4
    ensure_catalog(catalog)  # the next refresh makes them again
    with connect(catalog, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM athlete_identities").fetchone() == (12,)


def test_identities_on_a_moved_catalog_read_their_files_where_they_are_now(tmp_path):
    root, catalog = tmp_path / "a" / "out", tmp_path / "a" / "catalog.duckdb"
    register_shards(catalog, _shards(root))
    write_identities(str(root), MATCH, identities_table(MATCH, _rows(), "linker-1"), fingerprint="f")
    register_identities(catalog)
    shutil.move(tmp_path / "a", tmp_path / "b")
    with connect(tmp_path / "b" / "catalog.duckdb", read_only=True) as db:
        assert db.execute("SELECT count(*) FROM identities").fetchone() == (4,)
        assert db.execute("SELECT count(identity) FROM athlete_identities").fetchone() == (12,)


def test_identities_on_an_fsspec_root_are_found_through_the_catalogs_filesystem(tmp_path):
    import uuid

    root = f"memory://identities-test-{uuid.uuid4().hex[:8]}"
    catalog = tmp_path / "catalog.duckdb"
    register_shards(catalog, _shards(root))
    url = write_identities(root, MATCH, identities_table(MATCH, _rows(), "linker-1"), fingerprint="f")
    assert url.startswith("memory://")
    assert register_identities(catalog) == 1
    with connect(catalog, read_only=True) as db:
        assert db.execute("SELECT count(*), count(link_kind) FROM identities").fetchone() == (4, 2)
