"""GS-HOTA with the official evaluator (sn-trackeval's SoccerNetGS) on a real render: the
renderer's own ground truth, exported as curated predictions, scores 100; wrong labels score less."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pyarrow as pa
import pytest

from soccerfactory.curation.quality.gamestate import EVALUATIONS, ground_truth_document, gs_hota
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import groundtruth_shard, in_truth_convention
from soccerfactory.storage.gamestate import gamestate_predictions

SEQUENCE = 4


@pytest.fixture(scope="module")
def render(tmp_path_factory):
    """A 2 s 720p clip (development seed), its ground truth as a perfectly curated shard,
    and its Labels-GameState.json with SoccerNet image ids. 720p: at 360p no number is legible in
    2 s, so no athlete would carry a jersey label (3 do here)."""
    base = tmp_path_factory.mktemp("gamestate")
    render_clip(SynthConfig(seconds=2.0, seed=402, width=1280, height=720), base / "clip")
    _, tables = groundtruth_shard(base / "clip", base / "shards", match_id="synth-402")
    truth, notes = ground_truth_document(base / "clip" / "Labels-GameState.json", SEQUENCE)
    return tables, truth, notes


def _score(truth: dict, predicted: dict, evaluation: str = "gs_hota") -> dict:
    return gs_hota({"synth-402": (truth, predicted)}, evaluation=evaluation)["combined"]


def test_ground_truth_gets_soccernet_image_ids(render):
    _, truth, notes = render
    ids = [image["image_id"] for image in truth["images"]]
    assert ids[0] == f"2{SEQUENCE:03d}000001" and all(len(i) == 10 for i in ids) and len(ids) == 50
    assert {a["image_id"] for a in truth["annotations"]} <= set(ids)
    assert notes["athletes"] > 0 and notes["without_pitch"] == 0


def test_ground_truth_rows_without_pitch_position_are_removed_and_counted(render):
    _, truth, _ = render
    broken = copy.deepcopy(truth)
    athlete = next(a for a in broken["annotations"] if a["supercategory"] == "object" and a["attributes"]["role"] == "player")
    athlete["bbox_pitch"]["x_bottom_middle"] = None
    rewritten, notes = ground_truth_document(broken, SEQUENCE)
    assert notes["without_pitch"] == 1
    assert len(rewritten["annotations"]) == len(truth["annotations"]) - 1


def test_ground_truth_exported_as_predictions_scores_100(render):
    tables, truth, _ = render
    predicted = gamestate_predictions(in_truth_convention(tables, truth), sequence=SEQUENCE, frames="source")
    # groundtruth_shard stores no side: the teams' mean positions decide it, and agree with the truth.
    assert all(v["decided_by"].startswith("mean pitch_x") for v in predicted["info"]["team_sides"].values())
    for evaluation in EVALUATIONS:
        scores = _score(truth, predicted, evaluation)
        assert scores["HOTA"] == 100.0 and scores["IDF1"] == 100.0, (evaluation, scores)
        assert scores["predicted"] == scores["ground_truth"] == len(predicted["predictions"])
    # With the exact feet positions (a box's bottom is not quite the feet) every athlete still matches.
    exact = _score(truth, gamestate_predictions(tables, sequence=SEQUENCE, frames="source"))
    assert exact["HOTA"] > 99.5 and exact["DetRe"] > 99.5


def _perturbed(predicted: dict, track_id: int, **attributes) -> dict:
    changed = copy.deepcopy(predicted)
    for row in changed["predictions"]:
        if row["track_id"] == track_id:
            row["attributes"].update(attributes)
    return changed


def test_a_wrong_team_or_jersey_scores_less(render):
    tables, truth, _ = render
    predicted = gamestate_predictions(in_truth_convention(tables, truth), sequence=SEQUENCE, frames="source")
    player = next(p for p in predicted["predictions"] if p["attributes"]["role"] == "player" and p["attributes"]["jersey"])
    other_side = {"left": "right", "right": "left"}[player["attributes"]["team"]]
    for wrong in (_perturbed(predicted, player["track_id"], team=other_side), _perturbed(predicted, player["track_id"], jersey="100")):
        assert _score(truth, wrong)["HOTA"] < 100.0
        # Positions and identities alone do not see the wrong label.
        assert _score(truth, wrong, "pitch_no_attributes")["HOTA"] == 100.0
    # An integer jersey never equals the ground truth's string: the exporter writes strings.
    as_int = _perturbed(predicted, player["track_id"], jersey=int(player["attributes"]["jersey"]))
    assert _score(truth, as_int)["HOTA"] < 100.0


def test_rows_without_position_are_misses_not_crashes(render):
    tables, truth, _ = render
    placed = in_truth_convention(tables, truth)
    athletes = placed["athletes"]
    first = min(athletes.column("frame_index").to_pylist())
    # No camera on the first 10 frames: those rows lose their positions.
    unplaced = [None if f < first + 10 else x for f, x in zip(athletes.column("frame_index").to_pylist(), athletes.column("pitch_x").to_pylist())]
    index = athletes.schema.get_field_index("pitch_x")
    placed["athletes"] = athletes.set_column(index, athletes.schema.field(index), pa.array(unplaced, pa.float32()))
    kept = gamestate_predictions(placed, sequence=SEQUENCE, frames="source", unplaced="keep")
    assert kept["info"]["rows_without_pitch_position"] > 0
    pitch = _score(truth, kept)  # the null rows are left out of the pitch-space files
    assert pitch["predicted"] == len(kept["predictions"]) - kept["info"]["rows_without_pitch_position"]
    assert pitch["DetRe"] < 90.0 and pitch["DetPr"] == 100.0
    assert _score(truth, kept, "image_boxes")["HOTA"] == 100.0  # image space scores every box


def test_bad_evaluation_is_named(render):
    _, truth, _ = render
    with pytest.raises(ValueError, match="evaluation must be one of"):
        gs_hota({"x": (truth, {"predictions": []})}, evaluation="bev")
    with pytest.raises(ValueError, match="not a SoccerNet split"):
        gs_hota({"x": (truth, {"predictions": []})}, split="holdout")
    empty = gs_hota({"x": (truth, json.loads(json.dumps({"predictions": []})))})["combined"]
    assert empty["HOTA"] == 0.0 and empty["ground_truth"] > 0


def test_gamestate_quality_scores_a_perfect_curation_of_each_clip(tmp_path):
    """The whole chain (render, source link, catalog, ground truth views, export with source frame
    numbers, official evaluator) with a curate function that writes the ground truth as shards."""
    from soccerfactory.curation.quality.clips import held_out_clip
    from soccerfactory.curation.quality.gamestate import gamestate_quality
    from soccerfactory.storage.sync import sync_catalog

    curated = []

    def perfect_curate(sources: list[str], output: str) -> list:
        (source,) = sources
        clip_dir = held_out_clip(tmp_path / "work", int(Path(source).stem.split("-")[-1]), 0.6, print)
        groundtruth_shard(clip_dir, Path(output), match_id=Path(source).stem)
        sync_catalog(output, Path(output) / "catalog.duckdb")
        curated.append(Path(source).stem)
        return []

    lines: list[str] = []
    figures = gamestate_quality(tmp_path / "work", perfect_curate, seeds=[405, 406], seconds=0.6, progress=lines.append, render=held_out_clip)
    assert curated == ["synth-405", "synth-406"]
    assert [c["match_id"] for c in figures["clips"]] == curated and all(c["predicted_rows"] > 0 for c in figures["clips"])
    assert set(figures["gs_hota"]["sequences"]) == set(curated)
    # Exact feet positions against box-bottom positions: every athlete matched, with the right labels.
    assert figures["gs_hota"]["combined"]["DetRe"] > 99.5 and figures["image_boxes"]["combined"]["HOTA"] == 100.0
    assert any(line.startswith("curated and exported seed 405") for line in lines)
    # Where the figure goes: nothing lost to attributes or links on a perfect curation, and it says so.
    breakdown = figures["breakdown"]
    assert set(breakdown["sequences"]) == set(curated)
    assert set(breakdown["combined"]["attribute_errors"]) == {"all_right"} and not breakdown["combined"]["merges"]
    assert breakdown["combined"]["figures"]["gs_hota"]["HOTA"] == pytest.approx(figures["gs_hota"]["combined"]["HOTA"], abs=0.01)
    assert breakdown["combined"]["links"]["precision"] in (None, 1.0)
    assert any(line.startswith("of ") and "rows matched by position: 100% all right" in line for line in lines)
