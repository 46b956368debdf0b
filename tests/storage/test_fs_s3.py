"""Shards on S3 through fsspec (s3fs), against a real S3-protocol server on loopback (moto's server
mode: real HTTP, real signed requests, real multipart uploads), never a stub of the client.

Credentials and the endpoint come only from ``storage_options``: the user's ``AWS_*`` variables
and ``~/.aws`` files are pointed away, so nothing here works by reading them.
"""

from __future__ import annotations


import duckdb
import pytest

from soccerfactory.storage.catalog import connect, register_shards
from soccerfactory.storage.fs import resolve_url, write_json_atomic
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import delete_shard, list_manifests, read_shard, verify_shard, write_shard

KEY_1 = "1" * 16 + "a" * 48
KEY_2 = "2" * 16 + "b" * 48


@pytest.fixture
def s3(s3_bucket) -> tuple[str, dict]:
    """A fresh bucket on the session's moto server (tests/conftest.py): ``(s3://bucket, storage_options)``."""
    bucket, endpoint = s3_bucket
    return bucket, {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}


def test_shards_on_s3_are_written_listed_verified_and_read(s3):
    bucket, options = s3
    root = f"{bucket}/curated"
    tables = example_shard_tables("match-1", "clip-0", KEY_1)
    manifest = write_shard(root, "match-1", "clip-0", KEY_1, tables, config_hash="config-0", code_version="test", metadata={}, storage_options=options)
    assert manifest.url == f"{root}/shards/match_id=match-1/clip_id=clip-0/manifest.json"
    (listed,) = list_manifests(root, storage_options=options)
    assert listed.shard_key == KEY_1 and verify_shard(listed, storage_options=options) is None
    assert read_shard(listed, storage_options=options)["athletes"].num_rows == tables["athletes"].num_rows
    fs, path = resolve_url(root, options)
    # No temporary file of the atomic writes is left in the bucket.
    assert not [p for p in fs.find(path) if ".tmp-" in p]
    # Damage is seen through S3 too: a file replaced by other bytes fails verification.
    athletes = next(p for p in fs.find(path) if "/athletes-" in p)
    fs.pipe_file(athletes, b"not parquet")
    assert verify_shard(listed, storage_options=options) is not None
    assert delete_shard(root, "match-1", "clip-0", storage_options=options)
    assert list_manifests(root, storage_options=options) == []


def test_a_local_catalog_registers_s3_shards_and_its_views_read_them(s3, tmp_path):
    bucket, options = s3
    root = f"{bucket}/curated"
    for clip, key in (("clip-0", KEY_1), ("clip-1", KEY_2)):
        tables = example_shard_tables("match-1", clip, key)
        write_shard(root, "match-1", clip, key, tables, config_hash="config-0", code_version="test", metadata={}, storage_options=options)
    catalog = tmp_path / "catalog.duckdb"
    outcome = register_shards(catalog, list_manifests(root, storage_options=options), storage_options=options)
    assert outcome["registered"] == 2 and not outcome["quarantined"]
    expected = 2 * example_shard_tables("match-1", "clip-0", KEY_1)["frames"].num_rows
    with connect(catalog, read_only=True) as db:  # this process registered the s3 filesystem
        assert db.execute("SELECT count(*) FROM frames").fetchone()[0] == expected
        urls = [row[0] for row in db.execute("SELECT manifest_url FROM shards").fetchall()]
    assert urls and all(url.startswith(f"{bucket}/curated/") for url in urls)
    # The catalog holds no credential: only URLs (a reader in another process brings its own).
    with duckdb.connect(str(catalog), read_only=True) as raw:
        dump = " ".join(str(row) for table in ("shards", "clips") for row in raw.execute(f"SELECT * FROM {table}").fetchall())
    assert "testing" not in dump


def test_json_written_atomically_to_s3(s3):
    bucket, options = s3
    url = write_json_atomic(f"{bucket}/records/run.json", {"status": "ok"}, options)
    fs, path = resolve_url(url, options)
    assert fs.cat_file(path) == b'{\n  "status": "ok"\n}\n'
    assert fs.ls(f"{path.rsplit('/', 1)[0]}", detail=False) == [path]
