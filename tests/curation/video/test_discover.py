"""Discovery on real folders: rendered broadcast clips, their image sequences, manifests and junk."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.clips import SourceItem
from soccerfactory.curation.video.discover import discover_each, discover_sources
from soccerfactory.curation.testing import copy_image_sequence


# --------------------------------------------------------------------------- discovery


@pytest.fixture
def library(tmp_path, render_a, render_b) -> Path:
    """A footage folder as people make them: odd names, nesting, sequences, junk."""
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(render_a / "video.mp4", lib / "kick off.mp4")
    shutil.copy(render_b / "video.mp4", lib / "second.MP4")
    (lib / "round 2" / "semi").mkdir(parents=True)
    shutil.copy(render_b / "video.mp4", lib / "round 2" / "semi" / "final.mov")
    copy_image_sequence(render_a, lib / "SNMOT-001", seqinfo="[Sequence]\nname=SNMOT-001\nimDir=img1\nframeRate=25\n")
    (lib / "frames").mkdir()
    for jpg in sorted((render_a / "img1").glob("*.jpg"))[:5]:
        shutil.copy(jpg, lib / "frames" / jpg.name)
    # Not footage: notes, a macOS resource fork, a hidden cache, a lone numbered poster.
    (lib / "notes.txt").write_text("kick-off at 15:00")
    (lib / "._kick off.mp4").write_bytes(b"\x00\x05\x16\x07")
    (lib / ".cache").mkdir()
    shutil.copy(render_a / "video.mp4", lib / ".cache" / "copy.mp4")
    (lib / "poster").mkdir()
    shutil.copy(render_a / "img1" / "000001.jpg", lib / "poster" / "cover1.jpg")
    return lib


def _summary(items: list[SourceItem], root: Path) -> list[tuple[str, str, str, str]]:
    return [(os.path.relpath(i.url, root), i.kind, i.name, i.match_id) for i in items]


def test_discover_folder_finds_videos_and_image_sequences(library):
    items = discover_sources(str(library))
    assert _summary(items, library) == [
        ("SNMOT-001", "images", "SNMOT-001", "SNMOT-001"),
        ("frames", "images", "frames", "frames"),
        ("kick off.mp4", "video", "kick-off", "kick-off"),
        ("round 2/semi/final.mov", "video", "round-2.semi.final", "round-2.semi.final"),
        ("second.MP4", "video", "second", "second"),
    ]
    assert [i.url for i in items] == sorted(i.url for i in items)
    assert all(os.path.isabs(i.url) for i in items)
    # The img1 folder itself stands for its sequence.
    assert discover_sources(library / "SNMOT-001" / "img1") == discover_sources(library / "SNMOT-001")


def test_discover_list_is_a_deduplicated_union(library, render_b):
    items = discover_sources(
        [str(library), str(library / "kick off.mp4"), "file://" + str(library / "second.MP4"), str(render_b)]
    )
    urls = [i.url for i in items]
    assert len(urls) == len(set(urls)) == 6
    assert str(render_b / "video.mp4") in urls
    assert {i.url for i in discover_sources(library)} < set(urls)


def test_discover_ids_are_paths_below_the_root_given(tmp_path, render_a):
    tree = tmp_path / "SoccerNet"
    rels = ["england_epl/2014-2015/2015-02-21 - 18-00 Chelsea 1 - 1 Burnley/1_720p.mkv",
            "england_epl/2014-2015/2015-02-21 - 18-00 Chelsea 1 - 1 Burnley/2_720p.mkv",
            "england_epl/2014-2015/2015-04-11 - 19-30 Burnley 0 - 1 Arsenal/1_720p.mkv",
            "a/video.mp4", "b/video.mp4", "p/same/video.mp4", "q/same/video.mp4"]
    for rel in rels:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(render_a / "video.mp4", tree / rel)
    names = {os.path.relpath(i.url, tree): i.name for i in discover_sources(tree)}
    assert names == {
        rels[0]: "england_epl.2014-2015.2015-02-21-18-00-Chelsea-1-1-Burnley.1_720p",
        rels[1]: "england_epl.2014-2015.2015-02-21-18-00-Chelsea-1-1-Burnley.2_720p",
        rels[2]: "england_epl.2014-2015.2015-04-11-19-30-Burnley-0-1-Arsenal.1_720p",
        "a/video.mp4": "a.video", "b/video.mp4": "b.video",
        "p/same/video.mp4": "p.same.video", "q/same/video.mp4": "q.same.video",
    }
    # Stable: the same tree elsewhere (another machine) gives the same ids; a file given
    # directly is its stem; a file found under two roots given takes the highest root's id.
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tree, moved)
    assert sorted(i.name for i in discover_sources(moved)) == sorted(names.values())
    assert [i.name for i in discover_sources(tree / rels[0])] == ["1_720p"]
    both = discover_sources([str(tree / rels[0]), str(tree / "england_epl")])
    assert {i.name for i in both if i.url == str(tree / rels[0])} == {"2014-2015.2015-02-21-18-00-Chelsea-1-1-Burnley.1_720p"}


def test_discover_refuses_a_second_source_with_the_same_id(tmp_path, render_a):
    for rel in ("Game #1.mp4", "Game 1.mp4", "x/video.mp4", "y/video.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(render_a / "video.mp4", tmp_path / rel)
    # Ids are never renumbered (that would change them when files are added): the second of two
    # sources deriving one id is refused, naming the first; the other sources are found.
    items, errors = discover_each([str(tmp_path / "Game #1.mp4"), str(tmp_path / "Game 1.mp4"), str(tmp_path / "x" / "video.mp4"),
                                   str(tmp_path / "y" / "video.mp4")])
    assert [(os.path.relpath(i.url, tmp_path), i.name, i.match_id) for i in items] == [
        ("Game #1.mp4", "Game-1", "Game-1"), ("x/video.mp4", "video", "video")
    ]
    assert [(e.url, e.reason.split(";")[0]) for e in errors] == [
        (str(tmp_path / "Game 1.mp4"), f"its id 'Game-1' is also the id of {tmp_path / 'Game #1.mp4'} in this run"),
        (str(tmp_path / "y" / "video.mp4"), f"its id 'video' is also the id of {tmp_path / 'x' / 'video.mp4'} in this run"),
    ]
    assert all("common parent folder" in e.reason and "\n" not in str(e) for e in errors)
    with pytest.raises(BadInputError, match="is also the id of"):
        discover_sources(tmp_path)  # "Game #1" and "Game 1" sanitise alike


def test_discover_each_fails_each_bad_source_alone(tmp_path, render_a):
    good = tmp_path / "good.mp4"
    shutil.copy(render_a / "video.mp4", good)
    missing = str(tmp_path / "nonexistent.mp4")
    items, errors = discover_each([str(good), missing, "memory://nothing-here", "s3://nope/x.mp4", str(good)])
    assert [i.url for i in items] == [str(good)]
    assert [e.url for e in errors] == [missing, "memory://nothing-here", "s3://nope/x.mp4"]
    # s3fs with no credentials: "does not exist" or "cannot read this URL (NoCredentialsError...)"
    # depending on the s3fs/aiobotocore versions; either way one line naming the URL.
    assert "does not exist" in errors[0].reason and errors[2].reason.startswith(("does not exist", "cannot "))


@pytest.mark.parametrize("manifest", ["soccerfactory-sources.json", "soccerfactory-sources.yaml"])
def test_discover_manifest_groups_sources_into_matches(tmp_path, render_a, manifest):
    for name in ("first half.mp4", "second half.mp4", "final.mp4"):
        shutil.copy(render_a / "video.mp4", tmp_path / name)
    mapping = {"first half.mp4": "final", "./second half.mp4": "final"}
    text = json.dumps(mapping) if manifest.endswith(".json") else yaml.safe_dump(mapping)
    (tmp_path / manifest).write_text(text)
    items = {os.path.basename(i.url): i for i in discover_sources(tmp_path)}
    assert items["first half.mp4"].match_id == items["second half.mp4"].match_id == "final"
    assert items["first half.mp4"].name == "first-half" and items["second half.mp4"].name == "second-half"
    # Not listed: keeps its own match, which must not merge into the manifest's "final".
    assert items["final.mp4"].name == "final" and items["final.mp4"].match_id == "final-2"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"missing.mp4": "m1"}', "lists 'missing.mp4', which is not a video or image sequence"),
        ('{"game.mp4": "bad id!"}', "match id 'bad id!' for 'game.mp4' may only use"),
        ('["game.mp4"]', "must map relative paths to match ids"),
        ('{"game.mp4": ', "cannot parse it"),
    ],
)
def test_discover_rejects_bad_manifests(tmp_path, render_a, content, reason):
    shutil.copy(render_a / "video.mp4", tmp_path / "game.mp4")
    (tmp_path / "soccerfactory-sources.json").write_text(content)
    with pytest.raises(BadInputError, match=re.escape(reason)) as caught:
        discover_sources(tmp_path)
    assert caught.value.url.endswith("soccerfactory-sources.json")


def test_discover_missing_path(tmp_path):
    missing = tmp_path / "no-such-match.mp4"
    with pytest.raises(BadInputError, match="does not exist") as caught:
        discover_sources(str(missing))
    assert str(caught.value).startswith(f"{missing}: ")


def test_discover_empty_folder_and_non_video_file(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to see")
    with pytest.raises(BadInputError, match="no videos or image sequences found") as caught:
        discover_sources(tmp_path)
    assert caught.value.url == str(tmp_path)
    with pytest.raises(BadInputError, match="is not a video file"):
        discover_sources(tmp_path / "notes.txt")
    with pytest.raises(BadInputError, match="no sources given"):
        discover_sources([])
