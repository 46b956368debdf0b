"""The bad-input suite: every kind of broken input a data engineer hands ``soccerfactory curate``,
mixed with good clips, through the real command.

Two groups, each case its own test:

* **Inputs** (files, folders, URLs): all go into one real run together with a new good clip, into
  a root that already holds a curated one, because a run costs tens of seconds. Each case asserts its own
  ``failed: <input>: <reason>`` line (one line, naming the input) and its ``failures`` row; the
  run asserts exit 1, the new good clip curated, the old one kept, and earlier rows unchanged.
* **Usage errors** (config, weights, output, catalog): each is its own run and must stop before
  any work with exit 2 and one ``error:`` line naming the input, leaving the root untouched.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

import cv2
import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import decode_video, write_video
from soccerfactory.flows.cli import app

FAST = ["detect.imgsz=320", "detect.ball_slices=0", "run.max_parallel_clips=2"]
CLIP_FRAMES = 12
DETECTOR = Path(__file__).resolve().parents[2] / "curation" / "weights" / "detector.pt"


def _curate(*args: str) -> object:
    return CliRunner().invoke(app, ["curate", *args, *sum((["--set", o] for o in FAST), [])])


def _rows(catalog: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(catalog), read_only=True) as db:
        return db.execute(sql).fetchall()


def _snapshot(root: Path) -> dict:
    """What must not change: every shard file's bytes and the catalogued clips and shards."""
    catalog = root / "catalog.duckdb"
    return {
        "files": {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "shards").rglob("*")) if p.is_file()
        },
        "clips": _rows(catalog, "SELECT match_id, clip_id, shard_key FROM clips ORDER BY ALL"),
        "shards": _rows(catalog, "SELECT clip_id, shard_key, rows_athletes FROM shards ORDER BY ALL"),
    }


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> list[np.ndarray]:
    folder = tmp_path_factory.mktemp("bad-inputs-render")
    render_clip(SynthConfig(seconds=2.0, seed=7, width=320, height=180), folder)
    return list(decode_video(folder / "video.mp4").images)


@pytest.fixture(scope="module")
def root(frames, tmp_path_factory) -> dict:
    """A root that already holds one good clip, as a data engineer's root would."""
    base = tmp_path_factory.mktemp("bad-inputs")
    good = write_video(base / "footage" / "good.mp4", frames[:CLIP_FRAMES])
    output = base / "curated"
    first = _curate(str(good), "--output", str(output))
    assert first.exit_code == 0, first.output
    return {"base": base, "good": good, "output": output, "before": _snapshot(output)}


# --------------------------------------------------------------------------- bad inputs in one run


