"""``soccerfactory quality gamestate``: its help, bad input in one line, and (slow) a real run."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from soccerfactory.flows.cli import app


def test_gamestate_is_listed_with_its_own_help(listed_commands, own_help):
    assert "gamestate" in listed_commands("quality")
    page = own_help("quality", "gamestate")
    assert "GS-HOTA of curated held-out clips, scored by SoccerNet's official game-state evaluator" in page
    for option in ("--seed", "--seconds", "--work-dir", "--out", "--set"):
        assert option in page


@pytest.mark.parametrize(
    "arguments, named",
    [
        (["--split", "holdout"], "--split 'holdout' is not a SoccerNet split"),
        (["--seed", "401", "--seed", "401"], "--seed repeats a seed"),
        (["--seconds", "0"], "--seconds"),
        (["--set", "detect.no_such_key=1"], "no_such_key"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, arguments, named):
    result = CliRunner().invoke(app, ["quality", "gamestate", "--work-dir", str(tmp_path / "work"), *arguments])
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output
    assert not (tmp_path / "work").exists()  # refused before anything was rendered


@pytest.mark.slow
def test_gamestate_renders_curates_and_scores_one_clip(tmp_path):
    out = tmp_path / "gs.json"
    result = CliRunner().invoke(app, ["quality", "gamestate", "--seed", "403", "--seconds", "2", "--work-dir", str(tmp_path / "work"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    (clip,) = figures["clips"]
    assert clip["match_id"] == "synth-403" and clip["curated_clips"] and clip["predicted_rows"] > 0
    for evaluation in ("gs_hota", "no_jersey", "pitch_no_attributes", "image_boxes"):
        assert 0.0 < figures[evaluation]["combined"]["HOTA"] <= 100.0
        assert figures[evaluation]["sequences"]["synth-403"]["ground_truth"] == figures[evaluation]["combined"]["ground_truth"]
    # Attributes only ever remove matches.
    scores = [figures[e]["combined"]["HOTA"] for e in ("gs_hota", "no_jersey", "pitch_no_attributes")]
    assert scores == sorted(scores)
