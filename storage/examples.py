"""Example shards for tests and documentation: written through the real writer, counted through
the real catalog connection (nothing here is a stand-in for the storage code it exercises)."""

from __future__ import annotations

import os
from typing import Any

from soccerfactory.storage.catalog import connect
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard

__all__ = ["EXAMPLE_RUN", "example_key", "write_example_shard", "catalog_values", "damage_data_page"]


def damage_data_page(path: str | os.PathLike) -> None:
    """Flip one byte in the middle of a local Parquet file's data pages, as bit rot would: the
    size and the footer stay valid, so only a checksum finds it.

    The footer's length is the 4 bytes before the closing ``PAR1``; a small table's footer (its
    schema and documentation) can be most of the file, so the middle of the file is not enough.
    """
    with open(path, "rb") as handle:
        data = bytearray(handle.read())
    footer = int.from_bytes(data[-8:-4], "little")
    data[4 + (len(data) - 8 - footer - 4) // 2] ^= 0xFF
    with open(path, "wb") as handle:
        handle.write(bytes(data))


#: A run record with its three kinds of failure: of a registered clip, of a whole source before it
#: was cut, and of a clip of another match.
EXAMPLE_RUN = {
    "run_id": "run-1",
    "started_at": "2024-05-01T10:00:00+00:00",
    "finished_at": "2024-05-01T10:05:00+00:00",
    "source": "videos/",
    "output": "out/",
    "config_hash": "config-0",
    "status": "partial",
    "n_clips": 3,
    "n_curated": 2,
    "n_skipped": 0,
    "flow_run_id": "f-1",
    "failures": [
        # Same source and clip id as a registered clip: counts for that clip and its match.
        {"source_url": "file:///videos/match-1.mp4", "clip_id": "clip-0", "stage": "calibrate", "reason": "no keypoints"},
        # The whole source failed before it was cut: counts for the match only.
        {"source_url": "file:///videos/match-1.mp4", "clip_id": None, "stage": "probe", "reason": "bad header"},
        {"source_url": "file:///videos/other.mp4", "clip_id": "clip-9", "stage": "detect", "reason": "oom"},
    ],
}


def example_key(n: int) -> str:
    """A valid 64-hex shard key, distinct for each ``n``."""
    return f"{n:016x}" + "c" * 48


def write_example_shard(
    root: str | os.PathLike, match_id: str = "match-1", clip_id: str = "clip-0", n: int = 1, **kwargs: Any
) -> ShardManifest:
    """Write :func:`~soccerfactory.storage.schemas.example_shard_tables` as a committed shard with
    key :func:`example_key` ``(n)`` (``kwargs`` go to the tables: ``n_frames``, ``n_tracks`` ...)."""
    key = example_key(n)
    return write_shard(
        root, match_id, clip_id, key, example_shard_tables(match_id, clip_id, key, **kwargs),
        config_hash="config-0", code_version="test", metadata={"run_id": "run-1"},
    )


def catalog_values(catalog: str | os.PathLike, *sqls: str) -> list[Any]:
    """The first value of each query, over one read-only connection (opening DuckDB files is the slow part)."""
    with connect(catalog, read_only=True) as connection:
        return [connection.execute(sql).fetchone()[0] for sql in sqls]
