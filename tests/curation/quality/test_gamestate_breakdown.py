"""Where GS-HOTA goes (gamestate_breakdown): on a real render's ground truth exported as
predictions, then split into two shots and spoiled on purpose, the breakdown reproduces the
official evaluator's figures and names each spoiling where it was made."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from soccerfactory.curation.quality.gamestate import ground_truth_document, gs_hota
from soccerfactory.curation.quality.gamestate_breakdown import combine, combine_links, gamestate_breakdown, link_precision, summary_lines
from soccerfactory.curation.synth import SynthConfig, render_clip
from soccerfactory.curation.testing import groundtruth_shard, in_truth_convention
from soccerfactory.curation.tracking.shot_links import ShotTrack, link_shot_tracks
from soccerfactory.storage.gamestate import gamestate_predictions

SEQUENCE = 5


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 2 s 720p render (development seed 402), its ground truth exported as predictions at the
    truth's own bottom-middle points (scores 100)."""
    base = tmp_path_factory.mktemp("breakdown")
    render_clip(SynthConfig(seconds=2.0, seed=402, width=1280, height=720), base / "clip")
    _, tables = groundtruth_shard(base / "clip", base / "shards", match_id="synth-402")
    truth, _ = ground_truth_document(base / "clip" / "Labels-GameState.json", SEQUENCE)
    predicted = gamestate_predictions(in_truth_convention(tables, truth), sequence=SEQUENCE, frames="source")
    return truth, predicted


