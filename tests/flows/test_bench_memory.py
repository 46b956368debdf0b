"""The memory bench's own parts (``flows/bench_memory.py``): the looped footage is as long as asked
and still a readable 720p-style video, and the ratio it reports is longest over shortest."""

from __future__ import annotations

import cv2
import pytest

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.flows.bench_memory import _figures, _loop_video


def test_a_short_render_is_looped_into_a_video_of_the_asked_length(tmp_path):
    render_clip(SynthConfig(seconds=1.0, seed=406, width=320, height=180), tmp_path / "render")
    source = tmp_path / "render" / "video.mp4"
    capture = cv2.VideoCapture(str(source))
    fps, rendered = capture.get(cv2.CAP_PROP_FPS), int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    target = tmp_path / "videos" / "looped.mp4"

    written = _loop_video(source, target, minutes=0.05)  # 3 s: the 1 s render three times

    assert written == round(0.05 * 60 * fps) and written > 2 * rendered
    looped = cv2.VideoCapture(str(target))
    frames = 0
    while looped.read()[0]:
        frames += 1
    assert frames == written and (looped.get(cv2.CAP_PROP_FRAME_WIDTH), looped.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 180)
    looped.release()
    assert not list(target.parent.glob("*.partial.mp4"))  # moved into place whole


def test_the_ratio_is_the_longest_runs_peak_over_the_shortest():
    runs = {f"{m:g}": {"peak_rss_mib": peak, "peak_rss_tree_polled_mib": tree} for m, peak, tree in
            [(1, 1500.0, 1800.0), (5, 1560.0, 1850.0), (10, 1650.0, 1890.0)]}
    ratio = _figures(runs, [5, 1, 10])["ratio_longest_to_shortest"]
    assert ratio == {"peak_rss": pytest.approx(1.1), "peak_rss_tree_polled": pytest.approx(1.05)}
