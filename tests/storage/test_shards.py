"""Shards on real filesystems (a local temp dir and fsspec's memory://): real Parquet, real JSON."""

from __future__ import annotations

import json
import posixpath

import pyarrow as pa
import pytest

from soccerfactory.storage.fs import resolve_url
from soccerfactory.storage.manifest import ShardManifest
from soccerfactory.storage.schemas import SHARD_SCHEMAS, example_shard_tables
from soccerfactory.storage.shards import (
    CorruptShardError,
    delete_shard,
    find_manifest,
    list_manifests,
    read_manifest,
    read_shard,
    scan_manifests,
    shard_dir_url,
    shard_file_urls,
    write_shard,
)

KEY_1 = "1" * 16 + "a" * 48
KEY_2 = "2" * 16 + "b" * 48


def _write(root, match_id="match-1", clip_id="clip-0", key=KEY_1, tables=None, **metadata):
    tables = tables if tables is not None else example_shard_tables(match_id, clip_id, key)
    return write_shard(
        root, match_id, clip_id, key, tables, config_hash="config-0", code_version="test", metadata=metadata or {"model": "yolo-x"}
    )


def _listing(url: str) -> list[str]:
    fs, path = resolve_url(url)
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))


def _read_bytes(url: str) -> bytes:
    fs, path = resolve_url(url)
    return fs.cat_file(path)


def _overwrite(url: str, data: bytes) -> None:
    fs, path = resolve_url(url)
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    fs.pipe_file(path, data)


def test_round_trip(root):
    tables = example_shard_tables("match-1", "clip-0", KEY_1)
    manifest = _write(root, tables=tables, model="yolo-x", run_id="run-7")

    clip_dir = shard_dir_url(root, "match-1", "clip-0")
    assert clip_dir.endswith("/shards/match_id=match-1/clip_id=clip-0")
    assert manifest.url == clip_dir + "/manifest.json"
    assert _listing(clip_dir) == sorted([f"{name}-{KEY_1[:16]}.parquet" for name in SHARD_SCHEMAS] + ["manifest.json"])
    assert manifest.rows == {name: table.num_rows for name, table in tables.items()}
    assert manifest.metadata == {"model": "yolo-x", "run_id": "run-7"}

    found = find_manifest(root, "match-1", "clip-0")
    assert found == manifest
    assert ShardManifest.from_json(manifest.to_json(), url=manifest.url) == manifest
    back = read_shard(found)
    assert set(back) == set(SHARD_SCHEMAS)
    for name, table in tables.items():
        assert back[name].equals(table), name
        assert back[name].schema.equals(SHARD_SCHEMAS[name], check_metadata=True)
    assert read_shard(found, ["ball"])["ball"].equals(tables["ball"])
    assert set(shard_file_urls(found)) == set(SHARD_SCHEMAS)
    assert find_manifest(root, "match-1", "clip-9") is None


def test_rewrite_with_a_new_key_replaces_the_files_and_removes_the_old_ones(root):
    first = _write(root, key=KEY_1)
    second = _write(root, key=KEY_2)
    clip_dir = shard_dir_url(root, "match-1", "clip-0")
    assert _listing(clip_dir) == sorted([f"{name}-{KEY_2[:16]}.parquet" for name in SHARD_SCHEMAS] + ["manifest.json"])
    assert find_manifest(root, "match-1", "clip-0") == second
    assert second.shard_key == KEY_2 and first.shard_key == KEY_1
    read_shard(second)  # verifies every checksum
    assert [m.shard_key for m in list_manifests(root)] == [KEY_2]


def test_rewrite_with_the_same_key_never_overwrites_a_committed_file_with_other_bytes(root):
    tables = example_shard_tables("match-1", "clip-0", KEY_1)
    first = _write(root, tables=tables)
    changed = dict(tables, ball=tables["ball"].slice(0, 2))
    second = _write(root, tables=changed)
    # The changed table gets its own name, so the first manifest stayed valid until the second replaced it.
    assert second.files["ball"]["path"] != first.files["ball"]["path"]
    assert second.files["ball"]["rows"] == 2
    for name in set(SHARD_SCHEMAS) - {"ball"}:
        assert second.files[name] == first.files[name]
    assert read_shard(find_manifest(root, "match-1", "clip-0"))["ball"].num_rows == 2
    assert first.files["ball"]["path"] not in _listing(shard_dir_url(root, "match-1", "clip-0"))
    # Writing the same content again is a no-op on the data files.
    third = _write(root, tables=changed)
    assert third.files == second.files


