"""The held-out synthetic clips every quality measurement shares.

Rendered once at 720p into ``work_dir/seed-N`` (the bundled detector trained on seeds 100-109,
so the default seeds here are kept apart) and reused by the ball, tracking and calibration
measurements; their exact labels are read with
:func:`~soccerfactory.storage.groundtruth.read_ground_truth`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

__all__ = ["HELD_OUT_SEEDS", "clip_of", "held_out_clip"]

#: Renderer seeds of the held-out clips (the default detector trained on seeds 100-109).
HELD_OUT_SEEDS: tuple[int, ...] = (201, 202, 203, 204, 205)


def held_out_clip(work_dir: Path, seed: int, seconds: float, say: Callable[[str], None]) -> Path:
    """``work_dir/seed-N``: a 720p clip rendered once and reused by every later measurement."""
    from soccerfactory.curation.synth import SynthConfig, render_clip

    clip_dir = Path(work_dir) / f"seed-{seed}"
    if not (clip_dir / "clip.json").is_file():
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=1280, height=720), clip_dir)
        say(f"rendered seed {seed}")
    return clip_dir


def clip_of(clip_dir: Path):
    """The one shot of a rendered clip (``clip_dir/video.mp4``), as the ``curate`` flow would cut it."""
    from soccerfactory.curation.video.clips import split_clips
    from soccerfactory.curation.video.discover import discover_sources
    from soccerfactory.curation.video.scan import scan_video

    scan = scan_video(discover_sources(str(clip_dir / "video.mp4"))[0])
    clips = split_clips(scan, max_clip_seconds=scan.frame_count / scan.fps + 1)
    if len(clips) != 1:
        raise RuntimeError(f"{clip_dir}: expected one shot, found {len(clips)}")
    return clips[0]
