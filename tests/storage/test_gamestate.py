"""Curated shard tables as SoccerNet game-state predictions: the conventions the official
evaluator relies on (ids, frame numbers, bbox_pitch keys, teams as sides, jersey strings)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from soccerfactory.storage.catalog import register_shards
from soccerfactory.storage.gamestate import (
    BBOX_PITCH_KEYS, catalog_gamestate, gamestate_predictions, image_id, sequence_name, team_sides, write_gamestate,
)
from soccerfactory.storage.schemas import example_shard_tables
from soccerfactory.storage.shards import write_shard

# 10 px per metre around the image centre: pitch (x, y) -> pixel (640 + 10 x, 360 + 10 y).
_HOMOGRAPHY = [10.0, 0.0, 640.0, 0.0, 10.0, 360.0, 0.0, 0.0, 1.0]


def _replace(table: pa.Table, name: str, values: list) -> pa.Table:
    index = table.schema.get_field_index(name)
    return table.set_column(index, table.schema.field(index), pa.array(values, type=table.schema.field(index).type))


def _consistent(tables: dict[str, pa.Table], team_a_side: str | None = "left") -> dict[str, pa.Table]:
    """The example shard with cameras and positions that agree: each athlete stands at the
    back-projection of its box's bottom middle (null where the frame has no valid camera)."""
    tables = dict(tables)
    cameras = tables["cameras"]
    valid = cameras.column("valid_camera").to_pylist()
    tables["cameras"] = _replace(cameras, "homography", [_HOMOGRAPHY if v else None for v in valid])
    valid_at = dict(zip(cameras.column("frame_index").to_pylist(), valid))
    rows = tables["athletes"].to_pylist()
    tables["athletes"] = _replace(_replace(tables["athletes"], "pitch_x", [
        ((r["x1"] + r["x2"]) / 2 - 640) / 10 if valid_at[r["frame_index"]] else None for r in rows
    ]), "pitch_y", [(r["y2"] - 360) / 10 if valid_at[r["frame_index"]] else None for r in rows])
    tables["clips"] = _replace(tables["clips"], "team_a_side", [team_a_side])
    return tables


@pytest.fixture
def tables():
    return _consistent(example_shard_tables(n_frames=4, n_tracks=3, start_frame=100))


def test_image_ids_have_ten_characters_split_sequence_and_1_based_frame():
    assert image_id(21, 1, "valid") == "2021000001"
    assert image_id(7, 750, "train") == "1007000750"
    for bad in ((0, 1, "valid"), (1000, 1, "valid"), (1, 0, "valid"), (1, 1, "holdout")):
        with pytest.raises(ValueError, match="sequence|frame|split"):
            image_id(*bad)


def test_predictions_follow_the_gsr_conventions(tables):
    document = gamestate_predictions(tables, sequence=3, split="test")
    predictions, images = document["predictions"], document["images"]
    # Frames are numbered from the clip's first frame (source frame 100), 1-based.
    assert [i["image_id"] for i in images] == ["3003000001", "3003000002", "3003000003", "3003000004"]
    assert [i["frame_index"] for i in images] == [100, 101, 102, 103]
    assert images[-1]["has_labeled_camera"] is False  # the example's last frame has no camera
    assert all(len(p["image_id"]) == 10 for p in predictions)
    assert {p["image_id"] for p in predictions} <= {i["image_id"] for i in images}
    first = predictions[0]
    assert set(first["bbox_pitch"]) == set(BBOX_PITCH_KEYS)
    assert set(first["bbox_image"]) == {"x", "y", "x_center", "y_center", "w", "h"}
    assert set(first["attributes"]) == {"role", "team", "jersey"}
    assert first["supercategory"] == "object" and isinstance(first["track_id"], int)
    row = tables["athletes"].to_pylist()[0]
    assert first["bbox_image"]["x"] == pytest.approx(row["x1"], abs=0.01) and first["bbox_image"]["w"] == pytest.approx(20.0, abs=0.01)
    pitch = first["bbox_pitch"]
    # The middle is the curated position; the corners are the box's bottom corners on the pitch.
    assert (pitch["x_bottom_middle"], pitch["y_bottom_middle"]) == pytest.approx((row["pitch_x"], row["pitch_y"]), abs=1e-3)
    assert pitch["x_bottom_left"] == pytest.approx((row["x1"] - 640) / 10, abs=1e-3)
    assert pitch["x_bottom_right"] == pytest.approx((row["x2"] - 640) / 10, abs=1e-3)
    assert pitch["y_bottom_left"] == pytest.approx(pitch["y_bottom_middle"], abs=1e-3)


