"""`soccerfactory query` is read-only and offline; `catalog verify` and `catalog rebuild` name
every bad shard in one line. Real catalogs over real shards, through the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app
from soccerfactory.storage.catalog import register_shards
from soccerfactory.storage.schemas import SHARD_SCHEMAS, example_shard_tables
from soccerfactory.storage.shards import shard_file_urls, write_shard

runner = CliRunner()


def _write(root: Path, clip_id: str, n: int):
    key = f"{n:016x}" + "b" * 48
    tables = example_shard_tables("m1", clip_id, key)
    return write_shard(str(root), "m1", clip_id, key, tables, config_hash="config-0", code_version="test", metadata={})


@pytest.fixture
def curated(tmp_path) -> tuple[Path, list]:
    """A root with two registered shards and its catalog (ROOT/catalog.duckdb)."""
    root = tmp_path / "curated"
    manifests = [_write(root, "c0", 1), _write(root, "c1", 2)]
    register_shards(root / "catalog.duckdb", manifests)
    return root, manifests


def _query(root: Path, sql: str, *extra: str):
    return runner.invoke(app, ["query", sql, "--catalog", str(root / "catalog.duckdb"), "--format", "csv", *extra])


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


ATTEMPTS = [
    "PRAGMA import_database('{dump}')",  # its load.sql runs a COPY ... TO {leak}
    "SELECT * FROM read_text('/etc/shadow')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/root/**')",
    "SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",  # would download the httpfs extension
    "SELECT * FROM read_text('{manifest}')",  # beside the shard files, but not one the views read
    "COPY (SELECT 1) TO '{leak}'",
    "COPY (SELECT 42 AS x) TO '{shard_file}' (FORMAT parquet)",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{leak}'",
    # A ")" and "--" inside a comment once made the check read this as EXPLAIN SELECT 1, while
    # DuckDB ran EXPLAIN ANALYZE COPY over a shard file (allowed_paths lets it write them too).
    "EXPLAIN (ANALYZE /* ) SELECT 1 -- */) COPY (SELECT 42 AS x) TO '{shard_file}' (FORMAT parquet, USE_TMP_FILE false)",
    "EXPLAIN /* x */ ANALYSE COPY (SELECT 42 AS x) TO '{shard_file}' (FORMAT parquet, USE_TMP_FILE false)",
    "SELECT 1; EXPORT DATABASE '{export}'",
    "ATTACH '{attached}' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "UPDATE EXTENSIONS",
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "RESET lock_configuration",
    "CHECKPOINT",
    "CALL enable_logging(storage = 'file', storage_path = '{export}')",
]


@pytest.mark.parametrize("sql", ATTEMPTS)
def test_query_refuses_writes_reads_outside_the_catalog_and_downloads(curated, tmp_path, sql):
    root, manifests = curated
    dump = tmp_path / "dump"
    dump.mkdir()
    leak = tmp_path / "leak.csv"
    (dump / "schema.sql").write_text("")
    (dump / "load.sql").write_text(f"COPY (SELECT 1) TO '{leak}';\n")
    shard_file = Path(shard_file_urls(manifests[0])["frames"])
    before = shard_file.read_bytes()
    extensions = Path.home() / ".duckdb"
    had_extensions = extensions.exists()
    names = {"dump": dump, "leak": leak, "manifest": manifests[0].url, "shard_file": shard_file, "export": tmp_path / "export",
             "attached": tmp_path / "other.db"}

    line = _one_error_line(_query(root, sql.format(**names)))
    assert "read-only" in line or "may read only the catalog" in line, line
    assert not leak.exists() and not (tmp_path / "export").exists() and not (tmp_path / "other.db").exists()
    assert shard_file.read_bytes() == before
    assert extensions.exists() == had_extensions  # nothing installed, nothing downloaded
    # The catalog still answers queries.
    ok = _query(root, "SELECT count(*) AS n FROM athletes")
    assert ok.exit_code == 0 and ok.output.splitlines() == ["n", "24"], ok.output


def test_query_still_reads_every_view_and_reporting_pragma(curated):
    root, _ = curated
    for sql, last in [("SELECT count(*) AS n FROM tracks", "6"), ("SELECT count(*) AS n FROM quality", "2"),
                      ("SELECT count(*) AS n FROM (DESCRIBE athletes)", str(len(SHARD_SCHEMAS["athletes"]))), ("PRAGMA version", None), ("EXPLAIN SELECT 1", None)]:
        result = _query(root, sql)
        assert result.exit_code == 0, (sql, result.output)
        assert last is None or result.output.splitlines()[-1] == last, (sql, result.output)


def test_a_damaged_shard_is_named_by_query_quarantined_by_verify_and_restored(curated):
    root, manifests = curated
    damaged = Path(shard_file_urls(manifests[0])["athletes"])
    good_bytes = damaged.read_bytes()
    damaged.write_bytes(good_bytes[: len(good_bytes) // 2])

    line = _one_error_line(_query(root, "SELECT count(*) AS n FROM athletes"))
    assert str(damaged) in line and "soccerfactory catalog verify" in line

    verify = runner.invoke(app, ["catalog", "verify", "--catalog", str(root / "catalog.duckdb")])
    assert verify.exit_code == 1, verify.output
    assert f"quarantined: m1/c0: {damaged}: " in verify.output and "1 quarantined now" in verify.output
    result = _query(root, "SELECT count(*) AS n FROM athletes")
    assert result.exit_code == 0 and result.output.splitlines()[-1] == "12"  # the healthy shard
    listed = _query(root, "SELECT clip_id, file FROM quarantine")
    assert listed.output.splitlines()[1] == f"c0,shards/match_id=m1/clip_id=c0/{damaged.name}"

    damaged.write_bytes(good_bytes)  # repaired (a re-curation does the same)
    verify = runner.invoke(app, ["catalog", "verify", "--output", str(root)])
    assert verify.exit_code == 0 and "restored: m1/c0" in verify.output and "0 in quarantine" in verify.output, verify.output
    assert _query(root, "SELECT count(*) AS n FROM athletes").output.splitlines()[-1] == "24"


def test_verify_without_a_catalog_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["catalog", "verify", "--catalog", str(tmp_path / "none.duckdb")])
    line = _one_error_line(result)
    assert "no catalog at" in line


def _rewrite_manifest(manifest, **changes) -> None:
    path = Path(manifest.url)
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_catalog_rebuild_names_each_bad_shard_in_one_line_and_rebuilds_the_rest(tmp_path):
    root = tmp_path / "curated"
    good, old, future, lacking = (_write(root, f"c{k}", k + 1) for k in range(4))
    _rewrite_manifest(old, schema_version="0")
    _rewrite_manifest(future, schema_version="99")
    # A shard whose athletes file lacks a column, its manifest consistent with the file (only
    # the schema check can tell).
    athletes = Path(shard_file_urls(lacking)["athletes"])
    pq.write_table(pq.ParquetFile(athletes).read().drop_columns(["team"]), athletes)
    data = athletes.read_bytes()
    files = {**lacking.files, "athletes": {**lacking.files["athletes"], "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}}
    _rewrite_manifest(lacking, files=files)

    result = runner.invoke(app, ["catalog", "rebuild", "--output", str(root)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3, result.output
    assert any(f"m1/c1: {old.url}: schema version '0' is not one this code reads" in w for w in warnings)
    assert any(f"m1/c2: {future.url}: schema version '99' is not one this code reads" in w for w in warnings)
    assert any(f"m1/c3: {athletes}: lacks column(s) ['team']" in w for w in warnings)
    assert "rebuilt" in result.output and "1 shards" in result.output
    counts = _query(root, "SELECT (SELECT count(*) FROM shards) AS shards, (SELECT count(*) FROM quarantine) AS q, "
                          "(SELECT count(*) FROM athletes) AS a")
    assert counts.output.splitlines()[-1] == "1,3,12"
    assert good.clip_id == "c0"


def test_a_copied_root_answers_queries_after_the_original_is_gone(curated, tmp_path):
    root, _ = curated
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(root, copy)
    shutil.rmtree(root)
    result = _query(copy, "SELECT clip_id, count(*) AS n FROM frames GROUP BY 1 ORDER BY 1")
    assert result.exit_code == 0 and result.output.splitlines() == ["clip_id,n", "c0,4", "c1,4"], result.output


@pytest.mark.parametrize("name", ["main", "TEMP", "Memory", "pg_catalog", "information_schema", "system"])
def test_query_works_whatever_the_catalog_file_is_called(curated, name):
    root, _ = curated
    renamed = root / f"{name}.duckdb"
    (root / "catalog.duckdb").rename(renamed)
    result = runner.invoke(app, ["query", "SELECT count(*) AS n FROM frames", "--catalog", str(renamed), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.split()[0] == "n" and int(result.output.split()[1]) > 0


def test_plain_explain_still_works(curated):
    root, _ = curated
    assert _query(root, "EXPLAIN SELECT count(*) FROM athletes").exit_code == 0
    assert _query(root, "EXPLAIN /* a comment */ SELECT 1").exit_code == 0


@pytest.mark.parametrize(
    "path, own_words",
    [
        (("query",), "Run read-only SQL against the catalog, or describe its tables and views."),
        (("catalog", "rebuild"), "Recreate the catalog from the shards' manifests and the run records under OUTPUT."),
        (("catalog", "verify"), "Check every registered shard against its manifest"),
        (("catalog", "sync"), "Bring the catalog in line with the files under OUTPUT, without rebuilding it."),
    ],
)
def test_each_command_is_listed_with_its_own_help(path, own_words, listed_commands, own_help):
    assert path[-1] in listed_commands(*path[:-1])
    assert own_words in own_help(*path)


def test_query_without_catalog_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["query", "SELECT 1", "--catalog", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 2 and "soccerfactory demo" in result.output


@pytest.fixture
def small_catalog(tmp_path):
    """A real catalog over two real shards (example tables: no models needed)."""
    from soccerfactory.storage.catalog import register_shards
    from soccerfactory.storage.schemas import example_shard_tables
    from soccerfactory.storage.shards import write_shard

    manifests = []
    for k in range(2):
        key = f"{k}" * 64
        tables = example_shard_tables(match_id="m1", clip_id=f"c{k}", shard_key=key)
        manifests.append(write_shard(str(tmp_path), "m1", f"c{k}", key, tables, config_hash="config-0", code_version="test", metadata={}))
    register_shards(tmp_path / "catalog.duckdb", manifests, run_id=None)
    return tmp_path


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_query_formats(small_catalog, fmt):
    import pyarrow.parquet as pq

    sql = "SELECT clip_id, count(*) AS n FROM frames GROUP BY 1 ORDER BY 1"
    out = small_catalog / f"result.{fmt}"
    result = runner.invoke(app, ["query", sql, "--catalog", str(small_catalog / "catalog.duckdb"), "--format", fmt, "--out", str(out)])
    assert result.exit_code == 0, result.output
    if fmt == "parquet":
        assert pq.read_table(out).to_pylist() == [{"clip_id": "c0", "n": 4}, {"clip_id": "c1", "n": 4}]
    elif fmt == "json":
        text = out.read_text()
        assert "c0" in text and "c1" in text
    else:
        assert out.read_text().splitlines()[1:] == ["c0,4", "c1,4"]


def test_query_refuses_writes_and_unknown_formats(small_catalog):
    catalog = str(small_catalog / "catalog.duckdb")
    result = runner.invoke(app, ["query", "DELETE FROM clips", "--catalog", catalog])
    assert result.exit_code == 2 and "read-only" in result.output
    result = runner.invoke(app, ["query", "SELECT 1", "--catalog", catalog, "--format", "xml"])
    assert result.exit_code == 2 and "--format must be one of" in result.output


def test_catalog_rebuild_recreates_a_deleted_catalog(small_catalog):
    (small_catalog / "catalog.duckdb").unlink()
    result = runner.invoke(app, ["catalog", "rebuild", "--output", str(small_catalog)])
    assert result.exit_code == 0, result.output
    queried = runner.invoke(app, ["query", "SELECT count(*) AS n FROM shards", "--catalog", str(small_catalog / "catalog.duckdb"), "--format", "csv"])
    assert queried.output.splitlines()[-1] == "2"


# ---------------------------------------------------------------------------------------------
# Describing the catalog, misspelt names, the text output's limits


def test_describe_lists_every_table_and_view_with_its_comment(curated):
    from soccerfactory.storage.comments import CATALOG

    root, _ = curated
    result = runner.invoke(app, ["query", "--describe", "--catalog", str(root / "catalog.duckdb"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = {line.split(",", 2)[0]: line.split(",", 2)[1:] for line in result.output.splitlines()[1:]}
    assert rows["athletes"][0] == "view" and rows["clips"][0] == "table"
    assert CATALOG["track_flags"].comment.split(";")[0] in rows["track_flags"][1]
    assert not any(name.startswith("truth_") for name in rows)  # no ground truth here: no truth views


def test_describe_a_view_prints_its_comment_and_columns_with_types_and_meaning(curated):
    from soccerfactory.storage.comments import CATALOG

    root, _ = curated
    result = runner.invoke(app, ["query", "--describe", "ATHLETES", "--catalog", str(root / "catalog.duckdb")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.startswith("athletes (view): One row per tracked athlete per frame")
    assert "column type comment" in text and "(35 columns)" in text
    pitch_x = " ".join(CATALOG["athletes"].columns["pitch_x"].split())
    assert f"pitch_x FLOAT {pitch_x}" in text  # wrapped on screen, whole in the text
    as_json = runner.invoke(app, ["query", "--describe", "clips", "--catalog", str(root / "catalog.duckdb"), "--format", "json"])
    columns = json.loads(as_json.output)
    assert columns[0] == {"column": "match_id", "type": "VARCHAR", "comment": CATALOG["clips"].columns["match_id"]}


def test_describe_a_moved_catalog_still_has_the_comments(curated, tmp_path):
    root, _ = curated
    copy = tmp_path / "moved"
    shutil.copytree(root, copy)
    shutil.rmtree(root)
    # Read-only: TEMP views for the new place, which carry no comments; the text still shows.
    result = runner.invoke(app, ["query", "--describe", "cameras", "--catalog", str(copy / "catalog.duckdb"), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert 'homography,DOUBLE[],"3x3 matrix as 9 floats, row-major: pitch metres' in result.output


@pytest.mark.parametrize(
    "args, expected",
    [
        (["query", "SELECT * FROM athelets"], "no table or view named 'athelets' in the catalog; did you mean athletes?"),
        (["query", "SELECT * FROM frames JOIN qualty USING (clip_id)"], "did you mean quality"),
        (["query", "SELECT * FROM zzzzzz"], "it has: runs, failures, shards, clips"),
        (["query", "--describe", "trakcs"], "no table or view named 'trakcs' in the catalog; did you mean tracks"),
        (["query", "SELECT nope FROM athletes"], "Candidate bindings:"),
        (["query", "--describe", "SELECT 1"], "--describe takes a table or view name"),
        (["query"], "give the SQL to run"),
    ],
)
def test_a_misspelt_name_is_one_line_naming_the_closest(curated, args, expected):
    root, _ = curated
    line = _one_error_line(runner.invoke(app, [*args, "--catalog", str(root / "catalog.duckdb")]))
    assert expected in line and "Traceback" not in line


def test_max_rows_and_max_width_shape_the_text_output(curated):
    from soccerfactory.storage.export import MAX_ROWS, MAX_WIDTH

    root, _ = curated
    catalog = str(root / "catalog.duckdb")
    sql = "SELECT frame_index, repeat('x', 60) AS wide FROM frames ORDER BY frame_index"
    default = runner.invoke(app, ["query", sql, "--catalog", catalog]).output.splitlines()
    assert default[-1] == "(8 rows)" and len(default[2].split()[1]) == MAX_WIDTH  # cut, ending in …
    narrow = runner.invoke(app, ["query", sql, "--catalog", catalog, "--max-rows", "3", "--max-width", "10"]).output.splitlines()
    assert narrow[-1] == "(3 of 8 rows shown; 5 more not shown)" and narrow[2].split()[1] == "x" * 9 + "…"
    assert len(narrow) == 2 + 3 + 1
    # The help states the defaults export uses.
    text = " ".join(runner.invoke(app, ["query", "--help"]).output.replace("│", " ").split())
    assert f"shows [default: {MAX_ROWS}]" in text and f"format [default: {MAX_WIDTH}]" in text
