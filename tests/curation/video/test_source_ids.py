"""Source ids: derived from the path below the root given, readable, short, stable."""

from __future__ import annotations

import hashlib
import re

from soccerfactory.curation.video.source_ids import MAX_ID_CHARS, claim_ids, collision_reason, relative_source_path, source_id


def test_ids_join_sanitised_parts_and_drop_the_video_extension():
    assert source_id("england_epl/2014-2015/2015-02-21 - 18-00 Chelsea 1 - 1 Burnley/1_720p.mkv", is_video_file=True) == (
        "england_epl.2014-2015.2015-02-21-18-00-Chelsea-1-1-Burnley.1_720p"
    )
    assert source_id("video.mp4", is_video_file=True) == "video"
    assert source_id("train/SNMOT-060", is_video_file=False) == "train.SNMOT-060"
    assert source_id("clips/v1.5", is_video_file=False) == "clips.v1.5"  # a folder keeps its "extension"
    assert source_id("★/..hidden.mp4", is_video_file=True) == "_.hidden"
    # Windows separators and macOS's decomposed accents give the ids Linux gives.
    assert source_id("Copa\\Me\u0301xico/1.mp4", is_video_file=True) == source_id("Copa/M\u00e9xico/1.mp4", is_video_file=True)


def test_long_ids_keep_their_readable_tail_behind_a_hash():
    rel = "competitions/" + "a-very-long-league-name-" * 4 + "/2014-2015/2015-02-21 - 18-00 Chelsea 1 - 1 Burnley/1_720p.mkv"
    short = source_id(rel, is_video_file=True)
    digest = hashlib.sha256(rel.encode()).hexdigest()[:10]
    assert short == f"{digest}.2014-2015.2015-02-21-18-00-Chelsea-1-1-Burnley.1_720p"
    assert len(short) <= MAX_ID_CHARS and re.fullmatch(r"[A-Za-z0-9._-]+", short)
    one_long_name = source_id("x/" + "b" * 200 + ".mp4", is_video_file=True)
    assert len(one_long_name) == MAX_ID_CHARS and one_long_name.endswith("b" * 69)
    # Two long paths differing only in their head keep distinct ids.
    assert source_id("z" + rel, is_video_file=True) != short


def test_relative_path_of_a_root_that_is_the_source_itself():
    assert relative_source_path("/data/SoccerNet", "/data/SoccerNet/league/game/1_720p.mkv") == "league/game/1_720p.mkv"
    assert relative_source_path("/data/match.mp4", "/data/match.mp4") == "match.mp4"
    assert relative_source_path("/data/SNMOT-001/img1", "/data/SNMOT-001") == "SNMOT-001"  # img1 given: the sequence
    assert relative_source_path("/bucket/footage/", "/bucket/footage/half.mp4") == "half.mp4"


def test_claim_ids_refuses_the_second_source_of_an_id_case_insensitively():
    claimed = claim_ids([("/a/Video.mp4", "Video.mp4", True), ("/b/video.mkv", "video.mkv", True), ("/c/x.mp4", "x.mp4", True)])
    assert [name for name, _ in claimed] == ["Video", "video", "x"]
    assert claimed[0][1] is None and claimed[2][1] is None
    assert claimed[1][1].startswith("its id 'video' is also the id of /a/Video.mp4 in this run; ")


def test_collision_reasons_name_both_sources_and_what_to_do():
    other = collision_reason("video-000000-000015", "/runs/2/video.mp4", "/runs/1/video.mp4", "/out/shards/m/c/manifest.json")
    assert "already taken by /runs/1/video.mp4" in other and "common parent folder" in other and "\n" not in other
    same = collision_reason("video", "/runs/1/video.mp4", "/runs/1/video.mp4", "/out/shards/m/c/manifest.json")
    assert "this path's earlier, different content" in same and "delete its old shards" in same
