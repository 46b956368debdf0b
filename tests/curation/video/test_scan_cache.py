"""A source's scan is reused only while the file and the scan asked of it are unchanged."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.clips import SourceItem
from soccerfactory.curation.video.scan import scan_video
from soccerfactory.curation.video.scan_cache import entry_url, scan_cached


def _item(path: Path, kind: str = "video", match_id: str = "m1") -> SourceItem:
    return SourceItem(url=str(path), kind=kind, match_id=match_id, name="src")


@pytest.fixture
def video(tmp_path, two_shots) -> Path:
    """A private copy of the two-shot video (a test may rewrite it)."""
    return Path(shutil.copy(two_shots, tmp_path / "two-shots.mp4"))


def test_a_second_scan_is_reused_and_equals_a_full_scan(tmp_path, video):
    cache = str(tmp_path / "cache")
    first, reused_first = scan_cached(_item(video), cache)
    second, reused_second = scan_cached(_item(video), cache)
    assert (reused_first, reused_second) == (False, True)
    assert second == first == scan_video(_item(video))
    assert second.cuts == (50,)  # the cut between the two shots survives the round trip
    assert json.loads(Path(entry_url(cache, _item(video))).read_text())["scan"]["content_hash"] == first.content_hash


def test_a_reused_scan_takes_the_item_of_this_run(tmp_path, video):
    cache = str(tmp_path / "cache")
    scan_cached(_item(video, match_id="m1"), cache)
    again, reused = scan_cached(_item(video, match_id="other-match"), cache)
    assert reused and again.item.match_id == "other-match"


def test_a_changed_source_is_scanned_again(tmp_path, video, render_b):
    cache = str(tmp_path / "cache")
    before, _ = scan_cached(_item(video), cache)
    shutil.copyfile(render_b / "video.mp4", video)  # other footage at the same path
    after, reused = scan_cached(_item(video), cache)
    assert not reused
    assert after.content_hash != before.content_hash and after.cuts == ()
    assert scan_cached(_item(video), cache) == (after, True)  # the entry now holds the new scan


def test_a_touched_source_is_scanned_again(tmp_path, video):
    cache = str(tmp_path / "cache")
    scanned, _ = scan_cached(_item(video), cache)
    stat = video.stat()
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    again, reused = scan_cached(_item(video), cache)
    assert not reused and again == scanned  # same bytes, same result, but only after looking


def test_other_scan_parameters_scan_again(tmp_path, video):
    cache = str(tmp_path / "cache")
    scan_cached(_item(video), cache)
    assert scan_cached(_item(video), cache, cut_threshold=0.9)[1] is False
    with pytest.raises(BadInputError, match="below the minimum 1000x144"):  # a stricter size is checked, not taken from the entry
        scan_cached(_item(video), cache, min_width=1000)


def test_a_corrupt_entry_is_a_miss_and_is_rewritten(tmp_path, video):
    cache = str(tmp_path / "cache")
    scanned, _ = scan_cached(_item(video), cache)
    entry = Path(entry_url(cache, _item(video)))
    for damage in ("{not json", json.dumps({"signature": json.loads(entry.read_text())["signature"], "scan": {"fps": -1}})):
        entry.write_text(damage)
        assert scan_cached(_item(video), cache) == (scanned, False)
        assert scan_cached(_item(video), cache) == (scanned, True)


def test_bad_inputs_image_sequences_and_no_cache_dir_are_always_scanned(tmp_path, render_a):
    cache = tmp_path / "cache"
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    for _ in range(2):
        with pytest.raises(BadInputError):
            scan_cached(_item(bad), str(cache))
    sequence = _item(render_a, kind="images")
    assert [scan_cached(sequence, str(cache))[1] for _ in range(2)] == [False, False]
    assert not cache.exists() or not any(cache.iterdir())
    assert scan_cached(_item(render_a / "video.mp4"), None)[1] is False
