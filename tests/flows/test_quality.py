"""Quality measurement: AP and ball recall on real frames, HOTA on rendered clips, and the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from soccerfactory.curation.training.datasets import DEFAULT_DATA_ROOT
from soccerfactory.flows.cli import app
from soccerfactory.flows.quality import ball_quality, detector_quality, plot_tracking, tracking_quality

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


def test_ball_quality_scores_each_setting_as_the_slicer_decides(tmp_path):
    import numpy as np

    from soccerfactory.curation.ball import best_ball_per_frame
    from soccerfactory.curation.detect import BallSlicer, build_detector
    from soccerfactory.curation.metrics import ball_recall
    from soccerfactory.curation.types import BALL, Detections
    from soccerfactory.curation.video import read_frames
    from soccerfactory.flows.config import CurateConfig
    from soccerfactory.flows.quality import _clip_of

    import pyarrow.parquet as pq

    figures = ball_quality(tmp_path, seeds=[11], seconds=2.0, every=10, slices=[2], slice_conf=(0.1, 0.5), retry_below=(0.0, 0.5))
    assert figures["frames"] == 5 and len(figures["grid"]) == 4
    by_key = {(row["slice_conf"], row["retry_below"]): row for row in figures["grid"]}
    # Retrying weak full-frame balls slices at least the frames with none.
    assert by_key[(0.1, 0.5)]["frames_sliced"] >= by_key[(0.1, 0.0)]["frames_sliced"]
    # The offline policy must be what the real slicer decides: rerun it on the same frames.
    config = CurateConfig().with_values({"detect.ball_slices": 2})
    detect = config.detect
    detector = build_detector(weights=detect.resolved_weights(), imgsz=detect.imgsz, conf=detect.conf)
    slicer = BallSlicer(detector, slices=2, conf=0.1, retry_below=0.5, imgsz=detect.imgsz)
    labels = pq.read_table(tmp_path / "seed-11" / "gt" / "ball.parquet").to_pandas().set_index("frame_index")
    kept, truth = [], []
    for batch in read_frames(_clip_of(tmp_path / "seed-11"), batch_size=10):
        picked = batch[np.flatnonzero(batch.frame_index % 10 == 0)]
        found = detector(picked)
        kept.append(best_ball_per_frame(slicer(picked, found[found.class_id == BALL])))
        for frame in picked.frame_index.tolist():
            row = labels.loc[frame]
            if row.visible and not np.isnan(row.x1):
                truth.append(Detections(np.array([[row.x1, row.y1, row.x2, row.y2]], np.float32), np.ones(1, np.float32), np.array([BALL]), np.array([frame])))
    live = ball_recall(Detections.merge(truth), Detections.merge(kept))
    assert figures["labelled"] == live["labelled"]
    assert (by_key[(0.1, 0.5)]["found"], by_key[(0.1, 0.5)]["predicted"]) == (live["found"], live["predicted"])


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
