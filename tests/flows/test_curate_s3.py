"""The curate flow from an s3:// source to an s3:// shard root, against moto's S3 server on loopback.

Real HTTP S3 (moto's server mode, on 127.0.0.1 and a free port), real s3fs, a real Prefect run and
a local DuckDB catalog. Credentials and the endpoint come only from ``storage_options``.
"""

from __future__ import annotations


import pytest

from soccerfactory.curation.config import load_config
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.storage.fs import resolve_url

FAST = ["detect.imgsz=320", "detect.ball_slices=0", "decode.jersey_fps=0.5", "decode.semantic_fps=0.5"]


@pytest.fixture
def s3(s3_bucket):
    """A fresh bucket on the session's moto server (tests/conftest.py): ``(s3://bucket, storage_options)``."""
    bucket, endpoint = s3_bucket
    return bucket, {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}


@pytest.mark.slow
def test_curate_from_s3_to_s3_registers_locally_and_a_rerun_skips(s3, tmp_path):
    from soccerfactory.flows.curate import run_curate
    from soccerfactory.storage.catalog import connect

    bucket, options = s3
    render_clip(SynthConfig(seconds=0.8, seed=403, width=640, height=360), tmp_path / "render")
    fs, _ = resolve_url(bucket, options)
    fs.put_file(str(tmp_path / "render" / "video.mp4"), f"{bucket}/landing/kickoff.mp4")
    source, output, catalog = f"{bucket}/landing", f"{bucket}/curated", tmp_path / "catalog.duckdb"
    config = load_config(overrides=FAST)

    summary = run_curate(source, output, config, catalog=str(catalog), storage_options=options)
    assert summary.count("curated") == 1 and not summary.failures, summary.failures
    files = fs.find(f"{output}/shards")
    manifests = [f for f in files if f.endswith("/manifest.json")]
    assert len(manifests) == 1 and any(f.endswith(".parquet") for f in files)
    # The manifest, the shard's commit, is the last object of the shard written.
    shard_dir = manifests[0].rsplit("/", 1)[0]
    written = {f: fs.info(f)["LastModified"] for f in files if f.startswith(shard_dir + "/")}
    assert written[manifests[0]] == max(written.values())
    assert not [f for f in fs.find(bucket) if ".tmp-" in f]  # no temporary file of an atomic write left
    with connect(catalog, read_only=True) as db:  # the local catalog reads the s3 shards in this process
        assert db.execute("SELECT count(*) FROM frames").fetchone()[0] == 20
        assert db.execute("SELECT count(*) FROM athletes").fetchone()[0] > 0
        (url,) = db.execute("SELECT manifest_url FROM shards").fetchone()
    assert url.startswith(f"{output}/shards/")

    again = run_curate(source, output, config, catalog=str(catalog), storage_options=options)
    assert again.count("skipped") == 1 and again.count("curated") == 0
    with connect(catalog, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM shards").fetchone()[0] == 1
