"""Tracking quality: HOTA of several trackers over the same detections of rendered clips."""

from __future__ import annotations

from soccerfactory.curation.quality.tracking import plot_tracking, tracking_quality


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