def test_teams_become_sides_and_jerseys_strings(tables):
    by_track = {p["track_id"]: p["attributes"] for p in gamestate_predictions(tables)["predictions"]}
    # Track 1 is team A with jersey 7, track 2 team B without a jersey, track 3 the referee.
    assert by_track[1] == {"role": "player", "team": "left", "jersey": "7"}
    assert by_track[2] == {"role": "player", "team": "right", "jersey": None}
    assert by_track[3] == {"role": "referee", "team": None, "jersey": None}
    flipped = gamestate_predictions(_consistent(tables, team_a_side="right"))
    assert {p["track_id"]: p["attributes"]["team"] for p in flipped["predictions"]}[1] == "right"


def test_without_a_stored_side_the_team_nearer_the_left_goal_defends_it(tables):
    tables = _consistent(tables, team_a_side=None)
    clip = tables["clips"].to_pylist()[0]
    rows = tables["athletes"].to_pylist()
    # In the example team A (track 1) stands left of team B (track 2).
    sides, reason = team_sides(clip, rows)
    assert sides == {"A": "left", "B": "right"} and "mean pitch_x" in reason
    mirrored = [{**r, "pitch_x": None if r["pitch_x"] is None else -r["pitch_x"]} for r in rows]
    assert team_sides(clip, mirrored)[0] == {"A": "right", "B": "left"}
    unknown, why = team_sides(clip, [{**r, "pitch_x": None} for r in rows])
    assert unknown == {"A": None, "B": None} and "unknown" in why
    document = gamestate_predictions(tables)
    assert document["info"]["team_sides"][clip["clip_id"]]["decided_by"].startswith("mean pitch_x")


def test_rows_without_a_pitch_position_are_dropped_or_kept_with_a_null(tables):
    dropped = gamestate_predictions(tables)
    kept = gamestate_predictions(tables, unplaced="keep")
    # The last frame (4th) has no camera: its 3 athletes have no position.
    assert dropped["info"]["rows_without_pitch_position"] == kept["info"]["rows_without_pitch_position"] == 3
    assert len(dropped["predictions"]) == 9 and len(kept["predictions"]) == 12
    assert all(p["bbox_pitch"] is not None for p in dropped["predictions"])
    assert [p["bbox_pitch"] for p in kept["predictions"] if p["image_id"].endswith("000004")] == [None] * 3


def test_clips_of_one_source_merge_into_one_sequence_numbered_from_the_source(tables):
    second = _consistent(example_shard_tables(clip_id="clip-1", n_frames=2, n_tracks=2, start_frame=200))
    merged = {name: pa.concat_tables([tables[name], second[name]]) for name in ("clips", "athletes", "cameras", "frames")}
    document = gamestate_predictions(merged, frames="source", unplaced="keep")
    frames = sorted(int(p["image_id"][-6:]) for p in document["predictions"])
    assert frames[0] == 101 and frames[-1] == 202  # source frame + 1
    # Without identities each clip's track is its own athlete (no rule of the exporter's joins
    # them: that is the shot linker's, stored by curate): 3 + 2 ids, numbered in order.
    assert sorted({p["track_id"] for p in document["predictions"]}) == [1, 2, 3, 4, 5]
    assert document["info"]["track_ids"] == "per clip (no identities)"
    by_track = {(p["attributes"]["jersey"], p["image_id"][-6:] >= "000201"): p["track_id"] for p in document["predictions"]}
    assert by_track[("7", False)] != by_track[("7", True)]
    assert document["info"]["clips"] == ["clip-0", "clip-1"]
    with pytest.raises(ValueError, match="frames='source'"):
        gamestate_predictions(merged)
    other = _replace(second["clips"], "source_url", ["file:///videos/other.mp4"])
    with pytest.raises(ValueError, match="several sources"):
        gamestate_predictions({**merged, "clips": pa.concat_tables([tables["clips"], other])}, frames="source")


def test_bad_input_is_named(tables):
    with pytest.raises(ValueError, match="'cameras' table"):
        gamestate_predictions({k: v for k, v in tables.items() if k != "cameras"})
    with pytest.raises(ValueError, match="frames must be one of"):
        gamestate_predictions(tables, frames="match")
    bad_role = _replace(tables["athletes"], "role", ["coach"] * tables["athletes"].num_rows)
    with pytest.raises(ValueError, match="'coach'.*not a SoccerNet role"):
        gamestate_predictions({**tables, "athletes": bad_role})


def test_sequence_names_drop_the_frame_range_for_a_source():
    assert sequence_name("synth-301-000000-000750", "source") == "synth-301"
    assert sequence_name("synth-301-000000-000750") == "synth-301-000000-000750"
    assert sequence_name("clip-0", "source") == "clip-0"


