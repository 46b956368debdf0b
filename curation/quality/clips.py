"""The held-out synthetic clips every quality measurement shares.

Rendered once at 720p into ``work_dir/seed-N`` (the bundled detector trained on seeds 100-109,
so the default seeds here are kept apart) and reused by the ball, tracking and calibration
measurements; their exact labels are read with
:func:`~soccerfactory.storage.groundtruth.read_ground_truth`.

The held-out *broadcast* clips (``work_dir/broadcast-seed-N``, seeds :data:`BROADCAST_SEEDS`) add
what real broadcasts have: cuts between main, zoomed and close-up shots, off-pitch people, lens
distortion and motion blur (:data:`BROADCAST_SYNTH`). Their seeds are for reporting only: never
choose a threshold on them (develop on seeds 400-499).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

__all__ = ["BROADCAST_SEEDS", "BROADCAST_SYNTH", "HELD_OUT_SEEDS", "clip_of", "held_out_broadcast_clip", "held_out_clip"]

#: Renderer seeds of the held-out clips (the default detector trained on seeds 100-109).
HELD_OUT_SEEDS: tuple[int, ...] = (201, 202, 203, 204, 205)
#: Renderer seeds of the held-out broadcast clips: reported on, never tuned on.
BROADCAST_SEEDS: tuple[int, ...] = (301, 302, 303, 304, 305)
#: The broadcast preset (``SynthConfig`` fields beyond length, seed and size) every tool shares:
#: shots cut between main (about 2/3 of frames), zoomed and close-up views; ten off-pitch people
#: (on dev seeds 401-405, 30 s, 10-26 % of main-view person rows were theirs; issue 15 counted
#: about 10 % of real rows more than 5 m out, and these stand 2-8 m out); a mild barrel lens (k1
#: -0.05 moves a 720p corner about 6 px) and the pan blur of a 1/50 s shutter, as broadcast
#: cameras have.
BROADCAST_SYNTH: Mapping[str, object] = MappingProxyType({"shots": "broadcast", "staff": 10, "lens_distortion": -0.05, "motion_blur": True})


def held_out_clip(work_dir: Path, seed: int, seconds: float, say: Callable[[str], None]) -> Path:
    """``work_dir/seed-N``: a 720p clip rendered once and reused by every later measurement."""
    from soccerfactory.curation.synth import SynthConfig, render_clip

    clip_dir = Path(work_dir) / f"seed-{seed}"
    if not (clip_dir / "clip.json").is_file():
        render_clip(SynthConfig(seconds=seconds, seed=seed, width=1280, height=720), clip_dir)
        say(f"rendered seed {seed}")
    return clip_dir


def held_out_broadcast_clip(work_dir: Path, seed: int, seconds: float, say: Callable[[str], None]) -> Path:
    """``work_dir/broadcast-seed-N``: a 720p :data:`BROADCAST_SYNTH` clip, rendered once and reused.

    Its ``gt/cameras.parquet`` ``view`` column holds each frame's true view; ``clip.json``
    ``shots`` lists the cuts. It has several shots: split it with the ``curate`` flow's cut
    detection, not :func:`clip_of`.
    """
    from soccerfactory.curation.synth import SynthConfig, render_clip

    config = SynthConfig(seconds=seconds, seed=seed, width=1280, height=720, **BROADCAST_SYNTH)
    clip_dir = Path(work_dir) / f"broadcast-seed-{seed}"
    manifest = clip_dir / "clip.json"
    # A clip rendered with other settings (another length, an older preset) is rendered again.
    if not manifest.is_file() or json.loads(manifest.read_text()).get("config") != config.to_dict():
        render_clip(config, clip_dir)
        say(f"rendered broadcast seed {seed}")
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
