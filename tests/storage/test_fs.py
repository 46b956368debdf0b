"""Filesystem helpers (``storage/fs.py``): URLs and atomic writes, on a local temp dir and memory://."""

from __future__ import annotations

import json
import os
import posixpath

import pytest

from soccerfactory.storage.fs import is_local_url, resolve_url, to_url, write_json_atomic


def _listing(url: str) -> list[str]:
    fs, path = resolve_url(url)
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))


def _read_bytes(url: str) -> bytes:
    fs, path = resolve_url(url)
    return fs.cat_file(path)


def test_write_json_atomic_replaces_and_leaves_no_temporary_file(root):
    url = f"{root}/notes/a.json"
    written = write_json_atomic(url, {"n": 1})
    write_json_atomic(url, {"n": 2})
    assert json.loads(_read_bytes(written)) == {"n": 2}
    assert _listing(written.rsplit("/", 1)[0]) == ["a.json"]
    with pytest.raises(ValueError, match="a.json"):
        write_json_atomic(url, {"n": float("nan")})
    assert json.loads(_read_bytes(written)) == {"n": 2}


@pytest.mark.parametrize(
    "url, local",
    [("out/shards", True), ("/data/out", True), ("file:///data/out", True), ("local:///data/out", True),
     ("memory://bucket/out", False), ("s3://bucket/out", False)],
)
def test_is_local_url_tells_paths_and_file_urls_from_remote_urls(url, local):
    assert is_local_url(url) is local


def test_resolve_url_gives_absolute_local_paths_without_a_trailing_slash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fs, path = resolve_url("out/")
    assert path == posixpath.join(os.getcwd().replace(os.sep, "/"), "out")
    assert to_url(fs, path) == path  # local files are named by their plain path (for DuckDB)
    memory, memory_path = resolve_url("memory://bucket/out/")
    url = to_url(memory, memory_path)  # remote files by their fsspec URL
    assert url.startswith("memory://") and url.endswith("/bucket/out")


def test_local_path_strips_the_local_protocols_and_refuses_remote_urls():
    from soccerfactory.storage.fs import local_path

    assert local_path("out/x") == "out/x"
    assert local_path("file:///data/x") == "/data/x"
    assert local_path("local:///data/x") == "/data/x"
    assert local_path("memory://x") is None and local_path("s3://bucket/x") is None
