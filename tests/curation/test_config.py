"""The curation config: defaults, files, overrides, hashing and errors that name the problem."""

from __future__ import annotations

import pytest

from soccerfactory.curation.config import ConfigError, CurateConfig, load_config


def test_defaults_point_at_the_bundled_models():
    config = CurateConfig()
    assert config.detect.resolved_weights().name == "detector.pt"
    assert config.calibrate.backend == "heatmap" and config.calibrate.resolved_weights().name == "pitch-keypoints-heatmap.pt"
    assert config.calibrate.resolved_weights().is_file()  # shipped: a fresh install calibrates at once
    pose = config.with_values({"calibrate.backend": "yolo-pose"})
    assert pose.calibrate.resolved_weights().name == "pitch-keypoints.pt"
    assert config.decode.semantic_fps == 1.0 and config.decode.spatial_stride == 1


def test_yaml_file_and_overrides_resolve_in_order(tmp_path):
    path = tmp_path / "curate.yaml"
    path.write_text("detect:\n  conf: 0.4\n  imgsz: 640\nrun:\n  max_parallel_clips: 3\n")
    config = load_config(path, ["detect.conf=0.5", "refine.enabled=false"])
    assert config.detect.conf == 0.5 and config.detect.imgsz == 640
    assert config.refine.enabled is False and config.run.max_parallel_clips == 3


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("detect:\n  conff: 0.4\n", [], r"curate.yaml.*detect\.conff: Extra inputs"),
        ("detect:\n  conf: 2\n", [], r"detect\.conf: Input should be less than or equal to 1"),
        ("- just\n- a list\n", [], r"must be a mapping"),
        ("detect: [unclosed\n", [], r"not valid YAML"),
        ("", ["detect.conf"], r"--set expects section.key=value"),
        ("", ["track.backend=deepsort"], r"track\.backend: Input should be 'strongsort', 'bytetrack' or 'ocsort'"),
        ("", ["refine.backend=sam2"], r"refine.*sam2_checkpoint"),
    ],
)
def test_invalid_configs_name_the_file_and_field(tmp_path, text, overrides, expected):
    path = tmp_path / "curate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path, overrides)


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read config .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_hash_covers_stage_settings_but_not_run_settings():
    base = CurateConfig()
    assert load_config(overrides=["run.max_parallel_clips=7"]).config_hash() == base.config_hash()
    assert load_config(overrides=["detect.conf=0.3"]).config_hash() != base.config_hash()
    assert load_config(overrides=["decode.semantic_fps=2"]).config_hash() != base.config_hash()


def test_a_file_of_comments_only_means_the_defaults(tmp_path):
    path = tmp_path / "curate.yaml"
    path.write_text("# nothing changed yet\n")
    assert load_config(path) == CurateConfig()


def test_an_override_whose_value_is_not_yaml_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"--set detect\.conf=\[0\.3: the value is not valid YAML"):
        load_config(overrides=["detect.conf=[0.3"])
