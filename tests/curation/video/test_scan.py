"""Scanning real files: rendered clips, their image sequences and broken or too small copies."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from soccerfactory.curation.testing import copy_image_sequence, source_item, write_video
from soccerfactory.curation.video.checks import BadInputError
from soccerfactory.curation.video.discover import discover_sources
from soccerfactory.curation.video.scan import scan_video

FPS = 25
FRAMES = 50  # 2 s at 25 fps


# --------------------------------------------------------------------------- scanning


def test_scan_rendered_clip_has_no_cuts(render_a):
    manifest = json.loads((render_a / "clip.json").read_text())
    item = source_item(render_a / "video.mp4")
    calls = []
    scan = scan_video(item, progress=lambda done, total: calls.append((done, total)))
    assert scan.frame_count == scan.header_frame_count == manifest["frames"] == FRAMES
    assert (scan.fps, scan.width, scan.height) == (FPS, 640, 360)
    assert scan.cuts == ()
    assert scan.content_hash == manifest["files"]["video"]["sha256"]
    assert calls[-1] == (FRAMES, FRAMES) and calls[0] == (25, FRAMES)


def test_scan_image_sequence(tmp_path, render_a, frames_a):
    seq = copy_image_sequence(render_a, tmp_path / "SNMOT-7", seqinfo="[Sequence]\nframeRate=30\nseqLength=50\nimDir=img1\n")
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
    avi = write_video(tmp_path / "good.avi", frames_a, FPS, "MJPG").read_bytes()
    path = tmp_path / "bad" / name
    path.parent.mkdir()
    path.write_bytes(make(mp4, avi))
    item = source_item(path)
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
    path = write_video(tmp_path / f"small{ext}", frames, FPS, fourcc)
    with pytest.raises(BadInputError) as caught:
        scan_video(source_item(path))
    assert str(caught.value) == (
        f"{path}: frames are {width}x{height}, below the minimum 256x144 (clips.min_width / clips.min_height; "
        "lower them with --set clips.min_width=... if this footage is wanted)"
    )
    # Lowered on purpose, the same file scans (1x1 MJPG included: no OpenCV assertion).
    assert scan_video(source_item(path), min_width=1, min_height=1).width == width


def test_scan_refuses_a_sequence_of_small_frames(tmp_path):
    _tiny_sequence(tmp_path / "seq", [(64, 48)] * 3)
    with pytest.raises(BadInputError, match=r"frames are 64x48, below the minimum 256x144") as caught:
        scan_video(discover_sources(tmp_path / "seq")[0])
    assert caught.value.url == str(tmp_path / "seq")
