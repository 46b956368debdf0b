"""Nothing lost, nothing collides: source ids, bad sources and silent drops, through the CLI.

Two real ``soccerfactory curate`` runs into one root share every case, because a run costs tens of
seconds: run 1 curates game A of a SoccerNet-layout tree, a ``video.mp4`` given directly, and a
pile of bad sources; run 2 curates the tree again with game B added and another ``video.mp4``.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import cv2
import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import decode_video, write_video
from soccerfactory.flows.cli import app

# Tiny frames, a small detector input, no ball slices and 12-frame clips: every stage still runs.
FAST = ["detect.imgsz=320", "detect.ball_slices=0", "run.max_parallel_clips=2"]
CLIP_FRAMES = 12
GAME_A = "england_epl/2014-2015/2015-02-21 - 18-00 Chelsea 1 - 1 Burnley"
GAME_B = "england_epl/2014-2015/2015-04-11 - 19-30 Burnley 0 - 1 Arsenal"
ID_A = "england_epl.2014-2015.2015-02-21-18-00-Chelsea-1-1-Burnley"
ID_B = "england_epl.2014-2015.2015-04-11-19-30-Burnley-0-1-Arsenal"


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[np.ndarray]:
    """One small render; each good source below is a different 12-frame window of it."""
    folder = tmp_path_factory.mktemp("render")
    render_clip(SynthConfig(seconds=1.0, seed=5, width=320, height=180), folder)
    return list(decode_video(folder / "video.mp4").images)


def _clip(frames: list[np.ndarray], offset: int) -> list[np.ndarray]:
    return frames[offset : offset + CLIP_FRAMES]


def _bad_sources(folder: Path) -> dict[str, str]:
    """Files that used to vanish without a trace or fail with a raw OpenCV assertion."""
    png = cv2.imencode(".png", np.zeros((180, 320, 3), np.uint8))[1].tobytes()
    (folder / "frame.mp4").write_bytes(png)
    (folder / "notes.mp4").write_text("kick-off at 15:00\n")
    write_video(folder / "three-frames.mp4", [np.full((180, 320, 3), 60 * i, np.uint8) for i in range(3)])
    for side, fourcc, ext in ((1, "MJPG", ".avi"), (2, "mp4v", ".mp4"), (16, "mp4v", ".mp4")):
        write_video(folder / f"tiny-{side}{ext}", [np.full((side, side, 3), 20 * i, np.uint8) for i in range(10)], fourcc=fourcc)
    return {
        "frame.mp4": "not a video: it is a PNG image with a video extension",
        "notes.mp4": "not a video: it is a text file with a video extension",
        "three-frames.mp4": "no clip: 3 frames decode and its only shot has 3 frames, fewer than clips.min_clip_frames (8)",
        "tiny-1.avi": "frames are 1x1, below the minimum 256x144",
        "tiny-2.mp4": "frames are 2x2, below the minimum 256x144",
        "tiny-16.mp4": "frames are 16x16, below the minimum 256x144",
    }


def _curate(*sources: str, output: Path):
    return CliRunner().invoke(app, ["curate", *sources, "--output", str(output), *sum((["--set", o] for o in FAST), [])])


def _table(catalog: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(catalog), read_only=True) as db:
        return db.execute(sql).fetchall()


def _tree_bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def runs(frames, tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("sources")
    tree, output = base / "SoccerNet", base / "curated"
    write_video(tree / GAME_A / "1_720p.mp4", _clip(frames, 0))
    write_video(tree / GAME_A / "2_720p.mp4", _clip(frames, 2))
    first_video = write_video(base / "camera-1" / "video.mp4", _clip(frames, 4))
    bad = base / "bad"
    bad.mkdir()
    expected_bad = _bad_sources(bad)
    run1 = _curate(str(tree), str(first_video), "/nonexistent.mp4", "memory://nothing", "s3://nope/x.mp4", str(bad), output=output)
    after1 = {
        "clips": _table(output / "catalog.duckdb", "SELECT match_id, clip_id, shard_key FROM clips ORDER BY clip_id"),
        "shards": _tree_bytes(output / "shards"),
        "failures": _table(output / "catalog.duckdb", "SELECT source_url, clip_id, stage, reason FROM failures ORDER BY source_url"),
    }
    # Game B arrives; the same folder is curated again, with another camera's video.mp4.
    write_video(tree / GAME_B / "1_720p.mp4", _clip(frames, 6))
    write_video(tree / GAME_B / "2_720p.mp4", _clip(frames, 8))
    second_video = write_video(base / "camera-2" / "video.mp4", _clip(frames, 10))
    run2 = _curate(str(tree), str(second_video), output=output)
    return {"run1": run1, "after1": after1, "run2": run2, "output": output, "bad": bad, "expected_bad": expected_bad,
            "first_video": first_video, "second_video": second_video}


def _failure_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("failed: ")]


def test_soccernet_layout_gets_one_id_per_half_and_nothing_is_replaced(runs):
    assert runs["run2"].exit_code == 1, runs["run2"].output  # run 2 also holds the colliding video.mp4
    assert "2 clips curated, 2 already done, 1 failed" in runs["run2"].output
    catalog = runs["output"] / "catalog.duckdb"
    rows = _table(catalog, "SELECT match_id, clip_id, source_url FROM clips WHERE clip_id LIKE 'england_epl%' ORDER BY clip_id")
    assert [(m, c) for m, c, _ in rows] == [
        (f"{ID_A}.1_720p", f"{ID_A}.1_720p-000000-000012"),
        (f"{ID_A}.2_720p", f"{ID_A}.2_720p-000000-000012"),
        (f"{ID_B}.1_720p", f"{ID_B}.1_720p-000000-000012"),
        (f"{ID_B}.2_720p", f"{ID_B}.2_720p-000000-000012"),
    ]
    # Each shard holds its own half: four sources, four contents, none replaced by another.
    manifests = sorted((runs["output"] / "shards").glob("match_id=england_epl*/*/manifest.json"))
    sources = [json.loads(m.read_text())["metadata"]["clip"]["url"] for m in manifests]
    assert [Path(s).relative_to(runs["output"].parent / "SoccerNet").as_posix() for s in sources] == [
        f"{GAME_A}/1_720p.mp4", f"{GAME_A}/2_720p.mp4", f"{GAME_B}/1_720p.mp4", f"{GAME_B}/2_720p.mp4"
    ]
    assert len({json.loads(m.read_text())["metadata"]["clip"]["content_hash"] for m in manifests}) == 4


def test_same_named_files_of_two_runs_collide_loudly_and_the_first_shard_stays(runs):
    run2, output = runs["run2"], runs["output"]
    (line,) = [line for line in _failure_lines(run2.output) if "video.mp4" in line]
    assert line.startswith(f"failed: {runs['second_video']}: id video is already taken by {runs['first_video']}, whose content differs")
    assert "common parent folder" in line and line.endswith("(stage id-collision)")
    # The first video's shard, and every other shard of run 1, are byte for byte as run 1 left them.
    now = _tree_bytes(output / "shards")
    assert {k: now[k] for k in runs["after1"]["shards"]} == runs["after1"]["shards"]
    assert any(k.startswith("match_id=video/clip_id=video-000000-000012/") for k in now)
    rows = _table(output / "catalog.duckdb", "SELECT match_id, clip_id, shard_key FROM clips ORDER BY clip_id")
    assert set(runs["after1"]["clips"]) <= set(rows) and len(rows) == len(runs["after1"]["clips"]) + 2
    run_id = re.search(r"^run (\S+): ", run2.output, re.M).group(1)
    failures = _table(output / "catalog.duckdb", f"SELECT source_url, stage, reason FROM failures WHERE run_id = '{run_id}'")
    assert [(url, stage) for url, stage, _ in failures] == [(str(runs["second_video"]), "id-collision")]
    assert str(runs["first_video"]) in failures[0][2]


def test_each_bad_source_is_its_own_failure_and_the_good_ones_are_curated(runs):
    run1 = runs["run1"]
    assert run1.exit_code == 1, run1.output
    assert "3 clips curated, 0 already done, 9 failed" in run1.output
    assert "Traceback" not in run1.output
    lines = _failure_lines(run1.output)
    for url, reason in (
        ("/nonexistent.mp4", "does not exist"),
        ("memory://nothing", "does not exist"),
        # Without s3fs "cannot open this URL"; with it and no credentials "cannot read this URL" or
        # "does not exist", depending on the s3fs/aiobotocore versions.
        ("s3://nope/x.mp4", ("cannot ", "does not exist")),
    ):
        (line,) = [line for line in lines if line.startswith(f"failed: {url}: ")]
        reasons = reason if isinstance(reason, tuple) else (reason,)
        assert line.startswith(tuple(f"failed: {url}: {r}" for r in reasons)) and line.endswith("(stage discover-sources)"), line
    rows = runs["after1"]["failures"]
    by_url = {url: (clip_id, stage, reason) for url, clip_id, stage, reason in rows}
    for url in ("/nonexistent.mp4", "memory://nothing", "s3://nope/x.mp4"):
        assert by_url[url][1] == "discover-sources" and by_url[url][2].startswith(f"{url}: ")


def test_inputs_that_yield_no_clip_are_failures_naming_the_file(runs):
    run1, bad = runs["run1"], runs["bad"]
    lines = _failure_lines(run1.output)
    by_url = {url: (stage, reason) for url, _, stage, reason in runs["after1"]["failures"]}
    for name, reason in runs["expected_bad"].items():
        url = str(bad / name)
        (line,) = [line for line in lines if line.startswith(f"failed: {url}: ")]
        assert reason in line and line.endswith("(stage scan-source)"), line
        stage, recorded = by_url[url]
        assert stage == "scan-source" and recorded.startswith(f"{url}: {reason}") and "\n" not in recorded
    assert len(by_url) == 9  # 3 unreadable sources + 6 bad files, one row each
    # The good sources of the same run were curated.
    assert {clip_id for _, clip_id, _ in runs["after1"]["clips"]} == {
        f"{ID_A}.1_720p-000000-000012", f"{ID_A}.2_720p-000000-000012", "video-000000-000012"
    }
