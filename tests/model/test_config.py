"""The model run config: its file and overrides, its errors, and the one place its defaults live."""

from __future__ import annotations

import dataclasses

import pytest

from soccerfactory.curation.settings import ConfigError, Section
from soccerfactory.model.config import DataSection, ModelRunConfig, ModelSection, TrainSection, load_model_config
from soccerfactory.model.train import TrainConfig


def test_train_config_defaults_are_the_run_configs():
    # One default per setting: a bare TrainConfig trains as `soccerfactory train` does.
    assert dataclasses.asdict(TrainConfig()) == TrainSection().model_dump()
    assert TrainConfig(**ModelRunConfig().train.model_dump()) == TrainConfig()
    assert (TrainSection().steps, TrainSection().lr_backbone, TrainSection().lr_heads) == (600, 3e-4, 2e-3)


def test_every_section_shares_the_curation_configs_base():
    for section in (ModelSection, TrainSection, DataSection, ModelRunConfig):
        assert issubclass(section, Section)
    with pytest.raises(ValueError, match="Extra inputs"):
        TrainSection(stepz=3)


def test_file_and_overrides_resolve_in_order(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("train:\n  steps: 40\n  batch_size: 2\ndata:\n  mirror: false\n")
    config = load_model_config(path, ["train.steps=50", "model.heads=[athletes, camera]"])
    assert config.train.steps == 50 and config.train.batch_size == 2 and config.data.mirror is False
    assert config.model.heads == ("athletes", "camera")
    assert load_model_config() == ModelRunConfig()


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("train:\n  stepz: 3\n", [], r"invalid model config \(.*model\.yaml\): train\.stepz: Extra inputs"),
        ("", ["train.steps=-1"], r"invalid model config \(.*model\.yaml \+ --set train\.steps=-1\): train\.steps: Input should be greater than or equal to 1"),
        ("train: [1,\n", [], r"model config .*model\.yaml is not valid YAML/JSON"),
        ("- a\n- list\n", [], r"model config .*model\.yaml must be a mapping of sections"),
        ("", ["train.steps"], r"--set expects section.key=value"),
    ],
)
def test_invalid_model_configs_name_the_file_and_field(tmp_path, text, overrides, expected):
    path = tmp_path / "model.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_model_config(path, overrides)


def test_missing_model_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read model config .*nope\.yaml"):
        load_model_config(tmp_path / "nope.yaml")


def test_a_nested_override_changes_one_entry_and_keeps_the_others():
    defaults = ModelRunConfig().train.loss_weights
    changed = load_model_config(overrides=["train.loss_weights.athletes=2"]).train.loss_weights
    assert changed["athletes"] == 2.0
    assert {k: v for k, v in changed.items() if k != "athletes"} == {k: v for k, v in defaults.items() if k != "athletes"}
    assert len(defaults) > 1  # else the check above proves nothing
