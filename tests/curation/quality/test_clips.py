"""The shared held-out clips: rendered once with the shared preset, reused, re-rendered when stale."""

from __future__ import annotations

import json

from soccerfactory.curation.quality.clips import BROADCAST_SEEDS, BROADCAST_SYNTH, HELD_OUT_SEEDS, held_out_broadcast_clip
from soccerfactory.curation.synth import SynthConfig


def test_broadcast_seeds_are_apart_from_every_other_seed_range():
    assert BROADCAST_SEEDS == (301, 302, 303, 304, 305)
    assert not set(BROADCAST_SEEDS) & set(HELD_OUT_SEEDS)
    assert all(not 400 <= seed <= 499 for seed in BROADCAST_SEEDS), "400-499 are for development"
    SynthConfig(**BROADCAST_SYNTH)  # the preset is a valid configuration
    assert BROADCAST_SYNTH["shots"] == "broadcast" and BROADCAST_SYNTH["staff"] > 0


def test_broadcast_clip_is_rendered_once_with_the_preset(tmp_path):
    said: list[str] = []
    # A dev seed: the held-out seeds are rendered only by the measurements that report on them.
    clip = held_out_broadcast_clip(tmp_path, 450, 0.4, said.append)
    assert clip == tmp_path / "broadcast-seed-450" and said == ["rendered broadcast seed 450"]
    config = json.loads((clip / "clip.json").read_text())["config"]
    assert (config["width"], config["height"], config["seed"]) == (1280, 720, 450)
    assert {key: config[key] for key in BROADCAST_SYNTH} == dict(BROADCAST_SYNTH)
    assert "shots" in json.loads((clip / "clip.json").read_text())
    stamp = (clip / "video.mp4").stat().st_mtime_ns
    assert held_out_broadcast_clip(tmp_path, 450, 0.4, said.append) == clip
    assert len(said) == 1 and (clip / "video.mp4").stat().st_mtime_ns == stamp, "reused, not rendered again"
    held_out_broadcast_clip(tmp_path, 450, 0.2, said.append)
    assert len(said) == 2 and json.loads((clip / "clip.json").read_text())["frames"] == 5, "another length renders again"
