"""`soccerfactory export gsr | mot | coco | yolo`: each format from a real catalog, the YOLO frames
decoded through ``curation.video``, and one-line errors with exit 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from soccerfactory.curation.testing import decode_frames
from soccerfactory.flows.cli import app
from soccerfactory.storage.catalog import register_shards
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard

runner = CliRunner()


def _export(*arguments: str):
    return runner.invoke(app, ["export", *arguments])


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_help_lists_the_formats_and_each_teaches_with_an_example(listed_commands, own_help):
    assert listed_commands("export") == ["gsr", "mot", "coco", "yolo"]
    for fmt in ("gsr", "mot", "coco", "yolo"):
        page = own_help("export", fmt)
        assert f"Example: soccerfactory export {fmt} --catalog" in page and "--where" in page and "--out" in page


def test_mot_coco_and_gsr_export_the_catalog(catalog, tmp_path):
    path, clip, tables = catalog
    rows = tables["athletes"].num_rows
    where = f"clip_id = '{clip.clip_id}'"
    result = _export("mot", "--catalog", str(path), "--where", where, "--out", str(tmp_path / "mot"))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"exported 1 sequence(s), {clip.num_frames} image(s), {rows} label(s) as mot to {tmp_path / 'mot'}"
    assert f"mot 1/1: {clip.clip_id}" in result.stderr  # progress on stderr
    assert len((tmp_path / "mot" / clip.clip_id / "gt" / "gt.txt").read_text().splitlines()) == rows

    result = _export("coco", "--catalog", str(path), "--out", str(tmp_path / "coco"))
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert len(document["images"]) == clip.num_frames and len([a for a in document["annotations"] if a["track_id"] is not None]) == rows

    result = _export("gsr", "--catalog", str(path), "--where", where, "--out", str(tmp_path / "gsr"), "--split", "test")
    assert result.exit_code == 0, result.output
    gsr = json.loads((tmp_path / "gsr" / clip.clip_id / "Labels-GameState.json").read_text())
    assert gsr["predictions"] and all(p["image_id"].startswith("3001") for p in gsr["predictions"])


def test_yolo_decodes_the_labelled_frames_from_the_source(catalog, tmp_path):
    path, clip, _ = catalog
    out = tmp_path / "yolo"
    result = _export("yolo", "--catalog", str(path), "--out", str(out), "--every", "12")
    assert result.exit_code == 0, result.output
    images = sorted((out / "images" / "train").glob("*.jpg"))
    assert [p.name for p in images] == [f"{clip.clip_id}-{n:06d}.jpg" for n in (1, 13, 25)]
    video = decode_frames(clip.url)
    written = cv2.imread(str(images[1])).astype(int)
    # Frame 13 is source frame 12 (JPEG-close), not a neighbour: the stride and the seek are right.
    errors = [np.abs(written - video[k]).mean() for k in (11, 12, 13)]
    assert errors[1] < 2.0 and errors[1] < min(errors[0], errors[2])
    assert (out / "data.yaml").is_file() and len(list((out / "labels" / "train").glob("*.txt"))) == 3


@pytest.fixture(scope="module")
def footage_gone(tmp_path_factory) -> Path:
    """A catalog of one example shard whose footage (file:///videos/match-1.mp4) does not exist."""
    root = tmp_path_factory.mktemp("export-no-footage")
    key = "d" * 64
    tables = example_shard_tables("match-1", "clip-0", key, n_frames=3)
    manifest = write_shard(root / "out", "match-1", "clip-0", key, tables, config_hash="config-0", code_version="test", metadata={})
    register_shards(root / "catalog.duckdb", [manifest])
    return root / "catalog.duckdb"


def test_bad_input_is_one_line_and_exit_2(catalog, footage_gone, tmp_path):
    path = str(catalog[0])
    line = _one_error_line(_export("mot", "--catalog", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path / "a")))
    assert "no catalog at" in line and "missing.duckdb" in line
    line = _one_error_line(_export("coco", "--catalog", path, "--where", "match_id = 'nope'", "--out", str(tmp_path / "b")))
    assert "selects no clip" in line and "soccerfactory query" in line
    line = _one_error_line(_export("gsr", "--catalog", path, "--where", "match_id = 'nope'", "--out", str(tmp_path / "b")))
    assert "no clip" in line
    assert "cannot select clips" in _one_error_line(_export("mot", "--catalog", path, "--where", "no_such_column = 1", "--out", str(tmp_path / "c")))
    (tmp_path / "file").write_text("x")
    assert "is a file" in _one_error_line(_export("coco", "--catalog", path, "--out", str(tmp_path / "file")))
    assert "not a SoccerNet split" in _one_error_line(_export("gsr", "--catalog", path, "--out", str(tmp_path / "d"), "--split", "holdout"))
    assert "--out" in _one_error_line(_export("mot", "--catalog", path))  # required
    line = _one_error_line(_export("yolo", "--catalog", str(footage_gone), "--out", str(tmp_path / "e")))
    assert "videos/match-1.mp4" in line


@pytest.mark.slow
def test_curated_shards_export_in_every_format(tmp_path):
    # ~90 s: a real curate run (Prefect, the bundled detector) of a 1 s rendered clip.
    from faster_coco_eval import COCO

    from soccerfactory.curation.config import load_config
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.flows.curate import run_curate

    render_clip(SynthConfig(seconds=1.0, seed=406, width=640, height=360), tmp_path / "clip")
    summary = run_curate(str(tmp_path / "clip" / "video.mp4"), str(tmp_path / "out"), load_config(overrides=["detect.imgsz=640"]))
    assert summary.count("curated") == 1, summary.clips
    path = str(tmp_path / "out" / "catalog.duckdb")
    import duckdb

    with duckdb.connect(path, read_only=True) as db:
        rows, frames = db.execute("SELECT (SELECT count(*) FROM athletes), (SELECT count(*) FROM frames)").fetchone()
    assert rows > 0
    for fmt in ("gsr", "mot", "coco", "yolo"):
        result = _export(fmt, "--catalog", path, "--where", "match_id = 'video'", "--out", str(tmp_path / fmt))
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"exported 1 sequence(s), {frames} image(s)"), result.stdout
    (sequence,) = [p for p in (tmp_path / "mot").iterdir() if p.name != "seqmaps"]
    assert len((sequence / "gt" / "gt.txt").read_text().splitlines()) == rows
    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    assert len([a for a in coco.dataset["annotations"] if a["track_id"] is not None]) == rows
    assert len(list((tmp_path / "yolo" / "images" / "train").glob("*.jpg"))) == frames
