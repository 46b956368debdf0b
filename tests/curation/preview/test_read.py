"""Finding a curated clip's shard and rendering its preview; the clip rebuilt from the shard."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from soccerfactory.curation.layout import clip_from_manifest
from soccerfactory.curation.preview.read import find_clip_manifest, preview_clip
from soccerfactory.curation.preview.style import PreviewOptions
from soccerfactory.curation.video.decode import read_frames
from soccerfactory.storage.shards import find_manifest, read_shard, write_shard

MATCH = "synth-match"


def test_preview_clip_writes_every_frame_at_the_clip_size(shard, tmp_path, changed, video_facts):
    root, clip, _ = shard
    seen = []
    path = preview_clip(root, MATCH, clip.clip_id, tmp_path / "out" / "preview.mp4", progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / "out" / "preview.mp4"
    count, width, height, fps, images = video_facts(path)
    assert (count, width, height) == (clip.num_frames, clip.width, clip.height)
    assert fps == pytest.approx(clip.fps, abs=0.01)
    assert seen[-1] == (clip.num_frames, clip.num_frames)
    assert [p.name for p in path.parent.iterdir()] == ["preview.mp4"], "no temporary file is left behind"
    # The drawing survives encoding: the first preview frame differs from the footage where a box is.
    source = next(read_frames(clip, batch_size=1)).images[0]
    assert changed(images[0], source).mean() > 0.01


def test_max_frames_and_search_without_match(shard, tmp_path, video_facts):
    root, clip, _ = shard
    path = preview_clip(root, None, clip.clip_id, tmp_path / "short.mp4", max_frames=5, options=PreviewOptions(radar="off"))
    assert video_facts(path)[:3] == (5, clip.width, clip.height)


def test_missing_clip_names_it_and_lists_what_exists(shard):
    root, clip, _ = shard
    with pytest.raises(FileNotFoundError, match=r"no shard of match 'synth-match' clip 'nope'") as error:
        preview_clip(root, MATCH, "nope", root / "x.mp4")
    assert clip.clip_id in str(error.value)
    with pytest.raises(FileNotFoundError, match=r"no shard of clip 'nope'"):
        find_clip_manifest(root, "nope")
    assert not (root / "x.mp4").exists()


def test_ambiguous_clip_id_lists_its_matches(shard, tmp_path):
    root, clip, tables = shard
    other = tmp_path / "root"
    for match in ("m1", "m2"):
        renamed = {
            name: table.set_column(table.schema.get_field_index("match_id"), "match_id", pa.array([match] * table.num_rows))
            for name, table in tables.items()
        }
        write_shard(other, match, clip.clip_id, "ab" * 32, renamed, config_hash="test", code_version="test", metadata={})
    with pytest.raises(ValueError, match=r"in 2 matches \(m1, m2\)"):
        find_clip_manifest(other, clip.clip_id)


def test_clip_is_rebuilt_from_metadata_or_the_clips_row(shard):
    root, clip, tables = shard
    manifest = find_manifest(root, MATCH, clip.clip_id)
    assert clip_from_manifest(manifest, tables["clips"]) == clip
    bare = dataclasses.replace(manifest, metadata={})
    rebuilt = clip_from_manifest(bare, read_shard(bare, ["clips"])["clips"])
    assert (rebuilt.url, rebuilt.kind, rebuilt.start_frame, rebuilt.stop_frame, rebuilt.width, rebuilt.height) == (
        clip.url, "video", clip.start_frame, clip.stop_frame, clip.width, clip.height,
    )
    with pytest.raises(ValueError, match="neither metadata.clip nor a clips row"):
        clip_from_manifest(bare, None)
