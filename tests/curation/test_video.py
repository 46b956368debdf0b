"""Footage ingestion on real files: rendered broadcast clips, their image sequences and broken copies."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import re
import shutil
import uuid
from pathlib import Path

import cv2
import fsspec
import numpy as np
import pytest
import yaml

from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import write_video
from soccerfactory.curation.video import (
    BadInputError,
    ClipSpec,
    SourceItem,
    VideoScan,
    discover_each,
    discover_sources,
    local_path,
    read_frames,
    scan_video,
    semantic_frames,
    split_clips,
)

FPS = 25
FRAMES = 50  # 2 s at 25 fps


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def render_a(tmp_path_factory) -> Path:
    """2 s of 640x360 footage, seed 1, with its image sequence."""
    output = tmp_path_factory.mktemp("video-seed1")
    render_clip(SynthConfig(seconds=2.0, seed=1, width=640, height=360), output, images=True)
    return output


@pytest.fixture(scope="session")
def render_b(tmp_path_factory) -> Path:
    """2 s of 640x360 footage, seed 2: other kits, other camera position."""
    output = tmp_path_factory.mktemp("video-seed2")
    render_clip(SynthConfig(seconds=2.0, seed=2, width=640, height=360), output)
    return output


def _decode_all(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def _write_video(path: Path, frames: list[np.ndarray], fourcc: str = "mp4v") -> Path:
    return write_video(path, frames, FPS, fourcc)


@pytest.fixture(scope="session")
def frames_a(render_a) -> list[np.ndarray]:
    return _decode_all(render_a / "video.mp4")


@pytest.fixture(scope="session")
def two_shots(tmp_path_factory, frames_a, render_b) -> Path:
    """Seed 1 then seed 2: one hard cut at frame 50, between two wide shots of a green pitch."""
    folder = tmp_path_factory.mktemp("video-two-shots")
    return _write_video(folder / "two-shots.mp4", frames_a + _decode_all(render_b / "video.mp4"))


def _copy_sequence(render: Path, folder: Path, frames: int | None = None, seqinfo: str | None = None) -> Path:
    (folder / "img1").mkdir(parents=True)
    for jpg in sorted((render / "img1").glob("*.jpg"))[:frames]:
        shutil.copy(jpg, folder / "img1" / jpg.name)
    if seqinfo is not None:
        (folder / "seqinfo.ini").write_text(seqinfo)
    return folder


def _video_item(path: Path) -> SourceItem:
    (item,) = discover_sources(str(path))
    return item


# --------------------------------------------------------------------------- errors


def test_bad_input_error_is_one_line_and_survives_pickling():
    error = BadInputError("s3://bucket/match.mp4", "truncated:\n  header says 10 frames, only 3 decode")
    assert str(error) == "s3://bucket/match.mp4: truncated: header says 10 frames, only 3 decode"
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))
    assert (again.url, again.reason, str(again)) == (error.url, error.reason, str(error))


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
    _copy_sequence(render_a, lib / "SNMOT-001", seqinfo="[Sequence]\nname=SNMOT-001\nimDir=img1\nframeRate=25\n")
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


def test_discover_and_scan_memory_urls(render_a):
    data = (render_a / "video.mp4").read_bytes()
    memory = fsspec.filesystem("memory")
    base = f"video-test-{uuid.uuid4().hex}"
    memory.pipe(f"/{base}/match/game.mp4", data)
    try:
        (item,) = discover_sources(f"memory://{base}/match")
        assert item.url == f"memory://{base}/match/game.mp4"
        assert (item.kind, item.match_id) == ("video", "game")

        with local_path(item) as path:
            copy = path
            assert Path(path).read_bytes() == data
        assert not os.path.exists(copy), "the temporary copy must be removed"

        scan = scan_video(item)
        assert scan.content_hash == hashlib.sha256(data).hexdigest()
        assert scan.frame_count == FRAMES
        clip = split_clips(scan, max_clip_seconds=0.4)[1]
        (batch,) = read_frames(clip, batch_size=64)
        assert batch.frame_index.tolist() == list(range(clip.start_frame, clip.stop_frame))
    finally:
        memory.rm(f"/{base}", recursive=True)


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
    assert "does not exist" in errors[0].reason and "s3fs" in errors[2].reason


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


# --------------------------------------------------------------------------- scanning


def test_scan_rendered_clip_has_no_cuts(render_a):
    manifest = json.loads((render_a / "clip.json").read_text())
    item = _video_item(render_a / "video.mp4")
    calls = []
    scan = scan_video(item, progress=lambda done, total: calls.append((done, total)))
    assert scan.frame_count == scan.header_frame_count == manifest["frames"] == FRAMES
    assert (scan.fps, scan.width, scan.height) == (FPS, 640, 360)
    assert scan.cuts == ()
    assert scan.content_hash == manifest["files"]["video"]["sha256"]
    assert calls[-1] == (FRAMES, FRAMES) and calls[0] == (25, FRAMES)


def test_scan_finds_the_cut_between_two_renders(two_shots):
    scan = scan_video(_video_item(two_shots))
    assert scan.frame_count == 2 * FRAMES
    assert len(scan.cuts) == 1 and abs(scan.cuts[0] - FRAMES) <= 1


def _camera_moves(image: np.ndarray) -> list[np.ndarray]:
    """One continuous shot of a still frame: a fast pan, then a fast zoom out, and a flash."""
    big = cv2.resize(image, (1280, 720))
    frames = [big[100:460, 24 * i : 24 * i + 640].copy() for i in range(20)]  # 24 px a frame
    cx, cy = 24 * 19 + 320, 280
    for scale in np.linspace(1.0, 1.9, 20)[1:]:  # 3.4 % a frame, around where the pan stopped
        w, h = int(640 * scale), int(360 * scale)
        x, y = min(max(cx - w // 2, 0), 1280 - w), min(max(cy - h // 2, 0), 720 - h)
        frames.append(cv2.resize(big[y : y + h, x : x + w], (640, 360), interpolation=cv2.INTER_AREA))
    frames[10] = cv2.convertScaleAbs(frames[10], alpha=1.0, beta=120)  # a photographer's flash
    return frames


def test_scan_ignores_pans_zooms_and_flashes(tmp_path, frames_a, render_b):
    moving = _camera_moves(frames_a[0])
    scan = scan_video(_video_item(_write_video(tmp_path / "moving.mp4", moving)))
    assert scan.frame_count == len(moving) == 39
    assert scan.cuts == ()
    # Spliced between two renders: a cut to a 2x closer view of the pitch, and one away from it.
    frames_b = _decode_all(render_b / "video.mp4")
    spliced = _write_video(tmp_path / "spliced.mp4", frames_a[:20] + moving + frames_b[:20])
    assert scan_video(_video_item(spliced)).cuts == (20, 59)


def test_scan_image_sequence(tmp_path, render_a, frames_a):
    seq = _copy_sequence(render_a, tmp_path / "SNMOT-7", seqinfo="[Sequence]\nframeRate=30\nseqLength=50\nimDir=img1\n")
    (item,) = discover_sources(seq)
    assert (item.kind, item.name) == ("images", "SNMOT-7")
    scan = scan_video(item)
    assert (scan.fps, scan.frame_count, scan.header_frame_count) == (30.0, FRAMES, FRAMES)
    assert (scan.width, scan.height, scan.cuts) == (640, 360, ())

    # Without seqinfo.ini: 25 fps, no header; the hash follows the content, not the folder.
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(seq / "img1", moved / "img1")
    plain = scan_video(discover_sources(moved)[0])
    assert (plain.fps, plain.header_frame_count, plain.content_hash) == (25.0, None, scan.content_hash)
    (moved / "img1" / "000050.jpg").unlink()
    assert scan_video(discover_sources(moved)[0]).content_hash != scan.content_hash


def _cut(data: bytes, fraction: float | None = None, tail: int | None = None) -> bytes:
    return data[: int(len(data) * fraction)] if fraction is not None else data[:-tail]


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.mp4", lambda mp4, avi: b"", r"empty file \(0 bytes\)$"),
        ("notes.mp4", lambda mp4, avi: b"kick-off 15:00\n" * 40, r"^not a video: it is a text file with a video extension"),
        # Shorter than one MP4 box header: once diagnosed as "truncated", it is text.
        ("hi.mp4", lambda mp4, avi: b"hello\n", r"^not a video: it is a text file"),
        ("tiny.mp4", lambda mp4, avi: b"\x00\x01", r"^not a video OpenCV can decode \(is it really an MP4\?\)$"),
        ("frame.mp4", lambda mp4, avi: cv2.imencode(".png", np.zeros((360, 640, 3), np.uint8))[1].tobytes(),
         r"^not a video: it is a PNG image with a video extension \(renamed\?\)"),
        ("cut-60pc.mp4", lambda mp4, avi: _cut(mp4, fraction=0.6), r"truncated: .*'mdat'.*'moov' index .* missing"),
        ("cut-4kb.mp4", lambda mp4, avi: _cut(mp4, tail=4096), r"truncated: .*'moov' index"),
        ("cut-100b.mp4", lambda mp4, avi: _cut(mp4, tail=100), r"truncated: .*inside its 'moov' box"),
        ("cut-60pc.avi", lambda mp4, avi: _cut(avi, fraction=0.6), r"truncated: header says 50 frames, only \d+ decode$"),
    ],
)
def test_scan_rejects_bad_videos(tmp_path, render_a, frames_a, name, make, reason):
    mp4 = (render_a / "video.mp4").read_bytes()
    avi = _write_video(tmp_path / "good.avi", frames_a, "MJPG").read_bytes()
    path = tmp_path / "bad" / name
    path.parent.mkdir()
    path.write_bytes(make(mp4, avi))
    item = _video_item(path)
    with pytest.raises(BadInputError) as caught:
        scan_video(item)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    assert re.search(reason, caught.value.reason), message
    assert caught.value.url == item.url


def _tiny_sequence(folder: Path, sizes: list[tuple[int, int]]) -> None:
    (folder / "img1").mkdir(parents=True)
    for i, (w, h) in enumerate(sizes):
        cv2.imwrite(str(folder / "img1" / f"{i + 1:06d}.png"), np.full((h, w, 3), 40 * i, np.uint8))


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda f: (f / "img1" / "000003.png").write_text("not a png"),
            "frame 000003.png is not an image OpenCV can decode",
        ),
        (lambda f: (f / "img1" / "000004.png").write_bytes(b""), "frame 000004.png is an empty file (0 bytes)"),
        (
            lambda f: (f / "img1" / "000003.png").unlink(),
            "frames are not evenly numbered: 000002.png is followed by 000004.png",
        ),
        (
            lambda f: cv2.imwrite(str(f / "img1" / "000002.png"), np.zeros((24, 32, 3), np.uint8)),
            "inconsistent frame size: frame 000002.png, index 1 is 32x24 but earlier frames are 64x48",
        ),
        (
            lambda f: (f / "seqinfo.ini").write_text("[Sequence]\nseqLength=10\n"),
            "truncated: seqinfo.ini says 10 frames, only 5 found",
        ),
        (
            lambda f: (f / "seqinfo.ini").write_text("[Sequence]\nframeRate=fast\n"),
            "seqinfo.ini has frameRate='fast', which is not a number",
        ),
    ],
)
def test_scan_rejects_bad_image_sequences(tmp_path, setup, reason):
    folder = tmp_path / "seq-1"
    _tiny_sequence(folder, [(64, 48)] * 5)
    setup(folder)
    with pytest.raises(BadInputError) as caught:  # tiny frames allowed: these faults are others
        scan_video(discover_sources(folder)[0], min_width=1, min_height=1)
    assert caught.value.url == str(folder)
    assert reason in str(caught.value)


@pytest.mark.parametrize(("width", "height", "fourcc", "ext"), [(1, 1, "MJPG", ".avi"), (2, 2, "mp4v", ".mp4"), (16, 16, "mp4v", ".mp4"), (320, 120, "mp4v", ".mp4")])
def test_scan_refuses_frames_below_the_minimum_size(tmp_path, width, height, fourcc, ext):
    frames = [np.full((height, width, 3), 10 * i, np.uint8) for i in range(10)]
    path = _write_video(tmp_path / f"small{ext}", frames, fourcc)
    with pytest.raises(BadInputError) as caught:
        scan_video(_video_item(path))
    assert str(caught.value) == (
        f"{path}: frames are {width}x{height}, below the minimum 256x144 (clips.min_width / clips.min_height; "
        "lower them with --set clips.min_width=... if this footage is wanted)"
    )
    # Lowered on purpose, the same file scans (1x1 MJPG included: no OpenCV assertion).
    assert scan_video(_video_item(path), min_width=1, min_height=1).width == width


def test_scan_refuses_a_sequence_of_small_frames(tmp_path):
    _tiny_sequence(tmp_path / "seq", [(64, 48)] * 3)
    with pytest.raises(BadInputError, match=r"frames are 64x48, below the minimum 256x144") as caught:
        scan_video(discover_sources(tmp_path / "seq")[0])
    assert caught.value.url == str(tmp_path / "seq")


# --------------------------------------------------------------------------- clips


def _scan(cuts: tuple[int, ...], frame_count: int = 2000, source_hash: str = "a" * 64) -> VideoScan:
    item = SourceItem(url="/footage/m.mp4", kind="video", match_id="final", name="m")
    return VideoScan(item, FPS, frame_count, 1280, 720, source_hash, cuts, frame_count)


def test_split_clips_caps_shots_and_covers_every_kept_frame_once():
    scan = _scan((5, 900, 904, 1700))
    clips = split_clips(scan, max_clip_seconds=30.0, min_clip_frames=8)
    assert [(c.start_frame, c.stop_frame) for c in clips] == [(5, 452), (452, 900), (904, 1302), (1302, 1700), (1700, 2000)]
    covered = np.zeros(scan.frame_count, int)
    for clip in clips:
        covered[clip.start_frame : clip.stop_frame] += 1
        assert clip.num_frames <= 30 * FPS
        assert not any(clip.start_frame < cut < clip.stop_frame for cut in scan.cuts)
        assert (clip.match_id, clip.url, clip.kind) == ("final", "/footage/m.mp4", "video")
        assert (clip.width, clip.height, clip.fps) == (1280, 720, FPS)
    dropped = np.r_[0:5, 900:904]  # shots shorter than min_clip_frames
    assert (covered[dropped] == 0).all()
    assert (np.delete(covered, dropped) == 1).all()


def test_split_clips_ids_and_hashes_are_stable_keys():
    clips = split_clips(_scan((5, 900)))
    assert clips == split_clips(_scan((5, 900)))
    assert clips[0].clip_id == "m-000005-000452"
    assert clips[0].content_hash == hashlib.sha256(f"{'a' * 64}:5:452".encode()).hexdigest()
    assert len({c.content_hash for c in clips}) == len(clips)
    # Any change of range or of source bytes is a new key.
    moved = split_clips(_scan((6, 900)))[0]
    assert (moved.clip_id, moved.start_frame) == ("m-000006-000453", 6) and moved.content_hash != clips[0].content_hash
    other_bytes = split_clips(_scan((5, 900), source_hash="b" * 64))[0]
    assert other_bytes.clip_id == clips[0].clip_id and other_bytes.content_hash != clips[0].content_hash
    with pytest.raises(ValueError, match="content_hash does not match"):
        dataclasses.replace(clips[0], stop_frame=451)
    with pytest.raises(ValueError, match="stop_frame"):
        dataclasses.replace(clips[0], stop_frame=5)


def test_split_clips_edge_cases():
    assert split_clips(_scan((), frame_count=7)) == []
    (whole,) = split_clips(_scan((), frame_count=7), min_clip_frames=1)
    assert (whole.start_frame, whole.stop_frame) == (0, 7)
    lengths = [c.num_frames for c in split_clips(_scan((), frame_count=1001), max_clip_seconds=4.0)]
    assert sum(lengths) == 1001 and max(lengths) <= 100 and max(lengths) - min(lengths) <= 1
    with pytest.raises(ValueError, match="max_clip_seconds"):
        split_clips(_scan(()), max_clip_seconds=0)
    with pytest.raises(ValueError, match="cuts must be strictly increasing"):
        _scan((900, 5))


def test_split_clips_follow_detected_cuts(two_shots):
    scan = scan_video(_video_item(two_shots))
    clips = split_clips(scan, max_clip_seconds=0.8)
    assert clips[0].start_frame == 0 and clips[-1].stop_frame == 2 * FRAMES
    assert all(a.stop_frame == b.start_frame for a, b in zip(clips, clips[1:]))
    assert scan.cuts[0] in {c.start_frame for c in clips}
    assert all(c.num_frames <= 20 for c in clips)


def test_semantic_frames():
    clip = split_clips(_scan((5, 900)))[0]  # frames 5..451
    assert semantic_frames(clip).tolist() == list(range(5, 452, 25))
    assert semantic_frames(clip, rate_hz=2.0).tolist()[:4] == [5, 18, 30, 43]
    assert semantic_frames(clip, rate_hz=100.0).tolist() == list(range(5, 452))
    assert semantic_frames(clip).dtype == np.int64
    with pytest.raises(ValueError, match="rate_hz"):
        semantic_frames(clip, rate_hz=0.0)


# --------------------------------------------------------------------------- reading


def _middle_clip(scan: VideoScan, start: int, stop: int) -> ClipSpec:
    clips = split_clips(dataclasses.replace(scan, cuts=(start, stop)), min_clip_frames=1)
    (clip,) = [c for c in clips if c.start_frame == start]
    assert clip.stop_frame == stop
    return clip


@pytest.fixture(scope="session")
def scan_a(render_a) -> VideoScan:
    return scan_video(_video_item(render_a / "video.mp4"))


@pytest.mark.parametrize(("batch_size", "stride"), [(5, 1), (4, 3)])
def test_read_frames_streams_source_frames(scan_a, frames_a, batch_size, stride):
    clip = _middle_clip(scan_a, 10, 47)
    batches = list(read_frames(clip, batch_size=batch_size, stride=stride))
    assert all(len(b) == batch_size for b in batches[:-1]) and 1 <= len(batches[-1]) <= batch_size
    index = np.concatenate([b.frame_index for b in batches])
    assert index.tolist() == list(range(10, 47, stride))
    timestamps = np.concatenate([b.timestamp_s for b in batches])
    np.testing.assert_allclose(timestamps, index / FPS)
    images = np.concatenate([b.images for b in batches])
    assert images.shape == (len(index), 360, 640, 3) and images.dtype == np.uint8
    for image, i in zip(images, index):
        np.testing.assert_array_equal(image, frames_a[i])
    assert {b.source for b in batches} == {clip.url} and {b.fps for b in batches} == {FPS}


def test_read_frames_of_an_image_sequence_are_the_jpgs(render_a):
    item = SourceItem(url=str(render_a), kind="images", match_id="s1", name="s1")
    clip = _middle_clip(scan_video(item), 3, 20)
    batches = list(read_frames(clip, batch_size=4, stride=2))
    index = np.concatenate([b.frame_index for b in batches])
    assert index.tolist() == list(range(3, 20, 2))
    images = np.concatenate([b.images for b in batches])
    for image, i in zip(images, index):
        np.testing.assert_array_equal(image, cv2.imread(str(render_a / "img1" / f"{i + 1:06d}.jpg")))


def test_read_frames_names_the_frame_where_decoding_stops(tmp_path, frames_a):
    path = _write_video(tmp_path / "match.avi", frames_a, "MJPG")
    clip = split_clips(scan_video(_video_item(path)), max_clip_seconds=1.0)[1]  # frames 25..49
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])  # the file changed after the scan
    with pytest.raises(BadInputError, match=r"decoding failed at frame \d+ \(clip match-000025-000050") as caught:
        for _ in read_frames(clip):
            pass
    assert caught.value.url == str(path)
    with pytest.raises(ValueError, match="batch_size"):
        read_frames(clip, batch_size=0)


def test_clip_head_is_a_valid_shorter_clip(tmp_path):
    from soccerfactory.curation.synth import SynthConfig, render_clip

    render_clip(SynthConfig(seconds=1.0, seed=2, width=320, height=180), tmp_path)
    (clip,) = split_clips(scan_video(discover_sources(str(tmp_path / "video.mp4"))[0]))
    head = clip.head(10)
    assert (head.start_frame, head.stop_frame) == (clip.start_frame, clip.start_frame + 10)
    assert head.content_hash != clip.content_hash  # another clip, another cache key
    assert clip.head(10_000) == clip
    assert sum(len(batch) for batch in read_frames(head, batch_size=4)) == 10