def test_schema_mismatch_names_the_column_and_writes_nothing(root):
    tables = example_shard_tables("match-1", "clip-0", KEY_1)
    athletes = tables["athletes"]
    broken = dict(tables, athletes=athletes.drop_columns(["track_id"]))
    with pytest.raises(ValueError, match=r"shard table 'athletes' lacks column\(s\) \['track_id'\]"):
        _write(root, tables=broken)
    wrong_type = athletes.set_column(athletes.column_names.index("team"), "team", pa.array([1] * athletes.num_rows))
    with pytest.raises(ValueError, match="shard table 'athletes' column 'team': expected string, got int64"):
        _write(root, tables=dict(tables, athletes=wrong_type))
    with pytest.raises(ValueError, match="missing \\['events'\\]"):
        _write(root, tables={k: v for k, v in tables.items() if k != "events"})
    other_clip = example_shard_tables("match-1", "clip-5", KEY_1)
    with pytest.raises(ValueError, match="shard table 'frames' column 'clip_id' holds \\['clip-5'\\]"):
        _write(root, tables=dict(tables, frames=other_clip["frames"]))
    with pytest.raises(ValueError, match="'clips' column 'shard_key'"):
        _write(root, key=KEY_2, tables=tables)
    assert find_manifest(root, "match-1", "clip-0") is None
    assert scan_manifests(root) == ([], [])


@pytest.mark.parametrize("bad", ["", "..", "a/b", "../x", "clip 1", "é"])
def test_unsafe_ids_are_refused(root, bad):
    with pytest.raises(ValueError, match="match_id"):
        _write(root, match_id=bad, tables=example_shard_tables("m", "c", KEY_1))
    with pytest.raises(ValueError, match="clip_id"):
        find_manifest(root, "match-1", bad)


