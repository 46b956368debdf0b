"""Run records (``storage/run_records.py``): ``ROOT/runs/<run_id>.json`` on a local temp dir and memory://."""

from __future__ import annotations

import posixpath

import pytest

from soccerfactory.storage.fs import resolve_url
from soccerfactory.storage.run_records import list_run_records, scan_run_records, validate_run_record, write_run_record


def _overwrite(url: str, data: bytes) -> None:
    fs, path = resolve_url(url)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    fs.pipe_file(path, data)


def test_run_records_round_trip_and_bad_ones_are_reported(root):
    failures = [
        {"source_url": "file:///v/a.mp4", "clip_id": "clip-2", "stage": "detect", "reason": "CUDA out of memory"},
        {"source_url": "file:///v/b.mp4", "stage": "probe", "reason": "not a video"},
    ]
    write_run_record(root, "run-2", {"started_at": "2024-05-02T10:00:00+00:00", "status": "completed", "failures": []})
    url = write_run_record(
        root,
        "run-1",
        {"started_at": "2024-05-01T10:00:00+00:00", "finished_at": "2024-05-01T10:05:00+00:00", "status": "partial", "source": "videos/", "config_hash": "c", "failures": failures},
    )
    records = list_run_records(root)
    assert [r["run_id"] for r in records] == ["run-1", "run-2"]
    assert records[0]["failures"][1]["clip_id"] is None
    assert records[0]["failures"][0]["reason"] == "CUDA out of memory"

    _overwrite(url, b"{ not json")
    records, problems = scan_run_records(root)
    assert [r["run_id"] for r in records] == ["run-2"]
    assert len(problems) == 1 and problems[0].startswith(url)

    with pytest.raises(ValueError, match="status"):
        write_run_record(root, "run-3", {"started_at": "2024-05-01T10:00:00+00:00"})
    with pytest.raises(ValueError, match="time zone"):
        write_run_record(root, "run-3", {"started_at": "2024-05-01T10:00:00", "status": "ok"})
    with pytest.raises(ValueError, match=r"failures\[0\]\.stage"):
        write_run_record(root, "run-3", {"started_at": "2024-05-01T10:00:00Z", "status": "ok", "failures": [{"source_url": "x", "reason": "y"}]})
    with pytest.raises(ValueError, match="run_id"):
        write_run_record(root, "run-3", {"run_id": "run-4", "started_at": "2024-05-01T10:00:00Z", "status": "ok"})


def test_validate_run_record_marks_the_kind_and_fills_in_a_missing_clip_id():
    failure = {"source_url": "v.mp4", "stage": "probe", "reason": "not a video"}
    record = validate_run_record({"run_id": "run-1", "started_at": "2024-05-01T10:00:00Z", "status": "ok", "failures": [failure]})
    assert record["kind"] == "soccerfactory.run_record"
    assert record["failures"] == [{"clip_id": None, **failure}]
    with pytest.raises(ValueError, match="n_clips"):
        validate_run_record({"run_id": "run-1", "started_at": "2024-05-01T10:00:00Z", "status": "ok", "n_clips": -1})