def test_catalog_selection_exports_each_clip_and_writes_json(tmp_path):
    manifests = []
    for n, (match_id, clip_id) in enumerate([("match-1", "clip-0"), ("match-1", "clip-1"), ("match-2", "clip-0")]):
        key = f"{n:016x}" + "a" * 48
        tables = example_shard_tables(match_id, clip_id, key, n_frames=3, start_frame=10 * n)
        manifests.append(write_shard(tmp_path / "out", match_id, clip_id, key, tables, config_hash="config-0", code_version="test", metadata={}))
    catalog = tmp_path / "catalog.duckdb"
    register_shards(catalog, manifests)
    documents = catalog_gamestate(catalog, "match_id = 'match-1'", split="valid", unplaced="keep")
    assert list(documents) == ["clip-0", "clip-1"]
    assert [d["info"]["id"] for d in documents.values()] == ["1", "2"]
    assert documents["clip-1"]["predictions"][0]["image_id"] == "2002000001"
    assert len(documents["clip-0"]["predictions"]) == 3 * 3
    assert list(catalog_gamestate(catalog)) == ["match-1.clip-0", "match-1.clip-1", "match-2.clip-0"]
    with pytest.raises(ValueError, match="no clip"):
        catalog_gamestate(catalog, "match_id = 'nope'")
    with pytest.raises(ValueError, match="cannot select clips"):
        catalog_gamestate(catalog, "no_such_column = 1")
    path = write_gamestate(documents["clip-0"], tmp_path / "gsr" / "clip-0.json")
    assert json.loads(path.read_text())["predictions"] == documents["clip-0"]["predictions"]


def test_corners_are_undistorted_before_the_homography(tables):
    # A barrel lens moves the image of a pitch point; the stored k1 must be undone first.
    distorted = _replace(tables["cameras"], "dist", [[-0.2, 0.0, 0.0, 0.0]] * tables["cameras"].num_rows)
    plain = gamestate_predictions(tables)["predictions"][0]["bbox_pitch"]
    bent = gamestate_predictions({**tables, "cameras": distorted})["predictions"][0]["bbox_pitch"]
    assert bent["x_bottom_middle"] == plain["x_bottom_middle"]  # the curated position is kept as is
    assert abs(bent["x_bottom_left"] - plain["x_bottom_left"]) > 0.5
    # Re-distorting the undistorted corner gives the box corner back.
    import cv2

    row = tables["athletes"].to_pylist()[0]
    K = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    undistorted = np.array([640 + 10 * bent["x_bottom_left"], 360 + 10 * bent["y_bottom_left"]])
    normalised = np.linalg.solve(K, np.append(undistorted, 1.0))
    back, _ = cv2.projectPoints(normalised.reshape(1, 3), np.zeros(3), np.zeros(3), K, np.array([-0.2, 0.0, 0.0, 0.0]))
    assert back.ravel() == pytest.approx([row["x1"], row["y2"]], abs=0.05)


def test_a_track_repeated_in_a_frame_keeps_its_most_confident_row(tables):
    athletes = tables["athletes"]
    first = athletes.slice(0, 1).to_pylist()[0]
    twin = pa.Table.from_pylist([{**first, "confidence": 0.99, "x1": first["x1"] + 5, "x2": first["x2"] + 5}], schema=athletes.schema)
    document = gamestate_predictions({**tables, "athletes": pa.concat_tables([athletes, twin])})
    assert document["info"]["repeated_track_rows_dropped"] == 1
    same = [p for p in document["predictions"] if p["track_id"] == first["track_id"] and p["image_id"].endswith("000001")]
    assert len(same) == 1 and same[0]["confidence"] == 0.99


def _identities(rows: list[tuple[str, int, int]]) -> pa.Table:
    return pa.Table.from_pylist([{"clip_id": c, "track_id": t, "identity": i} for c, t, i in rows])