def test_shard_key_must_be_hex(root):
    with pytest.raises(ValueError, match="shard_key"):
        _write(root, key="not-a-hex-key-at-all")


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_corrupt_data_file_raises_naming_the_file(root, damage):
    manifest = _write(root)
    url = shard_file_urls(manifest)["athletes"]
    data = _read_bytes(url)
    if damage == "truncate":
        _overwrite(url, data[: len(data) // 2])
    elif damage == "flip":
        middle = len(data) // 2
        _overwrite(url, data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])
    else:
        fs, path = resolve_url(url)
        fs.rm(path)
    with pytest.raises(CorruptShardError) as error:
        read_shard(manifest)
    assert error.value.path == url
    assert url in str(error.value)
    # Other tables of the shard still read.
    assert read_shard(manifest, ["frames"])["frames"].num_rows == manifest.rows["frames"]
    # A scan reports the shard whose file is gone or changed size.
    manifests, problems = scan_manifests(root)
    if damage == "flip":
        assert len(manifests) == 1 and problems == []
    else:
        assert manifests == [] and len(problems) == 1 and url in problems[0]


def test_unverified_read_of_garbage_still_raises_corrupt_shard_error(root):
    manifest = _write(root)
    url = shard_file_urls(manifest)["events"]
    _overwrite(url, b"x" * manifest.files["events"]["bytes"])
    with pytest.raises(CorruptShardError, match="not readable Parquet"):
        read_shard(manifest, ["events"], verify=False)


def _crash_leftovers(root, match_id, clip_id, scratch):
    """What a writer killed between its data files and its manifest leaves: data files under
    their final names and a temporary file, but no new manifest."""
    crashed = _write(scratch, match_id=match_id, clip_id=clip_id, key=KEY_2, tables=example_shard_tables(match_id, clip_id, KEY_2))
    target_dir = shard_dir_url(root, match_id, clip_id)
    for entry in crashed.files.values():
        data = _read_bytes(posixpath.join(crashed.dir_url, entry["path"]))
        _overwrite(f"{target_dir}/{entry['path']}", data)
    _overwrite(f"{target_dir}/.athletes-{KEY_2[:16]}.parquet.tmp-0123456789ab", b"partial")
    return crashed


def test_crash_before_the_manifest_leaves_no_shard(root, tmp_path):
    _crash_leftovers(root, "match-1", "clip-3", str(tmp_path / "scratch"))
    assert find_manifest(root, "match-1", "clip-3") is None
    assert list_manifests(root) == []
    assert scan_manifests(root) == ([], [])


def test_crash_during_a_rewrite_keeps_the_old_shard_readable_and_the_next_write_cleans_up(root, tmp_path):
    old = _write(root, clip_id="clip-3", key=KEY_1)
    _crash_leftovers(root, "match-1", "clip-3", str(tmp_path / "scratch"))
    assert find_manifest(root, "match-1", "clip-3") == old
    assert read_shard(old)["athletes"].num_rows == old.rows["athletes"]
    assert [m.shard_key for m in list_manifests(root)] == [KEY_1]

    new = _write(root, clip_id="clip-3", key=KEY_2)
    assert _listing(new.dir_url) == sorted([entry["path"] for entry in new.files.values()] + ["manifest.json"])


def test_corrupt_manifest_is_reported_by_scan_and_raised_by_find(root):
    good = _write(root, clip_id="clip-0")
    bad = _write(root, clip_id="clip-1")
    _overwrite(bad.url, _read_bytes(bad.url)[:40])
    manifests, problems = scan_manifests(root)
    assert manifests == [good]
    assert len(problems) == 1 and problems[0].startswith(bad.url) and "not valid JSON" in problems[0]
    assert list_manifests(root) == [good]
    with pytest.raises(ValueError, match=f"shard manifest {bad.url}"):
        find_manifest(root, "match-1", "clip-1")

    wrong = json.loads(good.to_json())
    wrong["files"]["ball"]["sha256"] = "nope"
    _overwrite(good.url, json.dumps(wrong).encode())
    with pytest.raises(ValueError, match=r"files\['ball'\]\.sha256"):
        read_manifest(good.url)


def test_manifest_in_the_wrong_folder_is_reported(root):
    manifest = _write(root, clip_id="clip-0")
    _overwrite(shard_dir_url(root, "match-1", "clip-8") + "/manifest.json", _read_bytes(manifest.url))
    manifests, problems = scan_manifests(root)
    assert manifests == [manifest]
    assert len(problems) == 1 and "clip_id=clip-8" in problems[0]


def test_list_manifests_is_sorted_and_delete_removes_a_shard(root):
    for match_id, clip_id in [("match-2", "clip-0"), ("match-1", "clip-1"), ("match-1", "clip-0")]:
        _write(root, match_id=match_id, clip_id=clip_id, tables=example_shard_tables(match_id, clip_id, KEY_1))
    assert [(m.match_id, m.clip_id) for m in list_manifests(root)] == [("match-1", "clip-0"), ("match-1", "clip-1"), ("match-2", "clip-0")]
    assert delete_shard(root, "match-1", "clip-1") is True
    assert delete_shard(root, "match-1", "clip-1") is False
    assert find_manifest(root, "match-1", "clip-1") is None
    assert [(m.match_id, m.clip_id) for m in list_manifests(root)] == [("match-1", "clip-0"), ("match-2", "clip-0")]


def test_a_shard_of_other_clip_content_is_never_replaced(root):
    """The guard a concurrent curate run cannot race past: same id, other content, refused."""
    from soccerfactory.storage.shards import ShardCollisionError, find_manifests_by_prefix

    first = _write(root, key=KEY_1, clip={"url": "/a/video.mp4", "content_hash": "a" * 64})
    before = {url: _read_bytes(url) for url in [first.url, *shard_file_urls(first).values()]}
    tables = example_shard_tables("match-1", "clip-0", KEY_2)
    metadata = {"clip": {"url": "/b/video.mp4", "content_hash": "b" * 64}}
    with pytest.raises(ShardCollisionError, match="holds clip content aaaaaaaaaaaa from /a/video.mp4") as caught:
        write_shard(root, "match-1", "clip-0", KEY_2, tables, config_hash="config-0", code_version="test", metadata=metadata,
                    expected_content_hash="b" * 64)
    assert (caught.value.manifest_url, caught.value.existing_source) == (first.url, "/a/video.mp4")
    assert {url: _read_bytes(url) for url in before} == before
    # The same content under a new key (another config) is replaced as before.
    again = write_shard(root, "match-1", "clip-0", KEY_2, tables, config_hash="config-0", code_version="test",
                        metadata={"clip": {"url": "/a/video.mp4", "content_hash": "a" * 64}}, expected_content_hash="a" * 64)
    assert find_manifest(root, "match-1", "clip-0") == again
    assert [m.clip_id for m in find_manifests_by_prefix(root, "match-1", "clip-")] == ["clip-0"]
    assert find_manifests_by_prefix(root, "match-1", "clip-1") == []
