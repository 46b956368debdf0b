"""The embedded default's main job: a real Prefect flow run, real Parquet, a real DuckDB catalog."""

from __future__ import annotations

import duckdb

from soccerfactory.flows.synthesize import synthesize


def test_synthesize_flow_renders_and_catalogues(tmp_path):
    summary = synthesize(output=tmp_path, clips=2, seconds=0.4, width=640, height=360)
    assert [clip["frames"] for clip in summary["clips"]] == [10, 10]
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as connection:
        cameras = connection.execute("SELECT match_id, count(*) FROM gt_cameras GROUP BY match_id ORDER BY match_id").fetchall()
        assert cameras == [("synth-1", 10), ("synth-2", 10)]
        roles = dict(connection.execute("SELECT role, count(DISTINCT track_id) FROM gt_athletes WHERE match_id = 'synth-1' GROUP BY role").fetchall())
        assert roles.get("player", 0) >= 5
    assert summary["rows"]["cameras"] == 20


def test_rerunning_refreshes_without_duplicating_rows(tmp_path):
    synthesize(output=tmp_path, clips=1, seconds=0.2, width=640, height=360)
    synthesize(output=tmp_path, clips=1, seconds=0.2, width=640, height=360)
    with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM gt_cameras").fetchone()[0] == 5
