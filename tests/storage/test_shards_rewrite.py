"""Rewriting a committed shard under the same key (the team-letter swap's commit): real Parquet on
a local disk and fsspec's memory://, the manifest last."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import CorruptShardError, find_manifest, read_shard, rewrite_shard, verify_shard, write_shard

KEY = "3" * 16 + "c" * 48


def _write(root):
    tables = example_shard_tables("match-1", "clip-0", KEY)
    return write_shard(root, "match-1", "clip-0", KEY, tables, config_hash="config-0", code_version="test",
                       metadata={"run_id": "run-1", "clip": {"content_hash": "h" * 64}})


def test_rewrite_replaces_tables_keeps_the_key_and_the_other_files(root):
    manifest = _write(root)
    athletes = read_shard(manifest, ["athletes"])["athletes"]
    flipped = athletes.set_column(athletes.schema.get_field_index("team"), athletes.schema.field("team"),
                                  pc.if_else(pc.equal(athletes.column("team"), "A"), "B", athletes.column("team")))
    new = rewrite_shard(manifest, {"athletes": flipped}, {**manifest.metadata, "note": "swapped"})

    assert (new.shard_key, new.config_hash, new.code_version) == (manifest.shard_key, manifest.config_hash, manifest.code_version)
    assert new.files["athletes"]["path"] != manifest.files["athletes"]["path"]  # a new file: the catalog sees a change
    assert {t: e for t, e in new.files.items() if t != "athletes"} == {t: e for t, e in manifest.files.items() if t != "athletes"}
    assert find_manifest(root, "match-1", "clip-0") == new and new.metadata["note"] == "swapped"
    assert read_shard(new, ["athletes"])["athletes"].column("team").to_pylist() == flipped.column("team").to_pylist()
    assert verify_shard(new) is None


def test_rewrite_of_metadata_only_keeps_every_file(root):
    manifest = _write(root)
    new = rewrite_shard(manifest, None, {**manifest.metadata, "team_letters": {"action": "keep"}})
    assert new.files == manifest.files and new.created_at == manifest.created_at
    assert find_manifest(root, "match-1", "clip-0").metadata["team_letters"] == {"action": "keep"}


def test_rewrite_refuses_a_shard_replaced_since_it_was_read_or_damaged(root, tmp_path):
    manifest = _write(root)
    newer = rewrite_shard(manifest, None, {**manifest.metadata, "v": 2})
    athletes = read_shard(newer, ["athletes"])["athletes"]
    with pytest.raises(ValueError, match="replaced since it was read"):
        rewrite_shard(_stale(manifest, newer), {"athletes": athletes}, manifest.metadata)
    assert find_manifest(root, "match-1", "clip-0") == newer
    with pytest.raises(ValueError, match="unknown table"):
        rewrite_shard(newer, {"players": pa.table({"x": [1]})}, newer.metadata)


def _stale(manifest, newer):
    """The old manifest of a shard whose files changed since (another run re-curated it)."""
    import dataclasses

    files = {**manifest.files, "athletes": {**manifest.files["athletes"], "sha256": "0" * 64}}
    return dataclasses.replace(newer, files=files)


def test_rewrite_of_a_damaged_shard_fails_and_leaves_the_manifest(tmp_path):
    manifest = _write(str(tmp_path))
    path = tmp_path / "shards" / "match_id=match-1" / "clip_id=clip-0" / manifest.files["frames"]["path"]
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptShardError):
        rewrite_shard(manifest, None, {"x": 1})
    athletes = read_shard(manifest, ["athletes"])["athletes"]
    with pytest.raises(CorruptShardError):  # the kept frames file is read, and refused
        rewrite_shard(manifest, {"athletes": athletes}, {"x": 1})
    assert find_manifest(str(tmp_path), "match-1", "clip-0") == manifest
