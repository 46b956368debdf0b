"""Quality measurement: AP and ball recall on real frames, HOTA on rendered clips, and the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.flows.cli import app
from soccerfactory.flows.quality import detector_quality, plot_tracking, tracking_quality

VALID = DEFAULT_DATA_ROOT / "football-players" / "valid"


@pytest.mark.skipif(not VALID.is_dir(), reason="needs ../shared/data/football-players")
def test_detector_quality_on_real_frames():
    figures = detector_quality(VALID, limit=3)
    assert figures["images"] == 3 and figures["image_size"] == [1920, 1080]
    (run,) = figures["runs"]
    assert run["imgsz"] == 768
    assert set(run["ap50"]) >= {"player", "person"}
    # The bundled detector finds nearly every athlete of these frames (0.96 over the whole split).
    assert run["ap50"]["person"] > 0.8
    for key in ("ball_full_frame", "ball_with_slices"):
        assert run[key]["labelled"] == figures["labelled_boxes"]["ball"]
    assert run["ball_with_slices"]["found"] >= run["ball_full_frame"]["found"]


def test_tracking_quality_compares_trackers_on_the_same_detections(tmp_path):
    trackers = {"bytetrack": {"track.backend": "bytetrack"}, "ocsort": {"track.backend": "ocsort"}}
    lines = []
    figures = tracking_quality(tmp_path, seeds=[7], seconds=2.0, trackers=trackers, throughput_frames=10, progress=lines.append)
    assert any("detected seed 7" in line for line in lines)
    for name in trackers:
        scores = figures["trackers"][name]["combined"]
        # Two seconds of synthetic play: most athletes detected and followed without a switch.
        assert scores["HOTA"] > 50 and scores["DetA"] > 50 and scores["IDF1"] > 50
        assert figures["trackers"][name]["0"] == scores
    throughput = figures["throughput"]
    assert throughput["frames"] == 10 and throughput["detector_fps"] > 0 and throughput["detect_track_fps"] > 0
    # The rerun replays the cached detections: no detector pass, identical scores.
    cached = list(tmp_path.glob("seed-7/detections-*.npz"))
    assert len(cached) == 1
    again = tracking_quality(tmp_path, seeds=[7], seconds=2.0, trackers=trackers, throughput_frames=0, progress=lines.append)
    assert again["trackers"] == figures["trackers"]
    assert sum("detected seed 7" in line for line in lines) == 1
    png = plot_tracking(figures, tmp_path / "plots" / "tracking.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_quality_cli_names_missing_weights(tmp_path):
    missing = tmp_path / "nope.pt"
    result = CliRunner().invoke(app, ["quality", "detector", "--set", f"detect.weights={missing}"])
    assert result.exit_code == 2
    assert str(missing) in result.output


def test_quality_detector_cli_writes_json(tmp_path):
    if not VALID.is_dir():
        pytest.skip("needs ../shared/data/football-players")
    split = tmp_path / "split"
    (split / "images").mkdir(parents=True)
    (split / "labels").mkdir()
    for image in sorted((VALID / "images").iterdir())[:2]:
        (split / "images" / image.name).symlink_to(image)
        (split / "labels" / f"{image.stem}.txt").symlink_to(VALID / "labels" / f"{image.stem}.txt")
    out = tmp_path / "q.json"
    result = CliRunner().invoke(app, ["quality", "detector", "--split", str(split), "--set", "detect.ball_slices=0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["images"] == 2 and "ball_with_slices" not in figures["runs"][0]
