"""The catalog at size, in small: registrations one after another keep every view right, cost what
the new shard costs (not what the catalog holds), and the quality views, which add up one
``shard_stats`` row per shard, agree with the same figures computed from the rows themselves.
Real shards, real DuckDB files (the timing figures are ``flows/bench_catalog.py``'s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from soccerfactory.storage.catalog import connect, ensure_catalog, register_shards
from soccerfactory.storage.examples import damage_data_page, write_example_shard
from soccerfactory.storage.repair import rebuild_catalog
from soccerfactory.storage.shards import read_shard, rewrite_shard, shard_file_urls
from soccerfactory.storage.views import AGGREGATE_VIEWS, DATA_VIEWS

# The quality figures per match, from the rows (what quality_match computed before shard_stats).
REFERENCE_SQL = """
WITH f AS (SELECT match_id, count(*) AS n_frames, avg(ball_detected::DOUBLE) AS ball FROM frames GROUP BY ALL),
a AS (SELECT match_id, count(*) AS n_athlete_rows FROM athletes GROUP BY ALL),
t AS (SELECT match_id, count(*) AS n_tracks, avg(team_agreement) AS team, avg(role_agreement) AS role_, avg(jersey_agreement) AS jersey,
             avg(CASE WHEN role IN ('player', 'goalkeeper') THEN (jersey IS NOT NULL)::DOUBLE END) AS coverage FROM tracks GROUP BY ALL),
c AS (SELECT match_id, avg(valid_camera::DOUBLE) AS calibrated, avg(reprojection_error_px) FILTER (WHERE valid_camera) AS mean_error,
             median(reprojection_error_px) FILTER (WHERE valid_camera) AS median_error FROM cameras GROUP BY ALL)
SELECT match_id, n_frames, n_athlete_rows, n_tracks, calibrated, mean_error, median_error, team, role_, jersey, coverage, ball
FROM f JOIN a USING (match_id) JOIN t USING (match_id) JOIN c USING (match_id) ORDER BY match_id
"""
QUALITY_COLUMNS = ("match_id, n_frames, n_athlete_rows, n_tracks, calibrated_fraction, mean_reprojection_error_px, median_reprojection_error_px, "
                   "mean_team_agreement, mean_role_agreement, mean_jersey_agreement, jersey_coverage, ball_detected_fraction")


def _write(root, i: int, **kwargs):
    """Shard i: clip i // 3 of match i % 3, with its own sizes (so the matches differ)."""
    return write_example_shard(root, f"match-{i % 3}", f"clip-{i // 3:03d}", n=i + 1, n_frames=3 + i % 4, n_tracks=2 + i % 3,
                               start_frame=100 * i, seed=i, **kwargs)


def _snapshot(catalog: Path) -> dict[str, list]:
    with connect(catalog, read_only=True) as connection:
        return {
            "counts": [connection.execute(f"SELECT count(*) FROM {view}").fetchone()[0] for view in DATA_VIEWS + AGGREGATE_VIEWS],
            "quality": connection.execute("SELECT * FROM quality ORDER BY ALL").fetchall(),
            "quality_match": connection.execute("SELECT * FROM quality_match ORDER BY ALL").fetchall(),
            "tracks": connection.execute("SELECT * FROM tracks ORDER BY ALL").fetchall(),
            "shard_stats": connection.execute("SELECT * FROM shard_stats ORDER BY ALL").fetchall(),
            "quarantine": connection.execute("SELECT match_id, clip_id FROM quarantine ORDER BY ALL").fetchall(),
        }


def _assert_quality_is_the_rows(catalog: Path) -> None:
    with connect(catalog, read_only=True) as connection:
        expected = connection.execute(REFERENCE_SQL).fetchall()
        found = connection.execute(f"SELECT {QUALITY_COLUMNS} FROM quality_match ORDER BY match_id").fetchall()
    assert len(found) == len(expected) > 0
    for got, want in zip(found, expected):
        assert got[0] == want[0] and got[1:] == pytest.approx(want[1:], rel=1e-6), got[0]


