"""A real catalog of one ground-truth shard of a rendered clip, shared by the model tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def catalog(tmp_path_factory):
    from soccerfactory.curation.synth import SynthConfig, render_clip
    from soccerfactory.curation.testing import groundtruth_shard
    from soccerfactory.storage.catalog import register_shards
    from soccerfactory.storage.shards import list_manifests

    base = tmp_path_factory.mktemp("model-data")
    render_clip(SynthConfig(seconds=1.0, seed=5, width=640, height=360), base / "clip")
    clip, tables = groundtruth_shard(base / "clip", base / "shards", match_id="m-five")
    path = base / "catalog.duckdb"
    register_shards(path, list_manifests(base / "shards"))
    return path, clip, tables
