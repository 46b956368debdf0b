"""The one settings loader both configs use (curation/settings.py)."""

from __future__ import annotations

import pytest

from soccerfactory.curation.settings import ConfigError, Section, load_settings


class Inner(Section):
    rate: float = 1.0
    weights: dict[str, float] = {"a": 1.0, "b": 0.5}


class Whole(Section):
    inner: Inner = Inner()


def test_file_then_overrides_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  rate: 2.0\n")
    assert load_settings(Whole, path).inner.rate == 2.0
    assert load_settings(Whole, path, ["inner.rate=3", "inner.rate=4"]).inner.rate == 4.0


def test_comments_only_means_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("# nothing set\n")
    assert load_settings(Whole, path) == Whole()


def test_a_nested_override_keeps_the_mappings_other_entries():
    assert load_settings(Whole, None, ["inner.weights.a=3"]).inner.weights == {"a": 3.0, "b": 0.5}


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("[1, 2]", [], "must be a mapping of sections, got list"),
        ("inner: {rate: [", [], "is not valid YAML/JSON"),
        ("inner: {speed: 1}", [], "inner.speed: Extra inputs are not permitted"),
        ("", ["inner.rate"], "--set expects section.key=value"),
        ("", ["inner.rate=[1"], "the value is not valid YAML"),
        ("", ["inner.rate.x=1"], "inner.rate: Input should be a valid number"),
        ("inner: {rate: 2}", ["inner.rate.x=1"], "rate is not a section"),
    ],
)
def test_mistakes_are_one_line_config_errors_naming_the_file(tmp_path, text, overrides, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings(Whole, path, overrides, what="test config")
    assert "\n" not in str(caught.value)
    if not overrides:
        assert str(path) in str(caught.value)
