"""The report's plots: standalone SVG with the numbers drawn, nothing when there is nothing to draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from soccerfactory.storage.report import plots
from soccerfactory.storage.report.queries import Histogram, Series, Table

_SVG = "{http://www.w3.org/2000/svg}"


def _texts(plot: plots.Plot) -> list[str]:
    root = ET.fromstring(plot.data)
    assert root.tag == f"{_SVG}svg"
    return [t.text or "" for t in root.iter(f"{_SVG}text")]


def _series(match_id="m", n=5, **values):
    return Series(match_id, tuple(float(k) for k in range(n)), {k: tuple(v) for k, v in values.items()})


def test_time_series_draw_a_panel_per_match_with_its_labels():
    series = [_series("match-a", player=[6, 7, 7, None, 8], referee=[1, 1, 1, 1, 1]), _series("match-b", player=[5] * 5)]
    plot = plots.label_counts_plot(series)
    texts = _texts(plot)
    assert {"match-a", "match-b", "player", "referee", "rows per frame"} <= set(texts)
    assert plot.id == "plot-label-counts" and "match-a" in plot.alt and plot.mime == "image/svg+xml"
    calibration = plots.calibration_plot([_series(valid_share=[1, 0.5, 0, 0, 1], reprojection_error_px=[2.0, 3.0, None, None, 2.5])])
    assert "valid-camera share" in _texts(calibration)
    blind = plots.calibration_plot([_series(valid_share=[0] * 5, reprojection_error_px=[None] * 5)])
    assert "no valid camera" in _texts(blind)
    assert "zoomed" in _texts(plots.views_plot([_series(main=[1, 0.5, 0, 0, 1], zoomed=[0, 0.5, 1, 1, 0])]))


def test_histograms_skip_empty_panels():
    edges = tuple(k / 20 for k in range(21))
    full, empty = Histogram(edges, (0,) * 19 + (12,)), Histogram(edges, (0,) * 20)
    texts = _texts(plots.histograms_plot(full, {"team": full, "jersey": empty}))
    assert "team agreement (tracks)" in texts and "jersey agreement (tracks)" not in texts
    assert plots.histograms_plot(empty, {"team": empty}) is None


def test_bars_per_clip_become_bars_per_match_when_there_are_many_clips():
    columns = ("match_id", "clip_id", "tracks_a", "tracks_b", "tracks_no_team")
    few = Table(columns, (("m", "c-1", 5, 4, 1), ("m", "c-2", 6, 6, 0)))
    assert {"c-1", "c-2"} <= set(_texts(plots.team_balance_plot(few)))
    many = Table(columns, tuple((f"m-{k % 2}", f"c-{k}", 5, 5, 0) for k in range(40)))
    texts = _texts(plots.team_balance_plot(many))
    assert {"m-0", "m-1"} <= set(texts) and "c-7" not in texts


def test_truth_bars_label_each_share():
    columns = ("match_id", "detection_recall", "role_accuracy", "jersey_precision", "jersey_coverage")
    per_match = Table(columns, (("synth-1", 0.91, 0.5, None, None), ("synth-2", 0.8, 0.75, 0.66, None)))
    plot = plots.truth_plot(per_match)
    texts = _texts(plot)
    # A share no match has (jersey coverage) is left out; one that a match lacks reads n/a.
    assert {"detection recall", "role accuracy", "jersey precision", "0.91", "0.50", "0.66", "n/a", "synth-2"} <= set(texts)
    assert "jersey coverage" not in texts
    assert "detection recall 0.91" in plot.alt


def test_nothing_to_draw_is_none():
    assert plots.label_counts_plot([]) is None and plots.calibration_plot([]) is None and plots.views_plot([]) is None
    assert plots.track_lengths_plot(()) is None
    assert plots.team_balance_plot(Table(("match_id", "clip_id"), ())) is None
    assert plots.jersey_plot(Table(("match_id", "clip_id"), ())) is None
    assert plots.truth_plot(Table(("match_id", "detection_recall"), (("m", None),))) is None
    assert plots.camera_error_plot([_series(camera_error_px=[None] * 5)]) is None
    assert plots.loss_curve_plot([]) is None


def test_loss_curve_is_a_png_of_every_task():
    history = [{"step": k, "loss": 2.0 / k, "tasks": {"detect": 1.0 / k, "team": 1.0 / k}} for k in range(1, 30)]
    plot = plots.loss_curve_plot(history)
    assert plot.mime == "image/png" and plot.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "29 steps: 2.000 at step 1" in plot.alt
    assert {"total", "detect", "team"} <= set(_texts(plots.loss_curve_plot(history, fmt="svg")))
