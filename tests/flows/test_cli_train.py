"""The training commands: each listed under its own name with its own --help, and the checks that
answer before any flow starts (the flows themselves run in test_train_*.py)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "path, own_words",
    [
        (("train-detector",), "Fine-tune the YOLOv8 athlete and ball detector offline"),
        (("train-keypoints",), "Train the heatmap pitch keypoint model offline"),
        (("import-events",), "Import SoccerNet-v2 action labels for a curated match"),
        (("train",), "Train the multi-task model on catalogued shards"),
        (("evaluate",), "Score a checkpoint and the untrained model on held-out windows"),
        (("pipeline",), "Curate SOURCE, train the multi-task model on the catalog, evaluate it"),
    ],
)
def test_each_command_is_listed_with_its_own_help(path, own_words, listed_commands, own_help):
    assert path[-1] in listed_commands(*path[:-1])
    assert own_words in own_help(*path)


def test_a_missing_data_root_is_named_before_training(tmp_path):
    result = runner.invoke(app, ["train-detector", "--out-dir", str(tmp_path), "--data-root", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'none' / 'football-players' / 'train'} not found; pass --data-root DIR holding football-players/"


def test_import_events_without_a_catalog_says_what_to_do(tmp_path):
    labels = tmp_path / "Labels-v2.json"
    labels.write_text("{}")
    result = runner.invoke(app, ["import-events", str(labels), "--match-id", "m1", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert f"catalog {tmp_path / 'catalog.duckdb'} not found" in result.output


def test_a_bad_model_override_is_one_line(tmp_path):
    (tmp_path / "catalog.duckdb").write_bytes(b"")
    result = runner.invoke(app, ["train", "--output", str(tmp_path), "--set", "train.stepz=3"])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "train.stepz" in lines[0]
