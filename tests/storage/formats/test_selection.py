"""The catalog selection every exporter starts from: names, bad conditions, one row per track and frame."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from soccerfactory.storage.formats.selection import ExportSummary, SelectedClip, athlete_rows, curated_frames, selected_clips

from .conftest import write_examples


def test_clips_are_named_by_id_and_prefixed_with_the_match_when_ids_repeat(examples):
    with selected_clips(examples, None) as (_, clips):
        assert [c.name for c in clips] == ["match-1.clip-0", "match-1.clip-1", "match-2.clip-0"]
        assert all(c.manifest_url and Path(c.manifest_url).is_file() for c in clips)
    with selected_clips(examples, "match_id = 'match-1'") as (_, clips):
        assert [c.name for c in clips] == ["clip-0", "clip-1"]  # unique within the selection: no prefix
        assert clips[1].frame_number(200) == 1 and clips[1].num_frames == 4


def test_bad_selections_name_the_input_and_what_to_do(examples, tmp_path):
    with pytest.raises(ValueError, match=r"selects no clip .*soccerfactory query"):
        with selected_clips(examples, "match_id = 'nope'"):
            pass
    with pytest.raises(ValueError, match="cannot select clips"):
        with selected_clips(examples, "no_such_column = 1"):
            pass
    with pytest.raises(FileNotFoundError, match="no catalog at"):
        with selected_clips(tmp_path / "missing.duckdb", None):
            pass


def test_athlete_rows_keep_one_row_per_track_and_frame_and_may_drop_flagged_tracks(tmp_path):
    def change(tables):
        athletes = tables["athletes"]
        rows = athletes.to_pylist()
        twin = {**rows[0], "confidence": 0.99, "x1": rows[0]["x1"] + 5, "x2": rows[0]["x2"] + 5}
        empty = {**rows[1], "track_id": 50, "x2": rows[1]["x1"]}
        flags = ["duplicate" if r["track_id"] == 2 else None for r in rows]
        athletes = athletes.set_column(athletes.schema.get_field_index("flags"), "flags", pa.array(flags, pa.string()))
        return {**tables, "athletes": pa.concat_tables([athletes, pa.Table.from_pylist([twin, empty], schema=athletes.schema)])}

    catalog = write_examples(tmp_path, change)
    with selected_clips(catalog, "match_id = 'match-2'") as (connection, (clip,)):
        skipped: Counter = Counter()
        rows = athlete_rows(connection, clip, skipped)
        assert skipped == {"repeated track in a frame": 1, "empty box": 1}
        assert len(rows) == 4 * 3
        first = [r for r in rows if r["frame_index"] == 0 and r["track_id"] == rows[0]["track_id"]]
        assert len(first) == 1 and first[0]["confidence"] == pytest.approx(0.99)  # the most confident twin
        assert [(r["frame_index"], r["track_id"]) for r in rows] == sorted((r["frame_index"], r["track_id"]) for r in rows)
        dropped: Counter = Counter()
        assert len(athlete_rows(connection, clip, dropped, drop_flagged=True)) == 4 * 2
        assert dropped["flagged track"] == 4
        assert curated_frames(connection, clip, rows) == [0, 1, 2, 3]


def test_clip_and_summary_refuse_what_cannot_be_written():
    row = {"match_id": "m", "clip_id": "c", "source_url": "v.mp4", "start_frame": 5, "stop_frame": 5, "fps": 25.0, "width": 8, "height": 8}
    with pytest.raises(ValueError, match="no frames"):
        SelectedClip("c", row)
    with pytest.raises(ValueError, match="folder name"):
        SelectedClip("a/b", {**row, "stop_frame": 6})
    with pytest.raises(ValueError, match="unknown export format"):
        ExportSummary("csv", Path("x"), 1, 1, 1)
    line = ExportSummary("mot", Path("x"), 2, 10, 30, {"empty box": 1}).line()
    assert line == "exported 2 sequence(s), 10 image(s), 30 label(s) as mot to x (left out: 1 empty box)"
