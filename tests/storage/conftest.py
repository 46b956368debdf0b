"""Fixtures shared by the storage tests: a shard root on a local temp dir and on fsspec's memory://."""

from __future__ import annotations

import uuid

import fsspec
import pytest


@pytest.fixture
def memory_root():
    fs = fsspec.filesystem("memory")
    yield f"memory://shards-test-{uuid.uuid4().hex[:8]}"
    # The memory filesystem is process-global: leave nothing for the next test.
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")


@pytest.fixture(params=["local", "memory"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "out")
    return request.getfixturevalue("memory_root")