def test_one_registration_after_another_keeps_every_view_right_and_equal_to_a_rebuild(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    manifests = [_write(root, i) for i in range(15)]
    bad = manifests[7]
    damage_data_page(shard_file_urls(bad)["athletes"])  # same size: only the sha256 of registration finds it
    register_shards(catalog, manifests[:9], check_registered=False)
    for manifest in manifests[9:]:  # as curate registers: clip after clip, the others not checked again
        register_shards(catalog, [manifest], check_registered=False)
    incremental = _snapshot(catalog)
    good = [m for m in manifests if m is not bad]
    assert incremental["quarantine"] == [(bad.match_id, bad.clip_id)]
    assert incremental["counts"][:2] == [sum(m.rows["frames"] for m in good), sum(m.rows["athletes"] for m in good)]
    assert len(incremental["quality"]) == len(incremental["shard_stats"]) == 14
    _assert_quality_is_the_rows(catalog)

    # Registering them all again changes nothing; a rebuild from the files makes the same catalog.
    register_shards(catalog, manifests)
    assert _snapshot(catalog) == incremental
    assert rebuild_catalog(root, catalog)["shards"] == 14
    assert _snapshot(catalog) == incremental

    # A shard rewritten under the same key (new rows, new files) gets its summary made again.
    kept = read_shard(good[0])
    fewer = kept["athletes"].slice(0, 2)
    register_shards(catalog, [rewrite_shard(good[0], {"athletes": fewer}, good[0].metadata)], check_registered=False)
    with connect(catalog, read_only=True) as connection:
        rows = connection.execute(
            "SELECT n_athlete_rows FROM quality WHERE match_id = ? AND clip_id = ?", [good[0].match_id, good[0].clip_id]
        ).fetchone()[0]
    assert rows == 2
    _assert_quality_is_the_rows(catalog)


def _sql(catalog: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(view -> SQL, data view macro -> SQL) of a catalog."""
    with connect(catalog, read_only=True) as connection:
        views = dict(connection.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
        macros = dict(connection.execute(
            "SELECT function_name, macro_definition FROM duckdb_functions() WHERE starts_with(function_name, 'registered_')"
        ).fetchall())
    return views, macros


def test_a_registration_reads_the_new_shard_only_and_no_view_sql_grows(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    manifests = [_write(root, i) for i in range(30)]
    register_shards(catalog, manifests[:5])
    small, small_macros = _sql(catalog)
    register_shards(catalog, manifests[5:29], check_registered=False)

    # A registered file's footer breaks (same size): a registration of another shard does not
    # read it (it reads the new shard and one footer per view)...
    middle = Path(shard_file_urls(manifests[17])["ball"])
    middle.write_bytes(middle.read_bytes()[:-4] + b"XXXX")
    result = register_shards(catalog, [manifests[29]], check_registered=False)
    assert result == {"registered": 1, "shards": 30, "quarantined": [], "dropped": []}
    large, large_macros = _sql(catalog)
    with connect(catalog, read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM quality_match").fetchone()[0] == 3
        assert connection.execute("SELECT count(*) FROM shard_stats").fetchone()[0] == 30
    # ...and every view is the same SQL at 5 and 30 shards: the quality views add up shard_stats
    # rows, the data views read their registered_<table>() macro, whose file list alone grows.
    assert large == small
    assert "shard_stats AS s" in large["quality_match"]
    assert not [view for view in DATA_VIEWS if f"FROM {view}" in large["quality_match"] or f"JOIN {view}" in large["quality_match"]]
    assert set(large_macros) == {f"registered_{view}" for view in DATA_VIEWS}
    assert all(len(large_macros[name]) > len(small_macros[name]) for name in large_macros)

    # The full refresh (curate's start, `catalog verify`, ensure_catalog) reads every footer.
    ensure_catalog(catalog)
    with connect(catalog, read_only=True) as connection:
        (reason,) = connection.execute("SELECT reason FROM quarantine WHERE clip_id = ?", [manifests[17].clip_id]).fetchone()
        assert connection.execute("SELECT count(*) FROM shard_stats").fetchone()[0] == 29
        assert connection.execute("SELECT sum(n_clips) FROM quality_match").fetchone()[0] == 29
    assert reason.startswith("DuckDB cannot read it: ") and middle.name in reason
    _assert_quality_is_the_rows(catalog)


def test_a_catalog_without_summary_rows_gets_them_at_its_next_refresh(tmp_path):
    root, catalog = tmp_path / "out", tmp_path / "out" / "catalog.duckdb"
    register_shards(catalog, [_write(root, i) for i in range(6)])
    before = _snapshot(catalog)
    with connect(catalog) as connection:  # as a catalog made before shard_stats existed
        connection.execute("DROP TABLE shard_stats")
    ensure_catalog(catalog)
    assert _snapshot(catalog) == before
