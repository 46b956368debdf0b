"""Rendering a clip's preview from its tables in hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from soccerfactory.curation.preview.render import render_preview
from soccerfactory.curation.preview.style import PreviewOptions


def test_render_preview_refuses_tables_of_another_clip_and_non_mp4(shard, tmp_path):
    _, clip, tables = shard
    other = dataclasses.replace(clip, clip_id="other-clip")
    with pytest.raises(ValueError, match="not synth-match/other-clip"):
        render_preview(other, tables, tmp_path / "a.mp4")
    with pytest.raises(ValueError, match=r"must be an \.mp4"):
        render_preview(clip, tables, tmp_path / "a.avi")
    with pytest.raises(ValueError, match="max_frames"):
        render_preview(clip, tables, tmp_path / "a.mp4", max_frames=0)
    assert list(tmp_path.iterdir()) == []


def test_strided_annotations_hold_the_last_labels(shard, tmp_path, changed, video_facts):
    _, clip, tables = shard
    keep = pa.compute.equal(pa.compute.bit_wise_and(tables["frames"].column("frame_index"), 1), 0)
    strided = {**tables, "frames": tables["frames"].filter(keep)}
    frame_rows = {name: tables[name] for name in ("athletes", "ball", "cameras")}
    for name, table in frame_rows.items():
        strided[name] = table.filter(pa.compute.equal(pa.compute.bit_wise_and(table.column("frame_index"), 1), 0))
    full = video_facts(render_preview(clip, tables, tmp_path / "full.mp4", max_frames=2))[4]
    held = video_facts(render_preview(clip, strided, tmp_path / "held.mp4", max_frames=2))[4]
    assert len(held) == 2
    # Frame 1 of the strided preview carries frame 0's boxes, so it differs from the full one.
    assert changed(full[1], held[1]).mean() > 0.001


def test_the_clips_kit_colours_reach_the_video(shard, tmp_path, video_facts):
    _, clip, tables = shard
    clips = tables["clips"]
    for name, value in (("team_a_colour", "#40e020"), ("team_b_colour", "#8020a0")):
        clips = clips.set_column(clips.schema.get_field_index(name), name, pa.array([value], pa.string()))
    options = PreviewOptions(radar="off", legend=False, trail_s=0.0)
    kit = video_facts(render_preview(clip, {**tables, "clips": clips}, tmp_path / "kit.mp4", max_frames=1, options=options))[4][0]
    plain = video_facts(render_preview(clip, tables, tmp_path / "plain.mp4", max_frames=1, options=options))[4][0]

    def lime(image):
        return (np.abs(image.astype(int) - np.array((0x20, 0xE0, 0x40))).max(axis=-1) <= 45).sum()

    assert lime(kit) > 200 and lime(plain) < lime(kit) / 10
