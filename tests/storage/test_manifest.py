"""The shard manifest (``storage/manifest.py``): a value with a JSON codec; no file is touched here."""

from __future__ import annotations

import json

import pytest

from soccerfactory.storage.manifest import MANIFEST_NAME, ShardManifest, check_shard_key, clip_content_hash

KEY = "1" * 16 + "a" * 48
FRAMES = {"path": f"frames-{KEY[:16]}.parquet", "rows": 4, "bytes": 100, "sha256": "0" * 64}
URL = f"/out/shards/match_id=match-1/clip_id=clip-0/{MANIFEST_NAME}"


def _manifest(**changes) -> ShardManifest:
    fields = dict(
        match_id="match-1", clip_id="clip-0", shard_key=KEY, schema_version="1", config_hash="config-0", code_version="test",
        created_at="2024-05-01T10:00:00+00:00", files={"frames": FRAMES}, metadata={"clip": {"url": "/a.mp4", "content_hash": "a" * 64}},
    )
    return ShardManifest(**{**fields, **changes})


def test_json_round_trip_keeps_every_field_and_the_url_stays_out_of_the_file():
    manifest = _manifest(url=URL)
    stored = json.loads(manifest.to_json())
    assert stored["kind"] == "soccerfactory.shard_manifest" and "url" not in stored
    back = ShardManifest.from_json(manifest.to_json(), url=URL)
    assert back == manifest and hash(back) == hash(manifest)  # files and metadata are compared, not hashed
    assert back.rows == {"frames": 4}
    assert back.dir_url == "/out/shards/match_id=match-1/clip_id=clip-0"
    with pytest.raises(ValueError, match="read_manifest"):
        _manifest().dir_url  # no url: read from a file, it would have one


def test_a_manifest_keeps_its_own_copies_of_the_callers_dicts():
    files, metadata = {"frames": dict(FRAMES)}, {"notes": [1]}
    manifest = _manifest(files=files, metadata=metadata)
    files["frames"]["rows"] = 99
    metadata["notes"].append(2)
    assert manifest.files["frames"]["rows"] == 4 and manifest.metadata == {"notes": [1]}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"match_id": "a/b"}, "match_id"),
        ({"shard_key": "NOT-HEX"}, "shard_key"),
        ({"created_at": "2024-05-01T10:00:00"}, "time zone"),
        ({"files": {}}, "non-empty"),
        ({"files": {"frames": {**FRAMES, "path": "../frames.parquet"}}}, "plain file name"),
        ({"files": {"frames": {**FRAMES, "rows": -1}}}, r"\.rows must be an int >= 0"),
        ({"files": {"frames": {**FRAMES, "sha256": "nope"}}}, "sha256 hex digest"),
        ({"metadata": {"x": float("nan")}}, "JSON-serialisable"),
    ],
)
def test_a_bad_field_is_refused_naming_it(changes, message):
    with pytest.raises(ValueError, match=message):
        _manifest(**changes)


def test_from_json_names_the_file_and_what_is_wrong():
    with pytest.raises(ValueError, match="shard manifest /m.json is not valid JSON"):
        ShardManifest.from_json("{", url="/m.json")
    with pytest.raises(ValueError, match="not a SoccerFactory shard manifest"):
        ShardManifest.from_json(json.dumps({"kind": "other"}), url="/m.json")
    data = json.loads(_manifest().to_json())
    del data["files"]
    with pytest.raises(ValueError, match=r"lacks \['files'\]"):
        ShardManifest.from_json(json.dumps(data), url="/m.json")


def test_clip_content_hash_and_the_shard_key_rule():
    assert clip_content_hash(_manifest()) == "a" * 64
    assert clip_content_hash(_manifest(metadata={})) is None
    assert clip_content_hash(_manifest(metadata={"clip": "not a dict"})) is None
    assert check_shard_key(KEY) == KEY
    with pytest.raises(ValueError, match="16-128 lowercase hex"):
        check_shard_key(KEY.upper())