def _two_shots(predicted: dict) -> tuple[dict, str]:
    """The document cut into two shots at its middle frame, every athlete a new id after the cut
    (what a tracker restarting at a cut leaves when nothing links the shots)."""
    out = copy.deepcopy(predicted)
    frames = sorted(image["frame_index"] for image in out["images"])
    middle = frames[len(frames) // 2]
    late = set()
    for image in out["images"]:
        image["clip_id"] = "shot-1" if image["frame_index"] < middle else "shot-2"
        if image["clip_id"] == "shot-2":
            late.add(image["image_id"])
    for row in out["predictions"]:
        if row["image_id"] in late:
            row["track_id"] += 1000
    out["info"]["clips"] = ["shot-1", "shot-2"]
    return out, middle


def _official(truth: dict, predicted: dict, evaluation: str) -> dict:
    return gs_hota({"synth-402": (truth, predicted)}, evaluation=evaluation)["sequences"]["synth-402"]


def test_a_perfect_export_loses_nothing(exported):
    truth, predicted = exported
    result = gamestate_breakdown(truth, predicted)
    assert result.figures["gs_hota"]["HOTA"] == 100.0 and result.position_matches == result.truth_rows == result.predicted_rows
    assert set(result.attribute_errors) == {"all_right"} and not result.fragmentation and not result.merges


def test_the_breakdown_names_each_loss_and_matches_the_evaluator(exported):
    truth, predicted = exported
    spoiled, _ = _two_shots(predicted)
    numbered = sorted({r["track_id"] for r in spoiled["predictions"] if r["attributes"]["role"] == "player" and r["attributes"]["jersey"] and r["track_id"] < 1000})
    assert len(numbered) >= 2, "the render must show two numbered players"
    read_before, never, flipped = numbered[0], numbered[1], None
    counts = {"read_before": 0, "never": 0, "team": 0}
    for row in spoiled["predictions"]:
        a = row["attributes"]
        if row["track_id"] == read_before + 1000:  # number read before the cut only
            a["jersey"] = None
            counts["read_before"] += 1
        elif row["track_id"] % 1000 == never:  # number never read
            a["jersey"] = None
            counts["never"] += 1
    players = sorted({r["track_id"] for r in spoiled["predictions"] if r["attributes"]["role"] == "player" and r["track_id"] % 1000 not in (read_before, never)})
    flipped = players[0]
    for row in spoiled["predictions"]:
        if row["track_id"] == flipped:
            row["attributes"]["team"] = {"left": "right", "right": "left"}[row["attributes"]["team"]]
            counts["team"] += 1
    cut_reasons = {("shot-1", "shot-2"): "the best common shift has 3 athletes (< 4)"}
    result = gamestate_breakdown(truth, spoiled, cut_reasons=cut_reasons)

    # The same figures as sn-trackeval's SoccerNetGS, for each of its settings.
    for name, evaluation in (("gs_hota", "gs_hota"), ("no_jersey", "no_jersey"), ("positions", "pitch_no_attributes")):
        official = _official(truth, spoiled, evaluation)
        for key in ("HOTA", "DetA", "AssA"):
            assert result.figures[name][key] == pytest.approx(official[key], abs=0.01), (name, key)
    assert result.figures["gs_hota"]["HOTA"] < result.figures["no_jersey"]["HOTA"] < 100.0

    # Each spoiling is counted where it was made.
    errors = result.attribute_errors
    assert errors["jersey_missing_read_other_shot"] == counts["read_before"]
    assert errors["jersey_missing_never_read"] == counts["never"]
    assert errors["team"] == counts["team"]
    early = {r["track_id"] for r in spoiled["predictions"] if r["track_id"] < 1000}
    athletes_in_both = len(early & {r["track_id"] - 1000 for r in spoiled["predictions"] if r["track_id"] >= 1000})
    assert result.fragmentation["next_shot"] == athletes_in_both
    assert result.fragmentation["cut: the best common shift has N athletes (< N)"] == athletes_in_both
    assert "within_shot" not in result.fragmentation and not result.merges

    # An oracle linker mends the association and carries the number read before the cut.
    assert result.figures["positions"]["AssA"] < 100.0 and result.figures["positions_linked_shots"]["AssA"] == 100.0
    assert result.figures["linked_shots"]["HOTA"] > result.figures["gs_hota"]["HOTA"]
    assert result.figures["right_team"]["DetA"] > result.figures["gs_hota"]["DetA"]

    both = combine([result, gamestate_breakdown(truth, predicted)])
    assert both["attribute_errors"]["team"] == counts["team"] and both["truth_rows"] == 2 * result.truth_rows
    assert result.figures["gs_hota"]["HOTA"] < both["figures"]["gs_hota"]["HOTA"] < 100.0
    assert "team wrong" in summary_lines(both)[1]


def test_a_swap_inside_a_shot_and_a_wrong_link_are_told_apart(exported):
    truth, predicted = exported
    spoiled, middle = _two_shots(predicted)
    frame_of = {i["image_id"]: i["frame_index"] for i in spoiled["images"]}
    seen: dict[int, set[int]] = {}
    for row in spoiled["predictions"]:
        seen.setdefault(row["track_id"] % 1000, set()).add(frame_of[row["image_id"]])
    always = sorted(t for t, f in seen.items() if len(f) == len(frame_of))  # on screen in every frame
    a, b, c = always[:3]
    quarter = min(frame_of.values()) + (middle - min(frame_of.values())) // 2
    for row in spoiled["predictions"]:
        frame = frame_of[row["image_id"]]
        if quarter <= frame < middle and row["track_id"] in (a, b):
            row["track_id"] = b if row["track_id"] == a else a  # the tracker swapped them mid-shot
        elif frame >= middle and row["track_id"] == c + 1000:
            row["track_id"] = a  # a wrong link: a's id (athlete b's by then) goes on with athlete c
    result = gamestate_breakdown(truth, spoiled)
    assert result.merges == {"within_shot": 2, "across_shots": 1}
    assert result.fragmentation["within_shot"] == 2


def test_link_precision_grades_links_by_the_true_athlete():
    frames = np.arange(0, 50)

    def track(clip, tid, x):
        return ShotTrack(clip, tid, frames + (0 if clip == "c1" else 60), np.column_stack([np.full(50, x), np.zeros(50)]), "A", "player", (tid % 10,))

    tracks = [track("c1", 1, 0.0), track("c2", 11, 30.0), track("c1", 2, 10.0), track("c2", 12, -20.0), track("c1", 3, 5.0), track("c2", 13, 5.0)]
    links = link_shot_tracks(tracks, 25.0).links  # label links by team and number: 1-11, 2-12, 3-13
    assert len(links) == 3
    truth_of = {("c1", 1): "p1", ("c2", 11): "p1", ("c1", 2): "p2", ("c2", 12): "p9", ("c1", 3): "p3"}
    graded = link_precision(links, truth_of)
    assert (graded.links, graded.right, graded.ungraded) == (2, 1, 1) and graded.precision == 0.5
    assert graded.by_kind == {"jersey": (2, 1)} and graded.wrong[0][:2] == (("c1", 2), ("c2", 12))
    total = combine_links([graded, graded])
    assert (total.links, total.right, total.by_kind["jersey"]) == (4, 2, (4, 2))
    assert link_precision([], {}).precision is None
