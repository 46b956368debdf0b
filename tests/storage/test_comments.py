"""The catalog documents itself: every table, view and column of a real catalog has a comment,
the text matches what the objects are, and the README's reference is the same text."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from soccerfactory.storage.catalog import connect, create_tables, register_ground_truth, register_shards
from soccerfactory.storage.catalog_sql import CATALOG_TABLES
from soccerfactory.storage.comments import CATALOG, GROUPS, apply_comments, main, markdown, readme_block, update_readme
from soccerfactory.storage.examples import example_key
from soccerfactory.storage.groundtruth import GROUND_TRUTH_SCHEMAS, write_ground_truth
from soccerfactory.storage.schemas import SHARD_SCHEMAS, example_shard_tables
from soccerfactory.storage.shards import write_shard
from soccerfactory.storage.truth_views import TRUTH_VIEWS
from soccerfactory.storage.views import AGGREGATE_VIEWS, DATA_VIEWS

README = Path(__file__).resolve().parents[2] / "README.md"
MATCH, CLIP = "m1", "c0"
FRAMES = (100, 101, 102, 103)


def _value(field: pa.Field, frame: int):
    """A plausible value of any ground-truth column (every table gets rows, so no view is empty by accident)."""
    named = {"match_id": MATCH, "clip_id": "m1-clip0", "frame_index": frame, "timestamp_s": frame / 25.0,
             "x1": 100.0, "y1": 300.0, "x2": 120.0, "y2": 360.0, "role": "player", "team": "left", "view": "main"}
    if field.name in named:
        return named[field.name]
    if pa.types.is_fixed_size_list(field.type) or pa.types.is_list(field.type):
        return [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    if pa.types.is_string(field.type):
        return "x"
    if pa.types.is_boolean(field.type):
        return True
    if pa.types.is_integer(field.type):
        return 1
    return 0.5


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    """A catalog with a registered shard and ground truth of every table: every table and view exists."""
    base = tmp_path_factory.mktemp("comments")
    path = base / "catalog.duckdb"
    tables = example_shard_tables(MATCH, CLIP, example_key(1), n_frames=len(FRAMES), start_frame=FRAMES[0])
    manifest = write_shard(base / "out", MATCH, CLIP, example_key(1), tables, config_hash="config-0", code_version="test", metadata={})
    register_shards(path, [manifest])
    truth = {table: {f.name: [_value(f, frame) for frame in FRAMES] for f in schema} for table, schema in GROUND_TRUTH_SCHEMAS.items()}
    write_ground_truth(base / "synthetic" / MATCH / "gt", truth)
    assert set(register_ground_truth(path, base / "synthetic")) == set(GROUND_TRUTH_SCHEMAS)
    return path


def _objects(connection) -> dict[str, str | None]:
    rows = connection.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
    ).fetchall()
    return dict(rows)


def _columns(connection) -> dict[str, dict[str, str | None]]:
    found: dict[str, dict[str, str | None]] = {}
    for table, column, text in connection.execute("SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall():
        found.setdefault(table, {})[column] = text
    return found


def test_every_table_view_and_column_of_a_fresh_catalog_has_a_comment(catalog):
    with connect(catalog, read_only=True) as connection:
        objects, columns = _objects(connection), _columns(connection)
    assert set(TRUTH_VIEWS) <= set(objects)  # ground truth registered: the truth views exist too
    assert {name: text for name, text in objects.items() if not text} == {}
    uncommented = [f"{table}.{column}" for table, named in columns.items() for column, text in named.items() if not (text or "").strip()]
    assert uncommented == [], f"add a line to storage/comment_text*.py for: {uncommented}"
    # The documentation describes exactly what the catalog makes: no object or column documented
    # that is not there (a renamed column would leave a stale line), none there undocumented.
    assert set(objects) == set(CATALOG)
    for name, documented in CATALOG.items():
        assert list(documented.columns) == list(columns[name]), name
        assert objects[name] == documented.comment
        assert columns[name] == dict(documented.columns)


def test_every_schema_column_and_catalog_object_has_text_in_one_place():
    for table, schema in SHARD_SCHEMAS.items():
        documented = CATALOG["clips" if table == "clips" else table].columns
        assert [name for name in schema.names if not documented.get(name)] == [], table
    for table, schema in GROUND_TRUTH_SCHEMAS.items():
        assert [name for name in schema.names if not CATALOG[f"gt_{table}"].columns.get(name)] == [], table
    assert set(CATALOG_TABLES) | set(DATA_VIEWS) | set(AGGREGATE_VIEWS) | set(TRUTH_VIEWS) <= set(CATALOG)
    assert {documented.group for documented in CATALOG.values()} <= set(GROUPS)
    # A few facts an analyst relies on, stated where they apply.
    athletes = CATALOG["athletes"].columns
    assert "source pixels" in athletes["x1"] and "metres" in athletes["pitch_x"] and "centre mark" in athletes["pitch_x"]
    assert "row-major" in CATALOG["cameras"].columns["homography"]
    assert "source video" in athletes["frame_index"]


def test_comments_survive_a_refresh_and_are_written_only_where_they_differ(catalog, tmp_path):
    copy = tmp_path / "catalog.duckdb"
    copy.write_bytes(catalog.read_bytes())
    register_shards(copy, [])  # a refresh: every view is made again with CREATE OR REPLACE
    with connect(copy) as connection:
        assert not [name for name, text in _objects(connection).items() if not text]
        assert all(all(named.values()) for named in _columns(connection).values())
        assert apply_comments(connection) == 0  # nothing differs: nothing is written
        connection.execute("COMMENT ON COLUMN clips.fps IS NULL")
        connection.execute("COMMENT ON TABLE runs IS 'stale'")
        create_tables(connection)  # outside a transaction: it opens its own
        assert connection.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'clips' AND column_name = 'fps'").fetchone()[0]
        assert _objects(connection)["runs"] == CATALOG["runs"].comment
        # Inside the caller's transaction it writes there, and the caller's ROLLBACK or COMMIT decides.
        connection.execute("BEGIN TRANSACTION")
        connection.execute("COMMENT ON TABLE runs IS 'stale'")
        create_tables(connection)
        connection.execute("INSERT INTO catalog_meta VALUES ('test-key', 'still in the transaction')")
        connection.execute("ROLLBACK")
        assert connection.execute("SELECT count(*) FROM catalog_meta WHERE key = 'test-key'").fetchone()[0] == 0
        assert _objects(connection)["runs"] == CATALOG["runs"].comment


def test_a_view_lacking_a_documented_column_and_an_undocumented_view_are_left_alone():
    with duckdb.connect() as connection:
        connection.execute("CREATE VIEW tracks AS SELECT 'm' AS match_id, 2 AS brand_new")
        connection.execute("CREATE VIEW analysts_own AS SELECT 1 AS x")
        assert apply_comments(connection) == 2  # the view and match_id; nothing for brand_new, nothing for analysts_own
        columns = _columns(connection)
        assert columns["tracks"] == {"match_id": CATALOG["tracks"].columns["match_id"], "brand_new": None}
        assert columns["analysts_own"] == {"x": None}


def test_the_readme_reference_is_the_generated_one():
    text = README.read_text(encoding="utf-8")
    assert readme_block() in text, "README's catalog reference is stale: run python -m soccerfactory.storage.comments --readme README.md"
    for name in CATALOG:
        assert f"<code>{name}</code>" in text


def test_the_generator_prints_and_rewrites_only_a_marked_block(tmp_path, capsys):
    assert main(["--markdown"]) == 0
    printed = capsys.readouterr().out
    assert printed == markdown() and "| `camera_error_px` |" in printed and "&lt;run_id>" in printed
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nno markers here\n")
    assert main(["--readme", str(readme)]) == 2
    assert "no <!-- catalog-reference:start" in capsys.readouterr().err
    readme.write_text("# Title\n\n<!-- catalog-reference:start -->\nSTALE-BLOCK\n<!-- catalog-reference:end -->\n\nafter\n")
    assert update_readme(readme) is True and update_readme(readme) is False
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\nafter\n") and readme_block() in text and "STALE-BLOCK" not in text
