"""The overhead bench runs the real command twice: the re-run skips the clip, decodes nothing and
imports no model stack; both runs' records say how long the clip itself took."""

from __future__ import annotations

import json

import pytest

from soccerfactory.flows.bench_overhead import bench_overhead


@pytest.mark.slow
def test_a_cached_rerun_skips_everything_and_imports_no_model_stack(tmp_path):
    result = bench_overhead(seconds=1.0, width=320, height=180, seed=402, workdir=tmp_path, overrides=["detect.imgsz=320"])
    json.dumps(result)  # JSON-able, as `make bench` writes it
    cold, cached = result["cold"], result["cached"]
    assert cold["exit"] == 0 and cold["curated"] == 1 and cold["clips_s"] > 0
    assert cold["heavy_imports"] and "torch" in cold["heavy_imports"]  # the probe sees imports at all
    assert cached["exit"] == 0 and (cached["curated"], cached["skipped"]) == (0, 1)
    assert cached["heavy_imports"] == []
    assert result["met"]["cached_skipped_all"] and result["met"]["cached_imports_no_model_stack"]
    # The second run read the first one's scan instead of decoding the video again.
    assert (cold["scans_reused"], cached["scans_reused"]) == (0, 1)
    assert 0 <= cached["overhead_share"] <= 1 and cached["wall_s"] > 0
