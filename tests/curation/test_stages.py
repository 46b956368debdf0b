"""The stage builder: the stage chain a config runs, its weights checked before any model loads,
and the source a shard's ``code_version`` hashes."""

from __future__ import annotations

import pytest

from soccerfactory.curation.config import CurateConfig, load_config
from soccerfactory.curation.stages import UNHASHED, check_config, code_version, shard_sources, stage_names


def test_missing_weights_are_caught_before_any_model_loads(tmp_path):
    config = load_config(overrides=[f"detect.weights={tmp_path / 'gone.pt'}"])
    with pytest.raises(FileNotFoundError, match=r"detect\.weights \(detector\) not found: .*gone\.pt"):
        check_config(config)


def test_stage_chain_follows_the_switches():
    assert stage_names(CurateConfig()) == ["decode", "detect", "track", "calibrate", "refine", "attribute", "vote", "write"]
    assert "calibrate" not in stage_names(load_config(overrides=["calibrate.enabled=false"]))


def test_keypoint_calibration_without_weights_says_how_to_train_them(tmp_path):
    config = load_config(overrides=["calibrate.backend=yolo-pose", f"calibrate.weights={tmp_path / 'kp.pt'}"])
    with pytest.raises(FileNotFoundError, match=r"calibrate\.weights \(pitch keypoint model\) not found: .*kp\.pt"):
        check_config(config)
    # The default calibrator needs no weights at all.
    check_config(CurateConfig())


def test_code_version_hashes_the_shard_relevant_source_recursively():
    names = [name for name, _ in shard_sources()]
    assert names == sorted(names) and "storage/schemas.py" in names
    # Every module of the stages, at any depth, under its path relative to the package.
    assert {"curation/stages.py", "curation/config.py", "curation/pipeline.py"} <= set(names)
    assert all(name.startswith("curation/") or name == "storage/schemas.py" for name in names)
    assert any(name.count("/") >= 2 for name in names)  # the stage packages' modules (curation/attribute/...)
    # What never changes a shard is left out: editing it keeps finished shards valid.
    for name in names:
        assert name.split("/")[1] not in UNHASHED, name
    assert {"synth", "training", "quality", "preview", "testing.py"} == set(UNHASHED)
    version, _, digest = code_version().partition("+")
    assert version and len(digest) == 12


def test_the_tracker_is_chosen_by_the_config_alone():
    import inspect

    from soccerfactory.curation.tracking.trackers import build_tracker

    # The backend is chosen in the config alone; the builder has no default to disagree with it.
    assert inspect.signature(build_tracker).parameters["name"].default is inspect.Parameter.empty
    build_tracker(CurateConfig().track.backend, fps=25.0)


def test_the_shard_key_changes_with_content_config_and_code(monkeypatch):
    from soccerfactory.curation import stages
    from soccerfactory.curation.video.clips import ClipSpec, clip_hash

    def clip(source_hash: str) -> ClipSpec:
        return ClipSpec(match_id="m", clip_id="c-000000-000010", url="x.mp4", kind="video", start_frame=0, stop_frame=10,
                        fps=25.0, width=1280, height=720, content_hash=clip_hash(source_hash, 0, 10), source_hash=source_hash)

    key = stages.shard_key(clip("a" * 64), "cfg")
    assert len(key) == 64 and key == stages.shard_key(clip("a" * 64), "cfg")
    assert key != stages.shard_key(clip("b" * 64), "cfg")
    assert key != stages.shard_key(clip("a" * 64), "other")
    monkeypatch.setattr(stages, "code_version", lambda: "0+other")
    assert key != stages.shard_key(clip("a" * 64), "cfg")
