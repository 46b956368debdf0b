"""What the export tests share: a catalog of small example shards, and the truth of the session's
rendered clip (the root conftest's ``catalog``: one ground-truth shard of a 1 s, 640x360 clip)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from soccerfactory.storage.catalog import register_shards
from soccerfactory.storage.groundtruth import read_ground_truth
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard

#: (match, clip, first frame) of the example catalog: clip-0 repeats across the two matches.
EXAMPLE_CLIPS = (("match-1", "clip-0", 100), ("match-1", "clip-1", 200), ("match-2", "clip-0", 0))


def write_examples(root: Path, change=None) -> Path:
    """Register the example shards under ``root``; ``change(tables)`` may edit each clip's tables."""
    manifests = []
    for n, (match_id, clip_id, start) in enumerate(EXAMPLE_CLIPS):
        key = f"{n:016x}" + "c" * 48
        tables = example_shard_tables(match_id, clip_id, key, n_frames=4, n_tracks=3, start_frame=start)
        if change is not None:
            tables = change(tables)
        manifests.append(write_shard(root / "out", match_id, clip_id, key, tables, config_hash="config-0", code_version="test", metadata={}))
    catalog = root / "catalog.duckdb"
    register_shards(catalog, manifests)
    return catalog


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Path:
    """A catalog of three example shards (4 frames, 3 tracks each: two players, one referee)."""
    return write_examples(tmp_path_factory.mktemp("export-examples"))


@pytest.fixture(scope="module")
def truth(catalog) -> tuple[Path, object, pa.Table]:
    """The session's ground-truth catalog, its clip, and the renderer's own athletes table."""
    path, clip, _ = catalog
    return path, clip, read_ground_truth(Path(path).parent / "clip" / "gt", "athletes")
