"""Example shards for tests and documentation: written through the real writer, counted through
the real catalog connection (nothing here is a stand-in for the storage code it exercises)."""

from __future__ import annotations

import os
from typing import Any

from soccerfactory.storage.catalog import connect
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard

__all__ = ["example_key", "write_example_shard", "catalog_values"]


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
