"""A damaged shard does not stop `curate`: the clip is curated again and the catalog serves it.
Real renders, real curation (small frames, fast settings), through the CLI."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.flows.cli import app

FAST = ["--set", "detect.imgsz=640", "--set", "detect.ball_slices=0"]
runner = CliRunner()


def _query(output, sql):
    return runner.invoke(app, ["query", sql, "--catalog", str(output / "catalog.duckdb"), "--format", "csv"])


def test_curate_re_curates_a_truncated_shard_instead_of_failing(tmp_path):
    render_clip(SynthConfig(seconds=1, width=320, height=180, seed=41), tmp_path / "render")
    source, output = tmp_path / "source", tmp_path / "out"
    source.mkdir()
    shutil.copy(tmp_path / "render" / "video.mp4", source / "kickoff.mp4")
    first = runner.invoke(app, ["curate", str(source), "--output", str(output), *FAST])
    assert first.exit_code == 0, first.output
    rows = _query(output, "SELECT count(*) AS n FROM athletes").output.splitlines()[-1]
    assert int(rows) > 0

    (athletes,) = output.glob("shards/*/*/athletes-*.parquet")
    data = athletes.read_bytes()
    athletes.write_bytes(data[: len(data) // 2])
    broken = _query(output, "SELECT count(*) AS n FROM athletes")
    assert broken.exit_code == 2 and str(athletes) in broken.output and "catalog verify" in broken.output

    again = runner.invoke(app, ["curate", str(source), "--output", str(output), *FAST])
    assert again.exit_code == 0, again.output
    assert "1 clips curated" in again.output and "Traceback" not in again.output, again.output
    assert athletes.read_bytes() == data  # the same shard, written again
    assert _query(output, "SELECT count(*) AS n FROM athletes").output.splitlines()[-1] == rows
    assert _query(output, "SELECT count(*) AS n FROM quarantine").output.splitlines()[-1] == "0"
