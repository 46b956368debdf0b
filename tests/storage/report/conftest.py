"""What the report tests share: real catalogs (graded against truth, without truth, empty) and headless Chromium.

The graded catalog holds the ground truth of the session's rendered 1 s clip (the root
conftest's ``catalog``) written as a curated shard, and the same truth registered as ``gt_*``
views: a perfect curation, so every grade is known (recall 1, camera error 0 px).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from soccerfactory.storage.catalog import ensure_catalog, record_run, register_ground_truth, register_shards
from soccerfactory.storage.examples import EXAMPLE_RUN, write_example_shard

_spec = importlib.util.spec_from_file_location("sf_report_chromium", Path(__file__).with_name("chromium.py"))
chromium_module = importlib.util.module_from_spec(_spec)
sys.modules["sf_report_chromium"] = chromium_module  # dataclasses resolve their module through sys.modules
_spec.loader.exec_module(chromium_module)

RUN = "run-graded"


def graded_run(source_url: str) -> dict:
    """The run record of the graded catalog: two clips curated, one failed with a reason."""
    return {
        "run_id": RUN, "started_at": "2026-01-02T10:00:00+00:00", "finished_at": "2026-01-02T10:01:00+00:00",
        "source": source_url, "output": "out", "config_hash": "config-0", "status": "completed_with_failures",
        "n_clips": 2, "n_curated": 1, "n_skipped": 0,
        "failures": [{"source_url": source_url, "clip_id": "video-000025-000050", "stage": "annotate-spatial", "reason": "decoder stopped at frame 31"}],
    }


@pytest.fixture(scope="session")
def graded_catalog(catalog, tmp_path_factory):
    """(catalog path, match id, clip) of a perfect curation of the rendered clip, with its truth registered."""
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.storage.shards import list_manifests

    clip_dir = Path(catalog[0]).parent / "clip"
    match_id = pq.read_table(clip_dir / "gt" / "athletes.parquet", columns=["match_id"]).column(0)[0].as_py()
    base = tmp_path_factory.mktemp("report-graded")
    clip, _ = groundtruth_shard(clip_dir, base / "out" / "shards", match_id=match_id)
    path = base / "out" / "catalog.duckdb"
    register_shards(path, list_manifests(base / "out" / "shards"), run_id=RUN)
    register_ground_truth(path, clip_dir)
    record_run(path, graded_run(clip.url))
    return path, match_id, clip


@pytest.fixture(scope="session")
def plain_catalog(tmp_path_factory) -> Path:
    """Two example shards of two matches (no truth, no footage) and the example run with its three failures."""
    base = tmp_path_factory.mktemp("report-plain")
    manifests = [write_example_shard(base / "out", "match-1", "clip-0", 1, n_frames=6, n_tracks=4),
                 write_example_shard(base / "out", "match-2", "clip-0", 2, n_frames=4, n_tracks=3)]
    path = base / "catalog.duckdb"
    register_shards(path, manifests)
    record_run(path, EXAMPLE_RUN)
    return path


@pytest.fixture(scope="session")
def empty_catalog(tmp_path_factory) -> Path:
    """A catalog with its tables and views and not one row."""
    path = tmp_path_factory.mktemp("report-empty") / "catalog.duckdb"
    ensure_catalog(path)
    return path


@pytest.fixture(scope="session")
def chromium():
    """``load_page`` of tests/storage/report/chromium.py; the test is skipped (saying how to get one) without Chromium."""
    if chromium_module.chromium_binary() is None:
        pytest.skip("no Chromium on PATH: `make browser` installs it (apt-get install chromium), or set CHROMIUM=/path/to/chrome")
    return chromium_module.load_page