def _build_inputs(base: Path, frames: list[np.ndarray]) -> dict[str, tuple[str, str, str]]:
    """Case name -> (the input as given, the failure's stage, a piece of its one-line reason)."""
    bad = base / "bad"
    bad.mkdir()
    png = cv2.imencode(".png", np.zeros((180, 320, 3), np.uint8))[1].tobytes()
    jpeg = cv2.imencode(".jpg", np.zeros((180, 320, 3), np.uint8))[1].tobytes()
    good_bytes = (base / "footage" / "good.mp4").read_bytes()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "notes.mp4").write_text("kick-off at 15:00, second half at 16:00\n")
    (bad / "frame.mp4").write_bytes(png)
    (bad / "photo.mkv").write_bytes(jpeg)
    (bad / "truncated.mp4").write_bytes(good_bytes[: len(good_bytes) * 6 // 10])
    (bad / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    write_video(bad / "three-frames.mp4", frames[:3])
    for side, fourcc, ext in ((1, "MJPG", ".avi"), (2, "mp4v", ".mp4"), (16, "mp4v", ".mp4")):
        write_video(bad / f"tiny-{side}{ext}", [np.full((side, side, 3), 20 * i, np.uint8) for i in range(10)], fourcc=fourcc)
    (bad / "still.jpg").write_bytes(jpeg)
    (bad / "readme.txt").write_text("not footage\n")
    (base / "empty-folder").mkdir()
    (base / "docs-only").mkdir()
    (base / "docs-only" / "notes.txt").write_text("nothing to see\n")
    broken_manifest = base / "broken-manifest"
    write_video(broken_manifest / "half.mp4", frames[CLIP_FRAMES : 2 * CLIP_FRAMES])
    (broken_manifest / "soccerfactory-sources.json").write_text("{not json")
    missing_manifest = base / "manifest-lists-missing"
    write_video(missing_manifest / "half.mp4", frames[CLIP_FRAMES : 2 * CLIP_FRAMES])
    (missing_manifest / "soccerfactory-sources.json").write_text(json.dumps({"other-half.mp4": "final"}))
    sequence = base / "broken-sequence"
    (sequence / "img1").mkdir(parents=True)
    for k in range(1, 11):
        data = b"garbage, not a jpeg" if k == 2 else cv2.imencode(".jpg", frames[k])[1].tobytes()
        (sequence / "img1" / f"{k:06d}.jpg").write_bytes(data)
    # Another camera's file with the already-curated clip's name: its id is taken by other footage.
    impostor = write_video(base / "other-camera" / "good.mp4", frames[2 * CLIP_FRAMES : 3 * CLIP_FRAMES])
    return {
        "missing-path": ("/nonexistent/match.mp4", "discover-sources", "does not exist"),
        "missing-memory-url": ("memory://nothing/here.mp4", "discover-sources", "does not exist"),
        # "cannot open this URL" (no s3fs installed); with s3fs and no credentials "cannot read this
        # URL" or "does not exist", depending on the s3fs/aiobotocore versions.
        "s3-unreachable": ("s3://nope/x.mp4", "discover-sources", ("cannot ", "does not exist")),
        "unknown-protocol": ("nosuchproto://bucket/x.mp4", "discover-sources", "cannot open this URL"),
        "zero-byte": (str(bad / "empty.mp4"), "scan-source", "empty"),
        "text-renamed": (str(bad / "notes.mp4"), "scan-source", "not a video: it is a text file"),
        "png-renamed": (str(bad / "frame.mp4"), "scan-source", "not a video: it is a PNG image"),
        "jpeg-renamed-mkv": (str(bad / "photo.mkv"), "scan-source", "not a video: it is a JPEG image"),
        "truncated": (str(bad / "truncated.mp4"), "scan-source", "truncated"),
        "random-bytes": (str(bad / "noise.mp4"), "scan-source", ""),
        "three-frames": (str(bad / "three-frames.mp4"), "scan-source", "fewer than clips.min_clip_frames"),
        "one-pixel": (str(bad / "tiny-1.avi"), "scan-source", "frames are 1x1, below the minimum 256x144"),
        "two-pixels": (str(bad / "tiny-2.mp4"), "scan-source", "frames are 2x2, below the minimum 256x144"),
        "sixteen-pixels": (str(bad / "tiny-16.mp4"), "scan-source", "frames are 16x16, below the minimum 256x144"),
        "single-image": (str(bad / "still.jpg"), "discover-sources", "single image"),
        "not-a-video-extension": (str(bad / "readme.txt"), "discover-sources", "is not a video file"),
        "empty-folder": (str(base / "empty-folder"), "discover-sources", "no videos or image sequences found"),
        "folder-without-footage": (str(base / "docs-only"), "discover-sources", "no videos or image sequences found"),
        # A broken manifest is named itself: it, not the folder, is what to fix.
        "malformed-manifest": (str(broken_manifest / "soccerfactory-sources.json"), "discover-sources", "cannot parse it"),
        "manifest-lists-missing-file": (str(missing_manifest / "soccerfactory-sources.json"), "discover-sources", "other-half.mp4"),
        "corrupt-sequence-frame": (str(sequence), "scan-source", "000002.jpg"),
        "id-taken-by-other-footage": (str(impostor), "id-collision", "already taken by"),
    }


@pytest.fixture(scope="module")
def mixed_run(root, frames) -> dict:
    base, output = root["base"], root["output"]
    cases = _build_inputs(base, frames)
    new_good = write_video(base / "footage-2" / "second.mp4", frames[3 * CLIP_FRAMES : 4 * CLIP_FRAMES])
    # The manifests' folders are what is given; their failures name the manifest inside.
    given = [str(Path(url).parent) if url.endswith("soccerfactory-sources.json") else url for url, _, _ in cases.values()]
    sources = [str(new_good), *given]
    result = _curate(*sources, "--output", str(output))
    run_id = next(line.split()[1].rstrip(":") for line in result.output.splitlines() if line.startswith("run "))
    failures = _rows(output / "catalog.duckdb", f"SELECT source_url, stage, reason FROM failures WHERE run_id = '{run_id}'")
    return {"result": result, "cases": cases, "failures": failures, "new_good": new_good, "run_id": run_id}


def test_the_mixed_run_curates_the_good_clips_and_keeps_earlier_rows(root, mixed_run):
    result = mixed_run["result"]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    n = len(mixed_run["cases"])
    assert f"1 clips curated, 0 already done, {n} failed" in result.output
    output = root["output"]
    clips = _rows(output / "catalog.duckdb", "SELECT clip_id FROM clips ORDER BY ALL")
    assert clips == [("good-000000-000012",), ("second-000000-000012",)]
    after = _snapshot(output)
    assert {k: after["files"].get(k) for k in root["before"]["files"]} == root["before"]["files"]
    assert set(root["before"]["clips"]) <= set(after["clips"])
    assert set(root["before"]["shards"]) <= set(after["shards"])
    assert len(mixed_run["failures"]) == n


def test_the_flow_run_is_named_after_the_run_and_says_how_many_inputs_failed(mixed_run):
    """In Prefect's UI the run is found by the id the catalog uses, tagged with its source and
    config, and a run with failed inputs says so in its name (its state stays completed: the good
    clips are done)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = [r for r in client.read_flow_runs() if r.name.startswith(mixed_run["run_id"])]
    assert len(runs) == 1, [r.name for r in client.read_flow_runs()] if not runs else runs
    (flow_run,) = runs
    assert flow_run.name == f"{mixed_run['run_id']} ({len(mixed_run['cases'])} failed)"
    assert "failures" in flow_run.tags and "source:second.mp4" in flow_run.tags
    assert any(tag.startswith("config:") and len(tag) == len("config:") + 12 for tag in flow_run.tags)


def test_a_run_that_curated_clips_writes_its_report_page(root, mixed_run):
    page = root["output"] / "reports" / f"{mixed_run['run_id']}.html"
    text = page.read_text()
    assert f"run {mixed_run['run_id']}" in text and "second-000000-000012" in text


@pytest.mark.parametrize("case", [
    "missing-path", "missing-memory-url", "s3-unreachable", "unknown-protocol", "zero-byte", "text-renamed",
    "png-renamed", "jpeg-renamed-mkv", "truncated", "random-bytes", "three-frames", "one-pixel", "two-pixels",
    "sixteen-pixels", "single-image", "not-a-video-extension", "empty-folder", "folder-without-footage",
    "malformed-manifest", "manifest-lists-missing-file", "corrupt-sequence-frame", "id-taken-by-other-footage",
])
def test_each_bad_input_is_one_line_naming_it(mixed_run, case):
    given, stage, reasons = mixed_run["cases"][case]
    reasons = reasons if isinstance(reasons, tuple) else (reasons,)
    lines = [line for line in mixed_run["result"].output.splitlines() if line.startswith(f"failed: {given}: ")]
    assert len(lines) == 1, f"{case}: expected one failure line for {given}:\n{mixed_run['result'].output}"
    assert any(reason in lines[0] for reason in reasons) and lines[0].endswith(f"(stage {stage})"), lines[0]
    rows = [(url, st, why) for url, st, why in mixed_run["failures"] if url == given]
    assert len(rows) == 1, f"{case}: expected one failures row for {given}, got {rows}"
    (_, recorded_stage, recorded) = rows[0]
    assert recorded_stage == stage and any(reason in recorded for reason in reasons) and "\n" not in recorded


# --------------------------------------------------------------------------- usage errors: exit 2, nothing done


class _Payload:
    """A pickle that runs a command when loaded: what a malicious 'weights file' is."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _usage_cases(base: Path, marker: Path) -> dict[str, tuple[list[str], str]]:
    """Case name -> (extra arguments, a piece of the one-line error naming the input)."""
    evil = base / "evil.pt"
    if not evil.exists():
        import torch

        torch.save({"model": _Payload(marker)}, evil)
        (base / "truncated.pt").write_bytes(DETECTOR.read_bytes()[: DETECTOR.stat().st_size // 3])
        (base / "noise.pt").write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        (base / "pickle.pt").write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
        (base / "broken.yaml").write_text("detect: [unclosed\n")
        (base / "unknown-key.yaml").write_text("detect:\n  no_such_setting: 3\n")
        (base / "a-file").write_text("not a folder\n")
    return {
        "weights-missing": (["--set", "detect.weights=/nowhere/model.pt"], "/nowhere/model.pt"),
        "weights-pickle-payload": (["--set", f"detect.weights={evil}"], str(evil)),
        "weights-truncated": (["--set", f"detect.weights={base / 'truncated.pt'}"], str(base / "truncated.pt")),
        "weights-random-bytes": (["--set", f"detect.weights={base / 'noise.pt'}"], str(base / "noise.pt")),
        "weights-plain-pickle": (["--set", f"detect.weights={base / 'pickle.pt'}"], str(base / "pickle.pt")),
        "unknown-setting": (["--set", "detect.no_such_setting=1"], "detect.no_such_setting"),
        "bad-value": (["--set", "detect.conf=7"], "detect.conf"),
        "malformed-set": (["--set", "detect.conf"], "detect.conf"),
        "config-missing": (["--config", str(base / "missing.yaml")], "missing.yaml"),
        "config-malformed": (["--config", str(base / "broken.yaml")], "broken.yaml"),
        "config-unknown-key": (["--config", str(base / "unknown-key.yaml")], "no_such_setting"),
        "output-is-a-file": (["--output", str(base / "a-file")], "a-file"),
        "catalog-unwritable": (["--catalog", "/proc/cat.duckdb"], "/proc/cat.duckdb"),
        "parallel-zero": (["--parallel", "0"], "--parallel"),
    }


USAGE_CASES = [
    "weights-missing", "weights-pickle-payload", "weights-truncated", "weights-random-bytes", "weights-plain-pickle",
    "unknown-setting", "bad-value", "malformed-set", "config-missing", "config-malformed", "config-unknown-key",
    "output-is-a-file", "catalog-unwritable", "parallel-zero",
]


@pytest.mark.parametrize("case", USAGE_CASES)
def test_each_usage_error_stops_before_work_in_one_line(root, case, tmp_path):
    marker = tmp_path / "payload-ran"
    args, named = _usage_cases(tmp_path, marker)[case]
    if not any(a == "--output" for a in args):
        args = [*args, "--output", str(root["output"])]
    before = _snapshot(root["output"])
    runs_before = sorted((root["output"] / "runs").iterdir())
    result = _curate(str(root["good"]), *args)
    assert result.exit_code == 2, f"{case}: {result.output}"
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and named in errors[0], f"{case}: {result.output}"
    assert not marker.exists(), "a weights file ran its own code"
    # Stopped before any work: no run record, no new shard, no catalog change.
    assert sorted((root["output"] / "runs").iterdir()) == runs_before
    assert _snapshot(root["output"]) == before
