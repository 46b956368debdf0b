"""Camera cuts found by the scan: a hard cut between two renders, none in pans, zooms and flashes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from soccerfactory.curation.testing import decode_frames, source_item, write_video
from soccerfactory.curation.video.scan import scan_video

FRAMES = 50  # 2 s at 25 fps


# --------------------------------------------------------------------------- cuts


def test_scan_finds_the_cut_between_two_renders(two_shots):
    scan = scan_video(source_item(two_shots))
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
    scan = scan_video(source_item(write_video(tmp_path / "moving.mp4", moving)))
    assert scan.frame_count == len(moving) == 39
    assert scan.cuts == ()
    # Spliced between two renders: a cut to a 2x closer view of the pitch, and one away from it.
    frames_b = decode_frames(render_b / "video.mp4")
    spliced = write_video(tmp_path / "spliced.mp4", frames_a[:20] + moving + frames_b[:20])
    assert scan_video(source_item(spliced)).cuts == (20, 59)
