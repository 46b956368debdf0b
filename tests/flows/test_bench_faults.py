"""Crash safety end to end: a real `soccerfactory curate` of three clips SIGKILLed at a failpoint
(storage/failpoints.py), then resumed by a second one; the root must be what a clean run leaves.
`make faults` runs every point; here two (fast) and a broader subset through the command (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from soccerfactory.flows.bench_faults import FAST_POINTS, POINTS, run_faults


def test_kill_after_commit_and_inside_registration_then_resume_equals_a_clean_run(tmp_path):
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # this session's API server: one for every child run
    server.start()
    figures = run_faults(tmp_path, FAST_POINTS, {**os.environ, "PREFECT_API_URL": server.api_url})
    assert [p["point"] for p in figures["points"]] == list(FAST_POINTS)
    assert figures["failed"] == 0, json.dumps(figures["points"], indent=2)
    json.dumps(figures)  # the figures are what `make faults` writes


@pytest.mark.slow
def test_make_faults_on_a_subset_writes_figures_and_passes(tmp_path):
    subset = [p for p, _ in POINTS if p not in FAST_POINTS][::2]
    out = tmp_path / "faults.json"
    result = subprocess.run(
        [sys.executable, "-m", "soccerfactory.flows.bench_faults", "--points", ",".join(subset), "--out", str(out), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=3600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert [p["point"] for p in figures["points"]] == subset and figures["passed"] == len(subset)
    assert all(p["killed_s"] > 0 and p["resume_s"] > 0 for p in figures["points"])
