"""The command line: help that teaches, one-line errors with exit code 2, a working synth."""

from __future__ import annotations

import json
import os
import stat

import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app

runner = CliRunner()


def test_help_lists_every_subcommand():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("synth", "demo", "query", "env"):
        assert command in result.output


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--seconds", "-3"], "seconds must be in"),
        (["--width", "20000"], "resolution 20000x720 is outside"),
        (["--height", "7"], "resolution 1280x7 is outside"),
        (["--fps", "0"], "fps must be in"),
        (["--referees", "9"], "referees must be"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, arguments, message):
    result = runner.invoke(app, ["synth", str(tmp_path / "out"), *arguments])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "out").exists(), "nothing is created for a refused request"


def test_unwritable_output_is_refused(tmp_path):
    if os.geteuid() == 0:
        # root ignores folder permissions; a path below a file is unwritable for everyone.
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        target = blocker / "clip"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        target = locked / "clip"
    result = runner.invoke(app, ["synth", str(target), "--seconds", "1"])
    assert result.exit_code == 2
    assert result.output.strip().startswith(f"error: cannot write to {target}")


def test_synth_writes_a_clip(tmp_path):
    result = runner.invoke(app, ["synth", str(tmp_path), "--seconds", "0.4", "--seed", "2", "--width", "640", "--height", "360", "--images", "-q"])
    assert result.exit_code == 0, result.output
    assert "wrote 10 frames of 640x360" in result.output
    manifest = json.loads((tmp_path / "clip.json").read_text())
    assert manifest["config"]["seed"] == 2 and len(list((tmp_path / "img1").glob("*.jpg"))) == 10


def test_query_without_catalog_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["query", "SELECT 1", "--catalog", str(tmp_path / "missing.duckdb")])
    assert result.exit_code == 2 and "soccerfactory demo" in result.output


def test_help_lists_the_curation_commands():
    result = runner.invoke(app, ["--help"])
    for command in ("curate", "catalog", "config", "server"):
        assert command in result.output


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


def test_config_show_round_trips_as_a_config_file(tmp_path):
    from soccerfactory.flows.config import load_config

    result = runner.invoke(app, ["config", "show", "--set", "detect.conf=0.4"])
    assert result.exit_code == 0
    path = tmp_path / "curate.yaml"
    path.write_text(result.output)
    assert load_config(path).detect.conf == 0.4
    assert f"# config hash: {load_config(path).config_hash()}" in result.output
    bad = runner.invoke(app, ["config", "show", "--set", "detect.nope=1"])
    assert bad.exit_code == 2 and "detect.nope" in bad.output
