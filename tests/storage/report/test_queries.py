"""What the report reads from the catalog: scoped, aggregated, and empty-safe."""

from __future__ import annotations

import pytest

from soccerfactory.storage.catalog import connect
from soccerfactory.storage.readonly import open_read_only
from soccerfactory.storage.report.queries import Scope, read_report_data
from soccerfactory.storage.shards import read_manifest

from .conftest import RUN


def _read(path, scope=Scope(), thumbnails=4):
    connection, _ = open_read_only(path)
    try:
        return read_report_data(connection, path, scope, thumbnails=thumbnails)
    finally:
        connection.close()


def test_a_perfect_curation_grades_perfect_against_its_truth(graded_catalog):
    path, match_id, clip = graded_catalog
    data = _read(path)
    assert data.overview["matches"] == 1 and data.overview["clips"] == 1
    assert data.overview["frames"] == clip.num_frames
    truth = data.truth
    assert truth is not None
    row = dict(zip(truth.per_match.columns, truth.per_match.rows[0]))
    assert row["match_id"] == match_id
    assert row["detection_recall"] == pytest.approx(1.0) and row["detection_precision"] == pytest.approx(1.0)
    assert row["role_accuracy"] == pytest.approx(1.0)
    (errors,) = truth.camera_error
    assert max(v for v in errors.values["camera_error_px"] if v is not None) < 0.01


def test_time_series_add_up_to_the_rows(graded_catalog):
    path, _, clip = graded_catalog
    data = _read(path)
    with connect(path, read_only=True) as connection:
        rows_per_frame = connection.execute("SELECT count(*) / (SELECT count(*) FROM frames) FROM athletes").fetchone()[0]
        valid = connection.execute("SELECT avg(valid_camera::DOUBLE) FROM cameras").fetchone()[0]
    (labels,) = data.label_counts
    # Bins hold equal numbers of frames (whole frames per bin) except the last: weigh by frames per bin.
    per_bin = [sum(v or 0 for v in values) for values in zip(*labels.values.values())]
    assert sum(per_bin) / len(per_bin) == pytest.approx(rows_per_frame, rel=0.1)
    assert data.bin_s * clip.fps == pytest.approx(round(data.bin_s * clip.fps))
    (calibration,) = data.calibration
    assert sum(calibration.values["valid_share"]) / len(calibration.t) == pytest.approx(valid, rel=0.1)
    (views,) = data.views
    for shares in zip(*views.values.values()):
        assert sum(s or 0 for s in shares) == pytest.approx(1.0)


def test_thumbnails_ask_for_spread_frames_of_a_readable_shard(graded_catalog):
    path, match_id, clip = graded_catalog
    (request,) = _read(path, thumbnails=3).thumbnails
    assert (request.match_id, request.clip_id) == (match_id, clip.clip_id)
    assert len(request.frame_indices) == 3
    assert all(clip.start_frame <= f < clip.stop_frame for f in request.frame_indices)
    assert request.frame_indices[-1] - request.frame_indices[0] >= clip.num_frames // 3
    assert read_manifest(request.manifest_url).clip_id == clip.clip_id
    assert _read(path, thumbnails=0).thumbnails == ()


def test_runs_and_failures_of_the_scope(graded_catalog, plain_catalog):
    path, match_id, _ = graded_catalog
    data = _read(path, Scope(run_id=RUN))
    assert [r[0] for r in data.runs.rows] == [RUN]
    assert [r[data.failures.columns.index("reason")] for r in data.failures.rows] == ["decoder stopped at frame 31"]
    # A match's failures are those of its sources: the example run failed on two sources, one of match-1.
    one = _read(plain_catalog, Scope(match_id="match-1"))
    assert {r[one.failures.columns.index("source_url")] for r in one.failures.rows} == {"file:///videos/match-1.mp4"}
    assert one.overview["clips"] == 1 and one.clips.rows[0][0] == "match-1"
    every = _read(plain_catalog)
    assert len(every.failures.rows) == 3 and every.overview["matches"] == 2 and len(every.label_counts) == 2


def test_a_catalog_without_truth_or_rows_reads_as_empty(plain_catalog, empty_catalog):
    assert _read(plain_catalog).truth is None
    data = _read(empty_catalog)
    assert data.overview["clips"] == 0 and data.overview["frames"] == 0
    assert data.label_counts == [] and data.calibration == [] and data.views == []
    assert data.confidence.total == 0 and data.track_seconds == () and data.thumbnails == ()
    assert data.truth is None and not data.runs.rows and not data.failures.rows


def test_an_unknown_match_or_run_is_refused_naming_what_exists(plain_catalog):
    with pytest.raises(ValueError, match=r"--match 'nope' is not in the catalog; its matches: match-1, match-2"):
        _read(plain_catalog, Scope(match_id="nope"))
    with pytest.raises(ValueError, match=r"--run 'nope' is not in the catalog's runs; latest runs: run-1"):
        _read(plain_catalog, Scope(run_id="nope"))