def test_stored_identities_join_tracks_across_the_clips_of_a_sequence(tables):
    """The catalog's identities (the shot linker's, stored by curate) join one athlete's tracks;
    ids are renumbered 1..N in order of appearance; a track without a stored identity keeps its
    own, and an unnumbered row takes its identity's only number."""
    second = _consistent(example_shard_tables(clip_id="clip-1", n_frames=2, n_tracks=2, start_frame=200))
    unread = _replace(second["athletes"], "jersey", [None] * second["athletes"].num_rows)
    merged = {name: pa.concat_tables([tables[name], second[name]]) for name in ("clips", "athletes", "cameras", "frames")}
    merged["athletes"] = pa.concat_tables([tables["athletes"], unread])
    # Match-wide identities (another source took 1-40): clip-1's track 1 is clip-0's track 1.
    stored = _identities([("clip-0", 1, 41), ("clip-0", 2, 42), ("clip-0", 3, 43), ("clip-1", 1, 41), ("clip-1", 2, 44)])
    document = gamestate_predictions({**merged, "identities": stored}, frames="source", unplaced="keep")
    ids = {(p["image_id"][-6:] >= "000201", p["attributes"]["role"], p["bbox_image"]["x"]): p["track_id"] for p in document["predictions"]}
    assert sorted(set(ids.values())) == [1, 2, 3, 4]
    assert document["info"]["track_ids"] == "joined by the stored identities" and document["info"]["n_track_ids"] == 4
    first = {p["track_id"] for p in document["predictions"] if p["image_id"][-6:] < "000201" and p["attributes"]["jersey"] == "7"}
    later = {p["track_id"] for p in document["predictions"] if p["image_id"][-6:] >= "000201" and p["attributes"]["role"] == "player"}
    assert first == later == {1}
    # clip-1's player had no number read: its identity's rows carry 7.
    assert {p["attributes"]["jersey"] for p in document["predictions"] if p["track_id"] == 1} == {"7"}
    assert document["info"]["rows_numbered_by_identity"] == unread.num_rows // 2 > 0  # clip-1's player rows, not its referee's
    # A caller's function is not asked where the stored identities cover every track...
    asked = []
    gamestate_predictions({**merged, "identities": stored}, frames="source", identities=lambda a, c: asked.append(1) or {})
    assert asked == []
    # ...but is where they do not (clip-1 curated again since: its rows are not in the view).
    partial = stored.filter(pa.compute.equal(stored.column("clip_id"), "clip-0"))
    caller = gamestate_predictions({**merged, "identities": partial}, frames="source", unplaced="keep",
                                   identities=lambda a, c: {(r["clip_id"], int(r["track_id"])): 9 for r in a})
    assert {p["track_id"] for p in caller["predictions"]} == {9} and "caller" in caller["info"]["track_ids"]
    # Without one, the tracks the view lacks keep their own ids.
    own = gamestate_predictions({**merged, "identities": partial}, frames="source", unplaced="keep")
    assert len({p["track_id"] for p in own["predictions"]}) == 5 and "2 track(s) without one" in own["info"]["track_ids"]
    # One clip: a track keeps its stored id; an identity takes its smallest.
    alone = gamestate_predictions({**tables, "identities": _identities([("clip-0", 1, 5), ("clip-0", 2, 6), ("clip-0", 3, 5)])})
    assert {p["track_id"] for p in alone["predictions"]} == {1, 2}


def test_a_caller_may_give_the_track_ids_of_a_sequence(tables):
    """The exporter reads stored columns only; one id per athlete across shots can come from the
    caller (the curation's pitch-space linker in ``export gsr`` and ``quality gamestate``)."""
    second = _consistent(example_shard_tables(clip_id="clip-1", n_frames=2, n_tracks=2, start_frame=200))
    merged = {name: pa.concat_tables([tables[name], second[name]]) for name in ("clips", "athletes", "cameras", "frames")}
    seen = []

    def one_per_role(athletes, clips):
        seen.append(sorted({c["clip_id"] for c in clips}))
        return {(r["clip_id"], int(r["track_id"])): 50 if r["role"] == "referee" else 60 for r in athletes}

    document = gamestate_predictions(merged, frames="source", unplaced="keep", identities=one_per_role)
    assert seen == [["clip-0", "clip-1"]]
    assert {p["track_id"] for p in document["predictions"] if p["attributes"]["role"] == "referee"} == {50}
    assert {p["track_id"] for p in document["predictions"] if p["attributes"]["role"] != "referee"} == {60}
    assert document["info"]["n_track_ids"] == 2 and "caller" in document["info"]["track_ids"]
    # clip-1's player has no number read; its identity's rows carry one (7): it is written there
    # too, unless identity_jersey is off.
    unread = _replace(second["athletes"], "jersey", [None] * second["athletes"].num_rows)
    merged["athletes"] = pa.concat_tables([tables["athletes"], unread])
    document = gamestate_predictions(merged, frames="source", unplaced="keep", identities=one_per_role)
    players = [p for p in document["predictions"] if p["attributes"]["role"] == "player"]
    unnumbered = [r for r in merged["athletes"].to_pylist() if r["role"] in ("player", "goalkeeper") and r["jersey"] is None]
    assert {p["attributes"]["jersey"] for p in players} == {"7"}
    assert document["info"]["rows_numbered_by_identity"] == len(unnumbered) > 0
    plain = gamestate_predictions(merged, frames="source", unplaced="keep", identities=one_per_role, identity_jersey=False)
    assert {p["attributes"]["jersey"] for p in plain["predictions"] if p["attributes"]["role"] == "player"} == {"7", None}
    with pytest.raises(ValueError, match="no id to"):
        gamestate_predictions(merged, frames="source", identities=lambda athletes, clips: {})
