"""Queries against a real catalog over real shards, and every output format read back."""

from __future__ import annotations

import io
import json
import shutil

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from soccerfactory.storage.catalog import record_run, register_shards
from soccerfactory.storage.export import ReadOnlyQueryError, format_table, run_query, write_result
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    manifests = []
    for n, clip_id in enumerate(["clip-0", "clip-1"]):
        key = f"{n:016x}" + "e" * 48
        manifests.append(
            write_shard(
                base / "out",
                "match-1",
                clip_id,
                key,
                example_shard_tables("match-1", clip_id, key),
                config_hash="config-0",
                code_version="test",
                metadata={},
            )
        )
    path = base / "catalog.duckdb"
    register_shards(path, manifests)
    record_run(path, {"run_id": "run-1", "started_at": "2024-05-01T10:00:00+00:00", "status": "completed"})
    return path


def test_run_query_returns_an_arrow_table(catalog):
    result = run_query(catalog, "SELECT clip_id, count(*) AS n FROM athletes GROUP BY clip_id ORDER BY clip_id")
    assert result.to_pylist() == [{"clip_id": "clip-0", "n": 12}, {"clip_id": "clip-1", "n": 12}]
    assert result.schema.field("n").type == pa.int64()
    # Several statements: the last one's result.
    assert run_query(catalog, "SELECT 1; SELECT 2 AS two").to_pylist() == [{"two": 2}]


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM runs",
        "CREATE TABLE notes (x INTEGER)",
        "SELECT 1; DROP VIEW athletes",
        "COPY (SELECT * FROM runs) TO '{out}'",
        "ATTACH '{out}.db' AS other",
    ],
)
def test_read_only_mode_refuses_writes_with_a_clear_message(catalog, tmp_path, sql):
    out = tmp_path / "leak.csv"
    with pytest.raises(ReadOnlyQueryError, match="the query must be read-only"):
        run_query(catalog, sql.format(out=out))
    assert not out.exists() and not (tmp_path / "leak.csv.db").exists()
    assert run_query(catalog, "SELECT count(*) AS n FROM runs").to_pylist() == [{"n": 1}]
    assert run_query(catalog, "SELECT count(*) AS n FROM athletes").to_pylist() == [{"n": 24}]


def test_writes_are_allowed_when_asked_for(catalog, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(catalog, copy)
    run_query(copy, "CREATE TABLE notes AS SELECT 'ok' AS note", read_only=False)
    assert run_query(copy, "SELECT note FROM notes").to_pylist() == [{"note": "ok"}]


def test_errors_name_the_problem(catalog, tmp_path):
    with pytest.raises(FileNotFoundError, match="no catalog at"):
        run_query(tmp_path / "missing.duckdb", "SELECT 1")
    with pytest.raises(ValueError, match="cannot parse the query"):
        run_query(catalog, "SELEC 1")
    with pytest.raises(ValueError, match="empty"):
        run_query(catalog, "  ")
    with pytest.raises(ValueError, match="no table or view named 'no_such_table' in the catalog; it has: runs, "):
        run_query(catalog, "SELECT * FROM no_such_table")


def test_table_output_is_aligned_and_says_how_many_rows_were_cut(catalog):
    result = run_query(catalog, "SELECT frame_index, track_id, team, jersey, confidence FROM athletes ORDER BY clip_id, track_id, frame_index")
    stream = io.StringIO()
    write_result(result, "table", stream, max_rows=5)
    lines = stream.getvalue().splitlines()
    assert lines[0].split() == ["frame_index", "track_id", "team", "jersey", "confidence"]
    assert set(lines[1]) == {"-", " "}
    assert len(lines) == 2 + 5 + 1
    assert lines[-1] == "(5 of 24 rows shown; 19 more not shown)"
    # Numbers are right-aligned under their header: each row's frame_index ends where the header does.
    end = lines[0].index("frame_index") + len("frame_index")
    assert all(line[end - 3 : end].isdigit() for line in lines[2:7])
    assert "0.9" in lines[2]

    referee = run_query(catalog, "SELECT team, jersey FROM athletes WHERE role = 'referee' LIMIT 1")
    text = format_table(referee)
    assert text.splitlines()[2].split() == ["NULL", "NULL"] and text.endswith("(1 row)\n")
    assert format_table(referee.slice(0, 0)).endswith("(0 rows)\n")


def test_csv_output_reads_back_with_lists_as_json(catalog, tmp_path):
    result = run_query(catalog, "SELECT clip_id, frame_index, valid_camera, homography, fx FROM cameras ORDER BY clip_id, frame_index")
    path = tmp_path / "cameras.csv"
    write_result(result, "csv", path)
    back = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert back.num_rows == 8
    assert back.column("frame_index").to_pylist() == result.column("frame_index").to_pylist()
    homography = back.column("homography").to_pylist()
    assert json.loads(homography[0]) == result.column("homography")[0].as_py()
    assert homography[3] is None  # the invalid camera has no homography
    assert back.column("fx").to_pylist()[3] is None


def test_csv_and_json_go_to_stdout_by_default(catalog, capsys):
    result = run_query(catalog, "SELECT run_id, started_at, finished_at, n_failed FROM runs")
    write_result(result, "csv")
    assert capsys.readouterr().out.splitlines()[0] == "run_id,started_at,finished_at,n_failed"
    write_result(result, "json")
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"run_id": "run-1", "started_at": rows[0]["started_at"], "finished_at": None, "n_failed": 0}]
    assert rows[0]["started_at"].startswith("2024-05-01T10:00:00")


def test_json_output_turns_nan_into_null(tmp_path):
    table = pa.table({"x": [1.5, float("nan"), None], "l": [[1.0], [], None]})
    path = tmp_path / "out.json"
    write_result(table, "json", path)
    assert json.loads(path.read_text()) == [{"x": 1.5, "l": [1.0]}, {"x": None, "l": []}, {"x": None, "l": None}]


def test_parquet_output_needs_a_file_path(catalog, tmp_path):
    result = run_query(catalog, "SELECT * FROM cameras")
    path = tmp_path / "cameras.parquet"
    write_result(result, "parquet", path)
    assert pq.read_table(path).equals(result)
    with pytest.raises(ValueError, match="parquet output needs a file path"):
        write_result(result, "parquet")
    with pytest.raises(ValueError, match="parquet output needs a file path"):
        write_result(result, "parquet", io.StringIO())
    with pytest.raises(ValueError, match="valid: table, csv, json, parquet"):
        write_result(result, "xlsx")
