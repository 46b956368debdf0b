"""A curate run's bookkeeping: one-line failure reasons and the summary (the run record, lock and
registration are exercised end to end by test_curate*.py and test_bench_faults.py)."""

from __future__ import annotations

from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.flows.curate_run import CurateSummary, failure, one_line


def test_one_line_names_the_type_of_a_bug_but_not_of_a_bad_input():
    assert one_line(ValueError("first line\nsecond line")) == "ValueError: first line"
    assert one_line(BadInputError("clips/a.mp4", "not a video")) == "clips/a.mp4: not a video"
    assert one_line("  already a reason \n") == "already a reason"
    assert one_line(RuntimeError()) == "RuntimeError: RuntimeError"


def test_a_failure_row_names_input_clip_stage_and_reason():
    row = failure("clips/a.mp4", None, "scan-source", BadInputError("clips/a.mp4", "too short"))
    assert row == {"source_url": "clips/a.mp4", "clip_id": None, "stage": "scan-source", "reason": "clips/a.mp4: too short"}


def test_the_summary_counts_clips_by_status():
    clips = [{"status": "curated"}, {"status": "skipped"}, {"status": "curated"}]
    summary = CurateSummary(run_id="r", output="out", catalog="out/catalog.duckdb", clips=clips, failures=[], seconds=1.0)
    assert (summary.count("curated"), summary.count("skipped"), summary.ok) == (2, 1, True)
    assert not CurateSummary("r", "out", "c", [], [{"stage": "vote"}], 0.0).ok
